//! The coordinator's tables, created once per database under an advisory lock (several nodes
//! starting together create them once). Versioned like the store's migrations, in a version
//! table of their own, so the store and the coordinator evolve independently.

use deadpool_postgres::Pool;

/// An arbitrary constant: the advisory lock the coordinator's migrations run under.
const MIGRATION_LOCK: i64 = 0x706f_6963_6f6f_7264; // "poicoord"

/// (version, SQL). Never edited once released; a change is a new entry.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    r#"
CREATE TABLE poigate_nodes (
    id            TEXT PRIMARY KEY,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
-- The node holding each terminal's connection; `epoch` grows on every connect.
CREATE TABLE poigate_terminal_owners (
    terminal_id   TEXT PRIMARY KEY,
    node_id       TEXT NOT NULL,
    epoch         BIGINT NOT NULL,
    connected     BOOLEAN NOT NULL,
    last_seen_at  BIGINT
);
-- Starts, cancels and revocations routed to the node that holds the terminal.
CREATE TABLE poigate_terminal_commands (
    id          BIGSERIAL PRIMARY KEY,
    node_id     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX poigate_terminal_commands_by_node ON poigate_terminal_commands (node_id, id);
-- Timers: due in the engine's clock (ms); fired once, by whoever claims them.
CREATE TABLE poigate_timers (
    key       TEXT PRIMARY KEY,
    due_at    BIGINT NOT NULL,
    set_by    TEXT NOT NULL,
    fired_by  TEXT
);
CREATE INDEX poigate_timers_unfired ON poigate_timers (due_at) WHERE fired_by IS NULL;
"#,
)];

pub(crate) async fn migrate(pool: &Pool) -> Result<(), String> {
    let mut client = pool.get().await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| e.to_string())?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS poigate_coordinator_migrations (
            version INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(|e| e.to_string())?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM poigate_coordinator_migrations",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| format!("coordinator migration {version}: {e}"))?;
        tx.execute(
            "INSERT INTO poigate_coordinator_migrations (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}
