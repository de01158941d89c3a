//! The words of a final answer: response type and message per interaction type and
//! outcome. The messages are those the terminal shows (the seed's "Payment approved").

use poigate_domain::{CancelReason, FailureReason, InteractionType, Outcome};

/// `PaymentRequest` → `PaymentResponse`, `StandaloneRefundRequest` →
/// `StandaloneRefundResponse`: Cybersource names a response after its request.
pub(super) fn response_type(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::Refund => "StandaloneRefundResponse",
        _ => "PaymentResponse",
    }
}

pub(super) fn approved(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::Refund => "Refund approved",
        InteractionType::Validate => "Card verified",
        _ => "Payment approved",
    }
}

pub(super) fn declined(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::Refund => "Refund declined",
        InteractionType::Validate => "Card not verified",
        _ => "Payment declined",
    }
}

/// `(message, developerDescription)` of an outcome without a card decision.
pub(super) fn unsuccessful(outcome: &Outcome) -> Option<(String, String)> {
    match outcome {
        Outcome::Cancelled { reason } => Some((
            "Transaction cancelled".to_string(),
            match reason {
                CancelReason::Api => "Cancelled by a CancelRequest.",
                CancelReason::Terminal => "Cancelled on the terminal.",
                CancelReason::Timeout => "No card was presented before the terminal's timeout.",
                CancelReason::NotDelivered => {
                    "The terminal did not take the request in time; nothing was charged."
                }
            }
            .to_string(),
        )),
        Outcome::Failed { reason, message } => Some((
            message.clone(),
            match reason {
                FailureReason::TerminalError => "The terminal reported an internal error.",
                FailureReason::CardReadError => "The card could not be read.",
                FailureReason::ProcessorUnavailable => {
                    "The terminal could not reach the processor."
                }
                FailureReason::Unsupported => {
                    "The terminal does not support this transaction type."
                }
            }
            .to_string(),
        )),
        Outcome::Approved { .. } | Outcome::Declined { .. } => None,
    }
}
