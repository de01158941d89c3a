//! The dashboard at `/dashboard`: server-rendered HTML for people, beside the API for
//! machines. See `docs/dashboard.md`.
//!
//! **How it calls the gateway.** Every action goes through the very handler of the native
//! API that a POS would call (`routes::*`, which call the engine services), with the caller
//! of the signed-in session in place of a bearer key: the dashboard can do nothing the API
//! cannot, answers the same errors, and never touches the store.
//!
//! **Why this shape.** Templates are `maud` (compiled into the binary, escaping every value
//! by default — merchant text such as a reference can only ever be text). The one script
//! (`assets/dashboard.js`, a few dozen lines, embedded with `include_str!`) refreshes the
//! regions marked `data-poll` by fetching their HTML fragment once a second; everything else
//! is plain forms (POST, then a redirect), usable without a script and by keyboard. No CDN,
//! no build step. The merchant-wide event stream (issue 16) would replace the polling: the
//! script would refresh a region when an event about it arrives.

mod layout;
mod pages;
pub mod request_log;
pub mod session;

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use poigate_api::Problem;
use serde::de::DeserializeOwned;
use session::{Current, Flash, FlashKind, Sessions};
use std::collections::HashMap;
use std::sync::Arc;

/// What the dashboard keeps: sessions and the request log.
pub struct Dashboard {
    pub sessions: Sessions,
    pub requests: request_log::RequestLog,
    /// (prefix, name) of the mounted dialects, to label the request log.
    pub dialect_prefixes: Vec<(String, String)>,
}

impl Dashboard {
    pub fn new(dialects: &crate::dialect::DialectRegistry) -> Dashboard {
        Dashboard {
            sessions: Sessions::default(),
            requests: request_log::RequestLog::default(),
            dialect_prefixes: dialects
                .dialects()
                .map(|d| (d.prefix().to_string(), d.name().to_string()))
                .collect(),
        }
    }
}

/// The dashboard's routes (mounted at `/dashboard` by [`crate::routes::router`]).
pub fn router() -> Router<AppState> {
    pages::router()
}

/// The [`Dashboard`] of the running router (put in every request by [`crate::router_with`]).
fn dashboard(parts: &Parts) -> Result<Arc<Dashboard>, StatusCode> {
    parts
        .extensions
        .get::<Arc<Dashboard>>()
        .cloned()
        .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A signed-in browser: its session, checked against the engine (a revoked key ends it).
pub struct Signed {
    pub current: Current,
    pub dashboard: Arc<Dashboard>,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let dashboard = dashboard(parts).map_err(IntoResponse::into_response)?;
        let fragment = parts.headers.contains_key("x-poigate-fragment");
        let to_sign_in = || {
            if fragment {
                // A polled region: the script reloads the page, which then redirects.
                (StatusCode::UNAUTHORIZED, "signed out").into_response()
            } else {
                Redirect::to("/dashboard/sign-in").into_response()
            }
        };
        let Some(id) = session::cookie(&parts.headers, session::SESSION_COOKIE) else {
            return Err(to_sign_in());
        };
        let Some(current) = dashboard.sessions.touch(id, !fragment) else {
            return Err(to_sign_in());
        };
        // The key may have been revoked since sign-in (here or from the API).
        let key = state
            .engine
            .admin()
            .get_api_key(current.caller.merchant_id, current.caller.key_id)
            .await;
        let merchant = state
            .engine
            .admin()
            .get_merchant(current.caller.merchant_id)
            .await;
        // A revoked key, or a merchant a platform admin disabled, ends the session: the
        // same refusals the API makes to the key itself.
        let still_valid = match (key, merchant) {
            (Ok(k), Ok(m)) => k.revoked_at.is_none() && m.disabled_at.is_none(),
            (Err(poigate_engine::EngineError::NotFound(_)), _)
            | (_, Err(poigate_engine::EngineError::NotFound(_))) => false,
            (Err(e), _) | (_, Err(e)) => return Err(ApiError::from(e).into_response()),
        };
        if !still_valid {
            dashboard.sessions.close(&current.id);
            return Err(to_sign_in());
        }
        crate::observe::note_caller(&current.caller);
        Ok(Signed { current, dashboard })
    }
}

impl Signed {
    pub fn flash(&self, kind: FlashKind, text: impl Into<String>) {
        self.dashboard.sessions.set_flash(
            &self.current.id,
            Flash {
                kind,
                text: text.into(),
                secret: None,
            },
        );
    }

    /// Flashes the outcome of an action and redirects to `to` (post/redirect/get).
    pub fn done<T>(
        &self,
        result: Result<T, Problem>,
        ok: impl FnOnce(T) -> String,
        to: &str,
    ) -> Response {
        match result {
            Ok(v) => self.flash(FlashKind::Ok, ok(v)),
            Err(p) => self.flash(FlashKind::Error, problem_text(&p)),
        }
        Redirect::to(to).into_response()
    }
}

/// A posted form whose CSRF token matched the session's.
pub struct Form {
    pub fields: HashMap<String, String>,
}

impl Form {
    /// Parses `body` (urlencoded) and checks its `_csrf` field.
    pub fn checked(
        signed: &Signed,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Form, RefusedForm> {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(RefusedForm);
        }
        let fields: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        match fields.get("_csrf") {
            Some(t) if session::tokens_equal(t, &signed.current.csrf) => Ok(Form { fields }),
            _ => Err(RefusedForm),
        }
    }

    /// A field, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

/// A form without this session's CSRF token.
pub struct RefusedForm;

impl IntoResponse for RefusedForm {
    fn into_response(self) -> Response {
        refused_form()
    }
}

/// The answer to a form without a valid CSRF token.
pub fn refused_form() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        layout::bare_page(
            "Form refused",
            "This form was refused: it did not carry this session's security token (CSRF). \
             Reload the page and try again.",
        ),
    )
        .into_response()
}

/// The answer of an API handler, as its view type or its problem.
pub async fn call<T: DeserializeOwned, R: IntoResponse>(
    result: Result<R, ApiError>,
) -> Result<T, Problem> {
    let response = match result {
        Ok(r) => r.into_response(),
        Err(e) => return Err(*e.problem),
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 4 * 1024 * 1024)
        .await
        .map_err(|_| internal_problem("the answer could not be read"))?;
    if status.is_success() {
        serde_json::from_slice(&body)
            .map_err(|_| internal_problem("the answer could not be parsed"))
    } else {
        Err(serde_json::from_slice(&body)
            .unwrap_or_else(|_| internal_problem("the request failed")))
    }
}

/// [`call`] for answers without a body worth reading (`204`).
pub async fn call_empty<R: IntoResponse>(result: Result<R, ApiError>) -> Result<(), Problem> {
    match result.map(IntoResponse::into_response) {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(_) => Err(internal_problem("the request failed")),
        Err(e) => Err(*e.problem),
    }
}

fn internal_problem(detail: &str) -> Problem {
    *ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal error",
        detail,
    )
    .problem
}

/// A problem as one line for a person.
pub fn problem_text(p: &Problem) -> String {
    let mut text = format!("{} ({})", p.detail, p.code);
    for e in &p.errors {
        text.push_str(&format!(" — {}: {}", e.field, e.message));
    }
    text
}
