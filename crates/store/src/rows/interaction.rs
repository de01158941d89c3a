//! Rows of interactions and their events.

use super::*;
use poigate_domain as d;
use serde::Deserialize;
use std::collections::BTreeMap;

/// An amount: minor units and the ISO 4217 code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyRowV1 {
    pub value: i64,
    pub currency: String,
}

impl From<&d::Money> for MoneyRowV1 {
    fn from(m: &d::Money) -> Self {
        MoneyRowV1 {
            value: m.value(),
            currency: m.currency().code().to_string(),
        }
    }
}

impl TryFrom<MoneyRowV1> for d::Money {
    type Error = StoreError;
    fn try_from(r: MoneyRowV1) -> StoreResult<d::Money> {
        d::Money::from_parts(r.value, &r.currency)
            .map_err(|e| StoreError::Corrupt(format!("bad stored amount: {e}")))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackSubscriptionRowV1 {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl From<&d::CallbackSubscription> for CallbackSubscriptionRowV1 {
    fn from(c: &d::CallbackSubscription) -> Self {
        CallbackSubscriptionRowV1 {
            url: c.url.clone(),
            events: c.events.clone(),
            format: c.format.clone(),
        }
    }
}

impl From<CallbackSubscriptionRowV1> for d::CallbackSubscription {
    fn from(r: CallbackSubscriptionRowV1) -> Self {
        d::CallbackSubscription {
            url: r.url,
            events: r.events,
            format: r.format,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result")]
pub enum OutcomeRowV1 {
    #[serde(rename = "approved")]
    Approved {
        auth_code: String,
        /// Present only when a tip was asked; absent in rows written before tipping.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tip_amount: Option<i64>,
    },
    #[serde(rename = "declined")]
    Declined {
        reason: DeclineReasonRow,
        message: String,
    },
    #[serde(rename = "cancelled")]
    Cancelled { reason: CancelReasonRow },
    #[serde(rename = "failed")]
    Failed {
        reason: FailureReasonRow,
        message: String,
    },
}

impl From<&d::Outcome> for OutcomeRowV1 {
    fn from(o: &d::Outcome) -> Self {
        match o {
            d::Outcome::Approved {
                auth_code,
                tip_amount,
            } => OutcomeRowV1::Approved {
                auth_code: auth_code.clone(),
                tip_amount: *tip_amount,
            },
            d::Outcome::Declined { reason, message } => OutcomeRowV1::Declined {
                reason: (*reason).into(),
                message: message.clone(),
            },
            d::Outcome::Cancelled { reason } => OutcomeRowV1::Cancelled {
                reason: (*reason).into(),
            },
            d::Outcome::Failed { reason, message } => OutcomeRowV1::Failed {
                reason: (*reason).into(),
                message: message.clone(),
            },
        }
    }
}

impl From<OutcomeRowV1> for d::Outcome {
    fn from(r: OutcomeRowV1) -> Self {
        match r {
            OutcomeRowV1::Approved {
                auth_code,
                tip_amount,
            } => d::Outcome::Approved {
                auth_code,
                tip_amount,
            },
            OutcomeRowV1::Declined { reason, message } => d::Outcome::Declined {
                reason: reason.into(),
                message,
            },
            OutcomeRowV1::Cancelled { reason } => d::Outcome::Cancelled {
                reason: reason.into(),
            },
            OutcomeRowV1::Failed { reason, message } => d::Outcome::Failed {
                reason: reason.into(),
                message,
            },
        }
    }
}

/// An interaction (also the stored response of an idempotency record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionRowV1 {
    pub id: String,
    pub merchant_id: String,
    /// Live or test mode; absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub terminal_id: String,
    #[serde(rename = "type")]
    pub kind: InteractionTypeRow,
    pub amount: MoneyRowV1,
    pub reference: Option<String>,
    pub sale_id: Option<String>,
    pub service_id: Option<String>,
    pub timeout_seconds: u32,
    pub metadata: BTreeMap<String, String>,
    pub webhooks: Vec<CallbackSubscriptionRowV1>,
    /// Absent (no tip asked) in rows written before tipping existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ask_for_tip: bool,
    pub status: StatusRow,
    pub outcome: Option<OutcomeRowV1>,
    pub transaction_id: Option<String>,
    pub cancel_requested: bool,
    pub terminal_connected: bool,
    pub overdue: bool,
    pub last_seq: u64,
    pub last_terminal_seq: u64,
    pub created_at: String,
    pub updated_at: String,
    pub acknowledged_at: Option<String>,
    pub completed_at: Option<String>,
}

impl From<&d::Interaction> for InteractionRowV1 {
    fn from(i: &d::Interaction) -> Self {
        InteractionRowV1 {
            id: i.id.to_string(),
            merchant_id: i.merchant_id.to_string(),
            livemode: i.livemode,
            terminal_id: i.terminal_id.to_string(),
            kind: i.kind.into(),
            amount: (&i.amount).into(),
            reference: i.reference.clone(),
            sale_id: i.sale_id.clone(),
            service_id: i.service_id.clone(),
            timeout_seconds: i.timeout_seconds,
            metadata: i.metadata.clone(),
            webhooks: i.webhooks.iter().map(Into::into).collect(),
            ask_for_tip: i.ask_for_tip,
            status: i.status.into(),
            outcome: i.outcome.as_ref().map(Into::into),
            transaction_id: i.transaction_id.map(|t| t.to_string()),
            cancel_requested: i.cancel_requested,
            terminal_connected: i.terminal_connected,
            overdue: i.overdue,
            last_seq: i.last_seq,
            last_terminal_seq: i.last_terminal_seq,
            created_at: ts(i.created_at),
            updated_at: ts(i.updated_at),
            acknowledged_at: opt_ts(i.acknowledged_at),
            completed_at: opt_ts(i.completed_at),
        }
    }
}

impl TryFrom<InteractionRowV1> for d::Interaction {
    type Error = StoreError;
    fn try_from(r: InteractionRowV1) -> StoreResult<d::Interaction> {
        Ok(d::Interaction {
            id: parse_id(&r.id)?,
            merchant_id: parse_id(&r.merchant_id)?,
            livemode: r.livemode,
            terminal_id: parse_id(&r.terminal_id)?,
            kind: r.kind.into(),
            amount: r.amount.try_into()?,
            reference: r.reference,
            sale_id: r.sale_id,
            service_id: r.service_id,
            timeout_seconds: r.timeout_seconds,
            metadata: r.metadata,
            webhooks: r.webhooks.into_iter().map(Into::into).collect(),
            ask_for_tip: r.ask_for_tip,
            status: r.status.into(),
            outcome: r.outcome.map(Into::into),
            transaction_id: parse_opt_id(r.transaction_id)?,
            cancel_requested: r.cancel_requested,
            terminal_connected: r.terminal_connected,
            overdue: r.overdue,
            last_seq: r.last_seq,
            last_terminal_seq: r.last_terminal_seq,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
            acknowledged_at: parse_opt_ts(r.acknowledged_at)?,
            completed_at: parse_opt_ts(r.completed_at)?,
        })
    }
}

impl Stored for d::Interaction {
    type Row = InteractionRowV1;
}

/// What happened, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKindRowV1 {
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "acknowledged")]
    Acknowledged,
    #[serde(rename = "stage")]
    Stage { message: String },
    #[serde(rename = "cancel_requested")]
    CancelRequested,
    #[serde(rename = "cancel_too_late")]
    CancelTooLate,
    #[serde(rename = "terminal_disconnected")]
    TerminalDisconnected,
    #[serde(rename = "terminal_reconnected")]
    TerminalReconnected,
    #[serde(rename = "overdue")]
    Overdue,
    #[serde(rename = "completed")]
    Completed {
        outcome: OutcomeRowV1,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transaction_id: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRowV1 {
    pub interaction_id: String,
    pub seq: u64,
    pub status: StatusRow,
    pub created_at: String,
    #[serde(flatten)]
    pub kind: EventKindRowV1,
}

impl From<&d::Event> for EventRowV1 {
    fn from(e: &d::Event) -> Self {
        use d::EventKind as K;
        EventRowV1 {
            interaction_id: e.interaction_id.to_string(),
            seq: e.seq,
            status: e.status.into(),
            created_at: ts(e.created_at),
            kind: match &e.kind {
                K::Created => EventKindRowV1::Created,
                K::Acknowledged => EventKindRowV1::Acknowledged,
                K::Stage { message } => EventKindRowV1::Stage {
                    message: message.clone(),
                },
                K::CancelRequested => EventKindRowV1::CancelRequested,
                K::CancelTooLate => EventKindRowV1::CancelTooLate,
                K::TerminalDisconnected => EventKindRowV1::TerminalDisconnected,
                K::TerminalReconnected => EventKindRowV1::TerminalReconnected,
                K::Overdue => EventKindRowV1::Overdue,
                K::Completed {
                    outcome,
                    transaction_id,
                } => EventKindRowV1::Completed {
                    outcome: outcome.into(),
                    transaction_id: transaction_id.map(|t| t.to_string()),
                },
            },
        }
    }
}

impl TryFrom<EventRowV1> for d::Event {
    type Error = StoreError;
    fn try_from(r: EventRowV1) -> StoreResult<d::Event> {
        use d::EventKind as K;
        Ok(d::Event {
            interaction_id: parse_id(&r.interaction_id)?,
            seq: r.seq,
            status: r.status.into(),
            created_at: parse_ts(&r.created_at)?,
            kind: match r.kind {
                EventKindRowV1::Created => K::Created,
                EventKindRowV1::Acknowledged => K::Acknowledged,
                EventKindRowV1::Stage { message } => K::Stage { message },
                EventKindRowV1::CancelRequested => K::CancelRequested,
                EventKindRowV1::CancelTooLate => K::CancelTooLate,
                EventKindRowV1::TerminalDisconnected => K::TerminalDisconnected,
                EventKindRowV1::TerminalReconnected => K::TerminalReconnected,
                EventKindRowV1::Overdue => K::Overdue,
                EventKindRowV1::Completed {
                    outcome,
                    transaction_id,
                } => K::Completed {
                    outcome: outcome.into(),
                    transaction_id: parse_opt_id(transaction_id)?,
                },
            },
        })
    }
}

impl Stored for d::Event {
    type Row = EventRowV1;
}
