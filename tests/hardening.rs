//! Hardening: the GraphQL-over-HTTP specification's MUSTs and SHOULDs, query limits refused
//! before execution, profiles, persisted and trusted documents, and token verification with
//! RS256/ES256 keys. Every check runs through the real router on both backends.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support_gateway::config::Profile;
use support_gateway::graphql::documents::sha256_hex;

on_both_backends!(
    accept_header_picks_the_media_type,
    get_follows_the_spec,
    post_follows_the_spec,
    status_codes_follow_the_media_type,
    documents_validated_once_still_check_each_requests_variables,
    batching_is_off_by_default_and_bounded_when_on,
    body_size_is_bounded,
    limits_refuse_before_any_statement,
    execution_timeout_stops_a_request,
    websocket_subscriptions_obey_the_limits,
    websocket_connections_are_bounded,
    production_profile_hides_the_schema,
    automatic_persisted_queries,
    trusted_documents_refuse_anything_else,
    rs256_and_es256_tokens_from_a_jwks,
    bad_tokens_are_refused,
    agents_of_deleted_partners_are_refused,
    cost_limit_reads_arguments_as_they_execute,
    absurd_cursors_are_bad_input,
    introspection_without_a_token_for_named_operations,
    anonymous_documents_are_never_kept,
    the_maximum_token_lifetime_is_configurable,
    websocket_rules_hold_on_both_protocols,
);

const VIEWER: &str = "{ viewer { agent { email } } }";

async fn send(
    t: &TestApp,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (status, headers, bytes) = t.send(req.body(body.into()).unwrap()).await;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

fn bearer(t: &TestApp) -> String {
    format!("Bearer {}", t.token(NORTHWIND_ADMIN))
}

async fn post_json(t: &TestApp, accept: Option<&str>, body: Value) -> (StatusCode, HeaderMap, Value) {
    let auth = bearer(t);
    let mut headers = vec![("content-type", "application/json"), ("authorization", auth.as_str())];
    if let Some(a) = accept {
        headers.push(("accept", a));
    }
    send(t, Method::POST, "/graphql", &headers, body.to_string()).await
}

fn content_type(h: &HeaderMap) -> &str {
    h.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default()
}

async fn accept_header_picks_the_media_type(t: TestApp) {
    let q = json!({ "query": VIEWER });
    for (accept, expected) in [
        (None, "application/json"),
        (Some("application/json"), "application/json"),
        (Some("application/graphql-response+json"), "application/graphql-response+json"),
        (Some("application/graphql-response+json, application/json;q=0.9"), "application/graphql-response+json"),
        (Some("application/graphql-response+json;q=0.5, application/json"), "application/json"),
        (Some("*/*"), "application/json"),
        (Some("text/html, application/*;q=0.8"), "application/json"),
        (Some("application/json, application/graphql-response+json"), "application/graphql-response+json"),
    ] {
        let (status, headers, body) = post_json(&t, accept, q.clone()).await;
        assert_eq!(status, StatusCode::OK, "{accept:?}: {body}");
        assert!(content_type(&headers).starts_with(expected), "{accept:?} → {}", content_type(&headers));
        assert!(content_type(&headers).contains("charset=utf-8"));
    }
    for accept in ["text/html", "application/xml", "application/json;q=0"] {
        let (status, _, body) = post_json(&t, Some(accept), q.clone()).await;
        assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{accept}");
        assert_eq!(code(&body), "NOT_ACCEPTABLE");
    }
}

async fn get_follows_the_spec(t: TestApp) {
    let auth = bearer(&t);
    let h = [("authorization", auth.as_str())];
    let enc = |s: &str| url_encode(s);
    // A query with variables and an operation name picked among several.
    let doc =
        "query A { viewer { agent { email } } } query B($n: Int) { customers(first: $n) { edges { node { id } } } }";
    let uri = format!("/graphql?query={}&operationName=B&variables={}", enc(doc), enc(r#"{"n":2}"#));
    let (status, _, body) = send(&t, Method::GET, &uri, &h, Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["customers"]["edges"].as_array().unwrap().len(), 2);
    // No query: 400. Variables that are not JSON: 400.
    let (status, _, body) = send(&t, Method::GET, "/graphql", &h, Body::empty()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let uri = format!("/graphql?query={}&variables=%7Bnope", enc(VIEWER));
    let (status, _, _) = send(&t, Method::GET, &uri, &h, Body::empty()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A mutation over GET is 405 with `Allow: POST`, and nothing runs.
    let before = write_counts(&t).await;
    let m = r#"mutation { addServiceRequestNote(input: { serviceRequestId: "x", body: "hi" }) { note { id } } }"#;
    let (status, headers, body) = send(&t, Method::GET, &format!("/graphql?query={}", enc(m)), &h, Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(headers["allow"], "POST");
    assert_eq!(code(&body), "METHOD_NOT_ALLOWED");
    // Choosing the mutation of a mixed document by name is refused the same way.
    let mixed = format!("query Q {{ __typename }} {m}").replace("mutation {", "mutation M {");
    let (status, _, _) =
        send(&t, Method::GET, &format!("/graphql?query={}&operationName=M", enc(&mixed)), &h, Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(write_counts(&t).await, before);
}

async fn post_follows_the_spec(t: TestApp) {
    let auth = bearer(&t);
    // Only application/json: a form or text/plain POST (which browsers send cross-site
    // without a preflight) never runs; neither does a POST without a content type.
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/graphql",
        "",
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        if !ct.is_empty() {
            headers.push(("content-type", ct));
        }
        let (status, _, body) = send(&t, Method::POST, "/graphql", &headers, format!("query={VIEWER}")).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}: {body}");
        assert_eq!(code(&body), "UNSUPPORTED_MEDIA_TYPE");
    }
    // `application/json; charset=utf-8` is JSON.
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json; charset=utf-8")];
    let (status, _, body) = send(&t, Method::POST, "/graphql", &headers, json!({ "query": VIEWER }).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Malformed requests are 400 with a code, whatever the Accept.
    for bad in [
        json!({}),
        json!({ "query": 1 }),
        json!({ "query": VIEWER, "variables": [1] }),
        json!({ "query": VIEWER, "variables": "x" }),
        json!({ "query": VIEWER, "operationName": 3 }),
        json!({ "query": VIEWER, "extensions": "x" }),
        json!("query"),
        json!(null),
    ] {
        for accept in ["application/json", "application/graphql-response+json"] {
            let (status, _, body) = post_json(&t, Some(accept), bad.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} ({accept}): {body}");
            assert_eq!(code(&body), "BAD_REQUEST", "{bad}: {body}");
            assert!(body.get("data").is_none());
        }
    }
    // `variables: null` and extra keys are fine.
    let (status, _, body) = post_json(&t, None, json!({ "query": VIEWER, "variables": null, "extra": 1 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn status_codes_follow_the_media_type(t: TestApp) {
    let gr = Some("application/graphql-response+json");
    let js = Some("application/json");
    // Parse and validation errors, and an unknown operation name: 400 without `data` for
    // graphql-response+json, 200 for json.
    for req in [
        json!({ "query": "{ viewer { " }),
        json!({ "query": "{ noSuchField }" }),
        json!({ "query": "query A { __typename } query B { __typename }" }),
        json!({ "query": "query A { __typename }", "operationName": "Z" }),
        json!({ "query": "query($n: Int!) { customers(first: $n) { totalCount } }", "variables": { "n": "two" } }),
    ] {
        let (status, _, body) = post_json(&t, gr, req.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{req}: {body}");
        assert!(body.get("data").is_none(), "{body}");
        assert!(!body["errors"].as_array().unwrap().is_empty());
        let (status, _, body) = post_json(&t, js, req.clone()).await;
        assert_eq!(status, StatusCode::OK, "{req}: {body}");
        assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()));
    }
    // A field error during execution is a 200 with `data` in both.
    let req = json!({ "query": "{ viewer { agent { email } } node(id: \"bm9wZQ\") { id } }" });
    for accept in [gr, js] {
        let (status, _, body) = post_json(&t, accept, req.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN);
        assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()));
    }
}

/// A document that passed validation runs later requests without validating again what does
/// not depend on them (`graphql::run::execute`). Each request's variables are still checked:
/// every answer is the one the same document gets the first time it is seen (a fresh text).
async fn documents_validated_once_still_check_each_requests_variables(t: TestApp) {
    let gr = Some("application/graphql-response+json");
    let q = "query Page($n: Int!, $s: String, $f: CustomerFilter, $id: ID!) { \
             customers(first: $n, search: $s, filter: $f) { totalCount edges { node { id } } } \
             node(id: $id) { id } }";
    let validated = |text: &str| {
        let parsed = t.app.documents.parse(&mut async_graphql::Request::new(text), true).unwrap();
        parsed.validated.load(std::sync::atomic::Ordering::Relaxed)
    };
    let id = "Q3VzdG9tZXI6bm9uZQ";
    // Refused documents are never marked.
    let (status, _, _) = post_json(&t, gr, json!({ "query": "{ noSuchField }" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!validated("{ noSuchField }"));
    let good = json!({ "n": 2, "s": "a", "id": id });
    let (status, _, first) = post_json(&t, gr, json!({ "query": q, "variables": good })).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first["data"]["customers"]["totalCount"].is_number(), "{first}");
    assert!(validated(q), "the document passed validation once");
    let cases = [
        good.clone(),
        json!({ "n": "two", "id": id }),
        json!({ "n": null, "id": id }),
        json!({ "n": 2.5, "id": id }),
        json!({ "n": 3_000_000_000u64, "id": id }),
        json!({ "n": 2, "s": 5, "id": id }),
        json!({ "n": 2, "id": true }),
        json!({ "n": 2, "id": 17 }),
        json!({ "n": 2 }),
        json!({ "n": 2, "id": id, "f": { "noSuchField": 1 } }),
        json!({ "n": 2, "id": id, "f": { "cloud": "NO_SUCH_CLOUD" } }),
        json!({ "n": 2, "id": id, "f": { "cloud": "COMMERCIAL" } }),
        good,
    ];
    for (i, variables) in cases.into_iter().enumerate() {
        let fresh = format!("{q} # {i}");
        let (want_status, _, want) = post_json(&t, gr, json!({ "query": fresh, "variables": variables })).await;
        let (status, _, got) = post_json(&t, gr, json!({ "query": q, "variables": variables })).await;
        assert_eq!((status, &got), (want_status, &want), "{variables}");
    }
}

async fn batching_is_off_by_default_and_bounded_when_on(t: TestApp) {
    let batch = json!([{ "query": VIEWER }, { "query": "{ __typename }" }]);
    let (status, _, body) = post_json(&t, None, batch.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "BATCHING_DISABLED");
    let on = t.reconfigured(|c| c.limits.max_batch = 2).await;
    let (status, _, body) = post_json(&on, None, batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN);
    assert_eq!(body[1]["data"]["__typename"], "Query");
    let (status, _, body) =
        post_json(&on, None, json!([{ "query": VIEWER }, { "query": VIEWER }, { "query": VIEWER }])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "BATCH_TOO_LARGE");
    let (status, _, body) = post_json(&on, None, json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "BATCH_TOO_LARGE");
}

async fn body_size_is_bounded(t: TestApp) {
    let small = t.reconfigured(|c| c.limits.max_body_bytes = 4096).await;
    let huge = json!({ "query": VIEWER, "variables": { "pad": "x".repeat(10_000) } });
    let (status, _, body) = post_json(&small, None, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "REQUEST_TOO_LARGE");
    let (status, _, _) = post_json(&small, None, json!({ "query": VIEWER })).await;
    assert_eq!(status, StatusCode::OK);
}

/// Each limit's refusal, with its code, before any SQL statement (not even the token's
/// agent lookup) runs.
async fn limits_refuse_before_any_statement(t: TestApp) {
    let aliases: String = (0..31).map(|i| format!("a{i}: email ")).collect();
    let roots: String = (0..21).map(|i| format!("v{i}: __typename ")).collect();
    let cases = [
        ("QUERY_TOO_DEEP", format!("{{ {} __typename {} }}", "viewer { agent { ".repeat(9), "} } ".repeat(9))),
        (
            "QUERY_TOO_COMPLEX",
            "{ customers(first: 100) { edges { node { subscriptions(first: 100) { edges { node { serviceRequests(first: 100) { nodes { id } } } } } } } } }"
                .to_owned(),
        ),
        ("TOO_MANY_ALIASES", format!("{{ viewer {{ agent {{ {aliases} }} }} }}")),
        ("TOO_MANY_ROOT_FIELDS", format!("{{ {roots} }}")),
        ("TOO_MANY_DIRECTIVES", format!("{{ viewer {} {{ agent {{ email }} }} }}", "@include(if: true) ".repeat(5))),
        ("TOO_MANY_TOKENS", format!("{{ viewer {{ agent {{ {} }} }} }}", "email ".repeat(6_000))),
        ("QUERY_TOO_DEEP", "{".repeat(50_000)),
    ];
    for (expected, query) in cases {
        let before = t.statements();
        let (status, _, body) =
            post_json(&t, Some("application/graphql-response+json"), json!({ "query": query })).await;
        assert_eq!(code(&body), expected, "{body}");
        assert!(body["errors"][0]["extensions"]["limit"].is_number(), "{body}");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.get("data").is_none());
        assert_eq!(t.statements(), before, "{expected}: a refused document ran SQL");
    }
    // Variables count: the same document is fine with small pages and refused with large ones.
    let q = "query($n: Int) { customers(first: $n) { edges { node { subscriptions(first: $n) { edges { node { serviceRequests(first: $n) { nodes { id } } } } } } } } }";
    let (_, _, body) = post_json(&t, None, json!({ "query": q, "variables": { "n": 5 } })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, _, body) = post_json(&t, None, json!({ "query": q, "variables": { "n": 40 } })).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX");
    // Page sizes above 100 are refused by the resolver.
    let (_, _, body) = post_json(&t, None, json!({ "query": "{ customers(first: 101) { totalCount } }" })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // Limits are configurable.
    let strict = t.reconfigured(|c| c.limits.max_depth = 2).await;
    let (_, _, body) = post_json(&strict, None, json!({ "query": VIEWER })).await;
    assert_eq!(code(&body), "QUERY_TOO_DEEP");
}

async fn execution_timeout_stops_a_request(t: TestApp) {
    // A gateway with one pooled connection, held by the test: the request waits for it (the
    // pool would wait 5 s) and is stopped by the 200 ms execution timeout instead.
    let hasty = t
        .reconfigured(|c| {
            c.db_pool_size = 1;
            c.limits.execution_timeout = Duration::from_millis(200);
        })
        .await;
    let held = hold_connection(&hasty.app.db).await;
    let before = write_counts(&t).await;
    let (status, _, body) = post_json(&hasty, None, json!({ "query": VIEWER })).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(code(&body), "TIMEOUT");
    assert_eq!(write_counts(&t).await, before);
    // The gateway serves again once the connection is free.
    drop(held);
    let (status, _, body) = post_json(&hasty, None, json!({ "query": VIEWER })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Checks out a pooled connection and keeps it until the returned value is dropped.
async fn hold_connection(db: &support_gateway::db::Db) -> Box<dyn std::any::Any + Send> {
    match &db.pool {
        support_gateway::db::Pool::Postgres(p) => Box::new(p.get().await.expect("connection")),
        support_gateway::db::Pool::Sqlite(p) => Box::new(p.get().await.expect("connection")),
    }
}

async fn websocket_subscriptions_obey_the_limits(t: TestApp) {
    // Every transport admits requests through `graphql::run`, so a subscription document is measured too.
    use futures_util::StreamExt;
    let deep = format!(
        "subscription {{ serviceRequestEvents {{ {} id {} }} }}",
        "request { customer { ".repeat(8),
        "} } ".repeat(8)
    );
    let request = async_graphql::Request::new(deep);
    let caller = support_gateway::http::caller_of_agent(&t.app, "agent-northwind-admin").await.unwrap();
    let schema = support_gateway::graphql::schema_for(&t.app);
    let first = support_gateway::graphql::run::stream(&t.app, &schema, request, caller, None)
        .next()
        .await
        .expect("one response");
    let err = &first.errors[0];
    assert_eq!(
        err.extensions.as_ref().and_then(|e| e.get("code")).map(|v| v.to_string()).as_deref(),
        Some("\"QUERY_TOO_DEEP\"")
    );
}

async fn websocket_connections_are_bounded(t: TestApp) {
    use common::ws::{Ws, serve};
    let small = t
        .reconfigured(|c| {
            c.limits.ws_max_subscriptions = 2;
            c.limits.ws_max_message_bytes = 2048;
        })
        .await;
    let addr = serve(small.router.clone()).await;
    let mut ws = Ws::open(addr, &small, NORTHWIND_ADMIN).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(id, "subscription { serviceRequestEvents { kind } }", json!({})).await;
    }
    let refused = ws.recv().await.expect("an answer for the third");
    assert_eq!((refused["type"].as_str(), refused["id"].as_str()), (Some("error"), Some("3")), "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "TOO_MANY_OPERATIONS");
    // A message over the size limit closes the connection (4400, or 1009 when the WebSocket
    // layer refuses the frame itself).
    ws.subscribe("4", &format!("subscription {{ serviceRequestEvents {{ kind }} }} # {}", "x".repeat(4096)), json!({}))
        .await;
    let closed = ws.recv().await.expect("a close");
    assert!(matches!(closed["closed"].as_u64(), Some(4400 | 1009)), "{closed}");
}

async fn production_profile_hides_the_schema(t: TestApp) {
    let prod = t
        .reconfigured(|c| {
            c.profile = Profile::Production;
            c.introspection = false;
            c.graphiql = false;
        })
        .await;
    // No anonymous introspection, and none with a token either.
    let headers = [("content-type", "application/json")];
    let (status, _, _) = send(
        &prod,
        Method::POST,
        "/graphql",
        &headers,
        json!({ "query": "{ __schema { queryType { name } } }" }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, _, body) = post_json(&prod, None, json!({ "query": "{ __schema { queryType { name } } }" })).await;
    assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{body}");
    assert_eq!(code(&body), "INTROSPECTION_DISABLED", "{body}");
    // No "did you mean" hints that spell out the schema.
    let (_, _, body) = post_json(&prod, None, json!({ "query": "{ viewr { agent { email } } }" })).await;
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    let (_, _, body) = post_json(&t, None, json!({ "query": "{ viewr { agent { email } } }" })).await;
    assert!(body.to_string().contains("Did you mean"), "development keeps the hints: {body}");
    // No GraphiQL.
    let (status, _, _) = send(&prod, Method::GET, "/graphiql", &[], Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(&t, Method::GET, "/graphiql", &[], Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    // Real queries still work.
    let (status, _, body) = post_json(&prod, None, json!({ "query": VIEWER })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn apq(query: Option<&str>, hash: &str) -> Value {
    let mut v = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    if let Some(q) = query {
        v["query"] = json!(q);
    }
    v
}

async fn automatic_persisted_queries(t: TestApp) {
    let hash = sha256_hex(VIEWER);
    let (_, _, body) = post_json(&t, None, apq(None, &hash)).await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    let (_, _, body) = post_json(&t, None, apq(Some(VIEWER), &hash)).await;
    assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN);
    let (_, _, body) = post_json(&t, None, apq(None, &hash)).await;
    assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN, "{body}");
    // Over GET too (cacheable URLs).
    let auth = bearer(&t);
    let ext = url_encode(&apq(None, &hash)["extensions"].to_string());
    let (status, _, body) = send(
        &t,
        Method::GET,
        &format!("/graphql?extensions={ext}"),
        &[("authorization", auth.as_str())],
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN);
    // A hash that does not match its text is refused.
    let (_, _, body) = post_json(&t, None, apq(Some(VIEWER), &"0".repeat(64))).await;
    assert_eq!(code(&body), "PERSISTED_QUERY_HASH_MISMATCH");
    // A persisted mutation cannot be run over GET.
    let m = r#"mutation { addServiceRequestNote(input: { serviceRequestId: "x", body: "hi" }) { note { id } } }"#;
    let _ = post_json(&t, None, apq(Some(m), &sha256_hex(m))).await;
    let ext = url_encode(&apq(None, &sha256_hex(m))["extensions"].to_string());
    let (status, _, _) = send(
        &t,
        Method::GET,
        &format!("/graphql?extensions={ext}"),
        &[("authorization", auth.as_str())],
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn trusted_documents_refuse_anything_else(t: TestApp) {
    let manifest = json!({ sha256_hex(VIEWER): VIEWER }).to_string();
    let trusted = t.reconfigured(|c| c.trusted_documents = Some(manifest)).await;
    let hash = sha256_hex(VIEWER);
    // By hash (Apollo's extension or the documentId parameter), and by its exact text.
    for req in [apq(None, &hash), json!({ "documentId": format!("sha256:{hash}") }), json!({ "query": VIEWER })] {
        let (status, _, body) = post_json(&trusted, None, req.clone()).await;
        assert_eq!(status, StatusCode::OK, "{req}: {body}");
        assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN, "{req}: {body}");
    }
    let auth = bearer(&t);
    let (_, _, body) = send(
        &trusted,
        Method::GET,
        &format!("/graphql?documentId=sha256:{hash}"),
        &[("authorization", auth.as_str())],
        Body::empty(),
    )
    .await;
    assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN);
    // Any other document, an unknown hash, and APQ registration are refused.
    let before = t.statements();
    let (status, _, body) = post_json(
        &trusted,
        Some("application/graphql-response+json"),
        json!({ "query": "{ customers { totalCount } }" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_ALLOWED");
    assert_eq!(t.statements(), before);
    let (_, _, body) = post_json(&trusted, None, apq(None, &"1".repeat(64))).await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND");
    let other = "{ __typename }";
    let (_, _, body) = post_json(&trusted, None, apq(Some(other), &sha256_hex(other))).await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_ALLOWED");
    // A manifest whose hash does not match its document stops the gateway from starting.
    let bad = json!({ "0".repeat(64): VIEWER }).to_string();
    let mut config = support_gateway::config::Config::for_url(&t.url, SECRET);
    config.trusted_documents = Some(bad);
    assert!(support_gateway::App::start(config, std::sync::Arc::new(t.clock.clone())).await.is_err());
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).expect("fixture")
}

/// A gateway that verifies tokens with the fixtures' JWKS only (no HS256 secret).
async fn jwks_app(t: &TestApp) -> TestApp {
    let jwks = String::from_utf8(fixture("jwks.json")).unwrap();
    t.reconfigured(|c| {
        c.auth.secret = None;
        c.auth.jwks = Some(jwks);
        c.auth.issuer = "https://login.example.test/".into();
        c.auth.audience = "api://support-gateway".into();
    })
    .await
}

fn claims(sub: &str, iss: &str, aud: &str, exp_in: i64, nbf_in: Option<i64>) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({ "sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + exp_in });
    if let Some(n) = nbf_in {
        c["nbf"] = json!(now + n);
    }
    c
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

async fn as_token(t: &TestApp, token: &str) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let (status, _, body) = send(t, Method::POST, "/graphql", &headers, json!({ "query": VIEWER }).to_string()).await;
    (status, body)
}

const ISS: &str = "https://login.example.test/";
const AUD: &str = "api://support-gateway";

async fn rs256_and_es256_tokens_from_a_jwks(t: TestApp) {
    let app = jwks_app(&t).await;
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(&fixture("ec-private.pem")).unwrap();
    let ok = claims("agent-northwind-admin", ISS, AUD, 600, None);
    for token in [
        sign(Algorithm::RS256, Some("test-rsa-1"), &rsa, &ok),
        sign(Algorithm::ES256, Some("test-ec-1"), &ec, &ok),
        // Without a kid, the only key of the token's algorithm is used.
        sign(Algorithm::RS256, None, &rsa, &ok),
    ] {
        let (status, body) = as_token(&app, &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN);
    }
    // Clock skew within the leeway (30 s) is tolerated.
    let (status, _) = as_token(
        &app,
        &sign(Algorithm::ES256, Some("test-ec-1"), &ec, &claims("agent-northwind-admin", ISS, AUD, -10, None)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn bad_tokens_are_refused(t: TestApp) {
    use base64::Engine;
    let app = jwks_app(&t).await;
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
    let other = EncodingKey::from_rsa_pem(&fixture("rsa-other-private.pem")).unwrap();
    let agent = "agent-northwind-admin";
    let good = sign(Algorithm::RS256, Some("test-rsa-1"), &rsa, &claims(agent, ISS, AUD, 600, None));
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let mut tampered = good.clone();
    let (head, _) = good.rsplit_once('.').unwrap();
    let payload = b64(&claims("agent-fabrikam-admin", ISS, AUD, 600, None));
    tampered = format!("{}.{}.{}", head.split('.').next().unwrap(), payload, tampered.rsplit('.').next().unwrap());
    let none =
        format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT" })), b64(&claims(agent, ISS, AUD, 600, None)));
    // HS/RS confusion: an HS256 token whose "secret" is the RSA public key.
    let confused = sign(
        Algorithm::HS256,
        Some("test-rsa-1"),
        &EncodingKey::from_secret(&fixture("rsa-public.pem")),
        &claims(agent, ISS, AUD, 600, None),
    );
    let cases = [
        ("expired", sign(Algorithm::RS256, Some("test-rsa-1"), &rsa, &claims(agent, ISS, AUD, -120, None))),
        (
            "valid for 31 days",
            sign(Algorithm::RS256, Some("test-rsa-1"), &rsa, &claims(agent, ISS, AUD, 31 * 24 * 3600, None)),
        ),
        (
            "valid for a year, without iat",
            sign(
                Algorithm::RS256,
                Some("test-rsa-1"),
                &rsa,
                &json!({ "sub": agent, "iss": ISS, "aud": AUD, "exp": chrono::Utc::now().timestamp() + 365 * 24 * 3600 }),
            ),
        ),
        (
            "exp as a string",
            sign(
                Algorithm::RS256,
                Some("test-rsa-1"),
                &rsa,
                &json!({ "sub": agent, "iss": ISS, "aud": AUD, "exp": "tomorrow" }),
            ),
        ),
        ("header not JSON", format!("{}.{}.sig", b64(&json!("x")).replace("Ing", "x"), b64(&json!({})))),
        ("not yet valid", sign(Algorithm::RS256, Some("test-rsa-1"), &rsa, &claims(agent, ISS, AUD, 600, Some(300)))),
        (
            "wrong audience",
            sign(Algorithm::RS256, Some("test-rsa-1"), &rsa, &claims(agent, ISS, "api://other", 600, None)),
        ),
        (
            "wrong issuer",
            sign(Algorithm::RS256, Some("test-rsa-1"), &rsa, &claims(agent, "https://evil.example/", AUD, 600, None)),
        ),
        ("alg none", none),
        ("HS256 with the public key", confused),
        ("RS384", sign(Algorithm::RS384, Some("test-rsa-1"), &rsa, &claims(agent, ISS, AUD, 600, None))),
        ("tampered payload", tampered),
        ("unknown key", sign(Algorithm::RS256, Some("test-rsa-1"), &other, &claims(agent, ISS, AUD, 600, None))),
        ("unknown kid", sign(Algorithm::RS256, Some("nope"), &rsa, &claims(agent, ISS, AUD, 600, None))),
        (
            "unknown agent",
            sign(Algorithm::RS256, Some("test-rsa-1"), &rsa, &claims("agent-nobody", ISS, AUD, 600, None)),
        ),
        (
            "no audience",
            sign(
                Algorithm::RS256,
                Some("test-rsa-1"),
                &rsa,
                &json!({ "sub": agent, "iss": ISS, "exp": chrono::Utc::now().timestamp() + 600 }),
            ),
        ),
        ("not a JWT", "abc.def".to_owned()),
        // The gateway's own HS256 tokens are not accepted when no secret is configured.
        ("HS256 without a secret", t.token(NORTHWIND_ADMIN)),
    ];
    // What each refusal must say (in words a user understands).
    let says = [
        ("expired", "expired"),
        ("valid for 31 days", "longer than"),
        ("valid for a year, without iat", "longer than"),
        ("exp as a string", "claims are malformed"),
        ("header not JSON", "not a JSON Web Token"),
        ("not yet valid", "not valid yet"),
        ("wrong audience", "`aud` must be"),
        ("wrong issuer", "`iss` must be"),
        ("alg none", "algorithm `none` is not accepted"),
        ("tampered payload", "signature"),
        ("unknown key", "signature"),
        ("not a JWT", "not a JSON Web Token"),
        ("no audience", "no `aud` claim"),
    ];
    for (what, token) in cases {
        let (status, body) = as_token(&app, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(code(&body), "UNAUTHENTICATED", "{what}");
        assert!(body.get("data").is_none());
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        for internal in ["variant", "JSON error", "line 1 column", "InvalidSignature", "ExpiredSignature", "Error("] {
            assert!(!message.contains(internal), "{what}: the message exposes library internals: {message}");
        }
        if let Some((_, words)) = says.iter().find(|(w, _)| *w == what) {
            assert!(message.contains(words), "{what}: expected {words:?} in {message:?}");
        }
    }
}

async fn agents_of_deleted_partners_are_refused(t: TestApp) {
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    use support_gateway::db::schema::partners;
    let token = t.token(LITWARE_ADMIN);
    assert_eq!(as_token(&t, &token).await.0, StatusCode::OK);
    let now = test_now().naive_utc();
    let db = &t.app.db;
    let updated: Result<usize, support_gateway::error::AppError> = async {
        Ok(support_gateway::with_conn!(db, |conn| {
            diesel::update(partners::table.filter(partners::id.eq("partner-litware")))
                .set(partners::deleted_at.eq(Some(now)))
                .execute(conn)
                .await?
        }))
    }
    .await;
    assert_eq!(updated.map_err(|e| e.message()).unwrap(), 1);
    // Callers are cached for `caller_cache_ttl` (5 s): past it, the deletion takes effect.
    t.clock.advance(chrono::Duration::seconds(6));
    let (status, body) = as_token(&t, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

/// Percent-encodes a query string value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn cost_limit_reads_arguments_as_they_execute(t: TestApp) {
    let nested = "query Deep($n: Int = 100) { customers(first: $n) { edges { node { subscriptions(first: $n) {
        edges { node { serviceRequests(first: $n) { nodes { id } } } } } } } } }";
    let literal = nested.replace("($n: Int = 100)", "").replace("$n", "100");
    let before = t.statements();
    for (what, body) in [
        ("literals", json!({ "query": literal })),
        ("a variable's default", json!({ "query": nested })),
        ("a variable", json!({ "query": nested, "variables": { "n": 100 } })),
    ] {
        let (status, _, body) = post_json(&t, None, body).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{what}: {body}");
    }
    assert_eq!(t.statements(), before, "refused before any statement");
    // Variables inside a list count too.
    let ids: Vec<String> = (0..101).map(|i| format!("$i{i}")).collect();
    let defs: Vec<String> = (0..101).map(|i| format!("$i{i}: ID! = \"x{i}\"")).collect();
    let q = format!("query Many({}) {{ nodes(ids: [{}]) {{ id }} }}", defs.join(", "), ids.join(", "));
    let small = t.reconfigured(|c| c.limits.max_cost = 100).await;
    let (_, _, body) = post_json(&small, None, json!({ "query": q })).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    // A small page through a variable's default runs.
    let (status, _, body) = post_json(&t, None, json!({ "query": nested.replace("= 100", "= 2") })).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("errors").is_none(), "{body}");
}

async fn absurd_cursors_are_bad_input(t: TestApp) {
    use base64::Engine;
    let cursor = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let q = "query($after: String) { customers(first: 2, after: $after) { edges { node { id } } } }";
    let nested =
        "query($after: String) { customers(first: 1) { edges { node { serviceRequests(first: 2, after: $after) {
        edges { node { id } } } } } } }";
    for absurd in ["o:9223372036854775807", "o:18446744073709551615", "o:4294967296", "o:-3"] {
        for query in [q, nested] {
            let (status, _, body) =
                post_json(&t, None, json!({ "query": query, "variables": { "after": cursor(absurd) } })).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(code(&body), "BAD_USER_INPUT", "{absurd}: {body}");
        }
    }
    // A cursor past the end is a real position: an empty page.
    let (_, _, body) = post_json(&t, None, json!({ "query": q, "variables": { "after": cursor("o:1000000") } })).await;
    assert_eq!(body["data"]["customers"]["edges"], json!([]), "{body}");
}

async fn introspection_without_a_token_for_named_operations(t: TestApp) {
    let headers = [("content-type", "application/json")];
    for body in [
        json!({ "query": "query X { __typename }" }),
        json!({ "query": "query X { __typename }", "operationName": "X" }),
        json!({ "query": "{ __typename }" }),
        json!({ "query": "query A { __typename } query B { __schema { queryType { name } } }", "operationName": "B" }),
    ] {
        let (status, _, answer) = send(&t, Method::POST, "/graphql", &headers, body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
        assert!(answer.get("errors").is_none(), "{body}: {answer}");
    }
    // Data still needs a token, whatever the operation is called.
    for body in [
        json!({ "query": "query X { __typename viewer { agent { email } } }" }),
        json!({ "query": "query A { __typename } query B { viewer { agent { email } } }", "operationName": "B" }),
    ] {
        let (status, _, _) = send(&t, Method::POST, "/graphql", &headers, body.to_string()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
}

async fn anonymous_documents_are_never_kept(t: TestApp) {
    // Without a token or with a bad one, documents registered as persisted queries are run
    // (or refused) and forgotten: an authenticated client asking by hash does not find them.
    let headers = [("content-type", "application/json")];
    let bad = [("content-type", "application/json"), ("authorization", "Bearer not-a-token")];
    for (i, h) in [&headers[..], &bad[..]].into_iter().enumerate() {
        let doc = format!("{{ __typename }} # anonymous {i} {}", "x".repeat(10_000));
        let hash = sha256_hex(&doc);
        let body = json!({ "query": doc, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
        let (status, _, _) = send(&t, Method::POST, "/graphql", h, body.to_string()).await;
        assert!(status == StatusCode::OK || status == StatusCode::UNAUTHORIZED, "{status}");
        let (_, _, answer) =
            post_json(&t, None, json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } }))
                .await;
        assert_eq!(code(&answer), "PERSISTED_QUERY_NOT_FOUND", "{answer}");
    }
    assert_eq!(t.app.documents.kept_bytes(), 0);
    // An authenticated client's registration is kept.
    let doc = "{ viewer { agent { email } } }";
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(doc) } });
    post_json(&t, None, json!({ "query": doc, "extensions": ext })).await;
    let (_, _, answer) = post_json(&t, None, json!({ "extensions": ext })).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert!(t.app.documents.kept_bytes() > 0);
}

async fn the_maximum_token_lifetime_is_configurable(t: TestApp) {
    let strict = t.reconfigured(|c| c.auth.max_lifetime = Duration::from_secs(600)).await;
    let long = strict.app.keys.issue("agent-northwind-admin", chrono::Utc::now(), chrono::Duration::hours(1));
    assert!(long.is_err(), "issuing beyond the maximum is refused");
    let token = t.app.keys.issue("agent-northwind-admin", chrono::Utc::now(), chrono::Duration::hours(1)).unwrap();
    assert_eq!(as_token(&t, &token).await.0, StatusCode::OK);
    let (status, body) = as_token(&strict, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("longer than"), "{body}");
    let short =
        strict.app.keys.issue("agent-northwind-admin", chrono::Utc::now(), chrono::Duration::minutes(5)).unwrap();
    assert_eq!(as_token(&strict, &short).await.0, StatusCode::OK);
}

async fn websocket_rules_hold_on_both_protocols(t: TestApp) {
    use common::ws::{Ws, serve};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    let strict = t
        .reconfigured(|c| {
            c.limits.ws_max_subscriptions = 2;
            c.limits.ws_max_message_bytes = 2048;
            c.limits.ws_init_timeout = Duration::from_millis(300);
        })
        .await;
    let addr = serve(strict.router.clone()).await;
    let token = t.token(NORTHWIND_ADMIN);
    for (protocol, start) in [("graphql-transport-ws", "subscribe"), ("graphql-ws", "start")] {
        let legacy = protocol == "graphql-ws";
        // A socket that never sends connection_init is closed.
        let mut silent = Ws::connect(addr, protocol).await;
        assert_eq!(silent.recv().await.expect("a close")["closed"], 4408, "{protocol}");

        // Operations per connection are bounded.
        let mut ws = Ws::open_with(addr, protocol, &token).await;
        for id in ["1", "2", "3"] {
            let payload = json!({ "query": "subscription { serviceRequestEvents { kind } }" });
            ws.send(json!({ "id": id, "type": start, "payload": payload })).await;
        }
        let refused = ws.recv().await.expect("an answer for the third");
        assert_eq!(refused["id"], "3", "{protocol}: {refused}");
        let errors = if legacy { &refused["payload"]["errors"] } else { &refused["payload"] };
        assert_eq!(errors[0]["extensions"]["code"], "TOO_MANY_OPERATIONS", "{protocol}: {refused}");
        // A message over the size limit closes the socket.
        let big =
            json!({ "query": format!("subscription {{ serviceRequestEvents {{ kind }} }} # {}", "x".repeat(4096)) });
        ws.send(json!({ "id": "4", "type": start, "payload": big })).await;
        loop {
            let m = ws.recv().await.expect("a close");
            if m.get("closed").is_some() {
                assert!(matches!(m["closed"].as_u64(), Some(4400 | 1009)), "{protocol}: {m}");
                break;
            }
        }

        // A bad token is refused (the legacy protocol says why in `connection_error` first).
        let (mut bad, answer) = Ws::init(addr, protocol, "not-a-token").await;
        if legacy {
            assert_eq!(answer["type"], "connection_error", "{answer}");
            assert!(answer["payload"]["message"].as_str().unwrap().contains("JSON Web Token"), "{answer}");
            assert_eq!(bad.recv().await.expect("a close")["closed"], 4403);
        } else {
            assert_eq!(answer["closed"], 4403, "{answer}");
        }

        // An expiring token closes the socket when it expires.
        let short =
            t.app.keys.issue("agent-northwind-admin", chrono::Utc::now(), chrono::Duration::seconds(2)).unwrap();
        let mut expiring = Ws::open_with(addr, protocol, &short).await;
        assert_eq!(expiring.recv().await.expect("a close")["closed"], 4403, "{protocol}");

        // The server answers the client's close frame (clients see 1000, not 1006).
        let mut closing = Ws::open_with(addr, protocol, &token).await;
        closing.0.send(Message::Close(Some(CloseFrame { code: 1000.into(), reason: "bye".into() }))).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), closing.0.next()).await.expect("an answer in time");
        match answer {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1000, "{protocol}"),
            other => panic!("{protocol}: expected the server's close frame, got {other:?}"),
        }
    }
}
