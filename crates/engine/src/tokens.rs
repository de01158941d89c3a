//! Short-lived OAuth 2.0 access tokens (client-credentials grant) for an API key.
//!
//! Two providers' documents ask for this: Cybersource ("generate a bearer token before each
//! request") and CM.com ("get an access_token and use it as Bearer token"). A token is
//! accepted wherever an API key is.
//!
//! Format: `pgat_` + base64url(`{"k": key id, "e": expiry ms}`) + `.` + base64url(HMAC-SHA256).
//! The HMAC key is generated once per database and kept in its settings, so tokens survive a
//! restart and every node of a cluster accepts them. A token is checked against its API key
//! on every use: revoking the key revokes its tokens at once.

use crate::engine::{Caller, Engine};
use crate::error::EngineError;
use crate::services::Admin;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use poigate_domain::{ApiKeyId, Timestamp};
use poigate_store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const PREFIX: &str = "pgat_";
const KEY_SETTING: &str = "access_token_hmac_key";

/// An issued token.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: String,
    pub expires_in_seconds: u64,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    /// The API key the token was issued for.
    k: String,
    /// Expiry, milliseconds since the epoch.
    e: i64,
}

fn mac(key: &[u8], payload: &str) -> Result<Vec<u8>, EngineError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|_| EngineError::Store(StoreError::Corrupt("bad token key".into())))?;
    mac.update(payload.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Whether a presented credential is an access token (rather than an API key).
pub fn is_access_token(credential: &str) -> bool {
    credential.starts_with(PREFIX)
}

/// The HMAC key of access tokens: generated once per database and kept in its settings,
/// so tokens survive a restart and every node of a cluster accepts them. Loaded before the
/// engine is built (it is one of the engine's ports), so no request ever finds it missing.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(…)")
    }
}

impl TokenKey {
    /// Reads the key from the store's settings, creating it on first use (two processes
    /// racing to create it agree on one: `init_setting` keeps the first).
    pub async fn load_or_create(store: &dyn poigate_store::Store) -> Result<TokenKey, EngineError> {
        let stored = match store.get_setting(KEY_SETTING).await? {
            Some(v) => v,
            None => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes)?;
                let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                store.init_setting(KEY_SETTING, &fresh).await?
            }
        };
        let key: Vec<u8> = (0..stored.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(stored.get(i..i + 2)?, 16).ok())
            .collect();
        if key.len() != 32 {
            return Err(EngineError::Store(StoreError::Corrupt(
                "the access-token key in the settings is not 32 hex-encoded bytes".into(),
            )));
        }
        Ok(TokenKey(key))
    }
}

impl Engine {
    pub(crate) fn token_key(&self) -> &[u8] {
        &self.inner.token_key.0
    }

    /// The caller an access token authenticates: `None` when tampered, expired, or its API
    /// key is revoked.
    pub(crate) async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<Option<Caller>, EngineError> {
        let Some(rest) = token.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        let Some((payload, signature)) = rest.split_once('.') else {
            return Ok(None);
        };
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
            return Ok(None);
        };
        let expected = mac(self.token_key(), payload)?;
        let matches: bool =
            subtle::ConstantTimeEq::ct_eq(expected.as_slice(), given.as_slice()).into();
        if !matches {
            return Ok(None);
        }
        let Some(claims) = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice::<Claims>(&b).ok())
        else {
            return Ok(None);
        };
        if Timestamp::from_millis(claims.e) <= self.now() {
            return Ok(None);
        }
        let Ok(key_id) = claims.k.parse::<ApiKeyId>() else {
            return Ok(None);
        };
        let record = match self.coordinator().cached_key_by_id(key_id) {
            Some(record) => Some(record),
            None => {
                let found = self.inner.store.get_api_key(key_id).await?;
                match &found {
                    Some(r) if self.merchant_disabled(r.merchant_id).await? => return Ok(None),
                    Some(r) => self.coordinator().remember_key(None, r),
                    None => {}
                }
                found
            }
        };
        match record {
            Some(record) if record.revoked_at.is_none() => {
                self.note_key_use(record.id).await;
                Ok(Some(Caller {
                    merchant_id: record.merchant_id,
                    mode: record.mode,
                    key_id: record.id,
                }))
            }
            _ => Ok(None),
        }
    }
}

impl Admin<'_> {
    /// Issues a token for the API key `secret`; `None` when the key is unknown or revoked.
    pub async fn issue_access_token(
        &self,
        secret: &str,
    ) -> Result<Option<AccessToken>, EngineError> {
        if is_access_token(secret) {
            return Ok(None); // a token does not buy another token
        }
        let Some(caller) = self.authenticate(secret).await? else {
            return Ok(None);
        };
        let ttl = self.engine.inner.config.access_token_ttl;
        let expires = self
            .engine
            .now()
            .plus_millis(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let claims = Claims {
            k: caller.key_id.to_string(),
            e: expires.as_millis(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signature = URL_SAFE_NO_PAD.encode(mac(self.engine.token_key(), &payload)?);
        Ok(Some(AccessToken {
            token: format!("{PREFIX}{payload}.{signature}"),
            expires_in_seconds: ttl.as_secs(),
        }))
    }
}
