//! Test helpers: drive a simulated terminal as a cardholder would — in-process, or over the
//! terminal link for simulated terminals run by `poigate terminal-sim`. Test keys and
//! simulated terminals only.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Auth, parse_json};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use poigate_api::{PresentCardRequest, Problem, TestHelperResponse};
use poigate_domain::{ApiKeyMode, TerminalId, TerminalStatus};
use poigate_engine::Caller;
use poigate_link::{HelperAction, HelperError};
use poigate_terminal::{CardholderAction, HelperTarget, TestCard, TestCardOutcome};

fn not_simulated() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_simulated",
        "Not a simulated terminal",
        "test helpers drive simulated terminals only",
    )
}

impl From<HelperError> for ApiError {
    fn from(e: HelperError) -> ApiError {
        match e {
            HelperError::NotSimulated => not_simulated(),
            HelperError::Offline => ApiError::new(
                StatusCode::CONFLICT,
                "terminal_offline",
                "Terminal offline",
                "the simulated terminal is not connected to the terminal link",
            ),
            HelperError::NoAnswer => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "terminal_no_answer",
                "No answer from the terminal",
                "the simulated terminal did not answer the test helper in time",
            ),
        }
    }
}

/// Runs `action` on the caller's simulated terminal `reference`.
async fn helper(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    action: HelperAction,
) -> Result<Json<TestHelperResponse>, ApiError> {
    if caller.mode != ApiKeyMode::Test {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "test_mode_only",
            "Test mode only",
            "test helpers need a test API key (pg_test_…)",
        ));
    }
    let view = state
        .engine
        .admin()
        .find_terminal_for(caller, reference)
        .await?;
    let terminals = state.terminals.as_ref().ok_or_else(not_simulated)?;
    let target = terminals.helper(&view.terminal, action).await?;
    Ok(answer(state, view.terminal.id, target))
}

fn answer(
    state: &AppState,
    id: TerminalId,
    target: Option<HelperTarget>,
) -> Json<TestHelperResponse> {
    let status = state
        .engine
        .devices()
        .terminal_live(id)
        .map(|l| l.status())
        .unwrap_or(TerminalStatus::Offline);
    let (applied_to, interaction) = match target {
        Some(HelperTarget::Current(i)) => ("current", Some(i)),
        Some(HelperTarget::Next) => ("next", None),
        None => ("terminal", None),
    };
    Json(TestHelperResponse {
        terminal: id,
        applied_to: applied_to.into(),
        interaction,
        status,
    })
}

fn parse_outcome(text: &str) -> Result<TestCardOutcome, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        ApiError::invalid_field(
            "outcome",
            "invalid_value",
            "one of approve, decline, insufficient_funds, card_blocked, card_expired, invalid_card, pin_incorrect",
        )
    })
}

/// Present a test card
///
/// To the interaction waiting for a card now, or — when the terminal is idle — to the next
/// one. The body is optional (default: an approving Visa chip card with online PIN).
#[utoipa::path(post, path = "/v1/test-helpers/terminals/{id}/present-card", tag = "test helpers",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    request_body(content = Option<PresentCardRequest>),
    responses(
        (status = 200, description = "Applied to the current interaction or armed for the next", body = TestHelperResponse),
        (status = 403, description = "Not a test key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_simulated`, or `terminal_offline` for a link-connected simulator that is not connected", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`terminal_no_answer`: a link-connected simulator did not answer in time", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn helper_present_card(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TestHelperResponse>, ApiError> {
    let request: PresentCardRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PresentCardRequest::default()
    } else {
        parse_json(&body)?
    };
    let defaults = TestCard::default();
    let card = TestCard {
        outcome: match &request.outcome {
            Some(o) => parse_outcome(o)?,
            None => defaults.outcome,
        },
        brand: request.brand.unwrap_or(defaults.brand),
        entry_mode: request.entry_mode.unwrap_or(defaults.entry_mode),
        cvm: request.cvm.unwrap_or(defaults.cvm),
    };
    let action = HelperAction::Cardholder(CardholderAction::PresentCard(card));
    helper(&state, &caller, &id, action).await
}

/// Press cancel on the terminal
#[utoipa::path(post, path = "/v1/test-helpers/terminals/{id}/cancel", tag = "test helpers",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses((status = 200, description = "Applied or armed", body = TestHelperResponse)),
    security(("bearer" = [])))]
pub async fn helper_press_cancel(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TestHelperResponse>, ApiError> {
    let action = HelperAction::Cardholder(CardholderAction::PressCancel);
    helper(&state, &caller, &id, action).await
}

/// Never present a card: the terminal times out
#[utoipa::path(post, path = "/v1/test-helpers/terminals/{id}/timeout", tag = "test helpers",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses((status = 200, description = "Applied or armed", body = TestHelperResponse)),
    security(("bearer" = [])))]
pub async fn helper_timeout(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TestHelperResponse>, ApiError> {
    let action = HelperAction::Cardholder(CardholderAction::WalkAway);
    helper(&state, &caller, &id, action).await
}

/// Hold at "Present card" until another helper acts or the POS cancels
#[utoipa::path(post, path = "/v1/test-helpers/terminals/{id}/hold", tag = "test helpers",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses((status = 200, description = "Applied or armed", body = TestHelperResponse)),
    security(("bearer" = [])))]
pub async fn helper_hold(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TestHelperResponse>, ApiError> {
    let action = HelperAction::Cardholder(CardholderAction::Hold);
    helper(&state, &caller, &id, action).await
}

/// Drop the terminal's connection (it goes offline and keeps what it has to report)
///
/// For a link-connected simulator the WebSocket is closed and its next handshake waits
/// until `connect`.
#[utoipa::path(post, path = "/v1/test-helpers/terminals/{id}/disconnect", tag = "test helpers",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses((status = 200, description = "Disconnected", body = TestHelperResponse)),
    security(("bearer" = [])))]
pub async fn helper_disconnect(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TestHelperResponse>, ApiError> {
    helper(&state, &caller, &id, HelperAction::Disconnect).await
}

/// Bring the terminal back online (it delivers what it held)
///
/// For a link-connected simulator this answers once it has reconnected.
#[utoipa::path(post, path = "/v1/test-helpers/terminals/{id}/connect", tag = "test helpers",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses((status = 200, description = "Connected", body = TestHelperResponse)),
    security(("bearer" = [])))]
pub async fn helper_connect(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TestHelperResponse>, ApiError> {
    helper(&state, &caller, &id, HelperAction::Connect).await
}

/// Freeze the terminal: connected, but it stops answering (starts stay unacknowledged)
#[utoipa::path(post, path = "/v1/test-helpers/terminals/{id}/freeze", tag = "test helpers",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses((status = 200, description = "Frozen", body = TestHelperResponse)),
    security(("bearer" = [])))]
pub async fn helper_freeze(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TestHelperResponse>, ApiError> {
    helper(&state, &caller, &id, HelperAction::Freeze).await
}

/// Unfreeze the terminal: a start it received while frozen runs now
#[utoipa::path(post, path = "/v1/test-helpers/terminals/{id}/unfreeze", tag = "test helpers",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses((status = 200, description = "Unfrozen", body = TestHelperResponse)),
    security(("bearer" = [])))]
pub async fn helper_unfreeze(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TestHelperResponse>, ApiError> {
    helper(&state, &caller, &id, HelperAction::Unfreeze).await
}
