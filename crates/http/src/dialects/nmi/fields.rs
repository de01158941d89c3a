//! The variables of a Payment API request: form-encoded body and query string together, as
//! NMI accepts both. Values are trimmed; empty ones count as absent.

use axum::http::HeaderMap;
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
    /// Body variables win over query-string ones of the same name; within one source the
    /// first occurrence wins.
    pub(super) fn parse(query: Option<&str>, body: &[u8]) -> Fields {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            map.entry(k.trim().to_ascii_lowercase())
                .or_insert_with(|| v.trim().to_string());
        }
        if let Some(q) = query {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                map.entry(k.trim().to_ascii_lowercase())
                    .or_insert_with(|| v.trim().to_string());
            }
        }
        map.retain(|_, v| !v.is_empty());
        Fields(map)
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The merchant's credential: `security_key`, else `Authorization: Bearer`.
    pub(super) fn credential(&self, headers: &HeaderMap) -> Option<String> {
        self.get("security_key")
            .map(str::to_string)
            .or_else(|| crate::dialects::credential(headers))
    }

    /// The first card-data variable present, by name.
    pub(super) fn card_data(&self) -> Option<&'static str> {
        CARD_DATA.iter().copied().find(|n| self.0.contains_key(*n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_and_query_with_trimming() {
        let f = Fields::parse(
            Some("type=auth&orderid=q"),
            b"type=sale&amount=+1.00+&empty=&poi_device_id=P1",
        );
        assert_eq!(f.get("type"), Some("sale"));
        assert_eq!(f.get("amount"), Some("1.00"));
        assert_eq!(f.get("orderid"), Some("q"));
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.card_data(), None);
        assert_eq!(
            Fields::parse(None, b"ccnumber=4111").card_data(),
            Some("ccnumber")
        );
    }
}
