//! Translation of driver and pool errors into [`StoreError`]s.
//!
//! Everything that is not a named uniqueness rule is `Unavailable`: a refused or dropped
//! connection, a pool that found no connection in time, a server shutting down. The API
//! answers those with 503 and `Retry-After`, never with a 500 or a panic.

use poigate_store::StoreError;
use tokio_postgres::error::SqlState;

/// Any driver error as `Unavailable` (the message names PostgreSQL's own text, never data).
pub fn db(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Unavailable(format!(
            "database error {}: {}",
            d.code().code(),
            d.message()
        )),
        None => StoreError::Unavailable(format!("database connection: {e}")),
    }
}

/// A pool that could not hand out a connection (server down, pool exhausted past its wait).
pub fn pool(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {e}"))
}

/// The constraint whose uniqueness rule (SQLSTATE 23505) refused a write, if that was why.
pub fn unique_violation(e: &tokio_postgres::Error) -> Option<&str> {
    let d = e.as_db_error()?;
    (*d.code() == SqlState::UNIQUE_VIOLATION).then(|| d.constraint().unwrap_or(""))
}

/// The error a uniqueness rule stands for, by the constraint's name (named in the schema).
/// Constraints whose error needs more than the name (the interaction or transaction id of a
/// version conflict, the existing idempotency record) are handled where they can fire.
pub fn constraint_error(constraint: &str) -> Option<StoreError> {
    Some(match constraint {
        "merchants_pkey" => StoreError::Duplicate("merchant"),
        "api_keys_pkey" | "api_keys_secret_hash_key" => StoreError::Duplicate("api key"),
        "admin_keys_pkey" | "admin_keys_secret_hash_key" => StoreError::Duplicate("admin key"),
        "terminals_pkey" | "terminals_merchant_serial_key" => StoreError::Duplicate("terminal"),
        "device_credentials_pkey" => StoreError::Duplicate("device credential"),
        "interactions_pkey" => StoreError::Duplicate("interaction"),
        "webhook_messages_id_key" => StoreError::Duplicate("webhook message"),
        "webhook_deliveries_pkey" => StoreError::Duplicate("webhook delivery"),
        _ => return None,
    })
}

/// A write error: the named uniqueness rule's error when one fired, else `Unavailable`.
pub fn write(e: tokio_postgres::Error) -> StoreError {
    match unique_violation(&e).and_then(constraint_error) {
        Some(mapped) => mapped,
        None => db(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every constraint the mapping names exists in the schema under that name (a renamed
    /// constraint would otherwise turn its error into `Unavailable` without a word).
    #[test]
    fn mapped_constraints_are_named_in_the_schema() {
        let schema: String = crate::MIGRATIONS.iter().map(|(_, sql)| *sql).collect();
        for name in [
            "merchants_pkey",
            "api_keys_pkey",
            "api_keys_secret_hash_key",
            "admin_keys_pkey",
            "admin_keys_secret_hash_key",
            "terminals_pkey",
            "terminals_merchant_serial_key",
            "device_credentials_pkey",
            "interactions_pkey",
            "webhook_messages_id_key",
            "webhook_deliveries_pkey",
            "events_pkey",
            "transaction_events_pkey",
            "interactions_one_live_per_terminal",
        ] {
            assert!(schema.contains(name), "{name} is not in the schema");
        }
        assert!(constraint_error("terminals_merchant_serial_key").is_some());
        assert!(constraint_error("no_such_constraint").is_none());
    }
}
