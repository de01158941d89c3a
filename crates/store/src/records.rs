//! Records the store reads and writes beyond the domain types themselves.

use poigate_domain::{
    ApiKeyId, ApiKeyMode, Event, Interaction, InteractionId, MerchantId, Status, TerminalId,
    Timestamp, Transaction,
};

/// What a device credential is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// Short-lived, single use: exchanged once for a device key.
    PairingCode,
    /// What a terminal authenticates its link connection with.
    DeviceKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::PairingCode => "pairing_code",
            CredentialKind::DeviceKey => "device_key",
        }
    }

    pub fn parse(s: &str) -> Option<CredentialKind> {
        match s {
            "pairing_code" => Some(CredentialKind::PairingCode),
            "device_key" => Some(CredentialKind::DeviceKey),
            _ => None,
        }
    }
}

/// A pairing code or device key of one terminal, as stored: the SHA-256 of the secret,
/// never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCredential {
    pub secret_hash: [u8; 32],
    pub terminal_id: TerminalId,
    pub kind: CredentialKind,
    pub created_at: Timestamp,
    /// Pairing codes expire; device keys do not.
    pub expires_at: Option<Timestamp>,
    /// When a pairing code was exchanged for a device key.
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl DeviceCredential {
    /// Whether the credential may be used at `now`.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none()
            && self.used_at.is_none()
            && self.expires_at.is_none_or(|at| now < at)
    }
}

/// An API key as stored: the SHA-256 of the secret, never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub merchant_id: MerchantId,
    pub mode: ApiKeyMode,
    pub secret_hash: [u8; 32],
    /// The first characters of the secret (e.g. `pg_test_3fa8`), to recognise a key in lists.
    pub display_prefix: String,
    pub label: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// An idempotency key, namespaced by where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdempotencyKey {
    /// The `Idempotency-Key` header (kept 24 h).
    Header(String),
    /// The POS's natural key (`sale_id`, `service_id`) (kept 48 h).
    Natural { sale_id: String, service_id: String },
}

impl IdempotencyKey {
    /// One string per key, unambiguous between the two kinds.
    pub fn storage_key(&self) -> String {
        match self {
            IdempotencyKey::Header(k) => format!("h:{k}"),
            IdempotencyKey::Natural {
                sale_id,
                service_id,
            } => format!("n:{}:{sale_id}:{service_id}", sale_id.len()),
        }
    }
}

/// What a first request with a key produced, so that a retry gets the same answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub merchant_id: MerchantId,
    pub key: IdempotencyKey,
    /// SHA-256 of the canonical request, to tell an exact retry from a different request.
    pub fingerprint: [u8; 32],
    pub interaction_id: InteractionId,
    /// The interaction exactly as the first response showed it.
    pub response: Interaction,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Everything written when an interaction is created.
#[derive(Clone, Debug)]
pub struct CreateInteraction {
    pub interaction: Interaction,
    pub first_event: Event,
    pub idempotency: Vec<IdempotencyRecord>,
}

/// Everything written when an interaction changes state.
#[derive(Clone, Debug)]
pub struct TransitionWrite {
    pub interaction: Interaction,
    pub expected_last_seq: u64,
    pub events: Vec<Event>,
    pub transaction: Option<Transaction>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EventOrder {
    #[default]
    Asc,
    Desc,
}

/// Lookup criteria; all given criteria must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InteractionFilter {
    pub sale_id: Option<String>,
    pub service_id: Option<String>,
    pub reference: Option<String>,
    pub terminal_id: Option<TerminalId>,
    pub status: Option<Status>,
    /// Only interactions older than this one (cursor paging, newest first).
    pub before: Option<InteractionId>,
    pub limit: u32,
}
