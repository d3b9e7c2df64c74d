//! Every error leaves with an `extensions.code`. Errors of the gateway's own (`AppError`, the
//! limits, persisted documents) carry one already; [`code_errors`] codes the rest, which
//! async-graphql raises itself: validation (`GRAPHQL_VALIDATION_FAILED`) and input coercion
//! during execution (`BAD_USER_INPUT`). Anything else uncoded is a bug: `INTERNAL`.

use async_graphql::{Response, ServerError};

/// The code of an error async-graphql raised without one, by its message.
fn code_for(message: &str, before_execution: bool) -> &'static str {
    if before_execution {
        "GRAPHQL_VALIDATION_FAILED"
    } else if ["Failed to parse", "Invalid value", "Variable ", "Expected input type"]
        .iter()
        .any(|p| message.starts_with(p))
    {
        "BAD_USER_INPUT"
    } else {
        "INTERNAL"
    }
}

/// Adds a code to every error of a response that lacks one.
pub fn code_errors(mut response: Response) -> Response {
    let before_execution =
        response.data == async_graphql::Value::Null && response.errors.iter().all(|e| e.path.is_empty());
    for error in &mut response.errors {
        let code = code_for(&error.message, before_execution);
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            if code == "INTERNAL" {
                tracing::error!(error.detail = %error.message, "an error without a code");
            }
            ext.set("code", code);
        }
    }
    response
}

/// An error with the given code (kept if it has one).
pub fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let ext = error.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    error
}
