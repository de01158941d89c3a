//! CM.com payments (`/cm`). See `docs/dialects.md`.

use crate::AppState;
use axum::Router;
use poigate_domain::OutboxMessage;

pub fn router() -> Router<AppState> {
    Router::new()
}

/// The body of a CM.com webhook for `message`.
pub fn render_webhook(message: &OutboxMessage) -> Result<Vec<u8>, String> {
    poigate_webhooks::NativeRenderer.render_native(message)
}
