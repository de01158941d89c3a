//! The mapping table from poigate's outcomes to nexo's `Result`, `ErrorCondition` and the
//! `refusalReason` / `message` of Adyen's `AdditionalResponse` (also in `docs/dialects.md`).
//!
//! Sources: the refusal reasons are Adyen's mapped `refusalReason` values
//! (docs.adyen.com/development-resources/refusal-reasons) for the results Adyen's test
//! platform gives amounts ending in 124, 125, 126, 127, 128 and 134
//! (docs.adyen.com/point-of-sale/testing-pos-payments, "Simulating declined payments"); the
//! error conditions follow docs.adyen.com/point-of-sale/error-scenarios/refusal-reasons-pos.

use poigate_domain::{CancelReason, DeclineReason, FailureReason, Outcome};

/// How a final outcome reads in a `PaymentResponse.Response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NexoResult {
    pub result: &'static str,
    pub error_condition: Option<&'static str>,
    /// `refusalReason` in `AdditionalResponse`.
    pub refusal_reason: Option<&'static str>,
    /// `message` in `AdditionalResponse`.
    pub message: Option<&'static str>,
}

const fn failure(
    condition: &'static str,
    refusal_reason: Option<&'static str>,
    message: &'static str,
) -> NexoResult {
    NexoResult {
        result: "Failure",
        error_condition: Some(condition),
        refusal_reason,
        message: Some(message),
    }
}

/// The `ErrorCondition` and `refusalReason` of a card decline.
pub fn decline(reason: DeclineReason) -> NexoResult {
    match reason {
        // Amount ending 124.
        DeclineReason::InsufficientFunds => {
            failure("Refusal", Some("Not enough balance"), "NOT_ENOUGH_BALANCE")
        }
        // 125.
        DeclineReason::CardBlocked => failure("Refusal", Some("Blocked Card"), "BLOCK_CARD"),
        // 126.
        DeclineReason::CardExpired => failure("Refusal", Some("Expired Card"), "CARD_EXPIRED"),
        // 127.
        DeclineReason::InvalidAmount => {
            failure("Refusal", Some("Invalid Amount"), "INVALID_AMOUNT")
        }
        // 128.
        DeclineReason::InvalidCard => failure(
            "Refusal",
            Some("Invalid Card Number"),
            "INVALID_CARD_NUMBER",
        ),
        // 134: nexo's own condition for a PIN the issuer refused.
        DeclineReason::PinIncorrect => failure("WrongPIN", Some("Invalid Pin"), "INVALID_PIN"),
        DeclineReason::Refused => failure("Refusal", Some("Refused"), "DECLINED"),
    }
}

/// The `Response` of any final outcome.
pub fn of_outcome(outcome: &Outcome) -> NexoResult {
    match outcome {
        Outcome::Approved { .. } => NexoResult {
            result: "Success",
            error_condition: None,
            refusal_reason: None,
            message: None,
        },
        Outcome::Declined { reason, .. } => decline(*reason),
        Outcome::Cancelled { reason } => match reason {
            // An AbortRequest (or the native API's cancel) that the terminal carried out.
            CancelReason::Api => failure("Aborted", Some("104 Merchant cancelled tx"), "CANCELLED"),
            CancelReason::Terminal => {
                failure("Cancel", Some("108 Shopper cancelled tx"), "CANCELLED")
            }
            CancelReason::Timeout => failure(
                "Cancel",
                Some("126 Shopper did not present card"),
                "CANCELLED",
            ),
            // Never reached the terminal: answered as an event notification `Reject` where
            // a response is due (see `render::reject`); this is the body for status requests
            // that still need one.
            CancelReason::NotDelivered => failure(
                "UnavailableDevice",
                None,
                "Did not receive a response from the POI.",
            ),
        },
        Outcome::Failed { reason, .. } => match reason {
            FailureReason::TerminalError => failure("DeviceOut", None, "TERMINAL_ERROR"),
            FailureReason::CardReadError => failure("InvalidCard", None, "CARD_READ_ERROR"),
            FailureReason::ProcessorUnavailable => {
                failure("UnreachableHost", None, "ISSUER_UNAVAILABLE")
            }
            FailureReason::Unsupported => failure("UnavailableService", None, "NOT_SUPPORTED"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decline_is_a_failure_with_a_refusal_reason() {
        for reason in [
            DeclineReason::Refused,
            DeclineReason::InsufficientFunds,
            DeclineReason::CardBlocked,
            DeclineReason::CardExpired,
            DeclineReason::InvalidAmount,
            DeclineReason::InvalidCard,
            DeclineReason::PinIncorrect,
        ] {
            let r = decline(reason);
            assert_eq!(r.result, "Failure");
            assert!(r.error_condition.is_some());
            assert!(r.refusal_reason.is_some());
        }
        assert_eq!(
            decline(DeclineReason::InsufficientFunds).refusal_reason,
            Some("Not enough balance")
        );
    }

    #[test]
    fn cancels_distinguish_merchant_and_shopper() {
        let api = of_outcome(&Outcome::Cancelled {
            reason: CancelReason::Api,
        });
        assert_eq!(api.error_condition, Some("Aborted"));
        let shopper = of_outcome(&Outcome::Cancelled {
            reason: CancelReason::Terminal,
        });
        assert_eq!(shopper.error_condition, Some("Cancel"));
    }
}
