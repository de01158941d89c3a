//! The words of a final answer: response type and message per interaction type and
//! outcome. The messages are those the terminal shows (the seed's "Payment approved").

use poigate_domain::{
    CancelReason, FailureReason, InteractionType, OperationKind, OperationStatus, Outcome,
};

/// `PaymentRequest` → `PaymentResponse`, `StandaloneRefundRequest` →
/// `StandaloneRefundResponse`: Cybersource names a response after its request.
pub(super) fn response_type(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::Refund => "StandaloneRefundResponse",
        _ => "PaymentResponse",
    }
}

/// The message of a cancelled interaction: Cybersource answers an aborted payment as a
/// payment with status `ABORTED`.
pub(super) fn aborted_message(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::Refund => "Refund aborted",
        InteractionType::Validate => "Verification aborted",
        _ => "Payment aborted",
    }
}

/// `CaptureRequest` → `CaptureResponse`, `LinkedRefundRequest` → `LinkedRefundResponse`.
pub(super) fn operation_response_type(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Capture => "CaptureResponse",
        OperationKind::Refund => "LinkedRefundResponse",
        OperationKind::Void => "VoidResponse",
        OperationKind::Increment => "IncrementalAuthorizationResponse",
    }
}

/// The message of a capture's or linked refund's answer: the documented "Refund approved"
/// once the refund is complete.
pub(super) fn operation_message(kind: OperationKind, status: OperationStatus) -> &'static str {
    match (kind, status) {
        (OperationKind::Refund, OperationStatus::Succeeded) => "Refund approved",
        (OperationKind::Refund, OperationStatus::Pending) => "Refund pending",
        (OperationKind::Refund, OperationStatus::Failed) => "Refund declined",
        (_, OperationStatus::Succeeded) => "Payment approved",
        (_, OperationStatus::Pending) => "Processing payment...",
        (_, OperationStatus::Failed) => "Payment declined",
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
