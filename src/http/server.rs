//! Serving the router over TCP with the bounds a public deployment needs, which `axum::serve`
//! does not have: a connection that sends nothing, or its headers one byte at a time, or
//! stalls mid-request, is closed; and past a number of open connections new ones are closed
//! at once instead of queueing (each costs memory and a file descriptor).
//!
//! - `header_read_timeout`: the request's headers must arrive whole within it. hyper starts
//!   the clock whenever it waits for a request's headers, on a new connection and between
//!   requests on a kept-alive one: it is also how long an idle keep-alive connection is kept.
//! - `idle_timeout`: the longest an HTTP connection may go without a byte either way (a body
//!   that stops arriving, a response the client does not read). WebSockets, once upgraded,
//!   are not bound by it: their own protocol pings and closes them.
//! - `max_connections`: open connections, WebSockets included.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounds on connections (see the module docs; `config.rs` for the settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// 10 s: a browser or a client library sends its headers in one write; a slow mobile
    /// network still fits, a slowloris does not.
    pub header_read_timeout: Duration,
    /// 60 s: a body or response flowing at all moves bytes far more often.
    pub idle_timeout: Duration,
    /// 16,384: room for 10,000 WebSocket subscribers beside the HTTP traffic, within the file
    /// descriptors a production host allows.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 16_384,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the requests in flight (the caller bounds that wait).
pub async fn serve(listener: TcpListener, router: Router, limits: HttpLimits, shutdown: impl Future<Output = ()>) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, mostly: wait a moment rather than spin.
                    tracing::warn!(error.detail = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!(max_connections = limits.max_connections, "connection refused: too many open");
            drop(stream);
            continue;
        };
        // Small GraphQL responses and WebSocket frames must not wait for Nagle's algorithm
        // (measured: ~40 ms stalls on event delivery without it).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error.detail = %e, "TCP_NODELAY");
        }
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Tracked { stream, activity: activity.clone(), _permit: permit });
        let connection = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(router.clone()));
        let connection = graceful.watch(connection.into_owned());
        let (idle, header_timeout) = (limits.idle_timeout, limits.header_read_timeout);
        tokio::spawn(async move {
            tokio::select! {
                // Ends when the connection closes, or hands its socket to a WebSocket.
                _ = connection => {}
                () = activity.idle_for(idle) => tracing::debug!(idle_ms = idle.as_millis() as u64, "closing an idle connection"),
                // hyper's header timeout starts once it knows the protocol, which takes a byte.
                () = activity.silent_for(header_timeout) => tracing::debug!("closing a connection that sent nothing"),
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// When a connection last moved a byte, in milliseconds since it opened.
struct Activity {
    opened: tokio::time::Instant,
    last_ms: AtomicU64,
    /// The client has sent a byte.
    heard: AtomicBool,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { opened: tokio::time::Instant::now(), last_ms: AtomicU64::new(0), heard: AtomicBool::new(false) }
    }
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn heard(&self) {
        self.heard.store(true, Ordering::Relaxed);
        self.touch();
    }

    /// Completes when the client has sent nothing within `limit` of opening; never once it has.
    async fn silent_for(&self, limit: Duration) {
        tokio::time::sleep_until(self.opened + limit).await;
        if self.heard.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    }

    /// Completes once no byte has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle;
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A socket that records its activity and holds its place among the open connections.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.heard();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
