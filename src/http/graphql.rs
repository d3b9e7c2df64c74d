//! GraphQL over HTTP, as the GraphQL Foundation's GraphQL-over-HTTP specification asks:
//! requests parsed from a GET query string or a JSON POST body, authenticated, checked against
//! the limits and the persisted documents, executed with a timeout, and answered in the media
//! type the `Accept` header prefers.
//!
//! - `application/graphql-response+json`: a request that does not parse or validate is a 400
//!   without `data`; `application/json`: 200 with the errors (the spec's legacy rules).
//! - No supported type in `Accept` is 406; a POST that is not `application/json` is 415 (so a
//!   form or `text/plain` POST, which a browser sends cross-site without a preflight, never runs);
//!   a mutation over GET is 405.
//! - Batches (a JSON array) are refused unless `SG_LIMIT_BATCH` allows them, and then bounded.

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{ErrorExtensions, ServerError};
use async_graphql_axum::GraphQLProtocol;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Shared;
use super::json::{self, WriteJson};
use crate::auth::{Caller, Identity, bearer};
use crate::error::{AppError, AppResult};
use crate::graphql::RequestCtx;
use crate::graphql::codes::with_code;
use crate::graphql::run;
use crate::repo::callers::caller_rows;
use crate::telemetry::OperationLog;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// A GraphQL request as it arrives over HTTP, before it becomes an `async_graphql::Request`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default)]
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
    /// A persisted document id, `sha256:<hex>` (the persisted documents proposal).
    #[serde(default)]
    document_id: Option<String>,
}

impl WireRequest {
    /// Checks the shapes the spec requires and builds the request.
    fn into_request(self) -> Result<async_graphql::Request, String> {
        let variables = match self.variables {
            None | Some(serde_json::Value::Null) => async_graphql::Variables::default(),
            Some(v @ serde_json::Value::Object(_)) => async_graphql::Variables::from_json(v),
            Some(_) => return Err("`variables` must be a JSON object".into()),
        };
        let mut extensions = self.extensions.unwrap_or_default();
        if let Some(id) = self.document_id {
            let Some(hash) = id.strip_prefix("sha256:") else {
                return Err("`documentId` must look like `sha256:<hex>`".into());
            };
            extensions.insert("persistedQuery".into(), serde_json::json!({ "version": 1, "sha256Hash": hash }));
        }
        let query = self.query.unwrap_or_default();
        if query.trim().is_empty() && !extensions.contains_key("persistedQuery") {
            return Err("the request has no `query` (or persisted document id)".into());
        }
        let mut request = async_graphql::Request::new(query).variables(variables);
        request.operation_name = self.operation_name;
        for (k, v) in extensions {
            let value = async_graphql::Value::from_json(v).map_err(|e| format!("`extensions.{k}`: {e}"))?;
            request.extensions.0.insert(k, value);
        }
        Ok(request)
    }
}

/// `GET /graphql`: a WebSocket upgrade, or a query in the query string.
pub async fn get(State(shared): State<Shared>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return websocket(shared, &mut parts).await;
    }
    let Some(accept) = accepted_type(&parts.headers) else { return not_acceptable() };
    let wire = match parse_query_string(parts.uri.query().unwrap_or_default()) {
        Ok(w) => w,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                accept,
                "BAD_REQUEST",
                &format!("invalid GraphQL GET request: {e}"),
            );
        }
    };
    execute_http(&shared, &parts.headers, wire, accept, true).await
}

/// The parameters of a GET request: `query`, `operationName`, `variables` and `extensions`
/// (JSON-encoded), `documentId`.
fn parse_query_string(qs: &str) -> Result<WireRequest, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(qs).map_err(|e| e.to_string())?;
    let mut wire = WireRequest::default();
    for (key, value) in pairs {
        match key.as_str() {
            "query" => wire.query = Some(value),
            "operationName" => wire.operation_name = Some(value).filter(|v| !v.is_empty()),
            "variables" if !value.is_empty() => {
                wire.variables =
                    Some(serde_json::from_str(&value).map_err(|e| format!("`variables` is not JSON: {e}"))?)
            }
            "extensions" if !value.is_empty() => {
                wire.extensions =
                    Some(serde_json::from_str(&value).map_err(|e| format!("`extensions` is not a JSON object: {e}"))?)
            }
            "documentId" => wire.document_id = Some(value),
            _ => {}
        }
    }
    Ok(wire)
}

/// `POST /graphql` with a JSON body (one request, or a batch when enabled).
pub async fn post(State(shared): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let Some(accept) = accepted_type(&headers) else { return not_acceptable() };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != APPLICATION_JSON {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            accept,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as `application/json`",
        );
    }
    let limit = shared.app.config.limits.max_body_bytes;
    let body = match axum::body::to_bytes(Body::new(body), limit).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                accept,
                "REQUEST_TOO_LARGE",
                &format!("the request body is larger than {limit} bytes"),
            );
        }
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first == Some(b'[') {
        return batch(&shared, &headers, &body, accept).await;
    }
    let wire: WireRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                accept,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL request: {e}"),
            );
        }
    };
    execute_http(&shared, &headers, wire, accept, false).await
}

/// A JSON array of requests: refused unless batching is enabled, and then bounded.
async fn batch(shared: &Shared, headers: &HeaderMap, body: &[u8], accept: &'static str) -> Response {
    let max = shared.app.config.limits.max_batch;
    if max == 0 {
        return error_response(
            StatusCode::BAD_REQUEST,
            accept,
            "BATCHING_DISABLED",
            "batched requests are not accepted; send one request per POST",
        );
    }
    let wires: Vec<WireRequest> = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                accept,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL batch: {e}"),
            );
        }
    };
    if wires.is_empty() || wires.len() > max {
        return error_response(
            StatusCode::BAD_REQUEST,
            accept,
            "BATCH_TOO_LARGE",
            &format!("a batch holds 1 to {max} requests"),
        );
    }
    let mut responses = Vec::with_capacity(wires.len());
    for wire in wires {
        let response = prepare_and_run(shared, headers, wire, false).await;
        responses.push(response);
    }
    json_response(StatusCode::OK, accept, &Batch(responses))
}

/// What one request came to: a response, and the status it asks for.
enum Outcome {
    Response(async_graphql::Response),
    Refused(StatusCode, AppError),
}

async fn execute_http(
    shared: &Shared,
    headers: &HeaderMap,
    wire: WireRequest,
    accept: &'static str,
    get: bool,
) -> Response {
    match prepare_and_run(shared, headers, wire, get).await {
        Outcome::Response(response) => {
            let status = if accept == GRAPHQL_RESPONSE_JSON && is_request_error(&response) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            json_response(status, accept, &Wire(&response))
        }
        Outcome::Refused(status, e) => {
            shared.app.metrics.error(e.code());
            let mut resp = app_error_response(accept, status, e);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            resp
        }
    }
}

impl WriteJson for Outcome {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            Outcome::Response(r) => Wire(r).write_json(out),
            Outcome::Refused(_, e) => {
                let gql: async_graphql::Error = e.clone().into();
                Wire(&async_graphql::Response::from_errors(vec![gql.into_server_error(async_graphql::Pos::default())]))
                    .write_json(out)
            }
        }
    }
}

/// A batch's responses, in the order of its requests.
struct Batch(Vec<Outcome>);

impl WriteJson for Batch {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.push(b'[');
        for (i, outcome) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            outcome.write_json(out)?;
        }
        out.push(b']');
        Ok(())
    }
}

/// A response decided before the schema saw the request (its errors are counted here;
/// [`run::execute`] counts the schema's own).
fn early(shared: &Shared, response: async_graphql::Response) -> Outcome {
    shared.app.metrics.errors_of(&response);
    Outcome::Response(response)
}

/// Checks, authenticates and executes one request within the execution timeout, and logs it
/// (one line per operation, whatever it came to).
async fn prepare_and_run(shared: &Shared, headers: &HeaderMap, wire: WireRequest, get: bool) -> Outcome {
    let mut log = OperationLog::start();
    let outcome = admit_and_run(shared, headers, wire, get, &mut log).await;
    match &outcome {
        Outcome::Response(response) => log.response(response),
        Outcome::Refused(_, e) => log.refused(e.code()),
    }
    outcome
}

async fn admit_and_run(
    shared: &Shared,
    headers: &HeaderMap,
    wire: WireRequest,
    get: bool,
    log: &mut OperationLog,
) -> Outcome {
    let limits = &shared.app.config.limits;
    let mut request = match wire.into_request() {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(StatusCode::BAD_REQUEST, AppError::BadRequest(e)),
    };
    // The token's signature and claims are checked first (no statement): nothing a caller
    // without a valid token sends is kept. The document is measured before the caller's agent
    // is read, so that a refused document costs no statement at all; it is parsed once here
    // (the schema reuses the parse).
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    let identity = match token.map(|t| shared.app.keys.verify(t)).transpose() {
        Ok(identity) => identity,
        Err(e) => return Outcome::Refused(StatusCode::UNAUTHORIZED, e),
    };
    let admission = if identity.is_some() { run::Admission::Authenticated } else { run::Admission::Anonymous };
    let op = match run::admit(&shared.app, &mut request, admission) {
        Ok(op) => op,
        Err(e) => return early(shared, async_graphql::Response::from_errors(vec![e])),
    };
    log.operation(op.name.as_deref(), op.kind_name());
    let doc = request.parsed_query().ok();
    let introspection_only = doc.is_some_and(|doc| is_introspection_only(doc, op.name.as_deref()));
    let refused_introspection = !shared.app.config.introspection && selects_introspection(doc, op.name.as_deref());
    // GET may only read: a mutation over GET could be triggered by a link (CSRF).
    if get && op.kind == OperationType::Mutation {
        return Outcome::Refused(
            StatusCode::METHOD_NOT_ALLOWED,
            AppError::MethodNotAllowed("mutations must be sent with POST".into()),
        );
    }
    let run = async {
        let request = match identity {
            Some(identity) => match caller_of(&shared.app, &identity).await {
                Ok(caller) => {
                    log.caller(&caller);
                    request.data(RequestCtx::new(caller, &shared.app))
                }
                Err(e) => return Outcome::Refused(StatusCode::UNAUTHORIZED, e),
            },
            // Tools (GraphiQL, codegen, audits) may read the schema before they have a token.
            None if shared.app.config.introspection && introspection_only => request,
            None => {
                return Outcome::Refused(
                    StatusCode::UNAUTHORIZED,
                    AppError::Unauthenticated("authentication required: send `Authorization: Bearer <token>`".into()),
                );
            }
        };
        if refused_introspection {
            return Outcome::Response(async_graphql::Response::from_errors(vec![with_code(
                ServerError::new("introspection is disabled on this gateway", None),
                "INTROSPECTION_DISABLED",
            )]));
        }
        Outcome::Response(run::execute(&shared.app, &shared.schema, &shared.prevalidated, request, &op).await)
    };
    match tokio::time::timeout(limits.execution_timeout, run).await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::warn!(timeout_ms = limits.execution_timeout.as_millis() as u64, "request timed out");
            Outcome::Refused(StatusCode::GATEWAY_TIMEOUT, AppError::Timeout(limits.execution_timeout))
        }
    }
}

/// The caller a verified token stands for: from the short-lived cache
/// (`SG_CALLER_CACHE_SECONDS`), or read and cached. Unknown identities are never cached; a
/// removed agent, or one of a deleted partner, is unknown.
pub async fn caller_of(app: &crate::app::App, identity: &Identity) -> AppResult<Caller> {
    let now = app.clock.now();
    let key = identity.cache_key();
    if let Some(caller) = app.callers.get(&key, now) {
        return Ok(caller);
    }
    let (agent, partner) = caller_rows(&app.db, identity).await?.ok_or_else(|| match identity {
        Identity::Agent(_) => AppError::Unauthenticated("the token's agent does not exist".into()),
        Identity::Mapped { claim, value } => AppError::Unauthenticated(format!(
            "no agent of this gateway has the identity `{value}` (the token's `{claim}`): \
             an admin of your partner must set it on your agent (updateAgent)"
        )),
    })?;
    if agent.disabled_at.is_some() {
        return Err(AppError::Unauthenticated(
            "the token's agent was removed by an admin of its partner and can no longer sign in".into(),
        ));
    }
    let caller = Caller {
        agent_id: agent.id,
        agent_email: agent.email,
        role: agent.role.parse()?,
        partner_id: partner.id,
        partner_kind: partner.kind.parse()?,
    };
    app.callers.put(key, caller.clone(), now);
    Ok(caller)
}

/// The caller of an agent id (tests, the `token` command).
pub async fn caller_of_agent(app: &crate::app::App, agent_id: &str) -> AppResult<Caller> {
    caller_of(app, &Identity::Agent(agent_id.to_owned())).await
}

/// A WebSocket for subscriptions (`graphql-transport-ws` or legacy `graphql-ws`),
/// authenticated by the `connection_init` payload or the upgrade request's header.
async fn websocket(shared: Shared, parts: &mut axum::http::request::Parts) -> Response {
    if let Err(e) = GraphQLProtocol::from_request_parts(parts, &()).await {
        return e.into_response();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let header_token =
        parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer).map(str::to_owned);
    let protocols = ["graphql-transport-ws", "graphql-ws"];
    // Small buffers: most sockets sit idle, and tungstenite's defaults (128 KiB each way) made
    // an idle subscription cost ~155 KiB of RSS (`cargo bench --bench realtime`). The read
    // buffer is allocated up front for every socket and grows to fit a longer frame, and client
    // messages (`subscribe`, `ping`) are mostly under 1 KiB.
    let upgrade = upgrade
        .protocols(protocols)
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(shared.app.config.limits.ws_max_message_bytes);
    let offered = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).unwrap_or_default();
    // One implementation serves both protocols, so both obey the same rules.
    // The extractor above refused a socket that offers neither protocol.
    let protocol = if offered.split(',').any(|p| p.trim() == "graphql-transport-ws") {
        super::ws::Protocol::TransportWs
    } else {
        super::ws::Protocol::LegacyWs
    };
    upgrade.on_upgrade(move |socket| super::ws::serve(socket, shared, header_token, protocol))
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        self.clone().into()
    }
}

/// True when every root field of the request's operation is an introspection field.
fn is_introspection_only(doc: &async_graphql::parser::types::ExecutableDocument, name: Option<&str>) -> bool {
    let op = match (&doc.operations, name) {
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

/// Whether the chosen operation selects `__schema` or `__type` at its root.
fn selects_introspection(doc: Option<&async_graphql::parser::types::ExecutableDocument>, name: Option<&str>) -> bool {
    let Some(doc) = doc else { return false };
    doc.operations.iter().filter(|(n, _)| name.is_none() || n.map(|n| n.as_str()) == name).any(|(_, op)| {
        op.node.selection_set.node.items.iter().any(|sel| match &sel.node {
            Selection::Field(f) => matches!(f.node.name.node.as_str(), "__schema" | "__type"),
            Selection::InlineFragment(i) => i.node.selection_set.node.items.iter().any(|s| match &s.node {
                Selection::Field(f) => matches!(f.node.name.node.as_str(), "__schema" | "__type"),
                _ => false,
            }),
            Selection::FragmentSpread(_) => false,
        })
    })
}

/// A response as sent: one whose errors stopped it before execution has no `data` entry
/// (the GraphQL specification's request errors), anything else is sent as is.
struct Wire<'a>(&'a async_graphql::Response);

impl WriteJson for Wire<'_> {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        if !is_request_error(self.0) {
            return json::response(out, self.0);
        }
        out.extend_from_slice(b"{\"errors\":");
        serde_json::to_writer(&mut *out, &self.0.errors)?;
        if !self.0.extensions.is_empty() {
            out.extend_from_slice(b",\"extensions\":");
            serde_json::to_writer(&mut *out, &self.0.extensions)?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// A response whose errors stopped execution before it began (parse or validation errors).
fn is_request_error(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// The media type to answer in: the supported type the `Accept` header ranks highest
/// (`application/graphql-response+json` on a tie); `*/*`, `application/*` and no header at all
/// mean `application/json` (the spec's legacy default). `None` when nothing supported is acceptable.
fn accepted_type(headers: &HeaderMap) -> Option<&'static str> {
    let Some(accept) = headers.get(header::ACCEPT) else { return Some(APPLICATION_JSON) };
    let accept = accept.to_str().unwrap_or_default().to_ascii_lowercase();
    if accept.trim().is_empty() {
        return Some(APPLICATION_JSON);
    }
    let mut best: Option<(&'static str, f32, u8)> = None;
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or_default().trim();
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        // Ties go to the more specific type: graphql-response+json (2), json (1), wildcards (0).
        let candidate = match media {
            GRAPHQL_RESPONSE_JSON => (GRAPHQL_RESPONSE_JSON, 2),
            APPLICATION_JSON => (APPLICATION_JSON, 1),
            "*/*" | "application/*" => (APPLICATION_JSON, 0),
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        if best.is_none_or(|(_, bq, bs)| q > bq || (q == bq && candidate.1 > bs)) {
            best = Some((candidate.0, q, candidate.1));
        }
    }
    best.map(|(t, _, _)| t)
}

fn not_acceptable() -> Response {
    let body = serde_json::json!({ "errors": [{ "message": "answers are available as application/graphql-response+json or application/json",
        "extensions": { "code": "NOT_ACCEPTABLE" } }] });
    (StatusCode::NOT_ACCEPTABLE, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string())
        .into_response()
}

fn json_response(status: StatusCode, content_type: &'static str, body: &impl WriteJson) -> Response {
    match json::to_bytes(body) {
        Ok(bytes) => {
            let content_type = match content_type {
                GRAPHQL_RESPONSE_JSON => HeaderValue::from_static("application/graphql-response+json; charset=utf-8"),
                _ => HeaderValue::from_static("application/json; charset=utf-8"),
            };
            (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
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
    json_response(status, content_type, &Wire(&async_graphql::Response::from_errors(vec![error])))
}

fn app_error_response(content_type: &'static str, status: StatusCode, e: AppError) -> Response {
    let code = e.code();
    let gql: async_graphql::Error = e.into();
    let mut resp = error_response(status, content_type, code, &gql.message);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}
