//! ISO 4217 currencies and their minor-unit exponents.
//!
//! The table lists the active circulating currencies (funds and precious-metal codes such as
//! XAU are left out on purpose: a card terminal never charges them). The exponent decides how
//! many decimals an amount may have: EUR has 2, JPY 0, KWD 3, CLF 4.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A currency known to poigate: its ISO 4217 alphabetic code and minor-unit exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    numeric: u16,
    exponent: u8,
}

impl Currency {
    /// Looks a code up, ignoring ASCII case (`"eur"` and `"EUR"` are the same currency).
    pub fn from_code(code: &str) -> Option<Currency> {
        if code.len() != 3 {
            return None;
        }
        let upper = code.to_ascii_uppercase();
        TABLE
            .binary_search_by(|c| c.code.cmp(upper.as_str()))
            .ok()
            .map(|i| TABLE[i])
    }

    /// Looks a currency up by its ISO 4217 numeric code (e.g. 978 for EUR).
    pub fn from_numeric(numeric: u16) -> Option<Currency> {
        TABLE.iter().copied().find(|c| c.numeric == numeric)
    }

    /// The upper-case alphabetic code, e.g. `"EUR"`.
    pub const fn code(&self) -> &'static str {
        self.code
    }

    /// The ISO 4217 numeric code, e.g. 978.
    pub const fn numeric(&self) -> u16 {
        self.numeric
    }

    /// Number of decimals of the minor unit.
    pub const fn exponent(&self) -> u8 {
        self.exponent
    }

    /// Every currency in the table, sorted by code.
    pub fn all() -> &'static [Currency] {
        TABLE
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::from_code(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown currency `{s}`")))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("ISO 4217 alphabetic currency code"))
            .examples(["EUR"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Currency {}

const fn c(code: &'static str, numeric: u16, exponent: u8) -> Currency {
    Currency {
        code,
        numeric,
        exponent,
    }
}

/// Sorted by code so lookups can binary-search.
static TABLE: &[Currency] = &[
    c("AED", 784, 2),
    c("AFN", 971, 2),
    c("ALL", 8, 2),
    c("AMD", 51, 2),
    c("ANG", 532, 2),
    c("AOA", 973, 2),
    c("ARS", 32, 2),
    c("AUD", 36, 2),
    c("AWG", 533, 2),
    c("AZN", 944, 2),
    c("BAM", 977, 2),
    c("BBD", 52, 2),
    c("BDT", 50, 2),
    c("BGN", 975, 2),
    c("BHD", 48, 3),
    c("BIF", 108, 0),
    c("BMD", 60, 2),
    c("BND", 96, 2),
    c("BOB", 68, 2),
    c("BRL", 986, 2),
    c("BSD", 44, 2),
    c("BTN", 64, 2),
    c("BWP", 72, 2),
    c("BYN", 933, 2),
    c("BZD", 84, 2),
    c("CAD", 124, 2),
    c("CDF", 976, 2),
    c("CHF", 756, 2),
    c("CLF", 990, 4),
    c("CLP", 152, 0),
    c("CNY", 156, 2),
    c("COP", 170, 2),
    c("CRC", 188, 2),
    c("CUP", 192, 2),
    c("CVE", 132, 2),
    c("CZK", 203, 2),
    c("DJF", 262, 0),
    c("DKK", 208, 2),
    c("DOP", 214, 2),
    c("DZD", 12, 2),
    c("EGP", 818, 2),
    c("ERN", 232, 2),
    c("ETB", 230, 2),
    c("EUR", 978, 2),
    c("FJD", 242, 2),
    c("FKP", 238, 2),
    c("GBP", 826, 2),
    c("GEL", 981, 2),
    c("GHS", 936, 2),
    c("GIP", 292, 2),
    c("GMD", 270, 2),
    c("GNF", 324, 0),
    c("GTQ", 320, 2),
    c("GYD", 328, 2),
    c("HKD", 344, 2),
    c("HNL", 340, 2),
    c("HTG", 332, 2),
    c("HUF", 348, 2),
    c("IDR", 360, 2),
    c("ILS", 376, 2),
    c("INR", 356, 2),
    c("IQD", 368, 3),
    c("IRR", 364, 2),
    c("ISK", 352, 0),
    c("JMD", 388, 2),
    c("JOD", 400, 3),
    c("JPY", 392, 0),
    c("KES", 404, 2),
    c("KGS", 417, 2),
    c("KHR", 116, 2),
    c("KMF", 174, 0),
    c("KPW", 408, 2),
    c("KRW", 410, 0),
    c("KWD", 414, 3),
    c("KYD", 136, 2),
    c("KZT", 398, 2),
    c("LAK", 418, 2),
    c("LBP", 422, 2),
    c("LKR", 144, 2),
    c("LRD", 430, 2),
    c("LSL", 426, 2),
    c("LYD", 434, 3),
    c("MAD", 504, 2),
    c("MDL", 498, 2),
    c("MGA", 969, 2),
    c("MKD", 807, 2),
    c("MMK", 104, 2),
    c("MNT", 496, 2),
    c("MOP", 446, 2),
    c("MRU", 929, 2),
    c("MUR", 480, 2),
    c("MVR", 462, 2),
    c("MWK", 454, 2),
    c("MXN", 484, 2),
    c("MYR", 458, 2),
    c("MZN", 943, 2),
    c("NAD", 516, 2),
    c("NGN", 566, 2),
    c("NIO", 558, 2),
    c("NOK", 578, 2),
    c("NPR", 524, 2),
    c("NZD", 554, 2),
    c("OMR", 512, 3),
    c("PAB", 590, 2),
    c("PEN", 604, 2),
    c("PGK", 598, 2),
    c("PHP", 608, 2),
    c("PKR", 586, 2),
    c("PLN", 985, 2),
    c("PYG", 600, 0),
    c("QAR", 634, 2),
    c("RON", 946, 2),
    c("RSD", 941, 2),
    c("RUB", 643, 2),
    c("RWF", 646, 0),
    c("SAR", 682, 2),
    c("SBD", 90, 2),
    c("SCR", 690, 2),
    c("SDG", 938, 2),
    c("SEK", 752, 2),
    c("SGD", 702, 2),
    c("SHP", 654, 2),
    c("SLE", 925, 2),
    c("SOS", 706, 2),
    c("SRD", 968, 2),
    c("SSP", 728, 2),
    c("STN", 930, 2),
    c("SVC", 222, 2),
    c("SYP", 760, 2),
    c("SZL", 748, 2),
    c("THB", 764, 2),
    c("TJS", 972, 2),
    c("TMT", 934, 2),
    c("TND", 788, 3),
    c("TOP", 776, 2),
    c("TRY", 949, 2),
    c("TTD", 780, 2),
    c("TWD", 901, 2),
    c("TZS", 834, 2),
    c("UAH", 980, 2),
    c("UGX", 800, 0),
    c("USD", 840, 2),
    c("UYU", 858, 2),
    c("UZS", 860, 2),
    c("VES", 928, 2),
    c("VND", 704, 0),
    c("VUV", 548, 0),
    c("WST", 882, 2),
    c("XAF", 950, 0),
    c("XCD", 951, 2),
    c("XOF", 952, 0),
    c("XPF", 953, 0),
    c("YER", 886, 2),
    c("ZAR", 710, 2),
    c("ZMW", 967, 2),
    c("ZWL", 932, 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} before {}",
                pair[0].code,
                pair[1].code
            );
        }
    }

    #[test]
    fn looks_up_codes_and_exponents() {
        assert_eq!(Currency::from_code("EUR").map(|c| c.exponent()), Some(2));
        assert_eq!(Currency::from_code("jpy").map(|c| c.exponent()), Some(0));
        assert_eq!(Currency::from_code("KWD").map(|c| c.exponent()), Some(3));
        assert_eq!(Currency::from_code("GBP").map(|c| c.numeric()), Some(826));
        assert_eq!(Currency::from_numeric(978).map(|c| c.code()), Some("EUR"));
        assert!(Currency::from_code("XXX").is_none());
        assert!(Currency::from_code("EURO").is_none());
        assert!(Currency::from_code("").is_none());
    }
}
