//! Adyen's Cloud Device API (`https://device-api-test.adyen.com/v1`, `CloudDeviceApi` in
//! Adyen's libraries): the Terminal API addressed per device, and the devices' connection
//! state. Mounted under `/adyen`, so a client replaces Adyen's host by `…/adyen`:
//!
//! - `POST /adyen/v1/merchants/{merchantAccount}/devices/{deviceId}/sync` and `/async`:
//!   the same nexo bodies and answers as `/adyen/sync` and `/adyen/async`; `deviceId` must
//!   be the message's `POIID`.
//! - `GET /adyen/v1/merchants/{merchantAccount}/connectedDevices` (`?store=` accepted and
//!   ignored: poigate has no stores): `{"uniqueDeviceIds": [...]}`, the terminals online now.
//! - `GET /adyen/v1/merchants/{merchantAccount}/devices/{deviceId}/status`:
//!   `{"deviceId", "status": "ONLINE" | "OFFLINE"}`.
//!
//! `merchantAccount` is the API key's merchant, by name or id (anything else: `403`).

use super::Adyen;
use super::answer::{self, ServiceError, service_exception};
use super::handlers::{Mode, handle_as};
use crate::AppState;
use crate::dialect::{Dialect, authenticate};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use poigate_engine::{Caller, EngineError};
use serde_json::json;

/// The Cloud Device API's only version.
const VERSION: &str = "v1";

/// Authenticates and checks `merchantAccount`.
async fn caller_of(
    state: &AppState,
    headers: &HeaderMap,
    merchant_account: &str,
) -> Result<Caller, Response> {
    let caller = authenticate::<ServiceError>(state, Adyen::CREDENTIALS, headers, None)
        .await
        .map_err(IntoResponse::into_response)?;
    let merchant = state
        .engine
        .admin()
        .get_merchant(caller.merchant_id)
        .await
        .map_err(answer::engine_error)?;
    if merchant_account != merchant.name && merchant_account != merchant.id.to_string() {
        return Err(service_exception(
            StatusCode::FORBIDDEN,
            "901",
            "Invalid Merchant Account: not the merchant account of this API key",
            "security",
        ));
    }
    Ok(caller)
}

/// `POST …/devices/{deviceId}/{sync|async}`.
pub async fn message(
    State(state): State<AppState>,
    Path((version, merchant_account, device, endpoint)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mode = match endpoint.as_str() {
        "sync" => Mode::Sync,
        "async" => Mode::Async,
        _ => return answer::not_found(),
    };
    if version != VERSION {
        return answer::not_found();
    }
    let caller = match caller_of(&state, &headers, &merchant_account).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    handle_as(&state, &caller, body, mode, Some(&device)).await
}

/// `GET …/connectedDevices`: the POIIDs of the merchant's terminals online now.
pub async fn connected(
    State(state): State<AppState>,
    Path((version, merchant_account)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if version != VERSION {
        return answer::not_found();
    }
    let caller = match caller_of(&state, &headers, &merchant_account).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    match state.engine.admin().list_terminals_for(&caller).await {
        Ok(views) => {
            let ids: Vec<String> = views
                .iter()
                .filter(|v| v.live.as_ref().is_some_and(|l| l.connected))
                .map(|v| v.terminal.poiid())
                .collect();
            answer::json(StatusCode::OK, &json!({"uniqueDeviceIds": ids}))
        }
        Err(e) => answer::engine_error(e),
    }
}

/// `GET …/devices/{deviceId}/status`.
pub async fn status(
    State(state): State<AppState>,
    Path((version, merchant_account, device, endpoint)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if version != VERSION || endpoint != "status" {
        return answer::not_found();
    }
    let caller = match caller_of(&state, &headers, &merchant_account).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    let terminal = match state
        .engine
        .admin()
        .find_terminal_for(&caller, &device)
        .await
    {
        Ok(t) => t,
        Err(EngineError::NotFound(_) | EngineError::LivemodeMismatch) => {
            return service_exception(
                StatusCode::NOT_FOUND,
                "000",
                format!("Device {device} not found"),
                "validation",
            );
        }
        Err(e) => return answer::engine_error(e),
    };
    let online = terminal.live.as_ref().is_some_and(|l| l.connected);
    answer::json(
        StatusCode::OK,
        &json!({
            "deviceId": terminal.terminal.poiid(),
            "status": if online { "ONLINE" } else { "OFFLINE" },
        }),
    )
}
