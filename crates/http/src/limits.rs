//! Rate limits on guessing and on runaway clients (token buckets, `governor`).
//!
//! Four buckets, each configurable and each off when its rate is 0:
//!
//! - **failed authentication per client address** (an IPv6 client is its /64): a refused API
//!   key, access token or device key costs a token;
//! - **failed authentication per key prefix** (the first [`PREFIX_CHARS`] characters of the
//!   credential presented): a stale key hammered from many tills;
//! - **pairing-code attempts per terminal** (per serial number): a refused pairing code costs
//!   a token;
//! - **requests per API key**: every authenticated request costs a token.
//!
//! A failure bucket that runs dry puts its address, prefix or terminal in a *cooling-down*
//! list until the bucket has a token again: meanwhile its requests are answered `429` with
//! `Retry-After` **before** the credential is checked, so a guesser learns nothing (no `401`
//! against `200`) and costs no storage lookup. Successful requests never spend a failure
//! token, so the defaults never slow down a POS whose key is right.
//!
//! The client address is the peer of the TCP connection (set per connection by
//! [`crate::serve`]), or — behind a reverse proxy — the last address of a header the proxy
//! appends ([`RateLimitConfig::client_address_header`], e.g. `x-forwarded-for`).

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many characters of a presented credential name its bucket: `pg_test_` and 8 more
/// characters (48 random bits) tell one key from another without keeping the secret.
pub const PREFIX_CHARS: usize = 16;

/// Most subjects kept cooling down at once; beyond it the oldest entries are dropped first
/// (they are the ones about to expire). Bounds memory under an address-spraying attack.
const MAX_COOLING: usize = 100_000;

tokio::task_local! {
    /// The peer address of the connection whose request is being served. A task-local
    /// because the dialects' handlers authenticate from headers alone; set by
    /// [`crate::serve`] around each connection.
    pub static PEER: IpAddr;
}

/// A token bucket: `burst` tokens, refilled at `per_minute` tokens a minute. A rate of 0
/// switches the bucket off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_minute = NonZeroU32::new(self.per_minute)?;
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Some(Quota::per_minute(per_minute).allow_burst(burst))
    }
}

/// The limits of [`RateLimits`]. The defaults never limit a POS whose key is right.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Refused credentials per client address (an IPv6 address counts as its /64).
    pub failed_auth_per_address: Rate,
    /// Refused credentials per key prefix (the first 16 characters presented).
    pub failed_auth_per_key_prefix: Rate,
    /// Refused pairing codes per terminal (serial number).
    pub pairing_attempts_per_terminal: Rate,
    /// Authenticated requests per API key.
    pub requests_per_key: Rate,
    /// Behind a reverse proxy: the header it appends the client address to (its last
    /// comma-separated entry is used). Unset: the connection's peer address.
    pub client_address_header: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            failed_auth_per_address: Rate {
                burst: 20,
                per_minute: 60,
            },
            failed_auth_per_key_prefix: Rate {
                burst: 10,
                per_minute: 30,
            },
            pairing_attempts_per_terminal: Rate {
                burst: 5,
                per_minute: 5,
            },
            requests_per_key: Rate {
                burst: 1_000,
                per_minute: 60_000,
            },
            client_address_header: None,
        }
    }
}

impl RateLimitConfig {
    /// Every bucket off.
    pub fn off() -> RateLimitConfig {
        let off = Rate {
            burst: 0,
            per_minute: 0,
        };
        RateLimitConfig {
            failed_auth_per_address: off,
            failed_auth_per_key_prefix: off,
            pairing_attempts_per_terminal: off,
            requests_per_key: off,
            client_address_header: None,
        }
    }
}

/// A refusal: retry after this many seconds (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_seconds: u64,
}

impl Limited {
    fn after(wait: Duration) -> Limited {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Limited {
            retry_after_seconds: secs.max(1),
        }
    }
}

/// Whose failures a cooling-down entry is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Subject {
    Address(IpAddr),
    Prefix(String),
    Terminal(String),
}

/// One failure bucket per key, and the subjects cooling down.
struct FailureBucket<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> FailureBucket<K> {
    fn new(rate: Rate) -> Option<FailureBucket<K>> {
        rate.quota().map(|q| FailureBucket {
            limiter: RateLimiter::hashmap(q),
        })
    }

    /// Spends a token; the wait until the next one when there is none.
    fn spend(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The rate limits of one server. Cheap to share (`Arc`); see the [module docs](self).
pub struct RateLimits {
    by_address: Option<FailureBucket<IpAddr>>,
    by_prefix: Option<FailureBucket<String>>,
    by_terminal: Option<FailureBucket<String>>,
    by_key: Option<FailureBucket<String>>,
    cooling: Mutex<HashMap<Subject, Instant>>,
    client_address_header: Option<String>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new(&RateLimitConfig::default())
    }
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> RateLimits {
        RateLimits {
            by_address: FailureBucket::new(config.failed_auth_per_address),
            by_prefix: FailureBucket::new(config.failed_auth_per_key_prefix),
            by_terminal: FailureBucket::new(config.pairing_attempts_per_terminal),
            by_key: FailureBucket::new(config.requests_per_key),
            cooling: Mutex::new(HashMap::new()),
            client_address_header: config
                .client_address_header
                .as_ref()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        }
    }

    /// The client address of the request being served, as its bucket sees it (an IPv6
    /// address is reduced to its /64: one host has billions of addresses there).
    pub fn client_address(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let address = match &self.client_address_header {
            Some(name) => headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok()),
            None => PEER.try_with(|peer| *peer).ok(),
        }?;
        Some(match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        })
    }

    /// Before a credential is checked: refused while its address or its prefix cools down.
    pub fn before_auth(
        &self,
        address: Option<IpAddr>,
        credential: Option<&str>,
    ) -> Result<(), Limited> {
        let subjects = [
            address.map(Subject::Address),
            credential.map(|c| Subject::Prefix(prefix(c))),
        ];
        self.cooling_down(subjects.iter().flatten())
    }

    /// A refused (or missing) credential: spends a failure token of its address and of its
    /// prefix. `Err` when this failure was over a limit (answer it `429`, not `401`).
    pub fn auth_failed(
        &self,
        address: Option<IpAddr>,
        credential: Option<&str>,
    ) -> Result<(), Limited> {
        let by_address = match (&self.by_address, address) {
            (Some(bucket), Some(a)) => self.spend(bucket, &a, Subject::Address(a)),
            _ => Ok(()),
        };
        let by_prefix = match (&self.by_prefix, credential) {
            (Some(bucket), Some(c)) => {
                let p = prefix(c);
                self.spend(bucket, &p, Subject::Prefix(p.clone()))
            }
            _ => Ok(()),
        };
        by_address.and(by_prefix)
    }

    /// An authenticated request of API key `key_id`.
    pub fn request(&self, key_id: &str) -> Result<(), Limited> {
        match &self.by_key {
            Some(bucket) => bucket.spend(&key_id.to_string()).map_err(Limited::after),
            None => Ok(()),
        }
    }

    /// Before a pairing code is checked: refused while the terminal or the address cools down.
    pub fn before_pairing(&self, address: Option<IpAddr>, serial: &str) -> Result<(), Limited> {
        let subjects = [
            address.map(Subject::Address),
            Some(Subject::Terminal(serial.trim().to_string())),
        ];
        self.cooling_down(subjects.iter().flatten())
    }

    /// A refused pairing code: spends a token of the terminal's bucket and one of the
    /// address's failure bucket.
    pub fn pairing_failed(&self, address: Option<IpAddr>, serial: &str) -> Result<(), Limited> {
        let serial = serial.trim().to_string();
        let by_terminal = match &self.by_terminal {
            Some(bucket) => self.spend(bucket, &serial, Subject::Terminal(serial.clone())),
            None => Ok(()),
        };
        let by_address = match (&self.by_address, address) {
            (Some(bucket), Some(a)) => self.spend(bucket, &a, Subject::Address(a)),
            _ => Ok(()),
        };
        by_terminal.and(by_address)
    }

    /// Forgets buckets that are full again and subjects that cooled down (call it now and
    /// then: state is kept per address, prefix, terminal and key).
    pub fn sweep(&self) {
        for bucket in [&self.by_prefix, &self.by_terminal, &self.by_key]
            .into_iter()
            .flatten()
        {
            bucket.sweep();
        }
        if let Some(bucket) = &self.by_address {
            bucket.sweep();
        }
        let now = Instant::now();
        if let Ok(mut cooling) = self.cooling.lock() {
            cooling.retain(|_, until| *until > now);
            cooling.shrink_to_fit();
        }
    }

    fn spend<K: Hash + Eq + Clone>(
        &self,
        bucket: &FailureBucket<K>,
        key: &K,
        subject: Subject,
    ) -> Result<(), Limited> {
        bucket.spend(key).map_err(|wait| {
            self.cool_down(subject, wait);
            Limited::after(wait)
        })
    }

    fn cool_down(&self, subject: Subject, wait: Duration) {
        let Ok(mut cooling) = self.cooling.lock() else {
            return;
        };
        let now = Instant::now();
        if cooling.len() >= MAX_COOLING {
            cooling.retain(|_, until| *until > now);
        }
        if cooling.len() >= MAX_COOLING {
            // Still full of live entries: keep the later half.
            let mut untils: Vec<Instant> = cooling.values().copied().collect();
            untils.sort_unstable();
            let cut = untils[untils.len() / 2];
            cooling.retain(|_, until| *until > cut);
        }
        let until = now + wait;
        let entry = cooling.entry(subject).or_insert(until);
        *entry = (*entry).max(until);
    }

    fn cooling_down<'a>(&self, subjects: impl Iterator<Item = &'a Subject>) -> Result<(), Limited> {
        let Ok(cooling) = self.cooling.lock() else {
            return Ok(());
        };
        if cooling.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let longest = subjects
            .filter_map(|s| cooling.get(s))
            .filter(|until| **until > now)
            .map(|until| *until - now)
            .max();
        match longest {
            Some(wait) => Err(Limited::after(wait)),
            None => Ok(()),
        }
    }
}

/// Sweeps `limits` every `period` for as long as the server keeps them.
pub async fn sweep_every(period: Duration, limits: std::sync::Weak<RateLimits>) {
    let mut ticks = tokio::time::interval(period);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match limits.upgrade() {
            Some(limits) => limits.sweep(),
            None => return,
        }
    }
}

/// The bucket name of a credential: its first [`PREFIX_CHARS`] characters.
fn prefix(credential: &str) -> String {
    credential.trim().chars().take(PREFIX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tight() -> RateLimitConfig {
        RateLimitConfig {
            failed_auth_per_address: Rate {
                burst: 3,
                per_minute: 1,
            },
            failed_auth_per_key_prefix: Rate {
                burst: 5,
                per_minute: 1,
            },
            pairing_attempts_per_terminal: Rate {
                burst: 2,
                per_minute: 1,
            },
            requests_per_key: Rate {
                burst: 4,
                per_minute: 1,
            },
            client_address_header: None,
        }
    }

    #[test]
    fn failures_beyond_the_burst_cool_the_address_down() {
        let limits = RateLimits::new(&tight());
        let a: IpAddr = "203.0.113.7".parse().expect("ip");
        let b: IpAddr = "203.0.113.8".parse().expect("ip");
        for i in 0..3 {
            assert!(limits.before_auth(Some(a), Some("pg_test_x")).is_ok());
            assert!(
                limits
                    .auth_failed(Some(a), Some(&format!("pg_test_{i:08}aaaa")))
                    .is_ok()
            );
        }
        let refused = limits
            .auth_failed(Some(a), Some("pg_test_zzzzzzzzaaaa"))
            .expect_err("over the burst");
        assert!(refused.retry_after_seconds >= 1);
        let cooling = limits
            .before_auth(Some(a), Some("pg_test_good"))
            .expect_err("cooling down");
        assert!(
            (1..=60).contains(&cooling.retry_after_seconds),
            "{cooling:?}"
        );
        // Another address is not affected.
        assert!(limits.before_auth(Some(b), Some("pg_test_good")).is_ok());
    }

    #[test]
    fn failures_count_per_prefix_across_addresses() {
        let limits = RateLimits::new(&tight());
        let stale = "pg_test_0123456789abcdef";
        for i in 0..5u8 {
            let a = IpAddr::from([198, 51, 100, i]);
            assert!(limits.auth_failed(Some(a), Some(stale)).is_ok(), "{i}");
        }
        assert!(
            limits
                .auth_failed(Some(IpAddr::from([198, 51, 100, 9])), Some(stale))
                .is_err()
        );
        assert!(limits.before_auth(None, Some(stale)).is_err());
        assert!(limits.before_auth(None, Some("pg_test_fedcba98")).is_ok());
    }

    #[test]
    fn requests_per_key_and_pairing_per_terminal() {
        let limits = RateLimits::new(&tight());
        for _ in 0..4 {
            assert!(limits.request("key-1").is_ok());
        }
        assert!(limits.request("key-1").is_err());
        assert!(limits.request("key-2").is_ok());
        assert!(limits.pairing_failed(None, "S1").is_ok());
        assert!(limits.pairing_failed(None, "S1").is_ok());
        assert!(limits.pairing_failed(None, "S1").is_err());
        assert!(limits.before_pairing(None, "S1").is_err());
        assert!(limits.before_pairing(None, "S2").is_ok());
    }

    #[test]
    fn off_never_limits_and_ipv6_counts_per_64() {
        let limits = RateLimits::new(&RateLimitConfig::off());
        for _ in 0..1000 {
            assert!(limits.auth_failed(None, Some("x")).is_ok());
            assert!(limits.request("k").is_ok());
        }
        let proxied = RateLimits::new(&RateLimitConfig {
            client_address_header: Some("X-Forwarded-For".into()),
            ..RateLimitConfig::default()
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "1.2.3.4, 2001:db8:1:2:3:4:5:6".parse().expect("header"),
        );
        assert_eq!(
            proxied.client_address(&headers),
            Some("2001:db8:1:2::".parse().expect("ip"))
        );
        // No header and no connection: no address (nothing to count).
        assert_eq!(limits.client_address(&HeaderMap::new()), None);
    }
}
