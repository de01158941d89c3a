//! CM.com online payments, credit-card transactions (`/cm`), on a card terminal.
//!
//! Follows the seed document (Get Transaction) and CM.com's public documentation for what it
//! leaves out (creating a transaction, the access token, webhook bodies). CM.com's API is an
//! online checkout; here the "checkout" is a card terminal: the API key's default terminal
//! (so CM.com's documented create body works unchanged), or the one the poigate extension
//! field `terminal` names (id, POIID or serial number). See `docs/dialects.md`.

mod map;
mod wire;

use crate::AppState;
use crate::dialect::{CredentialPlace, Dialect, ErrorShape, Unauthenticated, authenticate};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use poigate_domain::{InteractionId, InteractionType, Money, OutboxMessage, WebhookSubject};
use poigate_engine::{Caller, CreateRequest, EngineError};
use wire::{CmError, CreateTransaction, TransactionView};

/// The CM.com dialect, mounted at `/cm`; renders the `cm.<entry>.<event>` webhook formats
/// its transactions' `webhooks` entries subscribe to.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cm;

impl Dialect for Cm {
    type Error = Failure;
    const CREDENTIALS: &'static [CredentialPlace] = super::BEARER_OR_API_KEY;

    fn name(&self) -> &'static str {
        "cm"
    }

    fn prefix(&self) -> &'static str {
        "/cm"
    }

    fn router(&self) -> Router<AppState> {
        router()
    }

    fn webhook_formats(&self) -> &'static [&'static str] {
        &["cm."]
    }

    fn render_webhook(&self, message: &OutboxMessage, format: &str) -> Result<Vec<u8>, String> {
        render_webhook(message, format)
    }

    /// `FINALSTATUS` and `STATUS_CHANGE` both follow a sale's completion: one poigate
    /// message, two CM.com notifications. Each gets its own id (`msg_…_finalstatus`), so a
    /// receiver that de-duplicates by `webhook-id` keeps both.
    fn webhook_id(&self, message: &OutboxMessage, format: &str) -> String {
        match map::parse_format(format) {
            Some((_, event)) => format!("{}_{}", message.id, event.to_ascii_lowercase()),
            None => message.id.to_string(),
        }
    }
}

fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/authorization/oauth2/token",
            post(crate::oauth::issue_token),
        )
        .route(
            "/api/v1/paymentmethods/creditcard/v1/transactions",
            post(create_transaction).get(list_transactions),
        )
        .route(
            "/api/v1/paymentmethods/creditcard/v1/transactions/{transaction_id}",
            get(get_transaction),
        )
        .route(
            "/api/v1/paymentmethods/creditcard/v1/transactions/{transaction_id}/refunds",
            post(create_refund).get(list_refunds),
        )
        .route(
            "/api/v1/paymentmethods/creditcard/v1/transactions/{transaction_id}/cancel",
            post(cancel_transaction),
        )
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "not supported by poigate's CM.com dialect; see docs/dialects.md",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
}

/// An error answer in CM.com's shape: a status and `{"message": …}` ("see message for
/// details").
pub struct Failure(StatusCode, String, Option<u64>);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(CmError { message: self.1 })).into_response();
        if let Some(seconds) = self.2 {
            return crate::dialect::with_retry_after(response, seconds);
        }
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            // Only storage failures answer 503: nothing was changed, retrying is safe.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl ErrorShape for Failure {
    fn from_engine(e: EngineError) -> Failure {
        engine_error(e)
    }

    fn unauthenticated(why: Unauthenticated) -> Failure {
        match why.retry_after_seconds() {
            Some(seconds) => Failure(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests; retry after {seconds} seconds"),
                Some(seconds),
            ),
            None => error(StatusCode::UNAUTHORIZED, "a valid access token is required"),
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Failure {
    Failure(status, message.into(), None)
}

/// Exhaustive on purpose (see `crate::dialect`): a new engine error must be decided here.
#[deny(clippy::wildcard_enum_match_arm)]
fn engine_error(e: EngineError) -> Failure {
    match e {
        EngineError::Validation(v) => error(StatusCode::BAD_REQUEST, v.to_string()),
        EngineError::NotFound(_) | EngineError::UnknownInteraction => {
            error(StatusCode::NOT_FOUND, "transaction not found")
        }
        EngineError::TerminalNotFound(t) => {
            error(StatusCode::BAD_REQUEST, format!("terminal `{t}` not found"))
        }
        EngineError::TerminalBusy { blocking } => error(
            StatusCode::CONFLICT,
            format!(
                "the terminal is busy with transaction {}",
                blocking.uuid().hyphenated()
            ),
        ),
        EngineError::TerminalOffline => error(StatusCode::CONFLICT, "the terminal is offline"),
        EngineError::IdempotencyMismatch => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was used with a different request",
        ),
        EngineError::IdempotencyInProgress => error(
            StatusCode::CONFLICT,
            "a request with this Idempotency-Key is in progress",
        ),
        e @ (EngineError::Store(_) | EngineError::Randomness(_)) => {
            tracing::error!(error = %e, "storage failure");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unavailable; retry",
            )
        }
        EngineError::MoneyRule(rule) => error(StatusCode::BAD_REQUEST, rule.to_string()),
        EngineError::Duplicate(_)
        | EngineError::WrongTerminal
        | EngineError::InvalidReport(_)
        | EngineError::WrongSeq { .. }
        | EngineError::InvalidPairingCode
        | EngineError::NotAllowed(_)
        | EngineError::LivemodeMismatch
        | EngineError::Transition(_) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// A CM.com transaction id is the UUID of a poigate interaction.
fn transaction_id(raw: &str) -> Result<InteractionId, Failure> {
    uuid::Uuid::try_parse(raw)
        .map(InteractionId::from_uuid)
        .map_err(|_| error(StatusCode::NOT_FOUND, "transaction not found"))
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Failure> {
    authenticate(state, Cm::CREDENTIALS, headers, None).await
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/cm")
}

async fn render(
    state: &AppState,
    caller: &Caller,
    id: InteractionId,
    base: &str,
) -> Result<TransactionView, Failure> {
    let interaction = state
        .engine
        .interactions()
        .get(caller, id)
        .await
        .map_err(engine_error)?;
    let transaction = match interaction.transaction_id {
        Some(t) => Some(
            state
                .engine
                .transactions()
                .transaction(caller, t)
                .await
                .map_err(engine_error)?,
        ),
        None => None,
    };
    Ok(map::view(&interaction, transaction.as_ref(), base))
}

/// Create a credit-card transaction on a terminal.
async fn create_transaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let caller = caller(&state, &headers).await?;
    let request: CreateTransaction = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}"),
        )
    })?;
    let prepared = map::prepare(&request, state.engine.now())
        .map_err(|message| error(StatusCode::BAD_REQUEST, message))?;
    let named = request.terminal.clone().or_else(|| {
        headers
            .get("x-poigate-terminal")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    // CM.com's documented body names no terminal: the key's (or OAuth client's) default.
    let terminal = match named {
        Some(t) => t,
        None => state
            .engine
            .admin()
            .default_terminal(&caller)
            .await
            .map_err(engine_error)?
            .map(|t| t.id.to_string())
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "no terminal: set the API key's default terminal \
                     (PUT /v1/api-keys/{id}/default-terminal) or send the poigate extension \
                     `terminal` (the terminal id, POIID or serial number)",
                )
            })?,
    };
    let amount = match Money::from_parts(request.amount, &request.currency) {
        Ok(m) if (1..=99_999_999).contains(&m.value()) => m,
        Ok(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "amount must be 1 to 99999999",
            ));
        }
        Err(e) => return Err(error(StatusCode::BAD_REQUEST, e.to_string())),
    };
    let create = CreateRequest {
        terminal,
        kind: InteractionType::Sale,
        amount,
        reference: Some(request.reference.clone()),
        sale_id: None,
        service_id: None,
        timeout_seconds: prepared.timeout_seconds,
        metadata: prepared.metadata,
        webhooks: prepared.webhooks,
        ask_for_tip: false,
        idempotency_key: idempotency_key(&headers),
    };
    let created = state
        .engine
        .interactions()
        .create(&caller, create)
        .await
        .map_err(engine_error)?;
    let view = render(&state, &caller, created.interaction.id, &base_url(&headers)).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Get a credit-card transaction.
async fn get_transaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
) -> Result<Response, Failure> {
    let caller = caller(&state, &headers).await?;
    let id = self::transaction_id(&transaction_id)?;
    let view = render(&state, &caller, id, &base_url(&headers)).await?;
    Ok(Json(view).into_response())
}

/// Refund (part of) a successful transaction. Answers the transaction with its updated
/// `refunds`; the refund completes asynchronously (`REFUND_STATUS` webhook).
async fn create_refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    let caller = caller(&state, &headers).await?;
    let id = self::transaction_id(&transaction_id)?;
    let request: wire::CreateRefund = if body.iter().all(u8::is_ascii_whitespace) {
        wire::CreateRefund::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("invalid request body: {e}"),
            )
        })?
    };
    let interaction = state
        .engine
        .interactions()
        .get(&caller, id)
        .await
        .map_err(engine_error)?;
    let txn = interaction.transaction_id.ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "the transaction has no payment to refund",
        )
    })?;
    let op = poigate_engine::OperationRequest {
        kind: poigate_domain::OperationKind::Refund,
        amount: request.amount,
        reference: request.reason,
        idempotency_key: idempotency_key(&headers),
    };
    state
        .engine
        .transactions()
        .request_operation(&caller, txn, op)
        .await
        .map_err(engine_error)?;
    let view = render(&state, &caller, id, &base_url(&headers)).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET …/transactions?reference=…&limit=…`: the caller's credit-card transactions, newest
/// first (at most `limit`, 1 to 100, default 20), optionally only those with `reference`.
async fn list_transactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let caller = caller(&state, &headers).await?;
    let mut reference = None;
    let mut limit = 20;
    for (k, v) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "reference" => reference = Some(v.into_owned()),
            "limit" => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| error(StatusCode::BAD_REQUEST, "limit must be 1 to 100"))?;
            }
            other => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("unsupported query parameter `{other}` (reference, limit)"),
                ));
            }
        }
    }
    let filter = poigate_engine::InteractionFilter {
        reference,
        limit,
        ..Default::default()
    };
    let found = state
        .engine
        .interactions()
        .find(&caller, &filter)
        .await
        .map_err(engine_error)?;
    let base = base_url(&headers);
    let mut views = Vec::with_capacity(found.len());
    // Only what this dialect created: another API's sales are not CM.com transactions.
    for interaction in found
        .iter()
        .filter(|i| i.metadata.get(wire::keys::DIALECT).map(String::as_str) == Some("cm"))
    {
        views.push(render(&state, &caller, interaction.id, &base).await?);
    }
    Ok(Json(views).into_response())
}

/// `GET …/transactions/{transactionId}/refunds`: the transaction's refunds, oldest first.
async fn list_refunds(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
) -> Result<Response, Failure> {
    let caller = caller(&state, &headers).await?;
    let id = self::transaction_id(&transaction_id)?;
    let interaction = state
        .engine
        .interactions()
        .get(&caller, id)
        .await
        .map_err(engine_error)?;
    let refunds = match interaction.transaction_id {
        None => Vec::new(),
        Some(txn) => state
            .engine
            .transactions()
            .operations(&caller, txn, Some(poigate_domain::OperationKind::Refund))
            .await
            .map_err(engine_error)?,
    };
    Ok(Json(
        refunds
            .iter()
            .map(|op| map::refund_view(op, id))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// poigate extension: ask the terminal to abort an `OPEN` transaction. Answers the
/// transaction once the terminal decided (at most 10 s), `CANCELLED` or its real outcome.
async fn cancel_transaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
) -> Result<Response, Failure> {
    let caller = caller(&state, &headers).await?;
    let id = self::transaction_id(&transaction_id)?;
    state
        .engine
        .interactions()
        .cancel(&caller, id)
        .await
        .map_err(engine_error)?;
    state
        .engine
        .interactions()
        .wait(&caller, id, None, std::time::Duration::from_secs(10))
        .await
        .map_err(engine_error)?;
    let view = render(&state, &caller, id, &base_url(&headers)).await?;
    Ok(Json(view).into_response())
}

/// The body of a CM.com webhook: `{createdAt, event, transaction, reference, payment}`.
/// The CM event name travels in the callback's format (`cm.<entry>.<event>`).
fn render_webhook(message: &OutboxMessage, format: &str) -> Result<Vec<u8>, String> {
    let (_, event) = map::parse_format(format)
        .ok_or_else(|| format!("not a CM.com webhook format: {format}"))?;
    let (interaction, reference, payment) = match &message.subject {
        WebhookSubject::Interaction {
            interaction,
            transaction,
        } => (
            interaction.id.uuid(),
            interaction.reference.clone(),
            transaction.as_ref().map(|t| t.id.uuid()),
        ),
        WebhookSubject::Transaction { transaction }
        | WebhookSubject::Operation { transaction, .. } => (
            transaction.interaction_id.uuid(),
            transaction.reference.clone(),
            Some(transaction.id.uuid()),
        ),
        WebhookSubject::Terminal { .. } => {
            return Err("terminal events have no CM.com webhook".into());
        }
    };
    serde_json::to_vec(&wire::Webhook {
        created_at: message.created_at.to_rfc3339_seconds(),
        event,
        transaction: interaction.hyphenated().to_string(),
        reference,
        payment: payment.map(|p| p.hyphenated().to_string()),
    })
    .map_err(|e| e.to_string())
}
