//! Webhook endpoints, signing secrets and the delivery log.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Auth, parse_json, path_id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use poigate_api::*;
use poigate_domain::{DeliveryId, WebhookEndpoint, WebhookEndpointId, WebhookEventType};
use poigate_engine::{DeliveryFilter, DeliveryRecord, DeliveryStatus, EndpointUpdate, NewEndpoint};
use std::time::Duration;

fn endpoint_view(e: &WebhookEndpoint, with_secret: bool) -> WebhookEndpointView {
    WebhookEndpointView {
        id: e.id,
        object: "webhook_endpoint".into(),
        livemode: e.livemode,
        url: e.url.clone(),
        format: e.format.clone().unwrap_or_else(|| "native".into()),
        description: e.description.clone(),
        events: e.events.clone(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        secret: with_secret
            .then(|| e.secrets.last().map(|s| s.secret.clone()))
            .flatten(),
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

fn secrets_view(e: &WebhookEndpoint, now: poigate_domain::Timestamp) -> SecretsView {
    SecretsView {
        object: "webhook_secrets".into(),
        secrets: e
            .secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|x| x > now))
            .map(|s| SecretView {
                secret: s.secret.clone(),
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect(),
    }
}

pub(crate) fn delivery_view(d: &DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: d.id,
        object: "webhook_delivery".into(),
        webhook_id: d.message_id,
        endpoint: d.endpoint_id,
        url: d.url.clone(),
        event_type: d.event_type.as_str().into(),
        subject: d.subject_id.clone(),
        status: d.status.as_str().into(),
        next_attempt_at: d.next_attempt_at,
        last_error: d.last_error.clone(),
        attempts: d
            .attempts
            .iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                started_at: a.started_at,
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error.clone(),
            })
            .collect(),
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

/// Reads an optional JSON body (empty means the defaults).
fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(body)
    }
}

fn overlap(req: &RotateSecretRequest) -> Option<Duration> {
    req.overlap_seconds.map(Duration::from_secs)
}

/// Create a webhook endpoint
///
/// The answer carries the signing secret (`whsec_…`). Every request is signed per the
/// Standard Webhooks specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks",
    request_body = CreateWebhookEndpointRequest,
    responses(
        (status = 201, description = "Created; `secret` is in this answer", body = WebhookEndpointView),
        (status = 400, description = "Invalid request, or a private target while they are not allowed (`target_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The merchant already has the most endpoints allowed (`not_allowed`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_webhook_endpoint(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<CreateWebhookEndpointRequest>,
) -> Result<(StatusCode, Json<WebhookEndpointView>), ApiError> {
    let endpoint = state
        .engine
        .webhooks()
        .create_webhook_endpoint(
            &caller,
            NewEndpoint {
                url: body.url,
                format: body.format,
                events: body.events.unwrap_or_else(|| vec!["*".into()]),
                description: body.description,
                enabled: body.enabled.unwrap_or(true),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(endpoint_view(&endpoint, true))))
}

/// List webhook endpoints
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks",
    responses((status = 200, description = "The merchant's endpoints", body = ListOf<WebhookEndpointView>)),
    security(("bearer" = [])))]
pub async fn list_webhook_endpoints(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<ListOf<WebhookEndpointView>>, ApiError> {
    let list = state
        .engine
        .webhooks()
        .list_webhook_endpoints(&caller)
        .await?;
    Ok(Json(ListOf::new(
        list.iter().map(|e| endpoint_view(e, false)).collect(),
        false,
        None,
    )))
}

/// Get a webhook endpoint
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpointView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_webhook_endpoint(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let e = endpoint_of(&state, &caller, &id).await?;
    Ok(Json(endpoint_view(&e, false)))
}

/// Change a webhook endpoint
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = UpdateWebhookEndpointRequest,
    responses(
        (status = 200, description = "The endpoint after the change", body = WebhookEndpointView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_webhook_endpoint(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateWebhookEndpointRequest>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let id: WebhookEndpointId = path_id(&id, "webhook endpoint")?;
    let e = state
        .engine
        .webhooks()
        .update_webhook_endpoint(
            &caller,
            id,
            EndpointUpdate {
                url: body.url,
                format: body.format,
                events: body.events,
                description: body.description,
                enabled: body.enabled,
            },
        )
        .await?;
    Ok(Json(endpoint_view(&e, false)))
}

/// Delete a webhook endpoint (its pending deliveries are failed)
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_webhook_endpoint(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: WebhookEndpointId = path_id(&id, "webhook endpoint")?;
    state
        .engine
        .webhooks()
        .delete_webhook_endpoint(&caller, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signing secrets of an endpoint
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/secret", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 200, description = "Secrets that sign now (newest last)", body = SecretsView)),
    security(("bearer" = [])))]
pub async fn get_webhook_secret(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<SecretsView>, ApiError> {
    let e = endpoint_of(&state, &caller, &id).await?;
    Ok(Json(secrets_view(&e, state.engine.now())))
}

/// Rotate the signing secret of an endpoint
///
/// The answer carries the new secret. The previous one keeps signing beside it for
/// `overlap_seconds` (default one day): during that time each request carries two
/// signatures, so a receiver can switch secrets without losing a message.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body(content = Option<RotateSecretRequest>),
    responses((status = 200, description = "Rotated; `secret` is the new one", body = WebhookEndpointView)),
    security(("bearer" = [])))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let id: WebhookEndpointId = path_id(&id, "webhook endpoint")?;
    let req: RotateSecretRequest = optional_body(&body)?;
    let e = state
        .engine
        .webhooks()
        .rotate_webhook_secret(&caller, id, overlap(&req))
        .await?;
    Ok(Json(endpoint_view(&e, true)))
}

/// Send a test event to an endpoint
///
/// One signed `webhook.test` message, sent now to this endpoint only — native envelope,
/// Standard Webhooks headers, signed with the endpoint's active secrets, the same SSRF rules
/// and timeout as deliveries — and the answer says what the receiver did. Outside the outbox:
/// nothing is stored and nothing is retried (a disabled endpoint can be tested too).
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 200, description = "Sent; `delivered` when the receiver answered 2xx", body = WebhookTestView)),
    security(("bearer" = [])))]
pub async fn send_test_event(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<WebhookTestView>, ApiError> {
    let e = endpoint_of(&state, &caller, &id).await?;
    let now = state.engine.now();
    let webhook_id = poigate_domain::MessageId::generate(now).to_string();
    let body = serde_json::to_vec(&serde_json::json!({
        "id": webhook_id,
        "type": "webhook.test",
        "created_at": now,
        "data": {
            "object": "webhook_test",
            "endpoint": e.id.to_string(),
            "livemode": e.livemode,
            "message": "A test event from poigate: nothing happened.",
        },
    }))
    .unwrap_or_default();
    let secrets: Vec<String> = e
        .active_secrets(now)
        .into_iter()
        .map(str::to_string)
        .collect();
    let outcome = state
        .webhook_test
        .send(&e.url, &secrets, &webhook_id, now.as_millis() / 1000, body)
        .await;
    Ok(Json(WebhookTestView {
        object: "webhook_test".into(),
        endpoint: e.id.to_string(),
        webhook_id: outcome.webhook_id,
        delivered: outcome.delivered,
        status: outcome.status,
        error: outcome.error,
        duration_ms: outcome.duration_ms,
    }))
}

/// The secret that signs per-interaction callbacks
///
/// Callbacks given in a create request (`webhooks: [{url, events}]`) are signed like
/// endpoint deliveries, with this merchant-wide secret.
#[utoipa::path(get, path = "/v1/webhook-callback-secret", tag = "webhooks",
    responses((status = 200, description = "Secrets that sign callbacks now", body = SecretsView)),
    security(("bearer" = [])))]
pub async fn get_callback_secret(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<SecretsView>, ApiError> {
    let record = state
        .engine
        .webhooks()
        .ensure_callback_secret(caller.merchant_id)
        .await?;
    Ok(Json(secrets_view(&record, state.engine.now())))
}

/// Rotate the callback signing secret
#[utoipa::path(post, path = "/v1/webhook-callback-secret/rotate", tag = "webhooks",
    request_body(content = Option<RotateSecretRequest>),
    responses((status = 200, description = "Secrets after the rotation", body = SecretsView)),
    security(("bearer" = [])))]
pub async fn rotate_callback_secret(
    State(state): State<AppState>,
    Auth(caller): Auth,
    body: Bytes,
) -> Result<Json<SecretsView>, ApiError> {
    let req: RotateSecretRequest = optional_body(&body)?;
    let record = state
        .engine
        .webhooks()
        .rotate_callback_secret(caller.merchant_id, overlap(&req))
        .await?;
    Ok(Json(secrets_view(&record, state.engine.now())))
}

/// The delivery log
///
/// Every delivery with every attempt (time, HTTP status, latency, error), newest first.
#[utoipa::path(get, path = "/v1/webhook-deliveries", tag = "webhooks",
    params(ListDeliveriesQuery),
    responses(
        (status = 200, description = "Deliveries, newest first", body = ListOf<DeliveryView>),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<ListDeliveriesQuery>,
) -> Result<Json<ListOf<DeliveryView>>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "out_of_range",
            "limit is 1 to 100",
        ));
    }
    let invalid = |field: &str, msg: &str| ApiError::invalid_field(field, "invalid_value", msg);
    let filter = DeliveryFilter {
        endpoint_id: q
            .endpoint
            .as_deref()
            .map(|e| {
                e.parse()
                    .map_err(|_| invalid("endpoint", "an endpoint id (we_…)"))
            })
            .transpose()?,
        event_type: q
            .event
            .as_deref()
            .map(|e| {
                WebhookEventType::parse(e)
                    .ok_or_else(|| invalid("event", "an event type, e.g. interaction.completed"))
            })
            .transpose()?,
        status: q
            .status
            .as_deref()
            .map(|s| {
                DeliveryStatus::parse(s)
                    .ok_or_else(|| invalid("status", "pending, succeeded or failed"))
            })
            .transpose()?,
        subject_id: q.subject,
        // The engine sets the caller's mode.
        livemode: None,
        before: q
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<DeliveryId>()
                    .map_err(|_| invalid("cursor", "the next_cursor of a previous page"))
            })
            .transpose()?,
        limit: limit + 1,
    };
    let mut found = state.engine.webhooks().deliveries(&caller, &filter).await?;
    let has_more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next = if has_more {
        found.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(Json(ListOf::new(
        found.iter().map(delivery_view).collect(),
        has_more,
        next,
    )))
}

/// Get a delivery with its attempts
#[utoipa::path(get, path = "/v1/webhook-deliveries/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "The delivery", body = DeliveryView),
        (status = 404, description = "No such delivery", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_delivery(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    let id: DeliveryId = path_id(&id, "webhook delivery")?;
    let d = state.engine.webhooks().delivery(&caller, id).await?;
    Ok(Json(delivery_view(&d)))
}

/// Send a delivery again
///
/// The delivery is due at once, with a fresh retry schedule and the same `webhook-id`.
#[utoipa::path(post, path = "/v1/webhook-deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Due again", body = DeliveryView),
        (status = 404, description = "No such delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_allowed`: still pending, or the endpoint is disabled or deleted", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn redeliver(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let id: DeliveryId = path_id(&id, "webhook delivery")?;
    let d = state.engine.webhooks().redeliver(&caller, id).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(&d))))
}

/// The caller's endpoint named by a path segment (another merchant's or mode's: not found).
async fn endpoint_of(
    state: &AppState,
    caller: &poigate_engine::Caller,
    raw: &str,
) -> Result<WebhookEndpoint, ApiError> {
    let id: WebhookEndpointId = path_id(raw, "webhook endpoint")?;
    Ok(state.engine.webhooks().webhook_endpoint(caller, id).await?)
}
