//! The machine's own limits, measured in the same run as the gateway so that every system
//! row has a ratio that does not depend on how fast or busy today's machine is:
//! the latency of a durable write, what bare SQLite commits with `synchronous=FULL`, and what
//! a bare axum JSON handler serves through the same load generator.

use super::stats::{Samples, Summary};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Appends 4 KiB and `fdatasync`s, like a write-ahead log commit: latency per durable write.
pub fn fsync_latency(dir: &Path, run_for: Duration) -> anyhow::Result<Summary> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let block = [0x5au8; 4096];
    let mut samples = Samples::with_capacity(4096);
    let start = Instant::now();
    while start.elapsed() < run_for || samples.len() < 50 {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push_duration(t.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    samples
        .summary()
        .ok_or_else(|| anyhow::anyhow!("no fsync samples"))
}

/// Raw rusqlite, WAL, `synchronous=FULL`: transactions per second with `rows_per_txn` rows
/// each (a row the size of an interaction event). Returns rows per second.
pub fn sqlite_rows_per_second(
    dir: &Path,
    rows_per_txn: usize,
    run_for: Duration,
) -> anyhow::Result<f64> {
    let path = dir.join(format!("sqlite-probe-{rows_per_txn}.db"));
    let mut db = rusqlite::Connection::open(&path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.execute_batch(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, interaction TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL)",
    )?;
    let body = "x".repeat(240);
    let mut rows = 0u64;
    let start = Instant::now();
    while start.elapsed() < run_for || rows < 100 {
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (interaction, seq, body) VALUES ('int_0123456789abcdef', ?1, ?2)",
            )?;
            for _ in 0..rows_per_txn {
                rows += 1;
                insert.execute(rusqlite::params![rows as i64, body])?;
            }
        }
        tx.commit()?;
    }
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    drop(db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(rate)
}

/// An interaction as the gateway returns it (a real answer of `GET /v1/interactions/{id}`,
/// receipts included): the bare handler serializes the same document, so that the comparison
/// is about the gateway's work, not about the size of its answer.
const SAMPLE: &str = include_str!("sample_interaction.json");

/// `poigate-bench baseline-server`: a bare axum JSON handler on `listen`, on the same
/// runtime the gateway uses. Prints `listening on ADDR` once it accepts connections.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    use axum::routing::get;
    let sample: Arc<poigate_api::InteractionView> = Arc::new(serde_json::from_str(SAMPLE)?);
    let app = axum::Router::new().route(
        "/v1/interactions/{id}",
        get(move || {
            let sample = sample.clone();
            async move { axum::Json((*sample).clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    // As the gateway serves its router: one `Arc` clone per connection.
    axum::serve(listener, app.into_make_service()).await?;
    Ok(())
}
