//! Terminals: the fleet, registering a device terminal (its pairing code), revoking; and the
//! virtual terminal of a simulated one, with the test helpers and a small POS panel.

use super::is_fragment;
use crate::AppState;
use crate::dashboard::layout::{self, badge, csrf, name, page};
use crate::dashboard::session::FlashKind;
use crate::dashboard::{Form, Signed, call};
use crate::extract::{ApiJson, ApiQuery, Auth};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use poigate_api::*;
use poigate_domain::{ApiKeyMode, TerminalKind};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/terminals", get(list).post(register))
        .route("/dashboard/terminals/{id}", get(virtual_terminal))
        .route("/dashboard/terminals/{id}/revoke", post(revoke))
        .route("/dashboard/terminals/{id}/pairing-code", post(pairing_code))
        .route("/dashboard/terminals/{id}/helper/{action}", post(helper))
        .route("/dashboard/terminals/{id}/pos", post(pos))
}

async fn terminals(state: &AppState, signed: &Signed) -> Result<Vec<TerminalView>, Problem> {
    let list: ListOf<TerminalView> = call(
        crate::routes::list_terminals(State(state.clone()), Auth(signed.current.caller)).await,
    )
    .await?;
    Ok(list.data)
}

fn fleet(list: &[TerminalView]) -> Markup {
    html! {
        table id="terminals" {
            caption.muted { (list.len()) " terminals" }
            thead { tr { th scope="col" { "Terminal" } th scope="col" { "Status" } th scope="col" { "Last seen" } th scope="col" { "Model" } th scope="col" { "Serial" } th scope="col" { "Kind" } th scope="col" { "Connection" } th scope="col" { "Actions" } } }
            tbody {
                @for t in list {
                    tr data-terminal=(t.poiid) {
                        td { a href={ "/dashboard/terminals/" (t.id) } { (t.poiid) } @if let Some(l) = &t.label { br; span.muted { (l) } } }
                        td { (badge(&name(&t.status))) @if let Some(a) = t.active_interaction { br; a href={ "/dashboard/interactions/" (a) } { "current interaction" } } }
                        td { @match t.last_seen_at { Some(at) => (at.to_string()), None => span.muted { "—" } } }
                        td { (t.model) }
                        td.mono { (t.serial_number) }
                        td { (name(&t.kind)) }
                        td { (name(&t.connection)) }
                        td { a href={ "/dashboard/terminals/" (t.id) } { @if t.kind == TerminalKind::Simulated { "Virtual terminal" } @else { "Details" } } }
                    }
                }
            }
        }
    }
}

async fn list(State(state): State<AppState>, signed: Signed, headers: HeaderMap) -> Response {
    let list = match terminals(&state, &signed).await {
        Ok(l) => l,
        Err(p) => {
            return layout::error_page(&signed, "/dashboard/terminals", "Terminals", &p);
        }
    };
    if is_fragment(&headers) {
        return layout::fragment(fleet(&list));
    }
    let body = html! {
        div data-poll="/dashboard/terminals" aria-live="polite" { (fleet(&list)) }
        section.panel aria-labelledby="register-h" {
            h2 id="register-h" { "Register a device terminal" }
            p.muted { "A physical terminal connects over the terminal link; it pairs once with the code shown after registering (valid 15 minutes)." }
            form method="post" action="/dashboard/terminals" class="row" {
                (csrf(&signed))
                div { label for="t-model" { "Model" } input id="t-model" name="model" required placeholder="V400m"; }
                div { label for="t-serial" { "Serial number" } input id="t-serial" name="serial_number" required; }
                div { label for="t-label" { "Label (optional)" } input id="t-label" name="label"; }
                div { button type="submit" id="register-terminal" { "Register" } }
            }
        }
    };
    page(&signed, "/dashboard/terminals", "Terminals", body)
}

async fn register(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::checked(&signed, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let request = CreateTerminalRequest {
        serial_number: form.get("serial_number").unwrap_or_default().to_string(),
        model: form.get("model").unwrap_or_default().to_string(),
        label: form.get("label").map(str::to_string),
        kind: Some(TerminalKind::Device),
        connection: None,
    };
    let result: Result<TerminalView, Problem> = call(
        crate::routes::create_terminal(State(state), Auth(signed.current.caller), ApiJson(request))
            .await,
    )
    .await;
    signed.done(
        result,
        |t| match t.pairing {
            Some(p) => format!(
                "Registered {}. Pairing code: {} (valid until {}).",
                t.poiid, p.pairing_code, p.expires_at
            ),
            None => format!("Registered {}.", t.poiid),
        },
        "/dashboard/terminals",
    )
}

async fn revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = Form::checked(&signed, &headers, &body) {
        return r.into_response();
    }
    let result: Result<TerminalView, Problem> = call(
        crate::routes::revoke_terminal(State(state), Auth(signed.current.caller), Path(id)).await,
    )
    .await;
    signed.done(
        result,
        |t| format!("Revoked {}: its device key no longer connects.", t.poiid),
        "/dashboard/terminals",
    )
}

async fn pairing_code(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = Form::checked(&signed, &headers, &body) {
        return r.into_response();
    }
    let back = format!("/dashboard/terminals/{id}");
    let result: Result<PairingCodeView, Problem> = call(
        crate::routes::create_pairing_code(State(state), Auth(signed.current.caller), Path(id))
            .await,
    )
    .await;
    signed.done(
        result,
        |p| {
            format!(
                "Pairing code: {} (valid until {}).",
                p.pairing_code, p.expires_at
            )
        },
        &back,
    )
}

/// What the cardholder sees: the active interaction's latest stage message and amount, or
/// the outcome of the last one.
async fn screen(state: &AppState, signed: &Signed, t: &TerminalView) -> Markup {
    let caller = signed.current.caller;
    let latest: Option<InteractionView> = {
        let query = ListInteractionsQuery {
            terminal: Some(t.id.to_string()),
            limit: Some(1),
            ..Default::default()
        };
        call::<ListOf<InteractionView>, _>(
            crate::routes::list_interactions(State(state.clone()), Auth(caller), ApiQuery(query))
                .await,
        )
        .await
        .ok()
        .and_then(|l| l.data.into_iter().next())
    };
    let message = match &latest {
        Some(i) if !i.is_final => {
            let query = ListEventsQuery {
                limit: Some(50),
                after_seq: None,
                order: Some(Order::Desc),
            };
            let events: Option<ListOf<EventView>> = call(
                crate::routes::list_events(
                    State(state.clone()),
                    Auth(caller),
                    Path(i.id.to_string()),
                    ApiQuery(query),
                )
                .await,
            )
            .await
            .ok();
            events
                .and_then(|e| e.data.into_iter().find_map(|e| e.message))
                .unwrap_or_else(|| "Connecting…".into())
        }
        Some(i) => match name(&i.status).as_str() {
            "approved" => "APPROVED".into(),
            "declined" => "DECLINED".into(),
            "cancelled" => "CANCELLED".into(),
            _ => "FAILED".into(),
        },
        None => "Welcome".into(),
    };
    // The simulator's prompt repeats the amount ("12.50 EUR - Present card"), shown above.
    let message = match &latest {
        Some(i) => message
            .strip_prefix(&format!("{} - ", i.amount))
            .map(str::to_string)
            .unwrap_or(message),
        None => message,
    };
    let status = name(&t.status);
    let pin = message.to_ascii_lowercase().contains("pin");
    html! {
        div.terminal-device {
            div.screen id="screen" role="img" aria-label={ "Terminal screen: " (message) } {
                @if status == "offline" {
                    div.message { "Offline" }
                    div { "No connection to the gateway" }
                } @else {
                    @if let Some(i) = latest.as_ref().filter(|i| !i.is_final || i.amount.value() != 0) {
                        div.amount { (i.amount.to_string()) }
                    }
                    div.message id="screen-message" { (message) }
                    @if pin { div.pin aria-hidden="true" { "● ● ● ●" } }
                    @if latest.as_ref().is_some_and(|i| i.is_final) { div.muted { "Ready" } }
                }
            }
            div.caption { (t.poiid) " · " (badge(&status)) }
        }
        @if let Some(i) = &latest {
            p id="pos-answer" { "Last interaction: " a href={ "/dashboard/interactions/" (i.id) } { (i.id) } " " (badge(&name(&i.status))) " " (name(&i.kind)) " " (i.amount.to_string())
                @if let Some(r) = &i.reference { " · reference " span.mono { (r) } }
                @if let Some(tip) = i.transaction.as_ref().and_then(|t| t.tip_amount.map(|tip| (t, tip))) {
                    " · tip " (tip_text(tip.0, tip.1)) " · total " (tip.0.amount.to_string())
                } }
        }
    }
}

async fn virtual_terminal(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = signed.current.caller;
    let t: TerminalView = match call(
        crate::routes::get_terminal(State(state.clone()), Auth(caller), Path(id.clone())).await,
    )
    .await
    {
        Ok(t) => t,
        Err(p) => {
            return layout::error_page(&signed, "/dashboard/terminals", "Terminal", &p);
        }
    };
    let live = screen(&state, &signed, &t).await;
    if is_fragment(&headers) {
        return layout::fragment(live);
    }
    let simulated = t.kind == TerminalKind::Simulated && caller.mode == ApiKeyMode::Test;
    let idempotency_key = crate::dashboard::session::random_token().unwrap_or_default();
    let base = format!("/dashboard/terminals/{}", t.id);
    let body = html! {
        p.muted { (t.model) " · serial " span.mono { (t.serial_number) } " · " (name(&t.kind)) " · " (name(&t.connection)) " · id " span.mono { (t.id) } }
        div.grid {
            section aria-labelledby="screen-h" {
                h2 id="screen-h" { "Screen" }
                div data-poll=(base) aria-live="polite" { (live) }
            }
            @if simulated {
                section.panel aria-labelledby="card-h" {
                    h2 id="card-h" { "Cardholder" }
                    form method="post" action={ (base) "/helper/present-card" } {
                        (csrf(&signed))
                        label for="card-outcome" { "Card behaviour" }
                        select id="card-outcome" name="outcome" {
                            @for (v, l) in [("approve", "Approve"), ("decline", "Decline"), ("insufficient_funds", "Insufficient funds"), ("card_blocked", "Card blocked"), ("card_expired", "Card expired"), ("invalid_card", "Invalid card"), ("pin_incorrect", "Wrong PIN")] {
                                option value=(v) { (l) }
                            }
                        }
                        label for="card-brand" { "Scheme" }
                        select id="card-brand" name="brand" {
                            @for v in ["visa", "mastercard", "maestro", "amex", "discover", "jcb", "unionpay", "diners"] { option value=(v) { (v) } }
                        }
                        label for="card-entry" { "Entry mode" }
                        select id="card-entry" name="entry_mode" {
                            @for v in ["chip", "contactless", "swipe"] { option value=(v) { (v) } }
                        }
                        label for="card-cvm" { "Cardholder verification" }
                        select id="card-cvm" name="cvm" {
                            @for (v, l) in [("online_pin", "PIN (online)"), ("offline_pin", "PIN (offline)"), ("signature", "Signature"), ("offline_pin_signature", "PIN and signature"), ("consumer_device", "Phone / watch"), ("none", "No CVM")] {
                                option value=(v) { (l) }
                            }
                        }
                        label for="card-pin" { "PIN (typed on the pad; any 4–6 digits — the simulator never sees it)" }
                        input id="card-pin" name="pin" type="password" inputmode="numeric" pattern="[0-9]{4,6}" autocomplete="off";
                        p { button type="submit" id="present-card" { "Present card" } }
                    }
                    div.row {
                        @for (action, label, id) in [("cancel", "Press cancel", "press-cancel"), ("timeout", "Walk away (time out)", "walk-away"), ("hold", "Hold at “Present card”", "hold"), ("disconnect", "Disconnect", "disconnect"), ("connect", "Reconnect", "reconnect")] {
                            form.inline method="post" action={ (base) "/helper/" (action) } {
                                (csrf(&signed))
                                button.secondary type="submit" id=(id) { (label) }
                            }
                        }
                    }
                    p.muted { "An action applies to the interaction waiting for a card now, or — on an idle terminal — to the next one." }
                }
                section.panel aria-labelledby="pos-h" {
                    h2 id="pos-h" { "POS" }
                    form method="post" action={ (base) "/pos" } {
                        (csrf(&signed))
                        // A double click, or the form sent again, starts one sale.
                        input type="hidden" name="idempotency_key" value=(idempotency_key);
                        label for="pos-type" { "Type" }
                        select id="pos-type" name="type" {
                            @for v in ["sale", "auth", "refund", "validate"] { option value=(v) { (v) } }
                        }
                        label for="pos-amount" { "Amount (minor units, e.g. 1250 = 12.50)" }
                        input id="pos-amount" name="amount" inputmode="numeric" value="1250" required;
                        label for="pos-currency" { "Currency" }
                        input id="pos-currency" name="currency" value="EUR" size="4" required;
                        label for="pos-reference" { "Reference (optional)" }
                        input id="pos-reference" name="reference";
                        label for="pos-tip" {
                            input id="pos-tip" type="checkbox" name="tip" value="on_terminal";
                            " Ask for a tip on the terminal (sale or auth)"
                        }
                        p { button type="submit" id="pos-start" { "Start" } }
                    }
                }
            } @else {
                section.panel {
                    h2 { "Device terminal" }
                    p { "A device terminal is driven by the cardholder at the real device." }
                }
            }
            section.panel aria-labelledby="admin-h" {
                h2 id="admin-h" { "Administration" }
                @if t.kind == TerminalKind::Device {
                    form.inline method="post" action={ (base) "/pairing-code" } { (csrf(&signed)) button.secondary type="submit" id="new-pairing-code" { "New pairing code" } }
                    " "
                }
                form.inline method="post" action={ (base) "/revoke" } { (csrf(&signed)) button.danger type="submit" id="revoke-terminal" { "Revoke" } }
            }
        }
    };
    page(
        &signed,
        "/dashboard/terminals",
        &format!("Terminal {}", t.poiid),
        body,
    )
}

async fn helper(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::checked(&signed, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let back = format!("/dashboard/terminals/{id}");
    let s = State(state);
    let a = Auth(signed.current.caller);
    let p = Path(id);
    let result = match action.as_str() {
        "present-card" => {
            let card = serde_json::json!({
                "outcome": form.get("outcome"),
                "brand": form.get("brand"),
                "entry_mode": form.get("entry_mode"),
                "cvm": form.get("cvm"),
            });
            // Only the card's choices go on: the PIN typed on the pad is never sent anywhere.
            let card: serde_json::Map<String, serde_json::Value> = card
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let bytes = Bytes::from(serde_json::to_vec(&card).unwrap_or_default());
            call::<TestHelperResponse, _>(crate::routes::helper_present_card(s, a, p, bytes).await)
                .await
        }
        "cancel" => call(crate::routes::helper_press_cancel(s, a, p).await).await,
        "timeout" => call(crate::routes::helper_timeout(s, a, p).await).await,
        "hold" => call(crate::routes::helper_hold(s, a, p).await).await,
        "disconnect" => call(crate::routes::helper_disconnect(s, a, p).await).await,
        "connect" => call(crate::routes::helper_connect(s, a, p).await).await,
        _ => {
            signed.flash(FlashKind::Error, "Unknown action.");
            return Redirect::to(&back).into_response();
        }
    };
    signed.done(
        result,
        |r| match r.applied_to.as_str() {
            "current" => format!("{action}: applied to the interaction in progress."),
            "next" => format!("{action}: armed for the next interaction."),
            _ => format!("{action}: done (terminal {}).", name(&r.status)),
        },
        &back,
    )
}

/// A tip in the transaction's currency (`1.87 EUR`).
fn tip_text(txn: &poigate_api::TransactionView, tip: i64) -> String {
    poigate_domain::Money::new(tip, txn.amount.currency())
        .map(|m| m.to_string())
        .unwrap_or_default()
}

async fn pos(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::checked(&signed, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let back = format!("/dashboard/terminals/{id}");
    let request = serde_json::json!({
        "terminal": id,
        "type": form.get("type").unwrap_or("sale"),
        "amount": { "value": form.get("amount").and_then(|a| a.parse::<i64>().ok()), "currency": form.get("currency").unwrap_or("EUR") },
        "reference": form.get("reference"),
        // An unchecked box sends nothing; a checked one `on_terminal`.
        "tip": form.get("tip"),
    });
    let request: CreateInteractionRequest = match serde_json::from_value(request) {
        Ok(r) => r,
        Err(_) => {
            signed.flash(
                FlashKind::Error,
                "The amount must be a whole number of minor units (1250 = 12.50).",
            );
            return Redirect::to(&back).into_response();
        }
    };
    let mut api_headers = HeaderMap::new();
    if let Some(v) = form
        .get("idempotency_key")
        .and_then(|k| axum::http::HeaderValue::from_str(k).ok())
    {
        api_headers.insert("idempotency-key", v);
    }
    let result: Result<InteractionView, Problem> = call(
        crate::routes::create_interaction(
            State(state),
            Auth(signed.current.caller),
            api_headers,
            ApiJson(request),
        )
        .await,
    )
    .await;
    signed.done(
        result,
        |i| {
            format!(
                "Started {} {} ({}): {}.",
                name(&i.kind),
                i.amount,
                i.id,
                name(&i.status)
            )
        },
        &back,
    )
}
