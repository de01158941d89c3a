//! `POST /api/query.php`: NMI's Query API, the documented way to find a transaction after a
//! lost response ("query the gateway to see the status of the transaction"). poigate
//! answers the `transaction` report for `transaction_id` (one or several, comma-separated)
//! and `order_id`, with a subset of NMI's fields: identifiers, `platform_id` (the
//! asyncstatus guid), `condition`, the masked card, and one `action` per step (the card
//! decision, then captures, voids and refunds).

use super::Nmi;
use super::alias::{resolve, resolve_refund, transaction_alias, uuid_alias};
use super::direct::decline_code;
use super::fields::Fields;
use super::guid::Guid;
use super::status::{META_ORDER_DESCRIPTION, META_PONUMBER, condition, nmi_type};
use crate::AppState;
use crate::dialect::{Dialect, ErrorShape, Unauthenticated, authenticate};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use poigate_domain::{
    CardBrand, Interaction, Operation, OperationStatus, Outcome, Timestamp, Transaction,
    TransactionStatus,
};
use poigate_engine::{Caller, EngineError, InteractionFilter};
use std::fmt::Write as _;

/// At most this many transactions per answer.
const MAX_RESULTS: u32 = 100;

/// Query API filters poigate does not implement: refused rather than ignored, so that no
/// answer is wider than what was asked for.
const UNSUPPORTED_FILTERS: &[&str] = &[
    "condition",
    "transaction_type",
    "action_type",
    "source",
    "start_date",
    "end_date",
    "cc_number",
    "email",
    "first_name",
    "last_name",
    "customer_vault_id",
    "date_search",
];

fn xml(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=UTF-8"),
    );
    response
}

/// NMI's Query API error: `<nm_response><error_response>…</error_response></nm_response>`.
fn error(status: StatusCode, message: &str) -> Response {
    xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<nm_response>\n\t<error_response>{}</error_response>\n</nm_response>\n",
            escape(message)
        ),
    )
}

/// A refused Query API request: NMI's `<error_response>`.
pub struct QueryFailure(Response);

impl IntoResponse for QueryFailure {
    fn into_response(self) -> Response {
        self.0
    }
}

impl ErrorShape for QueryFailure {
    fn from_engine(e: EngineError) -> QueryFailure {
        QueryFailure(engine_error(e))
    }

    fn unauthenticated(why: Unauthenticated) -> QueryFailure {
        QueryFailure(match why.retry_after_seconds() {
            Some(seconds) => crate::dialect::with_retry_after(
                error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed authentications; retry later",
                ),
                seconds,
            ),
            None => error(StatusCode::UNAUTHORIZED, "Authentication Failed"),
        })
    }
}

/// Exhaustive on purpose (see `crate::dialect`): a new engine error must be decided here.
#[deny(clippy::wildcard_enum_match_arm)]
fn engine_error(e: EngineError) -> Response {
    match e {
        err @ (EngineError::Store(_) | EngineError::Randomness(_)) => {
            tracing::error!(error = %err, "storage failure");
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        EngineError::NotFound(_)
        | EngineError::TerminalNotFound(_)
        | EngineError::Validation(_)
        | EngineError::TerminalBusy { .. }
        | EngineError::TerminalOffline
        | EngineError::IdempotencyMismatch
        | EngineError::IdempotencyInProgress
        | EngineError::Duplicate(_)
        | EngineError::WrongTerminal
        | EngineError::UnknownInteraction
        | EngineError::InvalidReport(_)
        | EngineError::WrongSeq { .. }
        | EngineError::InvalidPairingCode
        | EngineError::NotAllowed(_)
        | EngineError::LivemodeMismatch
        | EngineError::Transition(_)
        | EngineError::MoneyRule(_) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\t' && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

pub(super) async fn query(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "The request body could not be read",
        );
    };
    let fields = Fields::parse(&body);
    if let Some(name) = fields.duplicate() {
        return error(StatusCode::BAD_REQUEST, &Fields::duplicate_message(name));
    }
    let caller =
        match authenticate::<QueryFailure>(&state, Nmi::CREDENTIALS, &headers, Some(&fields)).await
        {
            Ok(c) => c,
            Err(refused) => return refused.into_response(),
        };
    match fields.get("report_type") {
        None | Some("transaction") => {}
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid report_type `{other}`: poigate answers the transaction report"),
            );
        }
    }
    if let Some(filter) = UNSUPPORTED_FILTERS.iter().find(|f| fields.get(f).is_some()) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("{filter} is not supported: query by transaction_id or order_id"),
        );
    }
    let found = match (fields.get("transaction_id"), fields.get("order_id")) {
        (Some(ids), order) => by_transaction_ids(&state, &caller, ids, order).await,
        (None, Some(order)) => by_order_id(&state, &caller, order).await.map(|f| {
            f.into_iter()
                .map(|i| Found::Interaction(Box::new(i)))
                .collect()
        }),
        (None, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "transaction_id or order_id is required",
            );
        }
    };
    let found = match found {
        Ok(f) => f,
        Err(response) => return response,
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<nm_response>\n");
    for found in &found {
        let interaction = match found {
            Found::Interaction(i) => i,
            Found::Refund(op) => {
                let txn = match state
                    .engine
                    .transactions()
                    .transaction(&caller, op.transaction_id)
                    .await
                {
                    Ok(t) => t,
                    Err(e) => return engine_error(e),
                };
                render_refund(&mut out, op, &txn);
                continue;
            }
        };
        let Some(txn_id) = interaction.transaction_id else {
            continue;
        };
        let txn = match state
            .engine
            .transactions()
            .transaction(&caller, txn_id)
            .await
        {
            Ok(t) => t,
            Err(e) => return engine_error(e),
        };
        let operations = match state
            .engine
            .transactions()
            .operations(&caller, txn_id, None)
            .await
        {
            Ok(o) => o,
            Err(e) => return engine_error(e),
        };
        render(&mut out, interaction, &txn, &operations);
    }
    out.push_str("</nm_response>\n");
    xml(StatusCode::OK, out)
}

/// What a `transaction_id` names: a card transaction (its interaction), or a referenced
/// refund (a transaction of its own in NMI).
enum Found {
    Interaction(Box<Interaction>),
    Refund(Box<Operation>),
}

async fn by_transaction_ids(
    state: &AppState,
    caller: &Caller,
    ids: &str,
    order: Option<&str>,
) -> Result<Vec<Found>, Response> {
    let mut found = Vec::new();
    for raw in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Ok(alias) = raw.parse::<u64>() else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid transaction_id `{raw}`"),
            ));
        };
        match resolve(&state.engine, caller, alias).await {
            Ok(Some(i)) => {
                if order.is_none_or(|o| i.reference.as_deref() == Some(o)) {
                    found.push(Found::Interaction(Box::new(i)));
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => return Err(engine_error(e)),
        }
        match resolve_refund(&state.engine, caller, alias).await {
            Ok(Some(op)) if order.is_none_or(|o| op.reference.as_deref() == Some(o)) => {
                found.push(Found::Refund(Box::new(op)));
            }
            Ok(_) => {}
            Err(e) => return Err(engine_error(e)),
        }
    }
    Ok(found)
}

async fn by_order_id(
    state: &AppState,
    caller: &Caller,
    order: &str,
) -> Result<Vec<Interaction>, Response> {
    let filter = InteractionFilter {
        reference: Some(order.to_string()),
        limit: MAX_RESULTS,
        ..InteractionFilter::default()
    };
    state
        .engine
        .interactions()
        .find(caller, &filter)
        .await
        .map_err(engine_error)
}

/// `YYYYMMDDhhmmss`, UTC, as the Query API dates its actions.
fn date(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, _) = t.utc_parts();
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

fn cc_type(brand: CardBrand) -> &'static str {
    match brand {
        CardBrand::Visa => "visa",
        CardBrand::Mastercard => "mastercard",
        CardBrand::Maestro => "maestro",
        CardBrand::Amex => "amex",
        CardBrand::Discover => "discover",
        CardBrand::Jcb => "jcb",
        CardBrand::Unionpay => "unionpay",
        CardBrand::Diners => "diners",
        CardBrand::Other => "",
    }
}

struct Action<'a> {
    amount: String,
    kind: &'a str,
    date: Timestamp,
    success: bool,
    text: String,
    code: u16,
}

fn element(out: &mut String, indent: &str, name: &str, value: &str) {
    let _ = writeln!(out, "{indent}<{name}>{}</{name}>", escape(value));
}

fn render(out: &mut String, interaction: &Interaction, txn: &Transaction, ops: &[Operation]) {
    let t = "\t\t";
    out.push_str("\t<transaction>\n");
    element(
        out,
        t,
        "transaction_id",
        &transaction_alias(interaction.id).to_string(),
    );
    element(out, t, "partial_payment_id", "");
    element(out, t, "partial_payment_balance", "");
    element(
        out,
        t,
        "platform_id",
        &Guid::Interaction(interaction.id).render(),
    );
    element(out, t, "transaction_type", "cc");
    element(out, t, "condition", condition(txn.condition));
    element(out, t, "order_id", txn.reference.as_deref().unwrap_or(""));
    element(
        out,
        t,
        "authorization_code",
        txn.auth_code.as_deref().unwrap_or(""),
    );
    let meta = |key: &str| interaction.metadata.get(key).map_or("", String::as_str);
    element(out, t, "ponumber", meta(META_PONUMBER));
    element(out, t, "order_description", meta(META_ORDER_DESCRIPTION));
    let (cc_number, cc_bin, brand) = match &txn.card {
        Some(card) => (
            card.masked_pan().replace('*', "x"),
            card.bin().unwrap_or("").to_string(),
            cc_type(card.brand()),
        ),
        None => (String::new(), String::new(), ""),
    };
    element(out, t, "cc_number", &cc_number);
    element(out, t, "cc_bin", &cc_bin);
    element(out, t, "cc_type", brand);
    element(
        out,
        t,
        "currency",
        &txn.amount.currency().code().to_ascii_lowercase(),
    );
    let approved = txn.status == TransactionStatus::Approved;
    let (text, code) = match &interaction.outcome {
        Some(Outcome::Declined { reason, message }) => (message.clone(), decline_code(*reason)),
        _ => ("APPROVED".to_string(), 100),
    };
    let mut actions = vec![Action {
        amount: txn.amount.to_decimal_string(),
        kind: nmi_type(interaction.kind),
        date: txn.created_at,
        success: approved,
        text,
        code,
    }];
    for op in ops {
        let (success, text, code) = match op.status {
            OperationStatus::Succeeded => (true, "SUCCESS".to_string(), 100),
            OperationStatus::Pending => (true, "PENDING".to_string(), 100),
            OperationStatus::Failed => (false, op.failure_reason.clone().unwrap_or_default(), 300),
        };
        actions.push(Action {
            amount: op.amount.to_decimal_string(),
            kind: op.kind.as_str(),
            date: op.created_at,
            success,
            text,
            code,
        });
    }
    let a = "\t\t\t";
    for action in actions {
        out.push_str("\t\t<action>\n");
        element(out, a, "amount", &action.amount);
        element(out, a, "action_type", action.kind);
        element(out, a, "date", &date(action.date));
        element(out, a, "success", if action.success { "1" } else { "0" });
        element(out, a, "source", "api");
        element(out, a, "response_text", &action.text);
        element(out, a, "response_code", &action.code.to_string());
        out.push_str("\t\t</action>\n");
    }
    out.push_str("\t</transaction>\n");
}

/// A referenced refund as NMI shows it: a transaction of its own (`transaction_id` its
/// alias), of the refunded card, with one `refund` action.
fn render_refund(out: &mut String, op: &Operation, txn: &Transaction) {
    let t = "\t\t";
    out.push_str("\t<transaction>\n");
    element(
        out,
        t,
        "transaction_id",
        &uuid_alias(op.id.uuid()).to_string(),
    );
    element(out, t, "partial_payment_id", "");
    element(out, t, "partial_payment_balance", "");
    element(out, t, "platform_id", "");
    element(out, t, "transaction_type", "cc");
    let condition = match op.status {
        OperationStatus::Succeeded => "pendingsettlement",
        OperationStatus::Pending => "pending",
        OperationStatus::Failed => "failed",
    };
    element(out, t, "condition", condition);
    element(
        out,
        t,
        "order_id",
        op.reference
            .as_deref()
            .or(txn.reference.as_deref())
            .unwrap_or(""),
    );
    element(out, t, "authorization_code", "");
    element(out, t, "ponumber", "");
    element(out, t, "order_description", "");
    let (cc_number, cc_bin, brand) = match &txn.card {
        Some(card) => (
            card.masked_pan().replace('*', "x"),
            card.bin().unwrap_or("").to_string(),
            cc_type(card.brand()),
        ),
        None => (String::new(), String::new(), ""),
    };
    element(out, t, "cc_number", &cc_number);
    element(out, t, "cc_bin", &cc_bin);
    element(out, t, "cc_type", brand);
    element(
        out,
        t,
        "currency",
        &op.amount.currency().code().to_ascii_lowercase(),
    );
    element(
        out,
        t,
        "original_transaction_id",
        &transaction_alias(txn.interaction_id).to_string(),
    );
    let (success, text, code) = match op.status {
        OperationStatus::Succeeded => (true, "SUCCESS".to_string(), 100),
        OperationStatus::Pending => (true, "PENDING".to_string(), 100),
        OperationStatus::Failed => (false, op.failure_reason.clone().unwrap_or_default(), 300),
    };
    let a = "\t\t\t";
    out.push_str("\t\t<action>\n");
    element(out, a, "amount", &op.amount.to_decimal_string());
    element(out, a, "action_type", "refund");
    element(out, a, "date", &date(op.created_at));
    element(out, a, "success", if success { "1" } else { "0" });
    element(out, a, "source", "api");
    element(out, a, "response_text", &text);
    element(out, a, "response_code", &code.to_string());
    out.push_str("\t\t</action>\n");
    out.push_str("\t</transaction>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(escape("a<b>&\"c'\u{7}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
