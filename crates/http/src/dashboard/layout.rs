//! The page shell: the mode banner (test or live, impossible to miss), navigation, the
//! flash message, the embedded stylesheet and script.

use super::Signed;
use super::session::{Flash, FlashKind};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use poigate_domain::ApiKeyMode;
use serde::Serialize;

pub const CSS: &str = include_str!("../../assets/dashboard.css");
pub const JS: &str = include_str!("../../assets/dashboard.js");

/// The sections of the navigation: (path, label).
const NAV: [(&str, &str); 6] = [
    ("/dashboard/terminals", "Terminals"),
    ("/dashboard/interactions", "Interactions"),
    ("/dashboard/webhooks", "Webhooks"),
    ("/dashboard/api-keys", "API keys"),
    ("/dashboard/requests", "Request log"),
    ("/docs", "API reference"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · poigate" }
            link rel="stylesheet" href="/dashboard/assets/dashboard.css";
            script src="/dashboard/assets/dashboard.js" defer {}
        }
    }
}

/// A full page for a signed-in browser.
pub fn page(signed: &Signed, section: &str, title: &str, body: Markup) -> Response {
    let caller = signed.current.caller;
    let flash = signed.dashboard.sessions.take_flash(&signed.current.id);
    let (mode_class, mode_text) = match caller.mode {
        ApiKeyMode::Test => (
            "mode mode-test",
            "TEST MODE — simulated terminals and test data only",
        ),
        ApiKeyMode::Live => (
            "mode mode-live",
            "LIVE MODE — real terminals and real money",
        ),
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                div class=(mode_class) role="status" id="mode-banner" data-mode=(name(&caller.mode)) { (mode_text) }
                header.top {
                    span.brand { "poigate" }
                    nav aria-label="Sections" {
                        ul {
                            @for (path, label) in NAV {
                                li { a href=(path) aria-current=[(section == path).then_some("page")] { (label) } }
                            }
                        }
                    }
                    form.inline method="post" action="/dashboard/sign-out" {
                        (csrf(signed))
                        button.secondary type="submit" id="sign-out" { "Sign out" }
                    }
                }
                main id="main" tabindex="-1" {
                    @if let Some(f) = flash { (flash_box(&f)) }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    html_response(markup)
}

/// A page saying why an object could not be shown, with the API's status code (`404` for
/// an object of another merchant or mode, like the API).
pub fn error_page(
    signed: &Signed,
    section: &str,
    title: &str,
    problem: &poigate_api::Problem,
) -> Response {
    let mut response = page(
        signed,
        section,
        title,
        html! { p role="alert" id="problem" { (super::problem_text(problem)) } },
    );
    *response.status_mut() = axum::http::StatusCode::from_u16(problem.status)
        .unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    response
}

fn flash_box(f: &Flash) -> Markup {
    let class = match f.kind {
        FlashKind::Ok => "flash flash-ok",
        FlashKind::Error => "flash flash-error",
    };
    html! {
        div class=(class) role=(if f.kind == FlashKind::Error { "alert" } else { "status" }) id="flash" {
            (f.text)
            @if let Some(secret) = &f.secret {
                br;
                "Copy it now — it is shown only once: "
                output.secret id="new-secret" { (secret) }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="_csrf" value=(signed.current.csrf); }
}

/// A page for a browser without a session (sign-in, refusals).
pub fn public_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                main.narrow id="main" {
                    h1 { "poigate dashboard" }
                    (body)
                }
            }
        }
    }
}

/// A page with only a message.
pub fn bare_page(title: &str, message: &str) -> String {
    public_page(
        title,
        html! { p role="alert" { (message) } p { a href="/dashboard" { "Back to the dashboard" } } },
    )
    .into_string()
}

/// What every dashboard page may load: its own stylesheet and script, nothing inline, no
/// frames (clickjacking), no referrer leaving the gateway.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn html_response(markup: Markup) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// A polled fragment (see `dashboard.js`).
pub fn fragment(markup: Markup) -> Response {
    html_response(markup)
}

/// The snake_case name of an enum as the API writes it (`in_progress`).
pub fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A status badge: text and colour, never colour alone.
pub fn badge(status: &str) -> Markup {
    html! { span class={ "badge s-" (status) } { (status.replace('_', " ")) } }
}

/// Key/value rows of a JSON object (card, EMV data), values as text.
pub fn kv(value: &serde_json::Value) -> Markup {
    html! {
        dl.kv {
            @if let Some(map) = value.as_object() {
                @for (k, v) in map {
                    dt { (k.replace('_', " ")) }
                    dd.mono { (match v { serde_json::Value::String(s) => s.clone(), other => other.to_string() }) }
                }
            }
        }
    }
}
