//! The webhook envelope: `{id, type, created_at, data}`, where `data` is the object as it
//! was when the event happened, in the native API's shape.

use poigate_api::{
    InteractionView, OperationResponse, OperationView, TerminalView, TransactionView,
};
use poigate_domain::{OutboxMessage, TerminalStatus, WebhookSubject};
use serde::Serialize;

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    id: String,
    #[serde(rename = "type")]
    event_type: &'a str,
    created_at: poigate_domain::Timestamp,
    data: T,
}

/// Turns messages into request bodies, per payload format, and judges the answers. The
/// native envelope is built in; provider dialects (which live with the HTTP server) add
/// their own formats by implementing this trait.
pub trait PayloadRenderer: Send + Sync + 'static {
    /// The body for `message` in `format` (`None`: the native envelope).
    fn render(&self, message: &OutboxMessage, format: Option<&str>) -> Result<Vec<u8>, String>;

    /// Whether the target's answer acknowledges the delivery (default: any 2xx).
    fn acknowledged(&self, _format: Option<&str>, status: u16, _body: &[u8]) -> bool {
        (200..300).contains(&status)
    }

    /// The `webhook-id` of a delivery of `message` in `format` (default: the message id).
    /// The same for every attempt of a delivery, so receivers de-duplicate retries by it; a
    /// format whose deliveries of one message are distinct notifications (CM.com's
    /// `FINALSTATUS` and `STATUS_CHANGE`) gives each its own.
    fn webhook_id(&self, message: &OutboxMessage, _format: Option<&str>) -> String {
        message.id.to_string()
    }
}

/// The family of a webhook format name: what precedes its first `.`, with the dot (`cm.` for
/// `cm.0.finalstatus`); `None` for a plain name (`adyen`). A renderer owns either exact
/// names or whole families, so a format is looked up by name, then by family.
pub fn format_family(format: &str) -> Option<&str> {
    format.find('.').map(|dot| &format[..=dot])
}

/// Renders the native envelope for every format.
#[derive(Clone, Copy, Debug, Default)]
pub struct NativeRenderer;

impl NativeRenderer {
    /// The native envelope (what dialects fall back to before they have their own shape).
    pub fn render_native(&self, message: &OutboxMessage) -> Result<Vec<u8>, String> {
        body(message).map_err(|e| e.to_string())
    }
}

impl PayloadRenderer for NativeRenderer {
    fn render(&self, message: &OutboxMessage, _format: Option<&str>) -> Result<Vec<u8>, String> {
        body(message).map_err(|e| e.to_string())
    }
}

/// The JSON body of a message (identical for every attempt).
pub fn body(message: &OutboxMessage) -> Result<Vec<u8>, serde_json::Error> {
    let id = message.id.to_string();
    let event_type = message.event_type.as_str();
    let created_at = message.created_at;
    match &message.subject {
        WebhookSubject::Interaction {
            interaction,
            transaction,
        } => serde_json::to_vec(&Envelope {
            id,
            event_type,
            created_at,
            data: InteractionView::new(interaction, transaction.as_deref()),
        }),
        WebhookSubject::Terminal { terminal, status } => serde_json::to_vec(&Envelope {
            id,
            event_type,
            created_at,
            data: TerminalView {
                id: terminal.id,
                object: "terminal".into(),
                livemode: terminal.livemode,
                serial_number: terminal.serial_number.clone(),
                model: terminal.model.clone(),
                poiid: terminal.poiid(),
                label: terminal.label.clone(),
                kind: terminal.kind,
                connection: terminal.connection,
                pairing: None,
                status: *status,
                connected: *status != TerminalStatus::Offline,
                last_seen_at: Some(created_at),
                active_interaction: None,
                created_at: terminal.created_at,
            },
        }),
        WebhookSubject::Transaction { transaction } => serde_json::to_vec(&Envelope {
            id,
            event_type,
            created_at,
            data: TransactionView::new(transaction),
        }),
        WebhookSubject::Operation {
            operation,
            transaction,
        } => serde_json::to_vec(&Envelope {
            id,
            event_type,
            created_at,
            data: OperationResponse {
                operation: OperationView::new(operation),
                transaction: TransactionView::new(transaction),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::format_family;

    #[test]
    fn a_family_is_the_name_up_to_its_first_dot() {
        assert_eq!(format_family("cm.0.finalstatus"), Some("cm."));
        assert_eq!(format_family("adyen"), None);
        assert_eq!(format_family(".x"), Some("."));
    }
}
