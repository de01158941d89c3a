//! Retries with exponential backoff and jitter.
//!
//! What is retried, and why it is safe:
//! - `429 rate_limited` and `503` (storage unavailable, over capacity): the server refused
//!   the request before doing anything, so sending it again cannot do anything twice.
//!   `Retry-After` is honoured (capped by [`RetryPolicy::max_delay`]).
//! - a connection that could not be opened: the request never left.
//! - any other network failure (reset, timeout, a lost answer) only when sending the request
//!   twice means the same as once: `GET`/`DELETE`, or a request carrying an
//!   `Idempotency-Key` (the server replays the first answer).
//!
//! Never retried: any other 4xx (the request is wrong and stays wrong), other 5xx answers
//! (the server may have done part of the work: the caller decides).

use reqwest::{Method, StatusCode};
use std::time::Duration;

/// How often and how patiently a request is sent again. [`RetryPolicy::none`] sends once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles each time.
    pub base_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, 200 ms doubling up to 5 s, each wait between half and all of that.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// One attempt: every error goes straight to the caller.
    pub const fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// The wait before attempt `attempt + 1` (`attempt` counts from 1): a random duration
    /// between half the exponential bound and the bound ("equal jitter"), so clients that
    /// failed together do not come back together, and none comes back at once.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let bound = exp.min(self.max_delay);
        jitter(bound)
    }
}

/// A random duration in `[bound / 2, bound]`: half fixed so a retry never comes at once, half
/// random so retries spread out.
pub(crate) fn jitter(bound: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    // Without randomness the bound itself is a fine (if less spread) wait.
    let r = match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    };
    bound.mul_f64(0.5 + 0.5 * r)
}

/// Whether an answer with `status` may be retried whatever the request was.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// Whether a request that failed on the network may be sent again.
pub(crate) fn retryable_network(
    error: &reqwest::Error,
    method: &Method,
    idempotent_key: bool,
) -> bool {
    if error.is_connect() {
        return true;
    }
    idempotent_key || *method == Method::GET || *method == Method::DELETE
}

/// `Retry-After` in seconds, when present and sensible.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = p.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(p.backoff(30) <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn only_refusals_before_work_are_retryable_statuses() {
        assert!(retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable_status(StatusCode::SERVICE_UNAVAILABLE));
        for s in [400, 401, 403, 404, 409, 422, 500, 502] {
            assert!(!retryable_status(StatusCode::from_u16(s).expect("status")));
        }
    }
}
