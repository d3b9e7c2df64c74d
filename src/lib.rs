//! support-gateway: one GraphQL graph over a Cloud Solution Provider partner's support world.
//!
//! A request comes in through [`http`], is authenticated by [`auth`], runs against the schema
//! of [`graphql`], whose resolvers read through the partner-scoped [`repo`] and its batched
//! loaders, which query [`db`]. Rules of the domain live apart from all of that in [`domain`].

/// `App`, the one shared state, and its builder.
pub mod app;
/// Agent tokens and the caller they resolve to.
pub mod auth;
/// The injectable clock.
pub mod clock;
/// Command line and environment settings.
pub mod config;
/// Pools over PostgreSQL and SQLite, the portable schema, migrations.
pub mod db;
/// Pure domain rules: the vocabulary, business calendars, the SLA clock.
pub mod domain;
/// The error type and its GraphQL mapping.
pub mod error;
/// The event bus (durable table, in-process fan-out, PostgreSQL LISTEN/NOTIFY) and the SLA watcher.
pub mod events;
/// The GraphQL schema: queries, types, global ids.
pub mod graphql;
/// The axum router: GraphQL over HTTP and WebSocket, GraphiQL, health.
pub mod http;
/// `support-gateway import`: customers, subscriptions and products from files.
pub mod import;
/// Giving freed memory back to the operating system.
pub mod memory;
/// Prometheus metrics and the per-operation timing extension.
pub mod metrics;
/// Filing at Microsoft what was filed here.
pub mod outbox;
/// Relay cursor paging.
pub mod paging;
/// Partner-scoped queries and per-request loaders.
pub mod repo;
/// Demo and benchmark data.
pub mod seed;
/// A stand-in for Microsoft's APIs, for offline use and tests.
pub mod simulator;
/// Keeping the partner's data in step with Partner Center.
pub mod sync;
/// Logging, and span export over OTLP with the `otel` feature.
pub mod telemetry;
/// Calls to Microsoft's APIs: sign-in, throttling, retries.
pub mod upstream;
/// Outbound webhooks: the durable queue and the worker that signs and sends.
pub mod webhooks;

pub use app::{App, AppState};
pub use graphql::{GatewaySchema, schema};
pub use http::app;
