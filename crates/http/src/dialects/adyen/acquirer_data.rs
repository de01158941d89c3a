//! `SaleData.SaleToAcquirerData`: the data elements a POS adds to a payment
//! (docs.adyen.com/point-of-sale/add-data). Adyen takes them in three shapes: a
//! form-encoded `key=value&…` string, a Base64-encoded JSON object, or (through its
//! libraries) the JSON object itself. poigate reads two elements from them,
//! `authorisationType` (`PreAuth` or `FinalAuth`,
//! docs.adyen.com/point-of-sale/pre-authorisation) and the `tenderOption` `AskGratuity`
//! (docs.adyen.com/point-of-sale/add-data/tender-options: the terminal asks for a tip); the
//! rest is ignored, as Adyen ignores elements a request does not need.

use base64::Engine as _;
use serde_json::{Map, Value};

/// The authorisation type a payment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorisationType {
    /// `FinalAuth`, or no `authorisationType` (Adyen's default): authorised and captured.
    Final,
    /// `PreAuth`: authorised only, captured (or cancelled) later.
    Pre,
}

/// Why the data cannot be read (an `authorisationType` other than the two Adyen defines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// The `authorisationType` of a `SaleToAcquirerData` value (`None`: the field is absent).
pub fn authorisation_type(data: Option<&Value>) -> Result<AuthorisationType, Unreadable> {
    match element(data, "authorisationType").as_deref() {
        None => Ok(AuthorisationType::Final),
        Some(v) if v.eq_ignore_ascii_case("PreAuth") => Ok(AuthorisationType::Pre),
        Some(v) if v.eq_ignore_ascii_case("FinalAuth") => Ok(AuthorisationType::Final),
        Some(other) => Err(Unreadable(format!(
            "authorisationType {other} is not PreAuth or FinalAuth"
        ))),
    }
}

/// Whether the `tenderOption`s (comma-separated, e.g. `AskGratuity,ReceiptHandler`) include
/// `AskGratuity`: the terminal asks the shopper for a tip. Other options are ignored.
pub fn asks_gratuity(data: Option<&Value>) -> bool {
    element(data, "tenderOption").is_some_and(|options| {
        options
            .split(',')
            .any(|o| o.trim().eq_ignore_ascii_case("AskGratuity"))
    })
}

/// The text of element `key`, whichever of the three shapes carries it.
fn element(data: Option<&Value>, key: &str) -> Option<String> {
    match data {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => from_object(map, key),
        Some(Value::String(text)) => from_text(text, key),
        Some(_) => None,
    }
}

/// `key` at the top of the object, or in its `additionalData`.
fn from_object(map: &Map<String, Value>, key: &str) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    map.get(key).and_then(text).or_else(|| {
        map.get("additionalData")
            .and_then(Value::as_object)
            .and_then(|a| a.get(key))
            .and_then(text)
    })
}

/// A Base64 JSON object, or a form-encoded string.
fn from_text(text: &str, key: &str) -> Option<String> {
    let trimmed = text.trim();
    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(trimmed)
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes)
    {
        return from_object(&map, key);
    }
    trimmed
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
}

/// Decodes `%xx` escapes (and `+` as a space); malformed escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ask_gratuity_in_every_shape() {
        assert!(asks_gratuity(Some(&json!("tenderOption=AskGratuity"))));
        assert!(asks_gratuity(Some(&json!(
            "authorisationType=PreAuth&tenderOption=ReceiptHandler,AskGratuity"
        ))));
        assert!(asks_gratuity(Some(&json!({"tenderOption": "AskGratuity"}))));
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(br#"{"tenderOption":"AskGratuity"}"#);
        assert!(asks_gratuity(Some(&json!(b64))));
        assert!(!asks_gratuity(None));
        assert!(!asks_gratuity(Some(&json!("tenderOption=ReceiptHandler"))));
        assert!(!asks_gratuity(Some(&json!("authorisationType=PreAuth"))));
    }

    #[test]
    fn every_shape_adyen_takes() {
        let pre = AuthorisationType::Pre;
        assert_eq!(
            authorisation_type(Some(&json!("authorisationType=PreAuth"))),
            Ok(pre)
        );
        assert_eq!(
            authorisation_type(Some(&json!(
                "tenderOption=ReceiptHandler&authorisationType=PreAuth&metadata.till=3"
            ))),
            Ok(pre)
        );
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(br#"{"metadata":{"till":"3"},"authorisationType":"PreAuth"}"#);
        assert_eq!(authorisation_type(Some(&json!(b64))), Ok(pre));
        assert_eq!(
            authorisation_type(Some(
                &json!({"additionalData": {"authorisationType": "PreAuth"}})
            )),
            Ok(pre)
        );
        assert_eq!(
            authorisation_type(Some(&json!({"authorisationType": "PreAuth"}))),
            Ok(pre)
        );
    }

    #[test]
    fn final_by_default_and_unknown_values_refused() {
        let fin = AuthorisationType::Final;
        assert_eq!(authorisation_type(None), Ok(fin));
        assert_eq!(authorisation_type(Some(&json!({"metadata": {}}))), Ok(fin));
        assert_eq!(authorisation_type(Some(&json!("tenderOption=x"))), Ok(fin));
        assert_eq!(
            authorisation_type(Some(&json!("authorisationType=FinalAuth"))),
            Ok(fin)
        );
        assert!(authorisation_type(Some(&json!("authorisationType=Later"))).is_err());
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
    }
}
