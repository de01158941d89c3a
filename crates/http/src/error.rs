//! The one place where errors become HTTP answers: `application/problem+json` (RFC 9457)
//! with a stable `code`. Nothing malformed a client sends can produce a 5xx: only storage
//! failures answer 503.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use poigate_api::{FieldErrorBody, Problem};
use poigate_domain::ValidationErrors;
use poigate_engine::EngineError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub problem: Box<Problem>,
    pub retry_after: Option<u64>,
    pub www_authenticate: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> ApiError {
        ApiError {
            problem: Box::new(Problem::new(status.as_u16(), code, title, detail)),
            retry_after: None,
            www_authenticate: false,
        }
    }

    pub fn invalid_field(field: &str, code: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request",
            format!("{field}: {message}"),
        )
        .with_errors(vec![FieldErrorBody {
            field: field.to_string(),
            code: code.to_string(),
            message,
        }])
    }

    pub fn validation(errors: &ValidationErrors) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request",
            errors.to_string(),
        )
        .with_errors(errors.errors().iter().map(FieldErrorBody::from).collect())
    }

    pub fn with_errors(mut self, errors: Vec<FieldErrorBody>) -> ApiError {
        self.problem.errors = errors;
        self
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("no such {what}"),
        )
    }

    pub fn unauthorized() -> ApiError {
        let mut e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "a valid API key is required: Authorization: Bearer pg_test_… or pg_live_…",
        );
        e.www_authenticate = true;
        e
    }
}

impl ApiError {
    /// `429 rate_limited` with `Retry-After`: too many refused credentials from this client
    /// or for this key prefix, too many pairing attempts, or too many requests for this key.
    pub fn rate_limited(retry_after_seconds: u64) -> ApiError {
        let mut api = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
            format!("too many attempts; retry after {retry_after_seconds} s"),
        );
        api.retry_after = Some(retry_after_seconds);
        api
    }

    /// A refused credential of the native API: `401`, or `429` under the rate limits.
    pub fn unauthenticated(why: crate::dialect::Unauthenticated) -> ApiError {
        match why.retry_after_seconds() {
            Some(secs) => ApiError::rate_limited(secs),
            None => ApiError::unauthorized(),
        }
    }

    /// `503 unavailable` with `Retry-After`: the one 5xx a client may see, and may retry.
    fn unavailable(detail: &str) -> ApiError {
        let mut api = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        );
        api.retry_after = Some(1);
        api
    }
}

impl From<EngineError> for ApiError {
    /// Exhaustive on purpose, like every dialect's mapping (see [`crate::dialect`]): a new
    /// engine error must be decided here before it can reach a client.
    #[deny(clippy::wildcard_enum_match_arm)]
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(what) => ApiError::not_found(what),
            EngineError::TerminalNotFound(reference) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "terminal_not_found",
                "Terminal not found",
                format!("no terminal `{reference}` for this merchant (use its id, POIID or serial number)"),
            )
            .with_errors(vec![FieldErrorBody {
                field: "terminal".into(),
                code: "terminal_not_found".into(),
                message: "unknown terminal".into(),
            }]),
            EngineError::Validation(errors) => ApiError::validation(&errors),
            EngineError::TerminalBusy { blocking } => {
                let mut err = ApiError::new(
                    StatusCode::CONFLICT,
                    "terminal_busy",
                    "Terminal busy",
                    format!("the terminal is busy with interaction {blocking}; wait for it to finish or cancel it"),
                );
                err.problem.blocking_interaction = Some(blocking);
                err
            }
            EngineError::TerminalOffline => ApiError::new(
                StatusCode::CONFLICT,
                "terminal_offline",
                "Terminal offline",
                "the terminal is not connected; card-present payments are not queued",
            ),
            EngineError::IdempotencyMismatch => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_mismatch",
                "Idempotency key reused",
                "this idempotency key (or sale_id + service_id) was already used with a different request",
            ),
            EngineError::IdempotencyInProgress => {
                let mut err = ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "Request in progress",
                    "a request with this idempotency key is still being processed; retry shortly",
                );
                err.retry_after = Some(1);
                err
            }
            EngineError::Duplicate(what) => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                "Already exists",
                format!("{what} already exists"),
            ),
            EngineError::LivemodeMismatch => ApiError::new(
                StatusCode::FORBIDDEN,
                "livemode_mismatch",
                "Live mode mismatch",
                "a live API key (pg_live_…) cannot use a simulated terminal; use a test key",
            ),
            EngineError::NotAllowed(why) => ApiError::new(
                StatusCode::CONFLICT,
                "not_allowed",
                "Not allowed",
                why,
            ),
            EngineError::WrongTerminal
            | EngineError::UnknownInteraction
            | EngineError::InvalidReport(_)
            | EngineError::WrongSeq { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_report",
                "Invalid terminal report",
                e.to_string(),
            ),
            EngineError::Transition(refused) => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_state",
                "Not possible in the current state",
                refused.to_string(),
            ),
            EngineError::MoneyRule(rule) => {
                let status = if rule.is_amount_error() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::CONFLICT
                };
                ApiError::new(status, rule.code(), "Operation refused", rule.to_string())
            }
            EngineError::InvalidPairingCode => {
                let mut err = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_pairing_code",
                    "Invalid pairing code",
                    "the pairing code is unknown, expired, already used, or for another serial number; ask for a new one",
                );
                err.www_authenticate = true;
                err
            }
            EngineError::Store(err) => {
                tracing::error!(error = %err, "storage failure");
                ApiError::unavailable(
                    "storage is unavailable; nothing was changed, retry with the same idempotency key",
                )
            }
            EngineError::Randomness(err) => {
                tracing::error!(error = %err, "no randomness from the operating system");
                ApiError::unavailable(
                    "the server cannot generate secrets right now; nothing was changed, retry later",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&*self.problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        if self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"poigate\""),
            );
        }
        response
    }
}
