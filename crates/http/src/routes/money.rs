//! Money after the sale: capture, void, referenced refunds, transaction events.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Auth, parse_json, path_id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use poigate_api::*;
use poigate_domain::{OperationId, OperationKind, TransactionId};
use poigate_engine::{OperationRequest, OperationResult};

fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(body)
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_string())).map_err(|_| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "invalid_idempotency_key",
                "must be printable ASCII",
            )
        }),
    }
}

fn respond(result: OperationResult, status: StatusCode) -> Response {
    let body = OperationResponse {
        operation: OperationView::new(&result.operation),
        transaction: TransactionView::new(&result.transaction),
    };
    let mut response = (status, Json(body)).into_response();
    if result.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

async fn operate(
    state: &AppState,
    caller: &poigate_engine::Caller,
    id: &str,
    headers: &HeaderMap,
    kind: OperationKind,
    amount: Option<i64>,
    reference: Option<String>,
) -> Result<OperationResult, ApiError> {
    let id: TransactionId = path_id(id, "transaction")?;
    Ok(state
        .engine
        .transactions()
        .request_operation(
            caller,
            id,
            OperationRequest {
                kind,
                amount,
                reference,
                idempotency_key: idempotency_key(headers)?,
            },
        )
        .await?)
}

/// Capture an approved auth
///
/// Up to the authorized amount (default: all of it); one capture per auth. Answers when the
/// processor did: `operation.status` is `succeeded` or `failed`. The transaction's condition
/// becomes `pendingsettlement`.
#[utoipa::path(post, path = "/v1/transactions/{id}/capture", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (24 h)")),
    request_body(content = Option<CaptureRequest>),
    responses(
        (status = 200, description = "The capture and the transaction after it", body = OperationResponse),
        (status = 404, description = "No such transaction", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_capturable` (a sale, a decline), `already_captured`, `already_voided`, `operation_in_progress`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`capture_exceeds_authorized`, `amount_not_positive`, `idempotency_mismatch`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn capture(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CaptureRequest = optional_body(&body)?;
    let result = operate(
        &state,
        &caller,
        &id,
        &headers,
        OperationKind::Capture,
        req.amount,
        None,
    )
    .await?;
    Ok(respond(result, StatusCode::OK))
}

/// Raise an approved auth (incremental authorisation)
///
/// Adds `amount` to what an uncaptured auth may capture (hotel, rental, a tab that grew).
/// Answers when the processor did: `operation.status` is `succeeded` or `failed` (the
/// simulated processor declines amounts ending in `124`); on success the transaction's
/// `authorized_amount` includes it.
#[utoipa::path(post, path = "/v1/transactions/{id}/increment", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (24 h)")),
    request_body(content = IncrementRequest),
    responses(
        (status = 200, description = "The increment and the transaction after it", body = OperationResponse),
        (status = 404, description = "No such transaction", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_incrementable` (a sale, a decline, a captured auth), `already_voided`, `operation_in_progress`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`amount_not_positive`, `idempotency_mismatch`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn increment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: IncrementRequest = crate::extract::parse_json(&body)?;
    let result = operate(
        &state,
        &caller,
        &id,
        &headers,
        OperationKind::Increment,
        Some(req.amount),
        None,
    )
    .await?;
    Ok(respond(result, StatusCode::OK))
}

/// Void a transaction
///
/// An uncaptured auth, or a sale (or card-present refund) that is not settled and has no
/// refunds. Answers when the processor did; the condition becomes `canceled`.
#[utoipa::path(post, path = "/v1/transactions/{id}/void", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (24 h)")),
    responses(
        (status = 200, description = "The void and the transaction after it", body = OperationResponse),
        (status = 404, description = "No such transaction", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_voidable` (captured, settled, refunded, declined), `already_voided`, `operation_in_progress`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn void(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let result = operate(
        &state,
        &caller,
        &id,
        &headers,
        OperationKind::Void,
        None,
        None,
    )
    .await?;
    Ok(respond(result, StatusCode::OK))
}

/// Refund a transaction (referenced, without the card)
///
/// Full or partial; any number of refunds while their sum stays within the captured amount.
/// The refund is `pending` at once (its amount is reserved in `refund_pending_amount`) and
/// becomes `succeeded` or `failed` asynchronously: poll it, or receive
/// `transaction.refund.updated` webhooks.
#[utoipa::path(post, path = "/v1/transactions/{id}/refunds", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (24 h)")),
    request_body(content = Option<RefundRequest>),
    responses(
        (status = 202, description = "The pending refund and the transaction after the reservation", body = OperationResponse),
        (status = 404, description = "No such transaction", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_refundable` (declined, voided, not captured), `operation_in_progress`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`refund_exceeds_captured`, `amount_not_positive`, `idempotency_mismatch`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_refund(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: RefundRequest = optional_body(&body)?;
    let result = operate(
        &state,
        &caller,
        &id,
        &headers,
        OperationKind::Refund,
        req.amount,
        req.reference,
    )
    .await?;
    Ok(respond(result, StatusCode::ACCEPTED))
}

/// List the refunds of a transaction
#[utoipa::path(get, path = "/v1/transactions/{id}/refunds", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id")),
    responses(
        (status = 200, description = "Refunds, oldest first", body = ListOf<OperationView>),
        (status = 404, description = "No such transaction", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_refunds(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<ListOf<OperationView>>, ApiError> {
    let id: TransactionId = path_id(&id, "transaction")?;
    let ops = state
        .engine
        .transactions()
        .operations(&caller, id, Some(OperationKind::Refund))
        .await?;
    Ok(Json(ListOf::new(
        ops.iter().map(OperationView::new).collect(),
        false,
        None,
    )))
}

/// Get one refund
#[utoipa::path(get, path = "/v1/transactions/{id}/refunds/{refund}", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id"), ("refund" = String, Path, description = "Refund id")),
    responses(
        (status = 200, description = "The refund", body = OperationView),
        (status = 404, description = "No such refund", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_refund(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((id, refund)): Path<(String, String)>,
) -> Result<Json<OperationView>, ApiError> {
    let id: TransactionId = path_id(&id, "transaction")?;
    let refund: OperationId = path_id(&refund, "refund")?;
    let op = state
        .engine
        .transactions()
        .operation(&caller, id, refund)
        .await?;
    if op.kind != OperationKind::Refund {
        return Err(ApiError::not_found("refund"));
    }
    Ok(Json(OperationView::new(&op)))
}

#[derive(serde::Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TransactionEventsQuery {
    /// Only events with `seq` greater than this.
    after_seq: Option<u64>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The events of a transaction after its card decision
#[utoipa::path(get, path = "/v1/transactions/{id}/events", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id"), TransactionEventsQuery),
    responses(
        (status = 200, description = "Events, gap-free by `seq`", body = ListOf<TransactionEventView>),
        (status = 404, description = "No such transaction", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn transaction_events(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<TransactionEventsQuery>,
) -> Result<Json<ListOf<TransactionEventView>>, ApiError> {
    let id: TransactionId = path_id(&id, "transaction")?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "out_of_range",
            "limit is 1 to 1000",
        ));
    }
    let mut events = state
        .engine
        .transactions()
        .transaction_events(&caller, id, q.after_seq.unwrap_or(0), limit + 1)
        .await?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    Ok(Json(ListOf::new(
        events.iter().map(TransactionEventView::new).collect(),
        has_more,
        None,
    )))
}
