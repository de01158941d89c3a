//! API keys recently found valid, so that a POS's every request does not read the database
//! to authenticate.
//!
//! Only keys found and not revoked are kept, for [`KEY_CACHE_TTL`]; revoking a key through
//! this engine forgets it at once. A key revoked by another process sharing the database
//! keeps working here for at most the TTL. Unknown keys are never cached (a flood of random
//! keys cannot fill the memory), and the cache is emptied when it reaches
//! [`KEY_CACHE_MAX`] entries.

use poigate_domain::ApiKeyId;
use poigate_store::ApiKeyRecord;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a key found valid is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);
/// Entries at most (then the cache starts over).
pub const KEY_CACHE_MAX: usize = 10_000;

pub struct KeyCache {
    inner: Mutex<Entries>,
    ttl: Duration,
}

impl Default for KeyCache {
    fn default() -> KeyCache {
        KeyCache {
            inner: Mutex::default(),
            ttl: KEY_CACHE_TTL,
        }
    }
}

#[derive(Default)]
struct Entries {
    by_hash: HashMap<[u8; 32], (ApiKeyRecord, Instant)>,
    by_id: HashMap<ApiKeyId, (ApiKeyRecord, Instant)>,
}

fn fresh(entry: Option<&(ApiKeyRecord, Instant)>, ttl: Duration) -> Option<ApiKeyRecord> {
    entry
        .filter(|(_, at)| at.elapsed() < ttl)
        .map(|(r, _)| r.clone())
}

impl KeyCache {
    fn with<R>(&self, f: impl FnOnce(&mut Entries) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<ApiKeyRecord> {
        self.with(|e| fresh(e.by_hash.get(hash), self.ttl))
    }

    pub fn by_id(&self, id: ApiKeyId) -> Option<ApiKeyRecord> {
        self.with(|e| fresh(e.by_id.get(&id), self.ttl))
    }

    /// Remembers a valid key, under its hash when the caller knows it.
    pub fn remember(&self, hash: Option<[u8; 32]>, record: &ApiKeyRecord) {
        if record.revoked_at.is_some() {
            return;
        }
        self.with(|e| {
            if e.by_hash.len() + e.by_id.len() >= KEY_CACHE_MAX {
                e.by_hash.clear();
                e.by_id.clear();
            }
            let now = Instant::now();
            if let Some(h) = hash {
                e.by_hash.insert(h, (record.clone(), now));
            }
            e.by_id.insert(record.id, (record.clone(), now));
        });
    }

    /// Forgets a key (it was revoked).
    pub fn forget(&self, id: ApiKeyId) {
        self.with(|e| {
            e.by_hash.retain(|_, (r, _)| r.id != id);
            e.by_id.remove(&id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::{ApiKeyMode, MerchantId, Timestamp};

    fn record(n: i64) -> ApiKeyRecord {
        let at = Timestamp::from_millis(1_800_000_000_000 + n);
        ApiKeyRecord {
            id: ApiKeyId::generate(at),
            merchant_id: MerchantId::generate(at),
            mode: ApiKeyMode::Test,
            secret_hash: [n as u8; 32],
            display_prefix: "pg_test_0000".into(),
            label: None,
            created_at: at,
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn valid_keys_are_kept_until_forgotten_or_stale() {
        let cache = KeyCache::default();
        let key = record(1);
        cache.remember(Some(key.secret_hash), &key);
        assert_eq!(cache.by_hash(&key.secret_hash), Some(key.clone()));
        assert_eq!(cache.by_id(key.id), Some(key.clone()));
        cache.forget(key.id);
        assert_eq!(cache.by_hash(&key.secret_hash), None);
        assert_eq!(cache.by_id(key.id), None);

        let mut revoked = record(2);
        revoked.revoked_at = Some(revoked.created_at);
        cache.remember(Some(revoked.secret_hash), &revoked);
        assert_eq!(cache.by_hash(&revoked.secret_hash), None);

        let stale = KeyCache {
            inner: Mutex::default(),
            ttl: Duration::ZERO,
        };
        stale.remember(Some(key.secret_hash), &key);
        assert_eq!(stale.by_hash(&key.secret_hash), None);
    }

    #[test]
    fn the_cache_starts_over_when_full() {
        let cache = KeyCache::default();
        let first = record(0);
        cache.remember(Some(first.secret_hash), &first);
        for n in 1..=(KEY_CACHE_MAX as i64) {
            let r = record(n);
            cache.remember(None, &r);
        }
        assert_eq!(cache.by_id(first.id), None, "emptied once full");
        let size = cache.with(|e| e.by_hash.len() + e.by_id.len());
        assert!(size < KEY_CACHE_MAX, "{size}");
    }
}
