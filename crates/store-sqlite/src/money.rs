//! Money after the sale in SQLite: operations, transaction events, settlement queries.

use crate::codec::{decode_fingerprint, decode_json, encode_json, parse_id};
use crate::{db, is_unique_violation, upsert_transaction, webhooks};
use poigate_domain::{
    MerchantId, Operation, OperationId, OperationKind, OperationStatus, Timestamp, Transaction,
    TransactionEvent, TransactionId,
};
use poigate_store::*;
use rusqlite::{Connection, OptionalExtension, params};

fn status_str(s: OperationStatus) -> &'static str {
    match s {
        OperationStatus::Pending => "pending",
        OperationStatus::Succeeded => "succeeded",
        OperationStatus::Failed => "failed",
    }
}

pub fn apply(conn: &Connection, w: &TransactionWrite) -> StoreResult<()> {
    let t = &w.transaction;
    let stored: Option<i64> = conn
        .prepare_cached("SELECT last_seq FROM transactions WHERE id = ?1")
        .and_then(|mut s| s.query_row([t.id.to_string()], |r| r.get(0)).optional())
        .map_err(db)?;
    match stored {
        None => return Err(StoreError::NotFound("transaction")),
        Some(seq) if seq as u64 != w.expected_last_seq => {
            return Err(StoreError::VersionConflict {
                entity: "transaction",
                id: t.id.to_string(),
            });
        }
        Some(_) => {}
    }
    if let Some(rec) = &w.idempotency {
        insert_idempotency(conn, rec)?;
    }
    upsert_transaction(conn, t)?;
    let mut insert_event = conn
        .prepare_cached(
            "INSERT INTO transaction_events (transaction_id, seq, type, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db)?;
    for e in &w.events {
        insert_event
            .execute(params![
                e.transaction_id.to_string(),
                e.seq as i64,
                e.kind.name(),
                e.created_at.as_millis(),
                encode_json(e)?
            ])
            .map_err(db)?;
    }
    if let Some(op) = &w.operation {
        conn.prepare_cached(
            "INSERT INTO operations (id, transaction_id, merchant_id, kind, status, created_at, updated_at, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, body = excluded.body",
        )
        .and_then(|mut s| {
            s.execute(params![
                op.id.to_string(),
                op.transaction_id.to_string(),
                op.merchant_id.to_string(),
                op.kind.as_str(),
                status_str(op.status),
                op.created_at.as_millis(),
                op.updated_at.as_millis(),
                encode_json(op).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?
            ])
        })
        .map_err(db)?;
    }
    if let Some((merchant, key, snapshot)) = &w.idempotency_response {
        conn.prepare_cached(
            "UPDATE operation_idempotency SET response = ?3 WHERE merchant_id = ?1 AND key = ?2",
        )
        .and_then(|mut s| {
            s.execute(params![
                merchant.to_string(),
                key,
                encode_json(snapshot)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?
            ])
        })
        .map_err(db)?;
    }
    webhooks::insert_messages(conn, &w.outbox)?;
    Ok(())
}

fn insert_idempotency(conn: &Connection, rec: &OperationIdempotency) -> StoreResult<()> {
    let merchant = rec.merchant_id.to_string();
    conn.prepare_cached("DELETE FROM operation_idempotency WHERE merchant_id = ?1 AND key = ?2 AND expires_at <= ?3")
        .and_then(|mut s| s.execute(params![merchant, rec.key, rec.created_at.as_millis()]))
        .map_err(db)?;
    let response = rec.response.as_ref().map(encode_json).transpose()?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO operation_idempotency (merchant_id, key, fingerprint, operation_id, response, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                merchant,
                rec.key,
                &rec.fingerprint[..],
                rec.operation_id.to_string(),
                response,
                rec.created_at.as_millis(),
                rec.expires_at.as_millis()
            ])
        });
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            let existing = find_idempotency(conn, rec.merchant_id, &rec.key, None)?
                .ok_or_else(|| StoreError::Corrupt("idempotency row vanished".into()))?;
            Err(StoreError::OperationIdempotencyConflict {
                existing: Box::new(existing),
            })
        }
        Err(e) => Err(db(e)),
    }
}

pub fn find_idempotency(
    conn: &Connection,
    merchant: MerchantId,
    key: &str,
    now: Option<Timestamp>,
) -> StoreResult<Option<OperationIdempotency>> {
    let row = conn
        .prepare_cached(
            "SELECT fingerprint, operation_id, response, created_at, expires_at FROM operation_idempotency
             WHERE merchant_id = ?1 AND key = ?2 AND expires_at > ?3",
        )
        .and_then(|mut s| {
            s.query_row(
                params![merchant.to_string(), key, now.map(Timestamp::as_millis).unwrap_or(i64::MIN)],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()
        })
        .map_err(db)?;
    let Some((fingerprint, operation_id, response, created_at, expires_at)) = row else {
        return Ok(None);
    };
    Ok(Some(OperationIdempotency {
        merchant_id: merchant,
        key: key.to_string(),
        fingerprint: decode_fingerprint(fingerprint)?,
        operation_id: parse_id(&operation_id)?,
        response: response.map(|r| decode_json(&r)).transpose()?,
        created_at: Timestamp::from_millis(created_at),
        expires_at: Timestamp::from_millis(expires_at),
    }))
}

fn operations(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<Operation>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let rows = stmt
        .query_map(args, |r| r.get::<_, String>(0))
        .map_err(db)?;
    rows.map(|r| decode_json(&r.map_err(db)?)).collect()
}

pub fn get_operation(conn: &Connection, id: OperationId) -> StoreResult<Option<Operation>> {
    let id = id.to_string();
    Ok(
        operations(conn, "SELECT body FROM operations WHERE id = ?1", &[&id])?
            .into_iter()
            .next(),
    )
}

pub fn list_operations(
    conn: &Connection,
    transaction: TransactionId,
    kind: Option<OperationKind>,
) -> StoreResult<Vec<Operation>> {
    let id = transaction.to_string();
    match kind {
        Some(k) => operations(
            conn,
            "SELECT body FROM operations WHERE transaction_id = ?1 AND kind = ?2 ORDER BY id",
            &[&id, &k.as_str()],
        ),
        None => operations(
            conn,
            "SELECT body FROM operations WHERE transaction_id = ?1 ORDER BY id",
            &[&id],
        ),
    }
}

pub fn operations_between(
    conn: &Connection,
    merchant: MerchantId,
    from: OperationId,
    to: OperationId,
    limit: u32,
) -> StoreResult<Vec<Operation>> {
    operations(
        conn,
        "SELECT body FROM operations WHERE id >= ?1 AND id <= ?2 AND merchant_id = ?3 \
         ORDER BY id LIMIT ?4",
        &[
            &from.to_string(),
            &to.to_string(),
            &merchant.to_string(),
            &i64::from(limit),
        ],
    )
}

pub fn pending_operations(conn: &Connection) -> StoreResult<Vec<Operation>> {
    operations(
        conn,
        "SELECT body FROM operations WHERE status = 'pending' ORDER BY id",
        &[],
    )
}

pub fn list_events(
    conn: &Connection,
    transaction: TransactionId,
    after_seq: u64,
    limit: u32,
) -> StoreResult<Vec<TransactionEvent>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT body FROM transaction_events WHERE transaction_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(
            params![
                transaction.to_string(),
                i64::try_from(after_seq).unwrap_or(i64::MAX),
                i64::from(limit)
            ],
            |r| r.get::<_, String>(0),
        )
        .map_err(db)?;
    rows.map(|r| decode_json(&r.map_err(db)?)).collect()
}

pub fn to_settle(
    conn: &Connection,
    before: Timestamp,
    limit: u32,
) -> StoreResult<Vec<Transaction>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT body FROM transactions WHERE condition = 'pendingsettlement' AND captured_at < ?1
             ORDER BY captured_at LIMIT ?2",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(params![before.as_millis(), i64::from(limit)], |r| {
            r.get::<_, String>(0)
        })
        .map_err(db)?;
    rows.map(|r| decode_json(&r.map_err(db)?)).collect()
}
