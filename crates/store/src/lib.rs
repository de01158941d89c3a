//! # poigate-store
//!
//! The storage contract of poigate: the [`Store`] trait, the records it reads and writes, its
//! error type, and a conformance suite that every backend runs (module `conformance` and the
//! `conformance_tests!` macro, behind the `conformance` cargo feature: backends enable it
//! for their tests through a dev-dependency, so the shipped library does not carry it).
//!
//! It also owns the [storage rows](rows): the versioned, serialized shape in which every
//! backend keeps domain objects, separate from the domain and wire types, with explicit
//! conversions and golden fixtures (`tests/golden/`) that prove old rows still decode.
//!
//! **Owns:** what must be durable and which writes are atomic together (a state change, its
//! events, its transaction record and its idempotency records are ONE write), and which
//! uniqueness rules the database itself enforces (one live interaction per terminal; one
//! idempotency record per key) so that no read-then-insert race can break them.
//!
//! **Must not know about:** SQL dialects or drivers (no rusqlite or Postgres type appears
//! here), HTTP, terminals, timers. The engine talks to storage only through this trait, so a
//! PostgreSQL backend plugs in without engine changes.

#[cfg(feature = "conformance")]
pub mod conformance;
mod records;
pub mod rows;

pub use records::*;

use async_trait::async_trait;
use poigate_domain::{
    DeliveryId, Event, Interaction, InteractionId, Merchant, MerchantId, Operation, OperationId,
    OperationKind, OutboxMessage, Terminal, TerminalId, Timestamp, Transaction, TransactionEvent,
    TransactionId, WebhookEndpoint, WebhookEndpointId,
};

/// Why a storage operation did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The terminal already has a live interaction (the database's unique rule fired).
    #[error("terminal busy with {blocking}")]
    TerminalBusy { blocking: InteractionId },
    /// An idempotency key (header or natural key) is already taken.
    #[error("idempotency key already used")]
    IdempotencyConflict { existing: Box<IdempotencyRecord> },
    /// An operation's idempotency key is already taken.
    #[error("idempotency key already used")]
    OperationIdempotencyConflict { existing: Box<OperationIdempotency> },
    /// The object changed since it was read (optimistic concurrency on `last_seq`): another
    /// writer got there first. Callers re-read and decide again. `entity` names the kind of
    /// object (`"interaction"`, `"transaction"` …), `id` which one.
    #[error("{entity} {id} changed concurrently")]
    VersionConflict { entity: &'static str, id: String },
    /// A uniqueness rule on another object fired (e.g. a terminal serial number reused).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// The object to change does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The backend cannot serve requests (I/O error, closed, disk full).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Durable storage for poigate. Implementations must make every method that writes either
/// happen completely and durably before it returns `Ok`, or not at all.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Proves the store can take writes now: the write path answers (for a backend with a
    /// writer thread, a round trip through it) and the database accepts a write (one that
    /// is rolled back). `Unavailable` otherwise, within a bounded time. Readiness probes
    /// call this, so it must be cheap and leave nothing behind.
    async fn ready(&self) -> StoreResult<()>;

    // --- merchants and API keys -------------------------------------------------------

    async fn create_merchant(&self, merchant: &Merchant) -> StoreResult<()>;
    async fn get_merchant(&self, id: MerchantId) -> StoreResult<Option<Merchant>>;
    async fn find_merchant_by_name(&self, name: &str) -> StoreResult<Option<Merchant>>;
    async fn list_merchants(&self) -> StoreResult<Vec<Merchant>>;

    /// Stores a key record. Fails with `Duplicate("api key")` when the hash exists.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The key whose secret hashes to `hash`, revoked or not (callers check `revoked_at`).
    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKeyRecord>>;
    async fn list_api_keys(&self, merchant: MerchantId) -> StoreResult<Vec<ApiKeyRecord>>;
    async fn get_api_key(&self, id: poigate_domain::ApiKeyId) -> StoreResult<Option<ApiKeyRecord>>;

    /// A gateway-wide setting.
    async fn get_setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores `value` unless the setting exists; returns the stored value either way (so two
    /// processes racing to create a setting agree on one).
    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String>;
    /// Sets (or with `None` clears) the default terminal of the merchant's key `id`; `false`
    /// when the key does not exist or is revoked.
    async fn set_api_key_default_terminal(
        &self,
        merchant: MerchantId,
        id: poigate_domain::ApiKeyId,
        terminal: Option<TerminalId>,
    ) -> StoreResult<bool>;
    /// The default terminal of key `id`, if it has one.
    async fn api_key_default_terminal(
        &self,
        id: poigate_domain::ApiKeyId,
    ) -> StoreResult<Option<TerminalId>>;
    /// Marks a key revoked; `false` when the key does not exist or is revoked already.
    async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        id: poigate_domain::ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// Marks a merchant disabled; `false` when it does not exist or is disabled already.
    async fn disable_merchant(&self, id: MerchantId, at: Timestamp) -> StoreResult<bool>;
    /// Records that a key was used at `at` (callers throttle: at most once a minute a key).
    async fn touch_api_key(&self, id: poigate_domain::ApiKeyId, at: Timestamp) -> StoreResult<()>;
    /// Stores a platform admin key. Fails with `Duplicate("admin key")` when the hash exists.
    async fn create_admin_key(&self, key: &AdminKeyRecord) -> StoreResult<()>;
    /// The admin key whose secret hashes to `hash`, revoked or not.
    async fn find_admin_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<AdminKeyRecord>>;

    // --- terminals ----------------------------------------------------------------------

    /// Fails with `Duplicate("terminal")` when the merchant has this serial number already.
    async fn create_terminal(&self, terminal: &Terminal) -> StoreResult<()>;
    async fn get_terminal(&self, id: TerminalId) -> StoreResult<Option<Terminal>>;
    /// Finds a merchant's terminal by id, POIID (`model-serial`) or serial number.
    async fn find_terminal(
        &self,
        merchant: MerchantId,
        reference: &str,
    ) -> StoreResult<Option<Terminal>>;
    async fn list_terminals(&self, merchant: MerchantId) -> StoreResult<Vec<Terminal>>;
    async fn list_all_terminals(&self) -> StoreResult<Vec<Terminal>>;

    // --- device credentials (terminal link) -------------------------------------------

    /// Stores a new pairing code for its terminal and revokes the terminal's earlier
    /// pairing codes that were not used, in one write: only the newest code is valid.
    async fn add_pairing_code(&self, code: &DeviceCredential) -> StoreResult<()>;

    /// The credential whose secret hashes to `hash`, whatever its state (callers check
    /// [`DeviceCredential::is_usable`]).
    async fn find_device_credential(
        &self,
        hash: &[u8; 32],
    ) -> StoreResult<Option<DeviceCredential>>;

    /// Exchanges a pairing code for a device key, in one write: the code must be usable at
    /// `device_key.created_at` (else `NotFound("pairing code")`), is marked used, the
    /// terminal's earlier device keys are revoked and `device_key` is stored. Two
    /// concurrent redemptions of one code: exactly one succeeds.
    async fn redeem_pairing_code(
        &self,
        code_hash: &[u8; 32],
        device_key: &DeviceCredential,
    ) -> StoreResult<()>;

    /// Revokes every credential of a terminal that could still be used (device keys, unused
    /// pairing codes); returns how many.
    async fn revoke_device_credentials(
        &self,
        terminal: TerminalId,
        at: Timestamp,
    ) -> StoreResult<u64>;

    // --- interactions -------------------------------------------------------------------

    /// Stores a new interaction, its first event and its idempotency records in one
    /// transaction. Fails with `TerminalBusy` when the terminal has a live interaction and
    /// with `IdempotencyConflict` when a key is taken (and not expired).
    async fn create_interaction(&self, create: &CreateInteraction) -> StoreResult<()>;

    /// Stores a state change: the new interaction row, its events and the transaction a card
    /// decision created, in one transaction, only if the stored `last_seq` still equals
    /// `expected_last_seq` (else `VersionConflict { entity: "interaction" }`).
    async fn apply_transition(&self, write: &TransitionWrite) -> StoreResult<()>;

    async fn get_interaction(&self, id: InteractionId) -> StoreResult<Option<Interaction>>;

    /// An interaction with the transaction its card decision created, if any: what a `GET`
    /// of the interaction shows. A backend may read both in one go (SQLite: one read
    /// transaction, so the two rows come from one snapshot); the default reads one after the
    /// other, and a transaction found missing then is simply absent.
    async fn get_interaction_with_transaction(
        &self,
        id: InteractionId,
    ) -> StoreResult<Option<(Interaction, Option<Transaction>)>> {
        let Some(interaction) = self.get_interaction(id).await? else {
            return Ok(None);
        };
        let transaction = match interaction.transaction_id {
            Some(t) => self.get_transaction(t).await?,
            None => None,
        };
        Ok(Some((interaction, transaction)))
    }

    /// Events of an interaction with `seq > after_seq`, in the given order, at most `limit`.
    async fn list_events(
        &self,
        id: InteractionId,
        after_seq: u64,
        limit: u32,
        order: EventOrder,
    ) -> StoreResult<Vec<Event>>;

    /// A merchant's interactions matching `filter`, newest first.
    async fn find_interactions(
        &self,
        merchant: MerchantId,
        filter: &InteractionFilter,
    ) -> StoreResult<Vec<Interaction>>;

    /// [`Store::find_interactions`], each with the transaction its card decision created (a
    /// lookup answers both). SQLite reads them in one read transaction; the default reads
    /// each transaction after the list.
    async fn find_interactions_with_transactions(
        &self,
        merchant: MerchantId,
        filter: &InteractionFilter,
    ) -> StoreResult<Vec<(Interaction, Option<Transaction>)>> {
        let found = self.find_interactions(merchant, filter).await?;
        let mut out = Vec::with_capacity(found.len());
        for interaction in found {
            let transaction = match interaction.transaction_id {
                Some(t) => self.get_transaction(t).await?,
                None => None,
            };
            out.push((interaction, transaction));
        }
        Ok(out)
    }

    /// Every interaction not in a final state (for recovery at start-up).
    async fn live_interactions(&self) -> StoreResult<Vec<Interaction>>;

    async fn get_transaction(&self, id: TransactionId) -> StoreResult<Option<Transaction>>;

    // --- money after the sale --------------------------------------------------------------

    /// Stores a change of a transaction — the transaction, its events, the operation, webhook
    /// messages and idempotency data — in one transaction, only if the stored `last_seq`
    /// still equals `expected_last_seq` (else `VersionConflict { entity: "transaction" }`;
    /// `NotFound("transaction")` when it does not exist).
    async fn apply_transaction_write(&self, write: &TransactionWrite) -> StoreResult<()>;
    async fn get_operation(&self, id: OperationId) -> StoreResult<Option<Operation>>;
    /// A transaction's operations (of one kind, or all), oldest first.
    async fn list_operations(
        &self,
        transaction: TransactionId,
        kind: Option<OperationKind>,
    ) -> StoreResult<Vec<Operation>>;
    /// The merchant's operations whose id lies in `from..=to`, oldest first, at most
    /// `limit`. Operation ids are time-ordered UUIDv7s, so this finds operations by their
    /// creation time (a provider's numeric id derived from the id names a range).
    async fn operations_between(
        &self,
        merchant: MerchantId,
        from: OperationId,
        to: OperationId,
        limit: u32,
    ) -> StoreResult<Vec<Operation>>;
    /// Operations the processor has not answered yet (for recovery at start-up).
    async fn pending_operations(&self) -> StoreResult<Vec<Operation>>;
    async fn find_operation_idempotency(
        &self,
        merchant: MerchantId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OperationIdempotency>>;
    async fn list_transaction_events(
        &self,
        transaction: TransactionId,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<TransactionEvent>>;
    /// Up to `limit` transactions waiting for settlement, captured before `before`.
    async fn transactions_to_settle(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Transaction>>;

    // --- idempotency --------------------------------------------------------------------

    /// The unexpired idempotency record of `key` for `merchant`.
    async fn find_idempotency(
        &self,
        merchant: MerchantId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> StoreResult<Option<IdempotencyRecord>>;

    /// Deletes records that expired before `now`; returns how many.
    async fn purge_expired_idempotency(&self, now: Timestamp) -> StoreResult<u64>;

    // --- webhooks: the outbox and its deliveries ----------------------------------------

    /// Stores messages that are not part of an interaction write (terminal online/offline).
    async fn append_outbox(&self, messages: &[OutboxMessage]) -> StoreResult<()>;

    /// Fans up to `limit` undelivered messages out to their targets (the merchant's enabled
    /// endpoints whose filter accepts the type, and the message's callback URLs), creating one
    /// pending delivery per target, due at `now`. Returns how many messages were dispatched.
    async fn dispatch_outbox(&self, limit: u32, now: Timestamp) -> StoreResult<u32>;

    /// Takes up to `limit` due deliveries for sending, leasing them until `lease_until`.
    /// Deliveries to one target are handed out in message order per subject: one waits until
    /// the earlier ones for the same (target, subject) are done. Targets in `skip_targets`
    /// (at their concurrency limit) are left alone.
    async fn lease_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_targets: Vec<String>,
    ) -> StoreResult<Vec<DeliveryJob>>;

    /// When the next pending delivery falls due, if any.
    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>>;

    /// Stores an attempt and applies its next step (retry time, success, give up, or
    /// disable the endpoint and fail its pending deliveries).
    async fn record_attempt(&self, attempt: &AttemptRecord) -> StoreResult<()>;

    /// Releases every lease (at start-up of a single node: whatever was in flight when the
    /// process died is due again).
    async fn release_delivery_leases(&self) -> StoreResult<u64>;

    /// Inserts or replaces an endpoint.
    async fn save_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> StoreResult<()>;
    async fn get_webhook_endpoint(
        &self,
        merchant: MerchantId,
        id: WebhookEndpointId,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    /// A merchant's endpoints (both kinds), oldest first.
    async fn list_webhook_endpoints(
        &self,
        merchant: MerchantId,
    ) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Deletes an endpoint and fails its pending deliveries; `false` when it does not exist.
    async fn delete_webhook_endpoint(
        &self,
        merchant: MerchantId,
        id: WebhookEndpointId,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// The delivery log, newest first.
    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        filter: &DeliveryFilter,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    async fn get_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> StoreResult<Option<DeliveryRecord>>;
    /// Makes a delivery pending and due at `now` again, with a fresh retry schedule.
    async fn redeliver(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        now: Timestamp,
    ) -> StoreResult<bool>;
}
