//! NMI asynchronous transactions and asyncstatus (`/nmi`). See `docs/dialects.md`.

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
