//! Events: the append-only, gap-free, per-interaction record of what happened.
//!
//! Every dialect renders the same events in its own shape (Cybersource's
//! `AcknowledgementResponse` / `TransactionStatusResponse` / `PaymentResponse`, NMI's
//! `asyncStatus`, …), so an event says what happened in poigate's terms only.

use crate::id::{InteractionId, TransactionId};
use crate::interaction::{Outcome, Status};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One event of one interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub interaction_id: InteractionId,
    /// 1, 2, 3 … per interaction, without gaps.
    pub seq: u64,
    /// The interaction's status right after this event.
    pub status: Status,
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The request was accepted and stored.
    Created,
    /// The terminal acknowledged the request and started the cardholder interaction.
    Acknowledged,
    /// A progress message shown on the terminal ("1.00 GBP - Present card").
    Stage { message: String },
    /// A cancel was requested through the API and forwarded to the terminal.
    CancelRequested,
    /// The terminal answered a cancel request: too late, the real outcome follows.
    CancelTooLate,
    /// The terminal's connection dropped while it held this interaction.
    TerminalDisconnected,
    /// The terminal came back while it held this interaction.
    TerminalReconnected,
    /// The safety deadline passed without a result from the terminal. Not final.
    Overdue,
    /// The final event: exactly one per interaction, always the last.
    Completed {
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transaction_id: Option<TransactionId>,
    },
}

impl EventKind {
    /// The stable name of the event type (the `type` field).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Stage { .. } => "stage",
            EventKind::CancelRequested => "cancel_requested",
            EventKind::CancelTooLate => "cancel_too_late",
            EventKind::TerminalDisconnected => "terminal_disconnected",
            EventKind::TerminalReconnected => "terminal_reconnected",
            EventKind::Overdue => "overdue",
            EventKind::Completed { .. } => "completed",
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self, EventKind::Completed { .. })
    }
}
