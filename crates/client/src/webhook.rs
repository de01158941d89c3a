//! Verifying webhooks you receive from poigate (Standard Webhooks signatures).
//!
//! poigate signs every webhook with `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` headers: `v1,` + base64 of HMAC-SHA256 over `"{id}.{timestamp}.{body}"`
//! with the endpoint's secret (`whsec_…`). During a secret rotation the header carries one
//! signature per active secret, separated by spaces; any one that matches is enough.
//!
//! ```
//! use poigate_client::webhook::{verify, Headers};
//! # let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! # let body = br#"{"test": 2432232314}"#;
//! let headers = Headers {
//!     id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
//!     timestamp: "1614265330",
//!     signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
//! };
//! // A tolerance of None skips the clock check (for this old example only).
//! verify(secret, &headers, body, None, 1614265330).expect("genuine");
//! ```

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a webhook's timestamp may be from now (replayed old messages are refused).
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// The three signature headers of a webhook.
#[derive(Clone, Copy, Debug)]
pub struct Headers<'a> {
    /// `webhook-id`
    pub id: &'a str,
    /// `webhook-timestamp` (seconds since the epoch)
    pub timestamp: &'a str,
    /// `webhook-signature`
    pub signature: &'a str,
}

impl<'a> Headers<'a> {
    /// The headers from a `reqwest`/`http` header map (`None` when one is missing).
    pub fn from_map(map: &'a reqwest::header::HeaderMap) -> Option<Headers<'a>> {
        let get = |name: &str| map.get(name).and_then(|v| v.to_str().ok());
        Some(Headers {
            id: get("webhook-id")?,
            timestamp: get("webhook-timestamp")?,
            signature: get("webhook-signature")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the secret is not a whsec_ secret (base64 after the prefix)")]
    BadSecret,
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than the tolerance away from now (a replay?)")]
    Stale,
    #[error("no signature matches")]
    NoMatch,
}

/// Checks a webhook: one of the signatures must be the HMAC of `body` under `secret`, and
/// (with `tolerance_seconds`) the timestamp within that many seconds of `now` (seconds
/// since the epoch). Compare the raw body bytes, before any JSON parsing.
pub fn verify(
    secret: &str,
    headers: &Headers<'_>,
    body: &[u8],
    tolerance_seconds: Option<i64>,
    now: i64,
) -> Result<(), WebhookError> {
    let timestamp: i64 = headers
        .timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp)?;
    if let Some(tolerance) = tolerance_seconds
        && (now - timestamp).abs() > tolerance
    {
        return Err(WebhookError::Stale);
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| WebhookError::BadSecret)?;
    for candidate in headers.signature.split(' ') {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            continue;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| WebhookError::BadSecret)?;
        mac.update(headers.id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // Constant-time comparison.
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookError::NoMatch)
}

/// [`verify`] against the system clock with [`DEFAULT_TOLERANCE_SECONDS`].
pub fn verify_now(secret: &str, headers: &Headers<'_>, body: &[u8]) -> Result<(), WebhookError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    verify(secret, headers, body, Some(DEFAULT_TOLERANCE_SECONDS), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(sig: &str) -> Headers<'_> {
        Headers {
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: "1614265330",
            signature: sig,
        }
    }

    #[test]
    fn the_specification_example_verifies_and_tampering_does_not() {
        assert_eq!(
            verify(SECRET, &headers(SIG), BODY, Some(300), 1614265330),
            Ok(())
        );
        let rotated = format!("v1,AAAA {SIG}");
        assert_eq!(verify(SECRET, &headers(&rotated), BODY, None, 0), Ok(()));
        assert_eq!(
            verify(SECRET, &headers(SIG), br#"{"test": 1}"#, None, 0),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            verify(SECRET, &headers(SIG), BODY, Some(300), 1614265330 + 301),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify("whsec_!!", &headers(SIG), BODY, None, 0),
            Err(WebhookError::BadSecret)
        );
    }
}
