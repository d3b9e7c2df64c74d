//! The axum router: GraphQL over HTTP (POST and GET) and WebSocket on `/graphql`, GraphiQL,
//! health and readiness, with CORS, compression and a request id on every response and log line.

mod graphql;
pub(crate) mod json;
mod pages;
pub mod server;
mod ws;

pub use graphql::{caller_of, caller_of_agent};
pub use server::{HttpLimits, serve};

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::app::AppState;
use crate::config::CorsOrigins;
use crate::graphql::{GatewaySchema, prevalidated_schema_for, schema_for};

/// What handlers share.
#[derive(Clone)]
pub struct Shared {
    pub app: AppState,
    pub schema: GatewaySchema,
    /// The same schema, for documents already validated (`graphql::run::execute`).
    pub prevalidated: GatewaySchema,
}

/// Builds the router over a started `App`: the one entry point for `serve` and for tests.
pub fn app(state: AppState) -> Router {
    let cors = cors_layer(&state.config.cors_origins);
    let graphiql_on = state.config.graphiql;
    // The handlers read the body themselves, within `limits.max_body_bytes`.
    let body_limit = state.config.limits.max_body_bytes;
    let shared = Shared { schema: schema_for(&state), prevalidated: prevalidated_schema_for(&state), app: state };
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .merge(pages(graphiql_on))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_response(
                    DefaultOnResponse::new().level(tracing::Level::DEBUG).latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    let allow = match origins {
        CorsOrigins::Localhost => AllowOrigin::predicate(|origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| {
                ["http://localhost", "http://127.0.0.1", "https://localhost", "https://127.0.0.1"]
                    .iter()
                    .any(|base| o == *base || o.strip_prefix(base).is_some_and(|rest| rest.starts_with(':')))
            })
        }),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())),
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(3600))
}

/// GraphiQL (when on), the SLA board, the files they load and the development sign-in.
fn pages(graphiql_on: bool) -> Router<Shared> {
    let router = Router::new()
        .route("/board", get(pages::board))
        .route("/board/{*path}", get(pages::board_file))
        .route("/assets/vendor/{*path}", get(pages::vendor_file))
        .route("/dev/agents", get(pages::demo_agents));
    if graphiql_on {
        router
            .route("/graphiql", get(pages::graphiql))
            .route("/graphiql/examples.json", get(pages::graphiql_examples))
            .route("/graphiql/{*path}", get(pages::graphiql_file))
    } else {
        router.route("/graphiql", get(graphiql_off)).route("/graphiql/{*path}", get(graphiql_off))
    }
}

/// GraphiQL is off (the production profile's default; `SG_GRAPHIQL=true` turns it on).
async fn graphiql_off() -> Response {
    (StatusCode::NOT_FOUND, "GraphiQL is disabled on this gateway").into_response()
}

/// Prometheus metrics (OpenMetrics text). Keep this path off the public internet at the proxy.
async fn metrics(State(shared): State<Shared>) -> Response {
    let body = shared.app.metrics.render();
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
async fn readyz(State(shared): State<Shared>) -> Response {
    match shared.app.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error.detail = ?e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}
