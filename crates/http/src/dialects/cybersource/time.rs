//! Cybersource's two timestamp formats, both UTC: `2024-05-28 13:11:30:939` for events
//! (the seed) and `2023-12-01T20:24:47+0000` for `submitTimeUtc` (the public examples).

use poigate_domain::Timestamp;

/// `YYYY-MM-DD HH:MM:SS:mmm`.
pub(super) fn event_time(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, ms) = t.utc_parts();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}:{ms:03}")
}

/// `YYYY-MM-DDTHH:MM:SS+0000`.
pub(super) fn submit_time(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, _) = t.utc_parts();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_documents() {
        let t = Timestamp::from_millis(1_716_901_890_939);
        assert_eq!(event_time(t), "2024-05-28 13:11:30:939");
        assert_eq!(submit_time(t), "2024-05-28T13:11:30+0000");
        assert_eq!(
            event_time(Timestamp::from_millis(1_716_901_890_009)),
            "2024-05-28 13:11:30:009"
        );
    }
}
