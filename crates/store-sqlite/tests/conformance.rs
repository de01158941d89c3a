//! Runs the shared store conformance suite against SQLite on a real database file.

use poigate_store::conformance::TestStore;
use poigate_store_sqlite::{SqliteConfig, SqliteStore};
use std::sync::Arc;

async fn sqlite_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("poigate.db"))).expect("open");
    TestStore {
        store: Arc::new(store),
        guard: Box::new(dir),
    }
}

poigate_store::conformance_tests!(sqlite_store);
