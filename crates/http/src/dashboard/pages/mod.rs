//! The dashboard's pages: sign-in, and one module per section.

mod interactions;
mod settings;
mod terminals;

use super::layout::{self, public_page};
use super::session::{self, SESSION_COOKIE, SIGNIN_COOKIE};
use super::{Signed, refused_form};
use crate::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::to("/dashboard/terminals") }),
        )
        .route(
            "/dashboard/",
            get(|| async { Redirect::to("/dashboard/terminals") }),
        )
        .route("/dashboard/assets/dashboard.css", get(css))
        .route("/dashboard/assets/dashboard.js", get(js))
        .route("/dashboard/sign-in", get(sign_in_page).post(sign_in))
        .route("/dashboard/sign-out", post(sign_out))
        .merge(terminals::router())
        .merge(interactions::router())
        .merge(settings::router())
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", layout::CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", layout::JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Whether a session cookie names a live session (the sign-in page then moves on).
struct MaybeSigned(bool);

impl FromRequestParts<AppState> for MaybeSigned {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeSigned(
            Signed::from_request_parts(parts, state).await.is_ok(),
        ))
    }
}

fn sign_in_form(token: &str, error: Option<&str>) -> maud::Markup {
    public_page(
        "Sign in",
        html! {
            p { "Sign in with one of your API keys. A test key (" code { "pg_test_…" } ") shows test mode, a live key (" code { "pg_live_…" } ") live mode." }
            @if let Some(e) = error { p.flash.flash-error role="alert" id="flash" { (e) } }
            form method="post" action="/dashboard/sign-in" {
                input type="hidden" name="_csrf" value=(token);
                label for="api-key" { "API key" }
                input id="api-key" name="api_key" type="password" autocomplete="off" required size="50" autofocus;
                p { button type="submit" id="sign-in" { "Sign in" } }
            }
            p.muted { "The key is checked once and never stored in the browser: the session is a random cookie (HttpOnly, SameSite=Strict), ended by signing out, after 30 minutes unused, or after 12 hours." }
        },
    )
}

/// The sign-in form, with a fresh double-submit token in its own cookie.
async fn sign_in_page(
    headers: HeaderMap,
    tls: Option<axum::Extension<crate::connections::OverTls>>,
    signed: MaybeSigned,
) -> Response {
    if signed.0 {
        return Redirect::to("/dashboard/terminals").into_response();
    }
    let Ok(token) = session::random_token() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut response = layout::html_response(sign_in_form(&token, None));
    let cookie = session::set_cookie(
        SIGNIN_COOKIE,
        &token,
        Some(std::time::Duration::from_secs(3600)),
        session::over_tls(&headers, tls.is_some()),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    tls: Option<axum::Extension<crate::connections::OverTls>>,
    parts: SignInParts,
    body: Bytes,
) -> Response {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let expected = session::cookie(&headers, SIGNIN_COOKIE);
    let token_ok = matches!((fields.get("_csrf"), expected), (Some(a), Some(b)) if session::tokens_equal(a, b));
    if !token_ok {
        return refused_form();
    }
    let secret = fields.get("api_key").map(|s| s.trim()).unwrap_or("");
    let token = fields.get("_csrf").cloned().unwrap_or_default();
    // API keys only: an access token expires on its own schedule, which a session would
    // outlive.
    if !(secret.starts_with("pg_test_") || secret.starts_with("pg_live_")) {
        let text = "Sign in with an API key (pg_test_… or pg_live_…).";
        return (
            StatusCode::UNAUTHORIZED,
            layout::html_response(sign_in_form(&token, Some(text))),
        )
            .into_response();
    }
    let caller = match crate::dialect::check(&state, &headers, Some(secret)).await {
        Ok(c) => c,
        Err(refusal) => {
            let (status, text) = match refusal {
                crate::dialect::Refusal::Unauthenticated(why) => match why.retry_after_seconds() {
                    Some(s) => (
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("Too many attempts; try again in {s} s."),
                    ),
                    None => (
                        StatusCode::UNAUTHORIZED,
                        "This API key was not accepted (unknown, revoked or mistyped).".to_string(),
                    ),
                },
                crate::dialect::Refusal::Engine(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The gateway cannot check keys right now.".to_string(),
                ),
            };
            return (
                status,
                layout::html_response(sign_in_form(&token, Some(&text))),
            )
                .into_response();
        }
    };
    let Ok(id) = parts.0.sessions.open(caller) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let secure = session::over_tls(&headers, tls.is_some());
    let mut response = Redirect::to("/dashboard/terminals").into_response();
    for cookie in [
        session::set_cookie(SESSION_COOKIE, &id, None, secure),
        session::set_cookie(SIGNIN_COOKIE, "", Some(std::time::Duration::ZERO), secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The dashboard state, for handlers without a session.
struct SignInParts(std::sync::Arc<super::Dashboard>);

impl FromRequestParts<AppState> for SignInParts {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        super::dashboard(parts)
            .map(SignInParts)
            .map_err(IntoResponse::into_response)
    }
}

async fn sign_out(
    signed: Signed,
    headers: HeaderMap,
    tls: Option<axum::Extension<crate::connections::OverTls>>,
    body: Bytes,
) -> Response {
    if let Err(refused) = super::Form::checked(&signed, &headers, &body) {
        return refused.into_response();
    }
    signed.dashboard.sessions.close(&signed.current.id);
    let mut response = Redirect::to("/dashboard/sign-in").into_response();
    let cookie = session::set_cookie(
        SESSION_COOKIE,
        "",
        Some(std::time::Duration::ZERO),
        session::over_tls(&headers, tls.is_some()),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Whether the request is the script refreshing a region.
pub(super) fn is_fragment(headers: &HeaderMap) -> bool {
    headers.contains_key("x-poigate-fragment")
}
