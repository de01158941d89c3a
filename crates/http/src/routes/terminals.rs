//! Terminal registry endpoints.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, Auth};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use poigate_api::{CreateTerminalRequest, ListOf, Problem, TerminalView};
use poigate_domain::{TerminalKind, TerminalStatus};
use poigate_engine::TerminalView as EngineTerminal;

pub(crate) fn terminal_view(t: &EngineTerminal) -> TerminalView {
    let live = t.live.as_ref();
    TerminalView {
        id: t.terminal.id,
        object: "terminal".into(),
        serial_number: t.terminal.serial_number.clone(),
        model: t.terminal.model.clone(),
        poiid: t.terminal.poiid(),
        label: t.terminal.label.clone(),
        kind: t.terminal.kind,
        status: live.map(|l| l.status()).unwrap_or(TerminalStatus::Offline),
        connected: live.is_some_and(|l| l.connected),
        last_seen_at: live.and_then(|l| l.last_seen_at),
        active_interaction: live.and_then(|l| l.active),
        created_at: t.terminal.created_at,
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
    let terminals = state.engine.list_terminals(caller.merchant_id).await?;
    Ok(Json(ListOf::new(
        terminals.iter().map(terminal_view).collect(),
        false,
        None,
    )))
}

/// Register a terminal
///
/// A `simulated` terminal (the default) is online at once and behaves as described in the
/// test-trigger table. A `device` terminal is online when the real device is connected.
#[utoipa::path(post, path = "/v1/terminals", tag = "terminals",
    request_body = CreateTerminalRequest,
    responses(
        (status = 201, description = "Registered", body = TerminalView),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_exists`: this serial number is registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_terminal(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<CreateTerminalRequest>,
) -> Result<(StatusCode, Json<TerminalView>), ApiError> {
    let terminal = state
        .engine
        .register_terminal(
            caller.merchant_id,
            &body.serial_number,
            &body.model,
            body.label,
            body.kind.unwrap_or(TerminalKind::Simulated),
        )
        .await?;
    let view = state
        .engine
        .find_terminal(caller.merchant_id, &terminal.id.to_string())
        .await?;
    Ok((StatusCode::CREATED, Json(terminal_view(&view))))
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
    let view = state.engine.find_terminal(caller.merchant_id, &id).await?;
    Ok(Json(terminal_view(&view)))
}
