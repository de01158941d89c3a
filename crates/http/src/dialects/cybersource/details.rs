//! The full transaction answer (`transactionDetails`, `processingDetails`,
//! `linkedOperations`, `receipts`), shared by `PaymentResponse`, `StandaloneRefundResponse`,
//! `LinkedRefundResponse` and `TransactionLookupResponse`. Pure.

use super::time::submit_time;
use super::wire::{
    AmountView, CardView, LinkedOperation, ProcessingDetails, ReceiptView, ReceiptsView,
    TransactionDetails, TransactionResponse,
};
use poigate_domain::{
    CardBrand, Condition, Currency, Cvm, EntryMode, Interaction, Money, Operation, OperationKind,
    OperationStatus, Receipt, Receipts, Transaction, TransactionKind, TransactionStatus,
};

/// Cybersource's transaction id: the poigate transaction's UUID, 32 hex digits.
pub(super) fn transaction_id(txn: &Transaction) -> String {
    txn.id.uuid().simple().to_string()
}

pub(super) fn decimal(minor: i64, currency: Currency) -> String {
    Money::new(minor.max(0), currency)
        .map(|m| m.to_decimal_string())
        .unwrap_or_default()
}

/// `VISA`, `MASTERCARD`, `DINERS_CLUB`: the receipt label, as an identifier.
fn card_type(brand: CardBrand) -> String {
    brand.label().replace(' ', "_")
}

fn entry_mode(mode: EntryMode) -> &'static str {
    match mode {
        EntryMode::Chip => "ICC",
        EntryMode::Contactless => "NFC_ICC",
        EntryMode::Swipe => "MAGSTRIPE",
    }
}

fn verification_method(cvm: Option<Cvm>) -> &'static str {
    match cvm {
        Some(Cvm::OnlinePin) => "ONLINE_PIN",
        Some(Cvm::OfflinePin) => "OFFLINE_PIN",
        Some(Cvm::Signature) => "SIGNATURE",
        Some(Cvm::OfflinePinSignature) => "OFFLINE_PIN_AND_SIGNATURE",
        Some(Cvm::ConsumerDevice) => "CDCVM",
        Some(Cvm::None) | None => "NONE",
    }
}

fn status(txn: &Transaction) -> &'static str {
    match (txn.status, txn.condition) {
        (TransactionStatus::Declined, _) => "DECLINED",
        (_, Condition::Canceled) => "VOIDED",
        _ => "APPROVED",
    }
}

fn linked(op: &Operation) -> LinkedOperation {
    LinkedOperation {
        id: op.id.uuid().simple().to_string(),
        kind: match op.kind {
            OperationKind::Capture => "CAPTURE",
            OperationKind::Void => "VOID",
            OperationKind::Refund => "REFUND",
            OperationKind::Increment => "INCREMENTAL_AUTHORIZATION",
        },
        amount: op.amount.to_decimal_string(),
        status: match op.status {
            OperationStatus::Pending => "PENDING",
            OperationStatus::Succeeded => "APPROVED",
            OperationStatus::Failed => "DECLINED",
        },
    }
}

fn receipt(r: Option<&Receipt>) -> Option<ReceiptView> {
    r.map(|r| ReceiptView {
        preformatted_receipt: r.text.clone(),
    })
}

/// The answer `kind` (with `message` where the type has one) for `txn` and its operations.
pub(super) fn transaction_response(
    kind: &'static str,
    message: Option<String>,
    txn: &Transaction,
    operations: &[Operation],
) -> TransactionResponse {
    let currency = txn.amount.currency();
    let live = txn.status == TransactionStatus::Approved
        && !matches!(txn.condition, Condition::Canceled | Condition::Failed);
    let captured = txn.captured_amount.saturating_sub(txn.refunded_amount);
    let refundable = if live {
        captured.saturating_sub(txn.refund_pending_amount)
    } else {
        0
    };
    TransactionResponse {
        kind,
        message,
        transaction_details: TransactionDetails {
            id: transaction_id(txn),
            merchant_reference_code: txn.reference.clone(),
            submit_time_utc: submit_time(txn.created_at),
            captured: txn.captured_amount > 0,
            amount_details: AmountView {
                currency: currency.code().to_string(),
                // The authorisation with what was added to it since (increments, a tip).
                amount: decimal(txn.amount.value() + txn.incremented_amount, currency),
                captured_amount: decimal(captured, currency),
                refundable_amount: decimal(refundable, currency),
                // The tip chosen on the terminal (askForTip ON_DEVICE), included in `amount`.
                included_tip_amount: txn.tip_amount.map(|tip| decimal(tip, currency)),
            },
        },
        processing_details: ProcessingDetails {
            status: status(txn),
            verification_method: verification_method(txn.emv.as_ref().map(|e| e.cvm)),
            entry_mode: txn.card.as_ref().map(|c| entry_mode(c.entry_mode())),
            card: txn.card.as_ref().map(|c| CardView {
                kind: card_type(c.brand()),
                masked_pan: c.masked_pan().replace('*', "X"),
            }),
        },
        linked_operations: operations.iter().map(linked).collect(),
        // An approved pre-authorisation not yet captured takes a TipAdjustRequest.
        tip_adjust_status: (txn.kind == TransactionKind::Auth
            && txn.status == TransactionStatus::Approved
            && txn.captured_amount == 0
            && txn.condition != Condition::Canceled)
            .then_some("ADJUSTABLE"),
        receipts: ReceiptsView {
            merchant_receipt: receipt(txn.receipts.merchant.as_ref()),
            customer_receipt: receipt(txn.receipts.customer.as_ref()),
        },
    }
}

/// The answer `kind` for an aborted interaction: Cybersource keeps an aborted payment as a
/// transaction with status `ABORTED`, nothing captured; its id here is the interaction's.
pub(super) fn aborted_response(
    kind: &'static str,
    message: Option<String>,
    interaction: &Interaction,
    receipts: &Receipts,
) -> TransactionResponse {
    let currency = interaction.amount.currency();
    TransactionResponse {
        kind,
        message,
        transaction_details: TransactionDetails {
            id: interaction.id.uuid().simple().to_string(),
            merchant_reference_code: interaction.reference.clone(),
            submit_time_utc: submit_time(interaction.created_at),
            captured: false,
            amount_details: AmountView {
                currency: currency.code().to_string(),
                amount: interaction.amount.to_decimal_string(),
                captured_amount: decimal(0, currency),
                refundable_amount: decimal(0, currency),
                included_tip_amount: None,
            },
        },
        processing_details: ProcessingDetails {
            status: "ABORTED",
            verification_method: verification_method(None),
            entry_mode: None,
            card: None,
        },
        linked_operations: Vec::new(),
        tip_adjust_status: None,
        receipts: ReceiptsView {
            merchant_receipt: receipt(receipts.merchant.as_ref()),
            customer_receipt: receipt(receipts.customer.as_ref()),
        },
    }
}
