//! The single writer thread with group commit.
//!
//! SQLite allows one writer at a time; rather than let many threads fight over the write
//! lock, one thread owns the write connection. Callers send closures; the thread takes the
//! first queued job, drains whatever else is queued (up to a batch limit), runs them all in
//! ONE `BEGIN IMMEDIATE … COMMIT` — each inside its own savepoint, so one failing job rolls
//! back only itself — and answers every caller after the commit is durable. Under load this
//! turns N fsyncs into one, which is the whole point (design section 8).
//!
//! Some writes need no fsync of their own: a webhook delivery's lease, which the next start
//! releases anyway, so losing it to a power cut changes nothing. Those are queued with
//! [`Writer::write_relaxed`]; the thread commits the relaxed jobs of a batch first, in their
//! own transaction at `synchronous=NORMAL` (in WAL mode: no fsync at commit; the next
//! durable commit's fsync covers them, as the WAL is written in order), then the others at the
//! configured level. A lease then costs no disk flush and does not wait behind the attempts'
//! group commit for its own.
//!
//! The thread must outlive any one bad job, because every write of the process goes through
//! it: a job that panics is caught, fails with an error, and its savepoint is rolled back
//! like any failed job's. The queue is bounded so that a stalled disk turns into clear
//! `Unavailable` errors after [`WriterLimits::enqueue_timeout`] instead of unbounded memory
//! and callers that hang forever.

use poigate_store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Called once the batch's fate is known: `Ok` when committed, the commit error otherwise.
type Finisher = Box<dyn FnOnce(StoreResult<()>) + Send>;
type Job = Box<dyn WriteJob>;

/// One queued write.
trait WriteJob: Send {
    /// Runs inside the batch transaction; says whether it succeeded (to keep or roll back
    /// its savepoint) and how to deliver its result once the batch's fate is known.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Finisher);
    /// The batch failed before this job ran: tell its caller why.
    fn fail(self: Box<Self>, err: StoreError);
    /// Whether its commit may skip the fsync ([`Writer::write_relaxed`]).
    fn relaxed(&self) -> bool;
}

/// A caller's closure and where its answer goes.
struct Pending<F, T> {
    f: F,
    answer: oneshot::Sender<StoreResult<T>>,
    relaxed: bool,
}

impl<F, T> WriteJob for Pending<F, T>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Finisher) {
        let Pending { f, answer, .. } = *self;
        let result = catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or_else(|panic| {
            let why = panic_message(panic.as_ref());
            tracing::error!(panic = %why, "a write job panicked; it is rolled back");
            Err(StoreError::Unavailable(format!(
                "a database write failed unexpectedly (it was rolled back): {why}"
            )))
        });
        let ok = result.is_ok();
        let finish: Finisher = Box::new(move |commit| {
            let _ = answer.send(commit.and(result));
        });
        (ok, finish)
    }

    fn fail(self: Box<Self>, err: StoreError) {
        let _ = self.answer.send(Err(err));
    }

    fn relaxed(&self) -> bool {
        self.relaxed
    }
}

/// How much the writer queues and how long a caller waits for room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterLimits {
    /// Most jobs committed in one transaction.
    pub max_batch: usize,
    /// Most jobs waiting for the writer; further callers wait for room.
    pub queue_capacity: usize,
    /// How long a caller waits for room in a full queue before it gets `Unavailable`.
    pub enqueue_timeout: Duration,
}

impl Default for WriterLimits {
    fn default() -> Self {
        WriterLimits {
            max_batch: 512,
            queue_capacity: 4096,
            enqueue_timeout: Duration::from_secs(5),
        }
    }
}

/// Handle to the writer thread. Cloning shares the same thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    enqueue_timeout: Duration,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn spawn(conn: Connection, limits: WriterLimits) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>(limits.queue_capacity.max(1));
        let max_batch = limits.max_batch.max(1);
        std::thread::Builder::new()
            .name("poigate-sqlite-writer".into())
            .spawn(move || run(conn, rx, max_batch, limits.queue_capacity.max(1)))?;
        Ok(Writer {
            jobs: tx,
            enqueue_timeout: limits.enqueue_timeout,
        })
    }

    /// Runs `f` in the next batch and returns its result once the batch is committed.
    ///
    /// Fails with `Unavailable` when the queue stays full for the enqueue timeout, when
    /// the writer has stopped, or when `f` panics (its changes are rolled back).
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.enqueue(f, false).await
    }

    /// Like [`write`](Self::write), but answers once the change is committed and visible,
    /// without waiting for it to reach the disk: a power cut may undo it (a process crash
    /// does not), together with nothing that was committed durably after it. Only for
    /// changes whose loss is harmless — a delivery lease, released at start-up anyway.
    pub async fn write_relaxed<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.enqueue(f, true).await
    }

    async fn enqueue<T, F>(&self, f: F, relaxed: bool) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (answer, rx) = oneshot::channel();
        let job: Job = Box::new(Pending { f, answer, relaxed });
        match tokio::time::timeout(self.enqueue_timeout, self.jobs.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return Err(StoreError::Unavailable(
                    "the database writer has stopped".into(),
                ));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "write queue full: the database writer has not taken a job for {} ms",
                    self.enqueue_timeout.as_millis()
                )));
            }
        }
        rx.await
            .map_err(|_| StoreError::Unavailable("the database writer dropped a request".into()))?
    }
}

/// The text of a panic payload (`panic!("…")` gives a `&str` or a `String`).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// The connection's `synchronous` level (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA), switched per
/// transaction between the configured one and at most NORMAL for relaxed jobs. SQLite
/// refuses the change inside a transaction, so it happens between batches only.
struct SyncLevel {
    durable: i64,
    current: i64,
}

impl SyncLevel {
    fn read(conn: &Connection) -> SyncLevel {
        // Unreadable: assume FULL, so that nothing is ever committed with less than asked.
        let durable = conn
            .query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))
            .unwrap_or(2);
        SyncLevel {
            durable,
            current: durable,
        }
    }

    /// Sets the level for the next transaction; `false` if SQLite refused (the caller then
    /// commits the jobs durably instead).
    fn set(&mut self, conn: &Connection, relaxed: bool) -> bool {
        let want = if relaxed {
            self.durable.min(1)
        } else {
            self.durable
        };
        if want == self.current {
            return true;
        }
        match conn.pragma_update(None, "synchronous", want) {
            Ok(()) => {
                self.current = want;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot change the synchronous level");
                false
            }
        }
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Job>, max_batch: usize, capacity: usize) {
    let mut level = SyncLevel::read(&conn);
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // What is still queued behind this batch: near the capacity, callers are about to
        // wait for room (and then get `Unavailable`).
        metrics::gauge!("poigate_store_writer_queue_depth").set(rx.len() as f64);
        metrics::gauge!("poigate_store_writer_queue_capacity").set(capacity as f64);
        metrics::histogram!("poigate_store_writer_batch_size").record(batch.len() as f64);
        let started = std::time::Instant::now();
        commit_split(&conn, &mut level, batch);
        metrics::histogram!("poigate_store_writer_commit_seconds")
            .record(started.elapsed().as_secs_f64());
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
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = run_cached(conn, "SAVEPOINT job") {
            tracing::error!(error = %e, "cannot open a savepoint");
            let _ = conn.execute_batch("ROLLBACK");
            let err = StoreError::Unavailable(format!("cannot open a savepoint: {e}"));
            for f in finishers {
                let f: Finisher = f;
                f(Err(err.clone()));
            }
            job.fail(err.clone());
            for rest in jobs {
                rest.fail(err.clone());
            }
            return;
        }
        // `Pending::run` already catches a panic of the caller's closure; this catches one
        // of any other job, so the thread survives whatever a job does. Its caller then
        // sees its dropped answer channel as an error.
        let (ok, finish) = match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
            Ok((ok, finish)) => (ok, Some(finish)),
            Err(_) => (false, None),
        };
        let end = if ok {
            run_cached(conn, "RELEASE job")
        } else {
            run_cached(conn, "ROLLBACK TO job").and_then(|()| run_cached(conn, "RELEASE job"))
        };
        if let Err(e) = end {
            tracing::error!(error = %e, "cannot close a savepoint");
        }
        finishers.extend(finish);
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

/// Commits the batch's relaxed jobs first, without an fsync, then the others durably. If the
/// level cannot be relaxed, everything is committed durably; if it cannot be restored, the
/// durable jobs fail rather than be committed with less than asked.
fn commit_split(conn: &Connection, level: &mut SyncLevel, batch: Vec<Job>) {
    let (relaxed, mut durable): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|j| j.relaxed());
    if !relaxed.is_empty() {
        if level.set(conn, true) {
            commit_batch(conn, relaxed);
        } else {
            durable.extend(relaxed);
        }
    }
    if durable.is_empty() {
        return;
    }
    if level.set(conn, false) {
        commit_batch(conn, durable);
    } else {
        let err = StoreError::Unavailable("cannot restore the durable synchronous level".into());
        fail_all(conn, durable, err);
    }
}

fn fail_all(conn: &Connection, batch: Vec<Job>, err: StoreError) {
    // Run nothing and tell every caller why. Roll back in case BEGIN half-happened.
    let _ = conn.execute_batch("ROLLBACK");
    tracing::error!(error = %err, jobs = batch.len(), "write batch failed");
    for job in batch {
        job.fail(err.clone());
    }
}

#[cfg(test)]
mod tests;
