//! The load benchmark: a real gateway process on a database seeded with `seed --scale N`,
//! driven by its own keep-alive HTTP/1.1 and WebSocket clients. Fixed operations, each alone
//! and as a mix, then event delivery to N subscribers while mutations run. Reports
//! requests/s, p50/p95/p99, errors, SQL statements per operation (from `/metrics`), gateway
//! CPU seconds per 1,000 requests and peak RSS, as a table and as JSON. No thresholds.
//!
//! ```sh
//! cargo bench --bench load -- --backend postgres --scale 10000 --connections 32 --duration 10 --subscribers 1000
//! cargo bench --bench load -- --backend sqlite --scale 2000
//! cargo bench --bench load -- --backend sqlite --scales 100,500,2000,10000 --ops Q3,MIX
//! ```
//! `--scales` runs the whole benchmark at each scale in turn (each its own database and
//! gateway) and ends with one table of every scale.
//! PostgreSQL: the server of `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! the database `sg_load_<scale>` is created and seeded once, then reused. SQLite: the file
//! `target/load-<scale>.db`, likewise. `--json PATH` (default `target/load-<backend>.json`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "load-bench-secret-load-bench-secret-0000";
const AGENT: &str = "admin@northwind-cloud.example";

#[derive(Debug, Clone)]
struct Args {
    backend: String,
    scale: usize,
    /// Every scale to run at (`--scales`); `[scale]` without it.
    scales: Vec<usize>,
    connections: usize,
    duration: Duration,
    subscribers: usize,
    ops: Vec<String>,
    json: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        backend: "postgres".into(),
        scale: 10_000,
        scales: Vec::new(),
        connections: 32,
        duration: Duration::from_secs(10),
        subscribers: 1_000,
        ops: ["Q1", "Q2", "Q3", "Q4", "M1", "M2", "MIX", "S1"].map(String::from).to_vec(),
        json: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--backend" => a.backend = value,
            "--scale" => a.scale = value.parse().expect("--scale N"),
            "--scales" => a.scales = value.split(',').map(|s| s.trim().parse().expect("--scales N,N,…")).collect(),
            "--connections" => a.connections = value.parse().expect("--connections N"),
            "--duration" => a.duration = Duration::from_secs_f64(value.parse().expect("--duration SECONDS")),
            "--subscribers" => a.subscribers = value.parse().expect("--subscribers N"),
            "--ops" => a.ops = value.split(',').map(|s| s.trim().to_uppercase()).collect(),
            "--json" => a.json = Some(value),
            _ => {
                i += 1; // `--bench` and other flags cargo passes
                continue;
            }
        }
        i += 2;
    }
    if a.scales.is_empty() {
        a.scales = vec![a.scale];
    }
    a
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    addr: SocketAddr,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).unwrap();
        let (r, w) = s.into_split();
        Conn { reader: BufReader::new(r), writer: w, addr }
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        self.writer.write_all(head.as_bytes()).await?;
        self.writer.write_all(body.as_bytes()).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status = line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf).await?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

async fn get(addr: SocketAddr, path: &str) -> String {
    Conn::open(addr).await.request("GET", path, None, "").await.map(|r| r.1).unwrap_or_default()
}

async fn gql(addr: SocketAddr, token: &str, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let (_, text) = Conn::open(addr).await.request("POST", "/graphql", Some(token), &body).await.expect("request");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The gateway binary; `BENCH_GATEWAY` runs another (a wrapper that starts it under a profiler).
fn bin() -> String {
    std::env::var("BENCH_GATEWAY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_support-gateway").to_owned())
}

/// The database URL for the backend and scale, created and seeded when missing.
async fn database(a: &Args) -> String {
    let run = |url: &str, args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(args)
            .env("DATABASE_URL", url)
            .env("SG_JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    match a.backend.as_str() {
        "postgres" => {
            let server = std::env::var("BENCH_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("sg_load_{}", a.scale);
            let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b).to_owned();
            let url = format!("{base}/{name}");
            let exists = std::process::Command::new("psql")
                .args([&server, "-Atc", &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")])
                .output()
                .expect("psql");
            if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
                let created = std::process::Command::new("psql")
                    .args([&server, "-qc", &format!("CREATE DATABASE {name}")])
                    .status()
                    .expect("psql");
                assert!(created.success());
                eprintln!("seeding {name} with --scale {} …", a.scale);
                eprint!("{}", run(&url, &["seed", "--scale", &a.scale.to_string()]));
            }
            url
        }
        "sqlite" => {
            let path = format!("{}/target/load-{}.db", env!("CARGO_MANIFEST_DIR"), a.scale);
            let url = format!("sqlite://{path}");
            if !std::path::Path::new(&path).exists() {
                eprintln!("seeding {path} with --scale {} …", a.scale);
                let partial = format!("{path}.partial");
                let _ = std::fs::remove_file(&partial);
                eprint!("{}", run(&format!("sqlite://{partial}"), &["seed", "--scale", &a.scale.to_string()]));
                std::fs::rename(&partial, &path).expect("move the seeded file in place");
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{partial}{suffix}"));
                }
            }
            url
        }
        other => panic!("--backend postgres|sqlite, not {other}"),
    }
}

/// Removes what earlier runs wrote (their filings and notes), so every run starts from the
/// seeded data: otherwise each run's M1 phase adds thousands of requests to one subscription.
async fn clean(url: &str) {
    use diesel_async::SimpleAsyncConnection;
    let db = support_gateway::db::Db::connect(url, &Default::default()).await.expect("connect to clean up");
    let filed = "SELECT id FROM service_requests WHERE title = 'Load benchmark filing'";
    let sql = format!(
        "DELETE FROM service_request_notes WHERE body LIKE 'load note %' OR service_request_id IN ({filed});
         DELETE FROM service_request_history WHERE service_request_id IN ({filed}) OR (kind = 'NOTE_ADDED' AND to_value LIKE 'load note %');
         DELETE FROM events WHERE service_request_id IN ({filed});
         DELETE FROM idempotency_keys WHERE service_request_id IN ({filed});
         DELETE FROM service_requests WHERE title = 'Load benchmark filing';"
    );
    let done: Result<(), support_gateway::error::AppError> = async {
        support_gateway::with_conn!(db, |conn| conn
            .batch_execute(&sql)
            .await
            .map_err(support_gateway::error::AppError::from)?);
        Ok(())
    }
    .await;
    done.map_err(|e| e.message()).expect("clean up earlier runs");
}

struct Gateway {
    addr: SocketAddr,
    child: tokio::process::Child,
    pid: u32,
}

async fn start(url: &str) -> Gateway {
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let started = Instant::now();
    let child = tokio::process::Command::new(bin())
        .args(["serve", "--bind", &addr.to_string()])
        .env("DATABASE_URL", url)
        .env("SG_JWT_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the gateway");
    let pid = child.id().unwrap();
    loop {
        if let Ok(mut c) = TcpStream::connect(addr).await.map(|s| {
            let (r, w) = s.into_split();
            Conn { reader: BufReader::new(r), writer: w, addr }
        }) && c.request("GET", "/readyz", None, "").await.is_ok_and(|r| r.0 == 200)
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the gateway did not become ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("cold start to ready: {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
    Gateway { addr, child, pid }
}

/// CPU seconds the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = get(addr, "/metrics").await;
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn statements(addr: SocketAddr) -> f64 {
    metric(addr, "sg_sql_statements_total").await
}

/// Waits until the gateway has published no event for a second: at start its SLA watcher
/// catches up on every deadline that passed since the data was seeded.
async fn quiesce(addr: SocketAddr) {
    let started = Instant::now();
    let mut last = metric(addr, "sg_events_published_total").await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = metric(addr, "sg_events_published_total").await;
        if now == last || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        last = now;
    }
}

/// What the operations run against.
struct Fixture {
    token: String,
    requests: Vec<String>,
    prefixes: Vec<String>,
    filing: Value,
}

// The reads are also what `benches/instructions.sh` counts instructions on: kept in files.
const Q1: &str = include_str!("documents/q1.graphql");
const Q2: &str = include_str!("documents/q2.graphql");
const Q3: &str = include_str!("documents/q3.graphql");
const Q4: &str = include_str!("documents/q4.graphql");
const M1: &str =
    "mutation M1($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) { serviceRequest { id } } }";
const M2: &str =
    "mutation M2($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { id } } }";

async fn fixture(addr: SocketAddr, url: &str) -> Fixture {
    let out = std::process::Command::new(bin())
        .args(["token", "--agent", AGENT])
        .env("DATABASE_URL", url)
        .env("SG_JWT_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let d = gql(addr, &token, "{ serviceRequests(first: 100, filter: { status: [OPEN, IN_PROGRESS] }) { edges { node { id } } } customers(first: 100) { edges { node { id primaryDomain subscriptions(first: 10) { edges { node { id productFamily } } } } } } }", json!({})).await;
    let requests = d["data"]["serviceRequests"]["edges"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    let customers = d["data"]["customers"]["edges"].as_array().expect("customers");
    let prefixes = customers
        .iter()
        .filter_map(|c| c["node"]["primaryDomain"].as_str())
        .map(|d| d.chars().take(4).collect())
        .collect();
    // A filing the policy accepts: an Azure break-fix for a customer with an Azure subscription.
    let mut filing = Value::Null;
    for c in customers {
        let Some(sub) = c["node"]["subscriptions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["node"]["productFamily"] == "AZURE")
        else {
            continue;
        };
        let input = json!({ "customerId": c["node"]["id"], "subscriptionId": sub["node"]["id"], "productFamily": "AZURE",
            "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": "MODERATE", "title": "Load benchmark filing",
            "description": "Filed by benches/load.rs", "contact": { "name": "Bench Desk", "email": "bench@northwind-cloud.example" } });
        let r = gql(addr, &token, M1, json!({ "i": input })).await;
        if r["errors"].is_null() {
            filing = input;
            break;
        }
    }
    assert!(!filing.is_null(), "no customer accepts an Azure filing");
    Fixture { token, requests, prefixes, filing }
}

fn body_of(op: &str, f: &Fixture, n: usize) -> String {
    let pick = |v: &Vec<String>| v[n % v.len()].clone();
    let (q, vars) = match op {
        "Q1" => (Q1, json!({ "id": pick(&f.requests) })),
        "Q2" => (Q2, json!({ "s": pick(&f.prefixes) })),
        "Q3" => (Q3, json!({})),
        "Q4" => (Q4, json!({})),
        "M1" => (M1, json!({ "i": f.filing })),
        "M2" => (M2, json!({ "i": { "id": pick(&f.requests), "body": format!("load note {n}") } })),
        other => panic!("unknown operation {other}"),
    };
    json!({ "query": q, "variables": vars }).to_string()
}

/// The mix: 40 % Q1, 20 % Q2, 10 % Q3, 20 % Q4, 5 % M1, 5 % M2.
fn mix_op(n: usize) -> &'static str {
    match (n.wrapping_mul(2_654_435_761)) % 100 {
        0..40 => "Q1",
        40..60 => "Q2",
        60..70 => "Q3",
        70..90 => "Q4",
        90..95 => "M1",
        _ => "M2",
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct Row {
    op: String,
    requests: usize,
    rps: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    errors: usize,
    statements_per_op: f64,
    cpu_s_per_1000: f64,
    peak_rss_mib: f64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(op: &str, a: &Args, gw: &Gateway, f: &Arc<Fixture>) -> Row {
    let (stmts_before, cpu_before) = (statements(gw.addr).await, cpu_seconds(gw.pid));
    let deadline = Instant::now() + a.duration;
    let started = Instant::now();
    let peak = Arc::new(std::sync::Mutex::new(rss_mib(gw.pid)));
    let sampler = {
        let (peak, pid) = (peak.clone(), gw.pid);
        tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = rss_mib(pid);
                {
                    let mut p = peak.lock().unwrap();
                    *p = p.max(r);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for c in 0..a.connections {
        let (f, op, addr) = (f.clone(), op.to_owned(), gw.addr);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            let (mut latencies, mut errors, mut n) = (Vec::new(), 0usize, c * 7919);
            while Instant::now() < deadline {
                let this = if op == "MIX" { mix_op(n) } else { op.as_str() };
                let body = body_of(this, &f, n);
                let t = Instant::now();
                match conn.request("POST", "/graphql", Some(&f.token), &body).await {
                    Ok((200, text)) if !text.contains("\"errors\"") => {}
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = Conn::open(addr).await;
                    }
                }
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                n += 1;
            }
            (latencies, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    sampler.abort();
    all.sort_by(f64::total_cmp);
    let requests = all.len();
    let (stmts, cpu) = (statements(gw.addr).await - stmts_before, cpu_seconds(gw.pid) - cpu_before);
    let peak_rss_mib = *peak.lock().unwrap();
    Row {
        op: op.to_owned(),
        requests,
        rps: requests as f64 / elapsed,
        p50_ms: pct(&all, 0.50),
        p95_ms: pct(&all, 0.95),
        p99_ms: pct(&all, 0.99),
        errors,
        // The /metrics scrape itself runs no statement.
        statements_per_op: if requests > 0 { stmts / requests as f64 } else { 0.0 },
        cpu_s_per_1000: if requests > 0 { cpu / requests as f64 * 1000.0 } else { 0.0 },
        peak_rss_mib,
    }
}

/// How many notes the one-event phase of S1 writes, one at a time.
const SINGLE_EVENTS: usize = 10;

/// N subscribers on `serviceRequestEvents`: first while M2 runs on two connections without
/// pause (sustained), then for single notes written one at a time (one event's fan-out).
/// Latency runs from the event's commit time (`at`, stamped in the mutation's transaction) to
/// each receipt.
async fn subscribers(a: &Args, gw: &Gateway, f: &Arc<Fixture>) -> Vec<Row> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
    let mut sockets = Vec::new();
    let idle_before = rss_mib(gw.pid);
    for _ in 0..a.subscribers {
        let mut req = format!("ws://{}/graphql", gw.addr).into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect a subscriber");
        ws.send(Message::Text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", f.token) } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        ws.next().await.unwrap().unwrap();
        ws.send(Message::Text(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { serviceRequestEvents { at kind } }" } }).to_string().into()))
            .await
            .unwrap();
        let tx = tx.clone();
        sockets.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(text) = msg {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let event = &v["payload"]["data"]["serviceRequestEvents"];
                    // Only the notes this phase writes (not SLA transitions the watcher records).
                    if event["kind"] != "NOTE_ADDED" {
                        continue;
                    }
                    if let Some(at) = event["at"].as_str()
                        && let Ok(at) = chrono::DateTime::parse_from_rfc3339(at)
                    {
                        let ms = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0)
                            as f64
                            / 1000.0;
                        let _ = tx.send(ms);
                    }
                }
            }
        }));
    }
    drop(tx);
    let subscribed = rss_mib(gw.pid);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writer = {
        let mut b = a.clone();
        b.connections = 2;
        b
    };
    let row = run("M2", &writer, gw, f).await;
    // Deliveries still on their way get 3 s; what has not arrived by then counts as an error.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let mut latencies = Vec::new();
    while let Ok(ms) = rx.try_recv() {
        latencies.push(ms);
    }
    // Then single events on an idle gateway: each note is written alone and fanned out to
    // every subscriber before the next one (or after 5 s, what is missing counts as lost).
    let mut single = Vec::new();
    for n in 0..SINGLE_EVENTS {
        let id = &f.requests[n % f.requests.len()];
        gql(gw.addr, &f.token, M2, json!({ "i": { "id": id, "body": format!("load note single {n}") } })).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut got = 0;
        while got < a.subscribers {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(ms)) => {
                    single.push(ms);
                    got += 1;
                }
                _ => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for s in &sockets {
        s.abort();
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "S1: {} subscribers cost {:.1} MiB of RSS ({:.1} KiB each; {:.1} MiB in all with them idle); {} deliveries for {} notes",
        a.subscribers,
        subscribed - idle_before,
        (subscribed - idle_before) * 1024.0 / a.subscribers.max(1) as f64,
        subscribed,
        latencies.len(),
        row.requests
    );
    single.sort_by(f64::total_cmp);
    let one_event = Row {
        op: format!("S1 one event ({} subs)", a.subscribers),
        requests: single.len(),
        rps: 0.0,
        p50_ms: pct(&single, 0.50),
        p95_ms: pct(&single, 0.95),
        p99_ms: pct(&single, 0.99),
        errors: SINGLE_EVENTS * a.subscribers - single.len().min(SINGLE_EVENTS * a.subscribers),
        statements_per_op: 0.0,
        cpu_s_per_1000: 0.0,
        peak_rss_mib: rss_mib(gw.pid),
    };
    let sustained = Row {
        op: format!("S1 ({} subs)", a.subscribers),
        requests: latencies.len(),
        rps: latencies.len() as f64 / a.duration.as_secs_f64(),
        p50_ms: pct(&latencies, 0.50),
        p95_ms: pct(&latencies, 0.95),
        p99_ms: pct(&latencies, 0.99),
        errors: row.requests * a.subscribers - latencies.len().min(row.requests * a.subscribers),
        statements_per_op: row.statements_per_op,
        cpu_s_per_1000: row.cpu_s_per_1000,
        peak_rss_mib: row.peak_rss_mib.max(subscribed),
    };
    vec![sustained, one_event]
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let machine = format!("{} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), std::env::consts::ARCH);
        let mut reports = Vec::new();
        let mut every_scale = Vec::new();
        for &scale in &args.scales {
            let a = Args { scale, ..args.clone() };
            let url = database(&a).await;
            clean(&url).await;
            let mut gw = start(&url).await;
            quiesce(gw.addr).await;
            let f = Arc::new(fixture(gw.addr, &url).await);
            let mut rows = Vec::new();
            for op in &a.ops {
                let measured = if op == "S1" { subscribers(&a, &gw, &f).await } else { vec![run(op, &a, &gw, &f).await] };
                for row in measured {
                    println!("{row:?}");
                    rows.push(row);
                }
            }
            println!("\nbackend {} · scale {} · {} connections · {:?} per operation · {machine}", a.backend, a.scale, a.connections, a.duration);
            println!("| op | requests | req/s | p50 ms | p95 ms | p99 ms | errors | SQL/op | CPU s/1k | peak RSS MiB |");
            println!("|---|---|---|---|---|---|---|---|---|---|");
            for r in &rows {
                println!(
                    "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.3} | {:.1} |",
                    r.op, r.requests, r.rps, r.p50_ms, r.p95_ms, r.p99_ms, r.errors, r.statements_per_op, r.cpu_s_per_1000, r.peak_rss_mib
                );
            }
            reports.push(json!({
                "backend": a.backend, "scale": a.scale, "connections": a.connections, "duration_s": a.duration.as_secs_f64(),
                "subscribers": a.subscribers, "machine": machine,
                "rows": rows.iter().map(|r| (r.op.clone(), serde_json::to_value(r).unwrap())).collect::<BTreeMap<_, _>>(),
            }));
            let _ = gw.child.kill().await;
            every_scale.extend(rows.into_iter().map(|r| (scale, r)));
        }
        if args.scales.len() > 1 {
            println!("\nbackend {} · {} connections · {:?} per operation · {machine}", args.backend, args.connections, args.duration);
            println!("| scale | op | req/s | p50 ms | p99 ms | errors | SQL/op | CPU s/1k |");
            println!("|---|---|---|---|---|---|---|---|");
            for (scale, r) in &every_scale {
                println!(
                    "| {scale} | {} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {:.3} |",
                    r.op, r.rps, r.p50_ms, r.p99_ms, r.errors, r.statements_per_op, r.cpu_s_per_1000
                );
            }
        }
        // One scale: its report, as before `--scales`; several: the list of them.
        let report = if reports.len() == 1 { reports.remove(0) } else { Value::Array(reports) };
        let path = args.json.clone().unwrap_or_else(|| format!("{}/target/load-{}.json", env!("CARGO_MANIFEST_DIR"), args.backend));
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).expect("write the JSON report");
        println!("JSON: {path}");
    });
}
