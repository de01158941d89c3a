//! The webhook outbox and delivery log in PostgreSQL. Same rules as the SQLite backend's
//! `webhooks.rs`; what differs is concurrency: several nodes dispatch and lease at once, so
//! the rows a pass takes are locked with `FOR UPDATE SKIP LOCKED` (a second node skips them
//! instead of waiting or taking them twice).

use crate::codec::{body, encode_json, id, opt_ts, ts};
use crate::error::{db, write};
use crate::sql::{Filtered, col, col_u32, exec, query, query_opt};
use deadpool_postgres::{GenericClient, Transaction};
use poigate_domain::{
    DeliveryId, EndpointKind, MerchantId, NextStep, OutboxMessage, Timestamp, WebhookEndpoint,
    WebhookEndpointId, WebhookEventType, webhook::filter_accepts,
};
use poigate_store::rows::parse_id;
use poigate_store::*;
use std::collections::HashMap;

/// Writes outbox messages that someone will receive (see the SQLite backend: a message with
/// callbacks, or one an enabled endpoint of its merchant subscribes to), in the caller's
/// transaction.
pub async fn insert_messages(tx: &Transaction<'_>, messages: &[OutboxMessage]) -> StoreResult<()> {
    let mut endpoints: HashMap<MerchantId, Vec<WebhookEndpoint>> = HashMap::new();
    for m in messages {
        if m.callbacks.is_empty() {
            let list = match endpoints.entry(m.merchant_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(endpoints_of(tx, &m.merchant_id.to_string()).await?)
                }
            };
            let subscribed = list.iter().any(|e| {
                e.kind == EndpointKind::Endpoint
                    && e.enabled
                    && e.livemode == m.livemode
                    && filter_accepts(&e.events, m.event_type)
            });
            if !subscribed {
                continue;
            }
        }
        exec(
            tx,
            "INSERT INTO webhook_messages (id, merchant_id, type, subject_id, created_at, body, livemode)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &m.id.to_string(),
                &m.merchant_id.to_string(),
                &m.event_type.as_str(),
                &m.subject_id,
                &m.created_at.as_millis(),
                &encode_json(m)?,
                &m.livemode,
            ],
        )
        .await
        .map_err(write)?;
    }
    Ok(())
}

async fn endpoints_of<C: GenericClient>(
    c: &C,
    merchant: &str,
) -> StoreResult<Vec<WebhookEndpoint>> {
    let rows = query(
        c,
        "SELECT body FROM webhook_endpoints WHERE merchant_id = $1 ORDER BY id",
        &[&merchant],
    )
    .await
    .map_err(db)?;
    rows.iter().map(|r| body(r, 0)).collect()
}

/// A merchant's endpoints for dispatch, `FOR SHARE`: an endpoint deleted or disabled by
/// another node meanwhile waits until this dispatch commits, and then fails the pending
/// deliveries it created (SQLite's single writer orders the two there).
async fn endpoints_locked(
    tx: &Transaction<'_>,
    merchant: &str,
) -> StoreResult<Vec<WebhookEndpoint>> {
    let rows = query(
        tx,
        "SELECT body FROM webhook_endpoints WHERE merchant_id = $1 ORDER BY id FOR SHARE",
        &[&merchant],
    )
    .await
    .map_err(db)?;
    rows.iter().map(|r| body(r, 0)).collect()
}

/// One place a message goes.
struct Target {
    endpoint: Option<WebhookEndpointId>,
    url: String,
    key: String,
    error: Option<&'static str>,
    format: Option<String>,
}

pub async fn dispatch(tx: &Transaction<'_>, limit: u32, now: Timestamp) -> StoreResult<u32> {
    let pending = query(
        tx,
        "SELECT seq, body FROM webhook_messages WHERE NOT dispatched ORDER BY seq LIMIT $1
         FOR UPDATE SKIP LOCKED",
        &[&i64::from(limit)],
    )
    .await
    .map_err(db)?;
    let mut endpoints: HashMap<String, Vec<WebhookEndpoint>> = HashMap::new();
    for row in &pending {
        let seq: i64 = col(row, 0)?;
        let message: OutboxMessage = body(row, 1)?;
        let merchant = message.merchant_id.to_string();
        let list: &[WebhookEndpoint] = match endpoints.entry(merchant.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(endpoints_locked(tx, &merchant).await?)
            }
        };
        let mut targets: Vec<Target> = list
            .iter()
            .filter(|e| {
                // A live event never goes to a test endpoint, nor a test event to a live one.
                e.kind == EndpointKind::Endpoint
                    && e.enabled
                    && e.livemode == message.livemode
                    && filter_accepts(&e.events, message.event_type)
            })
            .map(|e| Target {
                endpoint: Some(e.id),
                url: e.url.clone(),
                key: e.id.to_string(),
                error: None,
                format: e.format.clone(),
            })
            .collect();
        let callbacks = list.iter().find(|e| e.kind == EndpointKind::Callbacks);
        for cb in &message.callbacks {
            targets.push(Target {
                endpoint: callbacks.map(|c| c.id),
                url: cb.url.clone(),
                key: format!("cb:{}", cb.url),
                error: callbacks
                    .is_none()
                    .then_some("no callback signing secret for this merchant"),
                format: cb.format.clone(),
            });
        }
        for target in targets {
            let status = if target.error.is_some() {
                "failed"
            } else {
                "pending"
            };
            exec(
                tx,
                "INSERT INTO webhook_deliveries (id, message_seq, merchant_id, endpoint_id, url, target_key, subject_id,
                                                 type, status, next_attempt_at, last_error, created_at, updated_at, format,
                                                 livemode)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)",
                &[
                    &DeliveryId::generate(now).to_string(),
                    &seq,
                    &merchant,
                    &target.endpoint.map(|e| e.to_string()),
                    &target.url,
                    &target.key,
                    &message.subject_id,
                    &message.event_type.as_str(),
                    &status,
                    &target.error.is_none().then_some(now.as_millis()),
                    &target.error,
                    &now.as_millis(),
                    &target.format,
                    &message.livemode,
                ],
            )
            .await
            .map_err(write)?;
        }
        exec(
            tx,
            "UPDATE webhook_messages SET dispatched = true WHERE seq = $1",
            &[&seq],
        )
        .await
        .map_err(db)?;
    }
    Ok(pending.len() as u32)
}

pub async fn lease_due(
    tx: &Transaction<'_>,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
    skip_targets: &[String],
) -> StoreResult<Vec<DeliveryJob>> {
    let fetch = i64::from(limit) + skip_targets.len() as i64 * 4;
    // Rows another node is leasing right now are locked: skipped, never taken twice. The
    // per-(target, subject) order holds because an earlier pending delivery, leased or not,
    // keeps the later ones out.
    let candidates = query(
        tx,
        "SELECT d.id, d.message_seq, d.endpoint_id, d.url, d.target_key, d.attempts, d.retry_from, d.format
         FROM webhook_deliveries d
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1
           AND (d.leased_until IS NULL OR d.leased_until <= $1)
           AND NOT EXISTS (
               SELECT 1 FROM webhook_deliveries p
               WHERE p.target_key = d.target_key AND p.subject_id = d.subject_id
                 AND p.status = 'pending' AND p.message_seq < d.message_seq)
         ORDER BY d.next_attempt_at, d.message_seq
         LIMIT $2
         FOR UPDATE OF d SKIP LOCKED",
        &[&now.as_millis(), &fetch],
    )
    .await
    .map_err(db)?;
    let mut jobs = Vec::new();
    for row in candidates {
        if jobs.len() >= limit as usize {
            break;
        }
        let target_key: String = col(&row, 4)?;
        if skip_targets.contains(&target_key) {
            continue;
        }
        let delivery_id: String = col(&row, 0)?;
        let seq: i64 = col(&row, 1)?;
        let endpoint_id: Option<String> = col(&row, 2)?;
        let attempts = col_u32(&row, 5)?;
        let retry_from = col_u32(&row, 6)?;
        let message_row = query_opt(
            tx,
            "SELECT body FROM webhook_messages WHERE seq = $1",
            &[&seq],
        )
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::Corrupt("delivery without its message".into()))?;
        let message: OutboxMessage = body(&message_row, 0)?;
        let secrets = match &endpoint_id {
            Some(endpoint) => {
                let found = query_opt(
                    tx,
                    "SELECT body FROM webhook_endpoints WHERE id = $1",
                    &[endpoint],
                )
                .await
                .map_err(db)?;
                match found {
                    Some(r) => {
                        let endpoint: WebhookEndpoint = body(&r, 0)?;
                        endpoint
                            .active_secrets(now)
                            .into_iter()
                            .map(str::to_string)
                            .collect()
                    }
                    None => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        exec(
            tx,
            "UPDATE webhook_deliveries SET leased_until = $2 WHERE id = $1",
            &[&delivery_id, &lease_until.as_millis()],
        )
        .await
        .map_err(db)?;
        jobs.push(DeliveryJob {
            delivery_id: parse_id(&delivery_id)?,
            attempt: attempts + 1,
            schedule_attempt: attempts + 1 - retry_from,
            message,
            endpoint_id: endpoint_id.as_deref().map(parse_id).transpose()?,
            url: col(&row, 3)?,
            target_key,
            format: col(&row, 7)?,
            secrets,
        });
    }
    Ok(jobs)
}

pub async fn next_due<C: GenericClient>(c: &C) -> StoreResult<Option<Timestamp>> {
    let row = query_opt(
        c,
        // MIN(COALESCE(leased_until, next_attempt_at)) over pending deliveries, split in two
        // so that each half is one probe of its index (migration 6), not a scan.
        "SELECT LEAST(
             (SELECT MIN(next_attempt_at) FROM webhook_deliveries
               WHERE status = 'pending' AND leased_until IS NULL),
             (SELECT MIN(leased_until) FROM webhook_deliveries
               WHERE status = 'pending' AND leased_until IS NOT NULL))",
        &[],
    )
    .await
    .map_err(db)?;
    match row {
        Some(r) => opt_ts(&r, 0),
        None => Ok(None),
    }
}

pub async fn record_attempt(tx: &Transaction<'_>, a: &AttemptRecord) -> StoreResult<()> {
    let id = a.delivery_id.to_string();
    let latency = i64::try_from(a.latency_ms).unwrap_or(i64::MAX);
    let finished = a.started_at.plus_millis(latency);
    exec(
        tx,
        "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code, latency_ms, error)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (delivery_id, attempt) DO UPDATE SET started_at = excluded.started_at,
             status_code = excluded.status_code, latency_ms = excluded.latency_ms, error = excluded.error",
        &[
            &id,
            &i64::from(a.attempt),
            &a.started_at.as_millis(),
            &a.status_code.map(i32::from),
            &latency,
            &a.error,
        ],
    )
    .await
    .map_err(db)?;
    let (status, next_at, error) = match a.next {
        NextStep::Succeeded => ("succeeded", None, None),
        NextStep::RetryAt(t) => ("pending", Some(t.as_millis()), a.error.clone()),
        NextStep::GiveUp => ("failed", None, a.error.clone()),
        NextStep::DisableEndpoint => (
            "failed",
            None,
            Some("the endpoint answered 410 Gone and was disabled".to_string()),
        ),
    };
    exec(
        tx,
        "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at = $4, leased_until = NULL,
                last_error = $5, updated_at = $6
         WHERE id = $1",
        &[
            &id,
            &status,
            &i64::from(a.attempt),
            &next_at,
            &error,
            &finished.as_millis(),
        ],
    )
    .await
    .map_err(db)?;
    if a.next == NextStep::DisableEndpoint {
        let endpoint = query_opt(
            tx,
            "SELECT endpoint_id FROM webhook_deliveries WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(db)?;
        let endpoint: Option<String> = match endpoint {
            Some(r) => col(&r, 0)?,
            None => None,
        };
        if let Some(endpoint_id) = endpoint {
            disable_endpoint(tx, &endpoint_id, "the endpoint answered 410 Gone", finished).await?;
        }
    }
    Ok(())
}

async fn disable_endpoint(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    reason: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let found = query_opt(
        tx,
        "SELECT body FROM webhook_endpoints WHERE id = $1 FOR UPDATE",
        &[&endpoint_id],
    )
    .await
    .map_err(db)?;
    let Some(row) = found else { return Ok(()) };
    let mut endpoint: WebhookEndpoint = body(&row, 0)?;
    if endpoint.kind == EndpointKind::Endpoint {
        endpoint.enabled = false;
        endpoint.disabled_reason = Some(reason.to_string());
        endpoint.updated_at = now;
        save_endpoint(tx, &endpoint).await?;
    }
    fail_pending(tx, endpoint_id, &format!("{reason}; not sent"), now).await
}

async fn fail_pending(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    error: &str,
    now: Timestamp,
) -> StoreResult<()> {
    exec(
        tx,
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, leased_until = NULL,
                last_error = $2, updated_at = $3
         WHERE endpoint_id = $1 AND status = 'pending'",
        &[&endpoint_id, &error, &now.as_millis()],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub async fn release_leases<C: GenericClient>(c: &C) -> StoreResult<u64> {
    exec(
        c,
        "UPDATE webhook_deliveries SET leased_until = NULL WHERE status = 'pending' AND leased_until IS NOT NULL",
        &[],
    )
    .await
    .map_err(db)
}

pub async fn save_endpoint<C: GenericClient>(c: &C, e: &WebhookEndpoint) -> StoreResult<()> {
    let kind = match e.kind {
        EndpointKind::Endpoint => "endpoint",
        EndpointKind::Callbacks => "callbacks",
    };
    exec(
        c,
        "INSERT INTO webhook_endpoints (id, merchant_id, kind, enabled, created_at, updated_at, body, livemode)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at, body = excluded.body",
        &[
            &e.id.to_string(),
            &e.merchant_id.to_string(),
            &kind,
            &e.enabled,
            &e.created_at.as_millis(),
            &e.updated_at.as_millis(),
            &encode_json(e)?,
            &e.livemode,
        ],
    )
    .await
    .map_err(write)?;
    Ok(())
}

pub async fn get_endpoint<C: GenericClient>(
    c: &C,
    merchant: MerchantId,
    endpoint: WebhookEndpointId,
) -> StoreResult<Option<WebhookEndpoint>> {
    let row = query_opt(
        c,
        "SELECT body FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2",
        &[&endpoint.to_string(), &merchant.to_string()],
    )
    .await
    .map_err(db)?;
    row.map(|r| body(&r, 0)).transpose()
}

pub async fn list_endpoints<C: GenericClient>(
    c: &C,
    merchant: MerchantId,
) -> StoreResult<Vec<WebhookEndpoint>> {
    endpoints_of(c, &merchant.to_string()).await
}

pub async fn delete_endpoint(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    endpoint: WebhookEndpointId,
    now: Timestamp,
) -> StoreResult<bool> {
    let endpoint = endpoint.to_string();
    let n = exec(
        tx,
        "DELETE FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2 AND kind = 'endpoint'",
        &[&endpoint, &merchant.to_string()],
    )
    .await
    .map_err(db)?;
    if n == 1 {
        fail_pending(tx, &endpoint, "the endpoint was deleted; not sent", now).await?;
    }
    Ok(n == 1)
}

const DELIVERY_SELECT: &str =
    "SELECT d.id, m.id, d.merchant_id, d.endpoint_id, d.url, d.type, d.subject_id, d.status,
        d.next_attempt_at, d.last_error, d.created_at, d.updated_at, d.livemode
    FROM webhook_deliveries d JOIN webhook_messages m ON m.seq = d.message_seq";

async fn delivery_rows<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[crate::sql::Param<'_>],
) -> StoreResult<Vec<DeliveryRecord>> {
    let rows = query(c, sql, params).await.map_err(db)?;
    let ids: Vec<String> = rows
        .iter()
        .map(|r| col::<String>(r, 0))
        .collect::<StoreResult<_>>()?;
    let mut attempts: HashMap<String, Vec<AttemptLog>> = HashMap::new();
    if !ids.is_empty() {
        let logs = query(
            c,
            "SELECT delivery_id, attempt, started_at, status_code, latency_ms, error FROM webhook_attempts
             WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
            &[&ids],
        )
        .await
        .map_err(db)?;
        for r in &logs {
            let status_code: Option<i32> = col(r, 3)?;
            attempts.entry(col(r, 0)?).or_default().push(AttemptLog {
                attempt: col_u32(r, 1)?,
                started_at: ts(r, 2)?,
                status_code: status_code
                    .map(|c| {
                        u16::try_from(c)
                            .map_err(|_| StoreError::Corrupt(format!("bad status code {c}")))
                    })
                    .transpose()?,
                latency_ms: col::<i64>(r, 4)?.max(0) as u64,
                error: col(r, 5)?,
            });
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for (r, delivery) in rows.iter().zip(ids) {
        let kind: &str = col(r, 5)?;
        let status: &str = col(r, 7)?;
        out.push(DeliveryRecord {
            id: parse_id(&delivery)?,
            message_id: id(r, 1)?,
            merchant_id: id(r, 2)?,
            livemode: col(r, 12)?,
            endpoint_id: col::<Option<&str>>(r, 3)?.map(parse_id).transpose()?,
            url: col(r, 4)?,
            event_type: WebhookEventType::parse(kind)
                .ok_or_else(|| StoreError::Corrupt(format!("bad event type `{kind}`")))?,
            subject_id: col(r, 6)?,
            status: DeliveryStatus::parse(status)
                .ok_or_else(|| StoreError::Corrupt(format!("bad delivery status `{status}`")))?,
            next_attempt_at: opt_ts(r, 8)?,
            last_error: col(r, 9)?,
            attempts: attempts.remove(&delivery).unwrap_or_default(),
            created_at: ts(r, 10)?,
            updated_at: ts(r, 11)?,
        });
    }
    Ok(out)
}

pub async fn list_deliveries<C: GenericClient>(
    c: &C,
    merchant: MerchantId,
    f: &DeliveryFilter,
) -> StoreResult<Vec<DeliveryRecord>> {
    let mut q = Filtered::new(DELIVERY_SELECT);
    q.push(" WHERE d.merchant_id = {}", merchant.to_string());
    if let Some(e) = f.endpoint_id {
        q.push(" AND d.endpoint_id = {}", e.to_string());
    }
    if let Some(t) = f.event_type {
        q.push(" AND d.type = {}", t.as_str());
    }
    if let Some(s) = f.status {
        q.push(" AND d.status = {}", s.as_str());
    }
    if let Some(s) = &f.subject_id {
        q.push(" AND d.subject_id = {}", s.clone());
    }
    if let Some(m) = f.livemode {
        q.push(" AND d.livemode = {}", m);
    }
    if let Some(b) = f.before {
        q.push(" AND d.id < {}", b.to_string());
    }
    q.push(" ORDER BY d.id DESC LIMIT {}", i64::from(f.limit));
    delivery_rows(c, &q.sql, &q.params()).await
}

pub async fn get_delivery<C: GenericClient>(
    c: &C,
    merchant: MerchantId,
    delivery: DeliveryId,
) -> StoreResult<Option<DeliveryRecord>> {
    let sql = format!("{DELIVERY_SELECT} WHERE d.merchant_id = $1 AND d.id = $2");
    Ok(
        delivery_rows(c, &sql, &[&merchant.to_string(), &delivery.to_string()])
            .await?
            .into_iter()
            .next(),
    )
}

pub async fn redeliver<C: GenericClient>(
    c: &C,
    merchant: MerchantId,
    delivery: DeliveryId,
    now: Timestamp,
) -> StoreResult<bool> {
    let n = exec(
        c,
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, leased_until = NULL,
                retry_from = attempts, updated_at = $3
         WHERE id = $1 AND merchant_id = $2",
        &[&delivery.to_string(), &merchant.to_string(), &now.as_millis()],
    )
    .await
    .map_err(db)?;
    Ok(n == 1)
}
