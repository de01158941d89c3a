//! Records the store reads and writes beyond the domain types themselves.

use poigate_domain::{
    ApiKeyId, ApiKeyMode, DeliveryId, Event, Interaction, InteractionId, MerchantId, MessageId,
    NextStep, Operation, OperationId, OutboxMessage, Status, TerminalId, Timestamp, Transaction,
    TransactionEvent, WebhookEndpointId, WebhookEventType,
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
    /// When the key last authenticated a request, to the minute (recorded at most once a
    /// minute per key, so that use does not cost a write per request).
    pub last_used_at: Option<Timestamp>,
}

/// A platform admin credential (`pg_admin_…`): the SHA-256 of the secret, never the secret.
/// It manages merchants; it is not a merchant's key and reaches no merchant data itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminKeyRecord {
    pub id: String,
    pub secret_hash: [u8; 32],
    /// The first characters of the secret, to recognise it.
    pub display_prefix: String,
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
    /// What is stored and looked up: SHA-256 (lowercase hex) of one string per key,
    /// unambiguous between the two kinds. The key itself is never stored: a careless client
    /// may put anything into an `Idempotency-Key`, and it sits in the table for a day.
    pub fn storage_key(&self) -> String {
        idempotency_digest(&match self {
            IdempotencyKey::Header(k) => format!("h:{k}"),
            IdempotencyKey::Natural {
                sale_id,
                service_id,
            } => format!("n:{}:{sale_id}:{service_id}", sale_id.len()),
        })
    }
}

/// SHA-256 of `key` as 64 lowercase hex digits: how idempotency keys are stored (SQLite
/// migration 7 and PostgreSQL migration 2 converted keys stored in clear before).
pub fn idempotency_digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
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
    /// Webhook messages caused by the creation (written in the same transaction).
    pub outbox: Vec<OutboxMessage>,
}

/// Everything written when an interaction changes state.
#[derive(Clone, Debug)]
pub struct TransitionWrite {
    pub interaction: Interaction,
    pub expected_last_seq: u64,
    pub events: Vec<Event>,
    pub transaction: Option<Transaction>,
    /// Webhook messages caused by the change (written in the same transaction).
    pub outbox: Vec<OutboxMessage>,
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
    /// Only interactions of this mode (live or test); a key's lookups always set it, so
    /// lists never mix modes.
    pub livemode: Option<bool>,
    /// Only interactions older than this one (cursor paging, newest first).
    pub before: Option<InteractionId>,
    /// Only this one and newer ones (ids are time-ordered: a lower bound in time is an id,
    /// see `InteractionId::first_at`).
    pub since: Option<InteractionId>,
    pub limit: u32,
}

/// A delivery taken by the worker: everything needed to send one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryJob {
    pub delivery_id: DeliveryId,
    /// Number of this attempt, counted over the delivery's whole life (1-based).
    pub attempt: u32,
    /// Number of this attempt within the current retry schedule (a manual redelivery
    /// starts a new schedule).
    pub schedule_attempt: u32,
    pub message: OutboxMessage,
    pub endpoint_id: Option<WebhookEndpointId>,
    pub url: String,
    /// Deliveries to one target are ordered per subject; concurrency is bounded per target.
    pub target_key: String,
    /// The payload format (a dialect's), or `None` for the native envelope.
    pub format: Option<String>,
    /// Secrets that sign this attempt (newest last).
    pub secrets: Vec<String>,
}

/// The record of one attempt and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    pub attempt: u32,
    pub started_at: Timestamp,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub next: NextStep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "succeeded" => Some(DeliveryStatus::Succeeded),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One attempt as the delivery log shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptLog {
    pub attempt: u32,
    pub started_at: Timestamp,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// A delivery with its attempts, for the delivery log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub message_id: MessageId,
    pub merchant_id: MerchantId,
    /// The mode of the message delivered (and of its endpoint).
    pub livemode: bool,
    pub endpoint_id: Option<WebhookEndpointId>,
    pub url: String,
    pub event_type: WebhookEventType,
    pub subject_id: String,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub attempts: Vec<AttemptLog>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Delivery log criteria; all given criteria must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<WebhookEndpointId>,
    pub event_type: Option<WebhookEventType>,
    pub status: Option<DeliveryStatus>,
    pub subject_id: Option<String>,
    /// Only deliveries of messages of this mode (live or test).
    pub livemode: Option<bool>,
    /// Only deliveries older than this one (cursor paging, newest first).
    pub before: Option<DeliveryId>,
    pub limit: u32,
}

/// The answer an operation request produced: the operation and its transaction as they were.
/// Stored as [`rows::OperationSnapshotRowV1`](crate::rows::OperationSnapshotRowV1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationSnapshot {
    pub operation: Operation,
    pub transaction: Transaction,
}

/// The idempotency record of a capture, void or refund request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationIdempotency {
    pub merchant_id: MerchantId,
    pub key: String,
    pub fingerprint: [u8; 32],
    pub operation_id: OperationId,
    /// The answer once there is one (a capture or void answers when the processor did).
    pub response: Option<OperationSnapshot>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Everything written when a transaction changes after its card decision.
#[derive(Clone, Debug)]
pub struct TransactionWrite {
    pub transaction: Transaction,
    /// The stored `last_seq` this change was computed from (optimistic concurrency).
    pub expected_last_seq: u64,
    pub events: Vec<TransactionEvent>,
    /// The operation, inserted or replaced.
    pub operation: Option<Operation>,
    pub outbox: Vec<OutboxMessage>,
    /// A new idempotency record (the request that created the operation).
    pub idempotency: Option<OperationIdempotency>,
    /// The answer to record for an existing idempotency key: (merchant, key, answer).
    pub idempotency_response: Option<(MerchantId, String, OperationSnapshot)>,
}
