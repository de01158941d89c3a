//! Rows of webhook messages (with the snapshot of their subject) and endpoints.

use super::*;
use poigate_domain as d;
use poigate_domain::webhook::CallbackTarget;
use serde::Deserialize;

/// A terminal as a webhook message saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalRowV1 {
    pub id: String,
    pub merchant_id: String,
    /// Live or test mode; absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub serial_number: String,
    pub model: String,
    pub label: Option<String>,
    pub kind: TerminalKindRow,
    #[serde(default)]
    pub connection: TerminalConnectionRow,
    pub created_at: String,
}

impl From<&d::Terminal> for TerminalRowV1 {
    fn from(t: &d::Terminal) -> Self {
        TerminalRowV1 {
            id: t.id.to_string(),
            merchant_id: t.merchant_id.to_string(),
            livemode: t.livemode,
            serial_number: t.serial_number.clone(),
            model: t.model.clone(),
            label: t.label.clone(),
            kind: t.kind.into(),
            connection: t.connection.into(),
            created_at: ts(t.created_at),
        }
    }
}

impl TryFrom<TerminalRowV1> for d::Terminal {
    type Error = StoreError;
    fn try_from(r: TerminalRowV1) -> StoreResult<d::Terminal> {
        Ok(d::Terminal {
            id: parse_id(&r.id)?,
            merchant_id: parse_id(&r.merchant_id)?,
            livemode: r.livemode,
            serial_number: r.serial_number,
            model: r.model,
            label: r.label,
            kind: r.kind.into(),
            connection: r.connection.into(),
            created_at: parse_ts(&r.created_at)?,
        })
    }
}

/// What a message is about, tagged by `object`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object")]
pub enum WebhookSubjectRowV1 {
    #[serde(rename = "interaction")]
    Interaction {
        interaction: Box<InteractionRowV1>,
        transaction: Option<Box<TransactionRowV1>>,
    },
    #[serde(rename = "terminal")]
    Terminal {
        terminal: Box<TerminalRowV1>,
        status: TerminalStatusRow,
    },
    #[serde(rename = "transaction")]
    Transaction { transaction: Box<TransactionRowV1> },
    #[serde(rename = "operation")]
    Operation {
        operation: Box<OperationRowV1>,
        transaction: Box<TransactionRowV1>,
    },
}

impl From<&d::WebhookSubject> for WebhookSubjectRowV1 {
    fn from(s: &d::WebhookSubject) -> Self {
        use d::WebhookSubject as S;
        match s {
            S::Interaction {
                interaction,
                transaction,
            } => WebhookSubjectRowV1::Interaction {
                interaction: Box::new(interaction.as_ref().into()),
                transaction: transaction.as_deref().map(|t| Box::new(t.into())),
            },
            S::Terminal { terminal, status } => WebhookSubjectRowV1::Terminal {
                terminal: Box::new(terminal.as_ref().into()),
                status: (*status).into(),
            },
            S::Transaction { transaction } => WebhookSubjectRowV1::Transaction {
                transaction: Box::new(transaction.as_ref().into()),
            },
            S::Operation {
                operation,
                transaction,
            } => WebhookSubjectRowV1::Operation {
                operation: Box::new(operation.as_ref().into()),
                transaction: Box::new(transaction.as_ref().into()),
            },
        }
    }
}

impl TryFrom<WebhookSubjectRowV1> for d::WebhookSubject {
    type Error = StoreError;
    fn try_from(r: WebhookSubjectRowV1) -> StoreResult<d::WebhookSubject> {
        use d::WebhookSubject as S;
        Ok(match r {
            WebhookSubjectRowV1::Interaction {
                interaction,
                transaction,
            } => S::Interaction {
                interaction: Box::new((*interaction).try_into()?),
                transaction: transaction
                    .map(|t| (*t).try_into().map(Box::new))
                    .transpose()?,
            },
            WebhookSubjectRowV1::Terminal { terminal, status } => S::Terminal {
                terminal: Box::new((*terminal).try_into()?),
                status: status.into(),
            },
            WebhookSubjectRowV1::Transaction { transaction } => S::Transaction {
                transaction: Box::new((*transaction).try_into()?),
            },
            WebhookSubjectRowV1::Operation {
                operation,
                transaction,
            } => S::Operation {
                operation: Box::new((*operation).try_into()?),
                transaction: Box::new((*transaction).try_into()?),
            },
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackTargetRowV1 {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// One event occurrence in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessageRowV1 {
    pub id: String,
    pub merchant_id: String,
    /// Live or test mode; absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub event_type: WebhookEventTypeRow,
    pub subject_id: String,
    pub subject: WebhookSubjectRowV1,
    pub callbacks: Vec<CallbackTargetRowV1>,
    pub created_at: String,
}

impl From<&d::OutboxMessage> for OutboxMessageRowV1 {
    fn from(m: &d::OutboxMessage) -> Self {
        OutboxMessageRowV1 {
            id: m.id.to_string(),
            merchant_id: m.merchant_id.to_string(),
            livemode: m.livemode,
            event_type: m.event_type.into(),
            subject_id: m.subject_id.clone(),
            subject: (&m.subject).into(),
            callbacks: m
                .callbacks
                .iter()
                .map(|c| CallbackTargetRowV1 {
                    url: c.url.clone(),
                    format: c.format.clone(),
                })
                .collect(),
            created_at: ts(m.created_at),
        }
    }
}

impl TryFrom<OutboxMessageRowV1> for d::OutboxMessage {
    type Error = StoreError;
    fn try_from(r: OutboxMessageRowV1) -> StoreResult<d::OutboxMessage> {
        Ok(d::OutboxMessage {
            id: parse_id(&r.id)?,
            merchant_id: parse_id(&r.merchant_id)?,
            livemode: r.livemode,
            event_type: r.event_type.into(),
            subject_id: r.subject_id,
            subject: r.subject.try_into()?,
            callbacks: r
                .callbacks
                .into_iter()
                .map(|c| CallbackTarget {
                    url: c.url,
                    format: c.format,
                })
                .collect(),
            created_at: parse_ts(&r.created_at)?,
        })
    }
}

impl Stored for d::OutboxMessage {
    type Row = OutboxMessageRowV1;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecretRowV1 {
    pub secret: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// A webhook endpoint (or a merchant's hidden callbacks record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpointRowV1 {
    pub id: String,
    pub merchant_id: String,
    /// Live or test mode; absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub kind: EndpointKindRow,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secrets: Vec<SigningSecretRowV1>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&d::WebhookEndpoint> for WebhookEndpointRowV1 {
    fn from(e: &d::WebhookEndpoint) -> Self {
        WebhookEndpointRowV1 {
            id: e.id.to_string(),
            merchant_id: e.merchant_id.to_string(),
            livemode: e.livemode,
            kind: e.kind.into(),
            url: e.url.clone(),
            format: e.format.clone(),
            description: e.description.clone(),
            events: e.events.clone(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            secrets: e
                .secrets
                .iter()
                .map(|s| SigningSecretRowV1 {
                    secret: s.secret.clone(),
                    created_at: ts(s.created_at),
                    expires_at: opt_ts(s.expires_at),
                })
                .collect(),
            created_at: ts(e.created_at),
            updated_at: ts(e.updated_at),
        }
    }
}

impl TryFrom<WebhookEndpointRowV1> for d::WebhookEndpoint {
    type Error = StoreError;
    fn try_from(r: WebhookEndpointRowV1) -> StoreResult<d::WebhookEndpoint> {
        Ok(d::WebhookEndpoint {
            id: parse_id(&r.id)?,
            merchant_id: parse_id(&r.merchant_id)?,
            livemode: r.livemode,
            kind: r.kind.into(),
            url: r.url,
            format: r.format,
            description: r.description,
            events: r.events,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            secrets: r
                .secrets
                .into_iter()
                .map(|s| {
                    Ok(d::SigningSecret {
                        secret: s.secret,
                        created_at: parse_ts(&s.created_at)?,
                        expires_at: parse_opt_ts(s.expires_at)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

impl Stored for d::WebhookEndpoint {
    type Row = WebhookEndpointRowV1;
}
