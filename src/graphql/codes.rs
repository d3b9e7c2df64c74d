//! Every error leaves with an `extensions.code`. Errors of the gateway's own (`AppError`, the
//! limits, persisted documents) carry one already; this extension codes the rest, which
//! async-graphql raises itself: validation (`GRAPHQL_VALIDATION_FAILED`) and input coercion
//! during execution (`BAD_USER_INPUT`). Anything else uncoded is a bug: `INTERNAL`.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe};
use async_graphql::Response;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

/// The code of an error async-graphql raised without one, by its message.
fn code_for(message: &str, before_execution: bool) -> &'static str {
    if before_execution {
        "GRAPHQL_VALIDATION_FAILED"
    } else if ["Failed to parse", "Invalid value", "Variable ", "Expected input type"].iter().any(|p| message.starts_with(p)) {
        "BAD_USER_INPUT"
    } else {
        "INTERNAL"
    }
}

/// Adds a code to every error of a response that lacks one.
pub fn code_errors(mut response: Response) -> Response {
    let before_execution = response.data == async_graphql::Value::Null && response.errors.iter().all(|e| e.path.is_empty());
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

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        code_errors(next.run(ctx).await)
    }

    fn subscribe<'s>(&self, ctx: &ExtensionContext<'_>, stream: BoxStream<'s, Response>, next: NextSubscribe<'_>) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(code_errors).boxed()
    }
}
