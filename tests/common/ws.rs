//! A `graphql-transport-ws` test client, and serving a router on a loopback port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::TestApp;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves `router` on an ephemeral loopback port.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

pub struct Ws(pub Socket);

impl Ws {
    pub async fn connect(addr: SocketAddr, protocol: &str) -> Ws {
        let mut req = format!("ws://{addr}/graphql").into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(req).await.expect("websocket upgrade");
        Ws(socket)
    }

    /// Connects and completes `connection_init` with a token for `agent`.
    pub async fn open(addr: SocketAddr, t: &TestApp, agent: &str) -> Ws {
        Ws::open_with(addr, "graphql-transport-ws", &t.token(agent)).await
    }

    /// Connects with `protocol` and completes `connection_init` with `token`.
    pub async fn open_with(addr: SocketAddr, protocol: &str, token: &str) -> Ws {
        let (ws, ack) = Ws::init(addr, protocol, token).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    /// Connects with `protocol`, sends `connection_init` with `token`; returns the answer.
    pub async fn init(addr: SocketAddr, protocol: &str, token: &str) -> (Ws, Value) {
        let mut ws = Ws::connect(addr, protocol).await;
        ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
        let answer = ws.recv().await.expect("an answer to connection_init");
        (ws, answer)
    }

    pub async fn send(&mut self, v: Value) {
        self.0.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    /// The next JSON message (pings answered and skipped), or `None` on close or timeout.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.0.next()).await.ok()??.ok()?;
            match msg {
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    match v["type"].as_str() {
                        Some("ping") => self.send(json!({ "type": "pong" })).await,
                        Some("ka") => {}
                        _ => return Some(v),
                    }
                }
                Message::Close(frame) => {
                    return frame.map(|f| json!({ "closed": u16::from(f.code) })).or(Some(json!({ "closed": 0 })));
                }
                _ => {}
            }
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The payload of the next `next` message for `id`.
    pub async fn next(&mut self, id: &str) -> Value {
        let msg = self.recv().await.expect("a message");
        assert_eq!((msg["type"].as_str(), msg["id"].as_str()), (Some("next"), Some(id)), "{msg}");
        msg["payload"].clone()
    }
}
