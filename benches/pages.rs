//! Page weight and first render of `/graphiql` and `/board`, in headless Chromium against the
//! release binary on its embedded demo database:
//!
//!     cargo bench --bench pages
//!
//! For each page, on a cold cache and then reloaded: bytes transferred (the document and
//! every resource, compressed as sent), bytes decoded, first contentful paint, and the time
//! until the page is usable (GraphiQL's editor is there; the board lists requests with its
//! countdown subscription acknowledged). Needs chromium and chromedriver.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

async fn free_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

async fn browser() -> (Client, tokio::process::Child) {
    let port = free_port().await.port();
    let driver = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver (apt-get install chromium chromium-driver)");
    let profile = std::env::temp_dir().join(format!("sg-bench-chromium-{}", uuid::Uuid::new_v4().simple()));
    let capabilities = json!({ "goog:chromeOptions": { "args": [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
        format!("--user-data-dir={}", profile.display()), "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1", "--no-first-run", "--disable-background-networking",
    ] } });
    let capabilities: serde_json::Map<String, Value> = capabilities.as_object().unwrap().clone();
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (client, driver),
            Err(e) if started.elapsed() > Duration::from_secs(20) => panic!("chromedriver: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// What one load cost: bytes as sent for the page and its files, for its GraphQL answers
/// (fetches), bytes decoded, first contentful paint and time to ready (ms).
struct Load {
    files: f64,
    data: f64,
    decoded: f64,
    fcp: f64,
    ready: f64,
}

/// Loads `url` and waits until `ready` holds.
async fn load(client: &Client, url: &str, ready: &str) -> Load {
    client.goto(url).await.unwrap();
    let started = Instant::now();
    loop {
        let v = client.execute(&format!("return Boolean({ready})"), vec![]).await.unwrap();
        if v == json!(true) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{url} did not become ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let f = client
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0]; \
             const res = performance.getEntriesByType('resource'); \
             const sum = (list, key) => list.reduce((s, r) => s + r[key], 0); \
             const data = res.filter(r => r.initiatorType === 'fetch'); \
             const files = res.filter(r => r.initiatorType !== 'fetch'); \
             const fcp = performance.getEntriesByName('first-contentful-paint')[0]; \
             return [nav.transferSize + sum(files, 'transferSize'), sum(data, 'transferSize'), \
                     nav.decodedBodySize + sum(res, 'decodedBodySize'), fcp ? fcp.startTime : -1, performance.now()];",
            vec![],
        )
        .await
        .unwrap();
    let n = |i: usize| f[i].as_f64().unwrap_or(-1.0);
    Load { files: n(0), data: n(1), decoded: n(2), fcp: n(3), ready: n(4) }
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("sg-bench-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let addr = free_port().await;
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_support-gateway"))
        .args(["serve", "--bind", &addr.to_string()])
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while !client.get(format!("http://{addr}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(started.elapsed() < Duration::from_secs(60), "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = support_gateway::auth::TokenKeys::new(support_gateway::config::DEVELOPMENT_JWT_SECRET)
        .issue("agent-northwind-admin", chrono::Utc::now(), chrono::Duration::hours(1))
        .unwrap();
    println!(
        "{:<10} {:<6} {:>12} {:>12} {:>12} {:>8} {:>9}",
        "page", "cache", "files", "GraphQL", "decoded", "FCP ms", "ready ms"
    );
    for (page, path, ready) in [
        ("/graphiql", "/graphiql".to_owned(), "document.querySelector('.graphiql-container .CodeMirror')"),
        ("/board", format!("/board#token={token}"), "document.body.dataset.ready === '1'"),
    ] {
        let (browser, _driver) = browser().await;
        for cache in ["cold", "warm"] {
            let l = load(&browser, &format!("http://{addr}{path}"), ready).await;
            println!(
                "{page:<10} {cache:<6} {:>9.1} KB {:>9.1} KB {:>9.1} KB {:>8.0} {:>9.0}",
                l.files / 1000.0,
                l.data / 1000.0,
                l.decoded / 1000.0,
                l.fcp,
                l.ready
            );
        }
        let _ = browser.close().await;
    }
    let _ = server.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
