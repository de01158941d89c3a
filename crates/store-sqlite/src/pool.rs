//! A small pool of read-only connections. In WAL mode readers never block the writer and
//! see the last committed state, so reads run beside the writer thread on blocking threads.

use poigate_store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct ReadPool {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub fn new(conns: Vec<Connection>) -> ReadPool {
        let n = conns.len();
        ReadPool {
            idle: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(n)),
        }
    }

    /// Runs `f` on an idle read connection on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("read pool closed".into()))?;
        let idle = self.idle.clone();
        tokio::task::spawn_blocking(move || {
            let conn = idle
                .lock()
                .map_err(|_| StoreError::Unavailable("read pool poisoned".into()))?
                .pop()
                .ok_or_else(|| StoreError::Unavailable("no idle read connection".into()))?;
            // One read transaction per call: a read of several statements (a delivery and
            // its attempts) sees one consistent snapshot, never half of a concurrent commit.
            let result = match conn.unchecked_transaction() {
                Ok(tx) => f(&tx),
                Err(e) => Err(StoreError::Unavailable(format!("cannot begin a read: {e}"))),
            };
            if let Ok(mut guard) = idle.lock() {
                guard.push(conn);
            }
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}
