//! Amounts of money: an integer count of minor units plus a currency.
//!
//! Money is never a float. Decimal strings such as `"1.00"` (Cybersource, NMI) are parsed
//! exactly, digit by digit, and rejected when they carry more decimals than the currency has,
//! so `"1.005" EUR` is an error rather than a silently rounded cent.

use crate::currency::Currency;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest amount poigate accepts, in minor units (99,999,999,999: just under a billion
/// euros, or a hundred billion yen). Far above any card-present payment, far below `i64`
/// overflow when amounts are summed.
pub const MAX_MINOR_UNITS: i64 = 99_999_999_999;

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
    #[error("amount must not be negative")]
    Negative,
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount exceeds the maximum of {MAX_MINOR_UNITS} minor units")]
    TooLarge,
    #[error("{currency} allows at most {allowed} decimal(s)")]
    TooManyDecimals { currency: &'static str, allowed: u8 },
    #[error("`{0}` is not a decimal amount (expected digits with an optional `.` and decimals)")]
    Malformed(String),
}

impl MoneyError {
    /// A stable machine-readable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::UnknownCurrency(_) => "unknown_currency",
            MoneyError::Negative => "amount_negative",
            MoneyError::Zero => "amount_zero",
            MoneyError::TooLarge => "amount_too_large",
            MoneyError::TooManyDecimals { .. } => "too_many_decimals",
            MoneyError::Malformed(_) => "amount_malformed",
        }
    }
}

/// A non-negative amount in the minor units of its currency (cents for EUR, yen for JPY).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// Amount in minor units (e.g. 1250 = 12.50 EUR).
    #[cfg_attr(feature = "openapi", schema(example = 1250))]
    value: i64,
    currency: Currency,
}

impl Money {
    /// An amount of `value` minor units; zero is allowed (card verification), negative and
    /// oversized amounts are not.
    pub fn new(value: i64, currency: Currency) -> Result<Money, MoneyError> {
        if value < 0 {
            return Err(MoneyError::Negative);
        }
        if value > MAX_MINOR_UNITS {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money { value, currency })
    }

    /// Like [`Money::new`] but also refuses zero: what a sale, auth or refund needs.
    pub fn positive(value: i64, currency: Currency) -> Result<Money, MoneyError> {
        if value == 0 {
            return Err(MoneyError::Zero);
        }
        Money::new(value, currency)
    }

    pub fn zero(currency: Currency) -> Money {
        Money { value: 0, currency }
    }

    /// Minor units and a currency code, as the native API carries them.
    pub fn from_parts(value: i64, currency_code: &str) -> Result<Money, MoneyError> {
        let currency = Currency::from_code(currency_code)
            .ok_or_else(|| MoneyError::UnknownCurrency(currency_code.to_string()))?;
        Money::new(value, currency)
    }

    /// Parses a decimal major-unit string such as `"1.00"`, `"12"` or `"0.5"` exactly.
    ///
    /// Accepted: one or more digits, optionally `.` followed by one to `exponent` digits.
    /// Refused: signs, exponents, spaces, a bare `.`, more decimals than the currency has
    /// (even trailing zeros: `"1.000"` EUR is ambiguous input and is refused), values over
    /// [`MAX_MINOR_UNITS`]. Zero parses (callers that need a positive amount check it).
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let malformed = || MoneyError::Malformed(text.chars().take(32).collect());
        if let Some(rest) = text.strip_prefix('-') {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return Err(MoneyError::Negative);
            }
            return Err(malformed());
        }
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let frac = frac_part.unwrap_or("");
        if frac_part.is_some() && frac.is_empty() {
            return Err(malformed());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let exponent = currency.exponent();
        if frac.len() > usize::from(exponent) {
            return Err(MoneyError::TooManyDecimals {
                currency: currency.code(),
                allowed: exponent,
            });
        }
        let mut value: i64 = 0;
        let digits = int_part
            .bytes()
            .chain(frac.bytes())
            .chain(std::iter::repeat_n(
                b'0',
                usize::from(exponent) - frac.len(),
            ));
        for b in digits {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(b - b'0')))
                .ok_or(MoneyError::TooLarge)?;
        }
        Money::new(value, currency)
    }

    /// Minor units.
    pub const fn value(&self) -> i64 {
        self.value
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    pub const fn is_zero(&self) -> bool {
        self.value == 0
    }

    /// The amount as a decimal string with exactly the currency's decimals: `"1.00"`, `"500"`.
    pub fn to_decimal_string(&self) -> String {
        let exp = u32::from(self.currency.exponent());
        if exp == 0 {
            return self.value.to_string();
        }
        let div = 10_i64.pow(exp);
        format!(
            "{}.{:0width$}",
            self.value / div,
            self.value % div,
            width = exp as usize
        )
    }

    /// Last three digits of the minor-unit value: the test-trigger suffix (`124` etc.).
    pub const fn trigger_suffix(&self) -> i64 {
        self.value % 1000
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Display for Money {
    /// `1.00 GBP`, the form the terminal shows ("1.00 GBP - Present card").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(code: &str) -> Currency {
        Currency::from_code(code).expect("known currency")
    }

    #[test]
    fn parses_exact_decimals() {
        let eur = cur("EUR");
        assert_eq!(
            Money::parse_decimal("1.00", eur).map(|m| m.value()),
            Ok(100)
        );
        assert_eq!(Money::parse_decimal("1", eur).map(|m| m.value()), Ok(100));
        assert_eq!(Money::parse_decimal("0.5", eur).map(|m| m.value()), Ok(50));
        assert_eq!(
            Money::parse_decimal("12.34", eur).map(|m| m.value()),
            Ok(1234)
        );
        assert_eq!(
            Money::parse_decimal("007.10", eur).map(|m| m.value()),
            Ok(710)
        );
        assert_eq!(
            Money::parse_decimal("500", cur("JPY")).map(|m| m.value()),
            Ok(500)
        );
        assert_eq!(
            Money::parse_decimal("1.234", cur("KWD")).map(|m| m.value()),
            Ok(1234)
        );
        assert_eq!(Money::parse_decimal("0.00", eur).map(|m| m.value()), Ok(0));
    }

    #[test]
    fn refuses_what_is_not_exact() {
        let eur = cur("EUR");
        assert_eq!(
            Money::parse_decimal("1.005", eur),
            Err(MoneyError::TooManyDecimals {
                currency: "EUR",
                allowed: 2
            })
        );
        assert_eq!(
            Money::parse_decimal("1.000", eur),
            Err(MoneyError::TooManyDecimals {
                currency: "EUR",
                allowed: 2
            })
        );
        assert!(matches!(
            Money::parse_decimal("1.5", cur("JPY")),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        assert_eq!(
            Money::parse_decimal("-1.00", eur),
            Err(MoneyError::Negative)
        );
        for bad in [
            "", ".", "1.", ".5", "+1", "1e3", " 1", "1,00", "1.0.0", "abc", "--1", "NaN",
        ] {
            assert!(
                matches!(
                    Money::parse_decimal(bad, eur),
                    Err(MoneyError::Malformed(_))
                ),
                "{bad:?} should be malformed"
            );
        }
        assert_eq!(
            Money::parse_decimal("99999999999999999999999", eur),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::parse_decimal("1000000000.00", eur),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn new_and_positive_guard_the_range() {
        let eur = cur("EUR");
        assert_eq!(Money::new(-1, eur), Err(MoneyError::Negative));
        assert_eq!(Money::positive(0, eur), Err(MoneyError::Zero));
        assert_eq!(
            Money::new(MAX_MINOR_UNITS + 1, eur),
            Err(MoneyError::TooLarge)
        );
        assert!(Money::new(MAX_MINOR_UNITS, eur).is_ok());
        assert_eq!(
            Money::from_parts(100, "ZZZ"),
            Err(MoneyError::UnknownCurrency("ZZZ".into()))
        );
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(
            Money::new(100, cur("GBP")).map(|m| m.to_string()),
            Ok("1.00 GBP".into())
        );
        assert_eq!(
            Money::new(5, cur("EUR")).map(|m| m.to_decimal_string()),
            Ok("0.05".into())
        );
        assert_eq!(
            Money::new(500, cur("JPY")).map(|m| m.to_decimal_string()),
            Ok("500".into())
        );
        assert_eq!(
            Money::new(1, cur("CLF")).map(|m| m.to_decimal_string()),
            Ok("0.0001".into())
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(value in 0..=MAX_MINOR_UNITS, idx in 0usize..160) {
            let all = Currency::all();
            let currency = all[idx % all.len()];
            let money = Money::new(value, currency).expect("in range");
            let text = money.to_decimal_string();
            prop_assert_eq!(Money::parse_decimal(&text, currency), Ok(money));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = Money::parse_decimal(&text, cur("EUR"));
        }
    }
}
