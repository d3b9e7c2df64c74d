//! Measures the 4-level query (customers → subscriptions → service requests → notes) through
//! the real router: latency percentiles and SQL statements per request, at two page sizes.
//!
//! `cargo bench --bench graph` (SQLite); add `BENCH_DATABASE_URL=postgres://…/db` (an empty
//! database) for PostgreSQL. `BENCH_SCALE=N` seeds N generated customers instead of the demo.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use support_gateway::clock::SystemClock;
use support_gateway::config::Config;
use support_gateway::{App, seed};
use tower::ServiceExt;

const QUERY: &str = "query($n: Int!) {
  customers(first: $n) { edges { node { companyName
    subscriptions(first: $n) { edges { node { offerName
      serviceRequests(first: $n) { edges { node { title
        notes(first: $n) { totalCount edges { node { body } } } } } } } } } } } } }";

#[tokio::main]
async fn main() {
    let (url, file) = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let path = std::env::temp_dir().join(format!("sg-bench-{}.db", uuid::Uuid::new_v4().simple()));
            (format!("sqlite://{}", path.display()), Some(path))
        }
    };
    let app = App::start(Config::for_url(&url, "bench-secret-bench-secret-bench-secret"), Arc::new(SystemClock))
        .await
        .expect("start");
    let now = app.clock.now();
    let data = match std::env::var("BENCH_SCALE").ok().and_then(|s| s.parse().ok()) {
        Some(n) => seed::scale(n, now),
        None => seed::demo(now),
    };
    if seed::is_empty(&app.db).await.expect("count") {
        let t = Instant::now();
        seed::load(&app.db, &data).await.expect("seed");
        println!(
            "seeded {} customers, {} requests in {:.2} s",
            data.customers.len(),
            data.requests.len(),
            t.elapsed().as_secs_f64()
        );
    }
    let token = app.keys.issue("agent-northwind-admin", now, chrono::Duration::hours(1)).unwrap();
    let router = support_gateway::app(app.clone());
    println!("backend: {:?}", app.db.backend);
    println!("{:>8} {:>8} {:>10} {:>10} {:>10} {:>12}", "first", "runs", "p50 ms", "p95 ms", "max ms", "statements");
    for n in [2, 10, 50] {
        let body = serde_json::json!({ "query": QUERY, "variables": { "n": n } }).to_string();
        let mut times = Vec::new();
        let mut statements = 0;
        let runs = 50;
        for i in 0..runs + 5 {
            let req = Request::post("/graphql")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::from(body.clone()))
                .unwrap();
            let before = app.db.stats.statements();
            let t = Instant::now();
            let resp = router.clone().oneshot(req).await.unwrap();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            let elapsed = t.elapsed().as_secs_f64() * 1000.0;
            assert!(!bytes.windows(8).any(|w| w == b"\"errors\""), "{}", String::from_utf8_lossy(&bytes));
            if i >= 5 {
                times.push(elapsed);
                statements = app.db.stats.statements() - before;
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "{n:>8} {runs:>8} {:>10.2} {:>10.2} {:>10.2} {statements:>12}",
            pct(0.5),
            pct(0.95),
            times[times.len() - 1]
        );
    }
    if let Some(path) = file {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
