//! Webhooks (endpoints, deliveries with their attempts, redelivery), API keys (created keys
//! shown once), and the request log.

use super::is_fragment;
use crate::AppState;
use crate::dashboard::layout::{self, badge, csrf, page};
use crate::dashboard::session::{Flash, FlashKind};
use crate::dashboard::{Form, Signed, call, call_empty, problem_text};
use crate::extract::{ApiJson, ApiQuery, Auth};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use poigate_api::*;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/webhooks", get(webhooks).post(create_endpoint))
        .route("/dashboard/webhooks/{id}/{action}", post(endpoint_action))
        .route("/dashboard/deliveries/{id}/redeliver", post(redeliver))
        .route("/dashboard/api-keys", get(keys).post(create_key))
        .route("/dashboard/api-keys/{id}/revoke", post(revoke_key))
        .route("/dashboard/requests", get(requests))
}

fn deliveries_table(list: &[DeliveryView], signed: &Signed) -> Markup {
    html! {
        table id="deliveries" {
            caption.muted { "Newest first" }
            thead { tr { th scope="col" { "Delivery" } th scope="col" { "Event" } th scope="col" { "Subject" } th scope="col" { "Target" } th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Actions" } } }
            tbody {
                @for d in list {
                    tr data-delivery=(d.id) data-status=(d.status) {
                        td.mono { (d.id) }
                        td { (d.event_type) }
                        td.mono { (d.subject) }
                        td.mono { (d.url) }
                        td { (badge(&d.status)) @if let Some(e) = &d.last_error { br; span.muted { (e) } } }
                        td {
                            ol {
                                @for a in &d.attempts {
                                    li { (a.started_at.to_string()) " → "
                                        @match a.status_code { Some(s) => (s), None => "no answer" }
                                        " in " (a.latency_ms) " ms"
                                        @if let Some(e) = &a.error { " (" (e) ")" } }
                                }
                            }
                        }
                        td {
                            form.inline method="post" action={ "/dashboard/deliveries/" (d.id) "/redeliver" } {
                                (csrf(signed))
                                button.secondary.redeliver type="submit" aria-label={ "Redeliver " (d.id) } { "Redeliver" }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn webhooks(State(state): State<AppState>, signed: Signed, headers: HeaderMap) -> Response {
    let caller = signed.current.caller;
    let query = ListDeliveriesQuery {
        limit: Some(50),
        ..Default::default()
    };
    let deliveries: Result<ListOf<DeliveryView>, Problem> = call(
        crate::routes::list_deliveries(State(state.clone()), Auth(caller), ApiQuery(query)).await,
    )
    .await;
    let deliveries = match deliveries {
        Ok(l) => deliveries_table(&l.data, &signed),
        Err(p) => html! { p role="alert" { (problem_text(&p)) } },
    };
    if is_fragment(&headers) {
        return layout::fragment(deliveries);
    }
    let endpoints: Result<ListOf<WebhookEndpointView>, Problem> =
        call(crate::routes::list_webhook_endpoints(State(state), Auth(caller)).await).await;
    let body = html! {
        h2 { "Endpoints" }
        @match endpoints {
            Ok(list) => table id="endpoints" {
                thead { tr { th scope="col" { "Endpoint" } th scope="col" { "URL" } th scope="col" { "Format" } th scope="col" { "Events" } th scope="col" { "State" } th scope="col" { "Actions" } } }
                tbody {
                    @for e in &list.data {
                        tr {
                            td.mono { (e.id) @if let Some(d) = &e.description { br; span.muted { (d) } } }
                            td.mono { (e.url) }
                            td { (e.format) }
                            td { (e.events.join(", ")) }
                            td { @if e.enabled { (badge("enabled")) } @else { (badge("disabled")) @if let Some(r) = &e.disabled_reason { " " (r) } } }
                            td {
                                @let toggle = if e.enabled { ("disable", "Disable") } else { ("enable", "Enable") };
                                @for (action, label) in [toggle, ("test", "Send a test event"), ("rotate", "Rotate secret"), ("delete", "Delete")] {
                                    form.inline method="post" action={ "/dashboard/webhooks/" (e.id) "/" (action) } {
                                        (csrf(&signed))
                                        button.secondary type="submit" aria-label={ (label) " " (e.id) } { (label) }
                                    }
                                    " "
                                }
                            }
                        }
                    }
                }
            },
            Err(p) => p role="alert" { (problem_text(&p)) },
        }
        section.panel aria-labelledby="new-endpoint-h" {
            h2 id="new-endpoint-h" { "Add an endpoint" }
            form method="post" action="/dashboard/webhooks" class="row" {
                (csrf(&signed))
                div { label for="w-url" { "URL" } input id="w-url" name="url" type="url" required size="40" placeholder="https://pos.example.com/webhooks"; }
                div { label for="w-description" { "Description (optional)" } input id="w-description" name="description"; }
                div { button type="submit" id="create-endpoint" { "Add endpoint" } }
            }
            p.muted { "The signing secret is shown once, after adding. Test events: start a sale on a virtual terminal — every interaction event is delivered." }
        }
        h2 { "Deliveries" }
        div.scroll data-poll="/dashboard/webhooks" aria-live="polite" { (deliveries) }
    };
    page(&signed, "/dashboard/webhooks", "Webhooks", body)
}

async fn create_endpoint(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::checked(&signed, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let request = CreateWebhookEndpointRequest {
        url: form.get("url").unwrap_or_default().to_string(),
        events: None,
        description: form.get("description").map(str::to_string),
        enabled: None,
        format: None,
    };
    let result: Result<WebhookEndpointView, Problem> = call(
        crate::routes::create_webhook_endpoint(
            State(state),
            Auth(signed.current.caller),
            ApiJson(request),
        )
        .await,
    )
    .await;
    match result {
        Ok(e) => signed.dashboard.sessions.set_flash(
            &signed.current.id,
            Flash {
                kind: FlashKind::Ok,
                text: format!("Added endpoint {} for {}.", e.id, e.url),
                secret: e.secret,
            },
        ),
        Err(p) => signed.flash(FlashKind::Error, problem_text(&p)),
    }
    Redirect::to("/dashboard/webhooks").into_response()
}

async fn endpoint_action(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = Form::checked(&signed, &headers, &body) {
        return r.into_response();
    }
    let s = State(state);
    let a = Auth(signed.current.caller);
    let enabled = |on: bool| UpdateWebhookEndpointRequest {
        enabled: Some(on),
        ..Default::default()
    };
    let to = "/dashboard/webhooks";
    match action.as_str() {
        "enable" | "disable" => {
            let r: Result<WebhookEndpointView, Problem> = call(
                crate::routes::update_webhook_endpoint(
                    s,
                    a,
                    Path(id),
                    ApiJson(enabled(action == "enable")),
                )
                .await,
            )
            .await;
            signed.done(
                r,
                |e| {
                    format!(
                        "Endpoint {} {}.",
                        e.id,
                        if e.enabled { "enabled" } else { "disabled" }
                    )
                },
                to,
            )
        }
        "rotate" => {
            let r: Result<WebhookEndpointView, Problem> =
                call(crate::routes::rotate_webhook_secret(s, a, Path(id), Bytes::new()).await)
                    .await;
            match r {
                Ok(e) => {
                    signed.dashboard.sessions.set_flash(
                        &signed.current.id,
                        Flash {
                            kind: FlashKind::Ok,
                            text: format!("Rotated the secret of {} (the old one stays valid for the overlap).", e.id),
                            secret: e.secret,
                        },
                    );
                    Redirect::to(to).into_response()
                }
                Err(p) => signed.done::<()>(Err(p), |_| String::new(), to),
            }
        }
        "test" => {
            let r: Result<WebhookTestView, Problem> =
                call(crate::routes::send_test_event(s, a, Path(id)).await).await;
            match r {
                Ok(t) if t.delivered => signed.done::<()>(
                    Ok(()),
                    |_| {
                        format!(
                            "Test event {} delivered to {}: HTTP {} in {} ms.",
                            t.webhook_id,
                            t.endpoint,
                            t.status.unwrap_or_default(),
                            t.duration_ms
                        )
                    },
                    to,
                ),
                Ok(t) => {
                    signed.flash(
                        FlashKind::Error,
                        format!(
                            "Test event {} not delivered to {}: {}.",
                            t.webhook_id,
                            t.endpoint,
                            t.error.unwrap_or_else(|| "no answer".into())
                        ),
                    );
                    Redirect::to(to).into_response()
                }
                Err(p) => signed.done::<()>(Err(p), |_| String::new(), to),
            }
        }
        "delete" => {
            let r = call_empty(crate::routes::delete_webhook_endpoint(s, a, Path(id)).await).await;
            signed.done(r, |_| "Endpoint deleted.".to_string(), to)
        }
        _ => signed.done::<()>(
            Err(Problem::new(
                404,
                "not_found",
                "Not found",
                "unknown action",
            )),
            |_| String::new(),
            to,
        ),
    }
}

async fn redeliver(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = Form::checked(&signed, &headers, &body) {
        return r.into_response();
    }
    let r: Result<DeliveryView, Problem> =
        call(crate::routes::redeliver(State(state), Auth(signed.current.caller), Path(id)).await)
            .await;
    signed.done(
        r,
        |d| format!("Redelivery of {} queued ({}).", d.id, d.status),
        "/dashboard/webhooks",
    )
}

async fn keys(State(state): State<AppState>, signed: Signed) -> Response {
    let r: Result<ListOf<ApiKeyView>, Problem> =
        call(crate::routes::list_api_keys(State(state), Auth(signed.current.caller)).await).await;
    let body = html! {
        p.muted { "Keys of this merchant in both modes. A new key is made in the mode of this session and its secret is shown once." }
        @match r {
            Ok(list) => table id="api-keys" {
                thead { tr { th scope="col" { "Key" } th scope="col" { "Mode" } th scope="col" { "Label" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "State" } th scope="col" { "Actions" } } }
                tbody {
                    @for k in &list.data {
                        tr {
                            td.mono { (k.prefix) "…" }
                            td { @if k.livemode { "live" } @else { "test" } }
                            td { (k.label.as_deref().unwrap_or("")) }
                            td { (k.created_at.to_string()) }
                            td { (k.last_used_at.map(|t| t.to_string()).unwrap_or_default()) }
                            td { @if k.revoked_at.is_some() { (badge("revoked")) } @else { (badge("active")) } }
                            td {
                                @if k.revoked_at.is_none() {
                                    form.inline method="post" action={ "/dashboard/api-keys/" (k.id) "/revoke" } {
                                        (csrf(&signed))
                                        button.danger type="submit" aria-label={ "Revoke key " (k.prefix) } { "Revoke" }
                                    }
                                    @if k.id == signed.current.caller.key_id { " " span.muted { "(this session's key)" } }
                                }
                            }
                        }
                    }
                }
            },
            Err(p) => p role="alert" { (problem_text(&p)) },
        }
        section.panel aria-labelledby="new-key-h" {
            h2 id="new-key-h" { "Create a key" }
            form method="post" action="/dashboard/api-keys" class="row" {
                (csrf(&signed))
                div { label for="k-label" { "Label (optional)" } input id="k-label" name="label"; }
                div { button type="submit" id="create-key" { "Create key" } }
            }
        }
    };
    page(&signed, "/dashboard/api-keys", "API keys", body)
}

async fn create_key(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::checked(&signed, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let request = serde_json::json!({ "label": form.get("label") });
    let bytes = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
    let r: Result<ApiKeyView, Problem> =
        call(crate::routes::create_api_key(State(state), Auth(signed.current.caller), bytes).await)
            .await;
    match r {
        Ok(k) => signed.dashboard.sessions.set_flash(
            &signed.current.id,
            Flash {
                kind: FlashKind::Ok,
                text: format!("Created key {}….", k.prefix),
                secret: k.secret,
            },
        ),
        Err(p) => signed.flash(FlashKind::Error, problem_text(&p)),
    }
    Redirect::to("/dashboard/api-keys").into_response()
}

async fn revoke_key(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = Form::checked(&signed, &headers, &body) {
        return r.into_response();
    }
    let r: Result<ApiKeyView, Problem> = call(
        crate::routes::revoke_api_key(State(state), Auth(signed.current.caller), Path(id)).await,
    )
    .await;
    signed.done(
        r,
        |k| format!("Revoked key {}….", k.prefix),
        "/dashboard/api-keys",
    )
}

async fn requests(signed: Signed, headers: HeaderMap) -> Response {
    let livemode = signed.current.caller.livemode();
    let entries: Vec<_> = signed
        .dashboard
        .requests
        .recent(signed.current.caller.merchant_id)
        .into_iter()
        .filter(|e| e.livemode == livemode)
        .collect();
    let table = html! {
        table id="requests" {
            caption.muted { (entries.len()) " most recent requests of this merchant on this node (newest first)" }
            thead { tr { th scope="col" { "Time" } th scope="col" { "Method" } th scope="col" { "Route" } th scope="col" { "Status" } th scope="col" { "Latency" } th scope="col" { "Request id" } th scope="col" { "Dialect" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (e.at.to_string()) }
                        td { (e.method) }
                        td.mono { (e.route) }
                        td { (e.status) }
                        td { (format!("{:.1} ms", e.latency_ms)) }
                        td.mono { (e.request_id) }
                        td { (e.dialect) }
                    }
                }
            }
        }
    };
    if is_fragment(&headers) {
        return layout::fragment(table);
    }
    let body = html! {
        p.muted { "Method, route template, status, latency, request id and dialect of the API requests made with this merchant's keys — never bodies, query strings or card data. Kept in memory (the last 200 per merchant), reset on restart." }
        div data-poll="/dashboard/requests" aria-live="off" { (table) }
    };
    page(&signed, "/dashboard/requests", "Request log", body)
}
