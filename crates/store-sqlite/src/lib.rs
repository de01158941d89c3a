//! # poigate-store-sqlite
//!
//! The embedded default backend of the poigate [`Store`]: one SQLite file in WAL mode,
//! `synchronous=FULL` by default (a commit survives power loss), ONE writer thread with group
//! commit ([`writer`]), and a small pool of read-only connections ([`pool`]).
//!
//! **Owns:** the SQL schema and its migrations, the mapping between SQL rows and domain
//! types, the translation of SQLite constraint errors into [`StoreError`]s. Body columns
//! (interactions, events, transactions, operations, idempotent answers, webhook messages and
//! endpoints) hold the JSON of [`poigate_store::rows`] types, never of domain types.
//!
//! **Must not know about:** the engine's rules beyond what the [`Store`] contract states,
//! HTTP, terminals. Nothing SQLite-specific leaves this crate.

mod checkpoint;
mod codec;
mod money;
mod pool;
mod schema;
mod webhooks;
mod writer;

use async_trait::async_trait;
use codec::*;
use poigate_domain::{
    ApiKeyId, DeliveryId, Event, Interaction, InteractionId, Merchant, MerchantId, Operation,
    OperationId, OperationKind, OutboxMessage, Terminal, TerminalId, Timestamp, Transaction,
    TransactionEvent, TransactionId, WebhookEndpoint, WebhookEndpointId,
};
use poigate_store::rows;
use poigate_store::*;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use pool::ReadPool;
pub use schema::MIGRATIONS;

/// How hard SQLite works to make a commit durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync on every commit: survives power loss. The default.
    #[default]
    Full,
    /// fsync at checkpoints only: survives a process crash, may lose the last commits on
    /// power loss. Faster; for sandboxes and benchmarks that say so.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Where and how to open the database.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    pub path: PathBuf,
    pub synchronous: Synchronous,
    pub read_connections: usize,
    pub max_batch: usize,
    /// Most writes waiting for the writer thread; further callers wait for room.
    pub write_queue: usize,
    /// How long a write waits for room in a full queue before it fails with `Unavailable`.
    pub write_queue_timeout: std::time::Duration,
}

impl SqliteConfig {
    pub fn new(path: impl Into<PathBuf>) -> SqliteConfig {
        SqliteConfig {
            path: path.into(),
            synchronous: Synchronous::Full,
            read_connections: 4,
            max_batch: 512,
            write_queue: 4096,
            write_queue_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// How long [`Store::ready`] waits for the writer before it reports the store not ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The SQLite store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    writer: writer::Writer,
    readers: ReadPool,
    path: PathBuf,
    /// Stops the checkpoint thread when the last clone of the store goes.
    _checkpointer: Arc<checkpoint::Checkpointer>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn open_connection(path: &Path, read_only: bool, sync: Synchronous) -> StoreResult<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(unavailable)?;
    if !read_only {
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(unavailable)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(unavailable(format!("cannot enable WAL (got {mode})")));
        }
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous={}; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16000;",
        sync.pragma()
    ))
    .map_err(unavailable)?;
    // The query planner stability guarantee: without it SQLite 3.4x plans `LIMIT ?` with the
    // bound value in hand and marks the statement to be re-prepared whenever that parameter
    // is bound again (`sqlite3ExprIsInteger` → `sqlite3VdbeReprepareOnBind`), so a cached
    // `… LIMIT ?` statement was compiled afresh on every execution: two thirds of the
    // database time of an Adyen `TransactionStatus` (a `LIMIT 1` lookup). Our plans come from
    // the indexes (no ANALYZE statistics), so nothing is lost by fixing them.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub fn open(config: &SqliteConfig) -> StoreResult<SqliteStore> {
        if let Some(dir) = config.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = open_connection(&config.path, false, config.synchronous)?;
        schema::migrate(&mut conn).map_err(|e| unavailable(format!("migration failed: {e}")))?;
        // The checkpointer thread copies the WAL back; commits never stop to do it.
        // A WAL file grown by a burst is cut back to 64 MiB once it is reset.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .and_then(|()| conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024))
            .map_err(unavailable)?;
        let checkpointer = checkpoint::Checkpointer::spawn(open_connection(
            &config.path,
            false,
            config.synchronous,
        )?)
        .map_err(unavailable)?;
        let readers = (0..config.read_connections.max(1))
            .map(|_| open_connection(&config.path, true, config.synchronous))
            .collect::<StoreResult<Vec<_>>>()?;
        let writer = writer::Writer::spawn(
            conn,
            writer::WriterLimits {
                max_batch: config.max_batch,
                queue_capacity: config.write_queue,
                enqueue_timeout: config.write_queue_timeout,
            },
        )
        .map_err(unavailable)?;
        Ok(SqliteStore {
            writer,
            readers: ReadPool::new(readers),
            path: config.path.clone(),
            _checkpointer: Arc::new(checkpointer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether a SQLite error is a UNIQUE / PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
                && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("database error: {e}"))
}

fn insert_idempotency(conn: &Connection, rec: &IdempotencyRecord) -> StoreResult<()> {
    let key = rec.key.storage_key();
    let merchant = rec.merchant_id.to_string();
    conn.prepare_cached(
        "DELETE FROM idempotency WHERE merchant_id = ?1 AND key = ?2 AND expires_at <= ?3",
    )
    .and_then(|mut s| s.execute(params![merchant, key, rec.created_at.as_millis()]))
    .map_err(db)?;
    let response = encode_json(&rec.response)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO idempotency (merchant_id, key, fingerprint, interaction_id, response, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                merchant,
                key,
                &rec.fingerprint[..],
                rec.interaction_id.to_string(),
                response,
                rec.created_at.as_millis(),
                rec.expires_at.as_millis()
            ])
        });
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            let existing = select_idempotency(conn, rec.merchant_id, &rec.key, None)?
                .ok_or_else(|| StoreError::Corrupt("idempotency row vanished".into()))?;
            Err(StoreError::IdempotencyConflict {
                existing: Box::new(existing),
            })
        }
        Err(e) => Err(db(e)),
    }
}

fn select_idempotency(
    conn: &Connection,
    merchant: MerchantId,
    key: &IdempotencyKey,
    now: Option<Timestamp>,
) -> StoreResult<Option<IdempotencyRecord>> {
    let row = conn
        .prepare_cached(
            "SELECT fingerprint, interaction_id, response, created_at, expires_at
             FROM idempotency WHERE merchant_id = ?1 AND key = ?2 AND expires_at > ?3",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    merchant.to_string(),
                    key.storage_key(),
                    now.map(Timestamp::as_millis).unwrap_or(i64::MIN)
                ],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()
        })
        .map_err(db)?;
    let Some((fingerprint, interaction_id, response, created_at, expires_at)) = row else {
        return Ok(None);
    };
    Ok(Some(IdempotencyRecord {
        merchant_id: merchant,
        key: key.clone(),
        fingerprint: decode_fingerprint(fingerprint)?,
        interaction_id: parse_id(&interaction_id)?,
        response: decode_json(&response)?,
        created_at: Timestamp::from_millis(created_at),
        expires_at: Timestamp::from_millis(expires_at),
    }))
}

fn insert_credential(conn: &Connection, c: &DeviceCredential) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO device_credentials (secret_hash, terminal_id, kind, created_at, expires_at, used_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            &c.secret_hash[..],
            c.terminal_id.to_string(),
            c.kind.as_str(),
            c.created_at.as_millis(),
            c.expires_at.map(Timestamp::as_millis),
            c.used_at.map(Timestamp::as_millis),
            c.revoked_at.map(Timestamp::as_millis)
        ])
    })
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate("device credential")
        } else {
            db(e)
        }
    })?;
    Ok(())
}

fn insert_events(conn: &Connection, events: &[Event]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO events (interaction_id, seq, type, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db)?;
    for e in events {
        let seq = i64::try_from(e.seq).map_err(|_| StoreError::Corrupt("seq overflow".into()))?;
        stmt.execute(params![
            e.interaction_id.to_string(),
            seq,
            e.kind.name(),
            e.created_at.as_millis(),
            encode_json(e)?
        ])
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::VersionConflict {
                    entity: "interaction",
                    id: e.interaction_id.to_string(),
                }
            } else {
                db(err)
            }
        })?;
    }
    Ok(())
}

/// The interactions of `merchant` matching `f`, newest first (one statement on `conn`).
fn select_interactions(
    conn: &Connection,
    merchant: MerchantId,
    f: &InteractionFilter,
) -> StoreResult<Vec<Interaction>> {
    let mut sql = String::from("SELECT body FROM interactions WHERE merchant_id = ?");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(merchant.to_string())];
    let mut add = |clause: &str, v: Box<dyn rusqlite::ToSql>| {
        sql.push_str(clause);
        args.push(v);
    };
    if let Some(v) = f.sale_id.clone() {
        add(" AND sale_id = ?", Box::new(v));
    }
    if let Some(v) = f.service_id.clone() {
        add(" AND service_id = ?", Box::new(v));
    }
    if let Some(v) = f.reference.clone() {
        add(" AND reference = ?", Box::new(v));
    }
    if let Some(v) = f.terminal_id {
        add(" AND terminal_id = ?", Box::new(v.to_string()));
    }
    if let Some(v) = f.status {
        add(" AND status = ?", Box::new(v.as_str()));
    }
    if let Some(v) = f.livemode {
        add(" AND livemode = ?", Box::new(v));
    }
    if let Some(v) = f.before {
        add(" AND id < ?", Box::new(v.to_string()));
    }
    if let Some(v) = f.since {
        add(" AND id >= ?", Box::new(v.to_string()));
    }
    add(" ORDER BY id DESC LIMIT ?", Box::new(i64::from(f.limit)));
    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let params: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let rows = stmt
        .query_map(params.as_slice(), |r| r.get::<_, String>(0))
        .map_err(db)?;
    rows.map(|r| decode_json(&r.map_err(db)?)).collect()
}

/// A transaction by id, read on `conn`.
fn select_transaction(conn: &Connection, id: TransactionId) -> StoreResult<Option<Transaction>> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM transactions WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.to_string()], |r| r.get(0)).optional())
        .map_err(db)?;
    body.map(|b| decode_json(&b)).transpose()
}

pub(crate) fn upsert_transaction(conn: &Connection, txn: &Transaction) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO transactions (id, merchant_id, interaction_id, created_at, updated_at, body, condition, last_seq, captured_at, livemode)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body,
             condition = excluded.condition, last_seq = excluded.last_seq, captured_at = excluded.captured_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            txn.id.to_string(),
            txn.merchant_id.to_string(),
            txn.interaction_id.to_string(),
            txn.created_at.as_millis(),
            txn.updated_at.as_millis(),
            encode_json(txn).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            rows::ConditionRow::from(txn.condition).as_str(),
            txn.last_seq as i64,
            txn.captured_at.map(Timestamp::as_millis),
            txn.livemode
        ])
    })
    .map_err(db)?;
    Ok(())
}

/// A merchant's terminal by id, then POIID, then serial number (`?1` the merchant, `?2` the
/// reference): three indexed lookups. One `OR` over the three columns would walk all the
/// merchant's terminals for every interaction created. `COALESCE` stops at the first lookup
/// that finds the terminal, and needs no sorter (a `UNION ALL … ORDER BY pri LIMIT 1` built
/// one on every call: a tenth of the CPU of an Adyen `TransactionStatus`).
const FIND_TERMINAL_WHERE: &str = "WHERE rowid = COALESCE(
    (SELECT rowid FROM terminals WHERE id = ?2 AND merchant_id = ?1),
    (SELECT rowid FROM terminals WHERE merchant_id = ?1 AND poiid = ?2),
    (SELECT rowid FROM terminals WHERE merchant_id = ?1 AND serial_number = ?2))";

#[async_trait]
impl Store for SqliteStore {
    /// A round trip through the writer thread (so a dead or wedged writer shows), in which a
    /// probe row is written and rolled back (so a read-only or locked database shows).
    async fn ready(&self) -> StoreResult<()> {
        let probe = self.writer.write(|conn| {
            conn.execute_batch(
                "SAVEPOINT ready_probe;
                 INSERT INTO settings (name, value) VALUES ('poigate.ready_probe', '')
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value;
                 ROLLBACK TO ready_probe;
                 RELEASE ready_probe;",
            )
            .map_err(|e| unavailable(format!("the database is not writable: {e}")))
        });
        match tokio::time::timeout(READY_TIMEOUT, probe).await {
            Ok(result) => result,
            Err(_) => Err(unavailable(format!(
                "the database writer did not answer within {} ms",
                READY_TIMEOUT.as_millis()
            ))),
        }
    }

    async fn create_merchant(&self, merchant: &Merchant) -> StoreResult<()> {
        let m = merchant.clone();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO merchants (id, name, created_at) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| {
                    s.execute(params![m.id.to_string(), m.name, m.created_at.as_millis()])
                })
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Duplicate("merchant")
                    } else {
                        db(e)
                    }
                })?;
                Ok(())
            })
            .await
    }

    async fn get_merchant(&self, id: MerchantId) -> StoreResult<Option<Merchant>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT id, name, created_at, disabled_at FROM merchants WHERE id = ?1",
                )
                .and_then(|mut s| s.query_row([id.to_string()], merchant_row).optional())
                .map_err(db)?
                .transpose()
            })
            .await
    }

    async fn find_merchant_by_name(&self, name: &str) -> StoreResult<Option<Merchant>> {
        let name = name.to_string();
        self.readers
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT id, name, created_at, disabled_at FROM merchants WHERE name = ?1 ORDER BY id LIMIT 1",
                )
                .and_then(|mut s| s.query_row([name], merchant_row).optional())
                .map_err(db)?
                .transpose()
            })
            .await
    }

    async fn list_merchants(&self) -> StoreResult<Vec<Merchant>> {
        self.readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id, name, created_at, disabled_at FROM merchants ORDER BY id",
                    )
                    .map_err(db)?;
                let rows = stmt.query_map([], merchant_row).map_err(db)?;
                rows.map(|r| r.map_err(db)?).collect()
            })
            .await
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let k = key.clone();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO api_keys (id, merchant_id, mode, secret_hash, display_prefix, label, created_at, revoked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        k.id.to_string(),
                        k.merchant_id.to_string(),
                        k.mode.as_str(),
                        &k.secret_hash[..],
                        k.display_prefix,
                        k.label,
                        k.created_at.as_millis(),
                        k.revoked_at.map(Timestamp::as_millis)
                    ])
                })
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Duplicate("api key")
                    } else {
                        db(e)
                    }
                })?;
                Ok(())
            })
            .await
    }

    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKeyRecord>> {
        let hash = *hash;
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!("{API_KEY_SELECT} WHERE secret_hash = ?1"))
                    .and_then(|mut s| s.query_row([&hash[..]], api_key_row).optional())
                    .map_err(db)?
                    .transpose()
            })
            .await
    }

    async fn list_api_keys(&self, merchant: MerchantId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "{API_KEY_SELECT} WHERE merchant_id = ?1 ORDER BY id"
                    ))
                    .map_err(db)?;
                let rows = stmt
                    .query_map([merchant.to_string()], api_key_row)
                    .map_err(db)?;
                rows.map(|r| r.map_err(db)?).collect()
            })
            .await
    }

    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!("{API_KEY_SELECT} WHERE id = ?1"))
                    .and_then(|mut s| s.query_row([id.to_string()], api_key_row).optional())
                    .map_err(db)?
                    .transpose()
            })
            .await
    }

    async fn disable_merchant(&self, id: MerchantId, at: Timestamp) -> StoreResult<bool> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE merchants SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL",
                )
                .and_then(|mut s| s.execute(params![id.to_string(), at.as_millis()]))
                .map(|n| n == 1)
                .map_err(db)
            })
            .await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![id.to_string(), at.as_millis()]))
                    .map(|_| ())
                    .map_err(db)
            })
            .await
    }

    async fn create_admin_key(&self, key: &AdminKeyRecord) -> StoreResult<()> {
        let k = key.clone();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO admin_keys (id, secret_hash, display_prefix, created_at, revoked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        k.id,
                        &k.secret_hash[..],
                        k.display_prefix,
                        k.created_at.as_millis(),
                        k.revoked_at.map(Timestamp::as_millis)
                    ])
                })
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Duplicate("admin key")
                    } else {
                        db(e)
                    }
                })?;
                Ok(())
            })
            .await
    }

    async fn find_admin_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<AdminKeyRecord>> {
        let hash = *hash;
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!("{ADMIN_KEY_SELECT} WHERE secret_hash = ?1"))
                    .and_then(|mut s| s.query_row([&hash[..]], admin_key_row).optional())
                    .map_err(db)?
                    .transpose()
            })
            .await
    }

    async fn get_setting(&self, name: &str) -> StoreResult<Option<String>> {
        let name = name.to_string();
        self.readers
            .read(move |conn| {
                conn.prepare_cached("SELECT value FROM settings WHERE name = ?1")
                    .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
                    .map_err(db)
            })
            .await
    }

    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        let (name, value) = (name.to_string(), value.to_string());
        self.writer
            .write(move |conn| {
                conn.prepare_cached("INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING")
                    .and_then(|mut s| s.execute([&name, &value]))
                    .map_err(db)?;
                conn.prepare_cached("SELECT value FROM settings WHERE name = ?1")
                    .and_then(|mut s| s.query_row([&name], |r| r.get(0)))
                    .map_err(db)
            })
            .await
    }

    async fn set_api_key_default_terminal(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        terminal: Option<TerminalId>,
    ) -> StoreResult<bool> {
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE api_keys SET default_terminal = ?3
                         WHERE id = ?1 AND merchant_id = ?2 AND revoked_at IS NULL",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            id.to_string(),
                            merchant.to_string(),
                            terminal.map(|t| t.to_string())
                        ])
                    })
                    .map_err(db)?;
                Ok(n == 1)
            })
            .await
    }

    async fn api_key_default_terminal(&self, id: ApiKeyId) -> StoreResult<Option<TerminalId>> {
        self.readers
            .read(move |conn| {
                let text: Option<Option<String>> = conn
                    .prepare_cached("SELECT default_terminal FROM api_keys WHERE id = ?1")
                    .and_then(|mut s| {
                        s.query_row(params![id.to_string()], |r| r.get(0))
                            .optional()
                    })
                    .map_err(db)?;
                text.flatten()
                    .map(|t| {
                        t.parse::<TerminalId>().map_err(|_| {
                            StoreError::Corrupt(format!("api_keys.default_terminal `{t}`"))
                        })
                    })
                    .transpose()
            })
            .await
    }

    async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE api_keys SET revoked_at = ?3
                         WHERE id = ?1 AND merchant_id = ?2 AND revoked_at IS NULL",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            id.to_string(),
                            merchant.to_string(),
                            at.as_millis()
                        ])
                    })
                    .map_err(db)?;
                Ok(n == 1)
            })
            .await
    }

    async fn create_terminal(&self, terminal: &Terminal) -> StoreResult<()> {
        let t = terminal.clone();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO terminals (id, merchant_id, serial_number, model, poiid, label, kind, created_at, connection, livemode)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        t.id.to_string(),
                        t.merchant_id.to_string(),
                        t.serial_number,
                        t.model,
                        t.poiid(),
                        t.label,
                        terminal_kind_str(t.kind),
                        t.created_at.as_millis(),
                        t.connection.as_str(),
                        t.livemode
                    ])
                })
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Duplicate("terminal")
                    } else {
                        db(e)
                    }
                })?;
                Ok(())
            })
            .await
    }

    async fn get_terminal(&self, id: TerminalId) -> StoreResult<Option<Terminal>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!("{TERMINAL_SELECT} WHERE id = ?1"))
                    .and_then(|mut s| s.query_row([id.to_string()], terminal_row).optional())
                    .map_err(db)?
                    .transpose()
            })
            .await
    }

    async fn find_terminal(
        &self,
        merchant: MerchantId,
        reference: &str,
    ) -> StoreResult<Option<Terminal>> {
        let reference = reference.to_string();
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!("{TERMINAL_SELECT} {FIND_TERMINAL_WHERE}"))
                    .and_then(|mut s| {
                        s.query_row(params![merchant.to_string(), reference], terminal_row)
                            .optional()
                    })
                    .map_err(db)?
                    .transpose()
            })
            .await
    }

    async fn list_terminals(&self, merchant: MerchantId) -> StoreResult<Vec<Terminal>> {
        self.readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "{TERMINAL_SELECT} WHERE merchant_id = ?1 ORDER BY id"
                    ))
                    .map_err(db)?;
                let rows = stmt
                    .query_map([merchant.to_string()], terminal_row)
                    .map_err(db)?;
                rows.map(|r| r.map_err(db)?).collect()
            })
            .await
    }

    async fn list_all_terminals(&self) -> StoreResult<Vec<Terminal>> {
        self.readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!("{TERMINAL_SELECT} ORDER BY id"))
                    .map_err(db)?;
                let rows = stmt.query_map([], terminal_row).map_err(db)?;
                rows.map(|r| r.map_err(db)?).collect()
            })
            .await
    }

    async fn add_pairing_code(&self, code: &DeviceCredential) -> StoreResult<()> {
        let c = code.clone();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE device_credentials SET revoked_at = ?2
                     WHERE terminal_id = ?1 AND kind = 'pairing_code' AND used_at IS NULL AND revoked_at IS NULL",
                )
                .and_then(|mut s| s.execute(params![c.terminal_id.to_string(), c.created_at.as_millis()]))
                .map_err(db)?;
                insert_credential(conn, &c)
            })
            .await
    }

    async fn find_device_credential(
        &self,
        hash: &[u8; 32],
    ) -> StoreResult<Option<DeviceCredential>> {
        let hash = *hash;
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!("{CREDENTIAL_SELECT} WHERE secret_hash = ?1"))
                    .and_then(|mut s| s.query_row([&hash[..]], credential_row).optional())
                    .map_err(db)?
                    .transpose()
            })
            .await
    }

    async fn redeem_pairing_code(
        &self,
        code_hash: &[u8; 32],
        device_key: &DeviceCredential,
    ) -> StoreResult<()> {
        let code_hash = *code_hash;
        let key = device_key.clone();
        self.writer
            .write(move |conn| {
                let now = key.created_at.as_millis();
                let used = conn
                    .prepare_cached(
                        "UPDATE device_credentials SET used_at = ?3
                         WHERE secret_hash = ?1 AND terminal_id = ?2 AND kind = 'pairing_code'
                           AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?3",
                    )
                    .and_then(|mut s| {
                        s.execute(params![&code_hash[..], key.terminal_id.to_string(), now])
                    })
                    .map_err(db)?;
                if used != 1 {
                    return Err(StoreError::NotFound("pairing code"));
                }
                conn.prepare_cached(
                    "UPDATE device_credentials SET revoked_at = ?2
                     WHERE terminal_id = ?1 AND kind = 'device_key' AND revoked_at IS NULL",
                )
                .and_then(|mut s| s.execute(params![key.terminal_id.to_string(), now]))
                .map_err(db)?;
                insert_credential(conn, &key)
            })
            .await
    }

    async fn revoke_device_credentials(
        &self,
        terminal: TerminalId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE device_credentials SET revoked_at = ?2
                         WHERE terminal_id = ?1 AND revoked_at IS NULL AND used_at IS NULL",
                    )
                    .and_then(|mut s| s.execute(params![terminal.to_string(), at.as_millis()]))
                    .map_err(db)?;
                Ok(n as u64)
            })
            .await
    }

    async fn create_interaction(&self, create: &CreateInteraction) -> StoreResult<()> {
        let c = create.clone();
        self.writer
            .write(move |conn| {
                for rec in &c.idempotency {
                    insert_idempotency(conn, rec)?;
                }
                let i = &c.interaction;
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO interactions (id, merchant_id, terminal_id, status, live, reference, sale_id,
                                                   service_id, last_seq, created_at, updated_at, body, livemode)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            i.id.to_string(),
                            i.merchant_id.to_string(),
                            i.terminal_id.to_string(),
                            i.status.as_str(),
                            !i.is_final(),
                            i.reference,
                            i.sale_id,
                            i.service_id,
                            i.last_seq as i64,
                            i.created_at.as_millis(),
                            i.updated_at.as_millis(),
                            encode_json(i).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
                            i.livemode
                        ])
                    });
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        let blocking: Option<String> = conn
                            .prepare_cached(
                                "SELECT id FROM interactions WHERE terminal_id = ?1 AND live = 1",
                            )
                            .and_then(|mut s| {
                                s.query_row([i.terminal_id.to_string()], |r| r.get(0)).optional()
                            })
                            .map_err(db)?;
                        return match blocking {
                            Some(id) => Err(StoreError::TerminalBusy {
                                blocking: parse_id(&id)?,
                            }),
                            None => Err(StoreError::Duplicate("interaction")),
                        };
                    }
                    Err(e) => return Err(db(e)),
                }
                insert_events(conn, std::slice::from_ref(&c.first_event))?;
                webhooks::insert_messages(conn, &c.outbox)?;
                Ok(())
            })
            .await
    }

    async fn apply_transition(&self, write: &TransitionWrite) -> StoreResult<()> {
        let w = write.clone();
        self.writer
            .write(move |conn| {
                let i = &w.interaction;
                let body = encode_json(i)?;
                let n = conn
                    .prepare_cached(
                        "UPDATE interactions SET status = ?2, live = ?3, last_seq = ?4, updated_at = ?5, body = ?6
                         WHERE id = ?1 AND last_seq = ?7",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            i.id.to_string(),
                            i.status.as_str(),
                            !i.is_final(),
                            i.last_seq as i64,
                            i.updated_at.as_millis(),
                            body,
                            w.expected_last_seq as i64
                        ])
                    })
                    .map_err(db)?;
                if n != 1 {
                    let exists: Option<i64> = conn
                        .prepare_cached("SELECT 1 FROM interactions WHERE id = ?1")
                        .and_then(|mut s| s.query_row([i.id.to_string()], |r| r.get(0)).optional())
                        .map_err(db)?;
                    return Err(match exists {
                        Some(_) => StoreError::VersionConflict {
                            entity: "interaction",
                            id: i.id.to_string(),
                        },
                        None => StoreError::NotFound("interaction"),
                    });
                }
                insert_events(conn, &w.events)?;
                if let Some(txn) = &w.transaction {
                    upsert_transaction(conn, txn)?;
                }
                webhooks::insert_messages(conn, &w.outbox)?;
                Ok(())
            })
            .await
    }

    async fn get_interaction(&self, id: InteractionId) -> StoreResult<Option<Interaction>> {
        self.readers
            .read(move |conn| {
                let body: Option<String> = conn
                    .prepare_cached("SELECT body FROM interactions WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id.to_string()], |r| r.get(0)).optional())
                    .map_err(db)?;
                body.map(|b| decode_json(&b)).transpose()
            })
            .await
    }

    async fn get_interaction_with_transaction(
        &self,
        id: InteractionId,
    ) -> StoreResult<Option<(Interaction, Option<Transaction>)>> {
        self.readers
            .read(move |conn| {
                let text: Option<String> = conn
                    .prepare_cached("SELECT body FROM interactions WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id.to_string()], |r| r.get(0)).optional())
                    .map_err(db)?;
                let Some(text) = text else {
                    return Ok(None);
                };
                let interaction: Interaction = decode_json(&text)?;
                let transaction = match interaction.transaction_id {
                    Some(t) => select_transaction(conn, t)?,
                    None => None,
                };
                Ok(Some((interaction, transaction)))
            })
            .await
    }

    async fn list_events(
        &self,
        id: InteractionId,
        after_seq: u64,
        limit: u32,
        order: EventOrder,
    ) -> StoreResult<Vec<Event>> {
        self.readers
            .read(move |conn| {
                let sql = match order {
                    EventOrder::Asc => {
                        "SELECT body FROM events WHERE interaction_id = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3"
                    }
                    EventOrder::Desc => {
                        "SELECT body FROM events WHERE interaction_id = ?1 AND seq > ?2 ORDER BY seq DESC LIMIT ?3"
                    }
                };
                let mut stmt = conn.prepare_cached(sql).map_err(db)?;
                let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
                let rows = stmt
                    .query_map(params![id.to_string(), after, i64::from(limit)], |r| {
                        r.get::<_, String>(0)
                    })
                    .map_err(db)?;
                rows.map(|r| decode_json(&r.map_err(db)?)).collect()
            })
            .await
    }

    async fn find_interactions(
        &self,
        merchant: MerchantId,
        filter: &InteractionFilter,
    ) -> StoreResult<Vec<Interaction>> {
        let f = filter.clone();
        self.readers
            .read(move |conn| select_interactions(conn, merchant, &f))
            .await
    }

    async fn find_interactions_with_transactions(
        &self,
        merchant: MerchantId,
        filter: &InteractionFilter,
    ) -> StoreResult<Vec<(Interaction, Option<Transaction>)>> {
        let f = filter.clone();
        self.readers
            .read(move |conn| {
                select_interactions(conn, merchant, &f)?
                    .into_iter()
                    .map(|i| {
                        let t = match i.transaction_id {
                            Some(id) => select_transaction(conn, id)?,
                            None => None,
                        };
                        Ok((i, t))
                    })
                    .collect()
            })
            .await
    }

    async fn live_interactions(&self) -> StoreResult<Vec<Interaction>> {
        self.readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT body FROM interactions WHERE live = 1 ORDER BY id")
                    .map_err(db)?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db)?;
                rows.map(|r| decode_json(&r.map_err(db)?)).collect()
            })
            .await
    }

    async fn get_transaction(&self, id: TransactionId) -> StoreResult<Option<Transaction>> {
        self.readers
            .read(move |conn| select_transaction(conn, id))
            .await
    }

    async fn find_idempotency(
        &self,
        merchant: MerchantId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let key = key.clone();
        self.readers
            .read(move |conn| select_idempotency(conn, merchant, &key, Some(now)))
            .await
    }

    async fn purge_expired_idempotency(&self, now: Timestamp) -> StoreResult<u64> {
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM idempotency WHERE expires_at <= ?1")
                    .and_then(|mut s| s.execute([now.as_millis()]))
                    .map_err(db)?;
                Ok(n as u64)
            })
            .await
    }

    async fn append_outbox(&self, messages: &[OutboxMessage]) -> StoreResult<()> {
        let messages = messages.to_vec();
        self.writer
            .write(move |conn| webhooks::insert_messages(conn, &messages))
            .await
    }

    async fn dispatch_outbox(&self, limit: u32, now: Timestamp) -> StoreResult<u32> {
        // The worker asks on every pass, and mostly nothing is waiting: a read answers that
        // without queueing behind the writer's group commit (an fsync) for an empty write.
        // A message committed after this read is seen on the next pass (its writer signals).
        if !self.readers.read(webhooks::has_undispatched).await? {
            return Ok(0);
        }
        self.writer
            .write(move |conn| webhooks::dispatch(conn, limit, now))
            .await
    }

    async fn lease_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_targets: Vec<String>,
    ) -> StoreResult<Vec<DeliveryJob>> {
        // Relaxed: a lease lost to a power cut is one the next start releases anyway
        // (`release_delivery_leases`), so it need not wait for an fsync of its own.
        self.writer
            .write_relaxed(move |conn| {
                webhooks::lease_due(conn, now, lease_until, limit, &skip_targets)
            })
            .await
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
        self.readers.read(webhooks::next_due).await
    }

    async fn record_attempt(&self, attempt: &AttemptRecord) -> StoreResult<()> {
        let attempt = attempt.clone();
        self.writer
            .write(move |conn| webhooks::record_attempt(conn, &attempt))
            .await
    }

    async fn release_delivery_leases(&self) -> StoreResult<u64> {
        self.writer.write(webhooks::release_leases).await
    }

    async fn save_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        let endpoint = endpoint.clone();
        self.writer
            .write(move |conn| webhooks::save_endpoint(conn, &endpoint))
            .await
    }

    async fn get_webhook_endpoint(
        &self,
        merchant: MerchantId,
        id: WebhookEndpointId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        self.readers
            .read(move |conn| webhooks::get_endpoint(conn, merchant, id))
            .await
    }

    async fn list_webhook_endpoints(
        &self,
        merchant: MerchantId,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        self.readers
            .read(move |conn| webhooks::list_endpoints(conn, merchant))
            .await
    }

    async fn delete_webhook_endpoint(
        &self,
        merchant: MerchantId,
        id: WebhookEndpointId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.writer
            .write(move |conn| webhooks::delete_endpoint(conn, merchant, id, now))
            .await
    }

    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        filter: &DeliveryFilter,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let filter = filter.clone();
        self.readers
            .read(move |conn| webhooks::list_deliveries(conn, merchant, &filter))
            .await
    }

    async fn get_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> StoreResult<Option<DeliveryRecord>> {
        self.readers
            .read(move |conn| webhooks::get_delivery(conn, merchant, id))
            .await
    }

    async fn redeliver(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.writer
            .write(move |conn| webhooks::redeliver(conn, merchant, id, now))
            .await
    }

    async fn apply_transaction_write(&self, write: &TransactionWrite) -> StoreResult<()> {
        let write = write.clone();
        self.writer
            .write(move |conn| money::apply(conn, &write))
            .await
    }

    async fn get_operation(&self, id: OperationId) -> StoreResult<Option<Operation>> {
        self.readers
            .read(move |conn| money::get_operation(conn, id))
            .await
    }

    async fn list_operations(
        &self,
        transaction: TransactionId,
        kind: Option<OperationKind>,
    ) -> StoreResult<Vec<Operation>> {
        self.readers
            .read(move |conn| money::list_operations(conn, transaction, kind))
            .await
    }

    async fn pending_operations(&self) -> StoreResult<Vec<Operation>> {
        self.readers.read(money::pending_operations).await
    }

    async fn operations_between(
        &self,
        merchant: MerchantId,
        from: OperationId,
        to: OperationId,
        limit: u32,
    ) -> StoreResult<Vec<Operation>> {
        self.readers
            .read(move |conn| money::operations_between(conn, merchant, from, to, limit))
            .await
    }

    async fn find_operation_idempotency(
        &self,
        merchant: MerchantId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OperationIdempotency>> {
        let key = key.to_string();
        self.readers
            .read(move |conn| money::find_idempotency(conn, merchant, &key, Some(now)))
            .await
    }

    async fn list_transaction_events(
        &self,
        transaction: TransactionId,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<TransactionEvent>> {
        self.readers
            .read(move |conn| money::list_events(conn, transaction, after_seq, limit))
            .await
    }

    async fn transactions_to_settle(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Transaction>> {
        self.readers
            .read(move |conn| money::to_settle(conn, before, limit))
            .await
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    /// A cached `LIMIT ?` statement runs with other limits without being compiled again
    /// (it was, on every execution, before the stability guarantee was set).
    #[test]
    fn a_cached_limit_statement_is_not_prepared_again_when_rebound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.db");
        let mut conn = open_connection(&path, false, Synchronous::Normal).expect("open");
        schema::migrate(&mut conn).expect("migrate");
        let sql = "SELECT body FROM interactions WHERE merchant_id = ?1 AND service_id = ?2 ORDER BY id DESC LIMIT ?3";
        for limit in [1_i64, 20, 1, 2, 1] {
            let mut stmt = conn.prepare_cached(sql).expect("prepare");
            let rows: Vec<String> = stmt
                .query_map(params!["mer_x", "s1", limit], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert!(rows.is_empty());
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "re-prepared for LIMIT {limit}"
            );
        }
    }

    #[test]
    fn a_terminal_is_found_through_indexes_only() {
        let mut conn = Connection::open_in_memory().expect("open");
        schema::migrate(&mut conn).expect("migrate");
        let sql = format!("EXPLAIN QUERY PLAN {TERMINAL_SELECT} {FIND_TERMINAL_WHERE}");
        let mut stmt = conn.prepare(&sql).expect("prepare");
        let plan: Vec<String> = stmt
            .query_map(params!["mer_x", "V400m-1"], |r| r.get(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(
            plan.iter()
                .any(|p| p.contains("terminals_by_poiid (merchant_id=? AND poiid=?)")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|p| p.starts_with("SCAN terminals")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|p| p.contains("(merchant_id=?)")),
            "a lookup by merchant alone walks every terminal: {plan:?}"
        );
    }
}
