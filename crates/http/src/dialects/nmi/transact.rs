//! `POST /api/transact.php`: start a sale, auth, credit or validate on a POI device
//! (`poi_device_id`), asynchronously (`response_method=asynchronous`: answer at once with
//! `async_status_guid`) or synchronously (the default: answer with the result); cancel what
//! runs on a device (`poi_request=cancellation`); and the Payment API follow-ups that
//! NMI's cloud-device integrations send for a finished transaction (`capture`, `void`,
//! `refund` with `transactionid`).

use super::Nmi;
use super::alias::{resolve, uuid_alias};
use super::devices::terminal_reference;
use super::direct::{self, Answer, Code};
use super::fields::Fields;
use super::guid::Guid;
use super::reply::{DirectFailure, direct as reply, engine_refusal};
use super::status::{META_ORDER_DESCRIPTION, META_PONUMBER, META_VAULT, META_VAULT_ID, nmi_type};
use crate::AppState;
use crate::dialect::{Dialect, authenticate};
use crate::dialects::flow::{active_interaction, transaction_of, wait_final};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use poigate_domain::{Currency, InteractionType, Money, OperationKind, OperationStatus};
use poigate_engine::{Caller, CancelAnswer, CreateRequest, EngineError, OperationRequest};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a synchronous request waits for the cardholder: NMI's documented five minutes.
pub(super) const SYNC_BOUND: Duration = Duration::from_secs(300);

fn bad(text: impl Into<String>) -> Response {
    reply(StatusCode::BAD_REQUEST, &Answer::error(text))
}

fn refused(e: EngineError) -> Response {
    let (status, answer) = engine_refusal(e);
    reply(status, &answer)
}

pub(super) async fn transact(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                &Answer::error("The request exceeds 64 KiB"),
            );
        }
        Err(_) => return bad("The request body could not be read"),
    };
    let fields = Fields::parse(&body);
    if let Some(name) = fields.duplicate() {
        return bad(Fields::duplicate_message(name));
    }
    let caller = match authenticate::<DirectFailure>(
        &state,
        Nmi::CREDENTIALS,
        &headers,
        Some(&fields),
    )
    .await
    {
        Ok(c) => c,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(name) = fields.card_data() {
        return bad(format!(
            "{name} is not accepted: the POI device reads the card (send poi_device_id)"
        ));
    }
    match fields.get("poi_request") {
        Some("cancellation") => return cancellation(&state, &caller, &fields).await,
        Some(other) => {
            return bad(format!(
                "Invalid poi_request `{other}`: the supported value is cancellation"
            ));
        }
        None => {}
    }
    let Some(kind) = fields.get("type") else {
        return bad("type is required: sale, auth, credit or validate");
    };
    match kind.to_ascii_lowercase().as_str() {
        "sale" => start(&state, &caller, &fields, InteractionType::Sale).await,
        "auth" => start(&state, &caller, &fields, InteractionType::Auth).await,
        "credit" => start(&state, &caller, &fields, InteractionType::Refund).await,
        "validate" => start(&state, &caller, &fields, InteractionType::Validate).await,
        "capture" => follow_up(&state, &caller, &fields, OperationKind::Capture).await,
        "void" => follow_up(&state, &caller, &fields, OperationKind::Void).await,
        "refund" => follow_up(&state, &caller, &fields, OperationKind::Refund).await,
        other => bad(format!(
            "Invalid type `{other}`: poigate's NMI dialect supports sale, auth, credit and \
             validate on a POI device, and capture, void and refund of their transactions"
        )),
    }
}

fn currency(fields: &Fields) -> Result<Currency, String> {
    let code = fields.get("currency").unwrap_or("USD").to_ascii_uppercase();
    Currency::from_code(&code).ok_or_else(|| format!("Invalid currency `{code}`"))
}

fn amount(fields: &Fields, currency: Currency, optional: bool) -> Result<Option<Money>, String> {
    match fields.get("amount") {
        None if optional => Ok(None),
        None => Err("amount is required".to_string()),
        Some(text) => Money::parse_decimal(text, currency)
            .map(Some)
            .map_err(|e| format!("Invalid amount `{text}`: {e}")),
    }
}

/// The Customer Vault request variables, kept in the interaction's metadata so that
/// asyncstatus can answer `customerVaultId`.
fn vault_metadata(fields: &Fields) -> Result<BTreeMap<String, String>, String> {
    let mut metadata = BTreeMap::new();
    match (
        fields.get("customer_vault"),
        fields.get("customer_vault_id"),
    ) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(
                "customer_vault_id alone charges a stored card; a POI device \
                        transaction reads the card (use customer_vault=add_customer to store it)"
                    .to_string(),
            );
        }
        (Some(action @ ("add_customer" | "update_customer")), id) => {
            metadata.insert(META_VAULT.to_string(), action.to_string());
            if let Some(id) = id {
                if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err("customer_vault_id must be 1 to 64 letters or digits".to_string());
                }
                metadata.insert(META_VAULT_ID.to_string(), id.to_string());
            }
        }
        (Some(other), _) => {
            return Err(format!(
                "Invalid customer_vault `{other}`: add_customer or update_customer"
            ));
        }
    }
    Ok(metadata)
}

/// Starts an interaction on the POI device.
async fn start(
    state: &AppState,
    caller: &Caller,
    fields: &Fields,
    kind: InteractionType,
) -> Response {
    let Some(device) = fields.get("poi_device_id") else {
        return bad("poi_device_id is required (the POI device's serial number, POIID or id)");
    };
    let asynchronous = match fields.get("response_method") {
        None | Some("synchronous") => false,
        Some("asynchronous") => true,
        Some(other) => {
            return bad(format!(
                "Invalid response_method `{other}`: asynchronous or synchronous"
            ));
        }
    };
    let currency = match currency(fields) {
        Ok(c) => c,
        Err(text) => return bad(text),
    };
    let amount = match amount(fields, currency, kind == InteractionType::Validate) {
        Ok(a) => a.unwrap_or_else(|| Money::zero(currency)),
        Err(text) => return bad(text),
    };
    let mut metadata = match vault_metadata(fields) {
        Ok(m) => m,
        Err(text) => return bad(text),
    };
    // Order information NMI keeps and returns in query.php.
    for (field, key, max) in [
        ("ponumber", META_PONUMBER, 255),
        ("orderdescription", META_ORDER_DESCRIPTION, 255),
    ] {
        if let Some(value) = fields.get(field) {
            if value.chars().count() > max || value.chars().any(char::is_control) {
                return bad(format!(
                    "Invalid {field}: up to {max} characters, no control characters"
                ));
            }
            metadata.insert(key.to_string(), value.to_string());
        }
    }
    let orderid = fields.get("orderid").unwrap_or("");
    let type_name = nmi_type(kind);
    let request = CreateRequest {
        terminal: terminal_reference(device),
        kind,
        amount,
        reference: fields.get("orderid").map(str::to_string),
        sale_id: None,
        service_id: None,
        timeout_seconds: None,
        metadata,
        webhooks: Vec::new(),
        ask_for_tip: false,
        idempotency_key: None,
    };
    let created = match state.engine.interactions().create(caller, request).await {
        Ok(c) => c,
        Err(EngineError::TerminalBusy { blocking }) => {
            let guid = Guid::device_in_use(blocking);
            let answer = if asynchronous {
                Answer::accepted(guid, orderid, type_name)
            } else {
                Answer {
                    guid: Some(guid.render()),
                    ..Answer::error("POI device in use: another transaction is in flight")
                        .with_order(orderid, type_name)
                }
            };
            return reply(StatusCode::OK, &answer);
        }
        Err(e) => {
            let (status, answer) = engine_refusal(e);
            return reply(status, &answer.with_order(orderid, type_name));
        }
    };
    let id = created.interaction.id;
    if asynchronous {
        return reply(
            StatusCode::OK,
            &Answer::accepted(Guid::Interaction(id), orderid, type_name),
        );
    }
    let finished = match wait_final(&state.engine, caller, id, SYNC_BOUND).await {
        Ok(i) => i,
        Err(e) => return refused(e),
    };
    match transaction_of(&state.engine, caller, &finished).await {
        Ok(txn) => reply(StatusCode::OK, &direct::result(&finished, txn.as_ref())),
        Err(e) => refused(e),
    }
}

/// `poi_request=cancellation`: cancel whatever runs on the POI device. The device decides;
/// poll the returned guid for `cancelledByApi` (or the result it reached first).
async fn cancellation(state: &AppState, caller: &Caller, fields: &Fields) -> Response {
    let Some(device) = fields.get("poi_device_id") else {
        return bad("poi_device_id is required with poi_request=cancellation");
    };
    let id = match active_interaction(&state.engine, caller, &terminal_reference(device)).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return reply(
                StatusCode::OK,
                &Answer::error("No transaction in progress on the POI device"),
            );
        }
        Err(e) => return refused(e),
    };
    let result = match state.engine.interactions().cancel(caller, id).await {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let guid = Some(Guid::Interaction(id).render());
    let answer = match result.answer {
        CancelAnswer::Cancelled | CancelAnswer::CancelRequested => Answer {
            response: Code::Approved,
            text: "Cancellation Requested".into(),
            response_code: 100,
            guid,
            ..Answer::error("")
        },
        CancelAnswer::TooLate => Answer {
            guid,
            ..Answer::error("Too late to cancel: the transaction already completed")
        },
    };
    reply(StatusCode::OK, &answer)
}

/// `capture`, `void` or `refund` of a transaction named by its NMI `transactionid`.
async fn follow_up(
    state: &AppState,
    caller: &Caller,
    fields: &Fields,
    kind: OperationKind,
) -> Response {
    let type_name = kind.as_str();
    let Some(raw) = fields.get("transactionid") else {
        return bad(format!("transactionid is required for type {type_name}"));
    };
    let Ok(alias) = raw.parse::<u64>() else {
        return bad(format!("Invalid transactionid `{raw}`"));
    };
    let interaction = match resolve(&state.engine, caller, alias).await {
        Ok(Some(i)) => i,
        Ok(None) => return bad(format!("Transaction not found: {raw}")),
        Err(e) => return refused(e),
    };
    let Some(txn_id) = interaction.transaction_id else {
        return bad(format!("Transaction not found: {raw}"));
    };
    let txn = match state
        .engine
        .transactions()
        .transaction(caller, txn_id)
        .await
    {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    let amount = match kind {
        OperationKind::Void => None,
        _ => match amount(fields, txn.amount.currency(), true) {
            Ok(a) => a.map(|m| m.value()),
            Err(text) => return bad(text),
        },
    };
    let request = OperationRequest {
        kind,
        amount,
        reference: fields.get("orderid").map(str::to_string),
        idempotency_key: None,
    };
    let orderid = interaction.reference.clone().unwrap_or_default();
    let result = match state
        .engine
        .transactions()
        .request_operation(caller, txn_id, request)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let (status, answer) = engine_refusal(e);
            return reply(status, &answer.with_order(&orderid, type_name));
        }
    };
    let op = &result.operation;
    let transactionid = match kind {
        OperationKind::Refund => uuid_alias(op.id.uuid()),
        _ => super::alias::transaction_alias(interaction.id),
    };
    let (response, text) = match op.status {
        OperationStatus::Succeeded => (Code::Approved, "SUCCESS".to_string()),
        OperationStatus::Pending => (Code::Approved, "Refund accepted, pending".to_string()),
        OperationStatus::Failed => (
            Code::Error,
            op.failure_reason
                .clone()
                .unwrap_or_else(|| "Declined by the processor".to_string()),
        ),
    };
    let answer = Answer {
        response,
        text,
        transactionid: transactionid.to_string(),
        response_code: if response == Code::Approved { 100 } else { 300 },
        ..Answer::error("").with_order(&orderid, type_name)
    };
    reply(StatusCode::OK, &answer)
}
