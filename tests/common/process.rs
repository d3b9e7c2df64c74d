//! Real `support-gateway serve` processes for tests that need one (replicas, signals), and a
//! minimal HTTP/1.1 client to talk to them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A `support-gateway serve` process, killed when dropped.
pub struct Replica {
    pub addr: SocketAddr,
    pub child: tokio::process::Child,
}

pub async fn free_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// One request on its own connection; returns the status and the body.
pub async fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
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
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

impl Replica {
    /// Starts a gateway on `url` with the tests' secret, and waits until it is ready.
    pub async fn start(url: &str) -> Replica {
        Replica::start_with(url, &[]).await
    }

    /// Like `start`, with extra environment settings.
    pub async fn start_with(url: &str, env: &[(&str, &str)]) -> Replica {
        let addr = free_port().await;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_support-gateway"));
        command
            .args(["serve", "--bind", &addr.to_string()])
            .env("DATABASE_URL", url)
            .env("SG_JWT_SECRET", super::SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start a replica");
        let started = Instant::now();
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                let _ = s.shutdown().await;
                if http(addr, "GET", "/readyz", None, "").await.0 == 200 {
                    break;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "replica did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Replica { addr, child }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(status.success());
    }
}
