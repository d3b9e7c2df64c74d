//! Calls to Microsoft: the one HTTP client every source uses, with its manners. It signs in with
//! the OAuth 2.0 client-credentials grant (a token per tenant, reused until shortly before it
//! expires), keeps to a configured request rate, puts a timeout on every call, waits out `429`
//! for as long as `Retry-After` says, and retries `5xx`, timeouts and dropped connections with
//! exponential backoff and jitter. What it cannot get past becomes an [`UpstreamError`].

pub mod azure_support;
pub mod graph;
pub mod partner_center;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

/// How to reach one upstream API and sign in to it.
#[derive(Clone)]
pub struct UpstreamSettings {
    /// The API's base URL, e.g. `https://api.partnercenter.microsoft.com/v1`.
    pub base_url: String,
    /// The identity platform, e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    /// The partner's own tenant (tokens for calls made as the partner).
    pub tenant: String,
    pub client_id: String,
    /// Never logged, never shown by `Debug`.
    pub client_secret: String,
    /// The scope asked for, e.g. `https://api.partnercenter.microsoft.com/.default`.
    pub scope: String,
    /// At most this many calls a second, spread evenly.
    pub requests_per_second: u32,
    /// The bound on each call, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Retries of one call after `5xx`, timeouts and network errors.
    pub max_retries: usize,
    /// The longest `Retry-After` obeyed; a longer one fails the call as throttled.
    pub max_retry_after: Duration,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("base_url", &self.base_url)
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("requests_per_second", &self.requests_per_second)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why an upstream call failed, after the client did what it could.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream refused the call for good (`4xx` other than `429`): retrying won't help.
    #[error("{service} refused the call ({status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Rejected { service: &'static str, status: u16, code: Option<String>, message: String },
    /// Signing in failed: wrong client id or secret, unknown tenant, identity platform away.
    #[error("signing in to {service} failed: {message}")]
    SignIn { service: &'static str, message: String },
    /// Still throttled, or unreachable, after the retries (`5xx`, timeouts, dropped connections).
    #[error("{service} is unavailable: {message}")]
    Unavailable { service: &'static str, message: String },
}

impl UpstreamError {
    /// Worth trying again later (the call itself was fine).
    pub fn is_transient(&self) -> bool {
        !matches!(self, UpstreamError::Rejected { .. })
    }
}

/// What the gateway did with Microsoft, for `/metrics` (`sg_upstream_*`, `sg_sync_*`,
/// `sg_outbox_*`) and tests. One set per process, shared by every client, sync and outbox.
#[derive(Debug, Default)]
pub struct UpstreamStats {
    /// Calls sent (each retry counts).
    pub calls: Counter,
    /// Answers that were `429`.
    pub throttled: Counter,
    /// Time spent waiting out `Retry-After`.
    pub throttled_wait_seconds: Counter<f64, AtomicU64>,
    /// Retries after `5xx`, timeouts or network errors.
    pub retries: Counter,
    /// Tokens fetched from the identity platform.
    pub tokens: Counter,
    /// Objects read by sync (created, updated or unchanged).
    pub objects_synced: Counter,
    /// Sync passes that stopped on an error.
    pub sync_errors: Counter,
    /// When the last sync pass finished, in seconds since the epoch: the lag is now minus this.
    pub last_sync_success: Gauge,
    /// Requests filed at Microsoft by the outbox, refused there, and attempts put off.
    pub outbox_filed: Counter,
    pub outbox_rejected: Counter,
    pub outbox_deferred: Counter,
}

impl UpstreamStats {
    /// Registers every series in `registry`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register("upstream_calls", "Calls sent to Microsoft's APIs, retries included", self.calls.clone());
        registry.register("upstream_throttled", "Answers from Microsoft that were 429", self.throttled.clone());
        registry.register(
            "upstream_throttled_wait_seconds",
            "Time spent waiting out Retry-After",
            self.throttled_wait_seconds.clone(),
        );
        registry.register(
            "upstream_retries",
            "Upstream calls retried after 5xx or network errors",
            self.retries.clone(),
        );
        registry.register("upstream_tokens", "Tokens fetched from the identity platform", self.tokens.clone());
        registry.register("sync_objects", "Objects read by sync", self.objects_synced.clone());
        registry.register("sync_errors", "Sync passes stopped by an error", self.sync_errors.clone());
        registry.register(
            "sync_last_success_timestamp_seconds",
            "When the last sync pass finished (the lag is now minus this)",
            self.last_sync_success.clone(),
        );
        registry.register("outbox_filed", "Requests filed at Microsoft", self.outbox_filed.clone());
        registry.register("outbox_rejected", "Requests Microsoft refused", self.outbox_rejected.clone());
        registry.register(
            "outbox_deferred",
            "Filing attempts put off after a passing failure",
            self.outbox_deferred.clone(),
        );
    }
}

struct CachedToken {
    secret: String,
    /// Renewed after this instant: a minute before it expires, or halfway for short tokens.
    renew_at: Instant,
}

type Pacer = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
    governor::middleware::NoOpMiddleware,
>;

/// A signed-in HTTP client for one upstream API.
pub struct UpstreamClient {
    service: &'static str,
    settings: UpstreamSettings,
    http: reqwest::Client,
    /// The identity platform's client; it must not follow redirects.
    oauth_http: reqwest::Client,
    tokens: Mutex<HashMap<String, CachedToken>>,
    pacer: Pacer,
    pub stats: Arc<UpstreamStats>,
    /// Calls in another tenant carry the partner's own token as well
    /// (`x-ms-authorization-auxiliary`), as Azure Resource Manager wants for a CSP partner
    /// acting in its customer's tenant.
    auxiliary: bool,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient").field("service", &self.service).field("settings", &self.settings).finish()
    }
}

/// One answer: its status and its parsed body.
#[derive(Debug)]
pub struct Answer<T> {
    pub status: u16,
    pub body: T,
}

impl UpstreamClient {
    pub fn new(service: &'static str, settings: UpstreamSettings) -> Result<UpstreamClient, String> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("support-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let oauth_http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let rate = NonZeroU32::new(settings.requests_per_second.max(1)).expect("at least one");
        let pacer = governor::RateLimiter::direct(governor::Quota::per_second(rate).allow_burst(NonZeroU32::MIN));
        Ok(UpstreamClient {
            service,
            settings,
            http,
            oauth_http,
            tokens: Mutex::new(HashMap::new()),
            pacer,
            stats: Arc::new(UpstreamStats::default()),
            auxiliary: false,
        })
    }

    /// The same client counting into the process's shared `stats` (`/metrics`).
    /// Calls in a customer's tenant also carry the partner's token (see `auxiliary`).
    pub fn with_auxiliary_partner_token(mut self) -> UpstreamClient {
        self.auxiliary = true;
        self
    }

    pub fn with_stats(mut self, stats: Arc<UpstreamStats>) -> UpstreamClient {
        self.stats = stats;
        self
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// A token for `tenant` (the partner's own when `None`), from the cache while it is fresh.
    async fn token(&self, tenant: Option<&str>) -> Result<String, UpstreamError> {
        let tenant = tenant.unwrap_or(&self.settings.tenant).to_owned();
        let mut tokens = self.tokens.lock().await;
        if let Some(t) = tokens.get(&tenant)
            && Instant::now() < t.renew_at
        {
            return Ok(t.secret.clone());
        }
        let sign_in = |message: String| UpstreamError::SignIn { service: self.service, message };
        let url = format!("{}/{}/oauth2/v2.0/token", self.settings.authority.trim_end_matches('/'), tenant);
        let client = BasicClient::new(ClientId::new(self.settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.settings.client_secret.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::new(url).map_err(|e| sign_in(format!("the authority URL is not valid: {e}")))?);
        self.stats.tokens.inc();
        let answer = client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.settings.scope.clone()))
            .request_async(&self.oauth_http)
            .await
            .map_err(|e| sign_in(describe_token_error(&e)))?;
        let lifetime = answer.expires_in().unwrap_or(Duration::from_secs(300));
        let early = if lifetime > Duration::from_secs(120) { Duration::from_secs(60) } else { lifetime / 2 };
        let secret = answer.access_token().secret().clone();
        tokens.insert(tenant, CachedToken { secret: secret.clone(), renew_at: Instant::now() + lifetime - early });
        Ok(secret)
    }

    async fn forget_token(&self, tenant: Option<&str>) {
        self.tokens.lock().await.remove(tenant.unwrap_or(&self.settings.tenant));
    }

    /// The absolute URL of `path`: a path under the base URL, or an absolute URL as given (a
    /// `nextLink`). Partner Center's links sometimes repeat the `/v1` of the base; that is
    /// dropped.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_owned();
        }
        let base = self.settings.base_url.trim_end_matches('/');
        let mut path = path.trim_start_matches('/');
        if let Some((_, version)) = base.rsplit_once('/')
            && let Some(rest) = path.strip_prefix(version).and_then(|r| r.strip_prefix('/'))
        {
            path = rest;
        }
        format!("{base}/{path}")
    }

    /// Sends one call (retrying as the module says) and parses the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        tenant: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer<T>, UpstreamError> {
        self.call_with(method, tenant, path, headers, body, self.settings.max_retries).await
    }

    /// Like `call`, but a call that may have reached the upstream (a `5xx`, a timeout, a dropped
    /// connection) is not sent again: for writes the upstream cannot recognise as repeats,
    /// whose caller first looks for what an earlier attempt did. Throttling (`429`) and a
    /// refused token (`401`) are still waited out and retried: those calls did nothing.
    pub async fn call_unrepeated<T: DeserializeOwned>(
        &self,
        method: Method,
        tenant: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer<T>, UpstreamError> {
        self.call_with(method, tenant, path, headers, body, 0).await
    }

    async fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        tenant: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        retries: usize,
    ) -> Result<Answer<T>, UpstreamError> {
        let url = self.url(path);
        let unavailable = |message: String| UpstreamError::Unavailable { service: self.service, message };
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(30))
            .with_jitter()
            .with_max_times(retries)
            .build();
        // Partner Center: the same MS-RequestId on a retry lets it recognise the call. A caller
        // that retries across calls (the outbox) passes its own.
        let own_id = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("MS-RequestId")).map(|(_, v)| v.to_string());
        let request_id = own_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut signed_in_again = false;
        loop {
            self.pacer.until_ready().await;
            let token = self.token(tenant).await?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .header("Accept", "application/json")
                .header("MS-RequestId", &request_id)
                .header("MS-CorrelationId", &request_id);
            if self.auxiliary
                && let Some(other) = tenant.filter(|t| *t != self.settings.tenant)
            {
                let own = self.token(None).await?;
                request = request.header("x-ms-authorization-auxiliary", format!("Bearer {own}"));
                tracing::trace!(tenant = other, "calling in a customer's tenant with the partner's token");
            }
            for (k, v) in headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("MS-RequestId")) {
                request = request.header(*k, *v);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            self.stats.calls.inc();
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        let bytes = match response.bytes().await {
                            Ok(b) => b,
                            Err(e) => {
                                self.retry_or(&mut delays, unavailable(format!("reading the answer: {e}"))).await?;
                                continue;
                            }
                        };
                        let text: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
                        let body = serde_json::from_slice(text).map_err(|e| UpstreamError::Rejected {
                            service: self.service,
                            status: status.as_u16(),
                            code: Some("UNEXPECTED_ANSWER".into()),
                            message: format!("the answer to {method} {url} is not what its documentation says: {e}"),
                        })?;
                        return Ok(Answer { status: status.as_u16(), body });
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        self.stats.throttled.inc();
                        let wait = retry_after(&response).unwrap_or(Duration::from_secs(1));
                        if wait > self.settings.max_retry_after {
                            return Err(unavailable(format!(
                                "throttled: it asks to wait {} s, more than the {} s allowed",
                                wait.as_secs(),
                                self.settings.max_retry_after.as_secs()
                            )));
                        }
                        tracing::info!(service = self.service, wait_ms = wait.as_millis() as u64, "throttled; waiting");
                        self.stats.throttled_wait_seconds.inc_by(wait.as_secs_f64());
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if status == StatusCode::UNAUTHORIZED && !signed_in_again {
                        // The token was revoked or expired early: sign in again, once.
                        signed_in_again = true;
                        self.forget_token(tenant).await;
                        continue;
                    }
                    let transient = status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT;
                    let text = response.text().await.unwrap_or_default();
                    let (code, message) = error_of(&text);
                    if !transient {
                        return Err(UpstreamError::Rejected {
                            service: self.service,
                            status: status.as_u16(),
                            code,
                            message: message.unwrap_or_else(|| status.to_string()),
                        });
                    }
                    unavailable(format!("{status}: {}", message.unwrap_or_default()))
                }
                Err(e) => unavailable(describe_send_error(e)),
            };
            self.retry_or(&mut delays, failure).await?;
        }
    }

    /// Sleeps the next backoff delay, or gives up with `failure` when the retries are spent.
    async fn retry_or(
        &self,
        delays: &mut impl Iterator<Item = Duration>,
        failure: UpstreamError,
    ) -> Result<(), UpstreamError> {
        match delays.next() {
            Some(delay) => {
                tracing::debug!(service = self.service, error = %failure, delay_ms = delay.as_millis() as u64, "retrying");
                self.stats.retries.inc();
                tokio::time::sleep(delay).await;
                Ok(())
            }
            None => Err(failure),
        }
    }
}

/// `Retry-After` in seconds (the form Microsoft's APIs send) or as an HTTP date.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Some(Duration::from_secs_f64(seconds.clamp(0.0, 86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default())
}

/// The code and message of an error body: Partner Center's `{code, description}`, Azure's
/// `{error: {code, message}}`, or the throttling answer's `{statusCode, message}`.
fn error_of(text: &str) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        let t = text.trim();
        return (None, (!t.is_empty()).then(|| t.chars().take(500).collect()));
    };
    let v = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
    let s =
        |k: &str| v.get(k).and_then(|x| x.as_str().map(str::to_owned).or_else(|| x.as_i64().map(|n| n.to_string())));
    (s("code"), s("description").or_else(|| s("message")))
}

fn describe_send_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        format!("could not connect: {}", e.without_url())
    } else {
        format!("the connection failed: {}", e.without_url())
    }
}

fn describe_token_error<RE: std::error::Error + 'static>(
    e: &oauth2::RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> String {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => format!(
            "{}{}; check the client id, the secret and the tenant",
            r.error(),
            r.error_description().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        oauth2::RequestTokenError::Request(inner) => format!("the identity platform is unreachable: {inner}"),
        oauth2::RequestTokenError::Parse(inner, _) => format!("the identity platform's answer is unreadable: {inner}"),
        oauth2::RequestTokenError::Other(m) => m.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_apis() {
        assert_eq!(
            error_of(r#"{"code":"600008","description":"The customer was not found","source":"PartnerFD"}"#),
            (Some("600008".into()), Some("The customer was not found".into()))
        );
        assert_eq!(
            error_of(r#"{"error":{"code":"BadRequest","message":"Invalid problemClassificationId"}}"#),
            (Some("BadRequest".into()), Some("Invalid problemClassificationId".into()))
        );
        assert_eq!(
            error_of(r#"{"statusCode":429,"message":"Rate limit is exceeded."}"#),
            (None, Some("Rate limit is exceeded.".into()))
        );
        assert_eq!(error_of("Bad gateway"), (None, Some("Bad gateway".into())));
    }
}
