//! Adyen Terminal API, nexo Sale-to-POI protocol 3.0 (`/adyen`). See `docs/dialects.md`.
//!
//! `POST /adyen/sync` and `POST /adyen/async` take a `SaleToPOIRequest` with `x-api-key` (or
//! a Bearer API key or access token), exactly as Adyen's cloud endpoints
//! (`https://terminal-api-test.adyen.com/sync`) do, so a POS built on Adyen's libraries only
//! changes its base URL. The same prefix serves the Cloud Device API
//! (`/adyen/v1/merchants/{merchantAccount}/devices/{deviceId}/sync`, `device`) and the
//! Checkout API's modifications by `pspReference` (`/adyen/v71/payments/{pspReference}/captures`,
//! `checkout`): every Adyen host maps to `/adyen`.
//!
//! The modules, in the order a request meets them: `handlers` (HTTP edge, auth, dispatch),
//! `request` + `reader` (parsing, `MessageFormat` errors), one module per message type
//! (`payment`, `status`, `abort`, `reversal`), `render` + `outcome` + `receipt` + `encode`
//! (poigate → nexo), `wire` (the JSON shapes), `answer` (HTTP answers and Adyen's error
//! bodies), `notification` (webhooks for `/async`).

mod abort;
mod acquirer_data;
mod answer;
mod checkout;
mod device;
mod encode;
mod handlers;
mod notification;
mod outcome;
mod payment;
mod psp;
mod reader;
mod receipt;
mod render;
mod request;
mod reversal;
mod status;
mod wire;

use crate::AppState;
use crate::dialect::{CredentialPlace, Dialect};
use axum::Router;
use axum::routing::{get, post};
use poigate_domain::OutboxMessage;

/// The Adyen Terminal API dialect, mounted at `/adyen`; renders the `adyen` webhook format
/// (event notifications for `/async`, acknowledged by `[accepted]`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Adyen;

impl Dialect for Adyen {
    type Error = answer::ServiceError;
    const CREDENTIALS: &'static [CredentialPlace] = super::BEARER_OR_API_KEY;

    fn name(&self) -> &'static str {
        "adyen"
    }

    fn prefix(&self) -> &'static str {
        "/adyen"
    }

    fn router(&self) -> Router<AppState> {
        router()
    }

    fn webhook_formats(&self) -> &'static [&'static str] {
        &["adyen"]
    }

    fn render_webhook(&self, message: &OutboxMessage, _format: &str) -> Result<Vec<u8>, String> {
        notification::render(message)
    }

    fn webhook_acknowledged(&self, _format: &str, status: u16, body: &[u8]) -> bool {
        notification::acknowledged(status, body)
    }
}

fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/sync",
            post(handlers::sync).fallback(|| async { answer::method_not_allowed() }),
        )
        .route(
            "/async",
            post(handlers::asynchronous).fallback(|| async { answer::method_not_allowed() }),
        )
        // The Checkout API subset (modifications by pspReference): `/adyen/v71/payments/…`.
        .route(
            "/{version}/payments/{psp_reference}/{modification}",
            post(checkout::modify).fallback(|| async { answer::method_not_allowed() }),
        )
        // The Cloud Device API: `/adyen/v1/merchants/{merchantAccount}/…`.
        .route(
            "/{version}/merchants/{merchant_account}/devices/{device_id}/{endpoint}",
            post(device::message)
                .get(device::status)
                .fallback(|| async { answer::method_not_allowed() }),
        )
        .route(
            "/{version}/merchants/{merchant_account}/connectedDevices",
            get(device::connected).fallback(|| async { answer::method_not_allowed() }),
        )
        .route(
            "/{version}/merchants/{merchant_account}/devices",
            get(device::connected).fallback(|| async { answer::method_not_allowed() }),
        )
        .fallback(|| async { answer::not_found() })
}
