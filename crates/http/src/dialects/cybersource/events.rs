//! poigate's events as Cybersource transaction events. Pure.
//!
//! | poigate event | Cybersource event |
//! |---|---|
//! | `acknowledged` | `AcknowledgementResponse` |
//! | `stage` | `TransactionStatusResponse` with the stage message |
//! | `completed`, approved or declined | `PaymentResponse` (`StandaloneRefundResponse` for a refund) with `message` and `transactionId` |
//! | `completed`, cancelled | `PaymentResponse` (`StandaloneRefundResponse`) "Payment aborted" with the interaction's id as `transactionId` (an aborted payment is a transaction with status `ABORTED`) |
//! | `completed`, failed | `ErrorResponse` with `message` and `developerDescription` |
//! | `created`, `cancel_requested`, `cancel_too_late`, `terminal_*`, `overdue` | not shown (not terminal responses) |

use super::messages::{
    aborted_message, approved, declined, operation_message, operation_response_type, response_type,
    unsuccessful,
};
use super::time::event_time;
use super::wire::EventView;
use poigate_domain::{Event, EventKind, Interaction, Operation, OperationStatus, Outcome};

/// The Cybersource event for `event` of `interaction`, if it has one.
pub(super) fn event_view(event: &Event, interaction: &Interaction) -> Option<EventView> {
    let kind = interaction.kind;
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
                Outcome::Cancelled { .. } => Some(EventView {
                    transaction_id: Some(interaction.id.uuid().simple().to_string()),
                    ..view(response_type(kind), Some(aborted_message(kind).to_string()))
                }),
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

/// The events of a capture or linked refund started on the asynchronous endpoint, newest
/// first: its response once complete (with the transaction's id), a status update while it
/// runs, and the acknowledgement.
pub(super) fn operation_events(op: &Operation) -> Vec<EventView> {
    let view = |kind: &'static str, message: Option<&str>, at| EventView {
        kind,
        message: message.map(str::to_string),
        transaction_id: None,
        developer_description: None,
        created_at: event_time(at),
    };
    let mut events = Vec::new();
    if op.status != OperationStatus::Pending {
        events.push(EventView {
            transaction_id: Some(op.transaction_id.uuid().simple().to_string()),
            ..view(
                operation_response_type(op.kind),
                Some(operation_message(op.kind, op.status)),
                op.updated_at,
            )
        });
    }
    events.push(view(
        "TransactionStatusResponse",
        Some(operation_message(op.kind, OperationStatus::Pending)),
        op.created_at,
    ));
    events.push(view("AcknowledgementResponse", None, op.created_at));
    events
}
