//! Small encodings Adyen's Terminal API uses on the wire: form-encoded key-value strings
//! (`AdditionalResponse`, `EventDetails`, receipt lines), timestamps, decimal amounts.

use poigate_domain::{Money, Timestamp};

/// Percent-encodes `text` the way Adyen's terminals do in `AdditionalResponse` and receipt
/// lines: everything but ASCII letters, digits and `-._~` becomes `%xx` with lower-case hex
/// (`29%2f04%2f19`, `10%3a19%3a51`, `%e2%82%ac` — see the `syncRes` mock of Adyen's Node
/// library).
pub fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    percent_into(&mut out, text);
    out
}

/// [`percent`], appended to `out`: receipts are rendered on every `TransactionStatus`, a
/// few hundred bytes a line, so no string per byte or per pair.
fn percent_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// A form-encoded `key=value&key=value` string, built in order.
#[derive(Default, Debug, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Form {
        Form::default()
    }

    /// Adds `key=value` (the value is percent-encoded).
    pub fn add(mut self, key: &str, value: impl AsRef<str>) -> Form {
        self.0.push((key.to_string(), value.as_ref().to_string()));
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn add_opt(self, key: &str, value: Option<impl AsRef<str>>) -> Form {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    pub fn encode(&self) -> String {
        let size: usize = self.0.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let mut out = String::with_capacity(size + size / 4);
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            percent_into(&mut out, k);
            out.push('=');
            percent_into(&mut out, v);
        }
        out
    }

    /// Like [`Form::encode`] with spaces as `+`, as Adyen writes `EventDetails`
    /// (`message=Did+not+receive+a+response+from+the+POI.`).
    pub fn encode_plus(&self) -> String {
        self.encode().replace("%20", "+")
    }
}

/// A timestamp as the seed's examples write them: `2019-03-07T10:11:04+00:00`.
pub fn timestamp(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, _) = t.utc_parts();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
}

/// `dd-mm-yyyy` and `hh:mm:ss`, the `txdate` and `txtime` of Adyen's `AdditionalResponse`.
pub fn tx_date_time(t: Timestamp) -> (String, String) {
    let (y, mo, d, h, mi, s, _) = t.utc_parts();
    (
        format!("{d:02}-{mo:02}-{y:04}"),
        format!("{h:02}:{mi:02}:{s:02}"),
    )
}

/// An amount as a JSON number in major units (`12.5` for 12.50 EUR, `1250` for 1250 JPY), as
/// nexo's `AuthorizedAmount` and `ReversedAmount` carry it.
pub fn major_units(money: Money) -> serde_json::Number {
    if money.currency().exponent() == 0 {
        return serde_json::Number::from(money.value());
    }
    money
        .to_decimal_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .unwrap_or_else(|| serde_json::Number::from(0))
}

/// The decimal text of a JSON number, exactly as far as the number is exact: integers as
/// digits, fractions in the shortest form that reads back as the same `f64` (`12.5`, `0.1`).
/// Exponent forms and non-finite values are refused (`None`).
pub fn decimal_text(number: &serde_json::Number) -> Option<String> {
    if let Some(u) = number.as_u64() {
        return Some(u.to_string());
    }
    if let Some(i) = number.as_i64() {
        return Some(i.to_string());
    }
    let f = number.as_f64()?;
    if !f.is_finite() {
        return None;
    }
    let text = format!("{f}");
    text.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        .then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::Currency;

    #[test]
    fn percent_encoding_matches_adyens_lower_case_style() {
        assert_eq!(percent("29/04/19"), "29%2f04%2f19");
        assert_eq!(percent("10:19:51"), "10%3a19%3a51");
        assert_eq!(percent("Pref. name"), "Pref.%20name");
        assert_eq!(percent("****3511"), "%2a%2a%2a%2a3511");
        assert_eq!(percent("€"), "%e2%82%ac");
        assert_eq!(percent("P400Plus-275039202"), "P400Plus-275039202");
    }

    #[test]
    fn forms_keep_their_order() {
        let form = Form::new()
            .add("refusalReason", "Not enough balance")
            .add_opt("pspReference", Some("txn_1"))
            .add_opt("none", None::<&str>);
        assert_eq!(
            form.encode(),
            "refusalReason=Not%20enough%20balance&pspReference=txn_1"
        );
    }

    #[test]
    fn amounts_in_major_units() {
        let eur = Currency::from_code("EUR").expect("EUR");
        let jpy = Currency::from_code("JPY").expect("JPY");
        let m = |v, c| Money::new(v, c).expect("money");
        assert_eq!(major_units(m(1250, eur)).to_string(), "12.5");
        assert_eq!(major_units(m(1, eur)).to_string(), "0.01");
        assert_eq!(major_units(m(1250, jpy)).to_string(), "1250");
    }

    #[test]
    fn decimal_text_is_exact_or_refused() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).expect("number");
        assert_eq!(decimal_text(&n("12.5")).as_deref(), Some("12.5"));
        assert_eq!(decimal_text(&n("10.99")).as_deref(), Some("10.99"));
        assert_eq!(decimal_text(&n("0.1")).as_deref(), Some("0.1"));
        assert_eq!(decimal_text(&n("15")).as_deref(), Some("15"));
        assert_eq!(decimal_text(&n("1.24")).as_deref(), Some("1.24"));
    }

    #[test]
    fn timestamps_in_the_seeds_format() {
        let t = Timestamp::parse_rfc3339("2019-03-07T10:11:04.123Z").expect("time");
        assert_eq!(timestamp(t), "2019-03-07T10:11:04+00:00");
        assert_eq!(
            tx_date_time(t),
            ("07-03-2019".to_string(), "10:11:04".to_string())
        );
    }
}
