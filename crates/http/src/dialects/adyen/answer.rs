//! HTTP answers of the dialect: nexo messages as JSON, `ok` for accepted asynchronous
//! requests, and Adyen's error bodies for requests refused before the Terminal API looks at
//! them. Nothing here answers 5xx except a storage failure (503).

use super::render::{Echoed, reject, response_header};
use super::request::Rejected;
use super::wire::Response as Response_;
use super::wire::*;
use crate::dialect::{ErrorShape, Unauthenticated};
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use poigate_domain::Timestamp;
use poigate_engine::EngineError;
use serde::Serialize;

/// A JSON answer.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise an Adyen message");
            unavailable()
        }
    }
}

/// `ok`: the answer to `/async` requests (and to every `AbortRequest`), as Adyen's cloud
/// gives it.
/// The answer without a message: `200` with an empty body, as Adyen's cloud answers an
/// `AbortRequest` on `/sync`.
pub fn empty() -> Response {
    (StatusCode::OK, [(header::CONTENT_LENGTH, "0")]).into_response()
}

pub fn ok() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "ok",
    )
        .into_response()
}

pub fn service_exception(
    status: StatusCode,
    error_code: &'static str,
    message: impl Into<String>,
    error_type: &'static str,
) -> Response {
    json(
        status,
        &ServiceException {
            status: status.as_u16(),
            error_code,
            message: message.into(),
            error_type,
        },
    )
}

/// Missing, unknown, revoked or expired credentials (API key or access token).
pub fn unauthorized() -> Response {
    service_exception(
        StatusCode::UNAUTHORIZED,
        "000",
        "HTTP Status Response - Unauthorized",
        "security",
    )
}

/// Storage is not answering: nothing was changed, the request may be retried.
pub fn unavailable() -> Response {
    let mut response = service_exception(
        StatusCode::SERVICE_UNAVAILABLE,
        "000",
        "HTTP Status Response - Service Unavailable",
        "internal",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

/// The dialect's error shape outside a nexo message: Adyen's `ServiceException` (and its
/// `401` for refused credentials). Message-specific refusals (`Busy`, `NotAllowed`, a
/// `Reject` notification …) are answered by the message modules, which fall back to this.
pub struct ServiceError(Response);

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        self.0
    }
}

impl ErrorShape for ServiceError {
    fn from_engine(e: EngineError) -> ServiceError {
        ServiceError(engine_error(e))
    }

    fn unauthenticated(why: Unauthenticated) -> ServiceError {
        match why.retry_after_seconds() {
            Some(seconds) => ServiceError(crate::dialect::with_retry_after(
                service_exception(
                    StatusCode::TOO_MANY_REQUESTS,
                    "000",
                    "HTTP Status Response - Too Many Requests",
                    "security",
                ),
                seconds,
            )),
            None => ServiceError(unauthorized()),
        }
    }
}

/// An engine error as a `ServiceException`: a 4xx for what the client must fix, `503` only
/// when storage is unavailable. Exhaustive on purpose (see `crate::dialect`): a new engine
/// error must be decided here (this once answered every unlisted error with a 503).
#[deny(clippy::wildcard_enum_match_arm)]
pub fn engine_error(e: EngineError) -> Response {
    let (status, reason, error_type) = match &e {
        err @ (EngineError::Store(_) | EngineError::Randomness(_)) => {
            tracing::error!(error = %err, "storage failure in the Adyen dialect");
            return unavailable();
        }
        EngineError::Validation(_)
        | EngineError::TerminalNotFound(_)
        | EngineError::WrongTerminal
        | EngineError::InvalidReport(_)
        | EngineError::WrongSeq { .. } => (StatusCode::BAD_REQUEST, "Bad Request", "validation"),
        EngineError::NotFound(_) | EngineError::UnknownInteraction => {
            (StatusCode::NOT_FOUND, "Not Found", "validation")
        }
        EngineError::TerminalBusy { .. }
        | EngineError::TerminalOffline
        | EngineError::IdempotencyMismatch
        | EngineError::IdempotencyInProgress
        | EngineError::Duplicate(_)
        | EngineError::NotAllowed(_)
        | EngineError::LivemodeMismatch
        | EngineError::Transition(_)
        | EngineError::MoneyRule(_) => (StatusCode::CONFLICT, "Conflict", "validation"),
        EngineError::InvalidPairingCode => (StatusCode::UNAUTHORIZED, "Unauthorized", "security"),
    };
    service_exception(
        status,
        "000",
        format!("HTTP Status Response - {reason}: {e}"),
        error_type,
    )
}

pub fn not_found() -> Response {
    service_exception(
        StatusCode::NOT_FOUND,
        "000",
        "HTTP Status Response - Not Found: the Terminal API endpoints are POST /sync and POST /async",
        "validation",
    )
}

pub fn method_not_allowed() -> Response {
    service_exception(
        StatusCode::METHOD_NOT_ALLOWED,
        "000",
        "HTTP Status Response - Method Not Allowed: use POST (GET for the Cloud Device API's device list and status)",
        "validation",
    )
}

/// A body that could not be read (too large, or cut off).
pub fn unreadable_body(rejection: &BytesRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        service_exception(
            StatusCode::PAYLOAD_TOO_LARGE,
            "000",
            "HTTP Status Response - Request Entity Too Large (64 KiB at most)",
            "validation",
        )
    } else {
        bad_json_text(&rejection.body_text())
    }
}

/// Not JSON: Adyen's `Bad JSON` reply, `["Bad JSON:LINE_NUMBER: DESCRIPTION"]`
/// (docs.adyen.com/point-of-sale/error-scenarios, "Invalid JSON format").
pub fn bad_json(e: &serde_json::Error) -> Response {
    let text = e.to_string();
    let description = match text.find(" at line ") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    json(
        StatusCode::BAD_REQUEST,
        &[format!("Bad JSON:{}: {description}", e.line())],
    )
}

fn bad_json_text(description: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        &[format!("Bad JSON:0: {description}")],
    )
}

/// A request whose content is invalid: `Result: Failure`, `ErrorCondition: MessageFormat`,
/// and in `AdditionalResponse` what is wrong, in the body type of the request (an
/// `AbortRequest`, which has no response type, gets a `Reject` event notification).
pub fn message_format(rejected: &Rejected, raw: &[u8], now: Timestamp) -> Response {
    let echo = &rejected.echo;
    let errors = super::encode::Form::new()
        .add("errors", &rejected.error.message)
        .encode();
    if rejected.response_key == "AbortResponse" {
        let echoed = Echoed {
            sale_id: echo.sale_id.as_deref(),
            service_id: echo.service_id.as_deref(),
            poiid: echo.poiid.as_deref(),
        };
        return json(
            StatusCode::BAD_REQUEST,
            &reject(&echoed, &rejected.error.message, Some(raw), now),
        );
    }
    let category = echo.category.clone().unwrap_or_else(|| {
        rejected
            .response_key
            .strip_suffix("Response")
            .unwrap_or("Payment")
            .to_string()
    });
    let header = response_header(
        &category,
        echo.sale_id.as_deref(),
        echo.service_id.as_deref(),
        echo.poiid.as_deref(),
    );
    let response = Response_::failure("MessageFormat", errors);
    json(
        StatusCode::BAD_REQUEST,
        &body_in(header, &rejected.response_key, response).into_envelope(),
    )
}

/// A message with only a `Response` in the body named `key`.
pub fn body_in(header: MessageHeader, key: &str, response: Response_) -> SaleToPoiResponse {
    let mut message = SaleToPoiResponse::new(header);
    match key {
        "PaymentResponse" => {
            message.payment = Some(PaymentResponse {
                poi_data: None,
                sale_data: SaleData::default(),
                payment_receipt: None,
                payment_result: None,
                response,
            })
        }
        "TransactionStatusResponse" => {
            message.transaction_status = Some(TransactionStatusResponse {
                message_reference: None,
                response,
                repeated_message_response: None,
            })
        }
        "ReversalResponse" => {
            message.reversal = Some(ReversalResponse {
                poi_data: None,
                original_poi_transaction: None,
                reversed_amount: None,
                response,
            })
        }
        other => {
            let mut map = serde_json::Map::new();
            let mut body = serde_json::Map::new();
            if let Ok(value) = serde_json::to_value(&response) {
                body.insert("Response".into(), value);
            }
            map.insert(other.to_string(), serde_json::Value::Object(body));
            message.other = Some(map);
        }
    }
    message
}
