//! GraphQL over HTTP: parsing the request, authenticating it, executing it, and answering in
//! the media type the client accepts.

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{Data, ErrorExtensions, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::auth::{Caller, bearer};
use crate::error::{AppError, AppResult};
use crate::graphql::RequestCtx;
use crate::repo::queries::caller_rows;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// `GET /graphql`: a WebSocket upgrade, or a query in the query string.
pub async fn get(State(shared): State<Shared>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let is_upgrade = parts.headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return websocket(shared, &mut parts).await;
    }
    let accept = accepted_type(&parts.headers);
    let request = match async_graphql::http::parse_query_string(parts.uri.query().unwrap_or_default()) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, accept, "BAD_REQUEST", &format!("invalid GraphQL GET request: {e}")),
    };
    // GET may only read: a mutation over GET could be triggered by a link (CSRF).
    if operation_type(&request) == Some(OperationType::Mutation) {
        let mut resp = error_response(StatusCode::METHOD_NOT_ALLOWED, accept, "METHOD_NOT_ALLOWED", "mutations must be sent with POST");
        resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    execute(&shared, &parts.headers, request, accept).await
}

/// `POST /graphql` with a JSON body.
pub async fn post(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let accept = accepted_type(&headers);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != APPLICATION_JSON {
        return error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, accept, "UNSUPPORTED_MEDIA_TYPE", "send the request as `application/json`");
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, accept, "BAD_REQUEST", &format!("the body is not a GraphQL request: {e}")),
    };
    execute(&shared, &headers, request, accept).await
}

/// Authenticates, executes and encodes one request.
async fn execute(shared: &Shared, headers: &HeaderMap, request: async_graphql::Request, accept: &'static str) -> Response {
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    let request = match token {
        Some(token) => match authenticate(shared, token).await {
            Ok(caller) => request.data(RequestCtx::new(caller, &shared.app)),
            Err(e) => return app_error_response(accept, e),
        },
        // Tools (GraphiQL, codegen) may read the schema before they have a token.
        None if is_introspection_only(&request) => request,
        None => {
            return app_error_response(accept, AppError::Unauthenticated("authentication required: send `Authorization: Bearer <token>`".into()));
        }
    };
    let response = shared.schema.execute(request).await;
    let status = if accept == GRAPHQL_RESPONSE_JSON && is_request_error(&response) { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    json_response(status, accept, &response)
}

/// Verifies the token and finds its agent; an agent that no longer exists is unauthenticated.
pub async fn authenticate(shared: &Shared, token: &str) -> AppResult<Caller> {
    let agent_id = shared.app.keys.verify(token)?;
    caller_of(shared, &agent_id).await
}

/// The caller an agent id (from a verified token) stands for.
pub async fn caller_of(shared: &Shared, agent_id: &str) -> AppResult<Caller> {
    let (agent, partner) =
        caller_rows(&shared.app.db, agent_id).await?.ok_or_else(|| AppError::Unauthenticated("the token's agent does not exist".into()))?;
    Ok(Caller {
        agent_id: agent.id,
        agent_email: agent.email,
        role: agent.role.parse()?,
        partner_id: partner.id,
        partner_kind: partner.kind.parse()?,
    })
}

/// A WebSocket for subscriptions (`graphql-transport-ws` or legacy `graphql-ws`),
/// authenticated by the `connection_init` payload or the upgrade request's header.
async fn websocket(shared: Shared, parts: &mut axum::http::request::Parts) -> Response {
    let protocol = match GraphQLProtocol::from_request_parts(parts, &()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let header_token = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer).map(str::to_owned);
    let protocols = ["graphql-transport-ws", "graphql-ws"];
    // Small buffers: most sockets sit idle, and tungstenite's defaults (128 KiB each way) made
    // an idle subscription cost ~155 KiB of RSS (`cargo bench --bench realtime`).
    let upgrade = upgrade.protocols(protocols).read_buffer_size(4 * 1024).write_buffer_size(0).max_message_size(super::ws::MAX_MESSAGE_BYTES);
    let offered = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if offered.split(',').any(|p| p.trim() == "graphql-transport-ws") {
        return upgrade.on_upgrade(move |socket| super::ws::serve(socket, shared, header_token));
    }
    // The legacy subscriptions-transport-ws protocol, for older clients.
    upgrade.on_upgrade(move |socket| {
        let schema = shared.schema.clone();
        GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| async move {
                let from_payload = ["Authorization", "authorization"]
                    .iter()
                    .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
                    .and_then(bearer)
                    .map(str::to_owned);
                let token = from_payload
                    .or(header_token)
                    .ok_or_else(|| AppError::Unauthenticated("send a bearer token in the connection_init payload".into()).extend())?;
                let caller = authenticate(&shared, &token).await.map_err(async_graphql::Error::from)?;
                let mut data = Data::default();
                data.insert(RequestCtx::new(caller, &shared.app));
                Ok(data)
            })
            .serve()
    })
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        self.clone().into()
    }
}

/// The operation a request will run, when the document parses.
fn operation_type(request: &async_graphql::Request) -> Option<OperationType> {
    let doc = async_graphql::parser::parse_query(&request.query).ok()?;
    match (&doc.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
        _ => None,
    }
}

/// True when every root field of the request's operation is an introspection field.
fn is_introspection_only(request: &async_graphql::Request) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else { return false };
    let op = match (&doc.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return false,
        },
        _ => return false,
    };
    op.node.ty == OperationType::Query
        && op.node.selection_set.node.items.iter().all(|sel| match &sel.node {
            Selection::Field(f) => f.node.name.node.starts_with("__"),
            _ => false,
        })
}

/// A response whose errors stopped execution before it began (parse or validation errors).
fn is_request_error(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty() && response.data == async_graphql::Value::Null && response.errors.iter().all(|e| e.path.is_empty())
}

/// `application/graphql-response+json` when the client lists it, else `application/json`.
fn accepted_type(headers: &HeaderMap) -> &'static str {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if accept.to_ascii_lowercase().contains(GRAPHQL_RESPONSE_JSON) { GRAPHQL_RESPONSE_JSON } else { APPLICATION_JSON }
}

fn json_response<T: serde::Serialize>(status: StatusCode, content_type: &'static str, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, format!("{content_type}; charset=utf-8"))], bytes).into_response(),
        Err(e) => {
            tracing::error!(error.detail = %e, "encoding a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A GraphQL-shaped error body (`{"errors": [...]}`) with a status.
fn error_response(status: StatusCode, content_type: &'static str, code: &str, message: &str) -> Response {
    let mut error = ServerError::new(message, None);
    error.extensions = Some({
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", code);
        ext
    });
    json_response(status, content_type, &async_graphql::Response::from_errors(vec![error]))
}

fn app_error_response(content_type: &'static str, e: AppError) -> Response {
    let status = match &e {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let code = e.code();
    let gql: async_graphql::Error = e.into();
    let mut resp = error_response(status, content_type, code, &gql.message);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}
