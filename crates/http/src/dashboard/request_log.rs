//! The last requests of each merchant, for the dashboard's request log.
//!
//! Fed by [`crate::observe`] from the same facts as the access line: method, route
//! template, status, latency, request id, and which dialect served it. Never bodies,
//! credentials, query strings or card data — the route template, not the path, so even a
//! reference a merchant put in a path is not kept. An in-memory ring per merchant on each
//! node: a debugging aid for an integration, not an audit log (that is the access log).

use poigate_domain::{MerchantId, Timestamp};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Requests kept per merchant.
pub const PER_MERCHANT: usize = 200;
/// Merchants kept (the least recently active is dropped first).
const MERCHANTS: usize = 10_000;

/// One request, as shown in the log.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub at: Timestamp,
    /// Made with a live key (a test session shows only test requests, and the reverse).
    pub livemode: bool,
    pub method: String,
    pub route: String,
    pub status: u16,
    pub latency_ms: f64,
    pub request_id: String,
    pub dialect: String,
}

#[derive(Default)]
pub struct RequestLog {
    rings: Mutex<HashMap<MerchantId, VecDeque<LoggedRequest>>>,
}

impl RequestLog {
    pub fn record(&self, merchant: MerchantId, entry: LoggedRequest) {
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        if !rings.contains_key(&merchant)
            && rings.len() >= MERCHANTS
            && let Some(stalest) = rings
                .iter()
                .min_by_key(|(_, r)| r.back().map(|e| e.at))
                .map(|(m, _)| *m)
        {
            rings.remove(&stalest);
        }
        let ring = rings.entry(merchant).or_default();
        if ring.len() == PER_MERCHANT {
            ring.pop_front();
        }
        ring.push_back(entry);
    }

    /// Newest first.
    pub fn recent(&self, merchant: MerchantId) -> Vec<LoggedRequest> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings
            .get(&merchant)
            .map(|r| r.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

/// Which dialect a route template belongs to, from the mounted dialects' prefixes.
pub fn dialect_of(route: &str, prefixes: &[(String, String)]) -> String {
    if route.starts_with("/dashboard") {
        return "dashboard".into();
    }
    prefixes
        .iter()
        .find(|(prefix, _)| route.starts_with(prefix.as_str()))
        .map(|(_, name)| name.clone())
        .unwrap_or_else(|| "native".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u16) -> LoggedRequest {
        LoggedRequest {
            at: Timestamp::from_millis(i64::from(n)),
            livemode: false,
            method: "GET".into(),
            route: "/v1/interactions".into(),
            status: n,
            latency_ms: 1.0,
            request_id: format!("req_{n}"),
            dialect: "native".into(),
        }
    }

    #[test]
    fn a_ring_per_merchant_newest_first() {
        let log = RequestLog::default();
        let a = MerchantId::generate(Timestamp::from_millis(1));
        let b = MerchantId::generate(Timestamp::from_millis(2));
        for n in 0..(PER_MERCHANT as u16 + 5) {
            log.record(a, entry(n));
        }
        log.record(b, entry(7));
        let recent = log.recent(a);
        assert_eq!(recent.len(), PER_MERCHANT);
        assert_eq!(recent[0].status, PER_MERCHANT as u16 + 4);
        assert_eq!(log.recent(b).len(), 1);
    }

    #[test]
    fn dialects_by_prefix() {
        let p = vec![("/adyen".to_string(), "adyen".to_string())];
        assert_eq!(dialect_of("/adyen/sync", &p), "adyen");
        assert_eq!(dialect_of("/v1/interactions", &p), "native");
        assert_eq!(dialect_of("/dashboard/terminals", &p), "dashboard");
    }
}
