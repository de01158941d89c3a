//! Interactions: one request sent to a terminal, its lifecycle status and its outcome.

use crate::card::{EmvData, MaskedCard};
use crate::event::{Event, EventKind};
use crate::id::{InteractionId, MerchantId, TerminalId, TransactionId};
use crate::money::Money;
use crate::time::Timestamp;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the terminal is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum InteractionType {
    /// Authorise and capture in one step.
    Sale,
    /// Pre-authorisation, captured later.
    Auth,
    /// Card-present refund not linked to an earlier transaction.
    Refund,
    /// Card verification; amount must be zero.
    Validate,
}

impl InteractionType {
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionType::Sale => "sale",
            InteractionType::Auth => "auth",
            InteractionType::Refund => "refund",
            InteractionType::Validate => "validate",
        }
    }
}

/// Lifecycle status. `pending` and `in_progress` are live; the other four are final and
/// never change once reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    /// Accepted and durable; not yet acknowledged by the terminal.
    Pending,
    /// The terminal acknowledged the request and runs the cardholder interaction.
    InProgress,
    Approved,
    Declined,
    Cancelled,
    Failed,
}

impl Status {
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Pending | Status::InProgress)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InProgress => "in_progress",
            Status::Approved => "approved",
            Status::Declined => "declined",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "pending" => Status::Pending,
            "in_progress" => Status::InProgress,
            "approved" => Status::Approved,
            "declined" => Status::Declined,
            "cancelled" => Status::Cancelled,
            "failed" => Status::Failed,
            _ => return None,
        })
    }
}

/// Who or what cancelled an interaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CancelReason {
    /// A cancel request through the API.
    Api,
    /// Cancel pressed on the terminal.
    Terminal,
    /// No card presented within the card-interaction timeout (reported by the terminal).
    Timeout,
    /// The terminal never acknowledged the request; the gateway gave up delivering it.
    NotDelivered,
}

/// Why the issuer or the terminal refused the card. The amount test triggers map to these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeclineReason {
    /// Generic refusal ("do not honour").
    Refused,
    InsufficientFunds,
    CardBlocked,
    CardExpired,
    InvalidAmount,
    InvalidCard,
    PinIncorrect,
}

impl DeclineReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::Refused => "refused",
            DeclineReason::InsufficientFunds => "insufficient_funds",
            DeclineReason::CardBlocked => "card_blocked",
            DeclineReason::CardExpired => "card_expired",
            DeclineReason::InvalidAmount => "invalid_amount",
            DeclineReason::InvalidCard => "invalid_card",
            DeclineReason::PinIncorrect => "pin_incorrect",
        }
    }

    /// The message a terminal shows and the default human text of the outcome.
    pub fn default_message(self) -> &'static str {
        match self {
            DeclineReason::Refused => "Refused",
            DeclineReason::InsufficientFunds => "Not enough balance",
            DeclineReason::CardBlocked => "Blocked card",
            DeclineReason::CardExpired => "Expired card",
            DeclineReason::InvalidAmount => "Invalid amount",
            DeclineReason::InvalidCard => "Invalid card number",
            DeclineReason::PinIncorrect => "Incorrect PIN",
        }
    }
}

/// Why an interaction failed without a card decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FailureReason {
    /// The terminal hit an internal error.
    TerminalError,
    /// The card could not be read.
    CardReadError,
    /// The terminal could not reach the processor.
    ProcessorUnavailable,
    /// The terminal does not support the requested operation.
    Unsupported,
}

/// The final result of an interaction (`null` in the API while it is live).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    Approved {
        auth_code: String,
        /// The tip the cardholder chose on the terminal, minor units in the interaction's
        /// currency; present only when a tip was asked (`0`: the cardholder declined to
        /// tip). The amount authorised is the interaction's `amount` plus this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tip_amount: Option<i64>,
    },
    Declined {
        reason: DeclineReason,
        message: String,
    },
    Cancelled {
        reason: CancelReason,
    },
    Failed {
        reason: FailureReason,
        message: String,
    },
}

impl Outcome {
    /// The final status this outcome puts an interaction in.
    pub fn status(&self) -> Status {
        match self {
            Outcome::Approved { .. } => Status::Approved,
            Outcome::Declined { .. } => Status::Declined,
            Outcome::Cancelled { .. } => Status::Cancelled,
            Outcome::Failed { .. } => Status::Failed,
        }
    }
}

/// What a terminal reports at the end of the cardholder interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TerminalOutcome {
    Approved {
        auth_code: String,
        card: MaskedCard,
        #[serde(default)]
        emv: Option<EmvData>,
        /// The tip the cardholder chose, when the start asked for one (minor units). A
        /// terminal that does not report it reports no tip (0); reported without being
        /// asked, or out of range, the report is refused ([`TerminalOutcome::checked_tip`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tip_amount: Option<i64>,
    },
    Declined {
        reason: DeclineReason,
        message: String,
        #[serde(default)]
        card: Option<MaskedCard>,
        #[serde(default)]
        emv: Option<EmvData>,
    },
    Cancelled {
        reason: CancelReason,
    },
    Failed {
        reason: FailureReason,
        message: String,
    },
}

impl TerminalOutcome {
    /// The first text field that holds card data (a card number or track data), if any:
    /// a terminal's report carrying one is refused whole, and nothing of it is kept.
    pub fn card_data(&self) -> Option<(&'static str, crate::card_data::Finding)> {
        let mut texts: Vec<(&'static str, &str)> = Vec::new();
        fn emv_texts<'a>(
            emv: &'a Option<crate::card::EmvData>,
            texts: &mut Vec<(&'static str, &'a str)>,
        ) {
            // Every EMV string: the hex ones are checked for format elsewhere, but a hex
            // string of digits only could still be a card number.
            if let Some(e) = emv {
                texts.push(("emv.application_id", e.application_id.as_str()));
                texts.push(("emv.application_label", e.application_label.as_str()));
                if let Some(n) = &e.application_preferred_name {
                    texts.push(("emv.application_preferred_name", n.as_str()));
                }
                texts.push(("emv.tsi", e.tsi.as_str()));
                texts.push(("emv.tvr", e.tvr.as_str()));
            }
        }
        match self {
            TerminalOutcome::Approved { auth_code, emv, .. } => {
                texts.push(("auth_code", auth_code.as_str()));
                emv_texts(emv, &mut texts);
            }
            TerminalOutcome::Declined { message, emv, .. } => {
                texts.push(("message", message.as_str()));
                emv_texts(emv, &mut texts);
            }
            TerminalOutcome::Cancelled { .. } => {}
            TerminalOutcome::Failed { message, .. } => texts.push(("message", message.as_str())),
        }
        texts
            .into_iter()
            .find_map(|(field, text)| crate::card_data::scan(text).map(|f| (field, f)))
    }

    /// The tip to record for this outcome of `interaction`, checked: `Some` (0 when the
    /// terminal reported none) exactly when a tip was asked and the card was approved.
    /// A tip reported without being asked, negative, above [`MAX_TIP_FACTOR`] times the
    /// amount, or making the total exceed the largest amount, is refused: a terminal's
    /// arithmetic is not trusted with the cardholder's money.
    pub fn checked_tip(&self, interaction: &Interaction) -> Result<Option<i64>, TipError> {
        let TerminalOutcome::Approved { tip_amount, .. } = self else {
            return Ok(None);
        };
        match (interaction.ask_for_tip, *tip_amount) {
            (false, None) => Ok(None),
            (false, Some(_)) => Err(TipError::NotAsked),
            (true, None) => Ok(Some(0)),
            (true, Some(tip)) => {
                let base = interaction.amount.value();
                let within = tip >= 0
                    && base
                        .checked_mul(MAX_TIP_FACTOR)
                        .is_some_and(|max| tip <= max)
                    && base
                        .checked_add(tip)
                        .is_some_and(|total| total <= crate::money::MAX_MINOR_UNITS);
                if within {
                    Ok(Some(tip))
                } else {
                    Err(TipError::OutOfRange)
                }
            }
        }
    }

    /// The same outcome with its tip replaced (the checked one).
    pub fn with_tip(mut self, tip: Option<i64>) -> TerminalOutcome {
        if let TerminalOutcome::Approved { tip_amount, .. } = &mut self {
            *tip_amount = tip;
        }
        self
    }

    /// Whether the outcome is a card decision, which creates a transaction record.
    pub fn creates_transaction(&self) -> bool {
        matches!(
            self,
            TerminalOutcome::Approved { .. } | TerminalOutcome::Declined { .. }
        )
    }

    pub fn to_outcome(&self) -> Outcome {
        match self {
            TerminalOutcome::Approved {
                auth_code,
                tip_amount,
                ..
            } => Outcome::Approved {
                auth_code: auth_code.clone(),
                tip_amount: *tip_amount,
            },
            TerminalOutcome::Declined {
                reason, message, ..
            } => Outcome::Declined {
                reason: *reason,
                message: message.clone(),
            },
            TerminalOutcome::Cancelled { reason } => Outcome::Cancelled { reason: *reason },
            TerminalOutcome::Failed { reason, message } => Outcome::Failed {
                reason: *reason,
                message: message.clone(),
            },
        }
    }
}

/// A tip may be at most this many times the amount it is added to.
pub const MAX_TIP_FACTOR: i64 = 10;

/// Why a terminal's reported tip was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TipError {
    #[error("tip_amount was reported but no tip was asked")]
    NotAsked,
    #[error("tip_amount must be 0 to {MAX_TIP_FACTOR} times the amount")]
    OutOfRange,
}

/// A per-interaction webhook subscription (the CM.com pattern).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallbackSubscription {
    pub url: String,
    pub events: Vec<String>,
    /// The payload format (a provider dialect's, e.g. `cm`); the native envelope when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// Default card-interaction timeout enforced by the terminal (Adyen's documented 120 s).
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 120;
pub const MIN_TIMEOUT_SECONDS: u32 = 10;
pub const MAX_TIMEOUT_SECONDS: u32 = 600;
pub const MAX_METADATA_ENTRIES: usize = 20;
pub const MAX_CALLBACKS: usize = 5;

/// A request to create an interaction, already resolved to ids and typed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInteraction {
    pub merchant_id: MerchantId,
    pub terminal_id: TerminalId,
    pub kind: InteractionType,
    pub amount: Money,
    pub reference: Option<String>,
    pub sale_id: Option<String>,
    pub service_id: Option<String>,
    pub timeout_seconds: Option<u32>,
    pub metadata: BTreeMap<String, String>,
    pub webhooks: Vec<CallbackSubscription>,
    /// Ask the cardholder for a tip on the terminal (sales and pre-authorisations).
    pub ask_for_tip: bool,
}

impl NewInteraction {
    /// Every rule a create request must meet, reported together.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        match self.kind {
            InteractionType::Validate if !self.amount.is_zero() => errors.add(
                "amount.value",
                "amount_not_zero",
                "a validate (card verification) interaction must have amount 0",
            ),
            InteractionType::Sale | InteractionType::Auth | InteractionType::Refund
                if self.amount.is_zero() =>
            {
                errors.add(
                    "amount.value",
                    "amount_zero",
                    "amount must be greater than zero",
                )
            }
            _ => {}
        }
        match self.kind {
            InteractionType::Refund | InteractionType::Validate if self.ask_for_tip => errors.add(
                "tip",
                "tip_not_allowed",
                "a tip can be asked only for a sale or an auth",
            ),
            _ => {}
        }
        if let Some(r) = &self.reference {
            errors.check_text("reference", r, 255);
        }
        if let Some(s) = &self.sale_id {
            errors.check_text("sale_id", s, 64);
        }
        if let Some(s) = &self.service_id {
            errors.check_text("service_id", s, 64);
        }
        if let Some(t) = self.timeout_seconds
            && !(MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(&t)
        {
            errors.add(
                "timeout_seconds",
                "out_of_range",
                format!(
                    "timeout_seconds must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS}"
                ),
            );
        }
        if self.metadata.len() > MAX_METADATA_ENTRIES {
            errors.add(
                "metadata",
                "too_many_entries",
                format!("metadata holds at most {MAX_METADATA_ENTRIES} entries"),
            );
        }
        for (k, v) in &self.metadata {
            // A key holding card data must not be echoed in the field name either.
            let before = errors.errors().len();
            crate::card_data::check_key(&mut errors, "metadata", k);
            if errors.errors().len() > before {
                continue;
            }
            errors.check_text(&format!("metadata.{k}"), k, 40);
            if !v.is_empty() {
                errors.check_text(&format!("metadata.{k}"), v, 500);
            }
        }
        if self.webhooks.len() > MAX_CALLBACKS {
            errors.add(
                "webhooks",
                "too_many_entries",
                format!("at most {MAX_CALLBACKS} webhooks per interaction"),
            );
        }
        for (i, hook) in self.webhooks.iter().enumerate() {
            let field = format!("webhooks[{i}].url");
            errors.check_text(&field, &hook.url, 2000);
            if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
                errors.add(
                    field,
                    "invalid_url",
                    "webhook url must start with https:// or http://",
                );
            }
            crate::webhook::validate_filter(
                &format!("webhooks[{i}].events"),
                &hook.events,
                &mut errors,
            );
            if let Some(f) = &hook.format
                && !crate::webhook::valid_format(f)
            {
                errors.add(
                    format!("webhooks[{i}].format"),
                    "invalid_format",
                    "a format is 1 to 32 lowercase letters, digits, dots or underscores",
                );
            }
        }
        errors.into_result(())
    }
}

/// The live and final state of one interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    pub id: InteractionId,
    pub merchant_id: MerchantId,
    /// Live or test mode (the mode of the key that created it, or of its terminal): a key
    /// sees only objects of its own mode. Absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub terminal_id: TerminalId,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    pub amount: Money,
    pub reference: Option<String>,
    pub sale_id: Option<String>,
    pub service_id: Option<String>,
    pub timeout_seconds: u32,
    pub metadata: BTreeMap<String, String>,
    pub webhooks: Vec<CallbackSubscription>,
    /// The terminal asks the cardholder for a tip (the outcome then carries `tip_amount`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ask_for_tip: bool,
    pub status: Status,
    pub outcome: Option<Outcome>,
    pub transaction_id: Option<TransactionId>,
    /// A cancel was requested through the API and forwarded to the terminal.
    pub cancel_requested: bool,
    /// Whether the terminal holding this interaction is connected right now.
    pub terminal_connected: bool,
    /// The safety deadline passed while the interaction was still live.
    pub overdue: bool,
    /// Sequence number of the newest event (events are numbered 1, 2, 3 … without gaps).
    pub last_seq: u64,
    /// Highest terminal report sequence applied, for de-duplicating re-sent frames.
    pub last_terminal_seq: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
}

impl Interaction {
    /// Builds a new `pending` interaction and its first event (`created`, seq 1).
    pub fn create(
        new: NewInteraction,
        id: InteractionId,
        terminal_connected: bool,
        now: Timestamp,
    ) -> Result<(Interaction, Event), ValidationErrors> {
        new.validate()?;
        let interaction = Interaction {
            id,
            merchant_id: new.merchant_id,
            livemode: false,
            terminal_id: new.terminal_id,
            kind: new.kind,
            amount: new.amount,
            reference: new.reference,
            sale_id: new.sale_id,
            service_id: new.service_id,
            timeout_seconds: new.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
            metadata: new.metadata,
            webhooks: new.webhooks,
            ask_for_tip: new.ask_for_tip,
            status: Status::Pending,
            outcome: None,
            transaction_id: None,
            cancel_requested: false,
            terminal_connected,
            overdue: false,
            last_seq: 1,
            last_terminal_seq: 0,
            created_at: now,
            updated_at: now,
            acknowledged_at: None,
            completed_at: None,
        };
        let event = Event {
            interaction_id: id,
            seq: 1,
            status: Status::Pending,
            created_at: now,
            kind: EventKind::Created,
        };
        Ok((interaction, event))
    }

    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }

    pub fn cancel_reason(&self) -> Option<CancelReason> {
        match &self.outcome {
            Some(Outcome::Cancelled { reason }) => Some(*reason),
            _ => None,
        }
    }

    /// When the gateway stops waiting for the terminal and flags the interaction overdue:
    /// the terminal's own card timeout plus a grace period for the result to arrive.
    pub fn safety_deadline(&self, grace_seconds: u32) -> Timestamp {
        let base = self.acknowledged_at.unwrap_or(self.created_at);
        base.plus_seconds(i64::from(self.timeout_seconds) + i64::from(grace_seconds))
    }
}
