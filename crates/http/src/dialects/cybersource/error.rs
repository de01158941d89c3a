//! `ErrorResponse {type, message, developerDescription}` answers, and the one place where
//! engine errors become Cybersource errors. Bad input is a 4xx; only a storage failure is a
//! 5xx (503).

use super::wire::ErrorResponse;
use crate::dialect::{ErrorShape, Unauthenticated};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use poigate_engine::EngineError;

/// An error answer.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
    pub description: String,
    /// `Retry-After` seconds (a rate-limit refusal).
    pub retry_after: Option<u64>,
}

impl Failure {
    pub(super) fn new(
        status: StatusCode,
        message: impl Into<String>,
        description: impl Into<String>,
    ) -> Failure {
        Failure {
            status,
            message: message.into(),
            description: description.into(),
            retry_after: None,
        }
    }

    /// A `400` for a request the client must fix.
    pub(super) fn invalid(description: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, "Invalid request", description)
    }

    pub(super) fn body(&self) -> ErrorResponse {
        ErrorResponse {
            kind: "ErrorResponse",
            message: self.message.clone(),
            developer_description: self.description.clone(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            return crate::dialect::with_retry_after(response, seconds);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Only storage failures answer 503: nothing was changed, retrying is safe.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        Failure::from_engine(e)
    }
}

impl ErrorShape for Failure {
    fn unauthenticated(why: Unauthenticated) -> Failure {
        if let Some(seconds) = why.retry_after_seconds() {
            let mut failure = Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                format!(
                    "Too many failed authentications or requests; retry after {seconds} seconds."
                ),
            );
            failure.retry_after = Some(seconds);
            return failure;
        }
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "Authentication failed",
            "Send a valid bearer token: Authorization: Bearer <an access token from \
             POST /oauth/token, or an API key>. Tokens expire after 15 minutes.",
        )
    }

    /// Exhaustive on purpose (see `crate::dialect`): a new engine error must be decided here.
    #[deny(clippy::wildcard_enum_match_arm)]
    fn from_engine(e: EngineError) -> Failure {
        match e {
            EngineError::Validation(v) => Failure::invalid(v.to_string()),
            EngineError::NotFound(what) => Failure::new(
                StatusCode::NOT_FOUND,
                "Not found",
                format!("No such {what} for this merchant."),
            ),
            EngineError::UnknownInteraction => Failure::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "No such interaction for this merchant.",
            ),
            EngineError::TerminalNotFound(t) => Failure::invalid(format!(
                "No terminal with serialNumber `{t}` for this merchant."
            )),
            EngineError::TerminalBusy { blocking } => Failure::new(
                StatusCode::CONFLICT,
                "Terminal is busy",
                format!(
                    "The terminal is processing interaction {}; wait for it or send a CancelRequest.",
                    blocking.uuid().hyphenated()
                ),
            ),
            EngineError::TerminalOffline => Failure::new(
                StatusCode::CONFLICT,
                "Terminal is offline",
                "The terminal is not connected; card-present transactions are not queued.",
            ),
            EngineError::IdempotencyMismatch => Failure::new(
                StatusCode::CONFLICT,
                "Duplicate merchantReferenceCode",
                "This merchantReferenceCode was used for a different request in the last 24 hours.",
            ),
            EngineError::IdempotencyInProgress => Failure::new(
                StatusCode::CONFLICT,
                "Request in progress",
                "A request with this merchantReferenceCode is still being processed; retry shortly.",
            ),
            EngineError::MoneyRule(rule) => {
                Failure::new(StatusCode::CONFLICT, "Operation refused", rule.to_string())
            }
            err @ (EngineError::Store(_) | EngineError::Randomness(_)) => {
                tracing::error!(error = %err, "storage failure");
                Failure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable",
                    "Storage is unavailable; nothing was changed. Retry.",
                )
            }
            EngineError::Duplicate(_)
            | EngineError::NotAllowed(_)
            | EngineError::LivemodeMismatch
            | EngineError::Transition(_)
            | EngineError::WrongTerminal
            | EngineError::InvalidReport(_)
            | EngineError::WrongSeq { .. }
            | EngineError::InvalidPairingCode => Failure::invalid(e.to_string()),
        }
    }
}
