//! Several gateway processes on one PostgreSQL: a change made through one reaches a
//! subscriber of another, and a dropped LISTEN connection loses no event. PostgreSQL only:
//! the embedded SQLite default serves one process.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::process::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn subscribe(
    addr: SocketAddr,
    token: &str,
    request: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://{addr}/graphql").into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::Text(
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"));
    let q = "subscription($ids: [ID!]) { serviceRequestEvents(filter: { ids: $ids }) { kind serviceRequest { id title } } }";
    let msg = json!({ "id": "1", "type": "subscribe", "payload": { "query": q, "variables": { "ids": [request] } } });
    ws.send(Message::Text(msg.to_string().into())).await.unwrap();
    ws
}

async fn next_event(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        let msg =
            tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an event in time").unwrap().unwrap();
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text).unwrap();
            // The replicas' SLA watchers (on the system clock) may also report on the request.
            if v["type"] == "next" && v["payload"]["data"]["serviceRequestEvents"]["kind"] == "NOTE_ADDED" {
                return v["payload"]["data"]["serviceRequestEvents"].clone();
            }
        }
    }
}

/// Adds a note through replica `addr`.
async fn note(addr: SocketAddr, token: &str, request_id: &str, body: &str) {
    let q = json!({ "query": "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { id } } }",
                    "variables": { "i": { "id": request_id, "body": body } } });
    let (status, answer) = http(addr, "POST", "/graphql", Some(token), &q.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.contains("\"errors\""), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_cross_replicas_and_survive_a_dropped_listen() {
    let Some(t) = TestApp::postgres().await else { return };
    let (a, b) = tokio::join!(Replica::start(&t.url), Replica::start(&t.url));
    let token = t.token(NORTHWIND_ADMIN);
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ serviceRequests(first: 1, filter: { status: [OPEN] }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let request = d["serviceRequests"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();

    let mut on_b = subscribe(b.addr, &token, &request).await;
    // No way to observe another process's subscribers: give B's subscription time to register.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let sent = Instant::now();
    note(a.addr, &token, &request, "written through replica A").await;
    let e = next_event(&mut on_b).await;
    println!("cross-replica delivery: {:?}", sent.elapsed());
    assert_eq!(e["kind"], "NOTE_ADDED");
    assert_eq!(e["serviceRequest"]["id"], request);

    // Drop every LISTEN connection on this database, then write at once.
    let terminated = support_gateway::events::terminate_listeners_for_test(&t.app.db).await.unwrap();
    assert!(terminated >= 2, "replicas A and B each hold a LISTEN connection (found {terminated})");
    note(a.addr, &token, &request, "written while B reconnects").await;
    let e = next_event(&mut on_b).await;
    assert_eq!(e["kind"], "NOTE_ADDED", "no event lost across the dropped connection");
    note(a.addr, &token, &request, "after B reconnected").await;
    assert_eq!(next_event(&mut on_b).await["kind"], "NOTE_ADDED");
}
