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

pub(super) struct Fields(HashMap<String, String>);

impl Fields {
    /// The first occurrence of a variable wins.
    pub(super) fn parse(body: &[u8]) -> Fields {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            map.entry(k.trim().to_ascii_lowercase())
                .or_insert_with(|| v.trim().to_string());
        }
        map.retain(|_, v| !v.is_empty());
        Fields(map)
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The first card-data variable present, by name.
    pub(super) fn card_data(&self) -> Option<&'static str> {
        CARD_DATA.iter().copied().find(|n| self.0.contains_key(*n))
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
    fn first_occurrence_trimmed_and_empty_is_absent() {
        let f = Fields::parse(b"type=sale&amount=+1.00+&empty=&TYPE=auth&poi_device_id=P1");
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
