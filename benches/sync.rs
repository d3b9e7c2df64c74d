//! A first sync of a large partner from the Partner Center simulator, and a quiet pass after it:
//! objects a second, peak RSS of the `sync` process above an idle one, and the upstream calls
//! of the quiet pass.
//!
//! `cargo bench --bench sync` syncs into a fresh SQLite file; with
//! `BENCH_DATABASE_URL=postgres://…/postgres` also into a fresh PostgreSQL database
//! (`sg_sync_bench`, dropped and made anew). Sizes: `-- --customers 10000
//! --subscriptions-per-customer 3 --requests 50000 --notes 1 --page 500` (the defaults).
//!
//! The simulator and `sync` run as processes of the release binary, as a user runs them; the
//! upstream request rate is lifted (`SG_UPSTREAM_RATE`) since the simulator is local.

use std::process::Stdio;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-000";
const BIN: &str = env!("CARGO_BIN_EXE_support-gateway");

struct Args {
    customers: usize,
    subscriptions: usize,
    requests: usize,
    notes: usize,
    page: usize,
}

fn args() -> Args {
    let mut a = Args { customers: 10_000, subscriptions: 3, requests: 50_000, notes: 1, page: 500 };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = || argv.get(i + 1).and_then(|v| v.parse().ok()).expect("a number after the flag");
        match argv[i].as_str() {
            "--customers" => a.customers = value(),
            "--subscriptions-per-customer" => a.subscriptions = value(),
            "--requests" => a.requests = value(),
            "--notes" => a.notes = value(),
            "--page" => a.page = value(),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running simulator of `args`' size.
fn simulator(a: &Args) -> (std::process::Child, String) {
    let port = free_port();
    let child = std::process::Command::new(BIN)
        .args(["simulate", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--customers", &a.customers.to_string()])
        .args(["--subscriptions-per-customer", &a.subscriptions.to_string()])
        .args(["--requests", &a.requests.to_string()])
        .args(["--notes-per-request", &a.notes.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the simulator");
    let base = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(60), "simulator not up");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, base)
}

fn calls(base: &str) -> u64 {
    let port = base.rsplit(':').next().unwrap();
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /_sim/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["calls"].as_u64().unwrap()
}

/// Resident set size of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Runs a `sync` pass: its wall time, peak RSS (KiB, sampled every 20 ms) and output.
fn sync(url: &str, base: &str, page: usize, full: bool) -> (Duration, u64, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["sync", "--page-size", &page.to_string()])
        .env("DATABASE_URL", url)
        .env("SG_JWT_SECRET", SECRET)
        .env("SG_PARTNER_CENTER_URL", format!("{base}/v1"))
        .env("SG_IDENTITY_AUTHORITY", base)
        .env("SG_PARTNER_TENANT_ID", support_gateway::simulator::PARTNER_TENANT)
        .env("SG_CLIENT_ID", support_gateway::simulator::CLIENT_ID)
        .env("SG_CLIENT_SECRET", support_gateway::simulator::CLIENT_SECRET)
        .env("SG_SYNC_AGENT", "admin@northwind-cloud.example")
        .env("SG_UPSTREAM_RATE", "100000")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if full {
        cmd.arg("--full");
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start sync");
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sync failed");
    (elapsed, peak, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn seed(url: &str) {
    let status = std::process::Command::new(BIN)
        .args(["seed", "--demo"])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn run(backend: &str, url: &str, a: &Args) {
    seed(url);
    // Idle: a pass over an empty Partner Center costs what the process costs doing nothing.
    let empty = Args { customers: 0, subscriptions: 0, requests: 0, notes: 0, page: a.page };
    let (mut idle_sim, idle_base) = simulator(&empty);
    let (_, idle_peak, _) = sync(url, &idle_base, a.page, false);
    let _ = idle_sim.kill();

    let (mut sim, base) = simulator(a);
    let (elapsed, peak, out) = sync(url, &base, a.page, false);
    let objects = a.customers * (1 + a.subscriptions) + a.requests * (1 + a.notes);
    println!("{backend}: first sync of {objects} objects in {:.1} s", elapsed.as_secs_f64());
    println!("{out}");
    println!(
        "{backend}: {:.0} objects/s; peak RSS {:.1} MiB, {:.1} MiB above an idle pass ({:.1} MiB)",
        objects as f64 / elapsed.as_secs_f64(),
        peak as f64 / 1024.0,
        (peak.saturating_sub(idle_peak)) as f64 / 1024.0,
        idle_peak as f64 / 1024.0
    );
    let before = calls(&base);
    let (quiet, _, _) = sync(url, &base, a.page, false);
    println!("{backend}: a quiet pass took {:.1} s and {} upstream calls", quiet.as_secs_f64(), calls(&base) - before);
    let _ = sim.kill();
}

fn main() {
    let a = args();
    let dir = std::env::temp_dir().join(format!("sg-sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bench.db");
    run("sqlite", &format!("sqlite://{}", file.display()), &a);
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(admin) = std::env::var("BENCH_DATABASE_URL") {
        let psql = |sql: &str| {
            std::process::Command::new("psql").arg(&admin).args(["-qc", sql]).status().expect("psql");
        };
        psql("DROP DATABASE IF EXISTS sg_sync_bench WITH (FORCE)");
        psql("CREATE DATABASE sg_sync_bench");
        let (base, _) = admin.rsplit_once('/').expect("a database URL");
        run("postgres", &format!("{base}/sg_sync_bench"), &a);
        psql("DROP DATABASE IF EXISTS sg_sync_bench WITH (FORCE)");
    }
}
