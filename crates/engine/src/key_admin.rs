//! Keys and merchants managed over the API (issue 12): platform admin keys, disabling a
//! merchant, listing a merchant's keys, and when a key was last used.
//!
//! An admin key (`pg_admin_` + 48 hex digits) is stored like an API key: its SHA-256 only,
//! looked up by hash and compared in constant time. It is checked on every admin request
//! (admin traffic is rare; no cache, so revoking or deleting one acts at once).
//!
//! Disabling a merchant forgets its keys in the coordinator's cache, and a key whose merchant
//! is disabled is never cached again: the merchant's next request is refused (401).
//!
//! `last_used_at` is written at most once a minute a key (per node): authentication is the
//! hottest path, and a write per request would double the writer's load for a timestamp.

use crate::auth;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::services::Admin;
use poigate_domain::{ApiKeyId, Merchant, MerchantId};
use poigate_store::{AdminKeyRecord, ApiKeyRecord};

/// Prefix of platform admin keys.
pub const ADMIN_KEY_PREFIX: &str = "pg_admin_";

/// How often a key's `last_used_at` is written at most.
const KEY_USE_RESOLUTION_MILLIS: i64 = 60_000;

/// A new admin key: the secret (shown once) and what is stored.
#[derive(Clone, Debug)]
pub struct NewAdminKey {
    pub secret: String,
    pub record: AdminKeyRecord,
}

/// Whether `secret` has the shape of an admin key (cheap rejection before any lookup).
pub fn admin_key_well_formed(secret: &str) -> bool {
    secret.len() == ADMIN_KEY_PREFIX.len() + 48
        && secret.starts_with(ADMIN_KEY_PREFIX)
        && secret[ADMIN_KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

impl Engine {
    /// Whether `merchant` is disabled (or unknown: a key of no merchant authenticates nobody).
    pub(crate) async fn merchant_disabled(
        &self,
        merchant: MerchantId,
    ) -> Result<bool, EngineError> {
        Ok(self
            .inner
            .store
            .get_merchant(merchant)
            .await?
            .is_none_or(|m| m.disabled_at.is_some()))
    }

    /// Records a key's use, at most once a minute a key. A failed write is logged and does not
    /// fail the request it authenticated.
    pub(crate) async fn note_key_use(&self, key: ApiKeyId) {
        let now = self.now();
        let due = match self.inner.key_use_written.lock() {
            Ok(mut written) => {
                let due = written
                    .get(&key)
                    .is_none_or(|at| now.as_millis() - at.as_millis() >= KEY_USE_RESOLUTION_MILLIS);
                if due {
                    if written.len() >= crate::key_cache::KEY_CACHE_MAX {
                        written.clear();
                    }
                    written.insert(key, now);
                }
                due
            }
            Err(_) => false,
        };
        if due && let Err(e) = self.inner.store.touch_api_key(key, now).await {
            tracing::warn!(key = %key, error = %e, "could not record the use of an API key");
        }
    }
}

impl Admin<'_> {
    /// Creates a platform admin key with a random secret.
    pub async fn create_admin_key(&self) -> Result<NewAdminKey, EngineError> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).map_err(|e| EngineError::Randomness(e.to_string()))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let secret = format!("{ADMIN_KEY_PREFIX}{hex}");
        let now = self.engine.now();
        let record = AdminKeyRecord {
            id: format!("adk_{}", &hex[..16]),
            secret_hash: auth::hash_secret(&secret),
            display_prefix: secret.chars().take(13).collect(),
            created_at: now,
            revoked_at: None,
        };
        self.engine.inner.store.create_admin_key(&record).await?;
        Ok(NewAdminKey { secret, record })
    }

    /// Whether `secret` is a valid, unrevoked platform admin key.
    pub async fn authenticate_admin(&self, secret: &str) -> Result<bool, EngineError> {
        if !admin_key_well_formed(secret) {
            return Ok(false);
        }
        let hash = auth::hash_secret(secret);
        Ok(self
            .engine
            .inner
            .store
            .find_admin_key_by_hash(&hash)
            .await?
            .is_some_and(|k| auth::hashes_equal(&k.secret_hash, &hash) && k.revoked_at.is_none()))
    }

    pub async fn list_merchants(&self) -> Result<Vec<Merchant>, EngineError> {
        Ok(self.engine.inner.store.list_merchants().await?)
    }

    pub async fn get_merchant(&self, id: MerchantId) -> Result<Merchant, EngineError> {
        self.engine
            .inner
            .store
            .get_merchant(id)
            .await?
            .ok_or(EngineError::NotFound("merchant"))
    }

    /// Disables a merchant: its keys are refused from the next request on. Disabling a
    /// disabled merchant changes nothing.
    pub async fn disable_merchant(&self, id: MerchantId) -> Result<Merchant, EngineError> {
        let store = &self.engine.inner.store;
        store.disable_merchant(id, self.engine.now()).await?;
        let merchant = self.get_merchant(id).await?;
        for key in store.list_api_keys(id).await? {
            self.engine.coordinator().forget_key(key.id);
        }
        Ok(merchant)
    }

    /// A merchant's keys (revoked ones too), oldest first.
    pub async fn list_api_keys(
        &self,
        merchant: MerchantId,
    ) -> Result<Vec<ApiKeyRecord>, EngineError> {
        Ok(self.engine.inner.store.list_api_keys(merchant).await?)
    }

    /// One of a merchant's keys.
    pub async fn get_api_key(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
    ) -> Result<ApiKeyRecord, EngineError> {
        self.engine
            .inner
            .store
            .get_api_key(id)
            .await?
            .filter(|k| k.merchant_id == merchant)
            .ok_or(EngineError::NotFound("api key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_keys_have_their_own_shape() {
        let hex = "ab".repeat(24);
        assert!(admin_key_well_formed(&format!("pg_admin_{hex}")));
        assert!(!admin_key_well_formed(&format!("pg_test_{hex}")));
        assert!(!admin_key_well_formed("pg_admin_short"));
        assert!(!admin_key_well_formed(&format!(
            "pg_admin_{}",
            "zz".repeat(24)
        )));
    }
}
