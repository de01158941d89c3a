//! The gateway's database, opened from its configuration. The one place that turns a
//! [`Config`] into a store, for `serve` and for the administration commands (`keys`,
//! `terminals`, `settle`) alike: both open the same file with the same durability
//! (`synchronous`) and the same read pool, whatever layer (file, environment, flag) set them.

use crate::config::Config;
use anyhow::Context;
use poigate_store_sqlite::{SqliteConfig, SqliteStore};

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
