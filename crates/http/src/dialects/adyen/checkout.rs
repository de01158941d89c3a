//! The Checkout API subset a terminal integration uses after a payment: modifications by
//! `pspReference` (`POST /adyen/v{N}/payments/{pspReference}/captures`, `/refunds`,
//! `/cancels`, `/reversals`, docs.adyen.com/api-explorer/Checkout/latest), on the same
//! engine as the Terminal API: a capture, void or refund of the payment's transaction.
//!
//! The request is Adyen's (`merchantAccount`, `amount {value, currency}` in minor units,
//! `reference`, an optional `Idempotency-Key` header); the answer is Adyen's `201` with
//! `status: "received"`, the modification's own `pspReference` and the payment's as
//! `paymentPspReference`. The outcome of a refund follows asynchronously, as with Adyen.
//! Refusals are Adyen's error body (`status`, `errorCode`, `message`, `errorType`).

use super::Adyen;
use super::answer::{self, ServiceError, service_exception};
use super::psp;
use crate::AppState;
use crate::dialect::{Dialect, authenticate};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use poigate_domain::{OperationKind, Transaction};
use poigate_engine::{Caller, EngineError, OperationRequest, OperationResult};
use serde_json::{Value, json};

/// The four modifications, by the last segment of their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modification {
    Capture,
    Refund,
    Cancel,
    Reversal,
}

impl Modification {
    fn of_path(segment: &str) -> Option<Modification> {
        match segment {
            "captures" => Some(Modification::Capture),
            "refunds" => Some(Modification::Refund),
            "cancels" => Some(Modification::Cancel),
            "reversals" => Some(Modification::Reversal),
            _ => None,
        }
    }

    /// Captures and refunds name their amount; cancels and reversals cover the payment.
    fn takes_amount(self) -> bool {
        matches!(self, Modification::Capture | Modification::Refund)
    }
}

/// A Checkout API version segment: `v` and a number (`v71`).
pub fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

fn validation(code: &'static str, message: impl Into<String>) -> Response {
    service_exception(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message,
        "validation",
    )
}

/// `POST /adyen/{version}/payments/{pspReference}/{modification}`.
pub async fn modify(
    State(state): State<AppState>,
    Path((version, reference, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(modification) = Modification::of_path(&action).filter(|_| is_version(&version)) else {
        return answer::not_found();
    };
    let caller =
        match authenticate::<ServiceError>(&state, Adyen::CREDENTIALS, &headers, None).await {
            Ok(caller) => caller,
            Err(refused) => return refused.into_response(),
        };
    let raw = match body {
        Ok(bytes) => bytes,
        Err(rejection) => return answer::unreadable_body(&rejection),
    };
    let request: Value = match serde_json::from_slice(&raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return validation("702", "Unexpected input: the body must be a JSON object"),
        Err(e) => return validation("702", format!("Unexpected input: {e}")),
    };
    match run(
        &state,
        &caller,
        &reference,
        modification,
        &request,
        &headers,
    )
    .await
    {
        Ok(response) | Err(response) => response,
    }
}

async fn run(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    modification: Modification,
    request: &Value,
    headers: &HeaderMap,
) -> Result<Response, Response> {
    let engine = &state.engine;
    let merchant_account = merchant_account(state, caller, request).await?;
    let transaction = payment_transaction(state, caller, reference).await?;
    let amount = amount(request, modification, &transaction).map_err(|refused| *refused)?;
    let merchant_reference = match request.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(validation(
                "702",
                "Unexpected input: reference must be a string",
            ));
        }
    };
    let kind = match modification {
        Modification::Capture => OperationKind::Capture,
        Modification::Refund => OperationKind::Refund,
        Modification::Cancel => OperationKind::Void,
        // Adyen's "cancel or refund": a cancel while the payment can still be cancelled, a
        // refund of what is left once it cannot.
        Modification::Reversal if transaction.check_void().is_ok() => OperationKind::Void,
        Modification::Reversal => OperationKind::Refund,
    };
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("adyen-checkout:{k}"));
    let operation = OperationRequest {
        kind,
        amount,
        reference: merchant_reference.clone(),
        idempotency_key,
    };
    let result = engine
        .transactions()
        .request_operation(caller, transaction.id, operation)
        .await
        .map_err(modification_refused)?;
    Ok(received(
        modification,
        &merchant_account,
        reference,
        merchant_reference.as_deref(),
        &result,
    ))
}

/// `merchantAccount`: required, and the caller's merchant (by name or id), as Adyen refuses
/// a merchant account the API key has no access to.
async fn merchant_account(
    state: &AppState,
    caller: &Caller,
    request: &Value,
) -> Result<String, Response> {
    let Some(account) = request.get("merchantAccount").and_then(Value::as_str) else {
        return Err(validation(
            "901",
            "Invalid Merchant Account: merchantAccount is required",
        ));
    };
    let merchant = state
        .engine
        .admin()
        .get_merchant(caller.merchant_id)
        .await
        .map_err(answer::engine_error)?;
    if account != merchant.name && account != merchant.id.to_string() {
        return Err(service_exception(
            StatusCode::FORBIDDEN,
            "901",
            "Invalid Merchant Account: not the merchant account of this API key",
            "security",
        ));
    }
    Ok(account.to_string())
}

/// The transaction of the payment a `pspReference` names (Adyen's `167` when none).
async fn payment_transaction(
    state: &AppState,
    caller: &Caller,
    reference: &str,
) -> Result<Transaction, Response> {
    let not_found = || {
        validation(
            "167",
            format!(
                "Original pspReference required for this operation: {reference} is not a payment of this merchant account"
            ),
        )
    };
    let interaction = psp::resolve(&state.engine, caller, reference)
        .await
        .map_err(answer::engine_error)?
        .ok_or_else(not_found)?;
    let Some(id) = interaction.transaction_id else {
        return Err(not_found());
    };
    match state.engine.transactions().transaction(caller, id).await {
        Ok(t) => Ok(t),
        Err(EngineError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(answer::engine_error(e)),
    }
}

/// `amount`: required for captures and refunds (Adyen's `100`), in the payment's currency
/// (`137`), in minor units.
fn amount(
    request: &Value,
    modification: Modification,
    transaction: &Transaction,
) -> Result<Option<i64>, Box<Response>> {
    let Some(amount) = request.get("amount").filter(|v| !v.is_null()) else {
        return if modification.takes_amount() {
            Err(Box::new(validation("100", "No amount specified")))
        } else {
            Ok(None)
        };
    };
    if !modification.takes_amount() {
        // Adyen's cancels and reversals take no amount: they cover the whole payment.
        return Err(Box::new(validation(
            "702",
            "Unexpected input: amount (a cancel or reversal covers the whole payment)",
        )));
    }
    let value = amount.get("value").and_then(Value::as_i64);
    let currency = amount.get("currency").and_then(Value::as_str);
    match (value, currency) {
        (Some(v), Some(c)) if c == transaction.amount.currency().code() && v > 0 => Ok(Some(v)),
        (Some(_), Some(c)) if c != transaction.amount.currency().code() => {
            Err(Box::new(validation(
                "137",
                format!(
                    "Invalid amount specified: the payment is in {}",
                    transaction.amount.currency().code()
                ),
            )))
        }
        _ => Err(Box::new(validation(
            "137",
            "Invalid amount specified: amount.value (minor units, above 0) and amount.currency are required",
        ))),
    }
}

/// Adyen's `201 Created` answer to a modification it received.
fn received(
    modification: Modification,
    merchant_account: &str,
    payment_reference: &str,
    merchant_reference: Option<&str>,
    result: &OperationResult,
) -> Response {
    let op = &result.operation;
    let mut body = json!({
        "merchantAccount": merchant_account,
        "paymentPspReference": payment_reference.to_ascii_uppercase(),
        "pspReference": psp::of_operation(op.id),
        "status": "received",
    });
    if let Some(r) = merchant_reference {
        body["reference"] = json!(r);
    }
    if modification.takes_amount() {
        body["amount"] =
            json!({"value": op.amount.value(), "currency": op.amount.currency().code()});
    }
    answer::json(StatusCode::CREATED, &body)
}

/// A refused modification in Checkout's terms. Exhaustive on purpose (see
/// `crate::dialect`).
#[deny(clippy::wildcard_enum_match_arm)]
fn modification_refused(e: EngineError) -> Response {
    match e {
        EngineError::MoneyRule(rule) => validation(
            "000",
            format!("Modification not allowed for this payment: {rule}"),
        ),
        EngineError::Validation(errors) => validation("702", format!("Unexpected input: {errors}")),
        EngineError::IdempotencyMismatch => validation(
            "704",
            "request already processed or in progress: the Idempotency-Key was used for another request",
        ),
        EngineError::IdempotencyInProgress => service_exception(
            StatusCode::CONFLICT,
            "704",
            "request already processed or in progress",
            "validation",
        ),
        EngineError::NotFound(_)
        | EngineError::TerminalNotFound(_)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_modifications() {
        assert!(is_version("v71"));
        assert!(is_version("v1"));
        assert!(!is_version("v"));
        assert!(!is_version("71"));
        assert!(!is_version("v7a"));
        assert_eq!(
            Modification::of_path("captures"),
            Some(Modification::Capture)
        );
        assert_eq!(Modification::of_path("capture"), None);
    }
}
