//! Response bodies, built from domain values.

use poigate_domain::{
    CallbackSubscription, CancelReason, Condition, DeclineReason, EmvData, Event, EventKind,
    Interaction, InteractionId, InteractionType, MaskedCard, Money, Outcome, Receipts, Status,
    TerminalConnection, TerminalId, TerminalKind, TerminalStatus, Timestamp, Transaction,
    TransactionId, TransactionKind, TransactionStatus,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// An interaction: one request sent to a terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InteractionView {
    pub id: InteractionId,
    /// Always `interaction`.
    pub object: String,
    /// `true` for an object of live mode, `false` for test mode: a key sees only objects of
    /// its own mode.
    #[serde(default)]
    pub livemode: bool,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    pub status: Status,
    /// True once the status can never change again.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The final result; `null` while the interaction is live.
    pub outcome: Option<Outcome>,
    /// Who or what cancelled it, when `status` is `cancelled`.
    pub cancel_reason: Option<CancelReason>,
    pub terminal: TerminalId,
    /// The amount requested, before any tip (the transaction's `amount` includes the tip).
    pub amount: Money,
    /// `on_terminal` when the terminal asks the cardholder for a tip; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<crate::requests::TipRequest>,
    pub reference: Option<String>,
    pub sale_id: Option<String>,
    pub service_id: Option<String>,
    pub timeout_seconds: u32,
    pub metadata: BTreeMap<String, String>,
    pub webhooks: Vec<CallbackSubscription>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    /// The transaction a card decision created (approved or declined).
    pub transaction: Option<TransactionView>,
    /// `seq` of the newest event.
    pub last_event_seq: u64,
    /// Whether the terminal holding this interaction is connected.
    pub terminal_connected: bool,
    /// True when the safety deadline passed without a result from the terminal. The outcome
    /// is still the terminal's to report: poigate never invents one.
    pub overdue: bool,
    /// A cancel was requested and forwarded to the terminal.
    pub cancel_requested: bool,
}

impl InteractionView {
    pub fn new(i: &Interaction, transaction: Option<&Transaction>) -> InteractionView {
        InteractionView {
            id: i.id,
            object: "interaction".into(),
            livemode: i.livemode,
            kind: i.kind,
            status: i.status,
            is_final: i.is_final(),
            outcome: i.outcome.clone(),
            cancel_reason: i.cancel_reason(),
            terminal: i.terminal_id,
            amount: i.amount,
            tip: i
                .ask_for_tip
                .then_some(crate::requests::TipRequest::OnTerminal),
            reference: i.reference.clone(),
            sale_id: i.sale_id.clone(),
            service_id: i.service_id.clone(),
            timeout_seconds: i.timeout_seconds,
            metadata: i.metadata.clone(),
            webhooks: i.webhooks.clone(),
            created_at: i.created_at,
            updated_at: i.updated_at,
            acknowledged_at: i.acknowledged_at,
            completed_at: i.completed_at,
            transaction: transaction.map(TransactionView::new),
            last_event_seq: i.last_seq,
            terminal_connected: i.terminal_connected,
            overdue: i.overdue,
            cancel_requested: i.cancel_requested,
        }
    }
}

/// The financial record of a card decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransactionView {
    pub id: TransactionId,
    /// Always `transaction`.
    pub object: String,
    /// `true` for an object of live mode, `false` for test mode: a key sees only objects of
    /// its own mode.
    #[serde(default)]
    pub livemode: bool,
    pub interaction: InteractionId,
    pub terminal: TerminalId,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    /// What the card was asked for: the interaction's amount plus `tip_amount`.
    pub amount: Money,
    /// The tip the cardholder chose on the terminal (minor units, included in `amount`);
    /// absent when no tip was asked, 0 when the cardholder declined to tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip_amount: Option<i64>,
    pub auth_code: Option<String>,
    pub decline_reason: Option<DeclineReason>,
    pub decline_message: Option<String>,
    /// BIN and last four at most.
    pub card: Option<MaskedCard>,
    /// e.g. `476173******0010`.
    pub masked_pan: Option<String>,
    pub emv: Option<EmvData>,
    /// Settlement condition in NMI's vocabulary.
    pub condition: Condition,
    /// What the card authorised (the amount of an approval, 0 for a decline).
    pub authorized_amount: i64,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    /// Refunds requested and not yet answered by the processor (reserved).
    pub refund_pending_amount: i64,
    /// What may still be refunded.
    pub refundable_amount: i64,
    pub reference: Option<String>,
    pub receipts: Receipts,
    pub captured_at: Option<Timestamp>,
    pub voided_at: Option<Timestamp>,
    pub settled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl TransactionView {
    pub fn new(t: &Transaction) -> TransactionView {
        TransactionView {
            id: t.id,
            object: "transaction".into(),
            livemode: t.livemode,
            interaction: t.interaction_id,
            terminal: t.terminal_id,
            kind: t.kind,
            status: t.status,
            amount: t.amount,
            tip_amount: t.tip_amount,
            auth_code: t.auth_code.clone(),
            decline_reason: t.decline_reason,
            decline_message: t.decline_message.clone(),
            masked_pan: t.card.as_ref().map(MaskedCard::masked_pan),
            card: t.card.clone(),
            emv: t.emv.clone(),
            condition: t.condition,
            authorized_amount: t.authorized_amount(),
            captured_amount: t.captured_amount,
            refunded_amount: t.refunded_amount,
            refund_pending_amount: t.refund_pending_amount,
            refundable_amount: t.refundable_amount(),
            reference: t.reference.clone(),
            receipts: t.receipts.clone(),
            captured_at: t.captured_at,
            voided_at: t.voided_at,
            settled_at: t.settled_at,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// One message of an event stream (`text/event-stream`), as a client's SSE parser sees it.
///
/// Documentation only: the server writes SSE lines (`id:`, `event:`, `data:`), which
/// schema checkers and generated clients read as one object per message. `data` is an
/// [`EventView`] in JSON; `id` is its `seq`, the value to send back as `Last-Event-ID`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventStreamMessage {
    /// The event's `seq`, to resume from with `Last-Event-ID`.
    pub id: String,
    /// The event's `type`.
    pub event: String,
    /// The event, an `EventView` in JSON.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// One event of an interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Always `event`.
    pub object: String,
    pub interaction: InteractionId,
    /// 1, 2, 3 … without gaps.
    pub seq: u64,
    /// `created`, `acknowledged`, `stage`, `cancel_requested`, `cancel_too_late`,
    /// `terminal_disconnected`, `terminal_reconnected`, `overdue`, `completed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The interaction's status after this event.
    pub status: Status,
    /// The terminal's message, for `stage` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The result, for the `completed` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<TransactionId>,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub created_at: Timestamp,
}

impl EventView {
    pub fn new(e: &Event) -> EventView {
        let (message, outcome, transaction) = match &e.kind {
            EventKind::Stage { message } => (Some(message.clone()), None, None),
            EventKind::Completed {
                outcome,
                transaction_id,
            } => (None, Some(outcome.clone()), *transaction_id),
            _ => (None, None, None),
        };
        EventView {
            object: "event".into(),
            interaction: e.interaction_id,
            seq: e.seq,
            kind: e.kind.name().to_string(),
            status: e.status,
            message,
            outcome,
            transaction,
            is_final: e.kind.is_final(),
            created_at: e.created_at,
        }
    }
}

/// A page of results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListOf<T> {
    /// Always `list`.
    pub object: String,
    pub data: Vec<T>,
    pub has_more: bool,
    /// Pass as `cursor` to get the next page (interaction lookups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> ListOf<T> {
    pub fn new(data: Vec<T>, has_more: bool, next_cursor: Option<String>) -> ListOf<T> {
        ListOf {
            object: "list".into(),
            data,
            has_more,
            next_cursor,
        }
    }
}

/// What a cancel request achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelResultKind {
    /// The interaction is cancelled.
    Cancelled,
    /// Forwarded to the terminal; it decides (poll or long-poll for the outcome).
    CancelRequested,
    /// The interaction had already reached another final state.
    TooLate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CancelResponse {
    pub result: CancelResultKind,
    pub interaction: InteractionView,
}

/// A terminal and its live status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TerminalView {
    pub id: TerminalId,
    /// Always `terminal`.
    pub object: String,
    /// `true` for an object of live mode, `false` for test mode: a key sees only objects of
    /// its own mode.
    #[serde(default)]
    pub livemode: bool,
    pub serial_number: String,
    pub model: String,
    /// `model-serial_number`, the Adyen form.
    pub poiid: String,
    pub label: Option<String>,
    pub kind: TerminalKind,
    /// `in_process` or `link`.
    pub connection: TerminalConnection,
    pub status: TerminalStatus,
    pub connected: bool,
    pub last_seen_at: Option<Timestamp>,
    /// The interaction the terminal is busy with.
    pub active_interaction: Option<InteractionId>,
    pub created_at: Timestamp,
    /// Only in the answer that registered a link terminal: the one-time code the device
    /// exchanges for its device key (`POST /v1/terminal-link/pair`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing: Option<PairingCodeView>,
}

/// A one-time pairing code (shown once; stored hashed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PairingCodeView {
    #[schema(example = "7KQ2M-X9D4T")]
    pub pairing_code: String,
    /// After this the code no longer pairs (ask for a new one).
    pub expires_at: Timestamp,
}

/// The answer to a pairing: the device key, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PairResponse {
    /// `pg_dev_…`: authenticates the terminal's link connection (`Authorization: Bearer`).
    /// Shown once; only its SHA-256 is stored.
    pub device_key: String,
    pub terminal: TerminalId,
    pub poiid: String,
    pub serial_number: String,
    pub model: String,
    /// Path of the WebSocket endpoint, `/v1/terminal-link`.
    pub link_path: String,
    /// The WebSocket subprotocol to ask for, `poigate.terminal.v1`.
    pub protocol: String,
}

/// The answer of a test helper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestHelperResponse {
    pub terminal: TerminalId,
    /// `current` when applied to the interaction in progress, `next` when armed for the next
    /// interaction, `terminal` for connection changes.
    pub applied_to: String,
    pub interaction: Option<InteractionId>,
    pub status: TerminalStatus,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}
