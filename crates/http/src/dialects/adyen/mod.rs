//! Adyen Terminal API, nexo Sale-to-POI protocol 3.0 (`/adyen`). See `docs/dialects.md`.
//!
//! `POST /adyen/sync` and `POST /adyen/async` take a `SaleToPOIRequest` with `x-api-key` (or
//! a Bearer API key or access token), exactly as Adyen's cloud endpoints
//! (`https://terminal-api-test.adyen.com/sync`) do, so a POS built on Adyen's libraries only
//! changes its base URL.
//!
//! The modules, in the order a request meets them: `handlers` (HTTP edge, auth, dispatch),
//! `request` + `reader` (parsing, `MessageFormat` errors), one module per message type
//! (`payment`, `status`, `abort`, `reversal`), `render` + `outcome` + `receipt` + `encode`
//! (poigate → nexo), `wire` (the JSON shapes), `answer` (HTTP answers and Adyen's error
//! bodies), `notification` (webhooks for `/async`).

mod abort;
mod answer;
mod encode;
mod handlers;
mod notification;
mod outcome;
mod payment;
mod reader;
mod receipt;
mod render;
mod request;
mod reversal;
mod status;
mod wire;

use crate::AppState;
use axum::Router;
use axum::routing::post;
use poigate_domain::OutboxMessage;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/sync",
            post(handlers::sync).fallback(|| async { answer::method_not_allowed() }),
        )
        .route(
            "/async",
            post(handlers::asynchronous).fallback(|| async { answer::method_not_allowed() }),
        )
        .fallback(|| async { answer::not_found() })
}

/// The body of an Adyen Terminal API event notification for `message`.
pub fn render_notification(message: &OutboxMessage) -> Result<Vec<u8>, String> {
    notification::render(message)
}

/// Adyen's convention: the receiver answers `[accepted]`.
pub fn notification_acknowledged(status: u16, body: &[u8]) -> bool {
    notification::acknowledged(status, body)
}
