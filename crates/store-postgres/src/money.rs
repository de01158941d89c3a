//! Money after the sale in PostgreSQL: operations, transaction events, settlement queries.

use crate::codec::{body, encode_json, id, ts};
use crate::error::{db, unique_violation, write};
use crate::sql::{col, exec, query, query_opt, seq};
use crate::{upsert_transaction, webhooks};
use deadpool_postgres::{GenericClient, Transaction};
use poigate_domain::{
    MerchantId, Operation, OperationId, OperationKind, OperationStatus, Timestamp,
    Transaction as Txn, TransactionEvent, TransactionId,
};
use poigate_store::rows::decode_hash;
use poigate_store::*;

fn status_str(s: OperationStatus) -> &'static str {
    match s {
        OperationStatus::Pending => "pending",
        OperationStatus::Succeeded => "succeeded",
        OperationStatus::Failed => "failed",
    }
}

/// One transaction write. The stored `last_seq` is read `FOR UPDATE`: a second writer of
/// the same transaction waits for the first to commit, then sees its `last_seq` and gets a
/// version conflict (SQLite needs no lock here: it has one writer).
pub async fn apply(tx: &Transaction<'_>, w: &TransactionWrite) -> StoreResult<()> {
    let t = &w.transaction;
    let stored = query_opt(
        tx,
        "SELECT last_seq FROM transactions WHERE id = $1 FOR UPDATE",
        &[&t.id.to_string()],
    )
    .await
    .map_err(db)?;
    match stored {
        None => return Err(StoreError::NotFound("transaction")),
        Some(row) if col::<i64>(&row, 0)? as u64 != w.expected_last_seq => {
            return Err(StoreError::VersionConflict {
                entity: "transaction",
                id: t.id.to_string(),
            });
        }
        Some(_) => {}
    }
    if let Some(rec) = &w.idempotency {
        insert_idempotency(tx, rec).await?;
    }
    upsert_transaction(tx, t).await?;
    for e in &w.events {
        exec(
            tx,
            "INSERT INTO transaction_events (transaction_id, seq, type, created_at, body) VALUES ($1, $2, $3, $4, $5)",
            &[
                &e.transaction_id.to_string(),
                &seq(e.seq)?,
                &e.kind.name(),
                &e.created_at.as_millis(),
                &encode_json(e)?,
            ],
        )
        .await
        .map_err(|err| match unique_violation(&err) {
            Some("transaction_events_pkey") => StoreError::VersionConflict {
                entity: "transaction",
                id: t.id.to_string(),
            },
            _ => write(err),
        })?;
    }
    if let Some(op) = &w.operation {
        exec(
            tx,
            "INSERT INTO operations (id, transaction_id, merchant_id, kind, status, created_at, updated_at, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, body = excluded.body",
            &[
                &op.id.to_string(),
                &op.transaction_id.to_string(),
                &op.merchant_id.to_string(),
                &op.kind.as_str(),
                &status_str(op.status),
                &op.created_at.as_millis(),
                &op.updated_at.as_millis(),
                &encode_json(op)?,
            ],
        )
        .await
        .map_err(write)?;
    }
    if let Some((merchant, key, snapshot)) = &w.idempotency_response {
        exec(
            tx,
            "UPDATE operation_idempotency SET response = $3 WHERE merchant_id = $1 AND key = $2",
            &[&merchant.to_string(), key, &encode_json(snapshot)?],
        )
        .await
        .map_err(db)?;
    }
    webhooks::insert_messages(tx, &w.outbox).await
}

/// Stores an operation's idempotency record; a key already taken (and not expired) answers
/// `OperationIdempotencyConflict` with the record that holds it. `ON CONFLICT DO NOTHING`
/// instead of catching 23505: an error would abort the transaction, and the existing record
/// is read in the same one (READ COMMITTED: the statement sees the row that won).
async fn insert_idempotency(tx: &Transaction<'_>, rec: &OperationIdempotency) -> StoreResult<()> {
    let merchant = rec.merchant_id.to_string();
    exec(
        tx,
        "DELETE FROM operation_idempotency WHERE merchant_id = $1 AND key = $2 AND expires_at <= $3",
        &[&merchant, &rec.key, &rec.created_at.as_millis()],
    )
    .await
    .map_err(db)?;
    let response = rec.response.as_ref().map(encode_json).transpose()?;
    let inserted = exec(
        tx,
        "INSERT INTO operation_idempotency (merchant_id, key, fingerprint, operation_id, response, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (merchant_id, key) DO NOTHING",
        &[
            &merchant,
            &rec.key,
            &&rec.fingerprint[..],
            &rec.operation_id.to_string(),
            &response,
            &rec.created_at.as_millis(),
            &rec.expires_at.as_millis(),
        ],
    )
    .await
    .map_err(db)?;
    if inserted == 1 {
        return Ok(());
    }
    let existing = find_idempotency(tx, rec.merchant_id, &rec.key, None)
        .await?
        .ok_or_else(|| StoreError::Corrupt("idempotency row vanished".into()))?;
    Err(StoreError::OperationIdempotencyConflict {
        existing: Box::new(existing),
    })
}

pub async fn find_idempotency<C: GenericClient>(
    c: &C,
    merchant: MerchantId,
    key: &str,
    now: Option<Timestamp>,
) -> StoreResult<Option<OperationIdempotency>> {
    let row = query_opt(
        c,
        "SELECT fingerprint, operation_id, response, created_at, expires_at FROM operation_idempotency
         WHERE merchant_id = $1 AND key = $2 AND expires_at > $3",
        &[
            &merchant.to_string(),
            &key,
            &now.map(Timestamp::as_millis).unwrap_or(i64::MIN),
        ],
    )
    .await
    .map_err(db)?;
    let Some(r) = row else { return Ok(None) };
    let response: Option<&str> = col(&r, 2)?;
    Ok(Some(OperationIdempotency {
        merchant_id: merchant,
        key: key.to_string(),
        fingerprint: decode_hash(col(&r, 0)?, "fingerprint")?,
        operation_id: id(&r, 1)?,
        response: response.map(crate::codec::decode_json).transpose()?,
        created_at: ts(&r, 3)?,
        expires_at: ts(&r, 4)?,
    }))
}

async fn operations<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[crate::sql::Param<'_>],
) -> StoreResult<Vec<Operation>> {
    let rows = query(c, sql, params).await.map_err(db)?;
    rows.iter().map(|r| body(r, 0)).collect()
}

pub async fn get_operation<C: GenericClient>(
    c: &C,
    op: OperationId,
) -> StoreResult<Option<Operation>> {
    Ok(operations(
        c,
        "SELECT body FROM operations WHERE id = $1",
        &[&op.to_string()],
    )
    .await?
    .into_iter()
    .next())
}

pub async fn operations_between<C: GenericClient>(
    c: &C,
    merchant: MerchantId,
    from: OperationId,
    to: OperationId,
    limit: u32,
) -> StoreResult<Vec<Operation>> {
    operations(
        c,
        "SELECT body FROM operations WHERE id >= $1 AND id <= $2 AND merchant_id = $3 \
         ORDER BY id LIMIT $4",
        &[
            &from.to_string(),
            &to.to_string(),
            &merchant.to_string(),
            &i64::from(limit),
        ],
    )
    .await
}

pub async fn list_operations<C: GenericClient>(
    c: &C,
    transaction: TransactionId,
    kind: Option<OperationKind>,
) -> StoreResult<Vec<Operation>> {
    let id = transaction.to_string();
    match kind {
        Some(k) => {
            operations(
                c,
                "SELECT body FROM operations WHERE transaction_id = $1 AND kind = $2 ORDER BY id",
                &[&id, &k.as_str()],
            )
            .await
        }
        None => {
            operations(
                c,
                "SELECT body FROM operations WHERE transaction_id = $1 ORDER BY id",
                &[&id],
            )
            .await
        }
    }
}

pub async fn pending_operations<C: GenericClient>(c: &C) -> StoreResult<Vec<Operation>> {
    operations(
        c,
        "SELECT body FROM operations WHERE status = 'pending' ORDER BY id",
        &[],
    )
    .await
}

pub async fn list_events<C: GenericClient>(
    c: &C,
    transaction: TransactionId,
    after_seq: u64,
    limit: u32,
) -> StoreResult<Vec<TransactionEvent>> {
    let rows = query(
        c,
        "SELECT body FROM transaction_events WHERE transaction_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[
            &transaction.to_string(),
            &i64::try_from(after_seq).unwrap_or(i64::MAX),
            &i64::from(limit),
        ],
    )
    .await
    .map_err(db)?;
    rows.iter().map(|r| body(r, 0)).collect()
}

pub async fn to_settle<C: GenericClient>(
    c: &C,
    before: Timestamp,
    limit: u32,
) -> StoreResult<Vec<Txn>> {
    let rows = query(
        c,
        "SELECT body FROM transactions WHERE condition = 'pendingsettlement' AND captured_at < $1
         ORDER BY captured_at LIMIT $2",
        &[&before.as_millis(), &i64::from(limit)],
    )
    .await
    .map_err(db)?;
    rows.iter().map(|r| body(r, 0)).collect()
}
