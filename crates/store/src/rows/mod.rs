//! Storage rows: the shape in which backends keep domain objects, separate from the domain
//! types and from the wire formats.
//!
//! # Why rows exist
//!
//! The domain types' `serde` derives are also the native API's wire format and the terminal
//! protocol's. Were they the storage format too, renaming a domain field for the API would
//! silently turn every stored row — and every idempotent replay of a stored response — into
//! [`StoreError::Corrupt`]. So a backend never serializes a domain type: it converts it to a
//! row type here, field by field, and serializes that. A domain change then has to pass
//! through an explicit conversion, which fails to compile (a field gone, a variant added) or
//! fails the golden-row test (`tests/golden.rs`, fixtures written by earlier versions)
//! until someone decides what the stored form becomes.
//!
//! # Rules
//!
//! - Row types derive `serde`; nothing inside a row is a domain type (ids and timestamps are
//!   strings, enums have their own row enums, nested objects their own row structs).
//! - `impl From<&Domain> for XRowV1` writes; `impl TryFrom<XRowV1> for Domain` reads and
//!   answers `Corrupt` for a value the domain refuses.
//! - A row's JSON never changes once released: the fixtures in `tests/golden/` hold what
//!   each version wrote, and the golden test decodes and re-encodes them byte for byte.
//! - Migrations may read fields of a body in SQL (SQLite's migrations read `$.condition`
//!   and `$.captured_amount` of transactions with `json_extract`).
//! - Shared by every backend (SQLite today, PostgreSQL next), so a body written by one
//!   decodes in the other. The column helpers below ([`parse_id`], [`decode_hash`],
//!   [`terminal_kind_str`]) are shared the same way.
//!
//! # Adding a V2
//!
//! When the stored form must change (a field renamed, a meaning split): add `XRowV2` next to
//! `XRowV1` with the new shape, `impl From<XRowV1> for XRowV2` (how old rows read in the new
//! terms), make [`Stored::Row`] the V2 type for writing, and make the reader accept both —
//! for instance an `#[serde(untagged)] enum XRow { V2(XRowV2), V1(XRowV1) }` decoded first
//! and converted with the `From`. Keep the V1 fixtures: they prove old data still reads;
//! add V2 fixtures written by the new version.

mod enums;
mod interaction;
mod transaction;
mod webhook;

pub use enums::*;
pub use interaction::*;
pub use transaction::*;
pub use webhook::*;

use crate::{StoreError, StoreResult};
use poigate_domain::Timestamp;
use serde::{Serialize, de::DeserializeOwned};

/// A domain object a backend keeps as a serialized row body.
pub trait Stored: Sized {
    /// The row type written today.
    type Row: Serialize
        + DeserializeOwned
        + for<'a> From<&'a Self>
        + TryInto<Self, Error = StoreError>;
}

/// The stored body (JSON of the current row type) of `value`.
pub fn encode<T: Stored>(value: &T) -> StoreResult<String> {
    serde_json::to_string(&T::Row::from(value))
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a row: {e}")))
}

/// The domain object of a stored body.
pub fn decode<T: Stored>(body: &str) -> StoreResult<T> {
    let row: T::Row = serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("cannot decode a row: {e}")))?;
    row.try_into()
}

/// An id read from a column or a row field: ids are kept as their prefixed text (`int_…`)
/// in bodies and in every backend's indexed columns.
pub fn parse_id<T: std::str::FromStr>(text: &str) -> StoreResult<T> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad id `{text}`")))
}

/// A SHA-256 digest read from a binary column (`what` names it in the error: "fingerprint",
/// "key hash" …).
pub fn decode_hash(bytes: Vec<u8>, what: &str) -> StoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// A terminal kind as its indexed column holds it.
pub fn terminal_kind_str(kind: poigate_domain::TerminalKind) -> &'static str {
    match kind {
        poigate_domain::TerminalKind::Simulated => "simulated",
        poigate_domain::TerminalKind::Device => "device",
    }
}

/// The terminal kind of an indexed column.
pub fn parse_terminal_kind(text: &str) -> StoreResult<poigate_domain::TerminalKind> {
    match text {
        "simulated" => Ok(poigate_domain::TerminalKind::Simulated),
        "device" => Ok(poigate_domain::TerminalKind::Device),
        other => Err(StoreError::Corrupt(format!("bad terminal kind `{other}`"))),
    }
}

/// Timestamps are kept as RFC 3339 text with milliseconds (`2026-07-25T17:20:09.123Z`).
fn ts(t: Timestamp) -> String {
    t.to_rfc3339()
}

fn opt_ts(t: Option<Timestamp>) -> Option<String> {
    t.map(ts)
}

fn parse_ts(s: &str) -> StoreResult<Timestamp> {
    Timestamp::parse_rfc3339(s).ok_or_else(|| StoreError::Corrupt(format!("bad timestamp `{s}`")))
}

fn parse_opt_ts(s: Option<String>) -> StoreResult<Option<Timestamp>> {
    s.as_deref().map(parse_ts).transpose()
}

fn parse_opt_id<T: std::str::FromStr>(s: Option<String>) -> StoreResult<Option<T>> {
    s.as_deref().map(parse_id).transpose()
}
