//! What an operator sees of each request: its id (`X-Request-Id`), a tracing span carrying
//! that id around everything logged while it is served, one access-log line, and the HTTP
//! metrics (`poigate_http_requests_total`, `poigate_http_request_duration_seconds`).
//!
//! The access line says method, route template, status, latency, merchant (once a credential
//! authenticated one) and request id — never bodies, credentials or card data, which is why
//! it is written here from the request's shape and not by a generic body-aware layer.
//!
//! Native error answers (`application/problem+json`) carry the id as `request_id`, so a
//! support ticket quoting the body finds the log lines. Dialect error bodies keep their
//! provider's shape (a POS parses them); the header is echoed on every answer.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use poigate_domain::MerchantId;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tracing::Instrument;

/// The request-id header, taken from the request when valid and echoed in every answer.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Largest problem body rewritten to carry the request id (they are a few hundred bytes).
const PROBLEM_LIMIT: usize = 64 * 1024;

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// Per-request facts the middleware shares with the code serving the request (a task-local
/// around the handler, so authentication helpers need no extra parameter to report in).
#[derive(Clone)]
pub struct RequestContext {
    pub request_id: Arc<str>,
    merchant: Arc<OnceLock<MerchantId>>,
    /// Whether the caller's key is live (the dashboard's request log shows each mode its own).
    livemode: Arc<OnceLock<bool>>,
    span: tracing::Span,
}

impl RequestContext {
    /// Notes the authenticated merchant: in the span (so every later line of the request
    /// has it) and for the access line.
    pub fn set_merchant(&self, merchant: MerchantId) {
        if self.merchant.set(merchant).is_ok() {
            self.span
                .record("merchant_id", tracing::field::display(merchant));
        }
    }
}

/// Notes the authenticated merchant of the current request, if it runs under [`observe`].
pub fn note_merchant(merchant: MerchantId) {
    let _ = CURRENT.try_with(|ctx| ctx.set_merchant(merchant));
}

/// Notes the authenticated caller (merchant and mode) of the current request.
pub fn note_caller(caller: &poigate_engine::Caller) {
    let _ = CURRENT.try_with(|ctx| {
        ctx.set_merchant(caller.merchant_id);
        let _ = ctx.livemode.set(caller.livemode());
    });
}

/// The id of the current request, if it runs under [`observe`].
pub fn current_request_id() -> Option<Arc<str>> {
    CURRENT.try_with(|ctx| ctx.request_id.clone()).ok()
}

/// A client's id is kept when it is 1–128 characters of `[A-Za-z0-9._-]`: safe in a header,
/// a log line and a JSON string without escaping. Anything else is replaced, not refused.
pub fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A new id: `req_` and a UUIDv7 (time-ordered, so ids sort like the log).
pub fn generate_request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

/// The middleware (outermost on the router, so it also sees panics turned into answers).
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| valid_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(generate_request_id);
    let method = request.method().clone();
    let dashboard = request
        .extensions()
        .get::<Arc<crate::dashboard::Dashboard>>()
        .cloned();
    // The template (`/v1/interactions/{id}`), never the path: ids would make every request
    // its own metric series, and paths may carry references a merchant chose.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        merchant_id = tracing::field::Empty,
    );
    let ctx = RequestContext {
        request_id: Arc::from(request_id.as_str()),
        merchant: Arc::new(OnceLock::new()),
        livemode: Arc::new(OnceLock::new()),
        span: span.clone(),
    };
    let response = CURRENT
        .scope(ctx.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let mut response = with_request_id_in_problem(response, &request_id).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();

    let labels = [
        ("method", method.as_str().to_owned()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("poigate_http_requests_total", &labels).increment(1);
    metrics::histogram!("poigate_http_request_duration_seconds", &labels)
        .record(elapsed.as_secs_f64());

    // The dashboard's request log (its own pages are not logged there).
    if let (Some(merchant), Some(dashboard)) = (ctx.merchant.get(), &dashboard)
        && !route.starts_with("/dashboard")
    {
        dashboard.requests.record(
            *merchant,
            crate::dashboard::request_log::LoggedRequest {
                at: poigate_domain::Timestamp::from_millis(now_millis()),
                livemode: ctx.livemode.get().copied().unwrap_or(false),
                method: method.to_string(),
                dialect: crate::dashboard::request_log::dialect_of(
                    &route,
                    &dashboard.dialect_prefixes,
                ),
                route: route.clone(),
                status,
                latency_ms: elapsed.as_secs_f64() * 1000.0,
                request_id: request_id.clone(),
            },
        );
    }
    let merchant = ctx.merchant.get().map(|m| m.to_string());
    span.in_scope(|| {
        tracing::info!(
            target: "poigate::access",
            method = %method,
            route = %route,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            merchant_id = merchant.as_deref().unwrap_or("-"),
            request_id = %request_id,
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Adds `request_id` to an `application/problem+json` body; other answers pass untouched.
async fn with_request_id_in_problem(response: Response, request_id: &str) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, PROBLEM_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "problem body not readable; answered without it");
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::empty());
        }
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("request_id".into(), request_id.into());
            serde_json::to_vec(&map)
                .map(Body::from)
                .unwrap_or_else(|_| Body::from(bytes))
        }
        _ => Body::from(bytes),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// Counts something open (an SSE stream) in a gauge while this value lives.
pub struct GaugeGuard(&'static str);

impl GaugeGuard {
    pub fn new(name: &'static str) -> GaugeGuard {
        metrics::gauge!(name).increment(1.0);
        GaugeGuard(name)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_safe() {
        for ok in ["a", "req_0192.abc-DEF", &"x".repeat(128)] {
            assert!(valid_request_id(ok), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "semi;colon",
            "ünïcode",
            &"x".repeat(129),
            "a\nb",
        ] {
            assert!(!valid_request_id(bad), "{bad:?}");
        }
        let generated = generate_request_id();
        assert!(generated.starts_with("req_") && valid_request_id(&generated));
        assert_ne!(generated, generate_request_id());
    }
}
