//! Row ↔ domain conversions for PostgreSQL rows. Bodies go through the shared
//! [`poigate_store::rows`] codec, so a body written by SQLite decodes here and back.

use crate::sql::col;
use poigate_domain::{ApiKeyMode, Merchant, Terminal, TerminalConnection, Timestamp};
use poigate_store::rows::{self, Stored, decode_hash, parse_id, parse_terminal_kind};
use poigate_store::{
    AdminKeyRecord, ApiKeyRecord, CredentialKind, DeviceCredential, StoreError, StoreResult,
};
use tokio_postgres::Row;

pub const MERCHANT_SELECT: &str = "SELECT id, name, created_at, disabled_at FROM merchants";
pub const API_KEY_SELECT: &str = "SELECT id, merchant_id, mode, secret_hash, display_prefix, label, created_at, revoked_at, last_used_at FROM api_keys";
pub const ADMIN_KEY_SELECT: &str =
    "SELECT id, secret_hash, display_prefix, created_at, revoked_at FROM admin_keys";
pub const TERMINAL_SELECT: &str = "SELECT id, merchant_id, serial_number, model, label, kind, created_at, connection, livemode FROM terminals";
pub const CREDENTIAL_SELECT: &str = "SELECT secret_hash, terminal_id, kind, created_at, expires_at, used_at, revoked_at FROM device_credentials";

/// The body column of a domain object: the JSON of its storage row.
pub fn encode_json<T: Stored>(value: &T) -> StoreResult<String> {
    rows::encode(value)
}

/// The domain object of a body column.
pub fn decode_json<T: Stored>(text: &str) -> StoreResult<T> {
    rows::decode(text)
}

/// The domain object in column `i` of a row.
pub fn body<T: Stored>(row: &Row, i: usize) -> StoreResult<T> {
    let text: &str = col(row, i)?;
    rows::decode(text)
}

pub fn ts(row: &Row, i: usize) -> StoreResult<Timestamp> {
    Ok(Timestamp::from_millis(col(row, i)?))
}

pub fn opt_ts(row: &Row, i: usize) -> StoreResult<Option<Timestamp>> {
    Ok(col::<Option<i64>>(row, i)?.map(Timestamp::from_millis))
}

pub fn id<T: std::str::FromStr>(row: &Row, i: usize) -> StoreResult<T> {
    parse_id(col::<&str>(row, i)?)
}

pub fn merchant_row(r: &Row) -> StoreResult<Merchant> {
    Ok(Merchant {
        id: id(r, 0)?,
        name: col(r, 1)?,
        created_at: ts(r, 2)?,
        disabled_at: opt_ts(r, 3)?,
    })
}

pub fn admin_key_row(r: &Row) -> StoreResult<AdminKeyRecord> {
    Ok(AdminKeyRecord {
        id: col(r, 0)?,
        secret_hash: decode_hash(col(r, 1)?, "admin key hash")?,
        display_prefix: col(r, 2)?,
        created_at: ts(r, 3)?,
        revoked_at: opt_ts(r, 4)?,
    })
}

pub fn api_key_row(r: &Row) -> StoreResult<ApiKeyRecord> {
    let mode: &str = col(r, 2)?;
    Ok(ApiKeyRecord {
        id: id(r, 0)?,
        merchant_id: id(r, 1)?,
        mode: ApiKeyMode::parse(mode)
            .ok_or_else(|| StoreError::Corrupt(format!("bad key mode `{mode}`")))?,
        secret_hash: decode_hash(col(r, 3)?, "key hash")?,
        display_prefix: col(r, 4)?,
        label: col(r, 5)?,
        created_at: ts(r, 6)?,
        revoked_at: opt_ts(r, 7)?,
        last_used_at: opt_ts(r, 8)?,
    })
}

pub fn terminal_row(r: &Row) -> StoreResult<Terminal> {
    let connection: &str = col(r, 7)?;
    Ok(Terminal {
        id: id(r, 0)?,
        merchant_id: id(r, 1)?,
        livemode: col(r, 8)?,
        serial_number: col(r, 2)?,
        model: col(r, 3)?,
        label: col(r, 4)?,
        kind: parse_terminal_kind(col(r, 5)?)?,
        connection: TerminalConnection::parse(connection).ok_or_else(|| {
            StoreError::Corrupt(format!("bad terminal connection `{connection}`"))
        })?,
        created_at: ts(r, 6)?,
    })
}

pub fn credential_row(r: &Row) -> StoreResult<DeviceCredential> {
    let kind: &str = col(r, 2)?;
    Ok(DeviceCredential {
        secret_hash: decode_hash(col(r, 0)?, "credential hash")?,
        terminal_id: id(r, 1)?,
        kind: CredentialKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("bad credential kind `{kind}`")))?,
        created_at: ts(r, 3)?,
        expires_at: opt_ts(r, 4)?,
        used_at: opt_ts(r, 5)?,
        revoked_at: opt_ts(r, 6)?,
    })
}
