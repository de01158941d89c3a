//! The gateway's database, opened from its configuration. The one place that turns a
//! [`Config`] into a store, for `serve` and for the administration commands (`keys`,
//! `terminals`, `settle`) alike: both open the same database with the same settings,
//! whatever layer (file, environment, flag) set them — SQLite in the data directory by
//! default, PostgreSQL when `database.url` is set.

use crate::config::Config;
use anyhow::Context;
use poigate_store::Store;
use poigate_store_postgres::{PostgresConfig, PostgresStore, redact_url};
use poigate_store_sqlite::{SqliteConfig, SqliteStore};
use std::sync::Arc;

/// Which database the configuration names.
pub fn uses_postgres(config: &Config) -> bool {
    config.database.url.is_some()
}

/// Opens the configured database: PostgreSQL (migrated at start-up, once across nodes) when
/// `database.url` is set, else SQLite in the data directory.
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match &config.database.url {
        Some(url) => {
            let mut postgres = PostgresConfig::new(url.clone());
            postgres.pool_size = config.database.pool_size;
            let store = PostgresStore::connect(&postgres).await.with_context(|| {
                format!("cannot open the PostgreSQL database {}", redact_url(url))
            })?;
            Ok(Arc::new(store))
        }
        None => Ok(Arc::new(open_store(config)?)),
    }
}

/// Creates the data directory when missing and opens `<data_dir>/poigate.db` with the
/// configured `synchronous` and `read_connections`.
pub fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let mut sqlite = SqliteConfig::new(config.database_path());
    sqlite.synchronous = config.database.synchronous;
    sqlite.read_connections = config.database.read_connections;
    SqliteStore::open(&sqlite)
        .with_context(|| format!("cannot open database {}", config.database_path().display()))
}

/// Held by `serve` for as long as it runs on a SQLite data directory. SQLite is one node: a
/// second gateway on the same files would keep its own terminals, waiters and timers and
/// double every decision that must be taken once. Several nodes run on PostgreSQL. (The
/// administration commands do not take it: they work beside a running gateway.)
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Takes `<data_dir>/poigate.lock` (an OS file lock, released when the process ends, even by
/// `kill -9`), or says clearly that another gateway holds it.
pub fn lock_data_dir(config: &Config) -> anyhow::Result<DataDirLock> {
    use std::io::Write;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let path = config.data_dir.join("poigate.lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `poigate serve` is already running on the data directory {} (it holds {}). \
             SQLite is one node: stop the other gateway, or run several nodes on PostgreSQL \
             (`--database postgres://…`)",
            config.data_dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    // For people looking at the directory; the lock itself is what counts.
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(DataDirLock { _file: file })
}
