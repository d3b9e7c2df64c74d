//! Event delivery latency from a mutation to its subscribers, on one replica and across two,
//! for 1 and 1,000 concurrent subscribers; and the memory an idle subscription costs.
//!
//! `cargo bench --bench realtime` runs one replica on the embedded SQLite default (in a temp
//! folder). With `BENCH_DATABASE_URL=postgres://…/db` (an empty or seeded database) it runs two
//! replica processes on PostgreSQL and also measures delivery from one to the other.
//! Latency is measured two ways for each subscriber's receipt:
//! - from just before the mutation is sent, so it includes the mutation itself (its commit
//!   waits for the disk's flush): an upper bound on commit-to-delivery;
//! - from the moment the writer's answer arrives, which is after the commit: the delivery
//!   alone, the crossing between replicas included. It is negative for a subscriber that got
//!   the event before the writer got its answer (on one replica, the usual case).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-000";
const MUTATIONS: usize = 30;

struct Replica {
    addr: SocketAddr,
    child: tokio::process::Child,
}

async fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

async fn start(url: Option<&str>, dir: &std::path::Path) -> Replica {
    let addr = { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap() };
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_support-gateway"));
    cmd.args(["serve", "--bind", &addr.to_string()])
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url).env("SG_JWT_SECRET", SECRET);
    } else {
        cmd.env_remove("DATABASE_URL").env_remove("SG_JWT_SECRET");
    }
    let child = cmd.spawn().expect("start replica");
    let t = Instant::now();
    while http_ready(addr).await.is_none() {
        assert!(t.elapsed() < Duration::from_secs(60), "replica not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Replica { addr, child }
}

async fn http_ready(addr: SocketAddr) -> Option<()> {
    tokio::net::TcpStream::connect(addr).await.ok()?;
    (http(addr, "GET", "/readyz", None, "").await.0 == 200).then_some(())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Opens `n` subscribers on `addr` to events of `request`; each reports receipt instants.
/// Dropping what it returns closes them. Left open, the subscribers of one measurement took
/// every later event too: the cross-replica figures carried the 1,001 subscribers of the
/// single-replica runs, still attached to the writing replica (on two cores: +13 ms at p50
/// for one subscriber, +25 ms at p99 for 1,000).
async fn subscribers(
    addr: SocketAddr,
    token: &str,
    request: &str,
    n: usize,
    tx: tokio::sync::mpsc::UnboundedSender<Instant>,
) -> Subscribers {
    let mut tasks = Vec::new();
    let mut ready = Vec::new();
    for _ in 0..n {
        let mut req = format!("ws://{addr}/graphql").into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
        ws.send(Message::Text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let _ack = ws.next().await;
        let q = "subscription($ids: [ID!]) { serviceRequestEvents(filter: { ids: $ids }) { kind } }";
        ws.send(Message::Text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": q, "variables": { "ids": [request] } } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let tx = tx.clone();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(done_rx);
        tasks.push(tokio::spawn(async move {
            let _ = done_tx.send(());
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg
                    && t.contains("NOTE_ADDED")
                {
                    let _ = tx.send(Instant::now());
                }
            }
        }));
    }
    for r in ready {
        let _ = r.await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    Subscribers(tasks)
}

/// Open subscribers; dropped, their connections close.
struct Subscribers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Subscribers {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Milliseconds from `from` to `to`, negative when `to` came first.
fn millis(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1000.0,
        None => -(from - to).as_secs_f64() * 1000.0,
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(label: &str, write: SocketAddr, read: SocketAddr, token: &str, request: &str, n: usize) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let open = subscribers(read, token, request, n, tx).await;
    let (mut latencies, mut after_answer) = (Vec::new(), Vec::new());
    let body = json!({ "query": "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { version } } }",
                       "variables": { "i": { "id": request, "body": "bench" } } }).to_string();
    for _ in 0..MUTATIONS {
        let sent = Instant::now();
        let (status, answer) = http(write, "POST", "/graphql", Some(token), &body).await;
        let answered = Instant::now();
        assert_eq!(status, 200, "{answer}");
        for _ in 0..n {
            let at: Instant =
                tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("delivery").unwrap();
            latencies.push(millis(sent, at));
            after_answer.push(millis(answered, at));
        }
    }
    let (p50, p99) = (pct(&mut latencies, 0.5), pct(&mut latencies, 0.99));
    let (a50, a99) = (pct(&mut after_answer, 0.5), pct(&mut after_answer, 0.99));
    println!("{label:<28} {n:>12} {:>10} {p50:>10.2} {p99:>10.2} {a50:>12.2} {a99:>12.2}", latencies.len());
    drop(open);
    // Let the replicas see the connections close before the next measurement.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::main]
async fn main() {
    let url = std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty());
    let dir = std::env::temp_dir().join(format!("sg-bench-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(url) = &url {
        // Seed the database unless it already has data.
        let _ = tokio::process::Command::new(env!("CARGO_BIN_EXE_support-gateway"))
            .args(["seed", "--demo"])
            .env("DATABASE_URL", url)
            .env("SG_JWT_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let a = start(url.as_deref(), &dir).await;
    let secret = if url.is_some() { SECRET } else { support_gateway::config::DEVELOPMENT_JWT_SECRET };
    let token = support_gateway::auth::TokenKeys::new(secret)
        .issue("agent-northwind-admin", chrono::Utc::now(), chrono::Duration::hours(2))
        .unwrap();
    let q = json!({ "query": "{ serviceRequests(first: 1, filter: { status: [OPEN] }) { edges { node { id } } } }" })
        .to_string();
    let (_, answer) = http(a.addr, "POST", "/graphql", Some(&token), &q).await;
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let request = v["data"]["serviceRequests"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();

    println!("backend: {}", if url.is_some() { "postgres" } else { "sqlite" });
    println!(
        "{:<28} {:>12} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "delivery", "subscribers", "samples", "p50 ms", "p99 ms", "p50 after", "p99 after"
    );
    println!("{:<28} (from the mutation sent; 'after': from the writer's answer, after its commit)", "");
    measure("one replica", a.addr, a.addr, &token, &request, 1).await;
    measure("one replica", a.addr, a.addr, &token, &request, 1000).await;
    if let Some(url) = &url {
        let b = start(Some(url), &dir).await;
        measure("across two replicas", a.addr, b.addr, &token, &request, 1).await;
        measure("across two replicas", a.addr, b.addr, &token, &request, 1000).await;
        drop(b);
    }
    // Memory per idle subscription, read from a fresh replica's RSS.
    let c = start(url.as_deref(), &dir).await;
    let pid = c.child.id().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let _open = subscribers(c.addr, &token, &request, 1000, tx).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    println!(
        "idle subscriptions: 1000; replica RSS {before} KiB -> {after} KiB: {:.1} KiB per subscription",
        (after.saturating_sub(before)) as f64 / 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
