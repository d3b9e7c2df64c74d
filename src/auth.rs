//! Who is asking: agent tokens (HS256 JWTs) and the caller they resolve to.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::model::{AgentRole, PartnerKind};
use crate::error::{AppError, AppResult};

/// The issuer written into and required of every token.
pub const ISSUER: &str = "support-gateway";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The agent id.
    pub sub: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    pub fn new(secret: &str) -> TokenKeys {
        TokenKeys { encoding: EncodingKey::from_secret(secret.as_bytes()), decoding: DecodingKey::from_secret(secret.as_bytes()) }
    }

    pub fn issue(&self, agent_id: &str, now: DateTime<Utc>, ttl: Duration) -> AppResult<String> {
        let claims = Claims { sub: agent_id.to_owned(), iss: ISSUER.to_owned(), iat: now.timestamp(), exp: (now + ttl).timestamp() };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(AppError::internal)
    }

    /// Verifies signature, algorithm, issuer and expiry; returns the agent id.
    pub fn verify(&self, token: &str) -> AppResult<String> {
        self.verify_claims(token).map(|c| c.sub)
    }

    /// Like `verify`, returning every claim (a WebSocket closes when `exp` passes).
    pub fn verify_claims(&self, token: &str) -> AppResult<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| AppError::Unauthenticated(format!("invalid token: {e}")))
    }
}

/// The agent a request runs as, and its partner.
#[derive(Debug, Clone)]
pub struct Caller {
    pub agent_id: String,
    pub agent_email: String,
    pub role: AgentRole,
    pub partner_id: String,
    pub partner_kind: PartnerKind,
}

/// The bearer token of an `Authorization` header value, if it has one.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::new("0123456789abcdef0123456789abcdef");
        let token = keys.issue("agent-1", Utc::now(), Duration::hours(1)).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), "agent-1");
        let other = TokenKeys::new("another-secret-another-secret-000");
        assert!(matches!(other.verify(&token), Err(AppError::Unauthenticated(_))));
        let expired = keys.issue("agent-1", Utc::now() - Duration::hours(3), Duration::hours(1)).unwrap();
        assert!(keys.verify(&expired).is_err());
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
