//! Transactions: the financial record a card decision creates.

use crate::card::{EmvData, MaskedCard};
use crate::id::{InteractionId, MerchantId, TerminalId, TransactionId};
use crate::interaction::{DeclineReason, Interaction, InteractionType, TerminalOutcome};
use crate::money::Money;
use crate::receipt::{ReceiptContext, Receipts};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What kind of money movement the transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TransactionKind {
    Sale,
    Auth,
    Refund,
    Validate,
}

impl From<InteractionType> for TransactionKind {
    fn from(t: InteractionType) -> Self {
        match t {
            InteractionType::Sale => TransactionKind::Sale,
            InteractionType::Auth => TransactionKind::Auth,
            InteractionType::Refund => TransactionKind::Refund,
            InteractionType::Validate => TransactionKind::Validate,
        }
    }
}

/// The card decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TransactionStatus {
    Approved,
    Declined,
}

/// Settlement condition, in NMI's vocabulary (`pendingsettlement`, `pending`, `complete`,
/// `canceled`, `failed`), so that the NMI dialect renders it verbatim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Condition {
    /// An approved sale or refund waiting for the daily settlement.
    Pendingsettlement,
    /// An approved auth waiting for capture.
    Pending,
    /// A validate, or a settled transaction.
    Complete,
    /// Voided.
    Canceled,
    /// Declined.
    Failed,
}

impl Condition {
    /// The condition a fresh card decision starts in.
    pub fn initial(kind: TransactionKind, status: TransactionStatus) -> Condition {
        match (status, kind) {
            (TransactionStatus::Declined, _) => Condition::Failed,
            (_, TransactionKind::Sale | TransactionKind::Refund) => Condition::Pendingsettlement,
            (_, TransactionKind::Auth) => Condition::Pending,
            (_, TransactionKind::Validate) => Condition::Complete,
        }
    }
}

/// A card decision and everything needed to show, reconcile and follow it up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: TransactionId,
    pub merchant_id: MerchantId,
    /// Live or test mode (the mode of the key that created it, or of its terminal): a key
    /// sees only objects of its own mode. Absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub interaction_id: InteractionId,
    pub terminal_id: TerminalId,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    /// What the card was asked for: the interaction's amount plus `tip_amount`.
    pub amount: Money,
    /// The tip the cardholder chose on the terminal, included in `amount`; present only
    /// when a tip was asked (0: the cardholder declined to tip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip_amount: Option<i64>,
    pub auth_code: Option<String>,
    pub decline_reason: Option<DeclineReason>,
    pub decline_message: Option<String>,
    pub card: Option<MaskedCard>,
    pub emv: Option<EmvData>,
    pub condition: Condition,
    /// Added to the authorisation after the card decision (incremental authorisations and
    /// tips), minor units: what may be captured is `amount` plus this.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incremented_amount: i64,
    /// Captured so far, minor units (a sale captures at once; an auth when captured).
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub refund_pending_amount: i64,
    pub reference: Option<String>,
    pub receipts: Receipts,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// A capture or void being carried out by the processor (blocks another one).
    #[serde(default)]
    pub pending_operation: Option<crate::id::OperationId>,
    #[serde(default)]
    pub captured_at: Option<Timestamp>,
    #[serde(default)]
    pub voided_at: Option<Timestamp>,
    #[serde(default)]
    pub settled_at: Option<Timestamp>,
    /// Sequence number of the newest transaction event (0 when none).
    #[serde(default)]
    pub last_seq: u64,
}

/// Why a terminal's card data was refused.
pub use crate::card::CardDataError;

impl Transaction {
    /// Builds the record of a card decision. Card and EMV data are re-validated here, so
    /// whatever a terminal sent, only masked data reaches storage.
    pub fn from_terminal_outcome(
        id: TransactionId,
        interaction: &Interaction,
        outcome: &TerminalOutcome,
        receipt_context: &ReceiptContext,
        now: Timestamp,
    ) -> Result<Transaction, CardDataError> {
        let kind = TransactionKind::from(interaction.kind);
        let (status, auth_code, decline_reason, decline_message, card, emv) = match outcome {
            TerminalOutcome::Approved {
                auth_code,
                card,
                emv,
                ..
            } => (
                TransactionStatus::Approved,
                Some(auth_code.clone()),
                None,
                None,
                Some(card.clone()),
                emv.clone(),
            ),
            TerminalOutcome::Declined {
                reason,
                message,
                card,
                emv,
            } => (
                TransactionStatus::Declined,
                None,
                Some(*reason),
                Some(message.clone()),
                card.clone(),
                emv.clone(),
            ),
            TerminalOutcome::Cancelled { .. } | TerminalOutcome::Failed { .. } => {
                return Err(CardDataError::NotACardDecision);
            }
        };
        if let Some(code) = &auth_code
            && (code.is_empty()
                || code.len() > 12
                || !code.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(CardDataError::BadAuthCode);
        }
        let card = card.map(MaskedCard::validated).transpose()?;
        let emv = emv.map(EmvData::validated).transpose()?;
        // The machine checked the tip against the interaction (range, asked or not).
        let tip_amount = match outcome {
            TerminalOutcome::Approved { tip_amount, .. } => *tip_amount,
            _ => None,
        };
        let amount = interaction
            .amount
            .value()
            .checked_add(tip_amount.unwrap_or(0))
            .and_then(|total| Money::new(total, interaction.amount.currency()).ok())
            .ok_or(CardDataError::BadTip)?;
        let captured_amount = match (status, kind) {
            (TransactionStatus::Approved, TransactionKind::Sale | TransactionKind::Refund) => {
                amount.value()
            }
            _ => 0,
        };
        let mut txn = Transaction {
            id,
            merchant_id: interaction.merchant_id,
            livemode: interaction.livemode,
            interaction_id: interaction.id,
            terminal_id: interaction.terminal_id,
            kind,
            status,
            amount,
            tip_amount,
            auth_code,
            decline_reason,
            decline_message,
            card,
            emv,
            condition: Condition::initial(kind, status),
            incremented_amount: 0,
            captured_amount,
            refunded_amount: 0,
            refund_pending_amount: 0,
            reference: interaction.reference.clone(),
            receipts: Receipts::default(),
            created_at: now,
            updated_at: now,
            pending_operation: None,
            captured_at: (captured_amount > 0).then_some(now),
            voided_at: None,
            settled_at: None,
            last_seq: 0,
        };
        txn.receipts = crate::receipt::render(&txn, receipt_context);
        Ok(txn)
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}
