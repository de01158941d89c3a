//! Versioned migrations, applied at start-up in ONE transaction under an advisory lock.
//!
//! `schema_migrations` records every applied version. A migration is never edited once
//! released: a change to the schema is a new entry at the end of [`MIGRATIONS`], and it must
//! leave the schema usable by the previous release (rolling upgrades run both for a while).
//!
//! Several nodes starting together on one empty database migrate once: each takes
//! `pg_advisory_xact_lock(MIGRATION_LOCK)` first, so the others wait, then see the versions
//! the first one applied and apply nothing. The lock is a transaction-level one, so it goes
//! away with the transaction even when the node dies half-way (and PostgreSQL's DDL is
//! transactional: a half-applied migration rolls back whole).
//!
//! Version 1 is the SQLite schema as it stands after SQLite's migration 6, translated:
//! PostgreSQL had no released schema before it, so it starts from the final shape.

use crate::error::db;
use deadpool_postgres::Object;
use poigate_store::StoreResult;

/// The advisory-lock key every node takes before migrating ("poigate" and 1 in ASCII).
pub const MIGRATION_LOCK: i64 = 0x706f_6967_6174_6501;

/// (version, SQL). Versions start at 1 and have no gaps.
///
/// Conventions (see docs/design-notes.md, "PostgreSQL schema"):
/// - ids are `text COLLATE "C"`: pages go by `id < $before ORDER BY id DESC`, which must be
///   byte order (ids are time-ordered text), whatever the database's default collation;
/// - timestamps are `bigint` milliseconds since the epoch, as in SQLite, so both backends
///   compare and round-trip them the same;
/// - bodies are `text` holding the JSON of [`poigate_store::rows`] types, byte for byte what
///   the codec wrote (not `jsonb`: SQL never reads inside a body at run time, every field a
///   query filters on has its own column);
/// - constraints are named, because a unique violation (SQLSTATE 23505) is translated into a
///   [`poigate_store::StoreError`] by the constraint's name (`crate::error`).
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE merchants (
    id          text COLLATE "C" NOT NULL,
    name        text NOT NULL,
    created_at  bigint NOT NULL,
    CONSTRAINT merchants_pkey PRIMARY KEY (id)
);
CREATE INDEX merchants_by_name ON merchants (name, id);

CREATE TABLE api_keys (
    id              text COLLATE "C" NOT NULL,
    merchant_id     text COLLATE "C" NOT NULL REFERENCES merchants (id),
    mode            text NOT NULL,
    secret_hash     bytea NOT NULL,
    display_prefix  text NOT NULL,
    label           text,
    created_at      bigint NOT NULL,
    revoked_at      bigint,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_secret_hash_key UNIQUE (secret_hash)
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, id);

CREATE TABLE settings (
    name   text NOT NULL,
    value  text NOT NULL,
    CONSTRAINT settings_pkey PRIMARY KEY (name)
);

CREATE TABLE terminals (
    id             text COLLATE "C" NOT NULL,
    merchant_id    text COLLATE "C" NOT NULL REFERENCES merchants (id),
    serial_number  text NOT NULL,
    model          text NOT NULL,
    poiid          text NOT NULL,
    label          text,
    kind           text NOT NULL,
    connection     text NOT NULL,
    created_at     bigint NOT NULL,
    CONSTRAINT terminals_pkey PRIMARY KEY (id),
    -- A serial number is unique per merchant.
    CONSTRAINT terminals_merchant_serial_key UNIQUE (merchant_id, serial_number)
);
CREATE INDEX terminals_by_poiid ON terminals (merchant_id, poiid);

-- Pairing codes and device keys: the SHA-256 of the secret only. Looked up by hash.
CREATE TABLE device_credentials (
    secret_hash  bytea NOT NULL,
    terminal_id  text COLLATE "C" NOT NULL REFERENCES terminals (id),
    kind         text NOT NULL,
    created_at   bigint NOT NULL,
    expires_at   bigint,
    used_at      bigint,
    revoked_at   bigint,
    CONSTRAINT device_credentials_pkey PRIMARY KEY (secret_hash)
);
CREATE INDEX device_credentials_by_terminal ON device_credentials (terminal_id, kind);

-- One row per interaction: indexed columns for lookups, the whole object in `body`.
CREATE TABLE interactions (
    id           text COLLATE "C" NOT NULL,
    merchant_id  text COLLATE "C" NOT NULL REFERENCES merchants (id),
    terminal_id  text COLLATE "C" NOT NULL REFERENCES terminals (id),
    status       text NOT NULL,
    live         boolean NOT NULL,
    reference    text,
    sale_id      text,
    service_id   text,
    last_seq     bigint NOT NULL,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,
    body         text NOT NULL,
    CONSTRAINT interactions_pkey PRIMARY KEY (id)
);
-- The busy rule, enforced by the database: at most one live interaction per terminal.
CREATE UNIQUE INDEX interactions_one_live_per_terminal ON interactions (terminal_id) WHERE live;
CREATE INDEX interactions_live ON interactions (id) WHERE live;
CREATE INDEX interactions_by_merchant ON interactions (merchant_id, id);
CREATE INDEX interactions_by_sale ON interactions (merchant_id, sale_id, id);
CREATE INDEX interactions_by_service ON interactions (merchant_id, service_id, id);
CREATE INDEX interactions_by_reference ON interactions (merchant_id, reference, id);
CREATE INDEX interactions_by_terminal ON interactions (terminal_id, id);

CREATE TABLE events (
    interaction_id  text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL,
    type            text NOT NULL,
    created_at      bigint NOT NULL,
    body            text NOT NULL,
    -- Two writers appending the same seq: the second is a version conflict.
    CONSTRAINT events_pkey PRIMARY KEY (interaction_id, seq)
);

CREATE TABLE transactions (
    id              text COLLATE "C" NOT NULL,
    merchant_id     text COLLATE "C" NOT NULL REFERENCES merchants (id),
    interaction_id  text COLLATE "C" NOT NULL,
    condition       text NOT NULL,
    last_seq        bigint NOT NULL,
    captured_at     bigint,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL,
    body            text NOT NULL,
    CONSTRAINT transactions_pkey PRIMARY KEY (id)
);
CREATE INDEX transactions_by_merchant ON transactions (merchant_id, id);
CREATE INDEX transactions_by_interaction ON transactions (interaction_id);
CREATE INDEX transactions_to_settle ON transactions (condition, captured_at);

-- Idempotency records: header keys and natural keys (sale_id, service_id), one per
-- (merchant, key), so two nodes racing the same create admit one.
CREATE TABLE idempotency (
    merchant_id     text COLLATE "C" NOT NULL,
    key             text NOT NULL,
    fingerprint     bytea NOT NULL,
    interaction_id  text COLLATE "C" NOT NULL,
    response        text NOT NULL,
    created_at      bigint NOT NULL,
    expires_at      bigint NOT NULL,
    CONSTRAINT idempotency_pkey PRIMARY KEY (merchant_id, key)
);
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

CREATE TABLE operations (
    id              text COLLATE "C" NOT NULL,
    transaction_id  text COLLATE "C" NOT NULL REFERENCES transactions (id),
    merchant_id     text COLLATE "C" NOT NULL,
    kind            text NOT NULL,
    status          text NOT NULL,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL,
    body            text NOT NULL,
    CONSTRAINT operations_pkey PRIMARY KEY (id)
);
CREATE INDEX operations_by_transaction ON operations (transaction_id, id);
CREATE INDEX operations_pending ON operations (id) WHERE status = 'pending';

CREATE TABLE transaction_events (
    transaction_id  text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL,
    type            text NOT NULL,
    created_at      bigint NOT NULL,
    body            text NOT NULL,
    CONSTRAINT transaction_events_pkey PRIMARY KEY (transaction_id, seq)
);

CREATE TABLE operation_idempotency (
    merchant_id   text COLLATE "C" NOT NULL,
    key           text NOT NULL,
    fingerprint   bytea NOT NULL,
    operation_id  text COLLATE "C" NOT NULL,
    response      text,
    created_at    bigint NOT NULL,
    expires_at    bigint NOT NULL,
    CONSTRAINT operation_idempotency_pkey PRIMARY KEY (merchant_id, key)
);

-- Webhook endpoints of a merchant (kind 'endpoint'), and one hidden record per merchant
-- (kind 'callbacks') holding the secret that signs per-interaction callbacks.
CREATE TABLE webhook_endpoints (
    id           text COLLATE "C" NOT NULL,
    merchant_id  text COLLATE "C" NOT NULL REFERENCES merchants (id),
    kind         text NOT NULL,
    enabled      boolean NOT NULL,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,
    body         text NOT NULL,
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id)
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id, kind);

-- The outbox: one row per event occurrence, written with the state change that caused it.
CREATE TABLE webhook_messages (
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    id           text COLLATE "C" NOT NULL,
    merchant_id  text COLLATE "C" NOT NULL,
    type         text NOT NULL,
    subject_id   text NOT NULL,
    dispatched   boolean NOT NULL DEFAULT false,
    created_at   bigint NOT NULL,
    body         text NOT NULL,
    CONSTRAINT webhook_messages_pkey PRIMARY KEY (seq),
    CONSTRAINT webhook_messages_id_key UNIQUE (id)
);
CREATE INDEX webhook_messages_undispatched ON webhook_messages (seq) WHERE NOT dispatched;

-- One row per (message, target).
CREATE TABLE webhook_deliveries (
    id               text COLLATE "C" NOT NULL,
    message_seq      bigint NOT NULL REFERENCES webhook_messages (seq),
    merchant_id      text COLLATE "C" NOT NULL,
    endpoint_id      text COLLATE "C",
    url              text NOT NULL,
    target_key       text NOT NULL,
    subject_id       text NOT NULL,
    type             text NOT NULL,
    status           text NOT NULL,
    attempts         bigint NOT NULL DEFAULT 0,
    retry_from       bigint NOT NULL DEFAULT 0,
    next_attempt_at  bigint,
    leased_until     bigint,
    last_error       text,
    format           text,
    created_at       bigint NOT NULL,
    updated_at       bigint NOT NULL,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (target_key, subject_id, message_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_merchant ON webhook_deliveries (merchant_id, id);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, status);

CREATE TABLE webhook_attempts (
    delivery_id  text COLLATE "C" NOT NULL,
    attempt      bigint NOT NULL,
    started_at   bigint NOT NULL,
    status_code  integer,
    latency_ms   bigint NOT NULL,
    error        text,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, attempt)
);
"#,
    ),
    (
        2,
        r#"
-- Keys and merchants over HTTP (SQLite migration 7): a disabled merchant's keys stop
-- working; when a key was last used (written at most once a minute per node); the platform
-- operator's admin keys, stored as SHA-256 only.
ALTER TABLE merchants ADD COLUMN disabled_at bigint;
ALTER TABLE api_keys ADD COLUMN last_used_at bigint;
CREATE TABLE admin_keys (
    id              text COLLATE "C" NOT NULL,
    secret_hash     bytea NOT NULL,
    display_prefix  text NOT NULL,
    created_at      bigint NOT NULL,
    revoked_at      bigint,
    CONSTRAINT admin_keys_pkey PRIMARY KEY (id),
    CONSTRAINT admin_keys_secret_hash_key UNIQUE (secret_hash)
);
"#,
    ),
    (
        3,
        r#"
-- Idempotency keys are stored as their SHA-256 (hex), never in clear: a careless client may
-- put anything into an Idempotency-Key (track data was seen), and it stays for a day. The
-- same digest as poigate_store::idempotency_digest (PostgreSQL 11+ has sha256()).
-- Interaction keys were stored as `h:<key>` / `n:…`, operation keys as the key itself; the
-- operation record kept a copy in its body (this rewrite is the one time SQL reads a body).
UPDATE idempotency SET key = encode(sha256(convert_to(key, 'UTF8')), 'hex');
UPDATE operation_idempotency SET key = encode(sha256(convert_to(key, 'UTF8')), 'hex');
UPDATE operations
   SET body = jsonb_set(
           body::jsonb, '{idempotency_key}',
           to_jsonb(encode(sha256(convert_to(body::jsonb->>'idempotency_key', 'UTF8')), 'hex'))
       )::text
 WHERE body::jsonb->>'idempotency_key' IS NOT NULL;
"#,
    ),
    (
        4,
        r#"
-- Live and test separation (SQLite migration 9): the mode of terminals, interactions,
-- transactions, webhook endpoints, outbox messages and deliveries, so that every list a key
-- reads is filtered by its mode in the query and the outbox fans a message out only to
-- endpoints of its mode. Rows written before are test.
ALTER TABLE terminals ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE interactions ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE transactions ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE webhook_endpoints ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE webhook_messages ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE webhook_deliveries ADD COLUMN livemode boolean NOT NULL DEFAULT false;
"#,
    ),
    (
        5,
        r#"
-- An API key's default terminal (SQLite migration 10): used by dialects whose documented
-- requests name no terminal (CM.com's create body), so one POS lane = one key = one terminal.
ALTER TABLE api_keys ADD COLUMN default_terminal text COLLATE "C";
"#,
    ),
    (
        6,
        r#"
-- Webhook delivery throughput (SQLite migration 11): leasing reads due deliveries in
-- (next_attempt_at, message_seq) order with a LIMIT, which this index serves without
-- sorting every due delivery; the next due time is the smaller of the earliest unleased
-- next_attempt_at and the earliest lease end, one index probe each.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, message_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (leased_until) WHERE status = 'pending' AND leased_until IS NOT NULL;
"#,
    ),
];

/// Applies every migration the database lacks, in one transaction under the advisory lock;
/// returns the newest version the database has.
pub async fn migrate(client: &mut Object) -> StoreResult<i32> {
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     integer NOT NULL PRIMARY KEY,
             applied_at  timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(db)?;
    let row = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(db)?;
    let current: i32 = row.try_get(0).map_err(db)?;
    let mut newest = current;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(db)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(db)?;
        newest = *version;
        tracing::info!(version, "applied database migration");
    }
    tx.commit().await.map_err(db)?;
    if current > MIGRATIONS.len() as i32 {
        tracing::warn!(
            database = current,
            known = MIGRATIONS.len(),
            "the database schema is newer than this release (a rolling upgrade in progress?)"
        );
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_contiguous_from_one() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v as usize, i + 1);
        }
    }
}
