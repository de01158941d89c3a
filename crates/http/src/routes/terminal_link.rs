//! The device-facing HTTP side of the terminal link: pairing, and the WebSocket upgrade.
//!
//! Everything that can be refused is refused *before* the upgrade, with a problem document:
//! not a WebSocket request, an unknown or revoked device key, no supported protocol version.
//! Only an authenticated terminal gets a WebSocket, configured with the link's buffer sizes
//! and frame limits, and handed to `poigate-link`.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, bearer_token};
use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use poigate_api::{PairRequest, PairResponse, Problem};
use poigate_engine::EngineError;
use poigate_link::protocol::{LINK_PATH, PROTOCOL_V1, SUPPORTED_PROTOCOLS};
use std::time::Duration;

/// How long a handshake of a terminal held offline by the `disconnect` test helper waits
/// for `connect` before it is refused (the terminal then simply retries).
const HELD_HANDSHAKE_WAIT: Duration = Duration::from_secs(30);

/// Exchange a pairing code for a device key
///
/// Called by the device (or its installer) once. The answer's `device_key` is shown once:
/// the device keeps it and authenticates its link connection with it. The code works once,
/// for the terminal's own serial number, until it expires.
#[utoipa::path(post, path = "/v1/terminal-link/pair", tag = "terminal link",
    request_body = PairRequest,
    responses(
        (status = 200, description = "Paired: the device key, shown once", body = PairResponse),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_pairing_code`: unknown, expired, used, or for another serial number", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many refused codes for this terminal or from this client; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pair_terminal(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PairRequest>,
) -> Result<Json<PairResponse>, ApiError> {
    // Guessing a terminal's code is limited per serial number (and per client address).
    let limits = &state.limits;
    let address = limits.client_address(&headers);
    limits
        .before_pairing(address, &body.serial_number)
        .map_err(|l| ApiError::rate_limited(l.retry_after_seconds))?;
    let paired = match state
        .engine
        .devices()
        .pair_device(&body.pairing_code, &body.serial_number)
        .await
    {
        Ok(paired) => paired,
        Err(EngineError::InvalidPairingCode) => {
            return Err(match limits.pairing_failed(address, &body.serial_number) {
                Ok(()) => EngineError::InvalidPairingCode.into(),
                Err(l) => ApiError::rate_limited(l.retry_after_seconds),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let t = paired.terminal;
    Ok(Json(PairResponse {
        device_key: paired.device_key,
        terminal: t.id,
        poiid: t.poiid(),
        serial_number: t.serial_number,
        model: t.model,
        link_path: LINK_PATH.into(),
        protocol: PROTOCOL_V1.into(),
    }))
}

fn device_unauthorized() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        "a valid device key is required: Authorization: Bearer pg_dev_…",
    );
    e.www_authenticate = true;
    e
}

/// Whether the client offered a protocol version this gateway speaks.
fn offers_supported_protocol(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| SUPPORTED_PROTOCOLS.contains(&p.trim()))
}

/// The terminal link (WebSocket)
///
/// A terminal connects here with `Authorization: Bearer <device key>` and
/// `Sec-WebSocket-Protocol: poigate.terminal.v1`, then speaks the protocol of
/// `docs/terminal-protocol.md`.
#[utoipa::path(get, path = "/v1/terminal-link", tag = "terminal link",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol poigate.terminal.v1"),
        (status = 400, description = "`unsupported_protocol`: no offered protocol version is supported", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`: unknown or revoked device key", body = Problem, content_type = "application/problem+json"),
        (status = 426, description = "`upgrade_required`: not a WebSocket handshake", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`terminal_held_offline`: a simulated terminal held offline by the `disconnect` test helper; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("device_key" = [])))]
pub async fn terminal_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Some(terminals) = state.terminals.clone() else {
        return Err(ApiError::not_found("endpoint"));
    };
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "WebSocket required",
            format!(
                "the terminal link is a WebSocket endpoint: {}",
                e.body_text()
            ),
        )
    })?;
    let key = bearer_token(&headers).ok_or_else(device_unauthorized)?;
    let limits = &state.limits;
    let address = limits.client_address(&headers);
    limits
        .before_auth(address, Some(key))
        .map_err(|l| ApiError::rate_limited(l.retry_after_seconds))?;
    let Some(terminal) = state.engine.devices().authenticate_device(key).await? else {
        return Err(match limits.auth_failed(address, Some(key)) {
            Ok(()) => device_unauthorized(),
            Err(l) => ApiError::rate_limited(l.retry_after_seconds),
        });
    };
    if !offers_supported_protocol(&headers) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_protocol",
            "Unsupported protocol version",
            format!(
                "offer one of these in Sec-WebSocket-Protocol: {}",
                SUPPORTED_PROTOCOLS.join(", ")
            ),
        ));
    }
    let gateway = terminals.gateway().clone();
    if !gateway
        .wait_until_released(terminal.id, HELD_HANDSHAKE_WAIT)
        .await
    {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "terminal_held_offline",
            "Held offline",
            "a test helper holds this simulated terminal offline until `connect`",
        );
        e.retry_after = Some(1);
        return Err(e);
    }
    let limits = gateway.config().limits;
    Ok(upgrade
        .protocols(SUPPORTED_PROTOCOLS.iter().copied())
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(limits.write_buffer_bytes)
        .max_write_buffer_size(limits.max_write_buffer_bytes)
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_failed_upgrade(|e| tracing::info!(error = %e, "terminal link upgrade failed"))
        .on_upgrade(move |socket| async move { gateway.serve(socket, terminal).await })
        .into_response())
}
