//! The single writer thread with group commit.
//!
//! SQLite allows one writer at a time; rather than let many threads fight over the write
//! lock, one thread owns the write connection. Callers send closures; the thread takes the
//! first queued job, drains whatever else is queued (up to a batch limit), runs them all in
//! ONE `BEGIN IMMEDIATE … COMMIT` — each inside its own savepoint, so one failing job rolls
//! back only itself — and answers every caller after the commit is durable. Under load this
//! turns N fsyncs into one, which is the whole point (design section 8).

use poigate_store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Called once the batch's fate is known: `Ok` when committed, the commit error otherwise.
type Finisher = Box<dyn FnOnce(StoreResult<()>) + Send>;
/// Runs inside the batch transaction; says whether it succeeded (to keep or roll back its
/// savepoint) and how to deliver its result.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Finisher) + Send>;

/// Handle to the writer thread. Cloning shares the same thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`, committing at most `max_batch` jobs at once.
    pub fn spawn(conn: Connection, max_batch: usize) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("poigate-sqlite-writer".into())
            .spawn(move || run(conn, rx, max_batch.max(1)))?;
        Ok(Writer { jobs: tx })
    }

    /// Runs `f` in the next batch and returns its result once the batch is committed.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let finish: Finisher = Box::new(move |commit| {
                let _ = tx.send(commit.and(result));
            });
            (ok, finish)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the database writer dropped a request".into()))?
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch);
    }
    tracing::debug!("sqlite writer stopped: all handles dropped");
}

/// Runs one statement of the batch's bracket (BEGIN, SAVEPOINT, RELEASE, COMMIT …) from the
/// statement cache: parsing them anew for every job cost more than some jobs' own work.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        let err = StoreError::Unavailable(format!("cannot begin a write transaction: {e}"));
        fail_all(conn, batch, err);
        return;
    }
    let mut finishers = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = run_cached(conn, "SAVEPOINT job") {
            tracing::error!(error = %e, "cannot open a savepoint");
            let _ = conn.execute_batch("ROLLBACK");
            let err = StoreError::Unavailable(format!("cannot open a savepoint: {e}"));
            for f in finishers {
                let f: Finisher = f;
                f(Err(err.clone()));
            }
            // The job itself never ran; it is dropped, which errors its caller.
            return;
        }
        let (ok, finish) = job(conn);
        let end = if ok {
            run_cached(conn, "RELEASE job")
        } else {
            run_cached(conn, "ROLLBACK TO job").and_then(|()| run_cached(conn, "RELEASE job"))
        };
        if let Err(e) = end {
            tracing::error!(error = %e, "cannot close a savepoint");
        }
        finishers.push(finish);
    }
    let outcome = match run_cached(conn, "COMMIT") {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "commit failed; rolling back the batch");
            let _ = conn.execute_batch("ROLLBACK");
            Err(StoreError::Unavailable(format!("commit failed: {e}")))
        }
    };
    for finish in finishers {
        finish(outcome.clone());
    }
}

fn fail_all(conn: &Connection, batch: Vec<Job>, err: StoreError) {
    // Run nothing: each job's result channel is dropped with the job, which the caller
    // sees as an error. Roll back in case BEGIN half-happened.
    let _ = conn.execute_batch("ROLLBACK");
    tracing::error!(error = %err, jobs = batch.len(), "write batch failed");
    drop(batch);
}
