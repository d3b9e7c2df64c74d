//! Hostile input: a corpus of malformed bodies, wrong and overflowing variables, huge and
//! strange strings, SQL metacharacters in every string argument and invalid enum values;
//! then generated documents and variables (property tests). Every one gets a clear 4xx or a
//! GraphQL error with `extensions.code`, never a 500 or a panic, and the database is unchanged.
//!
//! `cargo fuzz` needs a nightly toolchain (sanitizer flags), and this machine has only stable:
//! the generated cases below are the fuzz target, run through the real router. More cases:
//! `SG_FUZZ_CASES=5000 cargo test --test hostile`.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};

on_both_backends!(
    malformed_bodies_are_4xx,
    hostile_variables_and_strings_are_refused_cleanly,
    hostile_text_is_stored_verbatim,
    generated_documents_never_fail_the_server
);

/// Strings that have broken parsers, databases and terminals.
const NASTY: &[&str] = &[
    "'; DROP TABLE service_requests; --",
    "\" OR \"1\"=\"1",
    "' OR 1=1 --",
    "%_%",
    "\\",
    "\\\\'",
    "$1",
    "?",
    "NULL",
    "\u{0}",
    "a\u{0}b",
    "\u{202e}gnp.exe",
    "\u{200b}\u{200d}\u{feff}",
    "e\u{301}\u{301}\u{301}\u{301}",
    "🦀👩‍👩‍👧‍👦",
    "𝕿𝖊𝖘𝖙",
    "\r\n\t",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "",
    " ",
];

async fn raw_post(t: &TestApp, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", t.token(NORTHWIND_ADMIN)))
        .body(Body::from(body))
        .unwrap();
    let (status, _, bytes) = t.send(req).await;
    (status, bytes)
}

/// The answer is not a server failure, and every error in it says what kind it is.
fn assert_clean(what: &str, status: StatusCode, bytes: &[u8]) -> Value {
    assert!(!status.is_server_error(), "{what}: {status} {}", String::from_utf8_lossy(bytes));
    let body: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(bytes)));
    if let Some(errors) = body["errors"].as_array() {
        for e in errors {
            assert!(e["extensions"]["code"].is_string(), "{what}: an error without a code: {body}");
            assert_ne!(e["extensions"]["code"], "INTERNAL", "{what}: {body}");
        }
    }
    if status.is_client_error() {
        assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{what}: a 4xx without errors: {body}");
    }
    body
}

async fn malformed_bodies_are_4xx(t: TestApp) {
    let before = write_counts(&t).await;
    let mut bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("truncated", br#"{"query": "{ viewer { agent { email } } }""#.to_vec()),
        ("not an object", b"42".to_vec()),
        ("string", br#""{ viewer { agent { email } } }""#.to_vec()),
        ("invalid UTF-8", b"{\"query\": \"\xff\xfe\"}".to_vec()),
        ("lone surrogate", br#"{"query": "\ud800"}"#.to_vec()),
        (
            "huge number",
            br#"{"query": "{ customers(first: $n) { totalCount } }", "variables": {"n": 1e999999}}"#.to_vec(),
        ),
        ("duplicate keys", br#"{"query": "{ __typename }", "query": "{ __typename }"}"#.to_vec()),
        ("trailing garbage", br#"{"query": "{ __typename }"} xyz"#.to_vec()),
        ("NUL in JSON", b"{\"query\": \"{ __typename }\"}\0".to_vec()),
        ("comment", br#"{"query": /* hi */ "{ __typename }"}"#.to_vec()),
    ];
    bodies.push((
        "deep JSON arrays",
        format!("{{\"query\": \"{{ __typename }}\", \"variables\": {{\"a\": {}}}}}", "[".repeat(100_000)).into_bytes(),
    ));
    bodies.push((
        "deep JSON objects",
        format!("{{\"query\": \"{{ __typename }}\", \"variables\": {}}}", "{\"a\":".repeat(50_000)).into_bytes(),
    ));
    bodies.push(("batch of garbage", b"[1, 2, 3]".to_vec()));
    for (what, body) in bodies {
        let (status, bytes) = raw_post(&t, body).await;
        assert!(status.is_client_error(), "{what}: {status} {}", String::from_utf8_lossy(&bytes));
        assert_clean(what, status, &bytes);
    }
    assert_eq!(write_counts(&t).await, before);
}

async fn hostile_variables_and_strings_are_refused_cleanly(t: TestApp) {
    let before = write_counts(&t).await;
    let page = "query($n: Int) { customers(first: $n) { totalCount } }";
    let search = "query($s: String) { customers(search: $s, first: 5) { totalCount } }";
    let node = "query($id: ID!) { node(id: $id) { id } }";
    let nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
    let topics = "query($f: ProductFamily!) { supportTopics(productFamily: $f) { id } }";
    let countdown = "subscription($i: Int!) { slaCountdown(intervalSeconds: $i) { at } }";
    let note = "mutation($id: ID!, $b: String!, $v: Int) { addServiceRequestNote(input: { id: $id, body: $b, expectedVersion: $v }) { serviceRequest { id } } }";
    let status_change = "mutation($id: ID!, $s: RequestStatus!, $v: Int!) { changeServiceRequestStatus(input: { id: $id, status: $s, expectedVersion: $v }) { serviceRequest { id } } }";
    let bad_request = gid("ServiceRequest", "does-not-exist");
    let mut cases: Vec<(String, &str, Value)> = vec![
        ("first as a string".into(), page, json!({ "n": "ten" })),
        ("first as a float".into(), page, json!({ "n": 1.5 })),
        ("first as a bool".into(), page, json!({ "n": true })),
        ("first overflowing Int".into(), page, json!({ "n": 2_147_483_648_i64 })),
        ("first overflowing i64".into(), page, json!({ "n": 9_223_372_036_854_775_807_i64 })),
        ("first negative".into(), page, json!({ "n": -1 })),
        ("first as a list".into(), page, json!({ "n": [1] })),
        ("first as an object".into(), page, json!({ "n": { "a": 1 } })),
        ("ids not a list".into(), nodes, json!({ "ids": "x" })),
        ("ids of 10,000".into(), nodes, json!({ "ids": vec![bad_request.clone(); 10_000] })),
        ("ids with null".into(), nodes, json!({ "ids": [null] })),
        ("huge search".into(), search, json!({ "s": "x".repeat(100_000) })),
        ("huge id".into(), node, json!({ "id": "A".repeat(200_000) })),
        ("invalid enum".into(), topics, json!({ "f": "AZUREX" })),
        ("lowercase enum".into(), topics, json!({ "f": "azure" })),
        ("enum as a number".into(), topics, json!({ "f": 1 })),
        ("interval overflow".into(), countdown, json!({ "i": 4_294_967_296_i64 })),
        (
            "expectedVersion overflow".into(),
            note,
            json!({ "id": bad_request, "b": "x", "v": 9_223_372_036_854_775_807_i64 }),
        ),
        ("status invalid".into(), status_change, json!({ "id": bad_request, "s": "DELETED", "v": 1 })),
        ("missing variable".into(), note, json!({})),
        ("unknown variable only".into(), page, json!({ "zzz": 1 })),
    ];
    for s in NASTY {
        cases.push((format!("search {s:?}"), search, json!({ "s": s })));
        cases.push((format!("node id {s:?}"), node, json!({ "id": s })));
        cases.push((format!("note on an unknown request {s:?}"), note, json!({ "id": bad_request, "b": s })));
        cases.push((format!("note on a nasty id {s:?}"), note, json!({ "id": s, "b": "x" })));
    }
    for (what, query, variables) in cases {
        let body = json!({ "query": query, "variables": variables }).to_string().into_bytes();
        let (status, bytes) = raw_post(&t, body).await;
        let body = assert_clean(&what, status, &bytes);
        if query.starts_with("mutation") {
            assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{what}: {body}");
        }
    }
    assert_eq!(write_counts(&t).await, before, "hostile input changed the database");
}

/// Text full of metacharacters and odd Unicode is data: stored and returned exactly.
async fn hostile_text_is_stored_verbatim(t: TestApp) {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ serviceRequests(first: 1, filter: { status: [OPEN] }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let request = d["serviceRequests"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let note = "mutation($id: ID!, $b: String!) { addServiceRequestNote(input: { id: $id, body: $b }) { serviceRequest { id } } }";
    // Text the rules refuse (blank or invisible only, NUL and other controls, bidirectional
    // overrides) is refused naming the field; everything else comes back as it was sent.
    let acceptable = |s: &str| support_gateway::domain::text::check(s, 20_000, true).is_ok();
    let kept: Vec<&str> = NASTY.iter().copied().filter(|s| acceptable(s)).collect();
    for s in NASTY.iter().copied().filter(|s| !acceptable(s)) {
        let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), note, json!({ "id": request, "b": s })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{s:?}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("`body`"), "{body}");
    }
    for s in &kept {
        t.data(NORTHWIND_ADMIN, note, json!({ "id": request, "b": s })).await;
    }
    let d = t.data(NORTHWIND_ADMIN, "query($id: ID!) { node(id: $id) { ... on ServiceRequest { notes(first: 100) { edges { node { body } } } } } }", json!({ "id": request })).await;
    let bodies: Vec<&str> =
        d["node"]["notes"]["edges"].as_array().unwrap().iter().filter_map(|e| e["node"]["body"].as_str()).collect();
    for s in kept {
        assert!(bodies.contains(&s), "{s:?} did not come back verbatim: {bodies:?}");
    }
    // The tables are all still there.
    t.data(NORTHWIND_ADMIN, "{ customers { totalCount } serviceRequests { totalCount } }", json!({})).await;
}

/// Tokens hostile documents are made of: the schema's own names, punctuation, directives,
/// fragments, variables, literals of every kind.
fn token() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ":",
        "...",
        "$n",
        "$s",
        "$id",
        "@include(if: true)",
        "@skip(if: $b)",
        "query",
        "mutation",
        "subscription",
        "fragment F on Query",
        "on",
        "...F",
        "... on Customer",
        "viewer",
        "agent",
        "email",
        "customers",
        "serviceRequests",
        "edges",
        "node",
        "nodes",
        "id",
        "title",
        "first:",
        "last:",
        "after:",
        "search:",
        "ids:",
        "filter:",
        "status:",
        "__typename",
        "__schema",
        "__type(name: \"Query\")",
        "types",
        "name",
        "subscriptions",
        "notes",
        "sla",
        "a:",
        "b:",
        "1",
        "-1",
        "2147483648",
        "1e400",
        "0.5",
        "true",
        "null",
        "\"x\"",
        "\"'; DROP TABLE x; --\"",
        "\"\\u0000\"",
        "\"\"\"block\"\"\"",
        "OPEN",
        "AZURE",
        "addServiceRequestNote(input: { id: \"x\", body: \"y\" })",
        "# comment\n",
        ",",
        "\u{feff}",
        "é",
        "🦀",
    ]);
    prop_oneof![8 => words.prop_map(str::to_owned), 1 => "[^\u{0}]{0,8}".prop_map(|s| s)]
}

/// Token soup (mostly refused by the parser or validation), or a valid operation whose
/// variables are then generated (reaching the resolvers and the database).
fn document() -> impl Strategy<Value = String> {
    let templates = prop::sample::select(vec![
        "query($n: Int, $s: String) { customers(first: $n, search: $s) { totalCount edges { cursor node { id companyName } } } }",
        "query($n: Int, $s: String) { customers(last: $n, before: $s) { edges { node { id } } } }",
        "query($id: ID!) { node(id: $id) { id ... on ServiceRequest { title sla { state } } } }",
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        "query($s: String, $n: Int) { marketplaceProducts(search: $s, first: $n) { totalCount } }",
        "query($b: ServiceRequestFilter) { serviceRequests(filter: $b) { totalCount } }",
        "query($id: ID, $s: ID) { supportEligibility(customerId: $id, subscriptionId: $s, productFamily: AZURE) { eligible } }",
        "mutation($id: ID!, $s: String!) { addServiceRequestNote(input: { id: $id, body: $s }) { serviceRequest { id } } }",
        "mutation($id: ID!, $n: Int!) { changeServiceRequestStatus(input: { id: $id, status: CLOSED, expectedVersion: $n }) { serviceRequest { id } } }",
        "mutation($id: ID!) { grantAzureAccess(customerId: $id) { customer { id } } }",
        "mutation($ids: CreateServiceRequestInput!) { createServiceRequest(input: $ids) { serviceRequest { id } } }",
    ]);
    prop_oneof![
        prop::collection::vec(token(), 0..60).prop_map(|tokens| tokens.join(" ")),
        templates.prop_map(str::to_owned),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        prop::sample::select(NASTY.to_vec()).prop_map(|s| json!(s)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z$]{1,3}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn wellformed_variables() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(vec!["n", "s", "id", "b", "ids"]), json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// Generated documents and variables through the router: no 500, no panic, every error
/// coded, and the database unchanged.
async fn generated_documents_never_fail_the_server(t: TestApp) {
    let cases = std::env::var("SG_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let cases = if t.backend() == support_gateway::db::Backend::Postgres { cases / 2 } else { cases };
    let before = write_counts(&t).await;
    let mut runner = TestRunner::new(ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() });
    let handle = tokio::runtime::Handle::current();
    let strategy = (document(), wellformed_variables(), any::<Option<String>>());
    let result = runner.run(&strategy, |(doc, variables, operation)| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut body = json!({ "query": doc, "variables": variables });
                if let Some(op) = operation {
                    body["operationName"] = json!(op);
                }
                let (status, bytes) = raw_post(&t, body.to_string().into_bytes()).await;
                assert_clean(&format!("{body}"), status, &bytes);
            })
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(write_counts(&t).await, before, "generated documents changed the database");
}
