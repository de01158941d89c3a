//! Cybersource cloud terminals (`/cybersource`). See `docs/dialects.md`.

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
