//! The platform around the graph: migrations, the committed schema, authentication, and the
//! HTTP surface (GET/POST rules, CORS, compression, request ids, health).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use support_gateway::db::Db;

#[test]
fn migration_folders_hold_the_same_names() {
    let list = |dir: &str| {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let pg = list("migrations/postgres");
    let sqlite = list("migrations/sqlite");
    assert!(!pg.is_empty());
    assert_eq!(pg, sqlite, "migrations/postgres and migrations/sqlite must hold the same migration names");
    let (embedded_pg, embedded_sqlite) = Db::migration_names();
    assert_eq!(embedded_pg, embedded_sqlite);
    assert_eq!(embedded_pg.len(), pg.len());
    for dir in &pg {
        for file in ["up.sql", "down.sql"] {
            assert!(std::path::Path::new(&format!("migrations/postgres/{dir}/{file}")).exists());
            assert!(std::path::Path::new(&format!("migrations/sqlite/{dir}/{file}")).exists());
        }
    }
}

#[test]
fn schema_graphql_matches_the_code() {
    let committed = std::fs::read_to_string("schema.graphql").expect("schema.graphql exists");
    let generated = support_gateway::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql drifted from the code: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

/// Applies every migration, reverts them all, and applies them again.
async fn migrations_apply_and_revert(t: TestApp) {
    let reverted = t.app.db.revert_all().await.expect("revert");
    assert_eq!(reverted.len(), Db::migration_names().0.len());
    // Reverted: the tables are gone.
    let (_, body) = t.gql_as(None, "{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
    assert!(support_gateway::seed::is_empty(&t.app.db).await.is_err(), "partners table dropped");
    let applied = t.app.db.migrate().await.expect("re-apply");
    assert_eq!(applied.len(), reverted.len());
    assert!(support_gateway::seed::is_empty(&t.app.db).await.unwrap());
    // Seeding the migrated schema works, and a second seed is refused.
    support_gateway::seed::load(&t.app.db, &support_gateway::seed::demo(test_now())).await.expect("seed");
    assert!(support_gateway::seed::load(&t.app.db, &support_gateway::seed::demo(test_now())).await.is_err());
}

mod migrations {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::migrations_apply_and_revert(super::TestApp::sqlite_unseeded().await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(t) = super::TestApp::postgres_unseeded().await else { return };
        super::migrations_apply_and_revert(t).await
    }
}

/// Runs the gateway's command line with `args` on `url`, with no token secret or key in its
/// environment; returns whether it succeeded, and what it printed.
fn command_without_secret(url: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_support-gateway"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env_remove("SG_JWT_SECRET")
        .env_remove("SG_JWKS_FILE")
        .env_remove("SG_PROFILE")
        .output()
        .expect("run support-gateway");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// `migrate` and `seed` sign and verify no token: on an explicit database URL (the production
/// profile) they run without a token secret, where `serve` and `token` still refuse to.
fn migrate_and_seed_need_no_token_secret(url: &str) {
    let (ok, out) = command_without_secret(url, &["migrate"]);
    assert!(ok, "migrate: {out}");
    assert!(out.contains("migrations are up to date"), "{out}");
    let (ok, out) = command_without_secret(url, &["seed", "--scale", "3"]);
    assert!(ok, "seed: {out}");
    assert!(out.contains("3 customers"), "{out}");
    let (ok, out) = command_without_secret(url, &["token", "--agent", NORTHWIND_ADMIN]);
    assert!(!ok && out.contains("production profile needs SG_JWT_SECRET"), "token without a secret: {out}");
}

mod commands_without_secret {
    #[test]
    fn sqlite() {
        // A file nothing has migrated yet.
        let path = std::env::temp_dir().join(format!("sg-test-{}.db", uuid::Uuid::new_v4().simple()));
        super::migrate_and_seed_need_no_token_secret(&format!("sqlite://{}", path.display()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(t) = super::TestApp::postgres_unseeded().await else { return };
        let url = t.url.clone();
        tokio::task::spawn_blocking(move || super::migrate_and_seed_need_no_token_secret(&url)).await.unwrap();
    }
}

on_both_backends!(
    constraints_keep_bad_rows_out,
    missing_or_bad_tokens_are_unauthenticated,
    introspection_needs_no_token,
    get_serves_queries_and_refuses_mutations,
    post_needs_json,
    answers_in_the_accepted_media_type,
    cors_allows_configured_origins_only,
    responses_are_compressed_when_accepted,
    request_id_is_echoed,
    health_and_readiness,
    metrics_are_exported,
);

/// The value of a sample line (`name{labels} value`) in the exposition, if present.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

async fn metrics_are_exported(t: TestApp) {
    let named = "query Dashboard { viewer { agent { email } } customers(first: 3) { totalCount } }";
    t.data(NORTHWIND_ADMIN, named, json!({})).await;
    let note =
        "mutation($id: ID!) { addServiceRequestNote(input: { id: $id, body: \"metrics\" }) { serviceRequest { id } } }";
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ serviceRequests(first: 1, filter: { status: [OPEN] }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let id = d["serviceRequests"]["edges"][0]["node"]["id"].clone();
    t.data(NORTHWIND_ADMIN, note, json!({ "id": id })).await;
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_ADMIN),
            &format!("{{ {} __typename {} }}", "viewer { agent { ".repeat(9), "} } ".repeat(9)),
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP");
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), "{ node(id: \"bm9wZQ\") { id } }", json!({})).await;
    assert!(body["errors"].is_array());
    let (_, _) = t.gql_as(None, "{ customers { totalCount } }", json!({})).await;
    t.app.events.wake();

    let (status, headers, bytes) = t.send(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        sample(&text, "sg_graphql_request_duration_seconds_count{operation=\"Dashboard\",kind=\"query\"}") >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "sg_graphql_request_duration_seconds_count{operation=\"anonymous\",kind=\"mutation\"}")
            >= Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "sg_graphql_errors_total{code=\"QUERY_TOO_DEEP\"}"), Some(1.0), "{text}");
    assert!(sample(&text, "sg_graphql_errors_total{code=\"BAD_USER_INPUT\"}") >= Some(1.0), "{text}");
    assert_eq!(sample(&text, "sg_graphql_errors_total{code=\"UNAUTHENTICATED\"}"), Some(1.0), "{text}");
    assert!(sample(&text, "sg_sql_statements_total") > Some(3.0), "{text}");
    assert!(sample(&text, "sg_sql_statement_duration_seconds_count") > Some(3.0), "{text}");
    assert!(sample(&text, "sg_db_pool_connections") >= Some(1.0), "{text}");
    for name in [
        "sg_db_pool_idle_connections",
        "sg_db_pool_waiting",
        "sg_websocket_connections",
        "sg_subscriptions",
        "sg_events_published_total",
        "sg_events_delivered_total",
        "sg_events_dropped_total",
        "sg_sla_transitions_total",
    ] {
        assert!(sample(&text, name).is_some(), "{name} missing: {text}");
    }
}

async fn constraints_keep_bad_rows_out(t: TestApp) {
    use diesel_async::SimpleAsyncConnection;
    let bad = [
        // An enum value outside its set.
        "INSERT INTO support_topics (id, product_family, category, name) VALUES ('x', 'WINDOWS', 'c', 'n')",
        // A second primary domain for one customer.
        "INSERT INTO customer_domains (domain, customer_id, is_primary) SELECT 'second.example', id, TRUE FROM customers LIMIT 1",
        // A reseller without a provider.
        "INSERT INTO partners (id, name, kind, cloud, support_contact_name, support_contact_email, created_at) \
         VALUES ('p', 'P', 'INDIRECT_RESELLER', 'COMMERCIAL', 'n', 'e@x.example', '2026-01-01 00:00:00')",
        // A subscription pointing at no customer.
        "INSERT INTO subscriptions (id, partner_id, customer_id, owner, product_family, offer_name, status, billing_cycle, quantity, is_trial, created_at) \
         VALUES ('s', 'partner-northwind', 'nobody', 'CUSTOMER', 'MICROSOFT_365', 'o', 'ACTIVE', 'MONTHLY', 1, FALSE, '2026-01-01 00:00:00')",
    ];
    for sql in bad {
        let result = match &t.app.db.pool {
            support_gateway::db::Pool::Postgres(p) => p.get().await.unwrap().batch_execute(sql).await,
            support_gateway::db::Pool::Sqlite(p) => p.get().await.unwrap().batch_execute(sql).await,
        };
        assert!(result.is_err(), "accepted: {sql}");
    }
}

async fn missing_or_bad_tokens_are_unauthenticated(t: TestApp) {
    let (status, body) = t.gql_as(None, "{ viewer { agent { email } } }", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    for header in [
        "Bearer not-a-jwt".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
        // Signed with another secret.
        format!(
            "Bearer {}",
            support_gateway::auth::TokenKeys::new("another-secret-another-secret-000000")
                .issue("agent-northwind-admin", chrono::Utc::now(), chrono::Duration::hours(1))
                .unwrap()
        ),
        // Expired.
        format!(
            "Bearer {}",
            t.app
                .keys
                .issue(
                    "agent-northwind-admin",
                    chrono::Utc::now() - chrono::Duration::hours(2),
                    chrono::Duration::hours(1)
                )
                .unwrap()
        ),
        // An agent that does not exist.
        format!("Bearer {}", t.app.keys.issue("agent-nobody", chrono::Utc::now(), chrono::Duration::hours(1)).unwrap()),
    ] {
        let req = Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", header.clone())
            .body(Body::from(json!({ "query": "{ viewer { agent { email } } }" }).to_string()))
            .unwrap();
        let (status, headers, body) = t.send(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(headers["www-authenticate"], "Bearer");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{header}: {body}");
    }
}

async fn introspection_needs_no_token(t: TestApp) {
    let (status, body) = t.gql_as(None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    // Mixing a real field in needs a token.
    let (status, _) = t.gql_as(None, "{ __typename customers { totalCount } }", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn get_serves_queries_and_refuses_mutations(t: TestApp) {
    let token = t.token(NORTHWIND_ADMIN);
    let req = Request::get("/graphql?query=%7B%20viewer%20%7B%20agent%20%7B%20email%20%7D%20%7D%20%7D")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = t.send(req).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN);
    let req = Request::get("/graphql?query=mutation%20%7B%20__typename%20%7D")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = t.send(req).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "POST");
}

async fn post_needs_json(t: TestApp) {
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let req = Request::post("/graphql")
            .header("content-type", content_type)
            .header("authorization", format!("Bearer {}", t.token(NORTHWIND_ADMIN)))
            .body(Body::from("query={__typename}"))
            .unwrap();
        let (status, _, _) = t.send(req).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
    }
    let req = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", t.token(NORTHWIND_ADMIN)))
        .body(Body::from("{ not json"))
        .unwrap();
    let (status, _, body) = t.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

async fn answers_in_the_accepted_media_type(t: TestApp) {
    let send = |accept: &'static str, query: &'static str| {
        Request::post("/graphql")
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("authorization", format!("Bearer {}", t.token(NORTHWIND_ADMIN)))
            .body(Body::from(json!({ "query": query }).to_string()))
            .unwrap()
    };
    let (status, headers, _) = t.send(send("application/graphql-response+json", "{ __typename }")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/graphql-response+json"));
    let (status, headers, _) = t.send(send("application/json", "{ __typename }")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    // A document that does not validate: 400 for graphql-response+json, 200 for json.
    let (status, _, _) = t.send(send("application/graphql-response+json", "{ noSuchField }")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) = t.send(send("application/json", "{ noSuchField }")).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("noSuchField"));
}

async fn cors_allows_configured_origins_only(t: TestApp) {
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/graphql")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .body(Body::empty())
            .unwrap()
    };
    let (_, headers, _) = t.send(preflight("http://localhost:5173")).await;
    assert_eq!(headers["access-control-allow-origin"], "http://localhost:5173");
    let (_, headers, _) = t.send(preflight("https://evil.example")).await;
    assert!(headers.get("access-control-allow-origin").is_none());
    let (_, headers, _) = t.send(preflight("http://localhost.evil.example")).await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

async fn responses_are_compressed_when_accepted(t: TestApp) {
    for encoding in ["gzip", "br"] {
        let req = Request::post("/graphql")
            .header("content-type", "application/json")
            .header("accept-encoding", encoding)
            .header("authorization", format!("Bearer {}", t.token(NORTHWIND_ADMIN)))
            .body(Body::from(
                json!({ "query": "{ customers(first: 50) { edges { node { companyName primaryDomain } } } }" })
                    .to_string(),
            ))
            .unwrap();
        let (status, headers, body) = t.send(req).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-encoding"], encoding);
        assert!(!body.starts_with(b"{"), "body is encoded");
    }
}

async fn request_id_is_echoed(t: TestApp) {
    let (_, headers, _) = t.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    let generated = headers["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let (_, headers, _) =
        t.send(Request::get("/healthz").header("x-request-id", "trace-me-123").body(Body::empty()).unwrap()).await;
    assert_eq!(headers["x-request-id"], "trace-me-123");
}

async fn health_and_readiness(t: TestApp) {
    let (status, _, body) = t.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, b"ok".as_slice()));
    let (status, _, _) = t.send(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // GraphiQL and the board load everything from the gateway, pinned, and say so in their CSP.
    for page in ["/graphiql", "/board"] {
        let (status, headers, body) = t.send(Request::get(page).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
        let html = String::from_utf8_lossy(&body);
        assert!(!html.contains("https://") && !html.contains("http://"), "{page} loads from elsewhere: {html}");
    }
    let (_, _, body) = t.send(Request::get("/graphiql").body(Body::empty()).unwrap()).await;
    assert!(String::from_utf8_lossy(&body).contains("/assets/vendor/graphiql-4.1.2/graphiql.min.js"));
    let (status, headers, _) =
        t.send(Request::get("/assets/vendor/react-18.3.1/react.production.min.js").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["cache-control"].to_str().unwrap().contains("immutable"));
    let (status, _, _) = t.send(Request::get("/assets/vendor/../../Cargo.toml").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The demo agents' tokens are for a development gateway only: not with the tests' secret.
    let (status, _, _) = t.send(Request::get("/dev/agents").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn demo_data_is_deterministic_and_complete() {
    use support_gateway::domain::model::*;
    let a = support_gateway::seed::demo(test_now());
    let b = support_gateway::seed::demo(test_now());
    assert_eq!(
        a.requests.iter().map(|r| &r.id).collect::<Vec<_>>(),
        b.requests.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    assert!(a.customers.len() >= 24 && a.requests.len() >= 200);
    for s in RequestStatus::ALL {
        assert!(a.requests.iter().any(|r| r.status == s.as_str()), "status {s}");
    }
    for s in Severity::ALL {
        assert!(a.requests.iter().any(|r| r.severity == s.as_str()), "severity {s}");
    }
    for k in IncidentKind::ALL {
        assert!(a.requests.iter().any(|r| r.incident_kind == k.as_str()), "kind {k}");
    }
    for f in ProductFamily::ALL {
        assert!(a.subscriptions.iter().any(|s| s.product_family == f.as_str()), "family {f}");
    }
    for s in SubscriptionStatus::ALL {
        assert!(a.subscriptions.iter().any(|x| x.status == s.as_str()), "subscription status {s}");
    }
    assert!(a.customers.iter().any(|c| !c.delegated_admin));
    assert!(a.customers.iter().any(|c| c.relationship == "INDIRECT_RESELLER" && !c.azure_access_granted));
    assert!(a.customers.iter().any(|c| c.cloud == "US_GOVERNMENT"));
    assert!(a.requests.iter().any(|r| r.customer_id.is_none()), "requests about a partner's own tenant");
    assert!(a.products.iter().any(|p| p.support_url.is_none() && p.support_email.is_some()));
    let scaled = support_gateway::seed::scale(100, test_now());
    assert_eq!(scaled.customers.len(), 100);
    // Five requests for each customer the rules let Northwind file for (R11: not advised ones).
    let resold = scaled.customers.iter().filter(|c| c.relationship != "ADVISOR").count();
    assert!(resold >= 80);
    assert_eq!(scaled.requests.len(), 5 * resold);
}

/// The gateway's binary in `dir`, with `env` and none of the gateway's settings inherited.
fn gateway_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_support-gateway"));
    command.args(args).current_dir(dir).env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k == "DATABASE_URL" || k.starts_with("SG_") {
            command.env_remove(k);
        }
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// Runs to its end (a start that fails); returns whether it succeeded and what it printed.
fn failed_start(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = gateway_in(dir, args, env).output().expect("run support-gateway");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sg-test-dir-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Started without the word `serve`, the binary reads serve's settings (a container running
/// the bare binary keeps its bind address, GraphiQL switch and limits). Its embedded database,
/// deleted afterwards, is not silently seeded anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_binary_reads_serve_settings_and_never_reseeds_a_used_path() {
    use common::process::{free_port, http};
    let dir = temp_dir();
    let addr = free_port().await.to_string();
    let trusted = "{ __typename }";
    let manifest = dir.join("trusted.json");
    let deep = "{ __schema { types { fields { type { name } } } } }";
    let hash = support_gateway::graphql::documents::sha256_hex;
    std::fs::write(&manifest, json!({ hash(trusted): trusted, hash(deep): deep }).to_string()).unwrap();
    let manifest = manifest.display().to_string();
    let env = [
        ("SG_BIND", addr.as_str()),
        ("SG_GRAPHIQL", "false"),
        ("SG_LIMIT_DEPTH", "3"),
        ("SG_CORS_ORIGINS", "https://desk.example"),
        ("SG_TRUSTED_DOCUMENTS", manifest.as_str()),
    ];
    let mut child = tokio::process::Command::from(gateway_in(&dir, &[], &env))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() || http(addr, "GET", "/readyz", None, "").await.0 != 200 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the bare binary did not listen on SG_BIND");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(http(addr, "GET", "/graphiql", None, "").await.0, 404, "SG_GRAPHIQL=false is read");
    let (_, body) = http(addr, "POST", "/graphql", None, &json!({ "query": deep }).to_string()).await;
    assert!(body.contains("QUERY_TOO_DEEP"), "SG_LIMIT_DEPTH=3 is read: {body}");
    let untrusted = json!({ "query": "{ __typename __schema { queryType { name } } }" }).to_string();
    let (_, body) = http(addr, "POST", "/graphql", None, &untrusted).await;
    assert!(body.contains("PERSISTED_QUERY_NOT_ALLOWED"), "SG_TRUSTED_DOCUMENTS is read: {body}");
    let (_, body) = http(addr, "POST", "/graphql", None, &json!({ "query": trusted }).to_string()).await;
    assert!(body.contains("__typename"), "a trusted document runs: {body}");
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /graphql HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
             Connection: close\r\n\r\n"
        )
    };
    let allowed = raw(addr, &preflight("https://desk.example")).await.to_ascii_lowercase();
    assert!(
        allowed.contains("access-control-allow-origin: https://desk.example"),
        "SG_CORS_ORIGINS is read: {allowed}"
    );
    let other = raw(addr, &preflight("http://localhost:3000")).await.to_ascii_lowercase();
    assert!(!other.contains("access-control-allow-origin"), "only the configured origin: {other}");
    child.kill().await.unwrap();

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("data/support-gateway.db{suffix}")));
    }
    let (ok, out) = failed_start(&dir, &[], &env);
    assert!(!ok && out.contains("created by an earlier run"), "{out}");
    assert!(!dir.join("data/support-gateway.db").exists(), "nothing was created");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A start that fails says why and what to check, not "internal error".
#[test]
fn startup_failures_print_their_cause() {
    let dir = temp_dir();
    let secret = ("SG_JWT_SECRET", common::SECRET);
    let db = format!("sqlite://{}", dir.join("ok.db").display());
    std::fs::write(dir.join("jwks.json"), "{ not json").unwrap();
    std::fs::write(dir.join("manifest.json"), "[1, 2").unwrap();
    std::fs::write(dir.join("garbage.db"), "this is not a database file, not at all".repeat(100)).unwrap();
    {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut foreign = diesel::SqliteConnection::establish(dir.join("foreign.db").to_str().unwrap()).unwrap();
        foreign.batch_execute("CREATE TABLE partners (something_else INTEGER)").unwrap();
    }
    let path = |name: &str| dir.join(name).display().to_string();
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (
            "a bad JWKS file",
            vec![("DATABASE_URL", db.clone()), ("SG_JWKS_FILE", path("jwks.json"))],
            &["JWKS does not parse", "SG_JWKS_FILE"],
        ),
        (
            "a bad trusted documents manifest",
            vec![("DATABASE_URL", db.clone()), ("SG_TRUSTED_DOCUMENTS", path("manifest.json"))],
            &["trusted documents manifest", "SG_TRUSTED_DOCUMENTS"],
        ),
        (
            "an unreachable database",
            vec![
                ("DATABASE_URL", "postgres://sg:hunter2@127.0.0.1:1/nowhere".into()),
                ("SG_DB_TIMEOUT_MS", "2000".into()),
            ],
            &["opening the database postgres://sg:***@127.0.0.1:1/nowhere", "DATABASE_URL"],
        ),
        (
            "a missing database",
            vec![
                (
                    "DATABASE_URL",
                    std::env::var("TEST_DATABASE_URL")
                        .map(|url| common::with_database(&url, "sg_no_such_database"))
                        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/sg_no_such_database".into()),
                ),
                ("SG_DB_TIMEOUT_MS", "2000".into()),
            ],
            &["opening the database", "sg_no_such_database", "DATABASE_URL"],
        ),
        (
            "an unwritable data folder",
            vec![("DATABASE_URL", "sqlite:///proc/sg-no-such-place/x.db".into())],
            &["creating the database folder /proc/sg-no-such-place"],
        ),
        (
            "a file that is not a database",
            vec![("DATABASE_URL", format!("sqlite://{}", path("garbage.db")))],
            &["garbage.db", "not a database"],
        ),
        (
            "a migration that fails",
            vec![("DATABASE_URL", format!("sqlite://{}", path("foreign.db")))],
            &["migrating the database", "foreign.db"],
        ),
    ];
    for (what, env, expected) in cases {
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if !env.iter().any(|(k, _)| *k == "SG_JWKS_FILE") {
            env.push(secret);
        }
        let (ok, out) = failed_start(&dir, &["serve", "--bind", "127.0.0.1:0"], &env);
        assert!(!ok, "{what}: started");
        assert!(!out.contains("hunter2"), "{what}: the password is printed: {out}");
        for words in expected {
            assert!(out.contains(words), "{what}: expected {words:?} in: {out}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Resident memory of a process, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// 5,000 requests without a token, each registering a distinct large document as a persisted
/// query, are refused and leave nothing behind: the gateway's resident memory comes back to
/// within a small bound of where it started (it grew by the documents' size before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_documents_cost_no_memory() {
    use common::process::{Replica, http};
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("NOTE: skipped: no /proc to read resident memory from");
        return;
    }
    let path = std::env::temp_dir().join(format!("sg-test-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}", path.display());
    let gw = Replica::start_with(&url, &[("SG_PROFILE", "production")]).await;
    let pid = gw.child.id().expect("running");
    let addr = gw.addr;
    // Warm up: the first requests allocate the runtime's buffers.
    for _ in 0..20 {
        http(addr, "POST", "/graphql", None, "{\"query\":\"{ __typename }\"}").await;
    }
    let before = rss_bytes(pid);
    let tasks: Vec<_> = (0..4)
        .map(|worker| {
            tokio::spawn(async move {
                for i in 0..1_250 {
                    let doc = format!("{{ __typename }} # {worker}-{i} {}", "x".repeat(40_000));
                    let hash = support_gateway::graphql::documents::sha256_hex(&doc);
                    let body = json!({ "query": doc, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
                    let (status, _) = http(addr, "POST", "/graphql", None, &body.to_string()).await;
                    assert_eq!(status, 401);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Freed memory goes back to the system within seconds (jemalloc's purge, the periodic trim).
    // Before the fix the cache kept 2,000 of them: 80 MB.
    let bound = before + 24 * 1024 * 1024;
    let started = std::time::Instant::now();
    let mut after = rss_bytes(pid);
    while after > bound && started.elapsed() < std::time::Duration::from_secs(20) {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        after = rss_bytes(pid);
    }
    eprintln!("RSS before {} MiB, after 5,000 anonymous 40 KB documents {} MiB", before >> 20, after >> 20);
    assert!(after <= bound, "RSS grew from {} MiB to {} MiB", before >> 20, after >> 20);
    drop(gw);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Starts the binary on a seeded SQLite file with its log written to a file; returns the
/// process, its address and the log's path.
async fn logging_gateway(
    dir: &std::path::Path,
    format: &str,
) -> (tokio::process::Child, std::net::SocketAddr, std::path::PathBuf) {
    use common::process::{free_port, http};
    let url = format!("sqlite://{}", dir.join(format!("{format}.db")).display());
    let (ok, out) = failed_start(dir, &["seed", "--demo"], &[("DATABASE_URL", &url)]);
    assert!(ok, "{out}");
    let addr = free_port().await;
    let log = dir.join(format!("{format}.log"));
    let bind = addr.to_string();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("SG_JWT_SECRET", common::SECRET),
        ("SG_BIND", bind.as_str()),
        ("SG_LOG_FORMAT", format),
        ("RUST_LOG", "info"),
    ];
    let child = tokio::process::Command::from(gateway_in(dir, &["serve"], &env))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() || http(addr, "GET", "/readyz", None, "").await.0 != 200 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the gateway did not start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (child, addr, log)
}

/// Every GraphQL operation leaves one log line with its name, kind, agent, partner, duration
/// and error codes, so a refused filing can be found by its rule; JSON for log shippers, and
/// no colour codes when the log is not a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_is_logged_once_with_its_outcome() {
    use common::process::http;
    let dir = temp_dir();
    let token = support_gateway::auth::TokenKeys::new(common::SECRET)
        .issue("agent-northwind-admin", chrono::Utc::now(), chrono::Duration::hours(1))
        .unwrap();
    let filing = json!({
        "query": "mutation FileByPhone($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) { replayed } }",
        "variables": { "i": {
            "productFamily": "MICROSOFT_365", "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": "CRITICAL",
            "title": "Mail is down", "description": "Since 09:00.", "channel": "PHONE",
            "contact": { "name": "Desk", "email": "desk@northwind-cloud.example" } } }
    })
    .to_string();
    for format in ["json", "text"] {
        let (mut child, addr, log) = logging_gateway(&dir, format).await;
        let (_, body) = http(addr, "POST", "/graphql", Some(&token), &filing).await;
        assert!(body.contains("POLICY_REFUSED"), "{body}");
        let viewer = json!({ "query": "query Me { viewer { agent { email } } }" }).to_string();
        assert_eq!(http(addr, "POST", "/graphql", Some(&token), &viewer).await.0, 200);
        assert_eq!(http(addr, "POST", "/graphql", Some("bad"), &viewer).await.0, 401);
        child.kill().await.unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains('\u{1b}'), "{format}: colour codes in a log that is not a terminal");
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("graphql operation")).collect();
        assert_eq!(lines.len(), 3, "{format}: one line per operation: {text}");
        let filed = lines.iter().find(|l| l.contains("FileByPhone")).expect("the filing's line");
        for field in
            ["mutation", "admin@northwind-cloud.example", "northwind", "POLICY_REFUSED:R14+R12+R9", "duration_ms"]
        {
            assert!(filed.contains(field), "{format}: {field} missing from {filed}");
        }
        assert!(lines.iter().any(|l| l.contains("UNAUTHENTICATED")), "{format}: {text}");
        if format == "json" {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if v["message"] == "graphql operation" && v["operation"] == "Me" {
                    assert_eq!((v["kind"].as_str(), v["errors"].as_str()), (Some("query"), Some("")), "{v}");
                    assert!(v["duration_ms"].is_number(), "{v}");
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends raw bytes on a fresh connection and reads the whole answer.
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}
