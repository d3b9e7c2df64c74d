//! A bounded soak: a real gateway process holds 1,000 WebSocket subscribers while clients run
//! a mix of queries and mutations; no request may fail, every subscriber must stay connected
//! and keep receiving, and the process's memory must come back to its start level once the
//! subscribers leave.
//!
//! Not part of a plain `cargo test` (it takes a while): `.ci/run` runs a short form, and
//! `SG_SOAK_SECONDS=60 cargo test --release --test soak -- --ignored --nocapture` the full one.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::process::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

mod soak {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "long: run by .ci/run and by hand (see the module docs)"]
    async fn sqlite() {
        super::soak(super::TestApp::sqlite().await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "long: run by .ci/run and by hand (see the module docs)"]
    async fn postgres() {
        let Some(app) = super::TestApp::postgres().await else { return };
        super::soak(app).await
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    events: AtomicU64,
    subscriber_failures: AtomicU64,
}

const SUBSCRIBERS: usize = 1_000;
const CLIENTS: usize = 8;

async fn soak(t: TestApp) {
    let seconds: u64 = std::env::var("SG_SOAK_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let gw = Replica::start_with(&t.url, &[("SG_DB_POOL_SIZE", "8")]).await;
    let pid = gw.child.id().expect("running");
    let token = t.token(NORTHWIND_ADMIN);
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ serviceRequests(first: 20, filter: { status: [OPEN, IN_PROGRESS] }) { edges { node { id } } } customers(first: 1) { edges { node { primaryDomain } } } }",
            json!({}),
        )
        .await;
    let requests: Vec<String> = d["serviceRequests"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    let domain = d["customers"]["edges"][0]["node"]["primaryDomain"].as_str().unwrap()[..3].to_owned();
    let counters = Arc::new(Counters::default());

    // Warm up with the mix (pools, caches, statement caches fill), then take the start level.
    run_mix(gw.addr, &token, &requests, &domain, Duration::from_secs(2), &counters).await;
    tokio::time::sleep(support_gateway::memory::TRIM_EVERY).await;
    let rss_start = rss_kib(pid);
    counters.requests.store(0, Ordering::Relaxed);

    // 1,000 subscribers, each on its own connection, reading everything.
    let mut subscribers = Vec::with_capacity(SUBSCRIBERS);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    for _ in 0..SUBSCRIBERS {
        let mut req = format!("ws://{}/graphql", gw.addr).into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect a subscriber");
        ws.send(Message::Text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let ack = ws.next().await.unwrap().unwrap();
        assert!(ack.to_text().unwrap().contains("connection_ack"));
        let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { serviceRequestEvents { kind serviceRequest { id status } } }" } });
        ws.send(Message::Text(sub.to_string().into())).await.unwrap();
        let (counters, mut stop) = (counters.clone(), stop_rx.clone());
        subscribers.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Text(text))) => {
                            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                            match v["type"].as_str() {
                                Some("next") if v["payload"]["errors"].is_null() => { counters.events.fetch_add(1, Ordering::Relaxed); }
                                Some("ping") => { let _ = ws.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await; }
                                _ => { counters.subscriber_failures.fetch_add(1, Ordering::Relaxed); eprintln!("subscriber got {v}"); }
                            }
                        }
                        Some(Ok(_)) => {}
                        other => {
                            counters.subscriber_failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("subscriber lost: {other:?}");
                            return;
                        }
                    },
                }
            }
            let _ = ws.close(None).await;
        }));
    }
    let rss_subscribed = rss_kib(pid);

    run_mix(gw.addr, &token, &requests, &domain, Duration::from_secs(seconds), &counters).await;
    let rss_peak = rss_kib(pid);
    // Let the last events reach every subscriber, then everyone leaves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send_replace(true);
    for s in subscribers {
        s.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rss_end = rss_kib(pid);
    while rss_end > rss_start + rss_start / 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        rss_end = rss_kib(pid);
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    println!("open file descriptors after the subscribers left: {fds}");
    let (requests_done, errors, events, lost) = (
        counters.requests.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
        counters.events.load(Ordering::Relaxed),
        counters.subscriber_failures.load(Ordering::Relaxed),
    );
    println!(
        "soak ({:?}, {seconds} s, {SUBSCRIBERS} subscribers, {CLIENTS} clients): {requests_done} requests ({:.0}/s), {errors} errors, \
         {events} events delivered, {lost} subscriber failures; RSS start {:.1} MiB, with subscribers {:.1} MiB, peak {:.1} MiB, end {:.1} MiB",
        t.backend(),
        requests_done as f64 / seconds as f64,
        rss_start as f64 / 1024.0,
        rss_subscribed as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        rss_end as f64 / 1024.0,
    );
    assert!(requests_done > 0);
    assert_eq!(errors, 0, "requests failed during the soak");
    assert_eq!(lost, 0, "subscribers were dropped or got errors");
    assert!(events >= SUBSCRIBERS as u64, "every subscriber hears the notes ({events} events)");
    // Back to the start level: within a quarter of it (the allocator keeps some freed pages).
    assert!(rss_end <= rss_start + rss_start / 4, "memory did not come back: start {rss_start} KiB, end {rss_end} KiB");
}

/// The mix for `duration` on `CLIENTS` connections: node lookups, searches, nested pages,
/// lists by due time, and notes (each fanned out to every subscriber).
async fn run_mix(
    addr: std::net::SocketAddr,
    token: &str,
    requests: &[String],
    domain: &str,
    duration: Duration,
    counters: &Arc<Counters>,
) {
    let deadline = Instant::now() + duration;
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (counters, token, requests, domain) =
            (counters.clone(), token.to_owned(), requests.to_vec(), domain.to_owned());
        clients.push(tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < deadline {
                let request = &requests[i % requests.len()];
                let body = match i % 10 {
                    0..=3 => json!({ "query": "query($id: ID!) { node(id: $id) { ... on ServiceRequest { id title status severity createdAt version sla { state dueAt } } } }", "variables": { "id": request } }),
                    4 | 5 => json!({ "query": "query($s: String) { customers(search: $s, first: 20) { edges { node { id companyName primaryDomain country language } } } }", "variables": { "s": domain } }),
                    6 => json!({ "query": "{ customers(first: 20) { edges { node { companyName subscriptions(first: 10) { edges { node { offerName serviceRequests(first: 5) { edges { node { title status } } } } } } } } } }" }),
                    7 | 8 => json!({ "query": "{ serviceRequests(first: 50, filter: { severity: [A], status: [OPEN, IN_PROGRESS] }, orderBy: { field: DUE_AT, direction: ASC }) { edges { node { title customer { companyName } sla { state remainingSeconds } } } } }" }),
                    _ => json!({ "query": "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { id } } }",
                                 "variables": { "i": { "id": request, "body": format!("soak note {c}-{i}") } } }),
                };
                let (status, answer) = http(addr, "POST", "/graphql", Some(&token), &body.to_string()).await;
                counters.requests.fetch_add(1, Ordering::Relaxed);
                if status != 200 || answer.contains("\"errors\"") {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("request failed: {status} {answer:.300}");
                }
                i += CLIENTS;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}
