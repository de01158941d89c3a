//! NMI's answers as HTTP responses, and the one place where engine errors become NMI
//! errors. `transact.php` answers every request with HTTP 200 and the result in the body, a
//! refusal as `response=3` with its `responsetext`, as NMI does (clients that check the HTTP
//! status before parsing would otherwise take their transport-error path). Two answers keep
//! their status, because nothing was processed and the same request may be sent again
//! later: `429` (too many failed authentications, with `Retry-After`) and `503` (storage
//! unavailable, with `Retry-After`). asyncstatus and query.php answer errors with 4xx, as
//! the seed documents for asyncstatus; never anything else in the 5xx range.

use super::digits::digits;
use super::direct::Answer;
use super::status::ErrorView;
use crate::dialect::{ErrorShape, Unauthenticated, with_retry_after};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use poigate_engine::EngineError;
use serde::Serialize;

/// A `transact.php` answer. `status` says what kind of refusal it is; the answer is HTTP
/// 200 except for `429` and `503` (see the module documentation).
pub(super) fn direct(status: StatusCode, answer: &Answer) -> Response {
    let status = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => status,
        _ => StatusCode::OK,
    };
    let mut response = (status, answer.encode()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    retry_after_if_unavailable(response)
}

/// A storage failure (the only 503) tells the client when to retry.
fn retry_after_if_unavailable(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A refused `transact.php` request (the dialect's main error shape): a direct-post answer
/// with `response=3` and its HTTP status.
pub struct DirectFailure(Response);

impl IntoResponse for DirectFailure {
    fn into_response(self) -> Response {
        self.0
    }
}

impl ErrorShape for DirectFailure {
    fn from_engine(e: EngineError) -> DirectFailure {
        let (status, answer) = engine_refusal(e);
        DirectFailure(direct(status, &answer))
    }

    fn unauthenticated(why: Unauthenticated) -> DirectFailure {
        DirectFailure(match why.retry_after_seconds() {
            Some(seconds) => with_retry_after(
                direct(
                    StatusCode::TOO_MANY_REQUESTS,
                    &Answer::error(format!(
                        "Too many failed authentications; retry after {seconds} seconds"
                    )),
                ),
                seconds,
            ),
            None => direct(
                StatusCode::UNAUTHORIZED,
                &Answer::error("Authentication Failed"),
            ),
        })
    }
}

/// The status and direct-post error for an engine refusal of a `transact.php` request.
/// Exhaustive on purpose (see `crate::dialect`): a new engine error must be decided here.
#[deny(clippy::wildcard_enum_match_arm)]
pub(super) fn engine_refusal(e: EngineError) -> (StatusCode, Answer) {
    match e {
        EngineError::Validation(v) => (StatusCode::BAD_REQUEST, Answer::error(v.to_string())),
        EngineError::TerminalNotFound(t) => (
            StatusCode::BAD_REQUEST,
            Answer::error(format!("Invalid poi_device_id: no POI device `{t}`")),
        ),
        EngineError::NotFound(what) => (
            StatusCode::BAD_REQUEST,
            Answer::error(format!("Invalid transactionid: no such {what}")),
        ),
        EngineError::TerminalOffline => (
            StatusCode::OK,
            Answer::error("The POI device is offline; check that it is connected"),
        ),
        EngineError::MoneyRule(rule) => (StatusCode::OK, Answer::error(rule.to_string())),
        EngineError::IdempotencyInProgress
        | EngineError::NotAllowed(_)
        | EngineError::LivemodeMismatch
        | EngineError::Transition(_) => (StatusCode::CONFLICT, Answer::error(e.to_string())),
        err @ (EngineError::Store(_) | EngineError::Randomness(_)) => {
            tracing::error!(error = %err, "storage failure");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Answer::error("Temporarily unavailable; nothing was processed, retry"),
            )
        }
        EngineError::TerminalBusy { .. }
        | EngineError::IdempotencyMismatch
        | EngineError::Duplicate(_)
        | EngineError::WrongTerminal
        | EngineError::UnknownInteraction
        | EngineError::InvalidReport(_)
        | EngineError::WrongSeq { .. }
        | EngineError::InvalidPairingCode => {
            (StatusCode::BAD_REQUEST, Answer::error(e.to_string()))
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: ErrorView,
}

/// An asyncstatus request error (`400` no guid or no key, `401` bad key, `404` unknown
/// guid): NMI's `error` object, its `code` the HTTP status.
pub(super) fn status_error(status: StatusCode, message: &str) -> Response {
    let nonce = uuid::Uuid::now_v7().to_string();
    let body = ErrorBody {
        error: ErrorView {
            code: status.as_u16(),
            refid: digits(&[&nonce], 8),
            message: message.to_string(),
        },
    };
    retry_after_if_unavailable((status, Json(body)).into_response())
}

/// A refused asyncstatus request: NMI's `error` object.
pub struct StatusFailure(Response);

impl IntoResponse for StatusFailure {
    fn into_response(self) -> Response {
        self.0
    }
}

impl ErrorShape for StatusFailure {
    fn from_engine(e: EngineError) -> StatusFailure {
        StatusFailure(status_engine_error(e))
    }

    /// As the seed says: `400` without a key, `401` with a bad one.
    fn unauthenticated(why: Unauthenticated) -> StatusFailure {
        StatusFailure(match why {
            Unauthenticated::Missing => status_error(
                StatusCode::BAD_REQUEST,
                "No API Key was sent in the request (Authorization: Bearer)",
            ),
            Unauthenticated::Invalid => status_error(
                StatusCode::UNAUTHORIZED,
                "An invalid API Key was sent in the request",
            ),
            Unauthenticated::RateLimited {
                retry_after_seconds,
            } => with_retry_after(
                status_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed authentications; retry later",
                ),
                retry_after_seconds,
            ),
        })
    }
}

/// The asyncstatus answer for an engine error. Exhaustive on purpose (see
/// `crate::dialect`): a new engine error must be decided here.
#[deny(clippy::wildcard_enum_match_arm)]
pub(super) fn status_engine_error(e: EngineError) -> Response {
    match e {
        EngineError::NotFound(_) | EngineError::UnknownInteraction => status_error(
            StatusCode::NOT_FOUND,
            "The Platform ID provided was not found",
        ),
        err @ (EngineError::Store(_) | EngineError::Randomness(_)) => {
            tracing::error!(error = %err, "storage failure");
            status_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable; retry",
            )
        }
        EngineError::TerminalNotFound(_)
        | EngineError::Validation(_)
        | EngineError::TerminalBusy { .. }
        | EngineError::TerminalOffline
        | EngineError::IdempotencyMismatch
        | EngineError::IdempotencyInProgress
        | EngineError::Duplicate(_)
        | EngineError::WrongTerminal
        | EngineError::InvalidReport(_)
        | EngineError::WrongSeq { .. }
        | EngineError::InvalidPairingCode
        | EngineError::NotAllowed(_)
        | EngineError::LivemodeMismatch
        | EngineError::Transition(_)
        | EngineError::MoneyRule(_) => status_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}
