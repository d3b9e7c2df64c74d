//! The test harness: a real gateway (`app()` router over a started `App`) on a fresh SQLite
//! file or a fresh PostgreSQL database, seeded with the demo data at a fixed instant.
//!
//! PostgreSQL tests run when `TEST_DATABASE_URL` names a server (any database on it: each test
//! creates and drops its own). Without it they are skipped, and the run says so once.
#![allow(dead_code)]

pub mod process;
pub mod ws;

use std::io::Write;
use std::sync::{Arc, Once};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support_gateway::clock::ManualClock;
use support_gateway::config::Config;
use support_gateway::{App, AppState, seed};
use tower::ServiceExt;

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A Wednesday afternoon: business hours in Europe and the Americas.
pub fn test_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap()
}

/// Runs each named check as `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::TestApp::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::common::TestApp::postgres().await else { return };
                super::$name(app).await
            }
        }
    )* };
}

enum Cleanup {
    SqliteFile(std::path::PathBuf),
    PostgresDb { admin_url: String, name: String },
}

pub struct TestApp {
    /// The database URL the app runs on.
    pub url: String,
    pub app: AppState,
    pub router: Router,
    pub clock: ManualClock,
    /// Drops the database when the last app on it goes (see [`TestApp::reconfigured`]).
    cleanup: Arc<CleanupGuard>,
}

struct CleanupGuard(Cleanup);

static SKIP_NOTICE: Once = Once::new();

/// Says once, past libtest's output capture, that PostgreSQL tests were skipped.
fn announce_skip() {
    SKIP_NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: PostgreSQL tests were SKIPPED: no TEST_DATABASE_URL was set \
             (e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres). They pass trivially here.\n"
        );
    });
}

/// The URL of database `name` on the server of `url`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl TestApp {
    /// A fresh SQLite file, migrated and seeded.
    pub async fn sqlite() -> TestApp {
        let path = std::env::temp_dir().join(format!("sg-test-{}.db", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}", path.display());
        TestApp::start(&url, true, Cleanup::SqliteFile(path)).await
    }

    /// A fresh PostgreSQL database, migrated and seeded; `None` (and a notice) without
    /// `TEST_DATABASE_URL`, unless `SG_REQUIRE_POSTGRES` is set, which makes that a failure.
    pub async fn postgres() -> Option<TestApp> {
        Self::postgres_with(true).await
    }

    pub async fn postgres_unseeded() -> Option<TestApp> {
        Self::postgres_with(false).await
    }

    async fn postgres_with(seeded: bool) -> Option<TestApp> {
        let admin_url = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os("SG_REQUIRE_POSTGRES").is_none(),
                    "SG_REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not"
                );
                announce_skip();
                return None;
            }
        };
        let name = format!("sg_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&admin_url).await.expect("connect to TEST_DATABASE_URL");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        drop(admin);
        let url = with_database(&admin_url, &name);
        Some(TestApp::start(&url, seeded, Cleanup::PostgresDb { admin_url, name }).await)
    }

    pub async fn sqlite_unseeded() -> TestApp {
        let path = std::env::temp_dir().join(format!("sg-test-{}.db", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}", path.display());
        TestApp::start(&url, false, Cleanup::SqliteFile(path)).await
    }

    async fn start(url: &str, seeded: bool, cleanup: Cleanup) -> TestApp {
        let clock = ManualClock::new(test_now());
        let app = App::start(Self::config(url), Arc::new(clock.clone())).await.expect("start app");
        if seeded {
            seed::load(&app.db, &seed::demo(test_now())).await.expect("seed demo data");
        }
        let router = support_gateway::app(app.clone());
        TestApp { url: url.to_owned(), app, router, clock, cleanup: Arc::new(CleanupGuard(cleanup)) }
    }

    fn config(url: &str) -> Config {
        let mut config = Config::for_url(url, SECRET);
        config.db_pool_size = 4;
        config
    }

    /// A second gateway on the same database, with the test's configuration changed by `f`
    /// (profile, limits, keys…). The database lives until both are dropped.
    pub async fn reconfigured(&self, f: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Self::config(&self.url);
        f(&mut config);
        let app = App::start(config, Arc::new(self.clock.clone())).await.expect("start reconfigured app");
        let router = support_gateway::app(app.clone());
        TestApp { url: self.url.clone(), app, router, clock: self.clock.clone(), cleanup: self.cleanup.clone() }
    }

    /// A fresh database on the same backend, seeded as `seed --scale n` seeds (statistics
    /// included).
    pub async fn seeded_at_scale(&self, n: usize) -> TestApp {
        let t = match self.backend() {
            support_gateway::db::Backend::Sqlite => TestApp::sqlite_unseeded().await,
            support_gateway::db::Backend::Postgres => {
                TestApp::postgres_unseeded().await.expect("TEST_DATABASE_URL is set")
            }
        };
        seed::load(&t.app.db, &seed::scale(n, test_now())).await.expect("seed at scale");
        t
    }

    pub fn backend(&self) -> support_gateway::db::Backend {
        self.app.db.backend
    }

    /// A token for a demo agent.
    pub fn token(&self, email: &str) -> String {
        let id = format!("agent-{}", agent_id_suffix(email));
        self.app.keys.issue(&id, Utc::now(), chrono::Duration::hours(1)).unwrap()
    }

    /// SQL statements run so far by this app's pool.
    pub fn statements(&self) -> u64 {
        self.app.db.stats.statements()
    }

    /// Sends a raw request through the router.
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let resp = self.router.clone().oneshot(req).await.expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes().to_vec();
        (status, headers, body)
    }

    /// POSTs a GraphQL request as the agent with `email` (or anonymously), returning the
    /// status and the decoded JSON body.
    pub async fn gql_as(&self, email: Option<&str>, query: &str, variables: Value) -> (StatusCode, Value) {
        let mut req =
            Request::builder().method(Method::POST).uri("/graphql").header("content-type", "application/json");
        if let Some(email) = email {
            req = req.header("authorization", format!("Bearer {}", self.token(email)));
        }
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, _, bytes) = self.send(req.body(Body::from(body)).unwrap()).await;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("JSON body ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    /// A query as Northwind's admin agent that must succeed; returns `data`.
    pub async fn data(&self, email: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.gql_as(Some(email), query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }
}

/// `admin@northwind-cloud.example` → `northwind-admin` (the demo's agent id scheme).
fn agent_id_suffix(email: &str) -> String {
    let (mailbox, domain) = email.split_once('@').expect("an e-mail");
    let partner = domain.split(['-', '.']).next().unwrap_or(domain);
    format!("{partner}-{mailbox}")
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        match &self.0 {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PostgresDb { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a thread with its own to drop the database.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    rt.block_on(async {
                        if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url).await {
                            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// The demo's agents, by partner.
pub const NORTHWIND_ADMIN: &str = "admin@northwind-cloud.example";
pub const NORTHWIND_HELPDESK: &str = "helpdesk@northwind-cloud.example";
pub const NORTHWIND_SALES: &str = "sales@northwind-cloud.example";
pub const FABRIKAM_ADMIN: &str = "admin@fabrikam-distribution.example";
pub const LITWARE_ADMIN: &str = "admin@litware-solutions.example";
pub const ADATUM_ADMIN: &str = "admin@adatum-federal.example";
pub const TAILSPIN_ADMIN: &str = "admin@tailspin-partners.example";

/// Row counts of every table a mutation writes, to prove a refused call changed nothing.
pub async fn write_counts(t: &TestApp) -> Vec<i64> {
    use diesel::QueryDsl;
    use diesel_async::RunQueryDsl;
    use support_gateway::db::schema::*;
    async fn counts(db: &support_gateway::db::Db) -> support_gateway::error::AppResult<Vec<i64>> {
        Ok(support_gateway::with_conn!(db, |conn| {
            vec![
                service_requests::table.count().get_result::<i64>(conn).await?,
                service_request_history::table.count().get_result::<i64>(conn).await?,
                service_request_notes::table.count().get_result::<i64>(conn).await?,
                events::table.count().get_result::<i64>(conn).await?,
                idempotency_keys::table.count().get_result::<i64>(conn).await?,
                customers::table
                    .filter(customers::azure_access_granted.eq(true))
                    .count()
                    .get_result::<i64>(conn)
                    .await?,
            ]
        }))
    }
    use diesel::ExpressionMethods;
    counts(&t.app.db).await.map_err(|e| e.message()).expect("count rows")
}

/// The global id of a raw id.
pub fn gid(type_name: &str, raw: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{type_name}:{raw}"))
}

/// A valid filing (`CreateServiceRequestInput`) for one of `agent`'s customers: a Microsoft 365
/// request about a subscription it resells, with the given business impact.
pub async fn filing_input(t: &TestApp, agent: &str, impact: &str) -> Value {
    let d = t
        .data(agent, "{ customers(first: 100) { edges { node { id relationship subscriptions(productFamily: MICROSOFT_365) { edges { node { id status } } } } } } supportTopics(productFamily: MICROSOFT_365) { id } }", json!({}))
        .await;
    let customer = d["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        // R11: a customer the partner resells to, about a subscription not deleted.
        .map(|e| {
            let mut c = e["node"].clone();
            c["subscriptions"]["edges"] = json!(
                c["subscriptions"]["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| s["node"]["status"] != "DELETED")
                    .cloned()
                    .collect::<Vec<_>>()
            );
            c
        })
        .find(|c| c["relationship"] != "ADVISOR" && !c["subscriptions"]["edges"].as_array().unwrap().is_empty())
        .unwrap();
    json!({
        "customerId": customer["id"], "productFamily": "MICROSOFT_365",
        "subscriptionId": customer["subscriptions"]["edges"][0]["node"]["id"], "supportTopicId": d["supportTopics"][0]["id"],
        "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": impact, "title": "Mail delayed", "description": "Queues growing.",
        "contact": { "name": "Desk", "email": format!("desk@{}", agent.split('@').nth(1).unwrap()) },
    })
}

/// Files a Microsoft 365 request as `agent` with the given business impact; returns its
/// `id` and `version`.
pub async fn file_request(t: &TestApp, agent: &str, impact: &str) -> Value {
    let input = filing_input(t, agent, impact).await;
    let d = t.data(agent, "mutation($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) { serviceRequest { id version } } }", json!({ "i": input })).await;
    d["createServiceRequest"]["serviceRequest"].clone()
}
