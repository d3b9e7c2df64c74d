//! Errors, and which type to use where.
//!
//! - Resolvers, loaders and repositories return [`AppResult`]; [`AppError`] is the one error
//!   type that crosses layers. Each variant documents the `extensions.code` it is served with.
//! - Database and pool failures convert into [`AppError::Internal`] with `?`: the detail is
//!   logged once, when the error becomes a GraphQL error, and the client sees a generic message.
//! - Domain code (`crate::domain`) has its own small error types and never sees this one.

use async_graphql::ErrorExtensions;

pub type AppResult<T> = Result<T, AppError>;

///
/// It deliberately does not implement `Display`: async-graphql converts any `Display` error
/// into a GraphQL error without `extensions.code`, and the `From` below must be the only way.
#[derive(Debug, Clone)]
pub enum AppError {
    /// `UNAUTHENTICATED`: no token, or a token that does not name a live agent.
    Unauthenticated(String),
    /// `FORBIDDEN`: the agent is known but its role may not do this.
    Forbidden(String),
    /// `NOT_FOUND`: nothing with that id is visible to the caller (including other partners' data).
    NotFound(String),
    /// `BAD_USER_INPUT`: the arguments are malformed or out of range.
    BadUserInput(String),
    /// `POLICY_REFUSED`: a rule of the filing process refuses the request. `extensions.rule`
    /// names the first rule; `extensions.violations` lists every one with its help.
    PolicyRefused(Vec<crate::domain::policy::Refusal>),
    /// `CONFLICT`: the object changed since the caller read it (`extensions.currentVersion`),
    /// or an idempotency key was reused for a different request.
    Conflict { message: String, current_version: Option<i64> },
    /// `INVALID_TRANSITION`: the status change is not allowed from the current status;
    /// `extensions.allowed` lists the statuses that are.
    InvalidTransition { message: String, allowed: Vec<String> },
    /// `BAD_REQUEST`: the HTTP request is not a well-formed GraphQL request.
    BadRequest(String),
    /// `METHOD_NOT_ALLOWED`: a mutation sent with GET.
    MethodNotAllowed(String),
    /// `TIMEOUT`: the request ran longer than the execution timeout and was stopped.
    Timeout(std::time::Duration),
    /// `SERVICE_UNAVAILABLE`: the database cannot be reached right now; retrying may succeed.
    Unavailable(String),
    /// `SERVICE_UNAVAILABLE`: the SQLite file was deleted or replaced under the running gateway;
    /// writes are refused (they would be lost) until an operator restarts it.
    DatabaseFileLost(String),
    /// `INTERNAL`: a bug or an unexpected failure; the detail is logged, never sent.
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadUserInput(_) => "BAD_USER_INPUT",
            AppError::PolicyRefused(refusals)
                if refusals.iter().all(|r| r.rule == crate::domain::policy::Rule::Access) =>
            {
                "FORBIDDEN"
            }
            AppError::PolicyRefused(_) => "POLICY_REFUSED",
            AppError::Conflict { .. } => "CONFLICT",
            AppError::InvalidTransition { .. } => "INVALID_TRANSITION",
            AppError::BadRequest(_) => "BAD_REQUEST",
            AppError::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            AppError::Timeout(_) => "TIMEOUT",
            AppError::Unavailable(_) | AppError::DatabaseFileLost(_) => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The message sent to the client: internal details are never part of it.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::BadUserInput(m) => m.clone(),
            AppError::PolicyRefused(refusals) => {
                let mut message =
                    refusals.iter().map(|r| format!("{}: {}", r.rule.id(), r.message)).collect::<Vec<_>>().join("; ");
                message.insert_str(0, "refused by the partner-support policy: ");
                message
            }
            AppError::Conflict { message, .. } | AppError::InvalidTransition { message, .. } => message.clone(),
            AppError::BadRequest(m) | AppError::MethodNotAllowed(m) => m.clone(),
            AppError::Timeout(limit) => {
                format!("the request took longer than {} ms and was stopped", limit.as_millis())
            }
            AppError::Unavailable(_) => "the service is temporarily unavailable".to_owned(),
            AppError::DatabaseFileLost(_) => "the gateway's database file was deleted or replaced while it ran; \
                                              writes are refused until the gateway is restarted"
                .to_owned(),
            AppError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The whole story, for logs and the command line: the detail behind the generic message
    /// of `INTERNAL` and `SERVICE_UNAVAILABLE`, the message otherwise.
    pub fn detail(&self) -> String {
        match self {
            AppError::Internal(detail) | AppError::Unavailable(detail) | AppError::DatabaseFileLost(detail) => {
                detail.clone()
            }
            other => other.message(),
        }
    }

    /// Puts what was being done (and what to do about it) in front of the detail.
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        match self {
            AppError::Internal(detail) => AppError::Internal(format!("{what}: {detail}")),
            AppError::Unavailable(detail) => AppError::Unavailable(format!("{what}: {detail}")),
            other => other,
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal(detail.to_string())
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        AppError::BadUserInput(message.into())
    }
}

impl From<diesel::result::Error> for AppError {
    /// A lost connection, a locked SQLite file or a server shutting down may pass on retry:
    /// `SERVICE_UNAVAILABLE`. Anything else is a bug or a constraint the code should have
    /// checked first: `INTERNAL`.
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &e {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _)
            | Error::BrokenTransactionManager => AppError::Unavailable(format!("database connection: {e}")),
            Error::DatabaseError(_, info) if is_transient_message(info.message()) => {
                AppError::Unavailable(format!("database: {e}"))
            }
            _ => AppError::Internal(format!("database: {e}")),
        }
    }
}

/// Messages of failures that retrying can cure: SQLite's lock (after its busy timeout) and
/// PostgreSQL shutting down or refusing connections.
fn is_transient_message(message: &str) -> bool {
    [
        "database is locked",
        "database is busy",
        "database table is locked",
        "terminating connection",
        "the database system is",
    ]
    .iter()
    .any(|m| message.contains(m))
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        AppError::Unavailable(format!("database pool: {e}"))
    }
}

impl From<crate::domain::model::UnknownVariant> for AppError {
    /// A stored value the code does not know is a bug or a migration gap, not the user's fault.
    fn from(e: crate::domain::model::UnknownVariant) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        match &e {
            AppError::Internal(detail) => tracing::error!(error.detail = %detail, "internal error"),
            AppError::Unavailable(detail) => tracing::warn!(error.detail = %detail, "service unavailable"),
            AppError::DatabaseFileLost(detail) => tracing::error!(error.detail = %detail, "database file lost"),
            _ => {}
        }
        let code = e.code();
        async_graphql::Error::new(e.message()).extend_with(|_, ext| {
            ext.set("code", code);
            match &e {
                AppError::PolicyRefused(refusals) => {
                    if let Some(first) = refusals.first() {
                        ext.set("rule", first.rule.id());
                        ext.set("help", help_of(first));
                        if let Some(isv) = refusals.iter().find_map(|r| r.isv.as_ref()) {
                            ext.set("isvSupport", isv_value(isv));
                        }
                    }
                    let list: Vec<async_graphql::Value> = refusals.iter().map(refusal_value).collect();
                    ext.set("violations", async_graphql::Value::List(list));
                }
                AppError::Conflict { current_version: Some(v), .. } => ext.set("currentVersion", *v),
                AppError::InvalidTransition { allowed, .. } => ext.set(
                    "allowed",
                    async_graphql::Value::List(
                        allowed.iter().map(|s| async_graphql::Value::from(s.as_str())).collect(),
                    ),
                ),
                _ => {}
            }
        })
    }
}

fn isv_value(isv: &crate::domain::policy::MarketplaceProductFacts) -> async_graphql::Value {
    let opt = |v: &Option<String>| v.as_deref().map_or(async_graphql::Value::Null, async_graphql::Value::from);
    let mut map = async_graphql::indexmap::IndexMap::new();
    map.insert(async_graphql::Name::new("product"), async_graphql::Value::from(isv.name.as_str()));
    map.insert(async_graphql::Name::new("publisher"), async_graphql::Value::from(isv.publisher.as_str()));
    map.insert(async_graphql::Name::new("websiteUrl"), opt(&isv.website_url));
    map.insert(async_graphql::Name::new("email"), opt(&isv.email));
    map.insert(async_graphql::Name::new("phone"), opt(&isv.phone));
    async_graphql::Value::Object(map)
}

/// A refusal's help, pointing at the rule's section of the repository's rules document.
fn help_of(r: &crate::domain::policy::Refusal) -> String {
    format!("{} (rule {} in docs/rules.md)", r.help, r.rule.id())
}

fn refusal_value(r: &crate::domain::policy::Refusal) -> async_graphql::Value {
    let mut map = async_graphql::indexmap::IndexMap::new();
    map.insert(async_graphql::Name::new("rule"), async_graphql::Value::from(r.rule.id()));
    map.insert(async_graphql::Name::new("message"), async_graphql::Value::from(r.message.as_str()));
    map.insert(async_graphql::Name::new("help"), async_graphql::Value::from(help_of(r)));
    map.insert(
        async_graphql::Name::new("alternatives"),
        async_graphql::Value::List(r.alternatives.iter().map(|a| async_graphql::Value::from(a.as_str())).collect()),
    );
    async_graphql::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(e: AppError) -> String {
        let gql: async_graphql::Error = e.into();
        let ext = gql.extensions.expect("extensions");
        ext.get("code").map(|v| v.to_string()).unwrap_or_default()
    }

    #[test]
    fn every_variant_maps_to_its_code() {
        assert_eq!(code_of(AppError::Unauthenticated("x".into())), "\"UNAUTHENTICATED\"");
        assert_eq!(code_of(AppError::Forbidden("x".into())), "\"FORBIDDEN\"");
        assert_eq!(code_of(AppError::NotFound("x".into())), "\"NOT_FOUND\"");
        assert_eq!(code_of(AppError::BadUserInput("x".into())), "\"BAD_USER_INPUT\"");
        assert_eq!(code_of(AppError::Unavailable("x".into())), "\"SERVICE_UNAVAILABLE\"");
        assert_eq!(code_of(AppError::Internal("x".into())), "\"INTERNAL\"");
    }

    #[test]
    fn the_detail_is_kept_for_logs_and_the_command_line() {
        let e = AppError::Unavailable("connection refused".into()).context("connecting to postgres://db");
        assert_eq!(e.detail(), "connecting to postgres://db: connection refused");
        let gql: async_graphql::Error = e.into();
        assert_eq!(gql.message, "the service is temporarily unavailable");
        assert_eq!(AppError::bad_input("x").context("y").detail(), "x");
    }

    #[test]
    fn internal_detail_is_never_sent() {
        let gql: async_graphql::Error = AppError::internal("password=hunter2 in SQL").into();
        assert_eq!(gql.message, "internal error");
    }
}
