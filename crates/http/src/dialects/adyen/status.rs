//! `TransactionStatusRequest`: the status of a payment (or reversal) by its `SaleID` +
//! `ServiceID` in `MessageReference`, or of the terminal's most recent transaction when
//! `MessageReference` is absent. Answers exactly as the seed shows: `InProgress`,
//! `NotFound`, or `Success` with the original response in
//! `RepeatedMessageResponse.RepeatedResponseMessageBody`, receipts per `DocumentQualifier`
//! when `ReceiptReprintFlag` is set.

use super::answer;
use super::handlers::Ctx;
use super::render::{payment_header, payment_response, response_header};
use super::request::{Reference, StatusRequest};
use super::reversal::{reversal_key, reversal_response};
use super::wire::{
    MessageReference, RepeatedMessageResponse, RepeatedResponseMessageBody,
    Response as NexoResponse, SaleToPoiResponse, TransactionStatusResponse,
};
use axum::http::StatusCode;
use axum::response::Response;
use poigate_domain::{
    CancelReason, Interaction, OperationStatus, Outcome, TerminalId, Transaction,
};
use poigate_engine::{EngineError, OperationResult};

pub async fn handle(ctx: &Ctx<'_>, request: StatusRequest) -> Response {
    let body = match answer_for(ctx, &request).await {
        Ok(Some(body)) => body,
        Ok(None) => return ctx.reject(&format!("Unknown POIID {}", ctx.header.poiid)),
        Err(e) => return answer::engine_error(e),
    };
    let mut message = SaleToPoiResponse::new(ctx.response_header("TransactionStatus"));
    message.transaction_status = Some(body);
    answer::json(StatusCode::OK, &message.into_envelope())
}

/// The status, or `None` when the `POIID` names no terminal.
async fn answer_for(
    ctx: &Ctx<'_>,
    request: &StatusRequest,
) -> Result<Option<TransactionStatusResponse>, EngineError> {
    let Some(terminal) = ctx.terminal().await? else {
        return Ok(None);
    };
    let found = match &request.reference {
        Some(reference) if reference.category == "Reversal" => {
            return reversal_status(ctx, reference).await.map(Some);
        }
        Some(reference) if reference.category != "Payment" => None,
        reference => {
            ctx.latest_with_transaction(terminal, reference.as_ref())
                .await?
        }
    };
    let answer = match found {
        Some((interaction, transaction)) => {
            payment_status(ctx, request, interaction, transaction, terminal).await?
        }
        None => not_found(ctx, terminal).await?,
    };
    Ok(Some(answer))
}

fn in_progress() -> TransactionStatusResponse {
    TransactionStatusResponse {
        message_reference: None,
        response: NexoResponse::failure("InProgress", "Uncompleted transaction"),
        repeated_message_response: None,
    }
}

/// `NotFound`, naming the terminal's last payment as the seed's example does.
async fn not_found(
    ctx: &Ctx<'_>,
    terminal: TerminalId,
) -> Result<TransactionStatusResponse, EngineError> {
    let last = ctx.latest(terminal, None).await?.and_then(|i| i.service_id);
    let text = match last {
        Some(id) => format!("Message not Found, last PaymentRequest has ID {id}"),
        None => "Message not Found".to_string(),
    };
    Ok(TransactionStatusResponse {
        message_reference: None,
        response: NexoResponse::failure("NotFound", text),
        repeated_message_response: None,
    })
}

async fn payment_status(
    ctx: &Ctx<'_>,
    request: &StatusRequest,
    interaction: Interaction,
    transaction: Option<Transaction>,
    terminal: TerminalId,
) -> Result<TransactionStatusResponse, EngineError> {
    if !interaction.is_final() {
        return Ok(in_progress());
    }
    if matches!(
        interaction.outcome,
        Some(Outcome::Cancelled {
            reason: CancelReason::NotDelivered
        })
    ) {
        // The terminal never received it: for Adyen that message was not processed.
        return not_found(ctx, terminal).await;
    }
    Ok(TransactionStatusResponse {
        message_reference: Some(MessageReference {
            sale_id: interaction.sale_id.clone(),
            message_category: "Payment".into(),
            service_id: interaction.service_id.clone(),
        }),
        response: NexoResponse::success(None),
        repeated_message_response: Some(RepeatedMessageResponse {
            body: RepeatedResponseMessageBody {
                payment: Some(payment_response(
                    &interaction,
                    transaction.as_ref(),
                    &request.receipts,
                )),
                reversal: None,
            },
            header: payment_header(&interaction),
        }),
    })
}

async fn reversal_status(
    ctx: &Ctx<'_>,
    reference: &Reference,
) -> Result<TransactionStatusResponse, EngineError> {
    let key = reversal_key(&reference.sale_id, &reference.service_id);
    let found: Option<OperationResult> = ctx
        .engine
        .transactions()
        .operation_by_key(ctx.caller, &key)
        .await?;
    let Some(result) = found else {
        return Ok(TransactionStatusResponse {
            message_reference: None,
            response: NexoResponse::failure("NotFound", "Message not Found"),
            repeated_message_response: None,
        });
    };
    if result.operation.status == OperationStatus::Pending {
        return Ok(in_progress());
    }
    Ok(TransactionStatusResponse {
        message_reference: Some(MessageReference {
            sale_id: Some(reference.sale_id.clone()),
            message_category: "Reversal".into(),
            service_id: Some(reference.service_id.clone()),
        }),
        response: NexoResponse::success(None),
        repeated_message_response: Some(RepeatedMessageResponse {
            body: RepeatedResponseMessageBody {
                payment: None,
                reversal: Some(reversal_response(&result)),
            },
            header: response_header(
                "Reversal",
                Some(&reference.sale_id),
                Some(&reference.service_id),
                Some(&ctx.header.poiid),
            ),
        }),
    })
}
