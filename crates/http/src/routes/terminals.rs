//! Terminal registry endpoints.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, Auth};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use poigate_api::{CreateTerminalRequest, ListOf, PairingCodeView, Problem, TerminalView};
use poigate_domain::{TerminalConnection, TerminalKind, TerminalStatus};
use poigate_engine::{PairingCode, TerminalView as EngineTerminal};

pub(crate) fn terminal_view(t: &EngineTerminal) -> TerminalView {
    let live = t.live.as_ref();
    TerminalView {
        id: t.terminal.id,
        object: "terminal".into(),
        livemode: t.terminal.livemode,
        serial_number: t.terminal.serial_number.clone(),
        model: t.terminal.model.clone(),
        poiid: t.terminal.poiid(),
        label: t.terminal.label.clone(),
        kind: t.terminal.kind,
        connection: t.terminal.connection,
        status: live.map(|l| l.status()).unwrap_or(TerminalStatus::Offline),
        connected: live.is_some_and(|l| l.connected),
        last_seen_at: live.and_then(|l| l.last_seen_at),
        active_interaction: live.and_then(|l| l.active),
        created_at: t.terminal.created_at,
        pairing: None,
    }
}

fn pairing_view(code: PairingCode) -> PairingCodeView {
    PairingCodeView {
        pairing_code: code.code,
        expires_at: code.expires_at,
    }
}

/// List terminals with their live status
#[utoipa::path(get, path = "/v1/terminals", tag = "terminals",
    responses((status = 200, description = "The merchant's terminals", body = ListOf<TerminalView>)),
    security(("bearer" = [])))]
pub async fn list_terminals(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<ListOf<TerminalView>>, ApiError> {
    let terminals = state.engine.admin().list_terminals_for(&caller).await?;
    Ok(Json(ListOf::new(
        terminals.iter().map(terminal_view).collect(),
        false,
        None,
    )))
}

/// Register a terminal
///
/// A `simulated` terminal (the default) runs in-process, is online at once and behaves as
/// described in the test-trigger table. A `device` terminal — or a `simulated` one with
/// `connection: link`, run by `poigate terminal-sim` — is online while it is connected over
/// the terminal link; the answer then carries a one-time `pairing` code that the device
/// exchanges for its device key (`POST /v1/terminal-link/pair`).
#[utoipa::path(post, path = "/v1/terminals", tag = "terminals",
    request_body = CreateTerminalRequest,
    responses(
        (status = 201, description = "Registered", body = TerminalView),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`livemode_mismatch`: a live key cannot register a simulated terminal", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_exists`: this serial number is registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_terminal(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<CreateTerminalRequest>,
) -> Result<(StatusCode, Json<TerminalView>), ApiError> {
    let kind = body.kind.unwrap_or(TerminalKind::Simulated);
    if kind == TerminalKind::Simulated && caller.mode == poigate_domain::ApiKeyMode::Live {
        return Err(poigate_engine::EngineError::LivemodeMismatch.into());
    }
    let connection = body.connection.unwrap_or(match kind {
        TerminalKind::Simulated => TerminalConnection::InProcess,
        TerminalKind::Device => TerminalConnection::Link,
    });
    let terminal = state
        .engine
        .admin()
        .register_terminal_in_mode(
            caller.merchant_id,
            caller.livemode(),
            &body.serial_number,
            &body.model,
            body.label,
            kind,
            connection,
        )
        .await?;
    // A failure here leaves the terminal registered; a new code can be asked for.
    let pairing = match connection {
        TerminalConnection::Link => Some(
            state
                .engine
                .admin()
                .issue_pairing_code(caller.merchant_id, &terminal)
                .await?,
        ),
        TerminalConnection::InProcess => None,
    };
    let view = state
        .engine
        .admin()
        .find_terminal_for(&caller, &terminal.id.to_string())
        .await?;
    let mut answer = terminal_view(&view);
    answer.pairing = pairing.map(pairing_view);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Issue a new pairing code for a link terminal
///
/// For a device to pair (again): after the first code expired, after a revocation, or to
/// replace a device. An earlier unused code stops working; the current device key keeps
/// working until the new code is used.
#[utoipa::path(post, path = "/v1/terminals/{id}/pairing-code", tag = "terminals",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses(
        (status = 201, description = "A fresh one-time code", body = PairingCodeView),
        (status = 404, description = "No such terminal for this merchant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_allowed`: an in-process terminal has nothing to pair", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_pairing_code(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<PairingCodeView>), ApiError> {
    let view = state.engine.admin().find_terminal_for(&caller, &id).await?;
    let code = state
        .engine
        .admin()
        .issue_pairing_code(caller.merchant_id, &view.terminal)
        .await?;
    Ok((StatusCode::CREATED, Json(pairing_view(code))))
}

/// Revoke a terminal's device key
///
/// The device key (and any unused pairing code) stops working at once and the terminal's
/// live link connection is closed: it is `offline` when this answers. An interaction it was
/// running stays `in_progress` (poigate never invents an outcome) and completes if the
/// device is paired again and reports. Pair again with a new code.
#[utoipa::path(post, path = "/v1/terminals/{id}/revoke", tag = "terminals",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses(
        (status = 200, description = "Revoked; the terminal as it is now", body = TerminalView),
        (status = 404, description = "No such terminal for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke_terminal(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TerminalView>, ApiError> {
    let view = state.engine.admin().find_terminal_for(&caller, &id).await?;
    state
        .engine
        .admin()
        .revoke_terminal(caller.merchant_id, &view.terminal)
        .await?;
    let view = state.engine.admin().find_terminal_for(&caller, &id).await?;
    Ok(Json(terminal_view(&view)))
}

/// Get a terminal by id, POIID or serial number
#[utoipa::path(get, path = "/v1/terminals/{id}", tag = "terminals",
    params(("id" = String, Path, description = "Terminal id, POIID or serial number")),
    responses(
        (status = 200, description = "The terminal and its live status", body = TerminalView),
        (status = 404, description = "No such terminal for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_terminal(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TerminalView>, ApiError> {
    let view = state.engine.admin().find_terminal_for(&caller, &id).await?;
    Ok(Json(terminal_view(&view)))
}
