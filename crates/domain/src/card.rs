//! Masked card data and EMV metadata: all poigate ever keeps of a card.
//!
//! A terminal reports at most the BIN (first 6 to 8 digits) and the last four digits. The
//! constructors check exactly that, so a full PAN cannot be put into a [`MaskedCard`] by
//! mistake, and nothing in this module can hold track data, a CVV or a PIN block.

use serde::{Deserialize, Serialize};

/// Card scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CardBrand {
    Visa,
    Mastercard,
    Maestro,
    Amex,
    Discover,
    Jcb,
    Unionpay,
    Diners,
    Other,
}

impl CardBrand {
    /// The label printed on receipts.
    pub fn label(self) -> &'static str {
        match self {
            CardBrand::Visa => "VISA",
            CardBrand::Mastercard => "MASTERCARD",
            CardBrand::Maestro => "MAESTRO",
            CardBrand::Amex => "AMEX",
            CardBrand::Discover => "DISCOVER",
            CardBrand::Jcb => "JCB",
            CardBrand::Unionpay => "UNIONPAY",
            CardBrand::Diners => "DINERS CLUB",
            CardBrand::Other => "CARD",
        }
    }
}

/// How the card was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EntryMode {
    Chip,
    Contactless,
    Swipe,
}

impl EntryMode {
    pub fn label(self) -> &'static str {
        match self {
            EntryMode::Chip => "Chip",
            EntryMode::Contactless => "Contactless",
            EntryMode::Swipe => "Swipe",
        }
    }
}

/// Cardholder verification method (NMI's vocabulary plus consumer-device CVM for wallets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Cvm {
    OnlinePin,
    OfflinePin,
    Signature,
    OfflinePinSignature,
    ConsumerDevice,
    None,
}

impl Cvm {
    /// Whether the merchant copy of the receipt needs a signature line.
    pub fn needs_signature(self) -> bool {
        matches!(self, Cvm::Signature | Cvm::OfflinePinSignature)
    }

    /// The line printed on receipts.
    pub fn receipt_text(self) -> &'static str {
        match self {
            Cvm::OnlinePin | Cvm::OfflinePin => "PIN VERIFIED",
            Cvm::Signature => "SIGNATURE REQUIRED",
            Cvm::OfflinePinSignature => "PIN VERIFIED + SIGNATURE",
            Cvm::ConsumerDevice => "VERIFIED ON DEVICE",
            Cvm::None => "NO CARDHOLDER VERIFICATION",
        }
    }
}

/// Why card data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardDataError {
    #[error("bin must be 6 to 8 digits")]
    BadBin,
    #[error("last4 must be exactly 4 digits")]
    BadLast4,
    #[error("{0} must be hexadecimal of the right length")]
    BadEmvField(&'static str),
    #[error("{0} is too long")]
    TooLong(&'static str),
    #[error("auth_code must be 1 to 12 letters or digits")]
    BadAuthCode,
    #[error("the outcome is not a card decision")]
    NotACardDecision,
    #[error("the amount plus the tip exceeds the largest amount")]
    BadTip,
}

/// What poigate keeps of a card: BIN and last four at most, scheme, how it was read.
///
/// Unknown fields are refused (`card.pan`, `card.track2` …): a terminal that sends more than
/// this is sending card data, and the whole report is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaskedCard {
    /// First 6 to 8 digits (issuer identification), when the terminal reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bin: Option<String>,
    last4: String,
    brand: CardBrand,
    entry_mode: EntryMode,
}

impl MaskedCard {
    pub fn new(
        bin: Option<&str>,
        last4: &str,
        brand: CardBrand,
        entry_mode: EntryMode,
    ) -> Result<MaskedCard, CardDataError> {
        if let Some(b) = bin
            && !(6..=8).contains(&b.len())
        {
            return Err(CardDataError::BadBin);
        }
        if let Some(b) = bin
            && !b.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(CardDataError::BadBin);
        }
        if last4.len() != 4 || !last4.bytes().all(|c| c.is_ascii_digit()) {
            return Err(CardDataError::BadLast4);
        }
        Ok(MaskedCard {
            bin: bin.map(str::to_string),
            last4: last4.to_string(),
            brand,
            entry_mode,
        })
    }

    /// Checks a value that came from outside (a terminal frame, a database row) against the
    /// same rules as [`MaskedCard::new`].
    pub fn validated(self) -> Result<MaskedCard, CardDataError> {
        MaskedCard::new(
            self.bin.as_deref(),
            &self.last4,
            self.brand,
            self.entry_mode,
        )
    }

    pub fn bin(&self) -> Option<&str> {
        self.bin.as_deref()
    }

    pub fn last4(&self) -> &str {
        &self.last4
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    pub fn entry_mode(&self) -> EntryMode {
        self.entry_mode
    }

    /// `476173******0010` when the BIN is known, `************0010` otherwise (16 positions).
    pub fn masked_pan(&self) -> String {
        let bin = self.bin.as_deref().unwrap_or("");
        let stars = 16usize.saturating_sub(bin.len() + 4);
        format!("{bin}{}{}", "*".repeat(stars), self.last4)
    }
}

/// EMV chip data for receipts and reconciliation. No cryptograms, no track equivalents
/// (unknown fields such as a track 2 equivalent are refused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmvData {
    /// Application identifier (AID), e.g. `A0000000031010`.
    pub application_id: String,
    /// e.g. `VISA CREDIT`.
    pub application_label: String,
    /// Name in the cardholder's language, when the card has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_preferred_name: Option<String>,
    pub cvm: Cvm,
    /// Transaction status information (TSI), 2 bytes hex, e.g. `E800`.
    pub tsi: String,
    /// Terminal verification results (TVR), 5 bytes hex, e.g. `0000000000`.
    pub tvr: String,
    /// PAN sequence number, e.g. `02`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pan_sequence_number: Option<String>,
}

impl EmvData {
    /// Checks lengths and hex formats of values that came from outside.
    pub fn validated(self) -> Result<EmvData, CardDataError> {
        let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
        if !(10..=32).contains(&self.application_id.len()) || !hex(&self.application_id) {
            return Err(CardDataError::BadEmvField("application_id"));
        }
        if self.tsi.len() != 4 || !hex(&self.tsi) {
            return Err(CardDataError::BadEmvField("tsi"));
        }
        if self.tvr.len() != 10 || !hex(&self.tvr) {
            return Err(CardDataError::BadEmvField("tvr"));
        }
        if let Some(psn) = &self.pan_sequence_number
            && (psn.len() != 2 || !psn.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(CardDataError::BadEmvField("pan_sequence_number"));
        }
        if self.application_label.chars().count() > 32 {
            return Err(CardDataError::TooLong("application_label"));
        }
        if self
            .application_preferred_name
            .as_deref()
            .is_some_and(|n| n.chars().count() > 32)
        {
            return Err(CardDataError::TooLong("application_preferred_name"));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_card_keeps_bin_and_last4_only() {
        let card = MaskedCard::new(Some("476173"), "0010", CardBrand::Visa, EntryMode::Chip)
            .expect("valid");
        assert_eq!(card.masked_pan(), "476173******0010");
        let no_bin =
            MaskedCard::new(None, "0010", CardBrand::Visa, EntryMode::Contactless).expect("valid");
        assert_eq!(no_bin.masked_pan(), "************0010");
    }

    #[test]
    fn refuses_anything_longer_than_a_bin_or_last4() {
        assert_eq!(
            MaskedCard::new(
                Some("4761730000000010"),
                "0010",
                CardBrand::Visa,
                EntryMode::Chip
            ),
            Err(CardDataError::BadBin)
        );
        assert_eq!(
            MaskedCard::new(None, "00100", CardBrand::Visa, EntryMode::Chip),
            Err(CardDataError::BadLast4)
        );
        assert_eq!(
            MaskedCard::new(None, "12a4", CardBrand::Visa, EntryMode::Chip),
            Err(CardDataError::BadLast4)
        );
    }

    #[test]
    fn emv_fields_are_checked() {
        let good = EmvData {
            application_id: "A0000000031010".into(),
            application_label: "VISA CREDIT".into(),
            application_preferred_name: Some("CREDITO DE VISA".into()),
            cvm: Cvm::Signature,
            tsi: "E800".into(),
            tvr: "0000008000".into(),
            pan_sequence_number: Some("02".into()),
        };
        assert!(good.clone().validated().is_ok());
        let bad = EmvData {
            tvr: "XYZ".into(),
            ..good
        };
        assert_eq!(bad.validated(), Err(CardDataError::BadEmvField("tvr")));
    }
}
