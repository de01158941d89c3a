//! Route table and operational endpoints.

mod admin;
mod events;
mod interactions;
mod keys;
mod money;
mod terminal_link;
mod terminals;
mod test_helpers;
mod webhooks;

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use poigate_api::Health;

pub(crate) use admin::*;
pub(crate) use events::*;
pub(crate) use interactions::*;
pub(crate) use keys::*;
pub(crate) use money::*;
pub(crate) use terminal_link::*;
pub(crate) use terminals::*;
pub(crate) use test_helpers::*;
pub(crate) use webhooks::*;

pub fn router(dialects: &crate::dialect::DialectRegistry) -> Router<AppState> {
    Router::new()
        .route(
            "/v1/interactions",
            post(create_interaction).get(list_interactions),
        )
        .route("/v1/interactions/{id}", get(get_interaction))
        .route("/v1/interactions/{id}/events", get(list_events))
        .route("/v1/interactions/{id}/events/stream", get(stream_events))
        .route("/v1/interactions/{id}/cancel", post(cancel_interaction))
        .route("/v1/events/stream", get(stream_merchant_events))
        .route("/v1/transactions/{id}", get(get_transaction))
        .route("/v1/transactions/{id}/capture", post(capture))
        .route("/v1/transactions/{id}/increment", post(increment))
        .route("/v1/transactions/{id}/void", post(void))
        .route(
            "/v1/transactions/{id}/refunds",
            post(create_refund).get(list_refunds),
        )
        .route("/v1/transactions/{id}/refunds/{refund}", get(get_refund))
        .route("/v1/transactions/{id}/events", get(transaction_events))
        .route("/v1/terminals", get(list_terminals).post(create_terminal))
        .route("/v1/terminals/{id}", get(get_terminal))
        .route("/v1/terminals/{id}/pairing-code", post(create_pairing_code))
        .route("/v1/terminals/{id}/revoke", post(revoke_terminal))
        .route("/v1/terminal-link", get(terminal_link))
        .route("/v1/terminal-link/pair", post(pair_terminal))
        .route(
            "/v1/test-helpers/terminals/{id}/present-card",
            post(helper_present_card),
        )
        .route(
            "/v1/test-helpers/terminals/{id}/cancel",
            post(helper_press_cancel),
        )
        .route(
            "/v1/test-helpers/terminals/{id}/timeout",
            post(helper_timeout),
        )
        .route("/v1/test-helpers/terminals/{id}/hold", post(helper_hold))
        .route(
            "/v1/test-helpers/terminals/{id}/disconnect",
            post(helper_disconnect),
        )
        .route(
            "/v1/test-helpers/terminals/{id}/connect",
            post(helper_connect),
        )
        .route(
            "/v1/test-helpers/terminals/{id}/freeze",
            post(helper_freeze),
        )
        .route(
            "/v1/test-helpers/terminals/{id}/unfreeze",
            post(helper_unfreeze),
        )
        .route(
            "/v1/webhook-endpoints",
            post(create_webhook_endpoint).get(list_webhook_endpoints),
        )
        .route(
            "/v1/webhook-endpoints/{id}",
            get(get_webhook_endpoint)
                .patch(update_webhook_endpoint)
                .delete(delete_webhook_endpoint),
        )
        .route("/v1/webhook-endpoints/{id}/secret", get(get_webhook_secret))
        .route(
            "/v1/webhook-endpoints/{id}/rotate-secret",
            post(rotate_webhook_secret),
        )
        .route("/v1/webhook-endpoints/{id}/test", post(send_test_event))
        .route("/v1/webhook-callback-secret", get(get_callback_secret))
        .route(
            "/v1/webhook-callback-secret/rotate",
            post(rotate_callback_secret),
        )
        .route("/v1/webhook-deliveries", get(list_deliveries))
        .route("/v1/webhook-deliveries/{id}", get(get_delivery))
        .route("/v1/webhook-deliveries/{id}/redeliver", post(redeliver))
        .route("/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/v1/api-keys/{id}/revoke", post(revoke_api_key))
        .route(
            "/v1/api-keys/{id}/default-terminal",
            put(set_default_terminal),
        )
        .route(
            "/v1/admin/merchants",
            post(admin_create_merchant).get(admin_list_merchants),
        )
        .route(
            "/v1/admin/merchants/{id}/disable",
            post(admin_disable_merchant),
        )
        .route(
            "/v1/admin/merchants/{id}/api-keys",
            post(admin_create_api_key),
        )
        .route("/oauth/token", post(crate::oauth::issue_token))
        .merge(dialects.router())
        .merge(crate::dashboard::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Readiness: storage answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to take requests", body = Health),
        (status = 503, description = "Storage is not answering", body = poigate_api::Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state
        .engine
        .store()
        .ready()
        .await
        .map_err(poigate_engine::EngineError::Store)?;
    Ok(Json(Health {
        status: "ready".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
        .into_response()
}

/// The API reference, rendered on the server from the OpenAPI document (no script, no CDN).
pub async fn docs() -> Html<&'static str> {
    Html(crate::openapi::reference_page())
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "no such endpoint; see /openapi.json",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "this endpoint does not support this method; see /openapi.json",
    )
}

pub fn panic_to_problem(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal error",
        "an unexpected error occurred; it has been logged",
    )
    .into_response()
}
