//! Money after the sale (issue: capture, void, referenced refunds, settlement), as the
//! engine carries it out: requested durably, executed by the [`Processor`], completed
//! durably, each step with its events and webhooks.

use crate::coordinator::{TimerKey, TransactionGuard};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::services::Transactions;
use poigate_domain::webhook::{refund_message, transaction_message};
use poigate_domain::{
    MoneyRuleError, Operation, OperationId, OperationKind, OperationStatus, ReceiptContext,
    Timestamp, Transaction, TransactionEventKind, TransactionId, ValidationErrors,
};
use poigate_store::{OperationIdempotency, OperationSnapshot, StoreError, TransactionWrite};
use sha2::{Digest, Sha256};

/// A capture, void or refund request.
#[derive(Clone, Debug)]
pub struct OperationRequest {
    pub kind: OperationKind,
    /// Minor units; default: all there is (the authorisation, or what is left to refund).
    pub amount: Option<i64>,
    pub reference: Option<String>,
    pub idempotency_key: Option<String>,
}

/// The answer to an operation request.
#[derive(Clone, Debug)]
pub struct OperationResult {
    pub operation: Operation,
    pub transaction: Transaction,
    /// True when this is the stored answer to an earlier identical request.
    pub replayed: bool,
}

fn fingerprint(txn: TransactionId, req: &OperationRequest) -> [u8; 32] {
    let canonical = serde_json::json!({
        "transaction": txn.to_string(),
        "kind": req.kind.as_str(),
        "amount": req.amount,
        "reference": req.reference,
    });
    Sha256::digest(canonical.to_string().as_bytes()).into()
}

impl From<MoneyRuleError> for EngineError {
    fn from(e: MoneyRuleError) -> Self {
        EngineError::MoneyRule(e)
    }
}

impl Engine {
    pub(crate) async fn lock_transaction(&self, id: TransactionId) -> TransactionGuard {
        self.coordinator().lock_transaction(id).await
    }

    /// Sends a pending operation to the processor and records the answer.
    pub(crate) async fn complete_operation(
        &self,
        operation: Operation,
    ) -> Result<(Operation, Transaction), EngineError> {
        let current = self
            .inner
            .store
            .get_transaction(operation.transaction_id)
            .await?
            .ok_or(EngineError::NotFound("transaction"))?;
        let answer = self.inner.processor.execute(&current, &operation).await;
        for _attempt in 0..5 {
            let _lock = self.lock_transaction(operation.transaction_id).await;
            let now = self.now();
            let mut txn = self
                .inner
                .store
                .get_transaction(operation.transaction_id)
                .await?
                .ok_or(EngineError::NotFound("transaction"))?;
            let mut op = operation.clone();
            match &answer {
                Ok(a) => {
                    op.status = if a.approved {
                        OperationStatus::Succeeded
                    } else {
                        OperationStatus::Failed
                    };
                    op.processor_reference = Some(a.reference.clone());
                    op.failure_reason = a.reason.clone();
                }
                Err(e) => {
                    op.status = OperationStatus::Failed;
                    op.failure_reason = Some(e.to_string());
                }
            }
            op.updated_at = now;
            let expected = txn.last_seq;
            txn.complete(&op, now);
            if op.kind != OperationKind::Capture {
                let ctx = ReceiptContext {
                    merchant_name: self.merchant_name(txn.merchant_id).await,
                    terminal_poiid: self.terminal_poiid(txn.terminal_id),
                };
                op.receipts = Some(poigate_domain::receipt::render_operation(&txn, &op, &ctx));
            }
            let kind = match op.status {
                OperationStatus::Succeeded => TransactionEventKind::OperationSucceeded {
                    operation: op.id,
                    operation_kind: op.kind,
                    amount: op.amount.value(),
                },
                _ => TransactionEventKind::OperationFailed {
                    operation: op.id,
                    operation_kind: op.kind,
                    reason: op.failure_reason.clone().unwrap_or_default(),
                },
            };
            let event = txn.event(kind, now);
            let callbacks = self.callbacks_of(&txn).await?;
            let outbox = match op.kind {
                OperationKind::Refund => vec![refund_message(&op, &txn, &callbacks, now)],
                _ => vec![transaction_message(&txn, &callbacks, now)],
            };
            let snapshot = OperationSnapshot {
                operation: op.clone(),
                transaction: txn.clone(),
            };
            let write = TransactionWrite {
                transaction: txn.clone(),
                expected_last_seq: expected,
                events: vec![event],
                operation: Some(op.clone()),
                outbox,
                idempotency: None,
                idempotency_response: match (&op.idempotency_key, op.kind) {
                    (
                        Some(key),
                        OperationKind::Capture | OperationKind::Void | OperationKind::Increment,
                    ) => Some((op.merchant_id, key.clone(), snapshot)),
                    _ => None,
                },
            };
            match self.inner.store.apply_transaction_write(&write).await {
                Ok(()) => {
                    self.outbox_committed(&write.outbox);
                    return Ok((op, txn));
                }
                // Someone else (a settlement run in another process) changed the
                // transaction: re-read and apply again.
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Store(StoreError::Unavailable(
            "the transaction kept changing; the operation stays pending".into(),
        )))
    }

    /// The per-interaction webhook subscriptions of the interaction that created `txn`.
    pub(crate) async fn callbacks_of(
        &self,
        txn: &Transaction,
    ) -> Result<Vec<poigate_domain::CallbackSubscription>, EngineError> {
        Ok(self
            .inner
            .store
            .get_interaction(txn.interaction_id)
            .await?
            .map(|i| i.webhooks)
            .unwrap_or_default())
    }

    /// Completes operations left pending by a previous process (called at start-up).
    pub(crate) fn resume_operations(&self, pending: Vec<Operation>) {
        for op in pending {
            let engine = self.clone();
            tokio::spawn(async move {
                let id = op.id;
                if let Err(e) = engine.complete_operation(op).await {
                    tracing::error!(operation = %id, error = %e, "pending operation not completed");
                }
            });
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// The first daily cut-off (hour, minute UTC) strictly after `now`.
pub fn next_cutoff(now: Timestamp, (hour, minute): (u8, u8)) -> Timestamp {
    let day_start = now.as_millis() - now.as_millis().rem_euclid(DAY_MS);
    let offset = (i64::from(hour) * 3600 + i64::from(minute) * 60) * 1000;
    let today = Timestamp::from_millis(day_start + offset);
    if today > now {
        today
    } else {
        today.plus_millis(DAY_MS)
    }
}

impl Engine {
    /// Runs the daily settlement at the configured cut-off, through the engine's clock.
    pub(crate) fn schedule_settlement(&self) {
        let Some(cutoff) = self.inner.config.settlement_cutoff_utc else {
            return;
        };
        let engine = self.downgrade();
        let clock = self.inner.clock.clone();
        let mut next = next_cutoff(clock.now(), cutoff);
        tokio::spawn(async move {
            loop {
                clock.sleep_until(next).await;
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                // One node of a cluster settles each cut-off.
                match engine
                    .coordinator()
                    .claim_timer(TimerKey::Settlement(next))
                    .await
                {
                    Ok(true) => match engine.transactions().settle(next).await {
                        Ok(n) => tracing::info!(settled = n, cutoff = %next, "daily settlement"),
                        Err(e) => {
                            tracing::error!(error = %e, "daily settlement failed; retried at the next cut-off")
                        }
                    },
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "daily settlement not claimed"),
                }
                next = next.plus_millis(DAY_MS);
            }
        });
    }
}

fn replay(existing: OperationIdempotency, fp: [u8; 32]) -> Result<OperationResult, EngineError> {
    if existing.fingerprint != fp {
        return Err(EngineError::IdempotencyMismatch);
    }
    match existing.response {
        Some(snapshot) => Ok(OperationResult {
            operation: snapshot.operation,
            transaction: snapshot.transaction,
            replayed: true,
        }),
        None => Err(EngineError::IdempotencyInProgress),
    }
}

impl Transactions<'_> {
    /// Requests a capture, void or referenced refund. A capture or void answers once the
    /// processor did; a refund answers `pending` at once and completes asynchronously.
    pub async fn request_operation(
        &self,
        caller: &crate::Caller,
        transaction_id: TransactionId,
        req: OperationRequest,
    ) -> Result<OperationResult, EngineError> {
        Ok(self
            .request_operation_inner(caller, transaction_id, req)
            .await?
            .0)
    }

    /// The request, and for a refund the task completing it.
    #[allow(clippy::type_complexity)]
    async fn request_operation_inner(
        &self,
        caller: &crate::Caller,
        transaction_id: TransactionId,
        req: OperationRequest,
    ) -> Result<
        (
            OperationResult,
            Option<tokio::task::JoinHandle<Result<(Operation, Transaction), EngineError>>>,
        ),
        EngineError,
    > {
        let mut errors = ValidationErrors::new();
        if let Some(r) = &req.reference {
            errors.check_text("reference", r, 255);
        }
        crate::idempotency::check_key(&mut errors, req.idempotency_key.as_deref());
        errors.into_result(())?;
        // From here on the key exists only as its SHA-256: in the in-flight guard, the
        // operation record and the idempotency table.
        let req = OperationRequest {
            idempotency_key: req
                .idempotency_key
                .as_deref()
                .map(poigate_store::idempotency_digest),
            ..req
        };
        // Ownership first: another merchant's transaction does not exist.
        self.transaction(caller, transaction_id).await?;
        let now = self.engine.now();
        let fp = fingerprint(transaction_id, &req);
        let _guard = match &req.idempotency_key {
            Some(key) => Some(
                self.engine
                    .coordinator()
                    .claim_in_flight(caller.merchant_id, vec![format!("op:{key}")])
                    .ok_or(EngineError::IdempotencyInProgress)?,
            ),
            None => None,
        };
        if let Some(key) = &req.idempotency_key
            && let Some(existing) = self
                .engine
                .inner
                .store
                .find_operation_idempotency(caller.merchant_id, key, now)
                .await?
        {
            return replay(existing, fp).map(|r| (r, None));
        }

        let lock = self.engine.lock_transaction(transaction_id).await;
        let mut txn = self
            .engine
            .inner
            .store
            .get_transaction(transaction_id)
            .await?
            .ok_or(EngineError::NotFound("transaction"))?;
        let amount = match req.kind {
            OperationKind::Capture => txn.check_capture(req.amount)?,
            OperationKind::Void => {
                if req.amount.is_some() {
                    return Err(EngineError::Validation(ValidationErrors::single(
                        poigate_domain::FieldError::new(
                            "amount",
                            "not_allowed",
                            "a void always covers the whole transaction",
                        ),
                    )));
                }
                txn.check_void()?
            }
            OperationKind::Refund => txn.check_refund(req.amount)?,
            OperationKind::Increment => txn.check_increment(req.amount)?,
        };
        let operation = Operation {
            id: OperationId::generate(now),
            transaction_id,
            merchant_id: caller.merchant_id,
            kind: req.kind,
            amount,
            status: OperationStatus::Pending,
            reference: req.reference.clone(),
            failure_reason: None,
            processor_reference: None,
            receipts: None,
            idempotency_key: req.idempotency_key.clone(),
            created_at: now,
            updated_at: now,
        };
        let expected = txn.last_seq;
        txn.begin(&operation, now);
        let event = txn.event(
            TransactionEventKind::OperationRequested {
                operation: operation.id,
                operation_kind: operation.kind,
                amount: amount.value(),
            },
            now,
        );
        let is_refund = req.kind == OperationKind::Refund;
        let snapshot = OperationSnapshot {
            operation: operation.clone(),
            transaction: txn.clone(),
        };
        let write = TransactionWrite {
            transaction: txn.clone(),
            expected_last_seq: expected,
            events: vec![event],
            operation: Some(operation.clone()),
            outbox: if is_refund {
                vec![refund_message(
                    &operation,
                    &txn,
                    &self.engine.callbacks_of(&txn).await?,
                    now,
                )]
            } else {
                Vec::new()
            },
            idempotency: req
                .idempotency_key
                .as_ref()
                .map(|key| OperationIdempotency {
                    merchant_id: caller.merchant_id,
                    key: key.clone(),
                    fingerprint: fp,
                    operation_id: operation.id,
                    // A refund's answer is this pending state; a capture's or void's comes later.
                    response: is_refund.then(|| snapshot.clone()),
                    created_at: now,
                    expires_at: now.plus_millis(
                        i64::try_from(self.engine.inner.config.idempotency_ttl.as_millis())
                            .unwrap_or(i64::MAX),
                    ),
                }),
            idempotency_response: None,
        };
        match self
            .engine
            .inner
            .store
            .apply_transaction_write(&write)
            .await
        {
            Ok(()) => {}
            Err(StoreError::OperationIdempotencyConflict { existing }) => {
                return replay(*existing, fp).map(|r| (r, None));
            }
            Err(e) => return Err(e.into()),
        }
        drop(lock);
        self.engine.outbox_committed(&write.outbox);
        if is_refund {
            let engine = self.engine.clone();
            let op = operation.clone();
            // Its own task: the refund completes even if the caller stops waiting.
            let completion = tokio::spawn(async move {
                let done = engine.complete_operation(op).await;
                if let Err(e) = &done {
                    tracing::error!(error = %e, "refund not completed; it stays pending and is retried at start-up");
                }
                done
            });
            return Ok((
                OperationResult {
                    operation,
                    transaction: txn,
                    replayed: false,
                },
                Some(completion),
            ));
        }
        let (operation, transaction) = self.engine.complete_operation(operation).await?;
        Ok((
            OperationResult {
                operation,
                transaction,
                replayed: false,
            },
            None,
        ))
    }

    /// A tip on a pre-authorisation, then its capture (an "overcapture", how on-receipt
    /// tipping is settled): the tip is authorised first (an incremental authorisation of the
    /// tip), then the whole authorisation is captured. Each step is an operation of its own
    /// with its event and processor answer; a declined tip leaves the auth uncaptured, as a
    /// declined tip adjustment does. The answer is the capture's (or the failed tip's).
    pub async fn capture_with_tip(
        &self,
        caller: &crate::Caller,
        transaction_id: TransactionId,
        tip: i64,
        idempotency_key: Option<String>,
    ) -> Result<OperationResult, EngineError> {
        let key = |step: &str| idempotency_key.as_ref().map(|k| format!("{k}:{step}"));
        let raised = self
            .request_operation(
                caller,
                transaction_id,
                OperationRequest {
                    kind: OperationKind::Increment,
                    amount: Some(tip),
                    reference: None,
                    idempotency_key: key("tip"),
                },
            )
            .await?;
        if raised.operation.status != OperationStatus::Succeeded {
            return Ok(raised);
        }
        self.request_operation(
            caller,
            transaction_id,
            OperationRequest {
                kind: OperationKind::Capture,
                amount: None,
                reference: None,
                idempotency_key: key("capture"),
            },
        )
        .await
    }

    /// [`request_operation`](Self::request_operation), answering once the operation is
    /// complete or `bound` has passed (on the engine's clock), whichever is first. A refund
    /// completes asynchronously; providers whose refund answer carries its result
    /// (Cybersource's `LinkedRefundResponse` "Refund approved") wait for it here. At the
    /// bound the answer is the pending state, and the refund still completes.
    pub async fn request_operation_completed(
        &self,
        caller: &crate::Caller,
        transaction_id: TransactionId,
        req: OperationRequest,
        bound: std::time::Duration,
    ) -> Result<OperationResult, EngineError> {
        let (pending, completion) = self
            .request_operation_inner(caller, transaction_id, req)
            .await?;
        let Some(completion) = completion else {
            return Ok(pending);
        };
        let deadline = self
            .engine
            .now()
            .plus_millis(i64::try_from(bound.as_millis()).unwrap_or(i64::MAX));
        let sleep = self.engine.inner.clock.sleep_until(deadline);
        tokio::select! {
            joined = completion => match joined {
                Ok(Ok((operation, transaction))) => Ok(OperationResult {
                    operation,
                    transaction,
                    replayed: false,
                }),
                // Not completed (it stays pending, retried at start-up): the pending state.
                Ok(Err(_)) | Err(_) => Ok(pending),
            },
            _ = sleep => Ok(pending),
        }
    }

    /// The caller's operations whose id lies in `from..=to` (ids are time-ordered), oldest
    /// first, at most 16: for providers whose numeric operation ids are derived from the
    /// operation's id (NMI's refund `transactionid`), so the id names a small range.
    pub async fn operations_between(
        &self,
        caller: &crate::Caller,
        from: OperationId,
        to: OperationId,
    ) -> Result<Vec<Operation>, EngineError> {
        let found = self
            .engine
            .inner
            .store
            .operations_between(caller.merchant_id, from, to, 16)
            .await?;
        let mut mine = Vec::with_capacity(found.len());
        for op in found {
            // The mode too: a key sees only its own mode's transactions.
            match self.transaction(caller, op.transaction_id).await {
                Ok(_) => mine.push(op),
                Err(EngineError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(mine)
    }

    /// An operation of the caller's merchant by its id alone (providers that follow an
    /// operation by the id they were given, without the transaction's).
    pub async fn find_operation(
        &self,
        caller: &crate::Caller,
        id: OperationId,
    ) -> Result<Operation, EngineError> {
        let operation = self
            .engine
            .inner
            .store
            .get_operation(id)
            .await?
            .ok_or(EngineError::NotFound("operation"))?;
        // Ownership: another merchant's operation does not exist.
        self.transaction(caller, operation.transaction_id).await?;
        Ok(operation)
    }

    pub async fn operations(
        &self,
        caller: &crate::Caller,
        transaction: TransactionId,
        kind: Option<OperationKind>,
    ) -> Result<Vec<Operation>, EngineError> {
        self.transaction(caller, transaction).await?;
        Ok(self
            .engine
            .inner
            .store
            .list_operations(transaction, kind)
            .await?)
    }

    pub async fn operation(
        &self,
        caller: &crate::Caller,
        transaction: TransactionId,
        id: OperationId,
    ) -> Result<Operation, EngineError> {
        self.transaction(caller, transaction).await?;
        match self.engine.inner.store.get_operation(id).await? {
            Some(op) if op.transaction_id == transaction => Ok(op),
            _ => Err(EngineError::NotFound("operation")),
        }
    }

    pub async fn transaction_events(
        &self,
        caller: &crate::Caller,
        transaction: TransactionId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<poigate_domain::TransactionEvent>, EngineError> {
        self.transaction(caller, transaction).await?;
        Ok(self
            .engine
            .inner
            .store
            .list_transaction_events(transaction, after_seq, limit)
            .await?)
    }

    /// Settles every transaction waiting for settlement that was captured before `before`:
    /// `pendingsettlement` becomes `complete`. Returns how many.
    pub async fn settle(&self, before: Timestamp) -> Result<usize, EngineError> {
        let mut settled = 0;
        loop {
            let batch = self
                .engine
                .inner
                .store
                .transactions_to_settle(before, 200)
                .await?;
            if batch.is_empty() {
                return Ok(settled);
            }
            let mut progressed = false;
            for candidate in batch {
                let _lock = self.engine.lock_transaction(candidate.id).await;
                let Some(mut txn) = self
                    .engine
                    .inner
                    .store
                    .get_transaction(candidate.id)
                    .await?
                else {
                    continue;
                };
                let now = self.engine.now();
                let expected = txn.last_seq;
                if !txn.settle(now) {
                    continue;
                }
                let event = txn.event(TransactionEventKind::Settled, now);
                let callbacks = self.engine.callbacks_of(&txn).await?;
                let write = TransactionWrite {
                    outbox: vec![transaction_message(&txn, &callbacks, now)],
                    transaction: txn,
                    expected_last_seq: expected,
                    events: vec![event],
                    operation: None,
                    idempotency: None,
                    idempotency_response: None,
                };
                match self
                    .engine
                    .inner
                    .store
                    .apply_transaction_write(&write)
                    .await
                {
                    Ok(()) => {
                        self.engine.inner.feed.publish(&write.outbox);
                        settled += 1;
                        progressed = true;
                    }
                    Err(StoreError::VersionConflict { .. }) => progressed = true,
                    Err(e) => return Err(e.into()),
                }
            }
            self.engine.inner.outbox_signal.notify_one();
            if !progressed {
                // Only transactions with an operation in flight are left: they settle next time.
                return Ok(settled);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_cutoff_is_today_or_tomorrow() {
        // 2027-01-15T10:00:00Z
        let morning = Timestamp::parse_rfc3339("2027-01-15T10:00:00Z").expect("time");
        assert_eq!(
            next_cutoff(morning, (23, 0)).to_rfc3339(),
            "2027-01-15T23:00:00.000Z"
        );
        let night = Timestamp::parse_rfc3339("2027-01-15T23:00:00Z").expect("time");
        assert_eq!(
            next_cutoff(night, (23, 0)).to_rfc3339(),
            "2027-01-16T23:00:00.000Z"
        );
        assert_eq!(
            next_cutoff(morning, (0, 30)).to_rfc3339(),
            "2027-01-16T00:30:00.000Z"
        );
    }
}
