//! Outbound webhooks against a real local HTTP receiver, on both backends: signed payloads in
//! order per request, an endpoint that fails and recovers, a dead endpoint that slows no one,
//! the delivery log in the schema, admin-only configuration scoped to the partner, and a
//! gateway killed mid-delivery whose delivery another process completes.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::TimeDelta;
use common::process::Replica;
use common::{FABRIKAM_ADMIN, NORTHWIND_ADMIN, NORTHWIND_HELPDESK, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support_gateway::clock::Clock;

/// What the receiver does with the next request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Never answers.
    Hang,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Received>>,
    /// Answers for the next requests, in order; then 204.
    script: Mutex<VecDeque<Answer>>,
}

impl Receiver {
    async fn start() -> (Arc<Receiver>, SocketAddr) {
        let receiver = Arc::new(Receiver::default());
        let state = receiver.clone();
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    state.got.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
                        signature: header("webhook-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let answer = state.script.lock().unwrap().pop_front().unwrap_or(Answer::Status(204));
                    match answer {
                        Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
                        Answer::Hang => std::future::pending().await,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (receiver, addr)
    }

    fn then(&self, answers: &[Answer]) {
        self.script.lock().unwrap().extend(answers.iter().copied());
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 60 s: a gateway process starting under load is slow) until `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "expected {n} deliveries, got {}: {got:?}", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What a receiver checks, written here from the documented scheme (not the gateway's code).
fn signed(secret: &str, r: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", r.timestamp, r.body).as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    r.signature == format!("v1={expected}")
}

const CREATE_ENDPOINT: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
    secret webhookEndpoint { id url eventKinds enabled } } }";
const LOG: &str = "{ webhookEndpoints { id url deliveryCounts { pending delivered failed }
    deliveries(first: 50) { id eventKind state attempts lastStatus lastError nextAttemptAt deliveredAt
                            serviceRequest { id } } } }";
const NOTE: &str =
    "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { id } } }";

async fn endpoint(t: &TestApp, url: String, kinds: Option<Vec<&str>>) -> (String, String) {
    let d = t.data(NORTHWIND_ADMIN, CREATE_ENDPOINT, json!({ "i": { "url": url, "eventKinds": kinds } })).await;
    let p = &d["createWebhookEndpoint"];
    (p["webhookEndpoint"]["id"].as_str().unwrap().to_owned(), p["secret"].as_str().unwrap().to_owned())
}

/// One of Northwind's open requests whose SLA is on track (unanswered, due ahead).
async fn open_request(t: &TestApp, skip: usize) -> String {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ serviceRequests(first: 10, filter: { status: [NEW, OPEN, IN_PROGRESS], slaState: ON_TRACK }) { nodes { id } } }",
            json!({}),
        )
        .await;
    d["serviceRequests"]["nodes"][skip]["id"].as_str().unwrap().to_owned()
}

async fn note(t: &TestApp, request: &str, body: &str) {
    t.data(NORTHWIND_ADMIN, NOTE, json!({ "i": { "id": request, "body": body } })).await;
}

fn notes_of(got: &[Received]) -> Vec<String> {
    got.iter()
        .filter(|r| r.json()["type"] == "NOTE_ADDED")
        .map(|r| r.json()["note"]["body"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Waits (up to 10 s) until delivery `index` (newest first) of endpoint `hook` has `n` attempts.
async fn attempts_reach(t: &TestApp, hook: &str, index: usize, n: i64) {
    let started = Instant::now();
    loop {
        let endpoints = log(t).await;
        let e = endpoints.as_array().unwrap().iter().find(|e| e["id"] == hook).unwrap().clone();
        if e["deliveries"][index]["attempts"] == n {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "attempts did not reach {n}: {e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn log(t: &TestApp) -> Value {
    t.data(NORTHWIND_ADMIN, LOG, json!({})).await["webhookEndpoints"].clone()
}

async fn webhooks_are_signed_ordered_retried_and_logged(t: TestApp) {
    let (receiver, addr) = Receiver::start().await;
    let (hook, secret) = endpoint(&t, format!("http://{addr}/hook"), Some(vec!["NOTE_ADDED"])).await;
    assert!(secret.starts_with("whsec_"));
    // A dead endpoint (it never answers) sits beside the good one.
    let (dead_receiver, dead_addr) = Receiver::start().await;
    dead_receiver.then(&[Answer::Hang; 8]);
    endpoint(&t, format!("http://{dead_addr}/hook"), Some(vec!["NOTE_ADDED"])).await;
    let worker = t.app.spawn_webhooks();

    // Two notes on one request arrive signed, in order, as they were committed.
    let request = open_request(&t, 0).await;
    let started = Instant::now();
    note(&t, &request, "first").await;
    note(&t, &request, "second").await;
    let mutations = started.elapsed();
    let got = receiver.wait_for(2).await;
    assert_eq!(notes_of(&got), ["first", "second"]);
    for r in &got {
        assert!(signed(&secret, r), "the signature verifies: {r:?}");
        assert_eq!(r.timestamp, t.clock.now().timestamp(), "signed at the gateway's clock");
        let body = r.json();
        assert_eq!(body["id"], r.id.as_str());
        assert_eq!(body["serviceRequest"]["id"], request.as_str());
        assert!(body["serviceRequest"]["sla"]["state"].is_string());
        assert!(!signed("whsec_other", r));
    }
    assert_eq!(dead_receiver.got().len(), 1, "the dead endpoint holds its first note; its second waits behind it");
    // The dead endpoint's hung sends held up neither the mutations nor the good endpoint.
    assert!(mutations < Duration::from_secs(5), "mutations took {mutations:?}");

    // The endpoint fails twice, then recovers: the note is retried with backoff, and the
    // later note on the same request waits behind it.
    receiver.then(&[Answer::Status(500), Answer::Status(503)]);
    note(&t, &request, "third").await;
    receiver.wait_for(3).await;
    note(&t, &request, "fourth").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.got().len(), 3, "nothing is sent before the retry is due, and the fourth waits");
    attempts_reach(&t, &hook, 1, 1).await;
    let endpoints = log(&t).await;
    let good = endpoints.as_array().unwrap().iter().find(|e| e["id"] == hook.as_str()).unwrap();
    let third = &good["deliveries"][1];
    assert_eq!(third["state"], "PENDING", "{good}");
    assert_eq!(third["attempts"], 1);
    assert_eq!(third["lastStatus"], 500);
    assert_eq!(third["lastError"], "the endpoint answered HTTP 500");
    assert_eq!(good["deliveries"][0]["attempts"], 0, "the fourth note waits for the third");
    t.clock.advance(TimeDelta::seconds(5));
    receiver.wait_for(4).await;
    // The retry's failure is recorded (its next try is set from the clock) before the clock
    // moves on.
    attempts_reach(&t, &hook, 1, 2).await;
    t.clock.advance(TimeDelta::seconds(10));
    let got = receiver.wait_for(6).await;
    assert_eq!(notes_of(&got), ["first", "second", "third", "third", "third", "fourth"]);
    assert_eq!(got[2].id, got[4].id, "a retry is the same delivery (receivers drop duplicates by id)");
    attempts_reach(&t, &hook, 0, 1).await;
    let endpoints = log(&t).await;
    let good = endpoints.as_array().unwrap().iter().find(|e| e["id"] == hook.as_str()).unwrap();
    assert_eq!(good["deliveryCounts"], json!({ "pending": 0, "delivered": 4, "failed": 0 }));
    assert_eq!(good["deliveries"][1]["attempts"], 3);
    assert_eq!(good["deliveries"][1]["lastStatus"], 204);
    assert!(good["deliveries"][1]["deliveredAt"].is_string());

    // An endpoint for SLA alerts only gets the SLA's change of state (here: met).
    let (alerts, alerts_addr) = Receiver::start().await;
    let (_, alert_secret) = endpoint(&t, format!("http://{alerts_addr}/hook"), Some(vec!["SLA_STATE_CHANGED"])).await;
    let other = open_request(&t, 1).await;
    note(&t, &other, "not an alert").await;
    t.data(
        NORTHWIND_ADMIN,
        "mutation($i: RecordSupportResponseInput!) { recordSupportResponse(input: $i) { serviceRequest { id } } }",
        json!({ "i": { "id": other } }),
    )
    .await;
    let got = alerts.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alerts.got().len(), 1, "{:?}", alerts.got());
    assert_eq!(got[0].json()["type"], "SLA_STATE_CHANGED");
    assert_eq!(got[0].json()["serviceRequest"]["id"], other.as_str());
    assert!(signed(&alert_secret, &got[0]));
    worker.abort();
}

async fn only_admins_configure_their_own_partners_endpoints(t: TestApp) {
    let (_, addr) = Receiver::start().await;
    let (hook, _) = endpoint(&t, format!("http://{addr}/hook"), None).await;
    // Not an admin.
    let (_, body) = t
        .gql_as(Some(NORTHWIND_HELPDESK), CREATE_ENDPOINT, json!({ "i": { "url": format!("http://{addr}/x") } }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["rule"], "ACCESS");
    let (_, body) = t.gql_as(Some(NORTHWIND_HELPDESK), LOG, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    // Another partner sees none of them and cannot change them.
    assert_eq!(t.data(FABRIKAM_ADMIN, LOG, json!({})).await["webhookEndpoints"], json!([]));
    let update = "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: false }) { secret } }";
    let (_, body) = t.gql_as(Some(FABRIKAM_ADMIN), update, json!({ "id": hook })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    let (_, body) = t
        .gql_as(
            Some(FABRIKAM_ADMIN),
            "mutation($id: ID!) { removeWebhookEndpoint(id: $id) { secret } }",
            json!({ "id": hook }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    // Bad input is refused with the reason.
    for (url, says) in [("ftp://x.example/", "absolute http"), ("https://u:p@x.example/", "credentials")] {
        let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), CREATE_ENDPOINT, json!({ "i": { "url": url } })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(says), "{body}");
    }
    // Rotating gives a new secret once; the change is in the admin history, without it.
    let rotate = "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { rotateSecret: true }) { secret } }";
    let d = t.data(NORTHWIND_ADMIN, rotate, json!({ "id": hook })).await;
    let secret = d["updateWebhookEndpoint"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let history = t
        .data(
            NORTHWIND_ADMIN,
            "{ adminChanges(first: 5, subject: WEBHOOK_ENDPOINT) { nodes { action detail } } }",
            json!({}),
        )
        .await;
    let text = history.to_string();
    assert!(text.contains("UPDATED") && text.contains("CREATED"), "{text}");
    assert!(!text.contains(&secret), "the secret stays out of the history");
    // Removed: gone from the list.
    t.data(NORTHWIND_ADMIN, "mutation($id: ID!) { removeWebhookEndpoint(id: $id) { secret } }", json!({ "id": hook }))
        .await;
    assert_eq!(t.data(NORTHWIND_ADMIN, LOG, json!({})).await["webhookEndpoints"], json!([]));
}

/// A gateway process killed while an endpoint holds its request: another process sends the
/// delivery again once the claim runs out, with the same id.
async fn a_delivery_survives_a_gateway_killed_mid_send(t: TestApp) {
    // Several gateway processes on one database is a PostgreSQL deployment: an embedded
    // SQLite file belongs to one process (its leases are per process).
    if t.backend() == support_gateway::db::Backend::Sqlite {
        return;
    }
    let (receiver, addr) = Receiver::start().await;
    receiver.then(&[Answer::Hang]);
    let (hook, secret) = endpoint(&t, format!("http://{addr}/hook"), Some(vec!["NOTE_ADDED"])).await;
    let env = [("SG_WEBHOOK_TIMEOUT_SECONDS", "2")];
    let request = open_request(&t, 0).await;
    let first = Replica::start_with(&t.url, &env).await;
    note(&t, &request, "across a restart").await;
    let got = receiver.wait_for(1).await;
    drop(first); // SIGKILL while the endpoint holds the request
    let _second = Replica::start_with(&t.url, &env).await;
    let got_again = receiver.wait_for(2).await;
    assert_eq!(got_again[1].id, got[0].id, "the same delivery");
    assert!(signed(&secret, &got_again[1]));
    let endpoints = log(&t).await;
    let e = endpoints.as_array().unwrap().iter().find(|e| e["id"] == hook.as_str()).unwrap();
    // The killed process never recorded its attempt; the second one did.
    let started_wait = Instant::now();
    let mut e = e.clone();
    while e["deliveries"][0]["state"] != "DELIVERED" && started_wait.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        e = log(&t).await.as_array().unwrap().iter().find(|e| e["id"] == hook.as_str()).unwrap().clone();
    }
    assert_eq!(e["deliveries"][0]["state"], "DELIVERED", "{e}");
    assert_eq!(e["deliveries"][0]["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got().len(), 2, "sent once more, not again and again");
}

/// Two gateway processes on one database, both running the webhook worker: each event
/// reaches the endpoint once.
async fn two_replicas_deliver_each_event_once(t: TestApp) {
    // Several gateway processes on one database is a PostgreSQL deployment: an embedded
    // SQLite file belongs to one process (its leases are per process).
    if t.backend() == support_gateway::db::Backend::Sqlite {
        return;
    }
    let (receiver, addr) = Receiver::start().await;
    let (_, secret) = endpoint(&t, format!("http://{addr}/hook"), Some(vec!["NOTE_ADDED"])).await;
    // Picked first: the replicas run on the real clock, which puts every demo request overdue.
    let first = open_request(&t, 0).await;
    let second = open_request(&t, 1).await;
    let _a = Replica::start(&t.url).await;
    let _b = Replica::start(&t.url).await;
    for i in 0..10 {
        note(&t, if i % 2 == 0 { &first } else { &second }, &format!("note {i}")).await;
    }
    let got = receiver.wait_for(10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_all = receiver.got();
    assert_eq!(got_all.len(), 10, "each event once: {:?}", notes_of(&got_all));
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    assert!(got.iter().all(|r| signed(&secret, r)));
    // In order per request.
    let of = |request: &str| -> Vec<String> {
        got_all
            .iter()
            .filter(|r| r.json()["serviceRequest"]["id"] == request)
            .map(|r| r.json()["note"]["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of(&first), ["note 0", "note 2", "note 4", "note 6", "note 8"]);
    assert_eq!(of(&second), ["note 1", "note 3", "note 5", "note 7", "note 9"]);
}

on_both_backends!(
    two_replicas_deliver_each_event_once,
    webhooks_are_signed_ordered_retried_and_logged,
    only_admins_configure_their_own_partners_endpoints,
    a_delivery_survives_a_gateway_killed_mid_send,
);
