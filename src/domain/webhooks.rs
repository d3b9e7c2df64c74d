//! Outbound webhooks: what an endpoint may be, how a payload is signed, and when a failed
//! delivery is tried again. Pure: the worker that sends them is `crate::webhooks`.
//!
//! Signing follows the scheme receivers know from Stripe and Svix: the gateway sends
//! `Webhook-Timestamp: <unix seconds>` and `Webhook-Signature: v1=<hex HMAC-SHA256>` of
//! `"<timestamp>.<body>"` under the endpoint's secret. A receiver recomputes it, compares in
//! constant time, and refuses a timestamp too far from its own clock, so a captured delivery
//! cannot be replayed later. `Webhook-Id` is the same on every attempt of one delivery, so a
//! receiver can also drop duplicates (delivery is at least once).

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a receiver should let a timestamp be from its clock (what [`verify`] allows).
pub const TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// Attempts before a delivery is given up (`FAILED`): with [`retry_delay`], about a day.
pub const MAX_ATTEMPTS: i64 = 34;

/// The longest URL an endpoint may have.
const MAX_URL: usize = 2000;

/// The longest description.
pub const MAX_DESCRIPTION: usize = 200;

/// Why an endpoint's URL is refused, in words for the admin who typed it.
pub fn check_url(url: &str, production: bool) -> Result<(), String> {
    if url.len() > MAX_URL {
        return Err(format!("`url` is at most {MAX_URL} characters"));
    }
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if production {
            return Err("`url` must use https: payloads carry customer data".into());
        }
        rest
    } else {
        return Err("`url` must be an absolute http(s) URL, e.g. https://hooks.example.com/support".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("`url` has no host".into());
    }
    if authority.contains('@') {
        return Err("`url` must not carry credentials: receivers check the signature instead".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("`url` must not contain spaces or control characters".into());
    }
    Ok(())
}

/// The `Webhook-Signature` value of `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!("v1={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// What a receiver does: true when `signature` (one or more space-separated `v1=` values,
/// e.g. during a secret rotation) signs `body` at `timestamp`, and `timestamp` is within
/// [`TOLERANCE`] of `now`.
pub fn verify(secret: &str, timestamp: i64, body: &str, signatures: &str, now: DateTime<Utc>) -> bool {
    if (now.timestamp() - timestamp).abs() > TOLERANCE.num_seconds() {
        return false;
    }
    let Some(expected) = signature(secret, timestamp, body).strip_prefix("v1=").map(str::to_owned) else {
        return false;
    };
    signatures.split_whitespace().filter_map(|s| s.strip_prefix("v1=")).any(|given| {
        // Constant time in the length of what was sent.
        given.len() == expected.len() && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    })
}

/// How long to wait after the `attempts`-th failed attempt: 5 s doubling per attempt up to an
/// hour (5 s, 10 s, 20 s, … 1 h, 1 h, …).
pub fn retry_delay(attempts: i64) -> TimeDelta {
    let doublings = attempts.clamp(1, 20) - 1;
    TimeDelta::seconds((5i64 << doublings).min(3600))
}

/// A new signing secret from 32 random bytes.
pub fn new_secret() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("whsec_{a}{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_a_fresh_timestamp() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z").unwrap().with_timezone(&Utc);
        let body = r#"{"id":"d1"}"#;
        let sig = signature("whsec_a", now.timestamp(), body);
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64);
        assert!(verify("whsec_a", now.timestamp(), body, &sig, now));
        assert!(verify("whsec_a", now.timestamp(), body, &format!("v1=00 {sig}"), now));
        assert!(!verify("whsec_b", now.timestamp(), body, &sig, now));
        assert!(!verify("whsec_a", now.timestamp(), r#"{"id":"d2"}"#, &sig, now));
        assert!(!verify("whsec_a", now.timestamp() + 1, body, &sig, now));
        // A replay six minutes later is refused though the signature is right.
        assert!(!verify("whsec_a", now.timestamp(), body, &sig, now + TimeDelta::minutes(6)));
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        let delays: Vec<i64> = (1..=12).map(|n| retry_delay(n).num_seconds()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
        let total: i64 = (1..MAX_ATTEMPTS).map(|n| retry_delay(n).num_seconds()).sum();
        assert!((22 * 3600..26 * 3600).contains(&total), "about a day: {total} s");
    }

    #[test]
    fn endpoints_are_absolute_http_urls_without_credentials() {
        assert!(check_url("https://hooks.example.com/support", true).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_ok());
        assert!(check_url("http://hooks.example.com/", true).unwrap_err().contains("https"));
        assert!(check_url("ftp://x", false).is_err());
        assert!(check_url("https://user:pw@x.example/", false).unwrap_err().contains("credentials"));
        assert!(check_url("https:///path", false).unwrap_err().contains("host"));
        assert!(check_url("https://x.example/a b", false).is_err());
    }
}
