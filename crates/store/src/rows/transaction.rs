//! Rows of transactions, their card data, receipts, operations and events.

use super::*;
use crate::OperationSnapshot;
use poigate_domain as d;
use serde::Deserialize;

/// Masked card data: BIN and last four at most.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedCardRowV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    pub last4: String,
    pub brand: CardBrandRow,
    pub entry_mode: EntryModeRow,
}

impl From<&d::MaskedCard> for MaskedCardRowV1 {
    fn from(c: &d::MaskedCard) -> Self {
        MaskedCardRowV1 {
            bin: c.bin().map(str::to_string),
            last4: c.last4().to_string(),
            brand: c.brand().into(),
            entry_mode: c.entry_mode().into(),
        }
    }
}

impl TryFrom<MaskedCardRowV1> for d::MaskedCard {
    type Error = StoreError;
    fn try_from(r: MaskedCardRowV1) -> StoreResult<d::MaskedCard> {
        d::MaskedCard::new(
            r.bin.as_deref(),
            &r.last4,
            r.brand.into(),
            r.entry_mode.into(),
        )
        .map_err(|e| StoreError::Corrupt(format!("bad stored card: {e}")))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmvDataRowV1 {
    pub application_id: String,
    pub application_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_preferred_name: Option<String>,
    pub cvm: CvmRow,
    pub tsi: String,
    pub tvr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pan_sequence_number: Option<String>,
}

impl From<&d::EmvData> for EmvDataRowV1 {
    fn from(e: &d::EmvData) -> Self {
        EmvDataRowV1 {
            application_id: e.application_id.clone(),
            application_label: e.application_label.clone(),
            application_preferred_name: e.application_preferred_name.clone(),
            cvm: e.cvm.into(),
            tsi: e.tsi.clone(),
            tvr: e.tvr.clone(),
            pan_sequence_number: e.pan_sequence_number.clone(),
        }
    }
}

impl From<EmvDataRowV1> for d::EmvData {
    fn from(r: EmvDataRowV1) -> Self {
        d::EmvData {
            application_id: r.application_id,
            application_label: r.application_label,
            application_preferred_name: r.application_preferred_name,
            cvm: r.cvm.into(),
            tsi: r.tsi,
            tvr: r.tvr,
            pan_sequence_number: r.pan_sequence_number,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLineRowV1 {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRowV1 {
    pub copy: ReceiptCopyRow,
    pub lines: Vec<ReceiptLineRowV1>,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsRowV1 {
    pub customer: Option<ReceiptRowV1>,
    pub merchant: Option<ReceiptRowV1>,
}

impl From<&d::Receipt> for ReceiptRowV1 {
    fn from(r: &d::Receipt) -> Self {
        ReceiptRowV1 {
            copy: r.copy.into(),
            lines: r
                .lines
                .iter()
                .map(|l| ReceiptLineRowV1 {
                    key: l.key.clone(),
                    label: l.label.clone(),
                    value: l.value.clone(),
                })
                .collect(),
            text: r.text.clone(),
        }
    }
}

impl From<ReceiptRowV1> for d::Receipt {
    fn from(r: ReceiptRowV1) -> Self {
        d::Receipt {
            copy: r.copy.into(),
            lines: r
                .lines
                .into_iter()
                .map(|l| d::ReceiptLine {
                    key: l.key,
                    label: l.label,
                    value: l.value,
                })
                .collect(),
            text: r.text,
        }
    }
}

impl From<&d::Receipts> for ReceiptsRowV1 {
    fn from(r: &d::Receipts) -> Self {
        ReceiptsRowV1 {
            customer: r.customer.as_ref().map(Into::into),
            merchant: r.merchant.as_ref().map(Into::into),
        }
    }
}

impl From<ReceiptsRowV1> for d::Receipts {
    fn from(r: ReceiptsRowV1) -> Self {
        d::Receipts {
            customer: r.customer.map(Into::into),
            merchant: r.merchant.map(Into::into),
        }
    }
}

/// A card decision. The fields after `updated_at` came later: rows without them read with
/// their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRowV1 {
    pub id: String,
    pub merchant_id: String,
    /// Live or test mode; absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub interaction_id: String,
    pub terminal_id: String,
    pub kind: TransactionKindRow,
    pub status: TransactionStatusRow,
    /// The total: the interaction's amount plus the tip.
    pub amount: MoneyRowV1,
    /// Present only when a tip was asked; absent in rows written before tipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip_amount: Option<i64>,
    pub auth_code: Option<String>,
    pub decline_reason: Option<DeclineReasonRow>,
    pub decline_message: Option<String>,
    pub card: Option<MaskedCardRowV1>,
    pub emv: Option<EmvDataRowV1>,
    pub condition: ConditionRow,
    /// Added after the decision (incremental authorisations); absent when zero, so rows
    /// written before it existed read and re-encode unchanged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incremented_amount: i64,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub refund_pending_amount: i64,
    pub reference: Option<String>,
    pub receipts: ReceiptsRowV1,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub pending_operation: Option<String>,
    #[serde(default)]
    pub captured_at: Option<String>,
    #[serde(default)]
    pub voided_at: Option<String>,
    #[serde(default)]
    pub settled_at: Option<String>,
    #[serde(default)]
    pub last_seq: u64,
}

impl From<&d::Transaction> for TransactionRowV1 {
    fn from(t: &d::Transaction) -> Self {
        TransactionRowV1 {
            id: t.id.to_string(),
            merchant_id: t.merchant_id.to_string(),
            livemode: t.livemode,
            interaction_id: t.interaction_id.to_string(),
            terminal_id: t.terminal_id.to_string(),
            kind: t.kind.into(),
            status: t.status.into(),
            amount: (&t.amount).into(),
            tip_amount: t.tip_amount,
            auth_code: t.auth_code.clone(),
            decline_reason: t.decline_reason.map(Into::into),
            decline_message: t.decline_message.clone(),
            card: t.card.as_ref().map(Into::into),
            emv: t.emv.as_ref().map(Into::into),
            condition: t.condition.into(),
            incremented_amount: t.incremented_amount,
            captured_amount: t.captured_amount,
            refunded_amount: t.refunded_amount,
            refund_pending_amount: t.refund_pending_amount,
            reference: t.reference.clone(),
            receipts: (&t.receipts).into(),
            created_at: ts(t.created_at),
            updated_at: ts(t.updated_at),
            pending_operation: t.pending_operation.map(|o| o.to_string()),
            captured_at: opt_ts(t.captured_at),
            voided_at: opt_ts(t.voided_at),
            settled_at: opt_ts(t.settled_at),
            last_seq: t.last_seq,
        }
    }
}

impl TryFrom<TransactionRowV1> for d::Transaction {
    type Error = StoreError;
    fn try_from(r: TransactionRowV1) -> StoreResult<d::Transaction> {
        Ok(d::Transaction {
            id: parse_id(&r.id)?,
            merchant_id: parse_id(&r.merchant_id)?,
            livemode: r.livemode,
            interaction_id: parse_id(&r.interaction_id)?,
            terminal_id: parse_id(&r.terminal_id)?,
            kind: r.kind.into(),
            status: r.status.into(),
            amount: r.amount.try_into()?,
            tip_amount: r.tip_amount,
            auth_code: r.auth_code,
            decline_reason: r.decline_reason.map(Into::into),
            decline_message: r.decline_message,
            card: r.card.map(TryInto::try_into).transpose()?,
            emv: r.emv.map(Into::into),
            condition: r.condition.into(),
            incremented_amount: r.incremented_amount,
            captured_amount: r.captured_amount,
            refunded_amount: r.refunded_amount,
            refund_pending_amount: r.refund_pending_amount,
            reference: r.reference,
            receipts: r.receipts.into(),
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
            pending_operation: parse_opt_id(r.pending_operation)?,
            captured_at: parse_opt_ts(r.captured_at)?,
            voided_at: parse_opt_ts(r.voided_at)?,
            settled_at: parse_opt_ts(r.settled_at)?,
            last_seq: r.last_seq,
        })
    }
}

impl Stored for d::Transaction {
    type Row = TransactionRowV1;
}

/// A capture, void or referenced refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationRowV1 {
    pub id: String,
    pub transaction_id: String,
    pub merchant_id: String,
    pub kind: OperationKindRow,
    pub amount: MoneyRowV1,
    pub status: OperationStatusRow,
    pub reference: Option<String>,
    pub failure_reason: Option<String>,
    pub processor_reference: Option<String>,
    pub receipts: Option<ReceiptsRowV1>,
    pub idempotency_key: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&d::Operation> for OperationRowV1 {
    fn from(o: &d::Operation) -> Self {
        OperationRowV1 {
            id: o.id.to_string(),
            transaction_id: o.transaction_id.to_string(),
            merchant_id: o.merchant_id.to_string(),
            kind: o.kind.into(),
            amount: (&o.amount).into(),
            status: o.status.into(),
            reference: o.reference.clone(),
            failure_reason: o.failure_reason.clone(),
            processor_reference: o.processor_reference.clone(),
            receipts: o.receipts.as_ref().map(Into::into),
            idempotency_key: o.idempotency_key.clone(),
            created_at: ts(o.created_at),
            updated_at: ts(o.updated_at),
        }
    }
}

impl TryFrom<OperationRowV1> for d::Operation {
    type Error = StoreError;
    fn try_from(r: OperationRowV1) -> StoreResult<d::Operation> {
        Ok(d::Operation {
            id: parse_id(&r.id)?,
            transaction_id: parse_id(&r.transaction_id)?,
            merchant_id: parse_id(&r.merchant_id)?,
            kind: r.kind.into(),
            amount: r.amount.try_into()?,
            status: r.status.into(),
            reference: r.reference,
            failure_reason: r.failure_reason,
            processor_reference: r.processor_reference,
            receipts: r.receipts.map(Into::into),
            idempotency_key: r.idempotency_key,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

impl Stored for d::Operation {
    type Row = OperationRowV1;
}

/// What happened to a transaction, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TransactionEventKindRowV1 {
    #[serde(rename = "operation_requested")]
    OperationRequested {
        operation: String,
        operation_kind: OperationKindRow,
        amount: i64,
    },
    #[serde(rename = "operation_succeeded")]
    OperationSucceeded {
        operation: String,
        operation_kind: OperationKindRow,
        amount: i64,
    },
    #[serde(rename = "operation_failed")]
    OperationFailed {
        operation: String,
        operation_kind: OperationKindRow,
        reason: String,
    },
    #[serde(rename = "settled")]
    Settled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionEventRowV1 {
    pub transaction_id: String,
    pub seq: u64,
    pub created_at: String,
    #[serde(flatten)]
    pub kind: TransactionEventKindRowV1,
}

impl From<&d::TransactionEvent> for TransactionEventRowV1 {
    fn from(e: &d::TransactionEvent) -> Self {
        use d::TransactionEventKind as K;
        TransactionEventRowV1 {
            transaction_id: e.transaction_id.to_string(),
            seq: e.seq,
            created_at: ts(e.created_at),
            kind: match &e.kind {
                K::OperationRequested {
                    operation,
                    operation_kind,
                    amount,
                } => TransactionEventKindRowV1::OperationRequested {
                    operation: operation.to_string(),
                    operation_kind: (*operation_kind).into(),
                    amount: *amount,
                },
                K::OperationSucceeded {
                    operation,
                    operation_kind,
                    amount,
                } => TransactionEventKindRowV1::OperationSucceeded {
                    operation: operation.to_string(),
                    operation_kind: (*operation_kind).into(),
                    amount: *amount,
                },
                K::OperationFailed {
                    operation,
                    operation_kind,
                    reason,
                } => TransactionEventKindRowV1::OperationFailed {
                    operation: operation.to_string(),
                    operation_kind: (*operation_kind).into(),
                    reason: reason.clone(),
                },
                K::Settled => TransactionEventKindRowV1::Settled,
            },
        }
    }
}

impl TryFrom<TransactionEventRowV1> for d::TransactionEvent {
    type Error = StoreError;
    fn try_from(r: TransactionEventRowV1) -> StoreResult<d::TransactionEvent> {
        use d::TransactionEventKind as K;
        Ok(d::TransactionEvent {
            transaction_id: parse_id(&r.transaction_id)?,
            seq: r.seq,
            created_at: parse_ts(&r.created_at)?,
            kind: match r.kind {
                TransactionEventKindRowV1::OperationRequested {
                    operation,
                    operation_kind,
                    amount,
                } => K::OperationRequested {
                    operation: parse_id(&operation)?,
                    operation_kind: operation_kind.into(),
                    amount,
                },
                TransactionEventKindRowV1::OperationSucceeded {
                    operation,
                    operation_kind,
                    amount,
                } => K::OperationSucceeded {
                    operation: parse_id(&operation)?,
                    operation_kind: operation_kind.into(),
                    amount,
                },
                TransactionEventKindRowV1::OperationFailed {
                    operation,
                    operation_kind,
                    reason,
                } => K::OperationFailed {
                    operation: parse_id(&operation)?,
                    operation_kind: operation_kind.into(),
                    reason,
                },
                TransactionEventKindRowV1::Settled => K::Settled,
            },
        })
    }
}

impl Stored for d::TransactionEvent {
    type Row = TransactionEventRowV1;
}

/// The stored answer of an operation request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationSnapshotRowV1 {
    pub operation: OperationRowV1,
    pub transaction: TransactionRowV1,
}

impl From<&OperationSnapshot> for OperationSnapshotRowV1 {
    fn from(s: &OperationSnapshot) -> Self {
        OperationSnapshotRowV1 {
            operation: (&s.operation).into(),
            transaction: (&s.transaction).into(),
        }
    }
}

impl TryFrom<OperationSnapshotRowV1> for OperationSnapshot {
    type Error = StoreError;
    fn try_from(r: OperationSnapshotRowV1) -> StoreResult<OperationSnapshot> {
        Ok(OperationSnapshot {
            operation: r.operation.try_into()?,
            transaction: r.transaction.try_into()?,
        })
    }
}

impl Stored for OperationSnapshot {
    type Row = OperationSnapshotRowV1;
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}
