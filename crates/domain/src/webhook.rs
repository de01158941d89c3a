//! Webhooks, the pure part: event types, which state changes produce which messages, event
//! filters, signing secrets, and the retry schedule as a function.
//!
//! A webhook *message* is one event occurrence (`webhook-id` = its id). It is written to the
//! outbox in the same database transaction as the state change that caused it; the worker
//! then delivers it to every matching target, retrying on the schedule below.

use crate::id::{MerchantId, MessageId, WebhookEndpointId};
use crate::interaction::Interaction;
use crate::terminal::{Terminal, TerminalStatus};
use crate::time::Timestamp;
use crate::transaction::Transaction;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};

/// The event types a webhook can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEventType {
    /// Every status change of an interaction (created, acknowledged, final).
    #[serde(rename = "interaction.updated")]
    InteractionUpdated,
    /// An interaction reached its final state.
    #[serde(rename = "interaction.completed")]
    InteractionCompleted,
    /// A transaction changed (capture, void, settlement).
    #[serde(rename = "transaction.updated")]
    TransactionUpdated,
    /// A referenced refund changed.
    #[serde(rename = "transaction.refund.updated")]
    TransactionRefundUpdated,
    #[serde(rename = "terminal.online")]
    TerminalOnline,
    #[serde(rename = "terminal.offline")]
    TerminalOffline,
}

impl WebhookEventType {
    pub const ALL: [WebhookEventType; 6] = [
        WebhookEventType::InteractionUpdated,
        WebhookEventType::InteractionCompleted,
        WebhookEventType::TransactionUpdated,
        WebhookEventType::TransactionRefundUpdated,
        WebhookEventType::TerminalOnline,
        WebhookEventType::TerminalOffline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::InteractionUpdated => "interaction.updated",
            WebhookEventType::InteractionCompleted => "interaction.completed",
            WebhookEventType::TransactionUpdated => "transaction.updated",
            WebhookEventType::TransactionRefundUpdated => "transaction.refund.updated",
            WebhookEventType::TerminalOnline => "terminal.online",
            WebhookEventType::TerminalOffline => "terminal.offline",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookEventType> {
        WebhookEventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Whether `format` names a payload format (the renderer decides which exist).
pub fn valid_format(format: &str) -> bool {
    !format.is_empty()
        && format.len() <= 32
        && format
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
}

/// A per-interaction callback a message goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackTarget {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The callbacks of `subscriptions` that take `event`.
pub fn matching_callbacks(
    subscriptions: &[crate::interaction::CallbackSubscription],
    event: WebhookEventType,
) -> Vec<CallbackTarget> {
    subscriptions
        .iter()
        .filter(|c| filter_accepts(&c.events, event))
        .map(|c| CallbackTarget {
            url: c.url.clone(),
            format: c.format.clone(),
        })
        .collect()
}

/// Whether an event filter (`["*"]` or a list of types) takes `event`.
pub fn filter_accepts(filter: &[String], event: WebhookEventType) -> bool {
    filter.iter().any(|f| f == "*" || f == event.as_str())
}

/// Checks an event filter: 1 to 20 entries, each `*` or a known type.
pub fn validate_filter(field: &str, filter: &[String], errors: &mut ValidationErrors) {
    if filter.is_empty() || filter.len() > 20 {
        errors.add(
            field,
            "invalid_events",
            "list 1 to 20 event types (or \"*\" for all)",
        );
    }
    for (i, f) in filter.iter().enumerate() {
        if f != "*" && WebhookEventType::parse(f).is_none() {
            let known: Vec<&str> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
            errors.add(
                format!("{field}[{i}]"),
                "unknown_event_type",
                format!("`{f}` is not an event type; known: *, {}", known.join(", ")),
            );
        }
    }
}

/// What a message is about, as it was when the event happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum WebhookSubject {
    Interaction {
        interaction: Box<Interaction>,
        transaction: Option<Box<Transaction>>,
    },
    Terminal {
        terminal: Box<Terminal>,
        status: TerminalStatus,
    },
    Transaction {
        transaction: Box<Transaction>,
    },
    Operation {
        operation: Box<crate::operations::Operation>,
        transaction: Box<Transaction>,
    },
}

/// One event occurrence waiting in (or delivered from) the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: MessageId,
    pub merchant_id: MerchantId,
    /// Live or test mode (the mode of the key that created it, or of its terminal): a key
    /// sees only objects of its own mode. Absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub event_type: WebhookEventType,
    /// The object the event is about; deliveries to one target are ordered per subject.
    pub subject_id: String,
    pub subject: WebhookSubject,
    /// Per-interaction callbacks subscribed to this event type.
    pub callbacks: Vec<CallbackTarget>,
    pub created_at: Timestamp,
}

/// The messages an interaction change produces: `interaction.updated` when the status
/// changed (or the interaction is new), plus `interaction.completed` when it became final.
pub fn interaction_messages(
    before: Option<&Interaction>,
    after: &Interaction,
    transaction: Option<&Transaction>,
    now: Timestamp,
) -> Vec<OutboxMessage> {
    let status_changed = before.is_none_or(|b| b.status != after.status);
    if !status_changed {
        return Vec::new();
    }
    let mut types = vec![WebhookEventType::InteractionUpdated];
    if after.is_final() && before.is_none_or(|b| !b.is_final()) {
        types.push(WebhookEventType::InteractionCompleted);
    }
    types
        .into_iter()
        .map(|event_type| OutboxMessage {
            id: MessageId::generate(now),
            merchant_id: after.merchant_id,
            livemode: after.livemode,
            event_type,
            subject_id: after.id.to_string(),
            subject: WebhookSubject::Interaction {
                interaction: Box::new(after.clone()),
                transaction: transaction.cloned().map(Box::new),
            },
            callbacks: matching_callbacks(&after.webhooks, event_type),
            created_at: now,
        })
        .collect()
}

/// The message of a terminal going online or offline.
pub fn terminal_message(
    terminal: &Terminal,
    status: TerminalStatus,
    now: Timestamp,
) -> OutboxMessage {
    let event_type = if status == TerminalStatus::Offline {
        WebhookEventType::TerminalOffline
    } else {
        WebhookEventType::TerminalOnline
    };
    OutboxMessage {
        id: MessageId::generate(now),
        merchant_id: terminal.merchant_id,
        livemode: terminal.livemode,
        event_type,
        subject_id: terminal.id.to_string(),
        subject: WebhookSubject::Terminal {
            terminal: Box::new(terminal.clone()),
            status,
        },
        callbacks: Vec::new(),
        created_at: now,
    }
}

/// `transaction.updated`: a capture, void or settlement changed the transaction. `callbacks`
/// are the subscriptions of the interaction that created the transaction.
pub fn transaction_message(
    transaction: &Transaction,
    callbacks: &[crate::interaction::CallbackSubscription],
    now: Timestamp,
) -> OutboxMessage {
    OutboxMessage {
        id: MessageId::generate(now),
        merchant_id: transaction.merchant_id,
        livemode: transaction.livemode,
        event_type: WebhookEventType::TransactionUpdated,
        subject_id: transaction.id.to_string(),
        subject: WebhookSubject::Transaction {
            transaction: Box::new(transaction.clone()),
        },
        callbacks: matching_callbacks(callbacks, WebhookEventType::TransactionUpdated),
        created_at: now,
    }
}

/// `transaction.refund.updated`: a referenced refund was requested, succeeded or failed.
pub fn refund_message(
    operation: &crate::operations::Operation,
    transaction: &Transaction,
    callbacks: &[crate::interaction::CallbackSubscription],
    now: Timestamp,
) -> OutboxMessage {
    OutboxMessage {
        id: MessageId::generate(now),
        merchant_id: transaction.merchant_id,
        livemode: transaction.livemode,
        event_type: WebhookEventType::TransactionRefundUpdated,
        subject_id: transaction.id.to_string(),
        subject: WebhookSubject::Operation {
            operation: Box::new(operation.clone()),
            transaction: Box::new(transaction.clone()),
        },
        callbacks: matching_callbacks(callbacks, WebhookEventType::TransactionRefundUpdated),
        created_at: now,
    }
}

/// A signing secret, `whsec_` + base64 of 24 to 64 random bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    pub secret: String,
    pub created_at: Timestamp,
    /// Set when a newer secret replaced this one: it keeps signing until then.
    pub expires_at: Option<Timestamp>,
}

/// Where webhooks go: a merchant's endpoint, or the merchant's hidden "callbacks" record
/// that holds the secret signing per-interaction callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    Endpoint,
    Callbacks,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub merchant_id: MerchantId,
    /// Live or test mode (the mode of the key that created it, or of its terminal): a key
    /// sees only objects of its own mode. Absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub kind: EndpointKind,
    pub url: String,
    /// The payload format (a provider dialect's, e.g. `adyen`); the native envelope when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why the gateway disabled it (e.g. the target answered 410 Gone).
    pub disabled_reason: Option<String>,
    pub secrets: Vec<SigningSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    /// Secrets that sign at `now`: the newest, plus older ones still in their overlap.
    pub fn active_secrets(&self, now: Timestamp) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|e| e > now))
            .map(|s| s.secret.as_str())
            .collect()
    }

    /// Adds `secret` as the newest; the previous ones keep signing until `now + overlap`.
    pub fn rotate(&mut self, secret: String, now: Timestamp, overlap_ms: i64) {
        let until = now.plus_millis(overlap_ms);
        for s in &mut self.secrets {
            if s.expires_at.is_none_or(|e| e > until) {
                s.expires_at = Some(until);
            }
        }
        self.secrets
            .retain(|s| s.expires_at.is_none_or(|e| e > now));
        self.secrets.push(SigningSecret {
            secret,
            created_at: now,
            expires_at: None,
        });
        self.updated_at = now;
    }
}

/// How one delivery attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// 2xx.
    Delivered,
    /// 410 Gone: the target does not want these webhooks any more.
    Gone,
    /// Anything else: another status, a timeout, a refused connection. `retry_after`
    /// (seconds) is honoured on 429 and 503.
    Failed {
        status: Option<u16>,
        retry_after_seconds: Option<u64>,
    },
}

/// What happens after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryAt(Timestamp),
    /// The schedule is exhausted.
    GiveUp,
    /// 410 Gone: stop, and disable the endpoint.
    DisableEndpoint,
}

/// The retry policy: delays after the 1st, 2nd, … failed attempt, and bounds for
/// `Retry-After`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub delays_seconds: Vec<u64>,
    pub retry_after_min_seconds: u64,
    pub retry_after_max_seconds: u64,
    /// Jitter as a fraction of the delay (0.1 = ±10 %).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 28 hours.
    fn default() -> Self {
        RetryPolicy {
            delays_seconds: vec![5, 300, 1800, 7200, 18000, 36000, 36000],
            retry_after_min_seconds: 1,
            retry_after_max_seconds: 36000,
            jitter: 0.1,
        }
    }
}

impl RetryPolicy {
    /// Decides the next step after attempt number `attempt` (1-based, counted from the
    /// start of the current schedule). `random` in [-1, 1] picks the jitter.
    pub fn next_step(
        &self,
        attempt: u32,
        result: AttemptResult,
        now: Timestamp,
        random: f64,
    ) -> NextStep {
        match result {
            AttemptResult::Delivered => NextStep::Succeeded,
            AttemptResult::Gone => NextStep::DisableEndpoint,
            AttemptResult::Failed {
                status,
                retry_after_seconds,
            } => {
                let Some(&base) = self.delays_seconds.get(attempt.saturating_sub(1) as usize)
                else {
                    return NextStep::GiveUp;
                };
                let jittered = (base as f64) * (1.0 + self.jitter * random.clamp(-1.0, 1.0));
                let mut delay_ms = (jittered * 1000.0).round().max(0.0) as i64;
                if matches!(status, Some(429) | Some(503))
                    && let Some(after) = retry_after_seconds
                {
                    let bounded =
                        after.clamp(self.retry_after_min_seconds, self.retry_after_max_seconds);
                    delay_ms = delay_ms.max(
                        i64::try_from(bounded)
                            .unwrap_or(i64::MAX)
                            .saturating_mul(1000),
                    );
                }
                NextStep::RetryAt(now.plus_millis(delay_ms))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::interaction::{CallbackSubscription, InteractionType};
    use crate::machine::{Input, apply};

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + ms)
    }

    fn interaction(callbacks: Vec<CallbackSubscription>) -> Interaction {
        let mut i = crate::fixtures::new_interaction(InteractionType::Sale, 100, "EUR", t(0));
        i.webhooks = callbacks;
        i
    }

    #[test]
    fn status_changes_produce_updated_and_the_end_completed() {
        let created = interaction(vec![]);
        let types = |m: Vec<OutboxMessage>| m.into_iter().map(|m| m.event_type).collect::<Vec<_>>();
        assert_eq!(
            types(interaction_messages(None, &created, None, t(0))),
            [WebhookEventType::InteractionUpdated]
        );
        let acked = apply(&created, Input::TerminalAcknowledged, t(1))
            .expect("ack")
            .interaction;
        assert_eq!(
            types(interaction_messages(Some(&created), &acked, None, t(1))),
            [WebhookEventType::InteractionUpdated]
        );
        let staged = apply(
            &acked,
            Input::TerminalStage {
                message: "x".into(),
            },
            t(2),
        )
        .expect("stage")
        .interaction;
        assert!(
            interaction_messages(Some(&acked), &staged, None, t(2)).is_empty(),
            "a stage is not a status change"
        );
        let done = apply(&staged, Input::CancelRequested, t(3))
            .expect("cancel")
            .interaction;
        assert!(!done.is_final());
        let done = apply(
            &done,
            Input::TerminalResult {
                outcome: Box::new(crate::interaction::TerminalOutcome::Cancelled {
                    reason: crate::interaction::CancelReason::Api,
                }),
                transaction_id: crate::id::TransactionId::generate(t(4)),
                receipt_context: crate::receipt::ReceiptContext {
                    merchant_name: "m".into(),
                    terminal_poiid: "p".into(),
                },
            },
            t(4),
        )
        .expect("result")
        .interaction;
        assert_eq!(
            types(interaction_messages(Some(&staged), &done, None, t(4))),
            [
                WebhookEventType::InteractionUpdated,
                WebhookEventType::InteractionCompleted
            ]
        );
    }

    #[test]
    fn callbacks_are_matched_per_event_type() {
        let i = interaction(vec![
            CallbackSubscription {
                url: "https://a.example/all".into(),
                events: vec!["*".into()],
                format: None,
            },
            CallbackSubscription {
                url: "https://b.example/done".into(),
                events: vec!["interaction.completed".into()],
                format: Some("cm".into()),
            },
        ]);
        let msgs = interaction_messages(None, &i, None, t(0));
        assert_eq!(
            msgs[0].callbacks,
            vec![CallbackTarget {
                url: "https://a.example/all".into(),
                format: None
            }]
        );
    }

    #[test]
    fn filters_are_validated() {
        let mut errors = ValidationErrors::new();
        validate_filter(
            "events",
            &["interaction.updated".into(), "*".into()],
            &mut errors,
        );
        assert!(errors.is_empty());
        validate_filter("events", &["interaction.exploded".into()], &mut errors);
        validate_filter("events", &[], &mut errors);
        assert_eq!(errors.errors().len(), 2);
    }

    #[test]
    fn schedule_retries_then_gives_up_and_honours_retry_after() {
        let p = RetryPolicy::default();
        let failed = AttemptResult::Failed {
            status: Some(500),
            retry_after_seconds: None,
        };
        assert_eq!(
            p.next_step(1, failed, t(0), 0.0),
            NextStep::RetryAt(t(5_000))
        );
        assert_eq!(
            p.next_step(2, failed, t(0), 0.0),
            NextStep::RetryAt(t(300_000))
        );
        assert_eq!(
            p.next_step(7, failed, t(0), 0.0),
            NextStep::RetryAt(t(36_000_000))
        );
        assert_eq!(p.next_step(8, failed, t(0), 0.0), NextStep::GiveUp);
        assert_eq!(
            p.next_step(1, failed, t(0), 1.0),
            NextStep::RetryAt(t(5_500))
        );
        assert_eq!(
            p.next_step(1, failed, t(0), -1.0),
            NextStep::RetryAt(t(4_500))
        );
        let busy = AttemptResult::Failed {
            status: Some(429),
            retry_after_seconds: Some(120),
        };
        assert_eq!(
            p.next_step(1, busy, t(0), 0.0),
            NextStep::RetryAt(t(120_000))
        );
        let absurd = AttemptResult::Failed {
            status: Some(503),
            retry_after_seconds: Some(10_000_000),
        };
        assert_eq!(
            p.next_step(1, absurd, t(0), 0.0),
            NextStep::RetryAt(t(36_000_000))
        );
        let ignored = AttemptResult::Failed {
            status: Some(500),
            retry_after_seconds: Some(120),
        };
        assert_eq!(
            p.next_step(1, ignored, t(0), 0.0),
            NextStep::RetryAt(t(5_000)),
            "only 429 and 503"
        );
        assert_eq!(
            p.next_step(3, AttemptResult::Gone, t(0), 0.0),
            NextStep::DisableEndpoint
        );
        assert_eq!(
            p.next_step(3, AttemptResult::Delivered, t(0), 0.0),
            NextStep::Succeeded
        );
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_the_overlap() {
        let mut e = WebhookEndpoint {
            livemode: false,
            id: WebhookEndpointId::generate(t(0)),
            merchant_id: MerchantId::generate(t(0)),
            kind: EndpointKind::Endpoint,
            url: "https://x.example".into(),
            format: None,
            description: None,
            events: vec!["*".into()],
            enabled: true,
            disabled_reason: None,
            secrets: vec![SigningSecret {
                secret: "whsec_old".into(),
                created_at: t(0),
                expires_at: None,
            }],
            created_at: t(0),
            updated_at: t(0),
        };
        e.rotate("whsec_new".into(), t(1_000), 60_000);
        assert_eq!(e.active_secrets(t(2_000)), vec!["whsec_old", "whsec_new"]);
        assert_eq!(e.active_secrets(t(61_001)), vec!["whsec_new"]);
        e.rotate("whsec_newer".into(), t(70_000), 0);
        assert_eq!(e.active_secrets(t(70_000)), vec!["whsec_newer"]);
        assert_eq!(e.secrets.len(), 1, "expired secrets are dropped");
    }
}
