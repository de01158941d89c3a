//! Runs the shared store conformance suite (the same cases as SQLite's
//! `crates/store-sqlite/tests/conformance.rs`) against a real PostgreSQL: one server per
//! test binary, one fresh database per case. Skips with one line when PostgreSQL is not
//! installed, unless `POIGATE_REQUIRE_POSTGRES=1` (CI) makes that a failure.

use poigate_store::conformance::TestStore;
use poigate_store_postgres::testing::fresh_database;
use poigate_store_postgres::{PostgresConfig, PostgresStore};
use std::sync::Arc;

async fn postgres_store() -> Option<TestStore> {
    let url = fresh_database().await?;
    let mut config = PostgresConfig::new(url);
    config.pool_size = 8;
    let store = PostgresStore::connect(&config).await.expect("connect");
    Some(TestStore {
        store: Arc::new(store),
        guard: Box::new(()),
    })
}

poigate_store::conformance_tests!(optional postgres_store);
