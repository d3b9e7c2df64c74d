//! How every transport runs a request: persisted documents resolved, the limits checked, the
//! document parsed once, a tracing span and a duration per operation, and every error coded
//! and counted.
//!
//! This is not a chain of schema extensions on purpose. With any extension in the schema,
//! async-graphql sends every field through the whole chain (a boxed future per extension per
//! field, and a registry lookup of the field's type), which was most of the gateway's CPU on
//! nested pages. Measured with `cargo bench --bench load -- --ops Q1,Q3,Q4` (PostgreSQL, scale
//! 10,000, 32 connections): see the README's "Performance" section.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Data, Request, Response, ServerError, Value, Variables};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tracing::Instrument;

use super::GatewaySchema;
use super::codes::{code_errors, with_code};
use super::documents::Parsed;
use super::limits::{analyze, check_text};
use crate::app::AppState;
use crate::metrics::{GaugeGuard, Metrics};
use crate::telemetry::OperationLog;

/// What an admitted request will run.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The operation's name, from the request or the document's only operation.
    pub name: Option<String>,
    pub kind: OperationType,
    /// The parsed document and the variables, to put the response in selection order.
    doc: Arc<ExecutableDocument>,
    variables: Variables,
    /// Whether the document passed the schema's full validation before ([`execute`]).
    validated: Arc<AtomicBool>,
    /// Whether it selects each response key once per selection set, worked out once per
    /// document when it first runs ([`super::joined::RawObjects`]).
    keys_once: Arc<std::sync::OnceLock<bool>>,
}

impl Operation {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        }
    }
}

/// Whether the caller showed a valid token: only then may its documents be kept (persisted
/// query registrations, parsed documents), so that nothing anonymous costs memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Authenticated,
    Anonymous,
}

/// Resolves a persisted document, measures the text and then the parsed document against the
/// limits; the parsed document stays in the request, so the schema does not parse it again.
/// Touches no database: refused documents cost no statement.
pub fn admit(app: &AppState, request: &mut Request, admission: Admission) -> Result<Operation, ServerError> {
    let limits = &app.config.limits;
    let keep = admission == Admission::Authenticated;
    app.documents.resolve(request, keep)?;
    // The raw text is measured before anything parses it.
    check_text(&request.query, limits).map_err(|r| r.into_server_error())?;
    let variables = std::mem::take(&mut request.variables);
    let name = request.operation_name.take();
    let measured = match app.documents.parse(request, keep) {
        Ok(parsed) => analyze(&parsed.doc, &variables, limits).map_err(|r| r.into_server_error()).map(|_| parsed),
        Err(e) => Err(with_code(e, "GRAPHQL_PARSE_FAILED")),
    };
    request.variables = variables;
    request.operation_name = name;
    let Parsed { doc, validated, keys_once } = measured?;
    let (kind, own_name) = match super::order::operation(&doc, request.operation_name.as_deref()) {
        Some((own_name, op)) => {
            // async-graphql decides `@skip`/`@include` from the variables sent alone, ignoring
            // the declared defaults the spec applies first: apply them here (arguments read
            // them the same).
            for def in &op.variable_definitions {
                if let Some(default) = &def.node.default_value {
                    request.variables.entry(def.node.name.node.clone()).or_insert_with(|| default.node.clone());
                }
            }
            (op.ty, own_name.map(str::to_owned))
        }
        // An operation the document lacks is the schema's error to report; until then, a query.
        None => (OperationType::Query, None),
    };
    let variables = request.variables.clone();
    Ok(Operation { name: request.operation_name.clone().or(own_name), kind, doc, variables, validated, keys_once })
}

/// Puts the response in selection order, codes its errors and counts them.
fn finish(metrics: &Metrics, response: Response, op: Option<&Operation>) -> Response {
    let mut response = code_errors(response);
    if let Some(op) = op {
        super::order::order_response(&op.doc, op.name.as_deref(), &op.variables, &mut response.data);
    }
    metrics.errors_of(&response);
    response
}

/// Executes an admitted query or mutation, on `schema` (which validates a document in full)
/// or on `prevalidated` (which checks only what depends on the request: async-graphql's
/// `ValidationMode::Fast`).
///
/// Validating a document in full, every rule over every field on every request, was a third
/// of the instructions of a `node(id:)` lookup once its token and column list were
/// remembered (`benches/instructions.sh`). Of those rules, one reads the request
/// (`ArgumentsOfCorrectType`, which checks each argument with its variables in place); the
/// others depend on the document alone. So a document that passed them once (its parse is
/// cached and shared: [`super::documents::Parsed::validated`]) runs on `prevalidated` when
/// its variables pass that rule for certain ([`variables_plainly_valid`]); anything else
/// runs the full validation, whose errors the client gets as before.
pub async fn execute(
    app: &AppState,
    schema: &GatewaySchema,
    prevalidated: &GatewaySchema,
    request: Request,
    op: &Operation,
) -> Response {
    // Labelled only once the request runs: refused and unauthenticated requests do not take
    // any of the bounded label slots.
    let label = app.metrics.label(op.name.as_deref());
    let span = tracing::info_span!("graphql", operation = %label, kind = op.kind_name());
    let started = Instant::now();
    let known = op.validated.load(Ordering::Relaxed) && variables_plainly_valid(op);
    let schema = if known { prevalidated } else { schema };
    // Worked out here, not in `admit`: only a request that runs pays for it.
    let raw_objects = *op.keys_once.get_or_init(|| super::joined::selects_each_key_once(&op.doc));
    let request = if raw_objects { request.data(super::joined::RawObjects) } else { request };
    // SQLite's statements run on this thread: a request's reads never wait for a lock, and
    // its writes take their turn inside `transaction!` (crate::db::sqlite_runtime).
    // Boxed: async-graphql's execution is a large future, and each `async fn` that held it in
    // place copied all of it when its own future moved (into the timeout, into axum's box).
    let response = crate::db::inline(Box::pin(schema.execute(request).instrument(span))).await;
    // A document that failed validation gets no data, only errors.
    if !known && (response.errors.is_empty() || response.data != Value::Null) {
        op.validated.store(true, Ordering::Relaxed);
    }
    app.metrics.observe(&label, op.kind_name(), started.elapsed());
    finish(&app.metrics, response, Some(op))
}

/// Whether the request's variables pass the one validation rule that reads them, for certain:
/// every variable the operation declares has a value (`admit` filled in the declared
/// defaults) of a built-in scalar type that the scalar's own `is_valid` accepts, which is the
/// check `ArgumentsOfCorrectType` applies to it (null is never one of them). Where the
/// variable is used, its type is the declared one or a looser one: `VariableInAllowedPosition`
/// checked that with the document. Enums, input objects, lists, custom scalars, nulls and
/// missing values leave the decision to the full validation.
fn variables_plainly_valid(op: &Operation) -> bool {
    use async_graphql::ScalarType;
    use async_graphql::parser::types::BaseType;
    let Some((_, operation)) = super::order::operation(&op.doc, op.name.as_deref()) else { return false };
    operation.variable_definitions.iter().all(|def| {
        let def = &def.node;
        let (BaseType::Named(ty), Some(value)) = (&def.var_type.node.base, op.variables.get(&def.name.node)) else {
            return false;
        };
        match ty.as_str() {
            "ID" => <async_graphql::ID as ScalarType>::is_valid(value),
            "String" => <String as ScalarType>::is_valid(value),
            "Int" => <i32 as ScalarType>::is_valid(value),
            "Float" => <f64 as ScalarType>::is_valid(value),
            "Boolean" => <bool as ScalarType>::is_valid(value),
            _ => false,
        }
    })
}

/// Admits and executes a request of an authenticated WebSocket caller as one stream of
/// responses (a subscription's events, or a query's single answer); a refused request is one
/// response with the error. The operation is logged when the stream ends.
pub fn stream(
    app: &AppState,
    schema: &GatewaySchema,
    request: Request,
    caller: crate::auth::Caller,
    session: Option<Arc<Data>>,
) -> BoxStream<'static, Response> {
    let mut log = OperationLog::start();
    log.caller(&caller);
    let mut request = request.data(super::RequestCtx::new(caller, app));
    let op = match admit(app, &mut request, Admission::Authenticated) {
        Ok(op) => op,
        Err(e) => {
            let response = finish(&app.metrics, Response::from_errors(vec![e]), None);
            log.operation(request.operation_name.as_deref(), "-");
            log.response(&response);
            return futures_util::stream::once(std::future::ready(response)).boxed();
        }
    };
    log.operation(op.name.as_deref(), op.kind_name());
    let metrics = app.metrics.clone();
    // WebSocket callers are authenticated before they subscribe.
    let label = metrics.label(op.name.as_deref());
    let guard = (op.kind == OperationType::Subscription).then(|| GaugeGuard::new(&metrics.subscriptions));
    let started = Instant::now();
    let mut first = true;
    schema
        .execute_stream_with_session_data(request, session.unwrap_or_default())
        .map(move |response| {
            let _running = &guard;
            if first && op.kind != OperationType::Subscription {
                metrics.observe(&label, op.kind_name(), started.elapsed());
            }
            first = false;
            let response = finish(&metrics, response, Some(&op));
            log.response(&response);
            response
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn op(query: &str, variables: serde_json::Value) -> Operation {
        Operation {
            name: None,
            kind: OperationType::Query,
            doc: Arc::new(async_graphql::parser::parse_query(query).unwrap()),
            variables: Variables::from_json(variables),
            validated: Default::default(),
            keys_once: Default::default(),
        }
    }

    #[test]
    fn only_values_their_scalar_accepts_skip_the_full_validation() {
        let q = "query Q($id: ID!, $n: Int, $s: String!, $b: Boolean!, $x: Float!) { __typename }";
        let good = json!({ "id": "a", "n": 3, "s": "x", "b": true, "x": 1.5 });
        assert!(variables_plainly_valid(&op(q, good.clone())));
        assert!(variables_plainly_valid(&op(q, json!({ "id": 7, "n": 3, "s": "x", "b": false, "x": 2 }))));
        for (name, value) in [
            ("id", json!(null)),
            ("id", json!(true)),
            ("id", json!(1.5)),
            ("n", json!(null)),
            ("n", json!("3")),
            ("s", json!(5)),
            ("b", json!("true")),
            ("x", json!("1.5")),
        ] {
            let mut variables = good.clone();
            variables[name] = value;
            assert!(!variables_plainly_valid(&op(q, variables.clone())), "{variables}");
        }
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("n");
        assert!(!variables_plainly_valid(&op(q, missing)), "a missing value");
        // Types other than the built-in scalars go through the full validation.
        for (q, variables) in [
            ("query($f: CustomerFilter) { __typename }", json!({ "f": {} })),
            ("query($c: Cloud!) { __typename }", json!({ "c": "COMMERCIAL" })),
            ("query($ids: [ID!]!) { __typename }", json!({ "ids": ["a"] })),
            ("query($t: DateTime!) { __typename }", json!({ "t": "2026-12-07T00:00:00Z" })),
        ] {
            assert!(!variables_plainly_valid(&op(q, variables)), "{q}");
        }
        // No variables: nothing to check.
        assert!(variables_plainly_valid(&op("{ __typename }", json!({}))));
    }
}
