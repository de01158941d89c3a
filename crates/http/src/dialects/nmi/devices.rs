//! NMI's Device Estate Management (`/api/v2/devices/…`): register a POI device with its
//! registration code, list the devices, one device's details. Real integrations keep the
//! `poiDeviceId` GUID NMI returns and send it as `poi_device_id`.
//!
//! A POI device's GUID is its poigate terminal id (`tml_<32 hex>`) as a hyphenated UUID:
//! stable, nothing stored, and [`terminal_reference`] turns it back into the id the engine
//! finds the terminal by. A terminal is bound to its merchant in poigate by the admin CLI
//! and pairing, before any POS call; registering here therefore names a terminal the
//! caller's merchant already has — the registration code is its serial number or POIID
//! (poigate has no rotating registration code: the binding itself is made by the admin CLI)
//! — and answers its GUID. `deviceNickname` is accepted; poigate terminals are labelled by the admin CLI, and
//! the answer shows that label.

use super::Nmi;
use super::reply::{StatusFailure, status_engine_error, status_error};
use crate::AppState;
use crate::dialect::{Dialect, authenticate};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use poigate_domain::{TerminalId, Timestamp};
use poigate_engine::{Caller, TerminalView};
use serde::{Deserialize, Serialize};

/// The engine's reference for a `poi_device_id`: a GUID becomes the terminal id it was made
/// from; anything else (serial number, POIID, terminal id) is passed on as it is.
pub(super) fn terminal_reference(poi_device_id: &str) -> String {
    let text = poi_device_id.trim();
    match uuid::Uuid::try_parse(text) {
        Ok(uuid) if text.len() == 36 && uuid.get_version_num() == 7 => {
            TerminalId::from_uuid(uuid).to_string()
        }
        _ => text.to_string(),
    }
}

fn guid(id: TerminalId) -> String {
    id.uuid().hyphenated().to_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Register {
    registration_code: Option<String>,
    #[allow(dead_code)]
    device_nickname: Option<String>,
}

/// One POI device, as NMI's estate queries show it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Device {
    device_id: String,
    make: &'static str,
    model: String,
    last_transaction_date: Option<String>,
    date_registered: String,
    date_deregistered: Option<String>,
    serial_number: String,
    connection_status: &'static str,
    last_connected_date: Option<String>,
    last_disconnected_date: Option<String>,
    device_nickname: String,
    registration_status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Registered {
    poi_device: RegisteredDevice,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisteredDevice {
    poi_device_id: String,
    #[serde(flatten)]
    device: Device,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Devices {
    poi_devices: Vec<Device>,
}

/// `2019-11-21 20:50:08`, UTC.
fn date(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, _) = t.utc_parts();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

fn device(view: &TerminalView) -> Device {
    let t = &view.terminal;
    let connected = view.live.as_ref().is_some_and(|l| l.connected);
    Device {
        device_id: guid(t.id),
        make: "poigate",
        model: t.model.clone(),
        last_transaction_date: None,
        date_registered: date(t.created_at),
        date_deregistered: None,
        serial_number: t.serial_number.clone(),
        connection_status: if connected {
            "connected"
        } else {
            "disconnected"
        },
        last_connected_date: view.live.as_ref().and_then(|l| l.last_seen_at).map(date),
        last_disconnected_date: None,
        device_nickname: t.label.clone().unwrap_or_default(),
        registration_status: "registered",
    }
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    authenticate::<StatusFailure>(state, Nmi::CREDENTIALS, headers, None)
        .await
        .map_err(IntoResponse::into_response)
}

/// `POST /api/v2/devices/register` `{registrationCode, deviceNickname}`.
pub(super) async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let caller = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    let Ok(body) = body else {
        return status_error(
            StatusCode::BAD_REQUEST,
            "The request body could not be read",
        );
    };
    let request: Register = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return status_error(
                StatusCode::BAD_REQUEST,
                &format!("The body is not a valid registration request: {e}"),
            );
        }
    };
    let Some(code) = request
        .registration_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    else {
        return status_error(StatusCode::BAD_REQUEST, "registrationCode is required");
    };
    match state.engine.admin().find_terminal_for(&caller, code).await {
        Ok(view) => Json(Registered {
            poi_device: RegisteredDevice {
                poi_device_id: guid(view.terminal.id),
                device: device(&view),
            },
        })
        .into_response(),
        Err(poigate_engine::EngineError::NotFound(_)) => status_error(
            StatusCode::BAD_REQUEST,
            "Invalid registrationCode: no POI device of this account shows this code",
        ),
        Err(e) => status_engine_error(e),
    }
}

/// `GET /api/v2/devices/list`: every POI device of the account.
pub(super) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let caller = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    match state.engine.admin().list_terminals_for(&caller).await {
        Ok(views) => Json(Devices {
            poi_devices: views.iter().map(device).collect(),
        })
        .into_response(),
        Err(e) => status_engine_error(e),
    }
}

/// `GET /api/v2/devices/list/{poiDeviceId}`: one POI device.
pub(super) async fn details(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    let reference = terminal_reference(&id);
    if !reference.starts_with("tml_") {
        return status_error(
            StatusCode::NOT_FOUND,
            "The POI device ID provided was not found",
        );
    }
    match state
        .engine
        .admin()
        .find_terminal_for(&caller, &reference)
        .await
    {
        Ok(view) => Json(Devices {
            poi_devices: vec![device(&view)],
        })
        .into_response(),
        Err(poigate_engine::EngineError::NotFound(_)) => status_error(
            StatusCode::NOT_FOUND,
            "The POI device ID provided was not found",
        ),
        Err(e) => status_engine_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guid_names_the_terminal_it_was_made_from() {
        let id = TerminalId::generate(Timestamp::from_millis(1_716_901_890_939));
        assert_eq!(terminal_reference(&guid(id)), id.to_string());
        for other in ["100000001", "S1F2-1850000000", "tml_0192", ""] {
            assert_eq!(terminal_reference(other), other);
        }
    }
}
