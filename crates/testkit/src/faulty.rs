//! A store that fails on demand: wraps a real store, delegates every method to it, and while
//! its switch is on answers every call with `StoreError::Unavailable` (as a backend that lost
//! its disk or connection would). Tests use it to see what clients get when storage fails.

use async_trait::async_trait;
use poigate_domain::{
    ApiKeyId, DeliveryId, Event, Interaction, InteractionId, Merchant, MerchantId, Operation,
    OperationId, OperationKind, OutboxMessage, Terminal, TerminalId, Timestamp, Transaction,
    TransactionEvent, TransactionId, WebhookEndpoint, WebhookEndpointId,
};
use poigate_store::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The switch of a [`FaultyStore`]: cloned into the test, it turns failures on and off.
#[derive(Clone, Debug, Default)]
pub struct StoreFaults(Arc<AtomicBool>);

impl StoreFaults {
    pub fn new() -> StoreFaults {
        StoreFaults::default()
    }

    /// From now on, every store call fails with `Unavailable`.
    pub fn fail(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// From now on, every store call reaches the real store again.
    pub fn heal(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn failing(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A [`Store`] that delegates to `inner` unless its [`StoreFaults`] say fail.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: StoreFaults,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>, faults: StoreFaults) -> FaultyStore {
        FaultyStore { inner, faults }
    }

    fn check(&self) -> StoreResult<()> {
        if self.faults.failing() {
            Err(StoreError::Unavailable(
                "injected fault: storage switched off".into(),
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn ready(&self) -> StoreResult<()> {
        self.check()?;
        self.inner.ready().await
    }

    async fn create_merchant(&self, merchant: &Merchant) -> StoreResult<()> {
        self.check()?;
        self.inner.create_merchant(merchant).await
    }

    async fn get_merchant(&self, id: MerchantId) -> StoreResult<Option<Merchant>> {
        self.check()?;
        self.inner.get_merchant(id).await
    }

    async fn find_merchant_by_name(&self, name: &str) -> StoreResult<Option<Merchant>> {
        self.check()?;
        self.inner.find_merchant_by_name(name).await
    }

    async fn list_merchants(&self) -> StoreResult<Vec<Merchant>> {
        self.check()?;
        self.inner.list_merchants().await
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.check()?;
        self.inner.create_api_key(key).await
    }

    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKeyRecord>> {
        self.check()?;
        self.inner.find_api_key_by_hash(hash).await
    }

    async fn list_api_keys(&self, merchant: MerchantId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.check()?;
        self.inner.list_api_keys(merchant).await
    }

    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
        self.check()?;
        self.inner.get_api_key(id).await
    }

    async fn get_setting(&self, name: &str) -> StoreResult<Option<String>> {
        self.check()?;
        self.inner.get_setting(name).await
    }

    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        self.check()?;
        self.inner.init_setting(name, value).await
    }

    async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.revoke_api_key(merchant, id, at).await
    }

    async fn disable_merchant(&self, id: MerchantId, at: Timestamp) -> StoreResult<bool> {
        self.check()?;
        self.inner.disable_merchant(id, at).await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        self.check()?;
        self.inner.touch_api_key(id, at).await
    }

    async fn create_admin_key(&self, key: &poigate_store::AdminKeyRecord) -> StoreResult<()> {
        self.check()?;
        self.inner.create_admin_key(key).await
    }

    async fn find_admin_key_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> StoreResult<Option<poigate_store::AdminKeyRecord>> {
        self.check()?;
        self.inner.find_admin_key_by_hash(hash).await
    }

    async fn create_terminal(&self, terminal: &Terminal) -> StoreResult<()> {
        self.check()?;
        self.inner.create_terminal(terminal).await
    }

    async fn get_terminal(&self, id: TerminalId) -> StoreResult<Option<Terminal>> {
        self.check()?;
        self.inner.get_terminal(id).await
    }

    async fn find_terminal(
        &self,
        merchant: MerchantId,
        reference: &str,
    ) -> StoreResult<Option<Terminal>> {
        self.check()?;
        self.inner.find_terminal(merchant, reference).await
    }

    async fn list_terminals(&self, merchant: MerchantId) -> StoreResult<Vec<Terminal>> {
        self.check()?;
        self.inner.list_terminals(merchant).await
    }

    async fn list_all_terminals(&self) -> StoreResult<Vec<Terminal>> {
        self.check()?;
        self.inner.list_all_terminals().await
    }

    async fn add_pairing_code(&self, code: &DeviceCredential) -> StoreResult<()> {
        self.check()?;
        self.inner.add_pairing_code(code).await
    }

    async fn find_device_credential(
        &self,
        hash: &[u8; 32],
    ) -> StoreResult<Option<DeviceCredential>> {
        self.check()?;
        self.inner.find_device_credential(hash).await
    }

    async fn redeem_pairing_code(
        &self,
        code_hash: &[u8; 32],
        device_key: &DeviceCredential,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner.redeem_pairing_code(code_hash, device_key).await
    }

    async fn revoke_device_credentials(
        &self,
        terminal: TerminalId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.check()?;
        self.inner.revoke_device_credentials(terminal, at).await
    }

    async fn create_interaction(&self, create: &CreateInteraction) -> StoreResult<()> {
        self.check()?;
        self.inner.create_interaction(create).await
    }

    async fn apply_transition(&self, write: &TransitionWrite) -> StoreResult<()> {
        self.check()?;
        self.inner.apply_transition(write).await
    }

    async fn get_interaction(&self, id: InteractionId) -> StoreResult<Option<Interaction>> {
        self.check()?;
        self.inner.get_interaction(id).await
    }

    async fn list_events(
        &self,
        id: InteractionId,
        after_seq: u64,
        limit: u32,
        order: EventOrder,
    ) -> StoreResult<Vec<Event>> {
        self.check()?;
        self.inner.list_events(id, after_seq, limit, order).await
    }

    async fn find_interactions(
        &self,
        merchant: MerchantId,
        filter: &InteractionFilter,
    ) -> StoreResult<Vec<Interaction>> {
        self.check()?;
        self.inner.find_interactions(merchant, filter).await
    }

    async fn live_interactions(&self) -> StoreResult<Vec<Interaction>> {
        self.check()?;
        self.inner.live_interactions().await
    }

    async fn get_transaction(&self, id: TransactionId) -> StoreResult<Option<Transaction>> {
        self.check()?;
        self.inner.get_transaction(id).await
    }

    async fn apply_transaction_write(&self, write: &TransactionWrite) -> StoreResult<()> {
        self.check()?;
        self.inner.apply_transaction_write(write).await
    }

    async fn get_operation(&self, id: OperationId) -> StoreResult<Option<Operation>> {
        self.check()?;
        self.inner.get_operation(id).await
    }

    async fn list_operations(
        &self,
        transaction: TransactionId,
        kind: Option<OperationKind>,
    ) -> StoreResult<Vec<Operation>> {
        self.check()?;
        self.inner.list_operations(transaction, kind).await
    }

    async fn set_api_key_default_terminal(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        terminal: Option<TerminalId>,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner
            .set_api_key_default_terminal(merchant, id, terminal)
            .await
    }

    async fn api_key_default_terminal(&self, id: ApiKeyId) -> StoreResult<Option<TerminalId>> {
        self.check()?;
        self.inner.api_key_default_terminal(id).await
    }

    async fn operations_between(
        &self,
        merchant: MerchantId,
        from: OperationId,
        to: OperationId,
        limit: u32,
    ) -> StoreResult<Vec<Operation>> {
        self.check()?;
        self.inner
            .operations_between(merchant, from, to, limit)
            .await
    }

    async fn pending_operations(&self) -> StoreResult<Vec<Operation>> {
        self.check()?;
        self.inner.pending_operations().await
    }

    async fn find_operation_idempotency(
        &self,
        merchant: MerchantId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OperationIdempotency>> {
        self.check()?;
        self.inner
            .find_operation_idempotency(merchant, key, now)
            .await
    }

    async fn list_transaction_events(
        &self,
        transaction: TransactionId,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<TransactionEvent>> {
        self.check()?;
        self.inner
            .list_transaction_events(transaction, after_seq, limit)
            .await
    }

    async fn transactions_to_settle(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Transaction>> {
        self.check()?;
        self.inner.transactions_to_settle(before, limit).await
    }

    async fn find_idempotency(
        &self,
        merchant: MerchantId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        self.check()?;
        self.inner.find_idempotency(merchant, key, now).await
    }

    async fn purge_expired_idempotency(&self, now: Timestamp) -> StoreResult<u64> {
        self.check()?;
        self.inner.purge_expired_idempotency(now).await
    }

    async fn append_outbox(&self, messages: &[OutboxMessage]) -> StoreResult<()> {
        self.check()?;
        self.inner.append_outbox(messages).await
    }

    async fn dispatch_outbox(&self, limit: u32, now: Timestamp) -> StoreResult<u32> {
        self.check()?;
        self.inner.dispatch_outbox(limit, now).await
    }

    async fn lease_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_targets: Vec<String>,
    ) -> StoreResult<Vec<DeliveryJob>> {
        self.check()?;
        self.inner
            .lease_due_deliveries(now, lease_until, limit, skip_targets)
            .await
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
        self.check()?;
        self.inner.next_delivery_due().await
    }

    async fn record_attempt(&self, attempt: &AttemptRecord) -> StoreResult<()> {
        self.check()?;
        self.inner.record_attempt(attempt).await
    }

    async fn release_delivery_leases(&self) -> StoreResult<u64> {
        self.check()?;
        self.inner.release_delivery_leases().await
    }

    async fn save_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        self.check()?;
        self.inner.save_webhook_endpoint(endpoint).await
    }

    async fn get_webhook_endpoint(
        &self,
        merchant: MerchantId,
        id: WebhookEndpointId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        self.check()?;
        self.inner.get_webhook_endpoint(merchant, id).await
    }

    async fn list_webhook_endpoints(
        &self,
        merchant: MerchantId,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        self.check()?;
        self.inner.list_webhook_endpoints(merchant).await
    }

    async fn delete_webhook_endpoint(
        &self,
        merchant: MerchantId,
        id: WebhookEndpointId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.delete_webhook_endpoint(merchant, id, now).await
    }

    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        filter: &DeliveryFilter,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.check()?;
        self.inner.list_deliveries(merchant, filter).await
    }

    async fn get_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> StoreResult<Option<DeliveryRecord>> {
        self.check()?;
        self.inner.get_delivery(merchant, id).await
    }

    async fn redeliver(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.redeliver(merchant, id, now).await
    }
}
