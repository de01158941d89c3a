//! NMI Customer-Present Cloud (`/nmi`): the Payment API's `transact.php` with a POI device
//! (`poi_device_id`) and the AsyncStatus polling API, on poigate's engine.
//!
//! Follows the seed (`seeds/001_fc1ab3e09eb5765e.txt`, AsyncStatus Polling) and, where it
//! is silent, NMI's public documentation of the Payment API and of Customer-Present Cloud.
//! The mapping tables are in `docs/dialects.md` (section NMI).
//!
//! - [`transact`]: start (`sale`, `auth`, `credit`, `validate`), cancel
//!   (`poi_request=cancellation`), follow-ups (`capture`, `void`, `refund`);
//! - [`asyncstatus`]: poll a guid;
//! - [`query`]: find transactions by `transaction_id` or `order_id` (lost responses);
//! - [`status`], [`direct`]: the two answer formats (JSON and query string), pure;
//! - [`guid`], [`alias`]: NMI's identifiers for poigate's (no storage involved).

mod alias;
mod asyncstatus;
mod digits;
mod direct;
mod fields;
mod guid;
mod query;
mod reply;
mod status;
mod transact;

use crate::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/transact.php", post(transact::transact))
        .route("/api/query.php", post(query::query))
        .route("/api/asyncstatus", get(asyncstatus::without_guid))
        .route("/api/asyncstatus/", get(asyncstatus::without_guid))
        .route("/api/asyncstatus/{guid}", get(asyncstatus::asyncstatus))
        .fallback(|| async {
            reply::status_error(
                StatusCode::NOT_FOUND,
                "Not supported by poigate's NMI dialect; see docs/dialects.md",
            )
        })
        .method_not_allowed_fallback(|| async {
            reply::status_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint does not support this method",
            )
        })
}
