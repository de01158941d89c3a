//! A small pool of read-only connections. In WAL mode readers never block the writer and
//! see the last committed state.
//!
//! A read runs right where it is asked, on the caller's thread, when a connection is idle:
//! the reads of a request are index lookups of microseconds, and handing them to a blocking
//! thread and back cost more than the reads themselves — on a one-core gateway, four context
//! switches per read were 40% of the CPU of a GET (docs/performance.md). Only when every
//! connection is busy (another thread of the runtime is reading) does a read wait for one
//! on a blocking thread.

use poigate_store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct ReadPool {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

/// One read transaction per call: a read of several statements (a delivery and its
/// attempts) sees one consistent snapshot, never half of a concurrent commit. BEGIN and
/// COMMIT come from the statement cache (parsing them for every read was a tenth of a
/// read's cost).
fn in_read_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    if let Err(e) = run("BEGIN") {
        return Err(StoreError::Unavailable(format!("cannot begin a read: {e}")));
    }
    let result = f(conn);
    // A read transaction changes nothing: ending it cannot lose anything, and if it fails
    // the connection is rolled back before its next use.
    if run("COMMIT").is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

impl ReadPool {
    pub fn new(conns: Vec<Connection>) -> ReadPool {
        let n = conns.len();
        ReadPool {
            idle: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(n)),
        }
    }

    fn take(idle: &Mutex<Vec<Connection>>) -> StoreResult<Connection> {
        idle.lock()
            .map_err(|_| StoreError::Unavailable("read pool poisoned".into()))?
            .pop()
            .ok_or_else(|| StoreError::Unavailable("no idle read connection".into()))
    }

    fn give_back(idle: &Mutex<Vec<Connection>>, conn: Connection) {
        if let Ok(mut guard) = idle.lock() {
            guard.push(conn);
        }
    }

    /// Runs `f` on an idle read connection: here when one is free, else on a blocking
    /// thread once one is.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            let conn = Self::take(&self.idle)?;
            let result = in_read_transaction(&conn, f);
            Self::give_back(&self.idle, conn);
            drop(permit);
            return result;
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("read pool closed".into()))?;
        let idle = self.idle.clone();
        tokio::task::spawn_blocking(move || {
            let conn = Self::take(&idle)?;
            let result = in_read_transaction(&conn, f);
            Self::give_back(&idle, conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}
