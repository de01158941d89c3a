//! Row ↔ domain conversions. The backend-neutral helpers (ids, hashes, bodies, terminal
//! kinds) live in [`poigate_store::rows`], shared with the PostgreSQL backend.

use poigate_domain::{ApiKeyMode, Merchant, Terminal, TerminalConnection, Timestamp};
use poigate_store::rows::{self, Stored};
use poigate_store::{
    AdminKeyRecord, ApiKeyRecord, CredentialKind, DeviceCredential, StoreError, StoreResult,
};

pub const API_KEY_SELECT: &str = "SELECT id, merchant_id, mode, secret_hash, display_prefix, label, created_at, revoked_at, last_used_at FROM api_keys";
pub const TERMINAL_SELECT: &str = "SELECT id, merchant_id, serial_number, model, label, kind, created_at, connection, livemode FROM terminals";
pub const CREDENTIAL_SELECT: &str = "SELECT secret_hash, terminal_id, kind, created_at, expires_at, used_at, revoked_at FROM device_credentials";

/// The body column of a domain object: the JSON of its storage row
/// ([`poigate_store::rows`]), never of the domain type itself.
pub fn encode_json<T: Stored>(value: &T) -> StoreResult<String> {
    rows::encode(value)
}

/// The domain object of a body column, read through its storage row.
pub fn decode_json<T: Stored>(text: &str) -> StoreResult<T> {
    rows::decode(text)
}

pub use poigate_store::rows::{parse_id, terminal_kind_str};

/// Maps a merchant row; the outer `Result` is rusqlite's, the inner one ours.
pub fn merchant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<Merchant>> {
    let id: String = r.get(0)?;
    let name: String = r.get(1)?;
    let created_at: i64 = r.get(2)?;
    let disabled_at: Option<i64> = r.get(3)?;
    Ok(parse_id(&id).map(|id| Merchant {
        id,
        name,
        created_at: Timestamp::from_millis(created_at),
        disabled_at: disabled_at.map(Timestamp::from_millis),
    }))
}

pub fn api_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<ApiKeyRecord>> {
    let id: String = r.get(0)?;
    let merchant_id: String = r.get(1)?;
    let mode: String = r.get(2)?;
    let hash: Vec<u8> = r.get(3)?;
    let display_prefix: String = r.get(4)?;
    let label: Option<String> = r.get(5)?;
    let created_at: i64 = r.get(6)?;
    let revoked_at: Option<i64> = r.get(7)?;
    let last_used_at: Option<i64> = r.get(8)?;
    Ok((|| {
        Ok(ApiKeyRecord {
            id: parse_id(&id)?,
            merchant_id: parse_id(&merchant_id)?,
            mode: ApiKeyMode::parse(&mode)
                .ok_or_else(|| StoreError::Corrupt(format!("bad key mode `{mode}`")))?,
            secret_hash: rows::decode_hash(hash, "key hash")?,
            display_prefix,
            label,
            created_at: Timestamp::from_millis(created_at),
            revoked_at: revoked_at.map(Timestamp::from_millis),
            last_used_at: last_used_at.map(Timestamp::from_millis),
        })
    })())
}

pub const ADMIN_KEY_SELECT: &str =
    "SELECT id, secret_hash, display_prefix, created_at, revoked_at FROM admin_keys";

pub fn admin_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<AdminKeyRecord>> {
    let id: String = r.get(0)?;
    let hash: Vec<u8> = r.get(1)?;
    let display_prefix: String = r.get(2)?;
    let created_at: i64 = r.get(3)?;
    let revoked_at: Option<i64> = r.get(4)?;
    Ok(hash
        .try_into()
        .map_err(|_| StoreError::Corrupt("admin key hash is not 32 bytes".into()))
        .map(|secret_hash| AdminKeyRecord {
            id,
            secret_hash,
            display_prefix,
            created_at: Timestamp::from_millis(created_at),
            revoked_at: revoked_at.map(Timestamp::from_millis),
        }))
}

pub fn terminal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<Terminal>> {
    let id: String = r.get(0)?;
    let merchant_id: String = r.get(1)?;
    let serial_number: String = r.get(2)?;
    let model: String = r.get(3)?;
    let label: Option<String> = r.get(4)?;
    let kind: String = r.get(5)?;
    let created_at: i64 = r.get(6)?;
    let connection: String = r.get(7)?;
    let livemode: bool = r.get(8)?;
    Ok((|| {
        Ok(Terminal {
            id: parse_id(&id)?,
            merchant_id: parse_id(&merchant_id)?,
            livemode,
            serial_number,
            model,
            label,
            kind: rows::parse_terminal_kind(&kind)?,
            connection: TerminalConnection::parse(&connection).ok_or_else(|| {
                StoreError::Corrupt(format!("bad terminal connection `{connection}`"))
            })?,
            created_at: Timestamp::from_millis(created_at),
        })
    })())
}

pub fn credential_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<DeviceCredential>> {
    let hash: Vec<u8> = r.get(0)?;
    let terminal_id: String = r.get(1)?;
    let kind: String = r.get(2)?;
    let created_at: i64 = r.get(3)?;
    let expires_at: Option<i64> = r.get(4)?;
    let used_at: Option<i64> = r.get(5)?;
    let revoked_at: Option<i64> = r.get(6)?;
    Ok((|| {
        Ok(DeviceCredential {
            secret_hash: rows::decode_hash(hash, "credential hash")?,
            terminal_id: parse_id(&terminal_id)?,
            kind: CredentialKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("bad credential kind `{kind}`")))?,
            created_at: Timestamp::from_millis(created_at),
            expires_at: expires_at.map(Timestamp::from_millis),
            used_at: used_at.map(Timestamp::from_millis),
            revoked_at: revoked_at.map(Timestamp::from_millis),
        })
    })())
}

/// A stored request fingerprint (SHA-256: 32 bytes).
pub fn decode_fingerprint(bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    rows::decode_hash(bytes, "fingerprint")
}
