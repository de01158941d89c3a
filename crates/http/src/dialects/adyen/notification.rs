//! Event notifications for `/async`: webhook endpoints registered with `format: "adyen"`
//! receive the result of an interaction (`interaction.completed`) as Adyen's cloud posts it
//! to the merchant's event notification URL: the same `SaleToPOIResponse` a `/sync` request
//! gets, or a `Reject` event notification when the terminal never took the request
//! (docs.adyen.com/point-of-sale/terminal-api-fundamentals/event-notifications).

use super::render::{Echoed, NO_RESPONSE_FROM_POI, payment_message, poiid_of, reject};
use super::request::Qualifier;
use poigate_domain::{CancelReason, OutboxMessage, Outcome, WebhookEventType, WebhookSubject};

/// The body of the event notification for `message`.
pub fn render(message: &OutboxMessage) -> Result<Vec<u8>, String> {
    let (
        WebhookEventType::InteractionCompleted,
        WebhookSubject::Interaction {
            interaction,
            transaction,
        },
    ) = (message.event_type, &message.subject)
    else {
        return Err(format!(
            "the adyen format carries interaction.completed only (got {}); subscribe the endpoint to [\"interaction.completed\"]",
            message.event_type.as_str()
        ));
    };
    let body = if matches!(
        interaction.outcome,
        Some(Outcome::Cancelled {
            reason: CancelReason::NotDelivered
        })
    ) {
        let poiid = poiid_of(interaction);
        let echo = Echoed {
            sale_id: interaction.sale_id.as_deref(),
            service_id: interaction.service_id.as_deref(),
            poiid: Some(&poiid),
        };
        serde_json::to_vec(&reject(
            &echo,
            NO_RESPONSE_FROM_POI,
            None,
            message.created_at,
        ))
    } else {
        serde_json::to_vec(&payment_message(
            interaction,
            transaction.as_deref(),
            &[Qualifier::CashierReceipt, Qualifier::CustomerReceipt],
        ))
    };
    body.map_err(|e| e.to_string())
}

/// Adyen's acknowledgement convention: a 2xx answer whose body is `[accepted]`. Anything
/// else is not an acknowledgement, and the delivery is retried.
pub fn acknowledged(status: u16, body: &[u8]) -> bool {
    (200..300).contains(&status)
        && std::str::from_utf8(body).is_ok_and(|text| text.trim() == "[accepted]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accepted_acknowledges() {
        assert!(acknowledged(200, b"[accepted]"));
        assert!(acknowledged(202, b" [accepted]\n"));
        assert!(!acknowledged(200, b""));
        assert!(!acknowledged(200, b"ok"));
        assert!(!acknowledged(500, b"[accepted]"));
    }
}
