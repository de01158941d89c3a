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
//! - [`devices`]: Device Estate Management (register, list, details): the POI device GUIDs
//!   real integrations keep and send as `poi_device_id`;
//! - [`query`]: find transactions by `transaction_id` or `order_id` (lost responses);
//! - [`status`], [`direct`]: the two answer formats (JSON and query string), pure;
//! - [`guid`], [`alias`]: NMI's identifiers for poigate's (no storage involved).

mod alias;
mod asyncstatus;
mod devices;
mod digits;
mod direct;
mod fields;
mod guid;
mod query;
mod reply;
mod status;
mod transact;

use crate::AppState;
use crate::dialect::{CredentialPlace, Dialect};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

/// The NMI dialect, mounted at `/nmi`. Its main error shape is `transact.php`'s direct-post
/// answer; `asyncstatus` (JSON) and `query.php` (XML) have shapes of their own, each an
/// [`ErrorShape`](crate::dialect::ErrorShape) with its own exhaustive mapping.
#[derive(Clone, Copy, Debug, Default)]
pub struct Nmi;

impl Dialect for Nmi {
    type Error = reply::DirectFailure;
    /// `security_key` in the form first (NMI's own place), then `Authorization: Bearer` (the
    /// seed's form for asyncstatus), then `x-api-key`.
    const CREDENTIALS: &'static [CredentialPlace] = &[
        CredentialPlace::FormField("security_key"),
        CredentialPlace::Bearer,
        CredentialPlace::Header("x-api-key"),
    ];

    fn name(&self) -> &'static str {
        "nmi"
    }

    fn prefix(&self) -> &'static str {
        "/nmi"
    }

    fn router(&self) -> Router<AppState> {
        router()
    }
}

fn router() -> Router<AppState> {
    Router::new()
        .route("/api/transact.php", post(transact::transact))
        .route("/api/query.php", post(query::query))
        .route("/api/asyncstatus", get(asyncstatus::without_guid))
        .route("/api/asyncstatus/", get(asyncstatus::without_guid))
        .route("/api/asyncstatus/{guid}", get(asyncstatus::asyncstatus))
        .route("/api/v2/devices/register", post(devices::register))
        .route("/api/v2/devices/list", get(devices::list))
        .route(
            "/api/v2/devices/list/{poi_device_id}",
            get(devices::details),
        )
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

#[cfg(test)]
mod tests {
    use crate::dialect::tests::check_mapping;
    use crate::dialect::{ErrorShape, Unauthenticated};
    use axum::response::IntoResponse;

    /// `asyncstatus` and `query.php` have error shapes of their own; they follow the same rule
    /// as the dialect's main one (checked through the registry).
    #[test]
    fn the_other_answer_formats_answer_only_storage_failures_with_a_5xx() {
        check_mapping("nmi asyncstatus", |e| {
            super::reply::StatusFailure::from_engine(e).into_response()
        });
        check_mapping("nmi query", |e| {
            super::query::QueryFailure::from_engine(e).into_response()
        });
        for why in [Unauthenticated::Missing, Unauthenticated::Invalid] {
            assert!(
                super::reply::StatusFailure::unauthenticated(why)
                    .into_response()
                    .status()
                    .is_client_error()
            );
        }
    }
}
