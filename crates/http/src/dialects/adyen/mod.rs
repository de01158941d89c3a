//! Adyen Terminal API, nexo Sale-to-POI 3.0 (`/adyen`). See `docs/dialects.md`.

use crate::AppState;
use axum::Router;
use poigate_domain::OutboxMessage;

pub fn router() -> Router<AppState> {
    Router::new()
}

/// The body of an Adyen Terminal API event notification for `message`.
pub fn render_notification(message: &OutboxMessage) -> Result<Vec<u8>, String> {
    poigate_webhooks::NativeRenderer.render_native(message)
}

/// Adyen's convention: the receiver answers `[accepted]`.
pub fn notification_acknowledged(status: u16, _body: &[u8]) -> bool {
    (200..300).contains(&status)
}
