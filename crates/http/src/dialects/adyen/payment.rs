//! `PaymentRequest` (payments, and card-present refunds with `PaymentType: Refund`): an
//! interaction on the terminal named by `POIID`. `/sync` answers the `PaymentResponse` once
//! the interaction is final; `/async` answers `ok` and the result goes out through the webhook
//! outbox (see `notification.rs`).

use super::answer;
use super::encode::Form;
use super::handlers::{Ctx, Mode};
use super::render::{NO_RESPONSE_FROM_POI, meta, payment_message};
use super::request::{PaymentKind, PaymentRequest, Qualifier};
use super::wire::TransactionIdentification;
use super::wire::{PaymentResponse, Response as NexoResponse, SaleData, SaleToPoiResponse};
use axum::http::StatusCode;
use axum::response::Response;
use poigate_domain::{CancelReason, Interaction, InteractionType, Outcome};
use poigate_engine::{CreateRequest, EngineError, InteractionFilter};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long `/sync` waits beyond the card timeout for the terminal's result before it
/// answers as Adyen's cloud does when a terminal stays silent (a `Reject`).
const SYNC_GRACE: Duration = Duration::from_secs(10);

pub async fn handle(ctx: &Ctx<'_>, request: PaymentRequest) -> Response {
    let kind = match &request.kind {
        PaymentKind::Sale => InteractionType::Sale,
        // The dialect's mapping: a pre-authorisation is the engine's `auth`, which only
        // authorises; capture and cancel are the engine's operations on it.
        PaymentKind::PreAuth => InteractionType::Auth,
        PaymentKind::Refund => InteractionType::Refund,
        PaymentKind::Other(other) => {
            return failure(
                ctx,
                &request,
                "UnavailableService",
                Form::new()
                    .add("message", format!("PaymentType {other} is not supported"))
                    .encode(),
            );
        }
    };
    let engine = ctx.engine;
    let header = ctx.header;
    let terminal = match ctx.terminal().await {
        Ok(Some(t)) => t,
        Ok(None) => return unknown_poiid(ctx),
        Err(e) => return engine_error(ctx, &request, e).await,
    };
    if let Some(response) = service_id_taken(ctx, &request, terminal).await {
        return response;
    }
    let mut metadata = BTreeMap::new();
    metadata.insert(meta::DIALECT.to_string(), meta::DIALECT_VALUE.to_string());
    metadata.insert(meta::POIID.to_string(), header.poiid.clone());
    metadata.insert(
        meta::SALE_TIMESTAMP.to_string(),
        request.sale_transaction.time_stamp.clone(),
    );
    let create = CreateRequest {
        terminal: header.poiid.clone(),
        kind,
        amount: request.amount,
        reference: Some(request.sale_transaction.transaction_id.clone()),
        sale_id: Some(header.sale_id.clone()),
        service_id: Some(header.service_id.clone()),
        timeout_seconds: None,
        metadata,
        webhooks: Vec::new(),
        // A tip is for a payment; Adyen's terminals do not ask for one on a refund.
        ask_for_tip: request.ask_gratuity && kind != InteractionType::Refund,
        idempotency_key: None,
    };
    let created = match engine.interactions().create(ctx.caller, create).await {
        Ok(c) => c,
        Err(e) => return engine_error(ctx, &request, e).await,
    };
    match ctx.mode {
        Mode::Async => answer::ok(),
        Mode::Sync => finish(ctx, created.interaction).await,
    }
}

/// Waits for the final state (bounded by the card timeout plus a grace period) and answers
/// the `PaymentResponse`.
async fn finish(ctx: &Ctx<'_>, mut interaction: Interaction) -> Response {
    tracing::debug!(interaction = %interaction.id, "synchronous wait parked");
    let deadline =
        Instant::now() + Duration::from_secs(u64::from(interaction.timeout_seconds)) + SYNC_GRACE;
    while !interaction.is_final() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return no_response(ctx);
        }
        interaction = match ctx
            .engine
            .interactions()
            .wait(ctx.caller, interaction.id, None, left)
            .await
        {
            Ok(i) => i,
            Err(e) => return answer::engine_error(e),
        };
        if !interaction.is_final() && ctx.engine.is_draining() {
            return in_progress(&interaction);
        }
    }
    if matches!(
        interaction.outcome,
        Some(Outcome::Cancelled {
            reason: CancelReason::NotDelivered
        })
    ) {
        return no_response(ctx);
    }
    let transaction = match interaction.transaction_id {
        Some(id) => match ctx.engine.transactions().transaction(ctx.caller, id).await {
            Ok(t) => Some(t),
            Err(e) => return answer::engine_error(e),
        },
        None => None,
    };
    answer::json(
        StatusCode::OK,
        &payment_message(
            &interaction,
            transaction.as_ref(),
            &[Qualifier::CashierReceipt, Qualifier::CustomerReceipt],
        ),
    )
}

/// The gateway is draining (shutting down) while the payment runs: the `PaymentResponse`
/// Adyen gives for a payment not finished yet (`Failure`, `ErrorCondition: InProgress`,
/// "Uncompleted transaction", as its `TransactionStatus` answers). Not the `Reject` of a
/// terminal that did not answer: the payment goes on, and the POS asks for its result with a
/// `TransactionStatus` request, which the next node answers.
fn in_progress(interaction: &Interaction) -> Response {
    answer::json(StatusCode::OK, &payment_message(interaction, None, &[]))
}

/// The terminal did not answer: Adyen's cloud sends a `Reject` event notification.
fn no_response(ctx: &Ctx<'_>) -> Response {
    ctx.reject(NO_RESPONSE_FROM_POI)
}

fn unknown_poiid(ctx: &Ctx<'_>) -> Response {
    ctx.reject(&format!("Unknown POIID {}", ctx.header.poiid))
}

/// A `PaymentResponse` refusing the request before any interaction exists.
fn failure(
    ctx: &Ctx<'_>,
    request: &PaymentRequest,
    condition: &'static str,
    additional: String,
) -> Response {
    respond(
        ctx,
        request,
        StatusCode::OK,
        NexoResponse::failure(condition, additional),
    )
}

fn respond(
    ctx: &Ctx<'_>,
    request: &PaymentRequest,
    status: StatusCode,
    response: NexoResponse,
) -> Response {
    let mut message = SaleToPoiResponse::new(ctx.response_header("Payment"));
    message.payment = Some(PaymentResponse {
        poi_data: None,
        sale_data: SaleData {
            sale_transaction_id: Some(TransactionIdentification {
                time_stamp: request.sale_transaction.time_stamp.clone(),
                transaction_id: request.sale_transaction.transaction_id.clone(),
            }),
        },
        payment_receipt: None,
        payment_result: None,
        response,
    });
    answer::json(status, &message.into_envelope())
}

/// A `ServiceID` is unique per POIID for 48 hours: one used on this terminal by another
/// cash register (another `SaleID`) is refused. The same `SaleID` + `ServiceID` is the
/// engine's natural idempotency key: an identical retry gets the original result, a different
/// request is refused (see `engine_error`).
async fn service_id_taken(
    ctx: &Ctx<'_>,
    request: &PaymentRequest,
    terminal: poigate_domain::TerminalId,
) -> Option<Response> {
    let filter = InteractionFilter {
        terminal_id: Some(terminal),
        service_id: Some(ctx.header.service_id.clone()),
        limit: 1,
        ..InteractionFilter::default()
    };
    let found = match ctx.engine.interactions().find(ctx.caller, &filter).await {
        Ok(found) => found,
        Err(e) => return Some(engine_error(ctx, request, e).await),
    };
    let window = i64::try_from(ctx.engine.config().natural_key_ttl.as_millis()).unwrap_or(i64::MAX);
    let now = ctx.engine.now();
    let taken = found.first().is_some_and(|earlier| {
        now.millis_since(earlier.created_at) < window
            && earlier.sale_id.as_deref() != Some(ctx.header.sale_id.as_str())
    });
    taken.then(|| service_id_reused(ctx, request))
}

fn service_id_reused(ctx: &Ctx<'_>, request: &PaymentRequest) -> Response {
    failure(
        ctx,
        request,
        "NotAllowed",
        Form::new()
            .add(
                "message",
                format!(
                    "ServiceID {} was already used on {} within the last 48 hours",
                    ctx.header.service_id, ctx.header.poiid
                ),
            )
            .encode(),
    )
}

/// The field of the request an engine validation error is about.
fn request_field(field: &str) -> (&'static str, &'static str) {
    match field {
        "amount.value" => (
            "SaleToPOIRequest.PaymentRequest.PaymentTransaction.AmountsReq",
            "RequestedAmount",
        ),
        "reference" => (
            "SaleToPOIRequest.PaymentRequest.SaleData.SaleTransactionID",
            "TransactionID",
        ),
        "sale_id" => ("SaleToPOIRequest.MessageHeader", "SaleID"),
        "service_id" => ("SaleToPOIRequest.MessageHeader", "ServiceID"),
        f if f.starts_with("metadata") => (
            "SaleToPOIRequest.PaymentRequest.SaleData.SaleTransactionID",
            "TimeStamp",
        ),
        _ => ("SaleToPOIRequest", "PaymentRequest"),
    }
}

/// A refused payment in nexo's terms where nexo has one; the rest as the dialect's
/// `ServiceException` ([`answer::engine_error`]). Exhaustive on purpose (see
/// `crate::dialect`).
#[deny(clippy::wildcard_enum_match_arm)]
async fn engine_error(ctx: &Ctx<'_>, request: &PaymentRequest, e: EngineError) -> Response {
    match e {
        EngineError::TerminalBusy { blocking } => {
            // Adyen names the ServiceID of the transaction in progress, so the POS can abort it.
            let blocking_service = ctx
                .engine
                .interactions()
                .get(ctx.caller, blocking)
                .await
                .ok()
                .and_then(|i| i.service_id);
            failure(
                ctx,
                request,
                "Busy",
                Form::new()
                    .add(
                        "message",
                        "Forbidden Request, Service Dialogue PaymentRequest is in Progress",
                    )
                    .add_opt("serviceId", blocking_service)
                    .encode(),
            )
        }
        EngineError::TerminalOffline => no_response(ctx),
        EngineError::TerminalNotFound(_) => unknown_poiid(ctx),
        EngineError::IdempotencyMismatch => service_id_reused(ctx, request),
        EngineError::IdempotencyInProgress => failure(
            ctx,
            request,
            "InProgress",
            Form::new()
                .add(
                    "message",
                    "A request with this SaleID and ServiceID is in progress",
                )
                .encode(),
        ),
        EngineError::Validation(errors) => {
            let message = errors
                .errors()
                .first()
                .map(|fe| {
                    let (path, field) = request_field(&fe.field);
                    format!("At {path}, field {field}: Invalid value ({})", fe.message)
                })
                .unwrap_or_else(|| "Invalid request".to_string());
            respond(
                ctx,
                request,
                StatusCode::BAD_REQUEST,
                NexoResponse::failure("MessageFormat", Form::new().add("errors", message).encode()),
            )
        }
        EngineError::NotFound(_)
        | EngineError::Duplicate(_)
        | EngineError::WrongTerminal
        | EngineError::UnknownInteraction
        | EngineError::InvalidReport(_)
        | EngineError::WrongSeq { .. }
        | EngineError::InvalidPairingCode
        | EngineError::NotAllowed(_)
        | EngineError::LivemodeMismatch
        | EngineError::Transition(_)
        | EngineError::MoneyRule(_)
        | EngineError::Store(_)
        | EngineError::Randomness(_) => answer::engine_error(e),
    }
}
