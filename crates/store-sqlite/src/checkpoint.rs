//! Checkpoints of the write-ahead log, away from the writer thread.
//!
//! By default SQLite checkpoints inside the commit that crosses 1,000 WAL pages: that commit
//! copies the pages into the database and fsyncs it, and every write queued behind it waits
//! for that fsync — milliseconds on a busy disk. Here the writer connection never
//! checkpoints; this thread does, PASSIVE (it never blocks the writer or readers), every
//! [`CHECKPOINT_EVERY`], on its own connection: small, frequent checkpoints instead of a
//! large one inside a commit. It stops when the store is dropped.

use rusqlite::Connection;
use std::sync::mpsc;
use std::time::Duration;

/// How often the WAL is copied back into the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Stops the checkpointer when dropped (with the store).
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    pub fn spawn(conn: Connection) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("poigate-sqlite-checkpoint".into())
            .spawn(move || run(conn, stopped))?;
        Ok(Checkpointer { _stop: stop })
    }
}

fn run(conn: Connection, stopped: mpsc::Receiver<()>) {
    // Every tick, and once more on the way out so a clean stop leaves a small WAL.
    loop {
        let tick = stopped.recv_timeout(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries");
        }
        if !matches!(tick, Err(mpsc::RecvTimeoutError::Timeout)) {
            return;
        }
    }
}
