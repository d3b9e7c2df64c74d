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
    /// `SERVICE_UNAVAILABLE`: the database cannot be reached right now; retrying may succeed.
    Unavailable(String),
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
            AppError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The message sent to the client: internal details are never part of it.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(m) | AppError::Forbidden(m) | AppError::NotFound(m) | AppError::BadUserInput(m) => m.clone(),
            AppError::Unavailable(_) => "the service is temporarily unavailable".to_owned(),
            AppError::Internal(_) => "internal error".to_owned(),
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
    fn from(e: diesel::result::Error) -> Self {
        AppError::Internal(format!("database: {e}"))
    }
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
            _ => {}
        }
        let code = e.code();
        async_graphql::Error::new(e.message()).extend_with(|_, ext| ext.set("code", code))
    }
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
    fn internal_detail_is_never_sent() {
        let gql: async_graphql::Error = AppError::internal("password=hunter2 in SQL").into();
        assert_eq!(gql.message, "internal error");
    }
}
