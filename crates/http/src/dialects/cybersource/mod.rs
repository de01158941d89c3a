//! Cybersource cloud terminals (`/cybersource`): the Acceptance Devices cloud-mode API on
//! poigate's engine, addressed by the terminal's `serialNumber`.
//!
//! Follows the seed (`seeds/000_4b671c7649223471.txt`: asynchronous transactions and their
//! events) and, where it is silent, Cybersource's public documentation of cloud mode
//! (synchronous requests, Check Transaction Status, linked and stand-alone refunds). The
//! mapping tables are in `docs/dialects.md` (section Cybersource).
//!
//! Cybersource's bearer token is a JWT the POS signs itself with its P12 certificate; there
//! is no token endpoint to mirror, so the POS sends a poigate access token
//! (`POST /oauth/token`) or an API key as `Authorization: Bearer`.

mod details;
mod error;
mod events;
mod handlers;
mod messages;
mod time;
mod wire;

use crate::AppState;
use crate::dialect::{CredentialPlace, Dialect};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use error::Failure;

/// The Cybersource dialect, mounted at `/cybersource`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cybersource;

impl Dialect for Cybersource {
    type Error = Failure;
    const CREDENTIALS: &'static [CredentialPlace] = super::BEARER_OR_API_KEY;

    fn name(&self) -> &'static str {
        "cybersource"
    }

    fn prefix(&self) -> &'static str {
        "/cybersource"
    }

    fn router(&self) -> Router<AppState> {
        router()
    }
}

fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/cloud/transactions/async",
            post(handlers::transact_async),
        )
        .route("/v1/cloud/transactions", post(handlers::transact_sync))
        .route(
            "/v1/cloud/interactions/{interaction_id}/events",
            get(handlers::events),
        )
        .fallback(|| async {
            Failure::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "Not supported by poigate's Cybersource dialect; see docs/dialects.md.",
            )
        })
        .method_not_allowed_fallback(|| async {
            Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "This endpoint does not support this method.",
            )
        })
}
