//! Engine settings with the defaults a production gateway starts with.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How long a start may stay unacknowledged before it is cancelled as `not_delivered`.
    pub delivery_timeout: Duration,
    /// Added to the card-interaction timeout before a live interaction is flagged overdue.
    pub overdue_grace: Duration,
    /// Lifetime of `Idempotency-Key` records.
    pub idempotency_ttl: Duration,
    /// Lifetime of natural-key (`sale_id` + `service_id`) records.
    pub natural_key_ttl: Duration,
    /// Longest long-poll a client may ask for.
    pub max_wait: Duration,
    /// How long a replaced webhook secret keeps signing beside the new one.
    pub webhook_secret_overlap: Duration,
    /// Daily settlement cut-off (hour, minute) in UTC; `None` turns automatic settlement off.
    pub settlement_cutoff_utc: Option<(u8, u8)>,
    /// Lifetime of OAuth access tokens.
    pub access_token_ttl: Duration,
    /// How long a terminal's pairing code can be exchanged for a device key.
    pub pairing_code_ttl: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            delivery_timeout: Duration::from_secs(30),
            overdue_grace: Duration::from_secs(60),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            natural_key_ttl: Duration::from_secs(48 * 3600),
            max_wait: Duration::from_secs(60),
            webhook_secret_overlap: Duration::from_secs(24 * 3600),
            settlement_cutoff_utc: Some((23, 0)),
            access_token_ttl: Duration::from_secs(15 * 60),
            pairing_code_ttl: Duration::from_secs(10 * 60),
        }
    }
}
