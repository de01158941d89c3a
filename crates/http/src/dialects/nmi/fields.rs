//! The variables of a Payment API request: the form-encoded body. Values are trimmed; empty
//! ones count as absent. Variables in the URL are not read: a URL ends up in access logs,
//! and these variables include the security key (and, refused, card data).

use crate::dialect::FormFields;
use std::collections::HashMap;

/// Card data the POI device reads itself. A request carrying any of it is refused, and
/// its values are never kept or logged.
const CARD_DATA: &[&str] = &[
    "ccnumber",
    "ccexp",
    "cvv",
    "track_1",
    "track_2",
    "track_3",
    "magnesafe_track_1",
    "magnesafe_track_2",
    "magnesafe_magneprint",
    "encrypted_track_1",
    "encrypted_track_2",
    "checkaccount",
    "checkaba",
    "payment_token",
];

pub(super) struct Fields {
    values: HashMap<String, String>,
    /// The first variable sent more than once (names compared trimmed and case-blind).
    duplicate: Option<String>,
}

impl Fields {
    /// Parses the form. A variable sent twice (`type=sale&type=auth`) is remembered, not
    /// resolved: which value a provider would take is not defined, so the request is
    /// refused ([`duplicate`](Self::duplicate)) rather than guessed at.
    pub(super) fn parse(body: &[u8]) -> Fields {
        let mut values = HashMap::new();
        let mut duplicate = None;
        for (k, v) in url::form_urlencoded::parse(body) {
            let name = k.trim().to_ascii_lowercase();
            if values.contains_key(&name) {
                duplicate.get_or_insert(name);
                continue;
            }
            values.insert(name, v.trim().to_string());
        }
        values.retain(|_, v| !v.is_empty());
        Fields { values, duplicate }
    }

    /// The first variable sent more than once, if any.
    pub(super) fn duplicate(&self) -> Option<&str> {
        self.duplicate.as_deref()
    }

    /// The refusal text for a duplicated variable. Names only; a value (maybe card data)
    /// is never echoed.
    pub(super) fn duplicate_message(name: &str) -> String {
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        format!("Duplicate variable `{name}`: send each variable once")
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The first card-data variable present, by name.
    pub(super) fn card_data(&self) -> Option<&'static str> {
        CARD_DATA
            .iter()
            .copied()
            .find(|n| self.values.contains_key(*n))
    }
}

/// Where the dialect's `security_key` is found (see `Nmi::CREDENTIALS`).
impl FormFields for Fields {
    fn field(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_sent_twice_is_a_duplicate() {
        let f = Fields::parse(b"type=sale&type=auth&amount=1.00&amount=2.00");
        assert_eq!(f.duplicate(), Some("type"));
        assert_eq!(
            Fields::parse(b"amount=1.00&Amount=2.00").duplicate(),
            Some("amount")
        );
        assert_eq!(
            Fields::parse(b"security_key=a&security_key=").duplicate(),
            Some("security_key")
        );
        assert_eq!(Fields::parse(b"type=sale&amount=1.00").duplicate(), None);
        assert_eq!(
            Fields::duplicate_message("amount"),
            "Duplicate variable `amount`: send each variable once"
        );
    }

    #[test]
    fn trimmed_and_empty_is_absent() {
        let f = Fields::parse(b"type=sale&amount=+1.00+&empty=&poi_device_id=P1");
        assert_eq!(f.get("type"), Some("sale"));
        assert_eq!(f.get("amount"), Some("1.00"));
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.card_data(), None);
        assert_eq!(
            Fields::parse(b"ccnumber=4111").card_data(),
            Some("ccnumber")
        );
    }
}
