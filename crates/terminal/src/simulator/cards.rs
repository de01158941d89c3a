//! Test cards and the amount test-trigger table (design section 7).

use poigate_domain::card::CardDataError;
use poigate_domain::{CardBrand, Cvm, DeclineReason, EmvData, EntryMode, MaskedCard, Money};
use serde::{Deserialize, Serialize};

/// The decline an amount triggers: the last three digits of the minor-unit value, as on
/// Adyen's test platform.
///
/// | suffix | result |
/// |---|---|
/// | 124 | declined, `insufficient_funds` (Not enough balance) |
/// | 125 | declined, `card_blocked` |
/// | 126 | declined, `card_expired` |
/// | 127 | declined, `invalid_amount` |
/// | 128 | declined, `invalid_card` |
/// | 134 | declined, `pin_incorrect` |
pub fn amount_trigger(amount: &Money) -> Option<DeclineReason> {
    match amount.trigger_suffix() {
        124 => Some(DeclineReason::InsufficientFunds),
        125 => Some(DeclineReason::CardBlocked),
        126 => Some(DeclineReason::CardExpired),
        127 => Some(DeclineReason::InvalidAmount),
        128 => Some(DeclineReason::InvalidCard),
        134 => Some(DeclineReason::PinIncorrect),
        _ => None,
    }
}

/// The amount suffix (last three digits of the minor-unit value) on which the simulated
/// cardholder declines the tip prompt (tip 0).
pub const NO_TIP_SUFFIX: i64 = 140;

/// The tip a simulated cardholder chooses when the terminal asks for one: 15 % of the
/// amount rounded down to the minor unit, or nothing when the amount ends in
/// [`NO_TIP_SUFFIX`] (`140`). Deterministic, so tests and demos know the total beforehand.
pub fn simulated_tip(amount: &Money) -> i64 {
    if amount.trigger_suffix() == NO_TIP_SUFFIX {
        return 0;
    }
    // At most 99 999 999 999 × 15: no overflow; capped so the total stays an amount.
    (amount.value() * 15 / 100).min(poigate_domain::money::MAX_MINOR_UNITS - amount.value())
}

/// What the issuer says to a test card (when the amount carries no trigger).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestCardOutcome {
    #[default]
    Approve,
    Decline,
    InsufficientFunds,
    CardBlocked,
    CardExpired,
    InvalidCard,
    PinIncorrect,
}

impl TestCardOutcome {
    pub fn decline_reason(self) -> Option<DeclineReason> {
        match self {
            TestCardOutcome::Approve => None,
            TestCardOutcome::Decline => Some(DeclineReason::Refused),
            TestCardOutcome::InsufficientFunds => Some(DeclineReason::InsufficientFunds),
            TestCardOutcome::CardBlocked => Some(DeclineReason::CardBlocked),
            TestCardOutcome::CardExpired => Some(DeclineReason::CardExpired),
            TestCardOutcome::InvalidCard => Some(DeclineReason::InvalidCard),
            TestCardOutcome::PinIncorrect => Some(DeclineReason::PinIncorrect),
        }
    }
}

/// A test card a simulated cardholder presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestCard {
    pub outcome: TestCardOutcome,
    pub brand: CardBrand,
    pub entry_mode: EntryMode,
    pub cvm: Cvm,
}

impl Default for TestCard {
    /// A Visa credit card inserted in the chip reader, PIN verified online, approved.
    fn default() -> Self {
        TestCard {
            outcome: TestCardOutcome::Approve,
            brand: CardBrand::Visa,
            entry_mode: EntryMode::Chip,
            cvm: Cvm::OnlinePin,
        }
    }
}

/// Published test numbers of each scheme, reduced to BIN + last four.
fn card_numbers(brand: CardBrand) -> (&'static str, &'static str, &'static str, &'static str) {
    // (bin, last4, AID, application label)
    match brand {
        CardBrand::Visa => ("476173", "0010", "A0000000031010", "VISA CREDIT"),
        CardBrand::Mastercard => ("541333", "9999", "A0000000041010", "MASTERCARD"),
        CardBrand::Maestro => ("679999", "0099", "A0000000043060", "MAESTRO"),
        CardBrand::Amex => ("374245", "1001", "A00000002501", "AMERICAN EXPRESS"),
        CardBrand::Discover => ("601100", "0004", "A0000001523010", "DISCOVER"),
        CardBrand::Jcb => ("353011", "0505", "A0000000651010", "JCB"),
        CardBrand::Unionpay => ("620000", "0000", "A000000333010101", "UNIONPAY CREDIT"),
        CardBrand::Diners => ("360569", "0004", "A0000001523010", "DINERS CLUB"),
        CardBrand::Other => ("999999", "0001", "A0000009999999", "TEST CARD"),
    }
}

impl TestCard {
    pub fn masked(&self) -> Result<MaskedCard, CardDataError> {
        let (bin, last4, _, _) = card_numbers(self.brand);
        MaskedCard::new(Some(bin), last4, self.brand, self.entry_mode)
    }

    /// EMV data for chip and contactless reads; none for a swipe.
    pub fn emv(&self) -> Option<EmvData> {
        if self.entry_mode == EntryMode::Swipe {
            return None;
        }
        let (_, _, aid, label) = card_numbers(self.brand);
        Some(EmvData {
            application_id: aid.to_string(),
            application_label: label.to_string(),
            application_preferred_name: None,
            cvm: self.cvm,
            tsi: "E800".to_string(),
            tvr: if self.cvm == Cvm::Signature {
                "0000008000".to_string()
            } else {
                "0000000000".to_string()
            },
            pan_sequence_number: Some("01".to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::Currency;

    fn eur(v: i64) -> Money {
        Money::new(v, Currency::from_code("EUR").expect("EUR")).expect("amount")
    }

    #[test]
    fn trigger_table() {
        assert_eq!(
            amount_trigger(&eur(1124)),
            Some(DeclineReason::InsufficientFunds)
        );
        assert_eq!(amount_trigger(&eur(125)), Some(DeclineReason::CardBlocked));
        assert_eq!(amount_trigger(&eur(2126)), Some(DeclineReason::CardExpired));
        assert_eq!(
            amount_trigger(&eur(127)),
            Some(DeclineReason::InvalidAmount)
        );
        assert_eq!(amount_trigger(&eur(128)), Some(DeclineReason::InvalidCard));
        assert_eq!(
            amount_trigger(&eur(10134)),
            Some(DeclineReason::PinIncorrect)
        );
        assert_eq!(amount_trigger(&eur(100)), None);
        assert_eq!(amount_trigger(&eur(1240)), None);
    }

    #[test]
    fn every_brand_yields_valid_masked_data_and_emv() {
        for brand in [
            CardBrand::Visa,
            CardBrand::Mastercard,
            CardBrand::Maestro,
            CardBrand::Amex,
            CardBrand::Discover,
            CardBrand::Jcb,
            CardBrand::Unionpay,
            CardBrand::Diners,
            CardBrand::Other,
        ] {
            let card = TestCard {
                brand,
                ..TestCard::default()
            };
            let masked = card.masked().expect("valid test card");
            assert_eq!(masked.brand(), brand);
            assert!(masked.bin().is_some(), "{brand:?} has a BIN");
            let emv = card.emv().expect("chip card has EMV data");
            assert!(emv.validated().is_ok(), "{brand:?} EMV data is valid");
        }
        let swipe = TestCard {
            entry_mode: EntryMode::Swipe,
            ..TestCard::default()
        };
        assert!(swipe.emv().is_none());
    }
}
