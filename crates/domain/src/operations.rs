//! Money after the sale: capture, void and referenced refunds, as pure rules on a
//! [`Transaction`].
//!
//! An operation is first *requested* (checked against the money rules and, for refunds,
//! reserved in `refund_pending_amount`), then carried out by the processor, then *completed*
//! (succeeded or failed). The invariants hold after every step, whatever the order:
//! - `0 ≤ captured ≤ authorized`;
//! - `0 ≤ refunded + refund_pending ≤ captured`;
//! - one capture per auth; no void after a capture of an auth, after settlement, or once
//!   refunds exist; nothing on a declined or voided transaction.

use crate::id::{MerchantId, OperationId, TransactionId};
use crate::money::Money;
use crate::receipt::Receipts;
use crate::time::Timestamp;
use crate::transaction::{Condition, Transaction, TransactionKind, TransactionStatus};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OperationKind {
    Capture,
    Void,
    Refund,
    /// Raises the authorisation of an uncaptured auth (an incremental authorisation).
    Increment,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Capture => "capture",
            OperationKind::Void => "void",
            OperationKind::Refund => "refund",
            OperationKind::Increment => "increment",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OperationStatus {
    Pending,
    Succeeded,
    Failed,
}

/// One capture, void or referenced refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub id: OperationId,
    pub transaction_id: TransactionId,
    pub merchant_id: MerchantId,
    pub kind: OperationKind,
    pub amount: Money,
    pub status: OperationStatus,
    /// The POS's reference for a refund.
    pub reference: Option<String>,
    pub failure_reason: Option<String>,
    /// The processor's reference once it answered.
    pub processor_reference: Option<String>,
    /// Receipts for refunds and voids (what a person would expect to sign or keep).
    pub receipts: Option<Receipts>,
    /// SHA-256 (hex) of the `Idempotency-Key` of the request that created it (the key itself
    /// is never kept: `poigate_store::idempotency_digest`).
    pub idempotency_key: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Why an operation is refused. Each has a stable code for the API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyRuleError {
    #[error("only an approved auth can be captured")]
    NotCapturable,
    #[error("this auth was captured already (one capture per auth)")]
    AlreadyCaptured,
    #[error("the capture ({requested}) exceeds the authorized amount ({authorized})")]
    CaptureExceedsAuthorized { requested: i64, authorized: i64 },
    #[error("this transaction cannot be voided: {0}")]
    NotVoidable(&'static str),
    #[error("the transaction was voided")]
    AlreadyVoided,
    #[error("this transaction cannot be refunded: {0}")]
    NotRefundable(&'static str),
    #[error("the refund ({requested}) exceeds what is left to refund ({refundable})")]
    RefundExceedsCaptured { requested: i64, refundable: i64 },
    #[error("amount must be greater than zero")]
    AmountNotPositive,
    #[error("a {0} is being carried out on this transaction; retry when it has finished")]
    OperationInProgress(&'static str),
    #[error("this authorisation cannot be raised: {0}")]
    NotIncrementable(&'static str),
}

impl MoneyRuleError {
    pub fn code(&self) -> &'static str {
        match self {
            MoneyRuleError::NotCapturable => "not_capturable",
            MoneyRuleError::AlreadyCaptured => "already_captured",
            MoneyRuleError::CaptureExceedsAuthorized { .. } => "capture_exceeds_authorized",
            MoneyRuleError::NotVoidable(_) => "not_voidable",
            MoneyRuleError::AlreadyVoided => "already_voided",
            MoneyRuleError::NotRefundable(_) => "not_refundable",
            MoneyRuleError::RefundExceedsCaptured { .. } => "refund_exceeds_captured",
            MoneyRuleError::AmountNotPositive => "amount_not_positive",
            MoneyRuleError::OperationInProgress(_) => "operation_in_progress",
            MoneyRuleError::NotIncrementable(_) => "not_incrementable",
        }
    }

    /// Amount problems are the request's fault (422); the rest depend on state (409).
    pub fn is_amount_error(&self) -> bool {
        matches!(
            self,
            MoneyRuleError::CaptureExceedsAuthorized { .. }
                | MoneyRuleError::RefundExceedsCaptured { .. }
                | MoneyRuleError::AmountNotPositive
        )
    }
}

impl Transaction {
    /// What the card authorised: the amount of an approval, nothing of a decline.
    pub fn authorized_amount(&self) -> i64 {
        match self.status {
            TransactionStatus::Approved => self.amount.value() + self.incremented_amount,
            TransactionStatus::Declined => 0,
        }
    }

    /// What may still be refunded.
    pub fn refundable_amount(&self) -> i64 {
        (self.captured_amount - self.refunded_amount - self.refund_pending_amount).max(0)
    }

    /// The money invariants (checked by property tests and before every write).
    pub fn invariants_hold(&self) -> bool {
        self.captured_amount >= 0
            && self.refunded_amount >= 0
            && self.refund_pending_amount >= 0
            && self.captured_amount <= self.authorized_amount()
            && self.refunded_amount + self.refund_pending_amount <= self.captured_amount
    }

    fn busy(&self) -> Result<(), MoneyRuleError> {
        match self.pending_operation {
            Some(_) => Err(MoneyRuleError::OperationInProgress("capture or void")),
            None => Ok(()),
        }
    }

    fn amount_or_all(&self, amount: Option<i64>, all: i64) -> Result<Money, MoneyRuleError> {
        let value = amount.unwrap_or(all);
        if value <= 0 {
            return Err(MoneyRuleError::AmountNotPositive);
        }
        Money::new(value, self.amount.currency()).map_err(|_| MoneyRuleError::AmountNotPositive)
    }

    /// Checks a capture of `amount` (default: the whole authorisation).
    pub fn check_capture(&self, amount: Option<i64>) -> Result<Money, MoneyRuleError> {
        if self.kind != TransactionKind::Auth || self.status != TransactionStatus::Approved {
            return Err(MoneyRuleError::NotCapturable);
        }
        if self.condition == Condition::Canceled {
            return Err(MoneyRuleError::AlreadyVoided);
        }
        self.busy()?;
        if self.captured_amount > 0 {
            return Err(MoneyRuleError::AlreadyCaptured);
        }
        let money = self.amount_or_all(amount, self.authorized_amount())?;
        if money.value() > self.authorized_amount() {
            return Err(MoneyRuleError::CaptureExceedsAuthorized {
                requested: money.value(),
                authorized: self.authorized_amount(),
            });
        }
        Ok(money)
    }

    /// Checks an incremental authorisation of `amount` (required): an approved auth, neither
    /// captured nor voided, with nothing else in progress.
    pub fn check_increment(&self, amount: Option<i64>) -> Result<Money, MoneyRuleError> {
        if self.kind != TransactionKind::Auth {
            return Err(MoneyRuleError::NotIncrementable(
                "only a pre-authorisation (auth) can be raised",
            ));
        }
        if self.status != TransactionStatus::Approved {
            return Err(MoneyRuleError::NotIncrementable("it was declined"));
        }
        if self.condition == Condition::Canceled {
            return Err(MoneyRuleError::AlreadyVoided);
        }
        if self.captured_amount > 0 {
            return Err(MoneyRuleError::NotIncrementable("it was captured"));
        }
        self.busy()?;
        self.amount_or_all(amount, 0)
    }

    /// Checks a void: an uncaptured auth, or a sale (or card-present refund) not settled
    /// and without refunds.
    pub fn check_void(&self) -> Result<Money, MoneyRuleError> {
        if self.status != TransactionStatus::Approved {
            return Err(MoneyRuleError::NotVoidable("it was declined"));
        }
        if self.condition == Condition::Canceled {
            return Err(MoneyRuleError::AlreadyVoided);
        }
        self.busy()?;
        match self.kind {
            TransactionKind::Validate => Err(MoneyRuleError::NotVoidable(
                "a card verification moves no money",
            )),
            TransactionKind::Auth if self.captured_amount > 0 => Err(MoneyRuleError::NotVoidable(
                "it was captured; refund it instead",
            )),
            _ if self.condition == Condition::Complete => Err(MoneyRuleError::NotVoidable(
                "it was settled; refund it instead",
            )),
            _ if self.refunded_amount + self.refund_pending_amount > 0 => {
                Err(MoneyRuleError::NotVoidable("it has refunds"))
            }
            _ => Ok(self.amount),
        }
    }

    /// Checks a referenced refund of `amount` (default: all that is left).
    pub fn check_refund(&self, amount: Option<i64>) -> Result<Money, MoneyRuleError> {
        if self.status != TransactionStatus::Approved {
            return Err(MoneyRuleError::NotRefundable("it was declined"));
        }
        if self.condition == Condition::Canceled {
            return Err(MoneyRuleError::NotRefundable("it was voided"));
        }
        match self.kind {
            TransactionKind::Sale | TransactionKind::Auth => {}
            TransactionKind::Refund => {
                return Err(MoneyRuleError::NotRefundable("it is a refund itself"));
            }
            TransactionKind::Validate => {
                return Err(MoneyRuleError::NotRefundable(
                    "a card verification moves no money",
                ));
            }
        }
        if self.captured_amount == 0 {
            return Err(MoneyRuleError::NotRefundable("nothing was captured"));
        }
        if self.pending_operation.is_some() {
            return Err(MoneyRuleError::OperationInProgress("void"));
        }
        let money = self.amount_or_all(amount, self.refundable_amount())?;
        if money.value() > self.refundable_amount() {
            return Err(MoneyRuleError::RefundExceedsCaptured {
                requested: money.value(),
                refundable: self.refundable_amount(),
            });
        }
        Ok(money)
    }

    /// Records a requested operation: a refund reserves its amount; a capture or void
    /// blocks other captures and voids until it completes.
    pub fn begin(&mut self, op: &Operation, now: Timestamp) {
        match op.kind {
            OperationKind::Refund => self.refund_pending_amount += op.amount.value(),
            OperationKind::Capture | OperationKind::Void | OperationKind::Increment => {
                self.pending_operation = Some(op.id)
            }
        }
        self.updated_at = now;
    }

    /// Applies the processor's answer to a requested operation.
    pub fn complete(&mut self, op: &Operation, now: Timestamp) {
        let ok = op.status == OperationStatus::Succeeded;
        match op.kind {
            OperationKind::Refund => {
                self.refund_pending_amount =
                    (self.refund_pending_amount - op.amount.value()).max(0);
                if ok {
                    self.refunded_amount += op.amount.value();
                }
            }
            OperationKind::Capture => {
                if self.pending_operation == Some(op.id) {
                    self.pending_operation = None;
                }
                if ok {
                    self.captured_amount = op.amount.value();
                    self.captured_at = Some(now);
                    self.condition = Condition::Pendingsettlement;
                }
            }
            OperationKind::Void => {
                if self.pending_operation == Some(op.id) {
                    self.pending_operation = None;
                }
                if ok {
                    self.condition = Condition::Canceled;
                    self.voided_at = Some(now);
                }
            }
            OperationKind::Increment => {
                if self.pending_operation == Some(op.id) {
                    self.pending_operation = None;
                }
                if ok {
                    self.incremented_amount += op.amount.value();
                }
            }
        }
        self.updated_at = now;
    }

    /// Daily settlement: an approved sale, refund or captured auth waiting for settlement
    /// becomes `complete`. Returns whether it changed.
    pub fn settle(&mut self, now: Timestamp) -> bool {
        if self.condition != Condition::Pendingsettlement || self.pending_operation.is_some() {
            return false;
        }
        self.condition = Condition::Complete;
        self.settled_at = Some(now);
        self.updated_at = now;
        true
    }
}

/// What happened to a transaction after its card decision: its own gap-free event list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionEvent {
    pub transaction_id: TransactionId,
    pub seq: u64,
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub kind: TransactionEventKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransactionEventKind {
    OperationRequested {
        operation: OperationId,
        operation_kind: OperationKind,
        amount: i64,
    },
    OperationSucceeded {
        operation: OperationId,
        operation_kind: OperationKind,
        amount: i64,
    },
    OperationFailed {
        operation: OperationId,
        operation_kind: OperationKind,
        reason: String,
    },
    Settled,
}

impl TransactionEventKind {
    pub fn name(&self) -> &'static str {
        match self {
            TransactionEventKind::OperationRequested { .. } => "operation_requested",
            TransactionEventKind::OperationSucceeded { .. } => "operation_succeeded",
            TransactionEventKind::OperationFailed { .. } => "operation_failed",
            TransactionEventKind::Settled => "settled",
        }
    }
}

impl Transaction {
    /// Appends an event, numbering it after the newest.
    pub fn event(&mut self, kind: TransactionEventKind, now: Timestamp) -> TransactionEvent {
        self.last_seq += 1;
        TransactionEvent {
            transaction_id: self.id,
            seq: self.last_seq,
            created_at: now,
            kind,
        }
    }
}

#[cfg(test)]
mod tests;
