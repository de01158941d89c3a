//! poigate's events as Cybersource transaction events. Pure.
//!
//! | poigate event | Cybersource event |
//! |---|---|
//! | `acknowledged` | `AcknowledgementResponse` |
//! | `stage` | `TransactionStatusResponse` with the stage message |
//! | `completed`, approved or declined | `PaymentResponse` (`StandaloneRefundResponse` for a refund) with `message` and `transactionId` |
//! | `completed`, cancelled or failed | `ErrorResponse` with `message` and `developerDescription` |
//! | `created`, `cancel_requested`, `cancel_too_late`, `terminal_*`, `overdue` | not shown (not terminal responses) |

use super::messages::{approved, declined, response_type, unsuccessful};
use super::time::event_time;
use super::wire::EventView;
use poigate_domain::{Event, EventKind, InteractionType, Outcome};

/// The Cybersource event for `event` of an interaction of type `kind`, if it has one.
pub(super) fn event_view(event: &Event, kind: InteractionType) -> Option<EventView> {
    let created_at = event_time(event.created_at);
    let view = |kind: &'static str, message: Option<String>| EventView {
        kind,
        message,
        transaction_id: None,
        developer_description: None,
        created_at: created_at.clone(),
    };
    match &event.kind {
        EventKind::Acknowledged => Some(view("AcknowledgementResponse", None)),
        EventKind::Stage { message } => {
            Some(view("TransactionStatusResponse", Some(message.clone())))
        }
        EventKind::Completed {
            outcome,
            transaction_id,
        } => {
            let decided = |message: &str| EventView {
                transaction_id: transaction_id.map(|t| t.uuid().simple().to_string()),
                ..view(response_type(kind), Some(message.to_string()))
            };
            match outcome {
                Outcome::Approved { .. } => Some(decided(approved(kind))),
                Outcome::Declined { .. } => Some(decided(declined(kind))),
                other => unsuccessful(other).map(|(message, description)| EventView {
                    developer_description: Some(description),
                    ..view("ErrorResponse", Some(message))
                }),
            }
        }
        EventKind::Created
        | EventKind::CancelRequested
        | EventKind::CancelTooLate
        | EventKind::TerminalDisconnected
        | EventKind::TerminalReconnected
        | EventKind::Overdue => None,
    }
}
