//! Receipts: a customer and a merchant copy of every card decision.
//!
//! Each receipt is given twice: as structured lines (`key`, `label`, `value`) for POS systems
//! that print their own layout, and as plain text that fits a 40-column printer. The
//! structured form is what the Adyen dialect turns into `PaymentReceipt` output text.

use crate::card::Cvm;
use crate::money::Money;
use crate::transaction::{Transaction, TransactionKind, TransactionStatus};
use serde::{Deserialize, Serialize};

/// Printer width in characters.
pub const RECEIPT_WIDTH: usize = 40;

/// What a receipt needs beyond the transaction: who printed it, where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptContext {
    pub merchant_name: String,
    pub terminal_poiid: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReceiptCopy {
    Customer,
    Merchant,
}

/// One line: a stable key, an optional label and a value. Lines without a label are
/// centred headings or notices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptLine {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub copy: ReceiptCopy,
    pub lines: Vec<ReceiptLine>,
    /// The same content as plain text, at most 40 characters per line.
    pub text: String,
}

/// Both copies of the receipt of one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipts {
    pub customer: Option<Receipt>,
    pub merchant: Option<Receipt>,
}

/// Renders both copies for `txn`.
pub fn render(txn: &Transaction, ctx: &ReceiptContext) -> Receipts {
    Receipts {
        customer: Some(render_copy(txn, ctx, ReceiptCopy::Customer)),
        merchant: Some(render_copy(txn, ctx, ReceiptCopy::Merchant)),
    }
}

fn render_copy(txn: &Transaction, ctx: &ReceiptContext, copy: ReceiptCopy) -> Receipt {
    let mut lines = Vec::new();
    let mut push = |key: &str, label: Option<&str>, value: String| {
        lines.push(ReceiptLine {
            key: key.to_string(),
            label: label.map(str::to_string),
            value,
        });
    };
    push("merchant_name", None, ctx.merchant_name.clone());
    push("terminal", Some("Terminal"), ctx.terminal_poiid.clone());
    let (y, mo, d, h, mi, s, _) = txn.created_at.utc_parts();
    push(
        "date",
        Some("Date"),
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"),
    );
    let kind = match txn.kind {
        TransactionKind::Sale => "SALE",
        TransactionKind::Auth => "PRE-AUTHORISATION",
        TransactionKind::Refund => "REFUND",
        TransactionKind::Validate => "CARD VERIFICATION",
    };
    push("transaction_type", None, kind.to_string());
    if let Some(card) = &txn.card {
        push("card_brand", Some("Card"), card.brand().label().to_string());
        push("pan", Some("PAN"), card.masked_pan());
        push(
            "entry_mode",
            Some("Entry"),
            card.entry_mode().label().to_string(),
        );
    }
    if let Some(emv) = &txn.emv {
        push("aid", Some("AID"), emv.application_id.clone());
        let name = emv
            .application_preferred_name
            .clone()
            .unwrap_or_else(|| emv.application_label.clone());
        push("application", Some("App"), name);
    }
    // With a tip asked on the terminal: the amount, the tip, then the total of both.
    if let Some(tip) = txn.tip_amount {
        let currency = txn.amount.currency();
        let minor = |value: i64| {
            Money::new(value, currency)
                .map(|m| format!("{currency} {}", m.to_decimal_string()))
                .unwrap_or_default()
        };
        push("amount", Some("Amount"), minor(txn.amount.value() - tip));
        push("tip", Some("Tip"), minor(tip));
    }
    push(
        "total",
        Some("TOTAL"),
        format!(
            "{} {}",
            txn.amount.currency(),
            txn.amount.to_decimal_string()
        ),
    );
    match txn.status {
        TransactionStatus::Approved => {
            push("result", None, "APPROVED".to_string());
            if let Some(code) = &txn.auth_code {
                push("auth_code", Some("Auth code"), code.clone());
            }
        }
        TransactionStatus::Declined => {
            push("result", None, "DECLINED".to_string());
            if let Some(msg) = &txn.decline_message {
                push("decline_reason", None, msg.clone());
            }
        }
    }
    let cvm = txn.emv.as_ref().map(|e| e.cvm);
    if let Some(cvm) = cvm
        && txn.status == TransactionStatus::Approved
    {
        push("cvm", None, cvm.receipt_text().to_string());
    }
    push("transaction_id", Some("Ref"), txn.id.to_string());
    if copy == ReceiptCopy::Merchant
        && txn.status == TransactionStatus::Approved
        && cvm.is_some_and(Cvm::needs_signature)
    {
        push(
            "signature",
            Some("Signature"),
            "X____________________".to_string(),
        );
    }
    let footer = match copy {
        ReceiptCopy::Customer => "CUSTOMER COPY",
        ReceiptCopy::Merchant => "MERCHANT COPY",
    };
    push("copy", None, footer.to_string());
    if copy == ReceiptCopy::Customer {
        push("notice", None, "Please retain this receipt".to_string());
    }
    let text = to_text(&lines);
    Receipt { copy, lines, text }
}

/// Renders both copies of the receipt of a refund or void on `txn`.
pub fn render_operation(
    txn: &Transaction,
    op: &crate::operations::Operation,
    ctx: &ReceiptContext,
) -> Receipts {
    use crate::operations::{OperationKind, OperationStatus};
    let copy = |copy: ReceiptCopy| {
        let mut lines = Vec::new();
        let mut push = |key: &str, label: Option<&str>, value: String| {
            lines.push(ReceiptLine {
                key: key.to_string(),
                label: label.map(str::to_string),
                value,
            });
        };
        push("merchant_name", None, ctx.merchant_name.clone());
        push("terminal", Some("Terminal"), ctx.terminal_poiid.clone());
        let (y, mo, d, h, mi, s, _) = op.updated_at.utc_parts();
        push(
            "date",
            Some("Date"),
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"),
        );
        let title = match op.kind {
            OperationKind::Refund => "REFUND",
            OperationKind::Void => "VOID",
            OperationKind::Capture => "CAPTURE",
            OperationKind::Increment => "TOP-UP",
        };
        push("transaction_type", None, title.to_string());
        if let Some(card) = &txn.card {
            push("card_brand", Some("Card"), card.brand().label().to_string());
            push("pan", Some("PAN"), card.masked_pan());
        }
        push(
            "total",
            Some("TOTAL"),
            format!("{} {}", op.amount.currency(), op.amount.to_decimal_string()),
        );
        let result = match op.status {
            OperationStatus::Succeeded => "APPROVED",
            OperationStatus::Failed => "DECLINED",
            OperationStatus::Pending => "PENDING",
        };
        push("result", None, result.to_string());
        if let Some(reason) = &op.failure_reason {
            push("decline_reason", None, reason.clone());
        }
        push("original_transaction", Some("Original"), txn.id.to_string());
        push("operation_id", Some("Ref"), op.id.to_string());
        let footer = match copy {
            ReceiptCopy::Customer => "CUSTOMER COPY",
            ReceiptCopy::Merchant => "MERCHANT COPY",
        };
        push("copy", None, footer.to_string());
        let text = to_text(&lines);
        Receipt { copy, lines, text }
    };
    Receipts {
        customer: Some(copy(ReceiptCopy::Customer)),
        merchant: Some(copy(ReceiptCopy::Merchant)),
    }
}

/// Renders both copies of the receipt of an interaction that ended without a card decision
/// (cancelled or failed before the card was read): nothing was charged, and the cardholder
/// and the merchant still get a slip saying so, as terminals print one for an aborted
/// payment. `None` for an interaction that is still running or has a card decision (its
/// transaction has the receipt).
pub fn render_unfinished(
    interaction: &crate::interaction::Interaction,
    ctx: &ReceiptContext,
) -> Option<Receipts> {
    use crate::interaction::{InteractionType, Outcome};
    let result = match interaction.outcome.as_ref()? {
        Outcome::Cancelled { .. } => "ABORTED",
        Outcome::Failed { .. } => "NOT COMPLETED",
        Outcome::Approved { .. } | Outcome::Declined { .. } => return None,
    };
    let when = interaction.completed_at.unwrap_or(interaction.updated_at);
    let copy = |copy: ReceiptCopy| {
        let mut lines = Vec::new();
        let mut push = |key: &str, label: Option<&str>, value: String| {
            lines.push(ReceiptLine {
                key: key.to_string(),
                label: label.map(str::to_string),
                value,
            });
        };
        push("merchant_name", None, ctx.merchant_name.clone());
        push("terminal", Some("Terminal"), ctx.terminal_poiid.clone());
        let (y, mo, d, h, mi, s, _) = when.utc_parts();
        push(
            "date",
            Some("Date"),
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"),
        );
        let kind = match interaction.kind {
            InteractionType::Sale => "SALE",
            InteractionType::Auth => "PRE-AUTHORISATION",
            InteractionType::Refund => "REFUND",
            InteractionType::Validate => "CARD VERIFICATION",
        };
        push("transaction_type", None, kind.to_string());
        push(
            "total",
            Some("TOTAL"),
            format!(
                "{} {}",
                interaction.amount.currency(),
                interaction.amount.to_decimal_string()
            ),
        );
        push("result", None, result.to_string());
        push("notice", None, "No amount was charged".to_string());
        push("interaction_id", Some("Ref"), interaction.id.to_string());
        let footer = match copy {
            ReceiptCopy::Customer => "CUSTOMER COPY",
            ReceiptCopy::Merchant => "MERCHANT COPY",
        };
        push("copy", None, footer.to_string());
        let text = to_text(&lines);
        Receipt { copy, lines, text }
    };
    Some(Receipts {
        customer: Some(copy(ReceiptCopy::Customer)),
        merchant: Some(copy(ReceiptCopy::Merchant)),
    })
}

/// Lays the lines out in [`RECEIPT_WIDTH`] columns: labels left, values right, headings
/// centred; a value too long to share its line with the label goes on the next line.
fn to_text(lines: &[ReceiptLine]) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        let value = clip(&line.value, RECEIPT_WIDTH);
        let value_len = value.chars().count();
        match &line.label {
            None => {
                let pad = (RECEIPT_WIDTH - value_len) / 2;
                out.push(format!("{}{}", " ".repeat(pad), value));
            }
            Some(label) => {
                let label = clip(label, RECEIPT_WIDTH);
                let label_len = label.chars().count();
                if label_len + 1 + value_len <= RECEIPT_WIDTH {
                    let pad = RECEIPT_WIDTH - label_len - value_len;
                    out.push(format!("{label}{}{value}", " ".repeat(pad)));
                } else {
                    out.push(label);
                    out.push(format!("{}{value}", " ".repeat(RECEIPT_WIDTH - value_len)));
                }
            }
        }
        if line.key == "total" || line.key == "transaction_type" {
            out.push("-".repeat(RECEIPT_WIDTH));
        }
    }
    out.join("\n")
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{CardBrand, EmvData, EntryMode, MaskedCard};

    use crate::id::TransactionId;
    use crate::interaction::{DeclineReason, Interaction, InteractionType, TerminalOutcome};

    use crate::time::Timestamp;
    use proptest::prelude::*;

    fn interaction(value: i64) -> Interaction {
        let now = Timestamp::from_millis(1_716_901_890_939);
        crate::fixtures::new_interaction(InteractionType::Sale, value, "GBP", now)
    }

    fn approved(cvm: Cvm) -> TerminalOutcome {
        TerminalOutcome::Approved {
            tip_amount: None,
            auth_code: "A99BUO".into(),
            card: MaskedCard::new(Some("476173"), "0010", CardBrand::Visa, EntryMode::Chip)
                .expect("card"),
            emv: Some(EmvData {
                application_id: "A0000000031010".into(),
                application_label: "VISA CREDIT".into(),
                application_preferred_name: None,
                cvm,
                tsi: "E800".into(),
                tvr: "0000000000".into(),
                pan_sequence_number: Some("01".into()),
            }),
        }
    }

    fn ctx(name: &str) -> ReceiptContext {
        ReceiptContext {
            merchant_name: name.into(),
            terminal_poiid: "V400m-324688179".into(),
        }
    }

    #[test]
    fn a_tip_asked_on_the_terminal_shows_amount_tip_and_total() {
        let mut i = interaction(2000);
        i.ask_for_tip = true;
        let txn = Transaction::from_terminal_outcome(
            TransactionId::generate(i.created_at),
            &i,
            &approved(Cvm::OnlinePin).with_tip(Some(300)),
            &ctx("Demo Coffee"),
            i.created_at,
        )
        .expect("txn");
        let lines = &txn.receipts.customer.as_ref().expect("customer").lines;
        let value = |key: &str| {
            lines
                .iter()
                .find(|l| l.key == key)
                .map(|l| l.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(value("amount"), "GBP 20.00");
        assert_eq!(value("tip"), "GBP 3.00");
        assert_eq!(value("total"), "GBP 23.00");
        // Without a tip asked, no amount or tip line.
        let plain = Transaction::from_terminal_outcome(
            TransactionId::generate(i.created_at),
            &interaction(2000),
            &approved(Cvm::OnlinePin),
            &ctx("Demo Coffee"),
            i.created_at,
        )
        .expect("txn");
        let lines = &plain.receipts.customer.as_ref().expect("customer").lines;
        assert!(!lines.iter().any(|l| l.key == "tip" || l.key == "amount"));
    }

    #[test]
    fn approved_receipts_carry_the_essentials() {
        let i = interaction(100);
        let txn = Transaction::from_terminal_outcome(
            TransactionId::generate(i.created_at),
            &i,
            &approved(Cvm::Signature),
            &ctx("Demo Coffee"),
            i.created_at,
        )
        .expect("txn");
        let customer = txn.receipts.customer.as_ref().expect("customer copy");
        let merchant = txn.receipts.merchant.as_ref().expect("merchant copy");
        assert!(customer.text.contains("GBP 1.00"));
        assert!(customer.text.contains("476173******0010"));
        assert!(customer.text.contains("APPROVED"));
        assert!(customer.text.contains("A99BUO"));
        assert!(customer.text.contains("CUSTOMER COPY"));
        assert!(!customer.text.contains("X____"));
        assert!(merchant.text.contains("MERCHANT COPY"));
        assert!(
            merchant.text.contains("X____"),
            "signature CVM needs a signature line"
        );
        assert!(
            customer
                .lines
                .iter()
                .any(|l| l.key == "auth_code" && l.value == "A99BUO")
        );
    }

    #[test]
    fn declined_receipt_says_why() {
        let i = interaction(124);
        let outcome = TerminalOutcome::Declined {
            reason: DeclineReason::InsufficientFunds,
            message: "Not enough balance".into(),
            card: None,
            emv: None,
        };
        let txn = Transaction::from_terminal_outcome(
            TransactionId::generate(i.created_at),
            &i,
            &outcome,
            &ctx("Shop"),
            i.created_at,
        )
        .expect("txn");
        let text = &txn.receipts.customer.as_ref().expect("copy").text;
        assert!(text.contains("DECLINED"));
        assert!(text.contains("Not enough balance"));
    }

    #[test]
    fn an_aborted_payment_has_a_receipt_saying_nothing_was_charged() {
        let running = interaction(700);
        assert!(
            render_unfinished(&running, &ctx("Shop")).is_none(),
            "still running"
        );
        let mut aborted = running.clone();
        aborted.outcome = Some(crate::interaction::Outcome::Cancelled {
            reason: crate::interaction::CancelReason::Api,
        });
        let receipts = render_unfinished(&aborted, &ctx("Shop")).expect("receipts");
        for copy in [&receipts.customer, &receipts.merchant] {
            let text = &copy.as_ref().expect("a copy").text;
            assert!(text.contains("ABORTED"), "{text}");
            assert!(text.contains("No amount was charged"), "{text}");
            assert!(text.contains("GBP 7.00"), "{text}");
            assert!(text.lines().all(|l| l.chars().count() <= RECEIPT_WIDTH));
        }
        let mut approved = running;
        approved.outcome = Some(crate::interaction::Outcome::Approved {
            tip_amount: None,
            auth_code: "A1".into(),
        });
        assert!(
            render_unfinished(&approved, &ctx("Shop")).is_none(),
            "a card decision has its transaction's receipts"
        );
    }

    proptest! {
        #[test]
        fn every_line_fits_forty_columns(name in "\\PC{1,80}", value in 1i64..99_999_999_999) {
            let i = interaction(value);
            let txn = Transaction::from_terminal_outcome(
                TransactionId::generate(i.created_at), &i, &approved(Cvm::OnlinePin), &ctx(&name), i.created_at,
            ).expect("txn");
            for copy in [&txn.receipts.customer, &txn.receipts.merchant] {
                let receipt = copy.as_ref().expect("copy");
                for line in receipt.text.lines() {
                    prop_assert!(line.chars().count() <= RECEIPT_WIDTH, "{line:?}");
                }
            }
        }
    }
}
