//! `GET /api/asyncstatus/{asyncStatusGuid}`: the state of an asynchronous POI transaction,
//! as it is now (`responseMethod=asynchronous`, the default) or once it is final
//! (`responseMethod=synchronous`, bounded by NMI's five minutes).

use super::Nmi;
use super::guid::{Guid, blocking_bound, is_blocking};
use super::reply::{StatusFailure, status_engine_error, status_error};
use super::status::{device_in_use, render};
use super::transact::SYNC_BOUND;
use crate::AppState;
use crate::dialect::{Dialect, authenticate};
use crate::dialects::flow::{transaction_of, wait_final};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use poigate_engine::InteractionFilter;

/// `GET /api/asyncstatus` without a guid.
pub(super) async fn without_guid() -> Response {
    status_error(
        StatusCode::BAD_REQUEST,
        "No Platform ID was sent in the request",
    )
}

pub(super) async fn asyncstatus(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(guid): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let method = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "responseMethod")
            .map(|(_, v)| v.into_owned())
    });
    let synchronous = match method.as_deref() {
        None | Some("asynchronous") => false,
        Some("synchronous") => true,
        Some(other) => {
            return status_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid responseMethod `{other}`: synchronous or asynchronous"),
            );
        }
    };
    if guid.trim().is_empty() {
        return without_guid().await;
    }
    // A GET has no form: the key is in the headers.
    let caller = match authenticate::<StatusFailure>(&state, Nmi::CREDENTIALS, &headers, None).await
    {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let Some(parsed) = Guid::parse(&guid) else {
        return status_error(
            StatusCode::NOT_FOUND,
            "The Platform ID provided was not found",
        );
    };
    let id = match parsed {
        Guid::DeviceInUse(guid) => {
            // The refused request never ran: it stays `poiDeviceInUse`, a final answer, as
            // long as the interaction it was derived from is the caller's.
            let filter = InteractionFilter {
                before: Some(blocking_bound(guid)),
                limit: 1,
                ..InteractionFilter::default()
            };
            return match state.engine.interactions().find(&caller, &filter).await {
                Ok(found) if found.first().is_some_and(|i| is_blocking(guid, i.id)) => {
                    Json(device_in_use(parsed)).into_response()
                }
                Ok(_) => status_engine_error(poigate_engine::EngineError::NotFound("interaction")),
                Err(e) => status_engine_error(e),
            };
        }
        Guid::Interaction(id) => id,
    };
    let interaction = if synchronous {
        wait_final(&state.engine, &caller, id, SYNC_BOUND).await
    } else {
        state.engine.interactions().get(&caller, id).await
    };
    let interaction = match interaction {
        Ok(i) => i,
        Err(e) => return status_engine_error(e),
    };
    let txn = match transaction_of(&state.engine, &caller, &interaction).await {
        Ok(t) => t,
        Err(e) => return status_engine_error(e),
    };
    let serial = state
        .engine
        .devices()
        .terminal_live(interaction.terminal_id)
        .map(|l| l.terminal.serial_number)
        .unwrap_or_default();
    Json(render(&interaction, txn.as_ref(), &serial)).into_response()
}
