//! Lookups that provider dialects need beyond the native API's: an operation found by the
//! idempotency key it was requested with (the Adyen dialect keys a referenced refund by the
//! POS's `SaleID` + `ServiceID`, and answers transaction-status requests about it later).

use crate::engine::Caller;
use crate::error::EngineError;
use crate::money::OperationResult;
use crate::services::Transactions;

impl Transactions<'_> {
    /// The capture, void or refund the caller's merchant requested with idempotency `key`
    /// (while the key is remembered), with the operation and its transaction as they are
    /// now. `None` when no such request is known.
    pub async fn operation_by_key(
        &self,
        caller: &Caller,
        key: &str,
    ) -> Result<Option<OperationResult>, EngineError> {
        let now = self.engine.now();
        let Some(record) = self
            .engine
            .inner
            .store
            .find_operation_idempotency(
                caller.merchant_id,
                &poigate_store::idempotency_digest(key),
                now,
            )
            .await?
        else {
            return Ok(None);
        };
        let Some(operation) = self
            .engine
            .inner
            .store
            .get_operation(record.operation_id)
            .await?
        else {
            return Ok(None);
        };
        if operation.merchant_id != caller.merchant_id {
            return Ok(None);
        }
        let transaction = self.transaction(caller, operation.transaction_id).await?;
        Ok(Some(OperationResult {
            operation,
            transaction,
            replayed: true,
        }))
    }
}
