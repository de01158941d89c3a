//! `ReversalRequest`: a referenced refund of an earlier payment, named by its
//! `OriginalPOITransaction.POITransactionID.TransactionID` (`<interaction>.<transaction>`, or
//! either id alone). The refund is requested from the engine at once and completes
//! asynchronously, so `/sync` and `/async` both answer the `ReversalResponse` right away:
//! `Success` means the refund was accepted (as with Adyen); a transaction status request
//! with `MessageCategory: Reversal` tells how it ended.

use super::answer;
use super::encode::{Form, major_units, percent, timestamp};
use super::handlers::Ctx;
use super::psp;
use super::render::RECONCILIATION_ID;
use super::request::{ReversalRequest, parse_amount};
use super::wire::{
    OriginalPoiTransaction, PoiData, Response as NexoResponse, ReversalResponse, SaleToPoiResponse,
    TransactionIdentification,
};
use axum::http::StatusCode;
use axum::response::Response;
use poigate_domain::{InteractionId, OperationKind, OperationStatus, Transaction, TransactionId};
use poigate_engine::{EngineError, OperationRequest, OperationResult};

/// The idempotency key of the refund a `ReversalRequest` asks for: its `SaleID` +
/// `ServiceID`, so that a retry returns the same refund and a status request finds it.
pub fn reversal_key(sale_id: &str, service_id: &str) -> String {
    // Percent-encoded: an idempotency key is printable ASCII without spaces.
    format!(
        "adyen-reversal:{}:{}",
        percent(sale_id),
        percent(service_id)
    )
}

pub async fn handle(ctx: &Ctx<'_>, request: ReversalRequest) -> Response {
    let original = match original_transaction(ctx, &request.original_transaction_id).await {
        Ok(Some(txn)) => txn,
        Ok(None) => {
            return respond(
                ctx,
                StatusCode::OK,
                failure(
                    "NotFound",
                    format!(
                        "Original transaction {} not found",
                        request.original_transaction_id
                    ),
                ),
            );
        }
        Err(e) => return engine_error(ctx, e),
    };
    let amount = match &request.reversed_amount {
        Some(n) => match parse_amount(n, original.amount.currency()) {
            Ok(m) => Some(m.value()),
            Err(why) => {
                let message = format!(
                    "At SaleToPOIRequest.ReversalRequest, field ReversedAmount: Invalid value ({why})"
                );
                return respond(
                    ctx,
                    StatusCode::BAD_REQUEST,
                    NexoResponse::failure(
                        "MessageFormat",
                        Form::new().add("errors", message).encode(),
                    ),
                );
            }
        },
        None => None,
    };
    let operation = OperationRequest {
        kind: OperationKind::Refund,
        amount,
        reference: request
            .sale_transaction
            .as_ref()
            .map(|s| s.transaction_id.clone()),
        idempotency_key: Some(reversal_key(&ctx.header.sale_id, &ctx.header.service_id)),
    };
    match ctx
        .engine
        .transactions()
        .request_operation(ctx.caller, original.id, operation)
        .await
    {
        Ok(result) => {
            let mut message = SaleToPoiResponse::new(header(ctx));
            message.reversal = Some(reversal_response(&result));
            answer::json(StatusCode::OK, &message.into_envelope())
        }
        Err(e) => engine_error(ctx, e),
    }
}

/// The transaction a `POITransactionID.TransactionID` names: `<tender>.<pspReference>`, a
/// `pspReference` alone, or poigate's interaction or transaction id.
async fn original_transaction(ctx: &Ctx<'_>, id: &str) -> Result<Option<Transaction>, EngineError> {
    let last = id.rsplit('.').next().unwrap_or(id);
    let txn_id = match (last.parse::<TransactionId>(), last.parse::<InteractionId>()) {
        (Ok(txn), _) => Some(txn),
        (_, Ok(interaction)) => {
            match ctx.engine.interactions().get(ctx.caller, interaction).await {
                Ok(i) => i.transaction_id,
                Err(EngineError::NotFound(_)) => None,
                Err(e) => return Err(e),
            }
        }
        _ => psp::resolve(ctx.engine, ctx.caller, last)
            .await?
            .and_then(|i| i.transaction_id),
    };
    let Some(txn_id) = txn_id else {
        return Ok(None);
    };
    match ctx
        .engine
        .transactions()
        .transaction(ctx.caller, txn_id)
        .await
    {
        Ok(t) => Ok(Some(t)),
        Err(EngineError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn header(ctx: &Ctx<'_>) -> super::wire::MessageHeader {
    ctx.response_header("Reversal")
}

fn failure(condition: &'static str, message: impl AsRef<str>) -> NexoResponse {
    NexoResponse::failure(condition, Form::new().add("message", message).encode())
}

fn respond(ctx: &Ctx<'_>, status: StatusCode, response: NexoResponse) -> Response {
    let mut message = SaleToPoiResponse::new(header(ctx));
    message.reversal = Some(ReversalResponse {
        poi_data: None,
        original_poi_transaction: None,
        reversed_amount: None,
        response,
    });
    answer::json(status, &message.into_envelope())
}

/// The `ReversalResponse` of a refund: `Success` while it is requested or once it
/// succeeded, `Failure` with the processor's reason once it failed.
pub fn reversal_response(result: &OperationResult) -> ReversalResponse {
    let op = &result.operation;
    let txn = &result.transaction;
    let response = match op.status {
        OperationStatus::Failed => failure(
            "Refusal",
            op.failure_reason.as_deref().unwrap_or("Refund refused"),
        ),
        OperationStatus::Pending | OperationStatus::Succeeded => NexoResponse::success(Some(
            Form::new()
                .add("pspReference", psp::of_operation(op.id))
                .add("originalReference", psp::of_interaction(txn.interaction_id))
                .add_opt("merchantReference", op.reference.as_deref())
                .encode(),
        )),
    };
    ReversalResponse {
        poi_data: Some(PoiData {
            poi_transaction_id: TransactionIdentification {
                time_stamp: timestamp(op.created_at),
                transaction_id: psp::of_operation(op.id),
            },
            poi_reconciliation_id: Some(RECONCILIATION_ID.into()),
        }),
        original_poi_transaction: Some(OriginalPoiTransaction {
            poi_transaction_id: TransactionIdentification {
                time_stamp: timestamp(txn.created_at),
                transaction_id: format!(
                    "{}.{}",
                    txn.interaction_id,
                    psp::of_interaction(txn.interaction_id)
                ),
            },
        }),
        reversed_amount: Some(major_units(op.amount)),
        response,
    }
}

/// A refused reversal in nexo's terms where nexo has one; the rest as the dialect's
/// `ServiceException` ([`answer::engine_error`]). Exhaustive on purpose (see
/// `crate::dialect`).
#[deny(clippy::wildcard_enum_match_arm)]
fn engine_error(ctx: &Ctx<'_>, e: EngineError) -> Response {
    match e {
        EngineError::MoneyRule(rule) => {
            respond(ctx, StatusCode::OK, failure("NotAllowed", rule.to_string()))
        }
        EngineError::IdempotencyMismatch => respond(
            ctx,
            StatusCode::OK,
            failure(
                "NotAllowed",
                format!(
                    "ServiceID {} was already used for another reversal",
                    ctx.header.service_id
                ),
            ),
        ),
        EngineError::IdempotencyInProgress => respond(
            ctx,
            StatusCode::OK,
            failure(
                "InProgress",
                "A reversal with this ServiceID is in progress",
            ),
        ),
        EngineError::NotFound(_) => respond(
            ctx,
            StatusCode::OK,
            failure("NotFound", "Original transaction not found"),
        ),
        EngineError::Validation(errors) => respond(
            ctx,
            StatusCode::BAD_REQUEST,
            NexoResponse::failure(
                "MessageFormat",
                Form::new()
                    .add(
                        "errors",
                        format!("At SaleToPOIRequest.ReversalRequest: {errors}"),
                    )
                    .encode(),
            ),
        ),
        EngineError::TerminalNotFound(_)
        | EngineError::TerminalBusy { .. }
        | EngineError::TerminalOffline
        | EngineError::Duplicate(_)
        | EngineError::WrongTerminal
        | EngineError::UnknownInteraction
        | EngineError::InvalidReport(_)
        | EngineError::WrongSeq { .. }
        | EngineError::InvalidPairingCode
        | EngineError::NotAllowed(_)
        | EngineError::LivemodeMismatch
        | EngineError::Transition(_)
        | EngineError::Store(_)
        | EngineError::Randomness(_) => answer::engine_error(e),
    }
}
