//! Faults: the database going away under load (through a TCP proxy the test cuts), a locked
//! SQLite file, and SIGTERM with requests and WebSockets open.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::process::*;
use common::*;
use diesel::Connection;
use diesel::connection::SimpleConnection;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A TCP proxy in front of PostgreSQL that the test can cut (every open connection dropped,
/// new ones closed at once) and restore.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (c, conns) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { addr, cut, connections }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    let hp = rest.rsplit_once('@').map_or(rest, |(_, hp)| hp);
    if hp.contains(':') { hp.to_owned() } else { format!("{hp}:5432") }
}

const NOTE: &str =
    "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { id } } }";

async fn open_request(t: &TestApp) -> String {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ serviceRequests(first: 1, filter: { status: [OPEN] }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    d["serviceRequests"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned()
}

/// What a write came to: acknowledged, or refused with a code.
async fn write_note(t: &TestApp, request: &str, body: &str) -> Result<(), String> {
    let (status, v) = t.gql_as(Some(NORTHWIND_ADMIN), NOTE, json!({ "i": { "id": request, "body": body } })).await;
    match v["errors"][0]["extensions"]["code"].as_str() {
        None if status == StatusCode::OK && v["data"]["addServiceRequestNote"]["serviceRequest"]["id"] == request => {
            Ok(())
        }
        Some(code) => Err(format!("{} {code}", status.as_u16())),
        None => Err(format!("{} {v}", status.as_u16())),
    }
}

async fn ready(t: &TestApp) -> StatusCode {
    t.send(Request::get("/readyz").body(Body::empty()).unwrap()).await.0
}

async fn notes_with_prefix(t: &TestApp, prefix: &str) -> Vec<String> {
    use diesel::{QueryDsl, TextExpressionMethods};
    use diesel_async::RunQueryDsl;
    use support_gateway::db::schema::service_request_notes as n;
    let db = &t.app.db;
    let rows: Result<Vec<String>, support_gateway::error::AppError> = async {
        Ok(support_gateway::with_conn!(db, |conn| {
            n::table.filter(n::body.like(format!("{prefix}%"))).select(n::body).load::<String>(conn).await?
        }))
    }
    .await;
    rows.map_err(|e| e.message()).unwrap()
}

/// PostgreSQL goes away mid-load: readiness turns false, requests fail fast with
/// `SERVICE_UNAVAILABLE` (not a hang, not a 500), the gateway recovers by itself when the
/// database returns, and every acknowledged write is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_and_recovers() {
    let Some(t) = TestApp::postgres().await else { return };
    let proxy = Proxy::start(host_port(&t.url)).await;
    let proxied = t.url.replacen(&host_port(&t.url), &proxy.addr.to_string(), 1);
    let gw = Arc::new(
        t.reconfigured(|c| {
            c.database_url = proxied;
            c.db_timeout = Duration::from_millis(500);
            c.limits.execution_timeout = Duration::from_secs(5);
        })
        .await,
    );
    let request = open_request(&t).await;

    // Writers and readers run throughout; each outcome is recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Outcomes = Arc::default();
    let mut load = Vec::new();
    for worker in 0..2 {
        let (gw, stop, outcomes, request) = (gw.clone(), stop.clone(), outcomes.clone(), request.clone());
        load.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let body = format!("fault-{worker}-{i}");
                let started = Instant::now();
                let r = write_note(&gw, &request, &body).await;
                assert!(started.elapsed() < Duration::from_secs(5), "a write hung for {:?}: {r:?}", started.elapsed());
                outcomes.lock().unwrap().push((body, r));
                let (status, v) =
                    gw.gql_as(Some(NORTHWIND_ADMIN), "{ customers(first: 2) { totalCount } }", json!({})).await;
                let code = v["errors"][0]["extensions"]["code"].as_str();
                assert!(
                    (status == StatusCode::OK && code.is_none()) || code == Some("SERVICE_UNAVAILABLE"),
                    "a read during the outage: {status} {v}"
                );
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let acknowledged = |o: &Outcomes| o.lock().unwrap().iter().filter(|(_, r)| r.is_ok()).count();
    wait_until("writes succeed before the outage", || acknowledged(&outcomes) >= 4).await;

    proxy.cut();
    let mut saw_not_ready = false;
    for _ in 0..100 {
        if ready(&gw).await == StatusCode::SERVICE_UNAVAILABLE {
            saw_not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_not_ready, "/readyz must report the outage");
    let refused_during = || {
        outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r)| r.as_ref().is_err_and(|e| e.contains("SERVICE_UNAVAILABLE")))
            .count()
    };
    wait_until("writes are refused during the outage", || refused_during() >= 3).await;

    proxy.restore();
    let before_restore = acknowledged(&outcomes);
    let mut recovered = false;
    for _ in 0..300 {
        if ready(&gw).await == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "/readyz must recover by itself");
    wait_until("writes succeed again after the outage", || acknowledged(&outcomes) >= before_restore + 4).await;
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.expect("load task");
    }

    let outcomes = outcomes.lock().unwrap().clone();
    for (body, r) in &outcomes {
        if let Err(e) = r {
            assert!(e.contains("SERVICE_UNAVAILABLE"), "{body}: only SERVICE_UNAVAILABLE is acceptable, got {e}");
        }
    }
    let stored = notes_with_prefix(&t, "fault-").await;
    for (body, r) in &outcomes {
        if r.is_ok() {
            assert!(stored.contains(body), "acknowledged write {body} was lost");
        }
    }
    println!(
        "outage: {} writes, {} acknowledged, {} refused with SERVICE_UNAVAILABLE, {} stored",
        outcomes.len(),
        outcomes.iter().filter(|(_, r)| r.is_ok()).count(),
        outcomes.iter().filter(|(_, r)| r.is_err()).count(),
        stored.len()
    );
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Holds SQLite's write lock from another connection until dropped (rolled back).
struct WriteLock(diesel::SqliteConnection);

impl WriteLock {
    fn take(url: &str) -> WriteLock {
        let mut conn =
            diesel::SqliteConnection::establish(&support_gateway::db::sqlite_path(url)).expect("open the file");
        conn.batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE").expect("take the write lock");
        WriteLock(conn)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("ROLLBACK");
    }
}

/// A locked SQLite file: the writer retries within its busy timeout and succeeds when the
/// lock is released in time; past the bound it fails with `SERVICE_UNAVAILABLE` and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_is_retried_within_a_bound_then_refused() {
    let t = TestApp::sqlite().await;
    let request = open_request(&t).await;
    let impatient = t.reconfigured(|c| c.sqlite_busy_timeout = Duration::from_millis(300)).await;

    let lock = WriteLock::take(&t.url);
    let before = write_counts(&t).await;
    let started = Instant::now();
    let r = write_note(&impatient, &request, "busy-refused").await;
    assert_eq!(r, Err("200 SERVICE_UNAVAILABLE".to_owned()), "after {:?}", started.elapsed());
    assert_eq!(write_counts(&t).await, before, "a refused write changed nothing");

    // The default bound (5 s) outlasts a lock held for a moment: the write waits and succeeds.
    let writer = {
        let request = request.clone();
        let t = &t;
        async move { write_note(t, &request, "busy-retried").await }
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(lock);
    };
    let (r, ()) = tokio::join!(writer, release);
    assert_eq!(r, Ok(()));
    assert_eq!(notes_with_prefix(&t, "busy-").await, vec!["busy-retried".to_owned()]);
}

on_both_backends!(sigterm_drains_requests_and_closes_websockets, a_dropped_write_leaves_nothing_open_or_locked);

/// What each worker did, by kind of operation.
type Outcomes = Arc<Mutex<Vec<(String, Result<(), String>)>>>;

/// Keeps a service request's writers waiting until dropped: SQLite's write lock, or a
/// PostgreSQL row lock (the gateway's writers lock the row `FOR UPDATE`). One per test: its
/// size does not matter.
#[allow(clippy::large_enum_variant)]
enum Blocker {
    Sqlite(#[allow(dead_code)] WriteLock),
    Postgres(diesel_async::AsyncPgConnection),
}

impl Blocker {
    async fn hold(t: &TestApp, request_id: &str) -> Blocker {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        match t.backend() {
            support_gateway::db::Backend::Sqlite => Blocker::Sqlite(WriteLock::take(&t.url)),
            support_gateway::db::Backend::Postgres => {
                let mut conn = diesel_async::AsyncPgConnection::establish(&t.url).await.unwrap();
                let raw = raw_id(request_id);
                conn.batch_execute(&format!("BEGIN; SELECT 1 FROM service_requests WHERE id = '{raw}' FOR UPDATE"))
                    .await
                    .unwrap();
                Blocker::Postgres(conn)
            }
        }
    }

    async fn release(self) {
        if let Blocker::Postgres(mut conn) = self {
            diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, "ROLLBACK").await.unwrap();
        }
    }
}

/// The raw id inside a global id (`base64url("Type:raw")`).
fn raw_id(global: &str) -> String {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global).unwrap();
    String::from_utf8(decoded).unwrap().split_once(':').unwrap().1.to_owned()
}

/// SIGTERM: the listener closes, WebSockets are closed with 1001, a request in flight
/// finishes and is answered, and the process exits within its grace period.
async fn sigterm_drains_requests_and_closes_websockets(t: TestApp) {
    let request = open_request(&t).await;
    let gw =
        Replica::start_with(&t.url, &[("SG_SHUTDOWN_GRACE_SECONDS", "20"), ("SG_SQLITE_BUSY_TIMEOUT_MS", "15000")])
            .await;
    let token = t.token(NORTHWIND_ADMIN);

    // One subscriber on each protocol: graphql-transport-ws and the legacy graphql-ws.
    let mut sockets = Vec::new();
    for (protocol, start) in [("graphql-transport-ws", "subscribe"), ("graphql-ws", "start")] {
        let mut ws_req = format!("ws://{}/graphql", gw.addr).into_client_request().unwrap();
        ws_req.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_req).await.unwrap();
        ws.send(Message::Text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        assert!(ws.next().await.unwrap().unwrap().to_text().unwrap().contains("connection_ack"), "{protocol}");
        let sub = json!({ "id": "1", "type": start, "payload": { "query": "subscription { serviceRequestEvents { kind } }" } });
        ws.send(Message::Text(sub.to_string().into())).await.unwrap();
        sockets.push((protocol, ws));
    }

    // A write in flight: it waits on SQLite's lock while the signal arrives.
    let blocker = Blocker::hold(&t, &request).await;
    let body =
        json!({ "query": NOTE, "variables": { "i": { "id": request, "body": "in-flight at SIGTERM" } } }).to_string();
    let (addr, tok) = (gw.addr, token.clone());
    let in_flight = tokio::spawn(async move { http(addr, "POST", "/graphql", Some(&tok), &body).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.terminate();

    for (protocol, mut ws) in sockets {
        let close = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => continue,
                    _ => return None,
                }
            }
        })
        .await
        .expect("the WebSocket is closed after SIGTERM");
        assert_eq!(close, Some(1001), "{protocol}");
    }
    // New connections are refused while the in-flight request drains.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(gw.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener stays open after SIGTERM");

    assert!(!in_flight.is_finished(), "the write waits for the lock");
    blocker.release().await;
    let (status, answer) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert!(answer.get("errors").is_none(), "the in-flight write finished: {answer}");
    let mut gw = gw;
    let exit = tokio::time::timeout(Duration::from_secs(15), gw.child.wait())
        .await
        .expect("exits within its grace period")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(notes_with_prefix(&t, "in-flight").await.len(), 1);
}

/// Writes stopped by the execution timeout while they wait for a lock (SQLite's file lock
/// held by another process, a PostgreSQL row lock) leave no connection inside a transaction:
/// once the lock is released the next writes succeed at once, and no session of the gateway
/// stays "idle in transaction" or holds SQLite's lock.
async fn a_dropped_write_leaves_nothing_open_or_locked(t: TestApp) {
    let request = open_request(&t).await;
    // The execution timeout stops the writes while SQLite's busy handler (or PostgreSQL) is
    // still waiting for the lock: their futures are dropped halfway.
    let hasty = t
        .reconfigured(|c| {
            c.limits.execution_timeout = Duration::from_millis(300);
            c.sqlite_busy_timeout = Duration::from_secs(3);
            // Room for idle connections: a leftover one is not handed out (and healed) soon.
            c.db_pool_size = 8;
        })
        .await;
    // A connection in the pool before the lock is taken (SQLite cannot open new ones while
    // another process holds its lock: those requests fail at once with SERVICE_UNAVAILABLE).
    assert_eq!(write_note(&hasty, &request, "warm-up").await, Ok(()));
    let blocker = Blocker::hold(&t, &request).await;
    let (gw, id) = (&hasty, &request);
    let writes = (0..4).map(|i| async move { write_note(gw, id, &format!("dropped {i}")).await });
    let outcomes = futures_util::future::join_all(writes).await;
    for outcome in &outcomes {
        assert!(
            matches!(outcome.as_ref().map_err(String::as_str), Err("504 TIMEOUT" | "200 SERVICE_UNAVAILABLE")),
            "{outcome:?}"
        );
    }
    assert!(outcomes.iter().any(|o| o.as_ref().is_err_and(|e| e == "504 TIMEOUT")), "a write was stopped halfway");
    blocker.release().await;
    // Before the gateway does anything else, another process can take the lock within 2 s:
    // no connection of the gateway (idle in its pool, or still finishing a dropped statement)
    // sits inside a transaction holding it.
    match t.backend() {
        support_gateway::db::Backend::Sqlite => {
            let mut outside =
                diesel::SqliteConnection::establish(&support_gateway::db::sqlite_path(&t.url)).expect("open the file");
            outside.batch_execute("PRAGMA busy_timeout = 2000; BEGIN IMMEDIATE; ROLLBACK").expect("the lock is free");
        }
        support_gateway::db::Backend::Postgres => {
            use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
            let mut outside = diesel_async::AsyncPgConnection::establish(&t.url).await.unwrap();
            let raw = raw_id(&request);
            outside
                .batch_execute(&format!(
                    "SET lock_timeout = '2s'; BEGIN; SELECT 1 FROM service_requests WHERE id = '{raw}' FOR UPDATE; ROLLBACK"
                ))
                .await
                .expect("the row lock is free");
            #[derive(diesel::QueryableByName)]
            struct Open {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let open: Open = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                 AND state LIKE 'idle in transaction%'",
            )
            .get_result(&mut outside)
            .await
            .unwrap();
            assert_eq!(open.n, 0, "sessions left inside a transaction");
        }
    }
    // Each of these has 300 ms: a connection handed out mid-transaction would fail them.
    for i in 0..8 {
        assert_eq!(write_note(&hasty, &request, &format!("after {i}")).await, Ok(()), "write {i} after the release");
    }
    assert_eq!(notes_with_prefix(&t, "dropped").await, Vec::<String>::new(), "a dropped write committed nothing");
}

/// Writers queued behind this gateway's other writers and a lock another process holds fail
/// with `SERVICE_UNAVAILABLE` within the busy timeout, before the execution timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_in_a_queue_are_refused_within_the_busy_timeout() {
    let t = TestApp::sqlite().await;
    let request = open_request(&t).await;
    let gw = t
        .reconfigured(|c| {
            c.sqlite_busy_timeout = Duration::from_millis(300);
            c.limits.execution_timeout = Duration::from_secs(5);
        })
        .await;
    let lock = WriteLock::take(&t.url);
    let (gw, id) = (&gw, &request);
    let writes = (0..6).map(|i| async move { write_note(gw, id, &format!("queued {i}")).await });
    for outcome in futures_util::future::join_all(writes).await {
        assert_eq!(outcome, Err("200 SERVICE_UNAVAILABLE".to_owned()));
    }
    drop(lock);
    assert_eq!(write_note(gw, id, "after the queue").await, Ok(()));
}

/// A SQLite file deleted or replaced under a running gateway: `/readyz` fails and writes are
/// refused with a clear error instead of being acknowledged into a file nobody will read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_replaced_sqlite_file_is_noticed() {
    for replace in [false, true] {
        let t = TestApp::sqlite().await;
        let request = open_request(&t).await;
        assert_eq!(ready(&t).await, StatusCode::OK);
        let path = support_gateway::db::sqlite_path(&t.url);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
        if replace {
            let other = TestApp::sqlite().await;
            std::fs::copy(support_gateway::db::sqlite_path(&other.url), &path).unwrap();
        }
        assert_eq!(ready(&t).await, StatusCode::SERVICE_UNAVAILABLE, "replaced: {replace}");
        let (status, v) =
            t.gql_as(Some(NORTHWIND_ADMIN), NOTE, json!({ "i": { "id": request, "body": "into the void" } })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE", "{v}");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("deleted or replaced"), "{v}");
    }
}

/// Serves a test app through the gateway's own server (timeouts and connection cap).
async fn serve_with(t: &TestApp, limits: support_gateway::http::HttpLimits) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(support_gateway::http::serve(listener, t.router.clone(), limits, std::future::pending()));
    addr
}

/// Whether the server closed the connection: reads until end of stream (whatever the server
/// answered first), within a guard far above the server's timeouts.
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut sink = Vec::new();
    // End of stream, or a reset when it closed with our bytes unread: closed either way.
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink)).await.is_ok()
}

/// `GET /healthz` on a fresh connection: whether it was answered 200.
async fn healthy(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return false };
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    answer.starts_with(b"HTTP/1.1 200")
}

/// A connection that sends nothing, sends half its headers, or stops in the middle of its
/// body is closed; connections past the cap are closed at once; the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_and_connections_are_capped() {
    use tokio::io::AsyncWriteExt;
    let t = TestApp::sqlite().await;
    let limits = support_gateway::http::HttpLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(500),
        max_connections: 3,
    };
    let silent_limits = support_gateway::http::HttpLimits { idle_timeout: Duration::from_secs(60), ..limits.clone() };
    let mut silent = tokio::net::TcpStream::connect(serve_with(&t, silent_limits).await).await.unwrap();
    assert!(closed_by_server(&mut silent).await, "a connection that sends nothing, by the header timeout");
    let addr = serve_with(&t, limits).await;

    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut silent).await, "a connection that sends nothing");
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a").await.unwrap();
    assert!(closed_by_server(&mut half).await, "headers that never end");
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"q",
        )
        .await
        .unwrap();
    assert!(closed_by_server(&mut stalled).await, "a body that stops arriving");
    assert!(healthy(addr).await, "still serving");

    // The cap: three open connections (a long header timeout keeps them), the fourth is closed.
    let capped = serve_with(
        &t,
        support_gateway::http::HttpLimits {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_connections: 3,
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(capped).await.unwrap();
        // A whole request on a kept-alive connection: once answered, the server has counted it.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 12];
        tokio::io::AsyncReadExt::read_exact(&mut s, &mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        held.push(s);
    }
    let mut fourth = tokio::net::TcpStream::connect(capped).await.unwrap();
    let _ = fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(closed_by_server(&mut fourth).await, "a connection past the cap");
    drop(held.pop());
    // The freed place is taken again once the server has seen the close.
    let mut served = false;
    for _ in 0..200 {
        if healthy(capped).await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "a place freed by a closed connection is used again");
}
