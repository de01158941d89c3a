//! The mapping table from poigate's outcomes to nexo's `Result`, `ErrorCondition` and the
//! `refusalReason` / `message` of Adyen's `AdditionalResponse` (also in `docs/dialects.md`).
//!
//! Sources: the refusal reasons and error conditions are those Adyen's terminals give on the
//! test platform for amounts ending in 124, 125, 126, 127, 128 and 134
//! (docs.adyen.com/point-of-sale/testing-pos-payments, "Simulating declined payments"), with
//! the acquirer code in front as a real terminal sends it (`210 Not enough balance`), as
//! tabulated by Adyen's mock Terminal API; the conditions follow
//! docs.adyen.com/point-of-sale/error-scenarios/refusal-reasons-pos.

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

/// The `ErrorCondition` and `refusalReason` of a card decline, as Adyen's terminals report
/// them on the test platform: the acquirer's code, then its text (`210 Not enough balance`),
/// the table of Adyen's own mock Terminal API (github.com/adyen-examples/adyen-mock-terminal-api,
/// "Payment Refusal Codes"). Event notifications to a webhook carry the same values.
pub fn decline(reason: DeclineReason) -> NexoResult {
    match reason {
        // Amount ending 124.
        DeclineReason::InsufficientFunds => failure(
            "Refusal",
            Some("210 Not enough balance"),
            "NOT_ENOUGH_BALANCE",
        ),
        // 125.
        DeclineReason::CardBlocked => failure("Refusal", Some("199 Card blocked"), "BLOCK_CARD"),
        // 126.
        DeclineReason::CardExpired => failure("Refusal", Some("228 Card expired"), "CARD_EXPIRED"),
        // 127.
        DeclineReason::InvalidAmount => {
            failure("Refusal", Some("214 Declined online"), "INVALID_AMOUNT")
        }
        // 128: the card itself is refused, nexo's `InvalidCard`, not a `Refusal`.
        DeclineReason::InvalidCard => {
            failure("InvalidCard", Some("214 Declined online"), "INVALID_CARD")
        }
        // 134: nexo's own condition for a PIN the issuer refused.
        DeclineReason::PinIncorrect => {
            failure("WrongPIN", Some("129 Invalid online PIN"), "INVALID_PIN")
        }
        // Any other refusal (123 on Adyen's test platform).
        DeclineReason::Refused => failure("Refusal", Some("214 Declined online"), "DECLINED"),
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
            Some("210 Not enough balance")
        );
        assert_eq!(
            decline(DeclineReason::InvalidCard).error_condition,
            Some("InvalidCard")
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
