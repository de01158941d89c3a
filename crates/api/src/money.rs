//! Wire types of money after the sale: capture, void, referenced refunds, transaction events.

use crate::TransactionView;
use poigate_domain::{
    Money, Operation, OperationId, OperationKind, OperationStatus, Receipts, Timestamp,
    TransactionEvent, TransactionEventKind, TransactionId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/transactions/{id}/capture`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// Minor units, up to the authorized amount (default: all of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

/// `POST /v1/transactions/{id}/increment`: raise an approved, uncaptured auth.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrementRequest {
    /// Minor units to add to the authorisation (required, above zero).
    pub amount: i64,
}

/// `POST /v1/transactions/{id}/refunds`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Minor units, up to what is left to refund (default: all of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// Your reference for this refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A capture, void or referenced refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperationView {
    #[schema(value_type = String)]
    pub id: OperationId,
    /// `refund` for refunds, `operation` for captures and voids.
    pub object: String,
    pub kind: OperationKind,
    #[schema(value_type = String)]
    pub transaction: TransactionId,
    pub amount: Money,
    /// `pending`, then `succeeded` or `failed`.
    pub status: OperationStatus,
    pub reference: Option<String>,
    pub failure_reason: Option<String>,
    pub processor_reference: Option<String>,
    /// Customer and merchant copies, for refunds and voids once they are final.
    pub receipts: Option<Receipts>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl OperationView {
    pub fn new(op: &Operation) -> OperationView {
        OperationView {
            id: op.id,
            object: if op.kind == OperationKind::Refund {
                "refund"
            } else {
                "operation"
            }
            .into(),
            kind: op.kind,
            transaction: op.transaction_id,
            amount: op.amount,
            status: op.status,
            reference: op.reference.clone(),
            failure_reason: op.failure_reason.clone(),
            processor_reference: op.processor_reference.clone(),
            receipts: op.receipts.clone(),
            created_at: op.created_at,
            updated_at: op.updated_at,
        }
    }
}

/// The answer to a capture, void or refund: the operation and the transaction after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperationResponse {
    pub operation: OperationView,
    pub transaction: TransactionView,
}

/// One event in a transaction's life after its card decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransactionEventView {
    /// Always `transaction_event`.
    pub object: String,
    #[schema(value_type = String)]
    pub transaction: TransactionId,
    pub seq: u64,
    /// `operation_requested`, `operation_succeeded`, `operation_failed`, `settled`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub operation: Option<OperationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_kind: Option<OperationKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

impl TransactionEventView {
    pub fn new(e: &TransactionEvent) -> TransactionEventView {
        let (operation, operation_kind, amount, reason) = match &e.kind {
            TransactionEventKind::OperationRequested {
                operation,
                operation_kind,
                amount,
            }
            | TransactionEventKind::OperationSucceeded {
                operation,
                operation_kind,
                amount,
            } => (Some(*operation), Some(*operation_kind), Some(*amount), None),
            TransactionEventKind::OperationFailed {
                operation,
                operation_kind,
                reason,
            } => (
                Some(*operation),
                Some(*operation_kind),
                None,
                Some(reason.clone()),
            ),
            TransactionEventKind::Settled => (None, None, None, None),
        };
        TransactionEventView {
            object: "transaction_event".into(),
            transaction: e.transaction_id,
            seq: e.seq,
            kind: e.kind.name().into(),
            operation,
            operation_kind,
            amount,
            reason,
            created_at: e.created_at,
        }
    }
}
