//! Migration 2 replaces idempotency keys stored in clear by their SHA-256, on a real
//! PostgreSQL (skips with one line when PostgreSQL is not installed, unless
//! `POIGATE_REQUIRE_POSTGRES=1`).

use poigate_store::{IdempotencyKey, idempotency_digest};
use poigate_store_postgres::testing::fresh_database;
use poigate_store_postgres::{MIGRATIONS, PostgresConfig, PostgresStore};

#[tokio::test]
async fn migration_3_replaces_clear_idempotency_keys_with_their_digests() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let (_, v1) = MIGRATIONS[0];
    client.batch_execute(v1).await.expect("migration 1");
    client
        .batch_execute(
            r#"CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
               INSERT INTO schema_migrations (version) VALUES (1);
               SET session_replication_role = replica;
               INSERT INTO idempotency (merchant_id, key, fingerprint, interaction_id, response, created_at, expires_at)
                    VALUES ('mer_1', 'h:;4111111111111111=2512101?', '\x00', 'int_1', '{}', 1, 2);
               INSERT INTO operation_idempotency (merchant_id, key, fingerprint, operation_id, response, created_at, expires_at)
                    VALUES ('mer_1', 'refund-key', '\x00', 'op_1', NULL, 1, 2);
               INSERT INTO operations (id, transaction_id, merchant_id, kind, status, created_at, updated_at, body)
                    VALUES ('op_1', 'txn_1', 'mer_1', 'refund', 'pending', 1, 1, '{"id":"op_1","idempotency_key":"refund-key"}');
               SET session_replication_role = DEFAULT;"#,
        )
        .await
        .expect("clear rows");

    let _store = PostgresStore::connect(&PostgresConfig::new(url))
        .await
        .expect("connect and migrate");

    let key: String = client
        .query_one("SELECT key FROM idempotency", &[])
        .await
        .expect("key")
        .get(0);
    assert_eq!(
        key,
        IdempotencyKey::Header(";4111111111111111=2512101?".into()).storage_key()
    );
    let op_key: String = client
        .query_one("SELECT key FROM operation_idempotency", &[])
        .await
        .expect("op key")
        .get(0);
    assert_eq!(op_key, idempotency_digest("refund-key"));
    let body: String = client
        .query_one("SELECT body FROM operations", &[])
        .await
        .expect("body")
        .get(0);
    assert!(
        !body.contains("refund-key") && body.contains(&op_key),
        "{body}"
    );
}
