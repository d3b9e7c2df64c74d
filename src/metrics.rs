//! `/metrics` in the Prometheus text format (OpenMetrics, by `prometheus-client`): request
//! durations by operation, errors by code, SQL statements and their duration, the pool, live
//! WebSockets and subscriptions, events and SLA transitions, and what the gateway did with
//! Microsoft (calls, throttling, sync, the outbox). Counters that other parts own
//! (the pool's statement counter, the event bus, the SLA watcher) are registered here by handle.
//!
//! Operation names come from clients: at most [`MAX_OPERATION_NAMES`] distinct ones are
//! labelled, the rest count as `other`, so a client cannot blow up the series count.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_graphql::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::db::{Db, Pool};
use crate::events::EventBus;
use crate::events::sla_watcher::SlaWatcher;

/// Distinct operation names labelled before the rest count as `other`.
pub const MAX_OPERATION_NAMES: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<OperationLabels, Histogram>,
    errors: Family<CodeLabels, Counter>,
    pub websockets: Gauge,
    pub subscriptions: Gauge,
    pool_size: Gauge,
    pool_available: Gauge,
    pool_waiting: Gauge,
    names: Mutex<HashSet<String>>,
    db: Db,
    /// What the gateway did with Microsoft (sync, the outbox, their calls).
    pub upstream: std::sync::Arc<crate::upstream::UpstreamStats>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new(db: &Db, bus: &EventBus, sla: &SlaWatcher) -> Metrics {
        let mut registry = Registry::with_prefix("sg");
        let requests = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register("graphql_request_duration_seconds", "Time to execute a query or mutation", requests.clone());
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register("graphql_errors", "Errors sent, by extensions.code", errors.clone());
        registry.register("sql_statements", "SQL statements started", db.stats.statements.clone());
        registry.register(
            "sql_statement_duration_seconds",
            "Time from a statement's start to its end",
            db.stats.statement_seconds.clone(),
        );
        let (pool_size, pool_available, pool_waiting) = (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register("db_pool_connections", "Connections the pool holds", pool_size.clone());
        registry.register("db_pool_idle_connections", "Connections not checked out", pool_available.clone());
        registry.register("db_pool_waiting", "Requests waiting for a connection", pool_waiting.clone());
        let (websockets, subscriptions) = (Gauge::default(), Gauge::default());
        registry.register("websocket_connections", "Open WebSocket connections", websockets.clone());
        registry.register("subscriptions", "Running subscriptions", subscriptions.clone());
        let stats = bus.stats();
        registry.register(
            "events_published",
            "Events broadcast to this process's subscribers",
            stats.dispatched.clone(),
        );
        registry.register("events_delivered", "Events handed to a subscriber", stats.delivered.clone());
        registry.register("events_dropped", "Events missed by subscribers that fell behind", stats.dropped.clone());
        registry.register(
            "event_listener_reconnects",
            "Reconnections of the LISTEN connection",
            stats.listener_reconnects.clone(),
        );
        registry.register("sla_transitions", "SLA transitions recorded by this process", sla.transitions.clone());
        let upstream = std::sync::Arc::new(crate::upstream::UpstreamStats::default());
        upstream.register(&mut registry);
        Metrics {
            registry,
            requests,
            errors,
            websockets,
            subscriptions,
            pool_size,
            pool_available,
            pool_waiting,
            names: Mutex::new(HashSet::new()),
            db: db.clone(),
            upstream,
        }
    }

    /// The text exposition, with the pool read now.
    pub fn render(&self) -> String {
        let status = match &self.db.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.status(),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.status(),
        };
        self.pool_size.set(status.size as i64);
        self.pool_available.set(status.available as i64);
        self.pool_waiting.set(status.waiting as i64);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error.detail = %e, "encoding metrics");
        }
        out
    }

    /// Counts one error by its code.
    pub fn error(&self, code: &str) {
        self.errors.get_or_create(&CodeLabels { code: code.to_owned() }).inc();
    }

    /// Counts the errors of a response.
    pub fn errors_of(&self, response: &Response) {
        for e in &response.errors {
            let code = e.extensions.as_ref().and_then(|x| x.get("code")).and_then(|v| match v {
                async_graphql::Value::String(s) => Some(s.clone()),
                _ => None,
            });
            self.error(code.as_deref().unwrap_or("NONE"));
        }
    }

    /// Records how long one query or mutation took.
    pub fn observe(&self, operation: &str, kind: &str, took: Duration) {
        let labels = OperationLabels { operation: operation.to_owned(), kind: kind.to_owned() };
        self.requests.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// The label of an operation name: at most [`MAX_OPERATION_NAMES`] distinct ones.
    pub fn label(&self, name: Option<&str>) -> String {
        let Some(name) = name else { return "anonymous".into() };
        let clean: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.contains(&clean) || (names.len() < MAX_OPERATION_NAMES && names.insert(clean.clone())) {
            clean
        } else {
            "other".into()
        }
    }
}

/// Counts one of something while it lives (a WebSocket, a subscription).
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub fn new(gauge: &Gauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
