//! The endpoints: `POST /v1/cloud/transactions/async` (answer `{interactionId}` at once),
//! `POST /v1/cloud/transactions` (answer when the transaction is complete, at most 180 s,
//! Cybersource's backend timeout) and `GET /v1/cloud/interactions/{interactionId}/events`.

use super::Cybersource;
use super::details::{aborted_response, decimal, transaction_response};
use super::error::Failure;
use super::events::{event_view, operation_events};
use super::messages::{
    aborted_message, approved, declined, operation_message, operation_response_type, response_type,
    unsuccessful,
};
use super::wire::{
    Accepted, AmountDetails, Envelope, Events, Lookup, Payment, Referenced, Request, Verification,
};
use crate::AppState;
use crate::dialect::{Dialect, authenticate};
use crate::dialects::flow::{active_interaction, wait_final};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use poigate_domain::{
    Currency, Interaction, InteractionId, InteractionType, Money, OperationId, OperationKind,
    Outcome, TransactionId,
};
use poigate_engine::{
    Caller, CreateRequest, EventOrder, InteractionFilter, OperationRequest, OperationResult,
};
use std::time::Duration;

/// Cybersource's backend timeout for synchronous requests.
const SYNC_BOUND: Duration = Duration::from_secs(180);
/// The most events one answer lists.
const MAX_EVENTS: u32 = 1000;

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Failure> {
    authenticate(state, Cybersource::CREDENTIALS, headers, None).await
}

fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Failure> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                "The request body exceeds 64 KiB.",
            )
        } else {
            Failure::invalid("The request body could not be read.")
        }
    })
}

/// The terminal's serial number and the request, or what is wrong with them.
fn parse(bytes: &[u8]) -> Result<(String, Request), Failure> {
    let envelope: Envelope = serde_json::from_slice(bytes)
        .map_err(|e| Failure::invalid(format!("The body is not a valid request: {e}")))?;
    let serial = envelope
        .serial_number
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Failure::invalid("serialNumber is required."))?;
    let request = envelope
        .request
        .ok_or_else(|| Failure::invalid("request is required."))?;
    let request: Request =
        serde_json::from_value(request).map_err(|e| Failure::invalid(format!("request: {e}")))?;
    Ok((serial, request))
}

fn money(details: Option<&AmountDetails>) -> Result<Money, Failure> {
    let details = details.ok_or_else(|| Failure::invalid("request.amountDetails is required."))?;
    let code = details
        .currency
        .as_deref()
        .ok_or_else(|| Failure::invalid("request.amountDetails.currency is required."))?;
    let currency = Currency::from_code(&code.trim().to_ascii_uppercase()).ok_or_else(|| {
        Failure::invalid(format!(
            "request.amountDetails.currency: unknown currency `{code}`."
        ))
    })?;
    let amount = details
        .amount
        .as_deref()
        .ok_or_else(|| Failure::invalid("request.amountDetails.amount is required."))?;
    Money::parse_decimal(amount.trim(), currency)
        .map_err(|e| Failure::invalid(format!("request.amountDetails.amount: {e}.")))
}

/// `merchantReferenceCode`: up to 50 letters, digits, underscores and dashes.
fn reference(code: Option<&str>) -> Result<String, Failure> {
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Failure::invalid("request.merchantReferenceCode is required."))?;
    if code.len() > 50
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Failure::invalid(
            "request.merchantReferenceCode: up to 50 letters, digits, underscores and dashes.",
        ));
    }
    Ok(code.to_string())
}

/// Starts a card interaction of type `kind`. The `merchantReferenceCode` is also the
/// idempotency key: the same request sent again (a lost response) returns the same
/// interaction, never a second payment.
async fn start(
    state: &AppState,
    caller: &Caller,
    serial: String,
    kind: InteractionType,
    amount: Money,
    code: Option<&str>,
    ask_for_tip: bool,
) -> Result<Interaction, Failure> {
    let reference = reference(code)?;
    let request = CreateRequest {
        terminal: serial,
        kind,
        amount,
        ask_for_tip,
        idempotency_key: Some(format!("cybersource:{reference}")),
        reference: Some(reference),
        sale_id: None,
        service_id: None,
        timeout_seconds: None,
        metadata: Default::default(),
        webhooks: Vec::new(),
    };
    Ok(state
        .engine
        .interactions()
        .create(caller, request)
        .await?
        .interaction)
}

/// `PaymentRequest` (a sale; with `capture: false` a pre-authorisation, the engine's `auth`)
/// and `StandaloneRefundRequest`.
async fn start_payment(
    state: &AppState,
    caller: &Caller,
    serial: String,
    refund: bool,
    payment: &Payment,
) -> Result<InteractionId, Failure> {
    let kind = match (refund, payment.capture) {
        (true, Some(false)) => {
            return Err(Failure::invalid(
                "request.capture: a StandaloneRefundRequest cannot be a pre-authorisation.",
            ));
        }
        (true, _) => InteractionType::Refund,
        (false, Some(false)) => InteractionType::Auth,
        (false, _) => InteractionType::Sale,
    };
    let amount = money(payment.amount_details.as_ref())?;
    let code = payment.merchant_reference_code.as_deref();
    let tip = ask_for_tip(payment.ask_for_tip.as_deref())?;
    Ok(start(state, caller, serial, kind, amount, code, tip)
        .await?
        .id)
}

/// `askForTip`: `ON_DEVICE` asks the cardholder for a tip on the terminal (the engine's
/// `ask_for_tip`). `ON_RECEIPT` (the tip follows in a `TipAdjustRequest`), `NONE` and `OFF`
/// ask nothing; any other value is refused, as other malformed fields are.
fn ask_for_tip(value: Option<&str>) -> Result<bool, Failure> {
    match value.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
        None | Some("ON_RECEIPT" | "NONE" | "OFF") => Ok(false),
        Some("ON_DEVICE") => Ok(true),
        Some(_) => Err(Failure::invalid(
            "request.askForTip must be ON_DEVICE, ON_RECEIPT, NONE or OFF.",
        )),
    }
}

/// `AccountVerificationRequest`: the engine's zero-amount `validate`. The currency is
/// required; an amount, if sent, must be zero.
async fn start_verification(
    state: &AppState,
    caller: &Caller,
    serial: String,
    request: &Verification,
) -> Result<InteractionId, Failure> {
    let details = request.amount_details.as_ref().ok_or_else(|| {
        Failure::invalid("request.amountDetails.currency is required for a verification.")
    })?;
    let code = details
        .currency
        .as_deref()
        .ok_or_else(|| Failure::invalid("request.amountDetails.currency is required."))?;
    let currency = Currency::from_code(&code.trim().to_ascii_uppercase()).ok_or_else(|| {
        Failure::invalid(format!(
            "request.amountDetails.currency: unknown currency `{code}`."
        ))
    })?;
    if let Some(amount) = details.amount.as_deref() {
        let amount = amount.trim();
        let zero = amount.starts_with('0')
            && amount.chars().all(|c| c == '0' || c == '.')
            && amount.matches('.').count() <= 1;
        if !zero {
            return Err(Failure::invalid(
                "request.amountDetails.amount: an account verification is a zero amount.",
            ));
        }
    }
    let reference = request.merchant_reference_code.as_deref();
    Ok(start(
        state,
        caller,
        serial,
        InteractionType::Validate,
        Money::zero(currency),
        reference,
        false,
    )
    .await?
    .id)
}

/// Cancels what runs on the terminal; returns the interaction it asked to cancel.
async fn cancel(state: &AppState, caller: &Caller, serial: &str) -> Result<InteractionId, Failure> {
    let id = active_interaction(&state.engine, caller, serial)
        .await?
        .ok_or_else(|| {
            Failure::new(
                StatusCode::CONFLICT,
                "No transaction in progress",
                "The terminal has no transaction to cancel.",
            )
        })?;
    state.engine.interactions().cancel(caller, id).await?;
    Ok(id)
}

fn interaction_id(id: InteractionId) -> String {
    id.uuid().hyphenated().to_string()
}

/// What a request to either endpoint leads to.
enum Begun {
    /// An interaction started or asked to cancel: follow it.
    Interaction(InteractionId),
    /// A capture, linked refund or incremental authorisation of an earlier transaction
    /// (the terminal takes no part).
    Operation(OperationKind, Referenced),
    /// A tip on a pre-authorisation, captured with it.
    TipAdjust(Referenced),
    Lookup(Lookup),
}

/// Authenticates and parses a request, and starts (or cancels) the interaction it asks for.
async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(Caller, Begun), Failure> {
    let caller = caller(state, headers).await?;
    let (serial, request) = parse(&body(raw)?)?;
    let begun = match request {
        Request::Payment(p) => {
            Begun::Interaction(start_payment(state, &caller, serial, false, &p).await?)
        }
        Request::StandaloneRefund(p) => {
            Begun::Interaction(start_payment(state, &caller, serial, true, &p).await?)
        }
        Request::AccountVerification(v) => {
            Begun::Interaction(start_verification(state, &caller, serial, &v).await?)
        }
        Request::Cancel(_) => Begun::Interaction(cancel(state, &caller, &serial).await?),
        Request::LinkedRefund(r) => Begun::Operation(OperationKind::Refund, r),
        Request::Capture(r) => Begun::Operation(OperationKind::Capture, r),
        Request::IncrementalAuthorization(r) => Begun::Operation(OperationKind::Increment, r),
        Request::TipAdjust(r) => Begun::TipAdjust(r),
        Request::Lookup(l) => Begun::Lookup(l),
    };
    Ok((caller, begun))
}

/// `{interactionId}` for every request. A capture or linked refund is followed by its
/// operation id (its events end with the `CaptureResponse` / `LinkedRefundResponse`); a
/// lookup by the id of the interaction that made the transaction (or of the aborted one).
pub(super) async fn transact_async(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Accepted>, Failure> {
    let (caller, begun) = begin(&state, &headers, raw).await?;
    let id = match begun {
        Begun::Interaction(id) => interaction_id(id),
        Begun::Operation(kind, r) => {
            let (_, result) = operate(&state, &caller, kind, &r, None).await?;
            result.operation.id.uuid().hyphenated().to_string()
        }
        Begun::TipAdjust(r) => {
            let (_, result, _) = tip_adjust(&state, &caller, &r).await?;
            result.operation.id.uuid().hyphenated().to_string()
        }
        Begun::Lookup(l) => match find(&state, &caller, &l).await? {
            Found::Transaction(txn) => {
                let txn = state
                    .engine
                    .transactions()
                    .transaction(&caller, txn)
                    .await?;
                interaction_id(txn.interaction_id)
            }
            Found::Aborted(interaction) => interaction_id(interaction.id),
        },
    };
    Ok(Json(Accepted { interaction_id: id }))
}

pub(super) async fn transact_sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let (caller, begun) = begin(&state, &headers, raw).await?;
    match begun {
        Begun::Interaction(id) => {
            let interaction = wait_final(&state.engine, &caller, id, SYNC_BOUND).await?;
            final_answer(&state, &caller, &interaction).await
        }
        Begun::Operation(kind, r) => {
            let (txn, result) = operate(&state, &caller, kind, &r, Some(SYNC_BOUND)).await?;
            let message = operation_message(kind, result.operation.status);
            respond(
                &state,
                &caller,
                operation_response_type(kind),
                Some(message.to_string()),
                txn,
            )
            .await
        }
        Begun::TipAdjust(r) => {
            let (txn, result, tip) = tip_adjust(&state, &caller, &r).await?;
            let adjusted = result.operation.kind == OperationKind::Capture
                && result.operation.status == poigate_domain::OperationStatus::Succeeded;
            let message = operation_message(result.operation.kind, result.operation.status);
            let operations = state
                .engine
                .transactions()
                .operations(&caller, txn, None)
                .await?;
            let current = state
                .engine
                .transactions()
                .transaction(&caller, txn)
                .await?;
            let mut answer = transaction_response(
                "TipAdjustResponse",
                Some(message.to_string()),
                &current,
                &operations,
            );
            if adjusted {
                answer.tip_adjust_status = Some("ADJUSTED");
                answer
                    .transaction_details
                    .amount_details
                    .included_tip_amount = Some(decimal(tip, current.amount.currency()));
            }
            Ok(Json(answer).into_response())
        }
        Begun::Lookup(l) => match find(&state, &caller, &l).await? {
            Found::Transaction(txn) => {
                respond(&state, &caller, "TransactionLookupResponse", None, txn).await
            }
            Found::Aborted(interaction) => {
                aborted(
                    &state,
                    &caller,
                    "TransactionLookupResponse",
                    None,
                    &interaction,
                )
                .await
            }
        },
    }
}

/// The synchronous answer: the full transaction for a card decision, a `PaymentResponse`
/// "Payment aborted" (status `ABORTED`) for a cancel, an `ErrorResponse` (HTTP 200: the
/// request itself was fine) for a failure, and `202` with an `ErrorResponse` naming the
/// interaction if it is still running at the bound.
async fn final_answer(
    state: &AppState,
    caller: &Caller,
    interaction: &Interaction,
) -> Result<Response, Failure> {
    let Some(outcome) = &interaction.outcome else {
        return Ok(Failure::new(
            StatusCode::ACCEPTED,
            "Transaction in progress",
            format!(
                "The terminal has not finished; follow GET /v1/cloud/interactions/{}/events.",
                interaction_id(interaction.id)
            ),
        )
        .into_response());
    };
    if let Outcome::Cancelled { .. } = outcome {
        let message = aborted_message(interaction.kind).to_string();
        return aborted(
            state,
            caller,
            response_type(interaction.kind),
            Some(message),
            interaction,
        )
        .await;
    }
    if let Some((message, description)) = unsuccessful(outcome) {
        return Ok(Failure::new(StatusCode::OK, message, description).into_response());
    }
    let message = match outcome {
        Outcome::Approved { .. } => approved(interaction.kind),
        _ => declined(interaction.kind),
    };
    let txn = interaction
        .transaction_id
        .ok_or_else(|| Failure::from(poigate_engine::EngineError::NotFound("transaction")))?;
    respond(
        state,
        caller,
        response_type(interaction.kind),
        Some(message.to_string()),
        txn,
    )
    .await
}

/// The answer for an aborted interaction: Cybersource keeps an aborted payment as a
/// transaction (status `ABORTED`, with receipts); poigate names it by its interaction id.
async fn aborted(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    message: Option<String>,
    interaction: &Interaction,
) -> Result<Response, Failure> {
    let receipts = state
        .engine
        .interactions()
        .unfinished_receipts(caller, interaction)
        .await?
        .unwrap_or_default();
    Ok(Json(aborted_response(kind, message, interaction, &receipts)).into_response())
}

/// The full answer for transaction `id`. Operations are read before the transaction, so
/// the amounts are never older than the operations listed.
async fn respond(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    message: Option<String>,
    id: TransactionId,
) -> Result<Response, Failure> {
    let operations = state
        .engine
        .transactions()
        .operations(caller, id, None)
        .await?;
    let txn = state.engine.transactions().transaction(caller, id).await?;
    Ok(Json(transaction_response(kind, message, &txn, &operations)).into_response())
}

/// A UUID in Cybersource's 32-hex form (or hyphenated).
fn parse_uuid(raw: Option<&str>, field: &str) -> Result<uuid::Uuid, Failure> {
    let raw = raw
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Failure::invalid(format!("{field} is required.")))?;
    uuid::Uuid::try_parse(raw)
        .map_err(|_| Failure::invalid(format!("{field}: `{raw}` is not a transaction id.")))
}

/// `LinkedRefundRequest` and `CaptureRequest`: an operation on an earlier transaction,
/// without the card; without `amountDetails`, the whole amount (what is left to refund, the
/// authorisation). With `wait`, the answer comes once the operation is complete (a refund
/// completes asynchronously) or at the bound.
async fn operate(
    state: &AppState,
    caller: &Caller,
    kind: OperationKind,
    request: &Referenced,
    wait: Option<Duration>,
) -> Result<(TransactionId, OperationResult), Failure> {
    let id = TransactionId::from_uuid(parse_uuid(
        request.transaction_id.as_deref(),
        "request.transactionId",
    )?);
    let txn = state.engine.transactions().transaction(caller, id).await?;
    let amount = match &request.amount_details {
        None => None,
        Some(details) => {
            let amount = money(Some(details))?;
            if amount.currency() != txn.amount.currency() {
                return Err(Failure::invalid(format!(
                    "request.amountDetails.currency: the transaction is in {}.",
                    txn.amount.currency().code()
                )));
            }
            Some(amount.value())
        }
    };
    let request = OperationRequest {
        kind,
        amount,
        reference: None,
        idempotency_key: None,
    };
    let transactions = state.engine.transactions();
    let result = match wait {
        Some(bound) => {
            transactions
                .request_operation_completed(caller, id, request, bound)
                .await?
        }
        None => transactions.request_operation(caller, id, request).await?,
    };
    Ok((id, result))
}

/// `TipAdjustRequest`: the tip (`amountDetails`, required) on a pre-authorisation, then its
/// capture — the engine's `capture_with_tip`. Returns the transaction, the last operation
/// (the capture, or the tip that failed) and the tip.
async fn tip_adjust(
    state: &AppState,
    caller: &Caller,
    request: &Referenced,
) -> Result<(TransactionId, OperationResult, i64), Failure> {
    let id = TransactionId::from_uuid(parse_uuid(
        request.transaction_id.as_deref(),
        "request.transactionId",
    )?);
    let txn = state.engine.transactions().transaction(caller, id).await?;
    let Some(details) = &request.amount_details else {
        return Err(Failure::invalid(
            "request.amountDetails is required: the tip to add.".to_string(),
        ));
    };
    let tip = money(Some(details))?;
    if tip.currency() != txn.amount.currency() {
        return Err(Failure::invalid(format!(
            "request.amountDetails.currency: the transaction is in {}.",
            txn.amount.currency().code()
        )));
    }
    let result = state
        .engine
        .transactions()
        .capture_with_tip(caller, id, tip.value(), None)
        .await?;
    Ok((id, result, tip.value()))
}

/// What a lookup found: a transaction, or an aborted interaction (no card decision).
enum Found {
    Transaction(TransactionId),
    Aborted(Box<Interaction>),
}

fn is_aborted(interaction: &Interaction) -> bool {
    interaction.transaction_id.is_none()
        && matches!(interaction.outcome, Some(Outcome::Cancelled { .. }))
}

/// `TransactionLookupRequest` (Check Transaction Status) by `TRANSACTION_ID` or by
/// `MERCHANT_REFERENCE_CODE` (the newest transaction with that code, else the newest
/// aborted payment with it).
async fn find(state: &AppState, caller: &Caller, request: &Lookup) -> Result<Found, Failure> {
    match request.id_type.as_deref() {
        Some("TRANSACTION_ID") => {
            let uuid = parse_uuid(request.id.as_deref(), "request.id")?;
            match state
                .engine
                .transactions()
                .transaction(caller, TransactionId::from_uuid(uuid))
                .await
            {
                Ok(_) => Ok(Found::Transaction(TransactionId::from_uuid(uuid))),
                Err(poigate_engine::EngineError::NotFound(_)) => {
                    // An aborted payment's id is its interaction's.
                    match state
                        .engine
                        .interactions()
                        .get(caller, InteractionId::from_uuid(uuid))
                        .await
                    {
                        Ok(i) if is_aborted(&i) => Ok(Found::Aborted(Box::new(i))),
                        Ok(_) | Err(poigate_engine::EngineError::NotFound(_)) => Err(
                            Failure::from(poigate_engine::EngineError::NotFound("transaction")),
                        ),
                        Err(e) => Err(e.into()),
                    }
                }
                Err(e) => Err(e.into()),
            }
        }
        Some("MERCHANT_REFERENCE_CODE") => {
            let code = reference(request.id.as_deref())?;
            let filter = InteractionFilter {
                reference: Some(code),
                limit: 20,
                ..InteractionFilter::default()
            };
            let found = state.engine.interactions().find(caller, &filter).await?;
            if let Some(txn) = found.iter().find_map(|i| i.transaction_id) {
                return Ok(Found::Transaction(txn));
            }
            found
                .into_iter()
                .find(is_aborted)
                .map(|i| Found::Aborted(Box::new(i)))
                .ok_or_else(|| {
                    Failure::new(
                        StatusCode::NOT_FOUND,
                        "Not found",
                        "No transaction with this merchantReferenceCode (yet): a transaction \
                         exists once the card was approved or declined, or the payment was \
                         aborted.",
                    )
                })
        }
        _ => Err(Failure::invalid(
            "request.idType must be TRANSACTION_ID or MERCHANT_REFERENCE_CODE.",
        )),
    }
}

/// `limit` of the events query: 1 to 1000, default all.
fn limit(query: Option<&str>) -> Result<u32, Failure> {
    let Some(raw) = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "limit")
            .map(|(_, v)| v.into_owned())
    }) else {
        return Ok(MAX_EVENTS);
    };
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_EVENTS).contains(&n) => Ok(n),
        _ => Err(Failure::invalid(format!(
            "limit must be an integer from 1 to {MAX_EVENTS}."
        ))),
    }
}

pub(super) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Events>, Failure> {
    let caller = caller(&state, &headers).await?;
    let limit = limit(query.as_deref())?;
    let uuid = uuid::Uuid::try_parse(raw_id.trim())
        .map_err(|_| Failure::invalid(format!("`{raw_id}` is not an interactionId.")))?;
    let id = InteractionId::from_uuid(uuid);
    let interaction = match state.engine.interactions().get(&caller, id).await {
        Ok(interaction) => interaction,
        Err(poigate_engine::EngineError::NotFound(_)) => {
            // The id an asynchronous capture or linked refund answered: its operation.
            let operation = state
                .engine
                .transactions()
                .find_operation(&caller, OperationId::from_uuid(uuid))
                .await
                .map_err(|e| match e {
                    poigate_engine::EngineError::NotFound(_) => {
                        poigate_engine::EngineError::NotFound("interaction")
                    }
                    other => other,
                })?;
            let transaction_events = operation_events(&operation)
                .into_iter()
                .take(limit as usize)
                .collect();
            return Ok(Json(Events {
                interaction_id: interaction_id(id),
                transaction_events,
            }));
        }
        Err(e) => return Err(e.into()),
    };
    let events = state
        .engine
        .interactions()
        .events(&caller, id, 0, MAX_EVENTS, EventOrder::Desc)
        .await?;
    let transaction_events = events
        .iter()
        .filter_map(|e| event_view(e, &interaction))
        .take(limit as usize)
        .collect();
    Ok(Json(Events {
        interaction_id: interaction_id(id),
        transaction_events,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's request example parses into a sale of 1.00 GBP on terminal 1850000000.
    #[test]
    fn parses_the_seed_request_example() {
        let seed = include_bytes!("../../../../../seeds/examples/cybersource-async-request.json");
        let (serial, request) = parse(seed).expect("the seed example is a valid request");
        assert_eq!(serial, "1850000000");
        let Request::Payment(payment) = request else {
            panic!("a PaymentRequest");
        };
        let amount = money(payment.amount_details.as_ref()).expect("amount");
        assert_eq!((amount.value(), amount.currency().code()), (100, "GBP"));
        assert_eq!(
            reference(payment.merchant_reference_code.as_deref()).expect("code"),
            "058ed6c3430e436dab91b782f4113fd2"
        );
    }

    #[test]
    fn refuses_what_it_cannot_represent() {
        for (body, mentions) in [
            (
                r#"{"serialNumber": "1", "request": {"type": "PaymentRequest", "merchantReferenceCode": "a", "amountDetails": {"amount": "1.001", "currency": "GBP"}}}"#,
                "decimal",
            ),
            (
                r#"{"serialNumber": "1", "request": {"type": "PaymentRequest", "merchantReferenceCode": "a", "amountDetails": {"amount": 1.0, "currency": "GBP"}}}"#,
                "string",
            ),
            (
                r#"{"serialNumber": "1", "request": {"type": "PaymentRequest", "merchantReferenceCode": "a", "amountDetails": {"amount": "1.00", "currency": "GBP", "cashbackAmount": "5.00"}}}"#,
                "cashbackAmount",
            ),
            (
                r#"{"serialNumber": "1", "request": {"type": "RefundAllRequest"}}"#,
                "RefundAllRequest",
            ),
            (r#"{"request": {"type": "CancelRequest"}}"#, "serialNumber"),
            (r#"{"serialNumber": "1"}"#, "request"),
            (
                r#"{"serialNumber": "1", "request": {"type": "PaymentRequest", "merchantReferenceCode": "not allowed!", "amountDetails": {"amount": "1.00", "currency": "GBP"}}}"#,
                "merchantReferenceCode",
            ),
            ("not json", "valid"),
        ] {
            let failure = parse(body.as_bytes())
                .and_then(|(_, request)| match request {
                    Request::Payment(p) => {
                        money(p.amount_details.as_ref())?;
                        reference(p.merchant_reference_code.as_deref()).map(|_| ())
                    }
                    _ => Ok(()),
                })
                .expect_err(body);
            assert_eq!(failure.status, StatusCode::BAD_REQUEST, "{body}");
            assert!(
                failure.description.contains(mentions),
                "{body}: {}",
                failure.description
            );
        }
    }
}
