//! Versioned migrations, applied in order at start-up inside one transaction each.
//!
//! `PRAGMA user_version` records the newest applied version. A migration is never edited
//! once released: a change to the schema is a new entry at the end of [`MIGRATIONS`].

use rusqlite::Connection;

/// (version, SQL). Versions start at 1 and have no gaps.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX merchants_by_name ON merchants(name);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants(id),
    mode            TEXT NOT NULL,
    secret_hash     BLOB NOT NULL UNIQUE,
    display_prefix  TEXT NOT NULL,
    label           TEXT,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);
CREATE INDEX api_keys_by_merchant ON api_keys(merchant_id);

CREATE TABLE terminals (
    id             TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants(id),
    serial_number  TEXT NOT NULL,
    model          TEXT NOT NULL,
    poiid          TEXT NOT NULL,
    label          TEXT,
    kind           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (merchant_id, serial_number)
);
CREATE INDEX terminals_by_poiid ON terminals(merchant_id, poiid);

-- One row per interaction: indexed columns for lookups, the whole domain object in `body`.
CREATE TABLE interactions (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchants(id),
    terminal_id  TEXT NOT NULL REFERENCES terminals(id),
    status       TEXT NOT NULL,
    live         INTEGER NOT NULL,
    reference    TEXT,
    sale_id      TEXT,
    service_id   TEXT,
    last_seq     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    body         TEXT NOT NULL
);
-- The busy rule, enforced by the database: at most one live interaction per terminal.
CREATE UNIQUE INDEX interactions_one_live_per_terminal ON interactions(terminal_id) WHERE live = 1;
CREATE INDEX interactions_by_merchant ON interactions(merchant_id, id);
CREATE INDEX interactions_by_sale ON interactions(merchant_id, sale_id, service_id);
CREATE INDEX interactions_by_reference ON interactions(merchant_id, reference);
CREATE INDEX interactions_by_terminal ON interactions(terminal_id, id);

CREATE TABLE events (
    interaction_id  TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    type            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (interaction_id, seq)
) WITHOUT ROWID;

CREATE TABLE transactions (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants(id),
    interaction_id  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX transactions_by_merchant ON transactions(merchant_id, id);
CREATE INDEX transactions_by_interaction ON transactions(interaction_id);

CREATE TABLE idempotency (
    merchant_id     TEXT NOT NULL,
    key             TEXT NOT NULL,
    fingerprint     BLOB NOT NULL,
    interaction_id  TEXT NOT NULL,
    response        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_expiry ON idempotency(expires_at);
"#,
    ),
    (
        2,
        r#"
-- Webhook endpoints of a merchant (kind 'endpoint'), and one hidden record per merchant
-- (kind 'callbacks') holding the secret that signs per-interaction callbacks.
CREATE TABLE webhook_endpoints (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchants(id),
    kind         TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints(merchant_id, kind);

-- The outbox: one row per event occurrence, written with the state change that caused it.
CREATE TABLE webhook_messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    merchant_id  TEXT NOT NULL,
    type         TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    dispatched   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX webhook_messages_undispatched ON webhook_messages(seq) WHERE dispatched = 0;

-- One row per (message, target).
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    message_seq      INTEGER NOT NULL REFERENCES webhook_messages(seq),
    merchant_id      TEXT NOT NULL,
    endpoint_id      TEXT,
    url              TEXT NOT NULL,
    target_key       TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    type             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    retry_from       INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    leased_until     INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries(target_key, subject_id, message_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_merchant ON webhook_deliveries(merchant_id, id);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, status);

CREATE TABLE webhook_attempts (
    delivery_id  TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    error        TEXT,
    PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;
"#,
    ),
    (
        3,
        r#"
-- Money after the sale: follow-up operations, transaction events, settlement.
ALTER TABLE transactions ADD COLUMN condition TEXT NOT NULL DEFAULT '';
ALTER TABLE transactions ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN captured_at INTEGER;
UPDATE transactions SET condition = json_extract(body, '$.condition'),
    captured_at = CASE WHEN json_extract(body, '$.captured_amount') > 0 THEN created_at END;
CREATE INDEX transactions_to_settle ON transactions(condition, captured_at);

CREATE TABLE operations (
    id              TEXT PRIMARY KEY,
    transaction_id  TEXT NOT NULL REFERENCES transactions(id),
    merchant_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX operations_by_transaction ON operations(transaction_id, id);
CREATE INDEX operations_pending ON operations(status) WHERE status = 'pending';

CREATE TABLE transaction_events (
    transaction_id  TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    type            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (transaction_id, seq)
) WITHOUT ROWID;

CREATE TABLE operation_idempotency (
    merchant_id   TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   BLOB NOT NULL,
    operation_id  TEXT NOT NULL,
    response      TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key)
) WITHOUT ROWID;
"#,
    ),
    (
        4,
        r#"
-- Payload formats of deliveries (a provider dialect's, or the native envelope when NULL).
ALTER TABLE webhook_deliveries ADD COLUMN format TEXT;

-- Gateway-wide settings (e.g. the key signing OAuth access tokens).
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"#,
    ),
    (
        5,
        r#"
-- Terminal link (issue 3): how each terminal is reached, and its device credentials.
ALTER TABLE terminals ADD COLUMN connection TEXT NOT NULL DEFAULT 'in_process';
UPDATE terminals SET connection = 'link' WHERE kind = 'device';

-- Pairing codes and device keys: the SHA-256 of the secret only. Looked up by hash.
CREATE TABLE device_credentials (
    secret_hash  BLOB PRIMARY KEY,
    terminal_id  TEXT NOT NULL REFERENCES terminals(id),
    kind         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    used_at      INTEGER,
    revoked_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX device_credentials_by_terminal ON device_credentials(terminal_id, kind);
"#,
    ),
    (
        6,
        r#"
-- Lookups by the POS's own identifiers are newest first: with `id` in the index SQLite
-- finds them by the identifier and reads them in order, instead of walking every one of the
-- merchant's interactions by id (the benchmark showed lookup by reference at 5% of a
-- bare read with a few thousand interactions).
DROP INDEX interactions_by_sale;
DROP INDEX interactions_by_reference;
CREATE INDEX interactions_by_sale ON interactions(merchant_id, sale_id, id);
CREATE INDEX interactions_by_service ON interactions(merchant_id, service_id, id);
CREATE INDEX interactions_by_reference ON interactions(merchant_id, reference, id);
"#,
    ),
    (
        7,
        r#"
-- Keys and merchants over HTTP (issue 12): a disabled merchant's keys are refused; when a
-- key was last used (to the minute); platform admin keys (SHA-256 of the secret only).
ALTER TABLE merchants ADD COLUMN disabled_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
CREATE TABLE admin_keys (
    id              TEXT PRIMARY KEY,
    secret_hash     BLOB NOT NULL UNIQUE,
    display_prefix  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);
"#,
    ),
    (
        8,
        r#"
-- Idempotency keys are stored as their SHA-256 (hex), never in clear: a careless client may
-- put anything into an Idempotency-Key (track data was seen), and it stays for a day.
-- poigate_sha256_hex is registered by `migrate` (the same digest as
-- poigate_store::idempotency_digest). Interaction keys were stored as `h:<key>` / `n:…`,
-- operation keys as the key itself; the operation record kept a copy in its body.
UPDATE idempotency SET key = poigate_sha256_hex(key);
UPDATE operation_idempotency SET key = poigate_sha256_hex(key);
UPDATE operations
   SET body = json_set(body, '$.idempotency_key',
                       poigate_sha256_hex(json_extract(body, '$.idempotency_key')))
 WHERE json_extract(body, '$.idempotency_key') IS NOT NULL;
"#,
    ),
    (
        9,
        r#"
-- Live and test separation (issue 12): the mode of terminals, interactions, transactions,
-- webhook endpoints, outbox messages and deliveries, so that every list a key reads is
-- filtered by its mode in the query and the outbox fans a message out only to endpoints of
-- its mode. Rows written before are test (the demo and every earlier key were test).
ALTER TABLE terminals ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE interactions ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_messages ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
"#,
    ),
    (
        10,
        r#"
-- An API key's default terminal (issue 14): used by dialects whose documented requests
-- name no terminal (CM.com's create body), so one POS lane = one key = one terminal.
ALTER TABLE api_keys ADD COLUMN default_terminal TEXT;
"#,
    ),
    (
        11,
        r#"
-- Webhook delivery throughput (issue 17). The worker leases due deliveries in
-- (next_attempt_at, message_seq) order with a LIMIT: with `message_seq` in the index SQLite
-- walks it in that order and stops after LIMIT rows, where an index on next_attempt_at
-- alone made every lease read, check and sort every due delivery (the profile's largest
-- cost with a few thousand queued). When the next delivery falls due is the smaller of the
-- earliest unleased next_attempt_at (this index) and the earliest lease end (the second
-- one), each one index probe instead of a scan of every pending delivery.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at, message_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries(leased_until) WHERE status = 'pending' AND leased_until IS NOT NULL;
"#,
    ),
];

/// Applies every migration newer than the database's `user_version`.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<u32> {
    register_digest(conn)?;
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut applied = current;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        applied = *version;
        tracing::info!(version, "applied database migration");
    }
    Ok(applied)
}

/// `poigate_sha256_hex(text)`: the idempotency-key digest, for migration 8.
fn register_digest(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "poigate_sha256_hex",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let key: String = ctx.get(0)?;
            Ok(poigate_store::idempotency_digest(&key))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_7_replaces_clear_idempotency_keys_with_their_digests() {
        let mut conn = Connection::open_in_memory().expect("open");
        for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= 6) {
            conn.execute_batch(sql).expect("old migration");
            conn.pragma_update(None, "user_version", v)
                .expect("version");
        }
        conn.execute_batch(
            r#"PRAGMA foreign_keys = OFF;
               INSERT INTO idempotency VALUES ('mer_1', 'h:;4111111111111111=2512101?', x'00', 'int_1', '{}', 1, 2);
               INSERT INTO operation_idempotency VALUES ('mer_1', 'refund-key', x'00', 'op_1', NULL, 1, 2);
               INSERT INTO operations VALUES ('op_1', 'txn_1', 'mer_1', 'refund', 'pending', 1, 1, '{"id":"op_1","idempotency_key":"refund-key"}');"#,
        )
        .expect("clear rows");
        migrate(&mut conn).expect("migrate");
        let key: String = conn
            .query_row("SELECT key FROM idempotency", [], |r| r.get(0))
            .expect("key");
        assert_eq!(
            key,
            poigate_store::IdempotencyKey::Header(";4111111111111111=2512101?".into())
                .storage_key()
        );
        let op_key: String = conn
            .query_row("SELECT key FROM operation_idempotency", [], |r| r.get(0))
            .expect("op key");
        assert_eq!(op_key, poigate_store::idempotency_digest("refund-key"));
        let body: String = conn
            .query_row("SELECT body FROM operations", [], |r| r.get(0))
            .expect("body");
        assert!(
            !body.contains("refund-key") && body.contains(&op_key),
            "{body}"
        );
    }

    #[test]
    fn versions_are_contiguous_from_one() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v as usize, i + 1);
        }
    }

    /// Lookups by the POS's identifiers must use their index, whatever the history size.
    #[test]
    fn lookups_by_pos_identifiers_use_an_index_in_id_order() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("migrate");
        for (filter, index) in [
            ("reference = ?", "interactions_by_reference"),
            ("sale_id = ?", "interactions_by_sale"),
            ("service_id = ?", "interactions_by_service"),
            ("sale_id = ? AND service_id = ?", "interactions_by_s"),
        ] {
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT body FROM interactions WHERE merchant_id = ? AND {filter} ORDER BY id DESC LIMIT ?"
            );
            let mut stmt = conn.prepare(&sql).expect("prepare");
            let n = stmt.parameter_count();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(vec!["x"; n]), |r| r.get(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            let plan = plan.join("; ");
            assert!(plan.contains(index), "{filter}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{filter} sorts: {plan}");
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().expect("open");
        let v1 = migrate(&mut conn).expect("first");
        let v2 = migrate(&mut conn).expect("second");
        assert_eq!(v1, v2);
        assert_eq!(v1, MIGRATIONS.len() as u32);
    }
}
