//! # poigate-store-postgres
//!
//! The PostgreSQL backend of the poigate [`Store`]: how poigate runs on several gateway
//! nodes sharing one database (SQLite stays the embedded single-node default). A
//! `deadpool-postgres` pool of `tokio-postgres` connections; every write that the SQLite
//! backend does in one transaction is ONE PostgreSQL transaction here.
//!
//! **Owns:** the PostgreSQL schema and its versioned migrations ([`MIGRATIONS`], applied at
//! start-up under an advisory lock so several nodes starting together migrate once), the
//! mapping between rows and domain types, and the translation of PostgreSQL errors into
//! [`StoreError`]s: a unique violation (SQLSTATE 23505) by the name of the constraint that
//! fired, every connection or server failure as `Unavailable` (the API answers 503). The
//! invariants are the database's own, as in SQLite: a partial unique index allows one live
//! interaction per terminal, primary keys make idempotency keys and natural keys unique, a
//! unique constraint makes serial numbers unique per merchant; concurrent writers of one
//! object are refused by optimistic concurrency (`VersionConflict`), and webhook deliveries
//! are leased with `FOR UPDATE SKIP LOCKED`. Bodies hold the JSON of
//! [`poigate_store::rows`] types (shared codec), in `text` columns.
//! With the `testing` feature, the `testing` module starts a real PostgreSQL server for tests.
//!
//! **Must not know about:** the engine's rules beyond what the [`Store`] contract states,
//! HTTP, terminals, which node owns what (cluster coordination is the `Coordinator` port's,
//! in its own crate). Nothing PostgreSQL-specific leaves this crate.
//!
//! Connections are plain TCP or unix sockets ([`tokio_postgres::NoTls`]); TLS (rustls) is a
//! follow-up. Nothing here reaches beyond the configured database.

mod codec;
mod error;
mod money;
mod schema;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod webhooks;

use async_trait::async_trait;
use codec::*;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction,
};
use error::{db, unique_violation, write};
use poigate_domain::{
    ApiKeyId, DeliveryId, Event, Interaction, InteractionId, Merchant, MerchantId, Operation,
    OperationId, OperationKind, OutboxMessage, Terminal, TerminalId, Timestamp, Transaction as Txn,
    TransactionEvent, TransactionId, WebhookEndpoint, WebhookEndpointId,
};
use poigate_store::rows::{self, decode_hash, terminal_kind_str};
use poigate_store::*;
use sql::{Filtered, col, exec, query, query_opt, seq};
use std::time::Duration;

pub use schema::{MIGRATION_LOCK, MIGRATIONS};

/// Where the database is and how many connections to keep.
#[derive(Clone)]
pub struct PostgresConfig {
    /// A libpq-style URL or key/value string (`postgres://user:pass@host:5432/poigate`,
    /// `host=/run/postgresql dbname=poigate`).
    pub url: String,
    /// Most connections this node opens.
    pub pool_size: usize,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a request waits for a free (or new) connection before it fails with
    /// `Unavailable` — the bound on how long a request hangs while the database is away.
    pub acquire_timeout: Duration,
}

impl PostgresConfig {
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The password never reaches a log line through `{:?}`.
impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// A database URL without its password (URL or key/value form), for logs and errors.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}{tail}");
        }
        return url.to_string();
    }
    url.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How long [`Store::ready`] waits for its probe before it reports the store not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The PostgreSQL store. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Opens the pool, proves the database answers, and applies pending migrations (under
    /// the advisory lock: several nodes may call this at once). `Unavailable` when the
    /// database cannot be reached or the URL is not valid.
    pub async fn connect(config: &PostgresConfig) -> StoreResult<PostgresStore> {
        let mut pg: tokio_postgres::Config = config.url.parse().map_err(|e| {
            StoreError::Unavailable(format!("bad database URL {}: {e}", redact_url(&config.url)))
        })?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(config.connect_timeout);
        }
        // A peer that vanishes without closing (a dead host, a cut network) is noticed in
        // about 25 s instead of the kernel's two hours, so a request fails `Unavailable`
        // instead of hanging. A URL that sets keepalives keeps its own.
        if pg.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            pg.keepalives(true)
                .keepalives_idle(Duration::from_secs(10))
                .keepalives_interval(Duration::from_secs(5))
                .keepalives_retries(3);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("poigate");
        }
        let manager = Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build the pool: {e}")))?;
        let store = PostgresStore { pool };
        let mut client = store.client().await?;
        let version = schema::migrate(&mut client).await?;
        tracing::info!(
            url = %redact_url(&config.url),
            schema = version,
            "PostgreSQL store ready"
        );
        Ok(store)
    }

    /// The pool (for tests and tools that need a raw connection).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(error::pool)
    }
}

/// Runs `body` in one transaction on a pooled connection: committed when it returns `Ok`,
/// rolled back otherwise (dropping the transaction rolls it back).
macro_rules! in_tx {
    ($self:ident, |$tx:ident| $body:expr) => {{
        let mut client = $self.client().await?;
        let $tx = client.transaction().await.map_err(db)?;
        let value = $body;
        $tx.commit().await.map_err(db)?;
        Ok(value)
    }};
}

async fn insert_idempotency(tx: &Transaction<'_>, rec: &IdempotencyRecord) -> StoreResult<()> {
    let key = rec.key.storage_key();
    let merchant = rec.merchant_id.to_string();
    exec(
        tx,
        "DELETE FROM idempotency WHERE merchant_id = $1 AND key = $2 AND expires_at <= $3",
        &[&merchant, &key, &rec.created_at.as_millis()],
    )
    .await
    .map_err(db)?;
    // ON CONFLICT DO NOTHING rather than catching 23505: an error aborts the transaction,
    // and the record that holds the key is read in the same one (READ COMMITTED: this
    // statement waits for a racing insert and sees the row that won).
    let inserted = exec(
        tx,
        "INSERT INTO idempotency (merchant_id, key, fingerprint, interaction_id, response, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (merchant_id, key) DO NOTHING",
        &[
            &merchant,
            &key,
            &&rec.fingerprint[..],
            &rec.interaction_id.to_string(),
            &encode_json(&rec.response)?,
            &rec.created_at.as_millis(),
            &rec.expires_at.as_millis(),
        ],
    )
    .await
    .map_err(db)?;
    if inserted == 1 {
        return Ok(());
    }
    let existing = select_idempotency(tx, rec.merchant_id, &rec.key, None)
        .await?
        .ok_or_else(|| StoreError::Corrupt("idempotency row vanished".into()))?;
    Err(StoreError::IdempotencyConflict {
        existing: Box::new(existing),
    })
}

async fn select_idempotency<C: GenericClient>(
    c: &C,
    merchant: MerchantId,
    key: &IdempotencyKey,
    now: Option<Timestamp>,
) -> StoreResult<Option<IdempotencyRecord>> {
    let row = query_opt(
        c,
        "SELECT fingerprint, interaction_id, response, created_at, expires_at
         FROM idempotency WHERE merchant_id = $1 AND key = $2 AND expires_at > $3",
        &[
            &merchant.to_string(),
            &key.storage_key(),
            &now.map(Timestamp::as_millis).unwrap_or(i64::MIN),
        ],
    )
    .await
    .map_err(db)?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(IdempotencyRecord {
        merchant_id: merchant,
        key: key.clone(),
        fingerprint: decode_hash(col(&r, 0)?, "fingerprint")?,
        interaction_id: id(&r, 1)?,
        response: body(&r, 2)?,
        created_at: ts(&r, 3)?,
        expires_at: ts(&r, 4)?,
    }))
}

async fn insert_credential(tx: &Transaction<'_>, c: &DeviceCredential) -> StoreResult<()> {
    exec(
        tx,
        "INSERT INTO device_credentials (secret_hash, terminal_id, kind, created_at, expires_at, used_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &&c.secret_hash[..],
            &c.terminal_id.to_string(),
            &c.kind.as_str(),
            &c.created_at.as_millis(),
            &c.expires_at.map(Timestamp::as_millis),
            &c.used_at.map(Timestamp::as_millis),
            &c.revoked_at.map(Timestamp::as_millis),
        ],
    )
    .await
    .map_err(write)?;
    Ok(())
}

/// Serialises the credential writes of one terminal across nodes (SQLite's single writer
/// does it there): without it, two pairing codes added at once could both stay valid, or
/// two redemptions leave two device keys. `NO KEY UPDATE` so interaction inserts (whose
/// foreign-key check takes `KEY SHARE` on the terminal) are not held up.
async fn lock_terminal(tx: &Transaction<'_>, terminal: &str) -> StoreResult<()> {
    query_opt(
        tx,
        "SELECT 1 FROM terminals WHERE id = $1 FOR NO KEY UPDATE",
        &[&terminal],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// Appends `events` in one statement (one round trip however many there are: a terminal's
/// burst carries ten or more), rows unnested from one array per column.
async fn insert_events(tx: &Transaction<'_>, events: &[Event]) -> StoreResult<()> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    let mut ids = Vec::with_capacity(events.len());
    let mut seqs = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut created = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    for e in events {
        ids.push(e.interaction_id.to_string());
        seqs.push(seq(e.seq)?);
        types.push(e.kind.name());
        created.push(e.created_at.as_millis());
        bodies.push(encode_json(e)?);
    }
    exec(
        tx,
        "INSERT INTO events (interaction_id, seq, type, created_at, body)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])",
        &[&ids, &seqs, &types, &created, &bodies],
    )
    .await
    .map_err(|err| match unique_violation(&err) {
        Some("events_pkey") => StoreError::VersionConflict {
            entity: "interaction",
            id: first.interaction_id.to_string(),
        },
        _ => write(err),
    })?;
    Ok(())
}

pub(crate) async fn upsert_transaction(tx: &Transaction<'_>, txn: &Txn) -> StoreResult<()> {
    exec(
        tx,
        "INSERT INTO transactions (id, merchant_id, interaction_id, created_at, updated_at, body, condition, last_seq, captured_at, livemode)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body,
             condition = excluded.condition, last_seq = excluded.last_seq, captured_at = excluded.captured_at",
        &[
            &txn.id.to_string(),
            &txn.merchant_id.to_string(),
            &txn.interaction_id.to_string(),
            &txn.created_at.as_millis(),
            &txn.updated_at.as_millis(),
            &encode_json(txn)?,
            &rows::ConditionRow::from(txn.condition).as_str(),
            &seq(txn.last_seq)?,
            &txn.captured_at.map(Timestamp::as_millis),
            &txn.livemode,
        ],
    )
    .await
    .map_err(write)?;
    Ok(())
}

fn bodies<T: rows::Stored>(rows: &[tokio_postgres::Row]) -> StoreResult<Vec<T>> {
    rows.iter().map(|r| body(r, 0)).collect()
}

#[async_trait]
impl Store for PostgresStore {
    /// A connection from the pool, in which a probe row is written and rolled back (so a
    /// read-only standby or a full disk shows), within 2 s (`READY_TIMEOUT`).
    async fn ready(&self) -> StoreResult<()> {
        let probe = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            tx.execute(
                "INSERT INTO settings (name, value) VALUES ('poigate.ready_probe', '')
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[],
            )
            .await
            .map_err(|e| StoreError::Unavailable(format!("the database is not writable: {e}")))?;
            tx.rollback().await.map_err(db)
        };
        match tokio::time::timeout(READY_TIMEOUT, probe).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer within {} ms",
                READY_TIMEOUT.as_millis()
            ))),
        }
    }

    async fn create_merchant(&self, merchant: &Merchant) -> StoreResult<()> {
        let c = self.client().await?;
        exec(
            &c,
            "INSERT INTO merchants (id, name, created_at) VALUES ($1, $2, $3)",
            &[
                &merchant.id.to_string(),
                &merchant.name,
                &merchant.created_at.as_millis(),
            ],
        )
        .await
        .map_err(write)?;
        Ok(())
    }

    async fn get_merchant(&self, id: MerchantId) -> StoreResult<Option<Merchant>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!("{MERCHANT_SELECT} WHERE id = $1"),
            &[&id.to_string()],
        )
        .await
        .map_err(db)?;
        row.as_ref().map(merchant_row).transpose()
    }

    async fn find_merchant_by_name(&self, name: &str) -> StoreResult<Option<Merchant>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!("{MERCHANT_SELECT} WHERE name = $1 ORDER BY id LIMIT 1"),
            &[&name],
        )
        .await
        .map_err(db)?;
        row.as_ref().map(merchant_row).transpose()
    }

    async fn list_merchants(&self) -> StoreResult<Vec<Merchant>> {
        let c = self.client().await?;
        let rows = query(&c, &format!("{MERCHANT_SELECT} ORDER BY id"), &[])
            .await
            .map_err(db)?;
        rows.iter().map(merchant_row).collect()
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let c = self.client().await?;
        exec(
            &c,
            "INSERT INTO api_keys (id, merchant_id, mode, secret_hash, display_prefix, label, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &key.id.to_string(),
                &key.merchant_id.to_string(),
                &key.mode.as_str(),
                &&key.secret_hash[..],
                &key.display_prefix,
                &key.label,
                &key.created_at.as_millis(),
                &key.revoked_at.map(Timestamp::as_millis),
            ],
        )
        .await
        .map_err(write)?;
        Ok(())
    }

    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKeyRecord>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!("{API_KEY_SELECT} WHERE secret_hash = $1"),
            &[&&hash[..]],
        )
        .await
        .map_err(db)?;
        row.as_ref().map(api_key_row).transpose()
    }

    async fn list_api_keys(&self, merchant: MerchantId) -> StoreResult<Vec<ApiKeyRecord>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            &format!("{API_KEY_SELECT} WHERE merchant_id = $1 ORDER BY id"),
            &[&merchant.to_string()],
        )
        .await
        .map_err(db)?;
        rows.iter().map(api_key_row).collect()
    }

    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!("{API_KEY_SELECT} WHERE id = $1"),
            &[&id.to_string()],
        )
        .await
        .map_err(db)?;
        row.as_ref().map(api_key_row).transpose()
    }

    async fn get_setting(&self, name: &str) -> StoreResult<Option<String>> {
        let c = self.client().await?;
        let row = query_opt(&c, "SELECT value FROM settings WHERE name = $1", &[&name])
            .await
            .map_err(db)?;
        row.map(|r| col(&r, 0)).transpose()
    }

    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        let c = self.client().await?;
        // One statement: the insert, or the value a racing node stored first.
        let row = query_opt(
            &c,
            "WITH ins AS (
                 INSERT INTO settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO NOTHING RETURNING value)
             SELECT value FROM ins",
            &[&name, &value],
        )
        .await
        .map_err(db)?;
        if let Some(r) = row {
            return col(&r, 0);
        }
        let row = query_opt(&c, "SELECT value FROM settings WHERE name = $1", &[&name])
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::Corrupt("setting vanished".into()))?;
        col(&row, 0)
    }

    async fn set_api_key_default_terminal(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        terminal: Option<TerminalId>,
    ) -> StoreResult<bool> {
        let c = self.client().await?;
        let n = exec(
            &c,
            "UPDATE api_keys SET default_terminal = $3
             WHERE id = $1 AND merchant_id = $2 AND revoked_at IS NULL",
            &[
                &id.to_string(),
                &merchant.to_string(),
                &terminal.map(|t| t.to_string()),
            ],
        )
        .await
        .map_err(db)?;
        Ok(n == 1)
    }

    async fn api_key_default_terminal(&self, id: ApiKeyId) -> StoreResult<Option<TerminalId>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            "SELECT default_terminal FROM api_keys WHERE id = $1",
            &[&id.to_string()],
        )
        .await
        .map_err(db)?;
        let text: Option<String> = match row {
            Some(r) => r.try_get(0).map_err(db)?,
            None => None,
        };
        text.map(|t| {
            t.parse::<TerminalId>()
                .map_err(|_| StoreError::Corrupt(format!("api_keys.default_terminal `{t}`")))
        })
        .transpose()
    }

    async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let c = self.client().await?;
        let n = exec(
            &c,
            "UPDATE api_keys SET revoked_at = $3
             WHERE id = $1 AND merchant_id = $2 AND revoked_at IS NULL",
            &[&id.to_string(), &merchant.to_string(), &at.as_millis()],
        )
        .await
        .map_err(db)?;
        Ok(n == 1)
    }

    async fn disable_merchant(&self, id: MerchantId, at: Timestamp) -> StoreResult<bool> {
        let c = self.client().await?;
        let n = exec(
            &c,
            "UPDATE merchants SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL",
            &[&id.to_string(), &at.as_millis()],
        )
        .await
        .map_err(db)?;
        Ok(n == 1)
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        let c = self.client().await?;
        exec(
            &c,
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1",
            &[&id.to_string(), &at.as_millis()],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn create_admin_key(&self, key: &AdminKeyRecord) -> StoreResult<()> {
        let c = self.client().await?;
        exec(
            &c,
            "INSERT INTO admin_keys (id, secret_hash, display_prefix, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &key.id,
                &&key.secret_hash[..],
                &key.display_prefix,
                &key.created_at.as_millis(),
                &key.revoked_at.map(Timestamp::as_millis),
            ],
        )
        .await
        .map_err(write)?;
        Ok(())
    }

    async fn find_admin_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<AdminKeyRecord>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!("{ADMIN_KEY_SELECT} WHERE secret_hash = $1"),
            &[&&hash[..]],
        )
        .await
        .map_err(db)?;
        row.as_ref().map(admin_key_row).transpose()
    }

    async fn create_terminal(&self, terminal: &Terminal) -> StoreResult<()> {
        let c = self.client().await?;
        exec(
            &c,
            "INSERT INTO terminals (id, merchant_id, serial_number, model, poiid, label, kind, created_at, connection, livemode)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &terminal.id.to_string(),
                &terminal.merchant_id.to_string(),
                &terminal.serial_number,
                &terminal.model,
                &terminal.poiid(),
                &terminal.label,
                &terminal_kind_str(terminal.kind),
                &terminal.created_at.as_millis(),
                &terminal.connection.as_str(),
                &terminal.livemode,
            ],
        )
        .await
        .map_err(write)?;
        Ok(())
    }

    async fn get_terminal(&self, id: TerminalId) -> StoreResult<Option<Terminal>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!("{TERMINAL_SELECT} WHERE id = $1"),
            &[&id.to_string()],
        )
        .await
        .map_err(db)?;
        row.as_ref().map(terminal_row).transpose()
    }

    /// By id, then POIID, then serial number: each arm is an indexed lookup.
    async fn find_terminal(
        &self,
        merchant: MerchantId,
        reference: &str,
    ) -> StoreResult<Option<Terminal>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!(
                "{TERMINAL_SELECT} WHERE merchant_id = $1 AND (id = $2 OR poiid = $2 OR serial_number = $2)
                 ORDER BY (id = $2) DESC, (poiid = $2) DESC LIMIT 1"
            ),
            &[&merchant.to_string(), &reference],
        )
        .await
        .map_err(db)?;
        row.as_ref().map(terminal_row).transpose()
    }

    async fn list_terminals(&self, merchant: MerchantId) -> StoreResult<Vec<Terminal>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            &format!("{TERMINAL_SELECT} WHERE merchant_id = $1 ORDER BY id"),
            &[&merchant.to_string()],
        )
        .await
        .map_err(db)?;
        rows.iter().map(terminal_row).collect()
    }

    async fn list_all_terminals(&self) -> StoreResult<Vec<Terminal>> {
        let c = self.client().await?;
        let rows = query(&c, &format!("{TERMINAL_SELECT} ORDER BY id"), &[])
            .await
            .map_err(db)?;
        rows.iter().map(terminal_row).collect()
    }

    async fn add_pairing_code(&self, code: &DeviceCredential) -> StoreResult<()> {
        in_tx!(self, |tx| {
            lock_terminal(&tx, &code.terminal_id.to_string()).await?;
            exec(
                &tx,
                "UPDATE device_credentials SET revoked_at = $2
                 WHERE terminal_id = $1 AND kind = 'pairing_code' AND used_at IS NULL AND revoked_at IS NULL",
                &[&code.terminal_id.to_string(), &code.created_at.as_millis()],
            )
            .await
            .map_err(db)?;
            insert_credential(&tx, code).await?
        })
    }

    async fn find_device_credential(
        &self,
        hash: &[u8; 32],
    ) -> StoreResult<Option<DeviceCredential>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!("{CREDENTIAL_SELECT} WHERE secret_hash = $1"),
            &[&&hash[..]],
        )
        .await
        .map_err(db)?;
        row.as_ref().map(credential_row).transpose()
    }

    /// The conditional UPDATE takes the code's row lock: a second redemption waits, then
    /// re-checks `used_at IS NULL` on the committed row, matches nothing, and fails.
    async fn redeem_pairing_code(
        &self,
        code_hash: &[u8; 32],
        device_key: &DeviceCredential,
    ) -> StoreResult<()> {
        let now = device_key.created_at.as_millis();
        let terminal = device_key.terminal_id.to_string();
        in_tx!(self, |tx| {
            lock_terminal(&tx, &terminal).await?;
            let used = exec(
                &tx,
                "UPDATE device_credentials SET used_at = $3
                 WHERE secret_hash = $1 AND terminal_id = $2 AND kind = 'pairing_code'
                   AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
                &[&&code_hash[..], &terminal, &now],
            )
            .await
            .map_err(db)?;
            if used != 1 {
                return Err(StoreError::NotFound("pairing code"));
            }
            exec(
                &tx,
                "UPDATE device_credentials SET revoked_at = $2
                 WHERE terminal_id = $1 AND kind = 'device_key' AND revoked_at IS NULL",
                &[&terminal, &now],
            )
            .await
            .map_err(db)?;
            insert_credential(&tx, device_key).await?
        })
    }

    async fn revoke_device_credentials(
        &self,
        terminal: TerminalId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let terminal = terminal.to_string();
        in_tx!(self, |tx| {
            lock_terminal(&tx, &terminal).await?;
            exec(
                &tx,
                "UPDATE device_credentials SET revoked_at = $2
                 WHERE terminal_id = $1 AND revoked_at IS NULL AND used_at IS NULL",
                &[&terminal, &at.as_millis()],
            )
            .await
            .map_err(db)?
        })
    }

    /// The insert names the partial unique index as its conflict target: a live
    /// interaction on the terminal (committed, or committing in a racing transaction, which
    /// this one waits for) makes it insert nothing, and the blocking one is read back.
    async fn create_interaction(&self, create: &CreateInteraction) -> StoreResult<()> {
        let i = &create.interaction;
        in_tx!(self, |tx| {
            for rec in &create.idempotency {
                insert_idempotency(&tx, rec).await?;
            }
            let inserted = exec(
                &tx,
                "INSERT INTO interactions (id, merchant_id, terminal_id, status, live, reference, sale_id,
                                           service_id, last_seq, created_at, updated_at, body, livemode)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (terminal_id) WHERE live DO NOTHING",
                &[
                    &i.id.to_string(),
                    &i.merchant_id.to_string(),
                    &i.terminal_id.to_string(),
                    &i.status.as_str(),
                    &!i.is_final(),
                    &i.reference,
                    &i.sale_id,
                    &i.service_id,
                    &seq(i.last_seq)?,
                    &i.created_at.as_millis(),
                    &i.updated_at.as_millis(),
                    &encode_json(i)?,
                    &i.livemode,
                ],
            )
            .await
            .map_err(write)?;
            if inserted != 1 {
                let blocking = query_opt(
                    &tx,
                    "SELECT id FROM interactions WHERE terminal_id = $1 AND live",
                    &[&i.terminal_id.to_string()],
                )
                .await
                .map_err(db)?;
                return match blocking {
                    Some(r) => Err(StoreError::TerminalBusy {
                        blocking: id(&r, 0)?,
                    }),
                    None => Err(StoreError::Duplicate("interaction")),
                };
            }
            insert_events(&tx, std::slice::from_ref(&create.first_event)).await?;
            webhooks::insert_messages(&tx, &create.outbox).await?
        })
    }

    /// The conditional UPDATE is the version check: a racing writer of the same interaction
    /// waits for the row lock, re-reads `last_seq` and matches nothing.
    async fn apply_transition(&self, w: &TransitionWrite) -> StoreResult<()> {
        let i = &w.interaction;
        in_tx!(self, |tx| {
            let n = exec(
                &tx,
                "UPDATE interactions SET status = $2, live = $3, last_seq = $4, updated_at = $5, body = $6
                 WHERE id = $1 AND last_seq = $7",
                &[
                    &i.id.to_string(),
                    &i.status.as_str(),
                    &!i.is_final(),
                    &seq(i.last_seq)?,
                    &i.updated_at.as_millis(),
                    &encode_json(i)?,
                    &seq(w.expected_last_seq)?,
                ],
            )
            .await
            .map_err(|e| match unique_violation(&e) {
                // Made live again while another interaction is live on the terminal.
                Some("interactions_one_live_per_terminal") => StoreError::VersionConflict {
                    entity: "interaction",
                    id: i.id.to_string(),
                },
                _ => write(e),
            })?;
            if n != 1 {
                let exists = query_opt(
                    &tx,
                    "SELECT 1 FROM interactions WHERE id = $1",
                    &[&i.id.to_string()],
                )
                .await
                .map_err(db)?;
                return Err(match exists {
                    Some(_) => StoreError::VersionConflict {
                        entity: "interaction",
                        id: i.id.to_string(),
                    },
                    None => StoreError::NotFound("interaction"),
                });
            }
            insert_events(&tx, &w.events).await?;
            if let Some(txn) = &w.transaction {
                upsert_transaction(&tx, txn).await?;
            }
            webhooks::insert_messages(&tx, &w.outbox).await?
        })
    }

    async fn get_interaction(&self, id: InteractionId) -> StoreResult<Option<Interaction>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            "SELECT body FROM interactions WHERE id = $1",
            &[&id.to_string()],
        )
        .await
        .map_err(db)?;
        row.map(|r| body(&r, 0)).transpose()
    }

    async fn list_events(
        &self,
        id: InteractionId,
        after_seq: u64,
        limit: u32,
        order: EventOrder,
    ) -> StoreResult<Vec<Event>> {
        let sql = match order {
            EventOrder::Asc => {
                "SELECT body FROM events WHERE interaction_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"
            }
            EventOrder::Desc => {
                "SELECT body FROM events WHERE interaction_id = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3"
            }
        };
        let c = self.client().await?;
        let rows = query(
            &c,
            sql,
            &[
                &id.to_string(),
                &i64::try_from(after_seq).unwrap_or(i64::MAX),
                &i64::from(limit),
            ],
        )
        .await
        .map_err(db)?;
        bodies(&rows)
    }

    async fn find_interactions(
        &self,
        merchant: MerchantId,
        f: &InteractionFilter,
    ) -> StoreResult<Vec<Interaction>> {
        let mut q = Filtered::new("SELECT body FROM interactions");
        q.push(" WHERE merchant_id = {}", merchant.to_string());
        if let Some(v) = &f.sale_id {
            q.push(" AND sale_id = {}", v.clone());
        }
        if let Some(v) = &f.service_id {
            q.push(" AND service_id = {}", v.clone());
        }
        if let Some(v) = &f.reference {
            q.push(" AND reference = {}", v.clone());
        }
        if let Some(v) = f.terminal_id {
            q.push(" AND terminal_id = {}", v.to_string());
        }
        if let Some(v) = f.status {
            q.push(" AND status = {}", v.as_str());
        }
        if let Some(v) = f.livemode {
            q.push(" AND livemode = {}", v);
        }
        if let Some(v) = f.before {
            q.push(" AND id < {}", v.to_string());
        }
        if let Some(v) = f.since {
            q.push(" AND id >= {}", v.to_string());
        }
        q.push(" ORDER BY id DESC LIMIT {}", i64::from(f.limit));
        let c = self.client().await?;
        let rows = query(&c, &q.sql, &q.params()).await.map_err(db)?;
        bodies(&rows)
    }

    async fn live_interactions(&self) -> StoreResult<Vec<Interaction>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT body FROM interactions WHERE live ORDER BY id",
            &[],
        )
        .await
        .map_err(db)?;
        bodies(&rows)
    }

    async fn get_transaction(&self, id: TransactionId) -> StoreResult<Option<Txn>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            "SELECT body FROM transactions WHERE id = $1",
            &[&id.to_string()],
        )
        .await
        .map_err(db)?;
        row.map(|r| body(&r, 0)).transpose()
    }

    async fn find_idempotency(
        &self,
        merchant: MerchantId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let c = self.client().await?;
        select_idempotency(&c, merchant, key, Some(now)).await
    }

    async fn purge_expired_idempotency(&self, now: Timestamp) -> StoreResult<u64> {
        let c = self.client().await?;
        exec(
            &c,
            "DELETE FROM idempotency WHERE expires_at <= $1",
            &[&now.as_millis()],
        )
        .await
        .map_err(db)
    }

    async fn append_outbox(&self, messages: &[OutboxMessage]) -> StoreResult<()> {
        in_tx!(self, |tx| webhooks::insert_messages(&tx, messages).await?)
    }

    async fn dispatch_outbox(&self, limit: u32, now: Timestamp) -> StoreResult<u32> {
        in_tx!(self, |tx| webhooks::dispatch(&tx, limit, now).await?)
    }

    async fn lease_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_targets: Vec<String>,
    ) -> StoreResult<Vec<DeliveryJob>> {
        in_tx!(self, |tx| webhooks::lease_due(
            &tx,
            now,
            lease_until,
            limit,
            &skip_targets
        )
        .await?)
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
        let c = self.client().await?;
        webhooks::next_due(&c).await
    }

    async fn record_attempt(&self, attempt: &AttemptRecord) -> StoreResult<()> {
        in_tx!(self, |tx| webhooks::record_attempt(&tx, attempt).await?)
    }

    async fn release_delivery_leases(&self) -> StoreResult<u64> {
        let c = self.client().await?;
        webhooks::release_leases(&c).await
    }

    async fn save_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        let c = self.client().await?;
        webhooks::save_endpoint(&c, endpoint).await
    }

    async fn get_webhook_endpoint(
        &self,
        merchant: MerchantId,
        id: WebhookEndpointId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let c = self.client().await?;
        webhooks::get_endpoint(&c, merchant, id).await
    }

    async fn list_webhook_endpoints(
        &self,
        merchant: MerchantId,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        let c = self.client().await?;
        webhooks::list_endpoints(&c, merchant).await
    }

    async fn delete_webhook_endpoint(
        &self,
        merchant: MerchantId,
        id: WebhookEndpointId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        in_tx!(self, |tx| webhooks::delete_endpoint(&tx, merchant, id, now)
            .await?)
    }

    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        filter: &DeliveryFilter,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let c = self.client().await?;
        webhooks::list_deliveries(&c, merchant, filter).await
    }

    async fn get_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> StoreResult<Option<DeliveryRecord>> {
        let c = self.client().await?;
        webhooks::get_delivery(&c, merchant, id).await
    }

    async fn redeliver(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let c = self.client().await?;
        webhooks::redeliver(&c, merchant, id, now).await
    }

    async fn apply_transaction_write(&self, write: &TransactionWrite) -> StoreResult<()> {
        in_tx!(self, |tx| money::apply(&tx, write).await?)
    }

    async fn get_operation(&self, id: OperationId) -> StoreResult<Option<Operation>> {
        let c = self.client().await?;
        money::get_operation(&c, id).await
    }

    async fn list_operations(
        &self,
        transaction: TransactionId,
        kind: Option<OperationKind>,
    ) -> StoreResult<Vec<Operation>> {
        let c = self.client().await?;
        money::list_operations(&c, transaction, kind).await
    }

    async fn pending_operations(&self) -> StoreResult<Vec<Operation>> {
        let c = self.client().await?;
        money::pending_operations(&c).await
    }

    async fn operations_between(
        &self,
        merchant: MerchantId,
        from: OperationId,
        to: OperationId,
        limit: u32,
    ) -> StoreResult<Vec<Operation>> {
        let c = self.client().await?;
        money::operations_between(&c, merchant, from, to, limit).await
    }

    async fn find_operation_idempotency(
        &self,
        merchant: MerchantId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OperationIdempotency>> {
        let c = self.client().await?;
        money::find_idempotency(&c, merchant, key, Some(now)).await
    }

    async fn list_transaction_events(
        &self,
        transaction: TransactionId,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<TransactionEvent>> {
        let c = self.client().await?;
        money::list_events(&c, transaction, after_seq, limit).await
    }

    async fn transactions_to_settle(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<Txn>> {
        let c = self.client().await?;
        money::to_settle(&c, before, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/poigate?sslmode=disable"),
            "postgres://app:***@db.example:5432/poigate?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://app@db/poigate"),
            "postgres://app@db/poigate"
        );
        assert_eq!(
            redact_url("host=/run/postgresql user=app password=s3cret dbname=poigate"),
            "host=/run/postgresql user=app password=*** dbname=poigate"
        );
    }
}
