//! Provider dialects: the same engine behind four providers' APIs, each mounted under its own
//! prefix so that an SDK pointed at `http://host:port/<prefix>` finds the provider's paths.
//!
//! A dialect is a translation layer only: parse the provider's request, call the engine,
//! render the provider's response (and its webhook payloads, through [`DialectRenderer`]).
//! No business rule lives here. The mapping tables are in `docs/dialects.md`.

pub(crate) mod access;
pub mod adyen;
pub mod cm;
pub mod cybersource;
pub(crate) mod flow;
pub mod nmi;

use crate::AppState;
use axum::Router;
use axum::http::{HeaderMap, header};
use poigate_domain::OutboxMessage;
use poigate_webhooks::{NativeRenderer, PayloadRenderer};

/// All dialects, each under its prefix.
pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/cybersource", cybersource::router())
        .nest("/nmi", nmi::router())
        .nest("/adyen", adyen::router())
        .nest("/cm", cm::router())
}

/// The credential of a request: `Authorization: Bearer <key or token>`, or Adyen's
/// `x-api-key`. Dialects with other places (NMI's `security_key`) look there too.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        })
    {
        return Some(bearer);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

/// Renders webhook payloads in the dialects' formats; the native envelope otherwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct DialectRenderer;

impl PayloadRenderer for DialectRenderer {
    fn render(&self, message: &OutboxMessage, format: Option<&str>) -> Result<Vec<u8>, String> {
        match format {
            Some("adyen") => adyen::render_notification(message),
            Some(f) if f.starts_with("cm.") => cm::render_webhook(message, f),
            _ => NativeRenderer.render(message, format),
        }
    }

    fn acknowledged(&self, format: Option<&str>, status: u16, body: &[u8]) -> bool {
        match format {
            Some("adyen") => adyen::notification_acknowledged(status, body),
            _ => NativeRenderer.acknowledged(format, status, body),
        }
    }
}
