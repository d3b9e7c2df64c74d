//! GraphQL over WebSocket: the `graphql-transport-ws` protocol (the graphql-ws library's) and
//! the legacy `graphql-ws` protocol (subscriptions-transport-ws, for older clients), in one
//! implementation so that both obey the same rules: the init timeout, token checks and expiry,
//! operations per connection, message size, backpressure, shutdown, and the close handshake.
//! The protocols differ only in the names of their messages ([`Protocol`]).
//!
//! Close codes: 4400 bad message, 4401 subscribe before `connection_ack`, 4403 forbidden (bad
//! or expired token), 4408 no `connection_init` in time, 4409 duplicate operation id, 4429 a
//! second `connection_init`, 1009 message too large, 1001 server shutting down. Ping/pong both
//! ways on `graphql-transport-ws`. A client's close frame is answered with one.
//!
//! Backpressure: each connection has a bounded outbox; a client that lets it fill (falls too
//! far behind) is told why in the close frame (1008) and disconnected, and it is logged. One
//! slow client never delays another: each connection and each operation runs in its own task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::Shared;
use super::graphql::caller_of;
use crate::auth::{Caller, bearer};

/// Which of the two protocols a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// The legacy `graphql-ws` (subscriptions-transport-ws).
    LegacyWs,
}

impl Protocol {
    /// The type of a client message, in `graphql-transport-ws` terms (`start` is `subscribe`,
    /// `stop` is `complete`, `connection_terminate` closes); `None` for a type the protocol lacks.
    fn client_message(self, kind: &str) -> Option<&'static str> {
        match (self, kind) {
            (_, "connection_init") => Some("connection_init"),
            (Protocol::TransportWs, "ping") => Some("ping"),
            (Protocol::TransportWs, "pong") => Some("pong"),
            (Protocol::TransportWs, "subscribe") | (Protocol::LegacyWs, "start") => Some("subscribe"),
            (Protocol::TransportWs, "complete") | (Protocol::LegacyWs, "stop") => Some("complete"),
            (Protocol::LegacyWs, "connection_terminate") => Some("connection_terminate"),
            _ => None,
        }
    }

    /// The type of a result message.
    fn next(self) -> &'static str {
        match self {
            Protocol::TransportWs => "next",
            Protocol::LegacyWs => "data",
        }
    }
}

/// Messages a connection may have queued for its client before it counts as too slow.
pub const OUTBOX: usize = 256;

enum Out {
    Text(String),
}

/// Closes the connection with a code; the first close asked for wins. (A slot and a wake-up
/// rather than a channel: a channel allocates a block of slots for every connection.)
#[derive(Clone, Default)]
struct Closer(Arc<(Mutex<Option<Closing>>, Notify)>);

/// A close asked for: the code, the reason, and a last message to send before the close frame.
#[derive(Clone, Debug)]
struct Closing(u16, String, Option<String>);

impl Closer {
    fn close(&self, code: u16, reason: impl Into<String>) {
        self.close_after(None, code, reason)
    }

    /// Closes after one last message (which goes ahead of anything queued).
    fn close_after(&self, last: Option<String>, code: u16, reason: impl Into<String>) {
        let mut slot = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(Closing(code, reason.into(), last));
            self.0.1.notify_one();
        }
    }

    /// The close asked for, if any.
    fn pending(&self) -> Option<Closing> {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for the first close asked for.
    async fn requested(&self) -> Closing {
        loop {
            if let Some(close) = self.0.0.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                return close;
            }
            self.0.1.notified().await;
        }
    }
}

/// Sends a message to the client, or closes the connection if the client is too slow.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<Out>,
    closer: Closer,
}

impl Outbox {
    fn send(&self, v: Value) -> bool {
        self.send_text(v.to_string())
    }

    fn send_text(&self, text: String) -> bool {
        match self.tx.try_send(Out::Text(text)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(ws.outbox = OUTBOX, "websocket client fell too far behind; disconnecting it");
                self.closer.close(1008, "slow consumer: too many undelivered messages");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Serves one WebSocket connection in either protocol.
pub async fn serve(socket: WebSocket, shared: Shared, header_token: Option<String>, protocol: Protocol) {
    let _open = crate::metrics::GaugeGuard::new(&shared.app.metrics.websockets);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Out>(OUTBOX);
    let closer = Closer::default();
    let outbox = Outbox { tx, closer: closer.clone() };
    let close_requested = closer.clone();

    // The writer: delivers queued messages; a close request goes ahead of anything queued.
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                Closing(code, reason, last) = close_requested.requested() => {
                    if let Some(text) = last {
                        let _ = sink.send(Message::Text(text.into())).await;
                    }
                    // Answers a client's close frame too: the WebSocket layer sends its reply
                    // when the sink is flushed.
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    let _ = sink.close().await;
                    break;
                }
                out = rx.recv() => match out {
                    Some(Out::Text(text)) => {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        // The reader is gone; if it asked for a close on its way out, that
                        // close (with its code) goes first, whichever branch woke first.
                        if let Some(Closing(code, reason, last)) = close_requested.pending() {
                            if let Some(text) = last {
                                let _ = sink.send(Message::Text(text.into())).await;
                            }
                            let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                        }
                        let _ = sink.close().await;
                        break;
                    }
                },
            }
        }
    });

    let mut caller: Option<Caller> = None;
    let mut init_seen = false;
    let mut operations: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    let init_deadline = tokio::time::sleep(shared.app.config.limits.ws_init_timeout);
    tokio::pin!(init_deadline);
    let expiry = tokio::time::sleep(Duration::from_secs(u32::MAX as u64));
    tokio::pin!(expiry);
    let limits = shared.app.config.limits.clone();
    let mut shutdown = shared.app.shutdown.subscribe();

    loop {
        let msg = tokio::select! {
            msg = stream.next() => msg,
            _ = &mut init_deadline, if !init_seen => {
                closer.close(4408, "connection initialisation timeout");
                break;
            }
            _ = &mut expiry, if caller.is_some() => {
                closer.close(4403, "token expired");
                break;
            }
            _ = shutdown.wait_for(|down| *down) => {
                closer.close(1001, "server shutting down");
                break;
            }
        };
        let text = match msg {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                closer.close(4400, "binary messages are not part of the protocol");
                break;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Err(e)) => {
                // A frame over `ws_max_message_bytes` is refused by the WebSocket layer itself.
                let detail = e.to_string();
                if detail.contains("too long") || detail.contains("Space limit") || detail.contains("capacity") {
                    closer.close(1009, "message too large");
                }
                break;
            }
            Some(Ok(Message::Close(frame))) => {
                // Complete the close handshake with the client's own code.
                let code = frame.as_ref().map_or(1000, |f| f.code);
                closer.close(if code == 1005 { 1000 } else { code }, "");
                break;
            }
            None => break,
        };
        if text.len() > limits.ws_max_message_bytes {
            closer.close(4400, "message too large");
            break;
        }
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            closer.close(4400, "invalid message: not JSON");
            break;
        };
        match message.get("type").and_then(Value::as_str).and_then(|kind| protocol.client_message(kind)) {
            Some("connection_init") => {
                if init_seen {
                    closer.close(4429, "too many initialisation requests");
                    break;
                }
                init_seen = true;
                let from_payload = ["Authorization", "authorization"]
                    .iter()
                    .find_map(|k| message.get("payload").and_then(|p| p.get(*k)).and_then(Value::as_str))
                    .and_then(bearer)
                    .map(str::to_owned);
                let Some(token) = from_payload.or_else(|| header_token.clone()) else {
                    refuse_init(&closer, protocol, "send a bearer token in the connection_init payload");
                    break;
                };
                let (claims, identity) = match shared.app.keys.verify_claims(&token) {
                    Ok(c) => c,
                    Err(e) => {
                        refuse_init(&closer, protocol, &e.message());
                        break;
                    }
                };
                // Boxed: awaited once per connection, it would otherwise size every
                // connection's task for the whole lookup.
                match Box::pin(caller_of(&shared.app, &identity)).await {
                    Ok(c) => caller = Some(c),
                    Err(e) => {
                        refuse_init(&closer, protocol, &e.message());
                        break;
                    }
                }
                let left = claims.exp - chrono::Utc::now().timestamp();
                expiry.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(left.max(0) as u64));
                outbox.send(json!({ "type": "connection_ack" }));
            }
            Some("ping") => {
                outbox.send(json!({ "type": "pong" }));
            }
            Some("pong") => {}
            Some("subscribe") => {
                let Some(caller) = caller.clone() else {
                    closer.close(4401, "unauthorized: subscribe before connection_ack");
                    break;
                };
                let (Some(id), Some(payload)) = (message.get("id").and_then(Value::as_str), message.get("payload"))
                else {
                    closer.close(4400, "invalid message: subscribe needs an id and a payload");
                    break;
                };
                operations.retain(|_, handle| !handle.is_finished());
                if operations.contains_key(id) {
                    closer.close(4409, format!("subscriber for {id} already exists"));
                    break;
                }
                let request: async_graphql::Request = match serde_json::from_value(payload.clone()) {
                    Ok(r) => r,
                    Err(_) => {
                        closer.close(4400, "invalid message: payload is not a GraphQL request");
                        break;
                    }
                };
                if operations.len() >= limits.ws_max_subscriptions {
                    let errors = json!([{ "message": format!("at most {} operations per connection", limits.ws_max_subscriptions),
                        "extensions": { "code": "TOO_MANY_OPERATIONS" } }]);
                    send_errors(&outbox, protocol, id, errors);
                    continue;
                }
                let handle = tokio::spawn(run_operation(
                    shared.clone(),
                    caller,
                    id.to_owned(),
                    request,
                    outbox.clone(),
                    protocol,
                ));
                operations.insert(id.to_owned(), handle.abort_handle());
            }
            Some("complete") => {
                if let Some(handle) = message.get("id").and_then(Value::as_str).and_then(|id| operations.remove(id)) {
                    handle.abort();
                }
            }
            Some("connection_terminate") => {
                closer.close(1000, "");
                break;
            }
            _ => {
                closer.close(4400, "invalid message type");
                break;
            }
        }
    }
    for handle in operations.values() {
        handle.abort();
    }
    drop(outbox);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}

/// Refuses a `connection_init` (no token, a bad or expired one, an unknown agent): close code
/// 4403, after a `connection_error` message on the legacy protocol, which has no close codes.
fn refuse_init(closer: &Closer, protocol: Protocol, why: &str) {
    let last = (protocol == Protocol::LegacyWs)
        .then(|| json!({ "type": "connection_error", "payload": { "message": why } }).to_string());
    // A close frame's reason holds at most 123 bytes.
    let mut reason = format!("forbidden: {why}");
    if reason.len() > 123 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    closer.close_after(last, 4403, reason);
}

/// Errors that end an operation before it ran: an `error` message on `graphql-transport-ws`;
/// on the legacy protocol, a `data` message with the errors and `complete` (as its clients
/// expect them).
fn send_errors(outbox: &Outbox, protocol: Protocol, id: &str, errors: Value) {
    match protocol {
        Protocol::TransportWs => {
            outbox.send(json!({ "type": "error", "id": id, "payload": errors }));
        }
        Protocol::LegacyWs => {
            outbox.send(json!({ "type": "data", "id": id, "payload": { "errors": errors } }));
            outbox.send(json!({ "type": "complete", "id": id }));
        }
    }
}

/// A `next` message, serialized without building a `serde_json::Value` first.
#[derive(serde::Serialize)]
struct Next<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    payload: &'a async_graphql::Response,
}

/// Runs one operation, sending `next` for each result and `complete` at the end; a request
/// that fails before executing gets a single `error`.
async fn run_operation(
    shared: Shared,
    caller: Caller,
    id: String,
    request: async_graphql::Request,
    outbox: Outbox,
    protocol: Protocol,
) {
    let mut responses = crate::graphql::run::stream(&shared.app, &shared.schema, request, caller, None);
    let mut first = true;
    while let Some(response) = responses.next().await {
        // Errors before execution (parse, validation) come as the only response, without data.
        if first
            && response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty())
        {
            send_errors(&outbox, protocol, &id, serde_json::to_value(&response.errors).unwrap_or_default());
            return;
        }
        first = false;
        // Serialized straight from the response: no intermediate JSON tree per delivery.
        let next = Next { id: &id, kind: protocol.next(), payload: &response };
        let Ok(text) = serde_json::to_string(&next) else { return };
        if !outbox.send_text(text) {
            return;
        }
    }
    outbox.send(json!({ "type": "complete", "id": id }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_outbox_closes_the_connection_as_a_slow_consumer() {
        let (tx, _rx) = mpsc::channel::<Out>(2);
        let closer = Closer::default();
        let outbox = Outbox { tx, closer: closer.clone() };
        assert!(outbox.send(json!({ "n": 1 })));
        assert!(outbox.send(json!({ "n": 2 })));
        assert!(closer.0.0.lock().unwrap().is_none(), "not closed while the client keeps up");
        assert!(!outbox.send(json!({ "n": 3 })), "the client stopped reading");
        let Closing(code, reason, _) = closer.0.0.lock().unwrap().clone().expect("closed");
        assert_eq!(code, 1008);
        assert!(reason.contains("slow consumer"));
    }
}
