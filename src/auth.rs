//! Who is asking: agent tokens (JWTs) and the caller they resolve to.
//!
//! Tokens are verified against an HS256 secret (the gateway's own `token` command signs with
//! it) and/or the RS256/ES256 keys of a JWKS file (an identity provider's). The algorithm a
//! token names must be one its key is for: an HS256 token is never checked against a public
//! key, `none` is never accepted, and an RS/ES token needs a configured key (by `kid`, or the
//! only key of that algorithm). Issuer, audience, expiry and not-before are checked with a
//! bounded leeway; `sub` is the agent id.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::model::{AgentRole, PartnerKind};
use crate::error::{AppError, AppResult};

/// The issuer written into the gateway's own tokens and required by default.
pub const ISSUER: &str = "support-gateway";
/// The audience written into the gateway's own tokens and required by default.
pub const AUDIENCE: &str = "support-gateway";

/// How tokens are verified (see `config.rs` for the settings).
#[derive(Clone)]
pub struct AuthSettings {
    /// HS256 secret; `None` when only JWKS keys verify tokens.
    pub secret: Option<String>,
    /// A JWKS document (JSON text) of RS256/ES256 public keys.
    pub jwks: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
    /// The longest a token may be valid (`exp` − `iat`, or `exp` − now without `iat`): a leaked
    /// token must not work for years.
    pub max_lifetime: std::time::Duration,
    /// The claim of a JWKS-verified token mapped to `agents.identity`; `None`: `sub` is the
    /// agent id.
    pub identity_claim: Option<String>,
}

/// The longest token lifetime by default: 30 days, the `token` command's default.
pub const DEFAULT_MAX_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("jwks", &self.jwks.is_some())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.leeway_seconds)
            .field("max_lifetime", &self.max_lifetime)
            .field("identity_claim", &self.identity_claim)
            .finish()
    }
}

impl AuthSettings {
    /// The gateway's own HS256 tokens only, with the default issuer and audience.
    pub fn hs256(secret: String) -> AuthSettings {
        AuthSettings {
            secret: Some(secret),
            jwks: None,
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway_seconds: 30,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            identity_claim: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The agent id.
    pub sub: String,
    pub iss: String,
    pub aud: Audience,
    #[serde(default)]
    pub iat: Option<i64>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Every other claim (an identity provider's `oid`, `email` ...).
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// An agent id (`sub` of the gateway's own tokens, or of any token without a mapping claim).
    Agent(String),
    /// An identity provider's value of the mapping claim, lower case, to find in
    /// `agents.identity`.
    Mapped { claim: String, value: String },
}

impl Identity {
    /// The key callers are cached under: ids and mapped identities never collide.
    pub fn cache_key(&self) -> String {
        match self {
            Identity::Agent(id) => format!("agent:{id}"),
            Identity::Mapped { value, .. } => format!("identity:{value}"),
        }
    }
}

pub use crate::domain::admin::normalize_identity;

/// `aud` is a string or a list of strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// One public key of the JWKS.
struct PublicKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Signs (HS256) and verifies tokens.
#[derive(Clone)]
pub struct TokenKeys {
    hs256: Option<(EncodingKey, DecodingKey)>,
    public: std::sync::Arc<Vec<PublicKey>>,
    issuer: String,
    audience: String,
    leeway: u64,
    max_lifetime_seconds: i64,
    identity_claim: Option<String>,
    /// Tokens that passed [`TokenKeys::verify_claims`], shared by clones (same keys).
    verified: std::sync::Arc<VerifiedTokens>,
}

/// Tokens that verified, with what they said: a client sends the same token with every
/// request, and checking its signature and parsing its header and claims again cost ~54,000
/// instructions a request (a sixth of a `node(id:)` lookup's; `benches/instructions.sh`).
/// Only a token whose signature, issuer, audience and lifetime were checked is kept, so
/// nothing a caller without a valid token sends costs memory. A kept token is valid for as
/// long as its time claims say (a signature and the keys do not change); those are checked
/// again on every use, the same way as the first time.
#[derive(Default)]
struct VerifiedTokens {
    entries: std::sync::Mutex<std::collections::HashMap<String, Verified>>,
}

/// A verified token's claims and who it speaks for, shared: a hit clones only what its caller
/// uses.
type Verified = std::sync::Arc<(Claims, Identity)>;

/// Tokens kept before the cache starts over (a few hundred bytes each: ~2 MB at most).
const VERIFIED_TOKENS_MAX: usize = 4_096;

impl VerifiedTokens {
    /// What `token` said, if it verified before and its time claims still hold at `now`
    /// (seconds since the epoch) give or take `leeway`; an expired token is forgotten.
    fn get(&self, token: &str, now: i64, leeway: i64) -> Option<AppResult<Verified>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let verified = entries.get(token)?;
        let claims = &verified.0;
        // As jsonwebtoken checks them (`Validation::validate_exp`, `validate_nbf`).
        if claims.exp < now.saturating_sub(leeway) {
            entries.remove(token);
            return Some(Err(unauthenticated("it has expired; get a new token")));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Some(Err(unauthenticated("it is not valid yet (its `nbf` is in the future)")));
        }
        Some(Ok(verified.clone()))
    }

    fn put(&self, token: &str, verified: &Verified) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= VERIFIED_TOKENS_MAX {
            entries.clear();
        }
        entries.insert(token.to_owned(), verified.clone());
    }

    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

fn unauthenticated(detail: impl std::fmt::Display) -> AppError {
    AppError::Unauthenticated(format!("invalid token: {detail}"))
}

/// The algorithms a token may name.
const ACCEPTED: &str = "HS256, RS256 or ES256";

/// Why a token's header cannot be read, in words: its `alg` when it names one we do not take
/// (`none` among them), else that it is no JWT at all.
fn header_problem(token: &str) -> String {
    use base64::Engine;
    let header = token
        .split('.')
        .next()
        .and_then(|h| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    match header.as_ref().and_then(|h| h.get("alg")).and_then(|a| a.as_str()) {
        Some(alg) => format!("algorithm `{alg}` is not accepted (use {ACCEPTED})"),
        None => "it is not a JSON Web Token (three base64url parts: header, claims, signature)".to_owned(),
    }
}

/// What is wrong with a token, in words a user can act on (never the library's own text).
fn token_problem(e: &jsonwebtoken::errors::Error, issuer: &str, audience: &str) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "it is not a JSON Web Token (three base64url parts: header, claims, signature)".into()
        }
        ErrorKind::InvalidSignature => "its signature does not match a key this gateway trusts".into(),
        ErrorKind::ExpiredSignature => "it has expired; get a new token".into(),
        ErrorKind::ImmatureSignature => "it is not valid yet (its `nbf` is in the future)".into(),
        ErrorKind::InvalidIssuer => format!("it was issued by someone else (`iss` must be `{issuer}`)"),
        ErrorKind::InvalidAudience => format!("it is meant for another service (`aud` must be `{audience}`)"),
        ErrorKind::MissingRequiredClaim(claim) => format!("it has no `{claim}` claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("its `{claim}` claim has the wrong type"),
        ErrorKind::Json(e) => match e.to_string().strip_prefix("missing field `").and_then(|rest| rest.split_once('`'))
        {
            Some((claim, _)) => format!("it has no `{claim}` claim"),
            None => "its claims are malformed: `sub`, `iss` must be strings, `aud` a string or a list of strings, \
                     `exp`, `iat`, `nbf` numbers of seconds"
                .into(),
        },
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            format!("its algorithm does not match its key (use {ACCEPTED})")
        }
        _ => "it cannot be verified".into(),
    }
}

impl TokenKeys {
    /// HS256 with the default issuer and audience.
    pub fn new(secret: &str) -> TokenKeys {
        TokenKeys::from_settings(&AuthSettings::hs256(secret.to_owned())).expect("an HS256 secret is always usable")
    }

    /// Keys from settings; a JWKS that does not parse, or holds a key of another kind, is an error.
    pub fn from_settings(settings: &AuthSettings) -> Result<TokenKeys, String> {
        let hs256 = settings
            .secret
            .as_ref()
            .map(|s| (EncodingKey::from_secret(s.as_bytes()), DecodingKey::from_secret(s.as_bytes())));
        let mut public = Vec::new();
        if let Some(text) = &settings.jwks {
            let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("the JWKS does not parse: {e}"))?;
            for jwk in &set.keys {
                let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                    (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                    (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                        if ec.curve == EllipticCurve::P256 =>
                    {
                        Algorithm::ES256
                    }
                    (_, alg) => {
                        return Err(format!(
                            "JWKS key {:?}: only RS256 and ES256 (P-256) keys are accepted (got {alg:?})",
                            jwk.common.key_id
                        ));
                    }
                };
                let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("JWKS key {:?}: {e}", jwk.common.key_id))?;
                public.push(PublicKey { kid: jwk.common.key_id.clone(), algorithm, key });
            }
            if public.is_empty() {
                return Err("the JWKS holds no keys".into());
            }
        }
        if hs256.is_none() && public.is_empty() {
            return Err("no token secret or key is configured".into());
        }
        Ok(TokenKeys {
            hs256,
            public: std::sync::Arc::new(public),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway: settings.leeway_seconds,
            max_lifetime_seconds: i64::try_from(settings.max_lifetime.as_secs()).unwrap_or(i64::MAX),
            identity_claim: settings.identity_claim.clone(),
            verified: Default::default(),
        })
    }

    /// An HS256 token for an agent (the `token` command, tests).
    pub fn issue(&self, agent_id: &str, now: DateTime<Utc>, ttl: Duration) -> AppResult<String> {
        let (encoding, _) =
            self.hs256.as_ref().ok_or_else(|| AppError::internal("no HS256 secret is configured to sign tokens"))?;
        if ttl.num_seconds() > self.max_lifetime_seconds {
            return Err(AppError::bad_input(format!(
                "a token may be valid for at most {} hours (SG_JWT_MAX_LIFETIME_HOURS)",
                self.max_lifetime_seconds / 3600
            )));
        }
        let claims = Claims {
            sub: agent_id.to_owned(),
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
            iat: Some(now.timestamp()),
            exp: (now + ttl).timestamp(),
            nbf: None,
            other: Default::default(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, encoding).map_err(AppError::internal)
    }

    /// Verifies signature, algorithm, issuer, audience, expiry and not-before; returns who the
    /// token speaks for.
    pub fn verify(&self, token: &str) -> AppResult<Identity> {
        self.verify_shared(token).map(|verified| verified.1.clone())
    }

    /// Like `verify`, returning every claim too (a WebSocket closes when `exp` passes).
    pub fn verify_claims(&self, token: &str) -> AppResult<(Claims, Identity)> {
        self.verify_shared(token).map(|verified| verified.as_ref().clone())
    }

    /// What a token says, from the tokens kept as verified or checked in full and kept.
    fn verify_shared(&self, token: &str) -> AppResult<Verified> {
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        if let Some(known) = self.verified.get(token, now, leeway) {
            return known;
        }
        let verified = std::sync::Arc::new(self.verify_signed(token)?);
        self.verified.put(token, &verified);
        Ok(verified)
    }

    /// Tokens kept as verified (for tests).
    pub fn verified_count(&self) -> usize {
        self.verified.len()
    }

    /// Checks everything a token says: [`TokenKeys::verify_claims`] without the cache.
    fn verify_signed(&self, token: &str) -> AppResult<(Claims, Identity)> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthenticated(header_problem(token)))?;
        let key = match header.alg {
            Algorithm::HS256 => match &self.hs256 {
                Some((_, decoding)) => decoding,
                None => return Err(unauthenticated("HS256 tokens are not accepted here")),
            },
            Algorithm::RS256 | Algorithm::ES256 => {
                let mut candidates = self.public.iter().filter(|k| k.algorithm == header.alg);
                let found = match &header.kid {
                    Some(kid) => candidates.find(|k| k.kid.as_deref() == Some(kid.as_str())),
                    None => {
                        let first = candidates.next();
                        if candidates.next().is_some() { None } else { first }
                    }
                };
                &found
                    .ok_or_else(|| unauthenticated(format!("no configured {:?} key matches its `kid`", header.alg)))?
                    .key
            }
            other => return Err(unauthenticated(format!("algorithm `{other:?}` is not accepted (use {ACCEPTED})"))),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| unauthenticated(token_problem(&e, &self.issuer, &self.audience)))?;
        let from = claims.iat.unwrap_or_else(|| Utc::now().timestamp());
        if claims.exp.saturating_sub(from) > self.max_lifetime_seconds.saturating_add(self.leeway as i64) {
            return Err(unauthenticated(format!(
                "it is valid for longer than this gateway accepts ({} hours at most); issue a shorter-lived token",
                self.max_lifetime_seconds / 3600
            )));
        }
        let identity = match (&self.identity_claim, header.alg) {
            (Some(claim), Algorithm::RS256 | Algorithm::ES256) => {
                let value = match claim.as_str() {
                    "sub" => Some(claims.sub.as_str()),
                    other => claims.other.get(other).and_then(|v| v.as_str()),
                };
                let value = value.map(normalize_identity).filter(|v| !v.is_empty()).ok_or_else(|| {
                    unauthenticated(format!(
                        "it has no `{claim}` claim, which this gateway maps to its agents (SG_IDENTITY_CLAIM)"
                    ))
                })?;
                Identity::Mapped { claim: claim.clone(), value }
            }
            _ => Identity::Agent(claims.sub.clone()),
        };
        Ok((claims, identity))
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

/// Callers by identity for a few seconds: every request would otherwise read its agent and
/// partner first (one statement of the two a `node` lookup costs). A removed agent or deleted
/// partner keeps access for at most the time to live.
pub struct CallerCache {
    ttl: Duration,
    entries: std::sync::Mutex<std::collections::HashMap<String, (Caller, DateTime<Utc>)>>,
}

/// Entries kept before the cache starts over (one per active agent).
const CALLER_CACHE_MAX: usize = 10_000;

impl CallerCache {
    pub fn new(ttl: std::time::Duration) -> CallerCache {
        CallerCache { ttl: Duration::from_std(ttl).unwrap_or(Duration::zero()), entries: Default::default() }
    }

    pub fn get(&self, key: &str, now: DateTime<Utc>) -> Option<Caller> {
        if self.ttl <= Duration::zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(_, expires)| *expires > now).map(|(c, _)| c.clone())
    }

    pub fn put(&self, key: String, caller: Caller, now: DateTime<Utc>) {
        if self.ttl <= Duration::zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CALLER_CACHE_MAX {
            entries.clear();
        }
        entries.insert(key, (caller, now + self.ttl));
    }
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
        assert_eq!(keys.verify(&token).unwrap(), Identity::Agent("agent-1".into()));
        let other = TokenKeys::new("another-secret-another-secret-000");
        assert!(matches!(other.verify(&token), Err(AppError::Unauthenticated(_))));
        let expired = keys.issue("agent-1", Utc::now() - Duration::hours(3), Duration::hours(1)).unwrap();
        assert!(keys.verify(&expired).is_err());
    }

    #[test]
    fn verified_tokens_are_kept_and_their_time_claims_checked_on_every_use() {
        let keys = TokenKeys::new("0123456789abcdef0123456789abcdef");
        let token = keys.issue("agent-1", Utc::now(), Duration::hours(1)).unwrap();
        // Refused tokens are not kept: a wrong signature, an expired token.
        let other = TokenKeys::new("another-secret-another-secret-000");
        assert!(keys.verify(&other.issue("agent-1", Utc::now(), Duration::hours(1)).unwrap()).is_err());
        assert!(
            keys.verify(&keys.issue("agent-1", Utc::now() - Duration::hours(3), Duration::hours(1)).unwrap()).is_err()
        );
        assert_eq!(keys.verified_count(), 0);
        assert_eq!(keys.verify(&token).unwrap(), Identity::Agent("agent-1".into()));
        assert_eq!(keys.verified_count(), 1);
        // Clones share it; the second use reads it (the same claims).
        let (claims, identity) = keys.clone().verify_claims(&token).unwrap();
        assert_eq!((claims.sub.as_str(), identity), ("agent-1", Identity::Agent("agent-1".into())));
        assert_eq!(keys.verified_count(), 1);
        // Once its `exp` has passed (beyond the leeway), a kept token is refused and forgotten.
        let now = Utc::now().timestamp();
        assert!(keys.verified.get(&token, now + 3_600 + 59, 60).unwrap().is_ok());
        let expired = keys.verified.get(&token, now + 3_600 + 120, 60).unwrap();
        assert!(matches!(expired, Err(AppError::Unauthenticated(m)) if m.contains("expired")));
        assert_eq!(keys.verified_count(), 0);
        // A token whose `nbf` is ahead of the clock is refused while it is.
        let mut early = claims.clone();
        early.nbf = Some(now + 600);
        keys.verified.put("early", &std::sync::Arc::new((early, Identity::Agent("agent-1".into()))));
        assert!(keys.verified.get("early", now, 60).unwrap().is_err());
        assert!(keys.verified.get("early", now + 600, 60).unwrap().is_ok());
    }

    #[test]
    fn verified_tokens_are_bounded() {
        let keys = TokenKeys::new("0123456789abcdef0123456789abcdef");
        let token = keys.issue("agent-1", Utc::now(), Duration::hours(1)).unwrap();
        let verified = std::sync::Arc::new(keys.verify_claims(&token).unwrap());
        for i in 0..VERIFIED_TOKENS_MAX + 10 {
            keys.verified.put(&format!("token-{i}"), &verified);
            assert!(keys.verified_count() <= VERIFIED_TOKENS_MAX);
        }
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
