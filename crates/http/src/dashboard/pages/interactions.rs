//! Interactions: the list with filters (live), and one interaction with its timeline, outcome,
//! transaction (masked card, EMV data), both receipts on paper, and the money after the sale.

use super::is_fragment;
use crate::AppState;
use crate::dashboard::layout::{self, badge, csrf, kv, name, page};
use crate::dashboard::session::{self, FlashKind};
use crate::dashboard::{Form, Signed, call, problem_text};
use crate::extract::{ApiQuery, Auth};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use poigate_api::*;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/interactions", get(list))
        .route("/dashboard/interactions/{id}", get(detail))
        .route("/dashboard/interactions/{id}/cancel", post(cancel))
        .route("/dashboard/transactions/{id}/{op}", post(money))
}

const STATUSES: [&str; 6] = [
    "pending",
    "in_progress",
    "approved",
    "declined",
    "cancelled",
    "failed",
];

fn rows(list: &[InteractionView]) -> Markup {
    html! {
        table id="interactions" {
            caption.muted { (list.len()) " shown, newest first" }
            thead { tr { th scope="col" { "Interaction" } th scope="col" { "Status" } th scope="col" { "Type" } th scope="col" { "Amount" } th scope="col" { "Terminal" } th scope="col" { "Reference" } th scope="col" { "Sale id" } th scope="col" { "Created" } } }
            tbody {
                @for i in list {
                    tr data-status=(name(&i.status)) {
                        td { a href={ "/dashboard/interactions/" (i.id) } class="mono" { (i.id) } }
                        td { (badge(&name(&i.status))) @if i.overdue { " " span.badge.s-failed { "overdue" } } }
                        td { (name(&i.kind)) }
                        td { (i.amount.to_string()) }
                        td.mono { a href={ "/dashboard/terminals/" (i.terminal) } { (i.terminal) } }
                        td { @if let Some(r) = &i.reference { span.mono.reference { (r) } } }
                        td { @if let Some(s) = &i.sale_id { (s) } }
                        td { (i.created_at.to_string()) }
                    }
                }
            }
        }
    }
}

async fn list(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
    // A day (`YYYY-MM-DD`, UTC) is the API's time range from its midnight to the next.
    let day = q
        .get("date")
        .filter(|d| !d.is_empty())
        .and_then(|d| poigate_domain::Timestamp::parse_rfc3339(&format!("{d}T00:00:00Z")));
    let query = ListInteractionsQuery {
        sale_id: q.get("sale_id").cloned(),
        reference: q.get("reference").cloned(),
        terminal: q.get("terminal").cloned(),
        status: q.get("status").cloned(),
        limit: Some(100),
        created_after: day.map(|d| d.to_rfc3339()),
        created_before: day.map(|d| {
            poigate_domain::Timestamp::from_millis(d.as_millis() + 86_400_000).to_rfc3339()
        }),
        ..Default::default()
    };
    let result: Result<ListOf<InteractionView>, Problem> = call(
        crate::routes::list_interactions(
            State(state),
            Auth(signed.current.caller),
            ApiQuery(query),
        )
        .await,
    )
    .await;
    let region = match result {
        Ok(l) => rows(&l.data),
        Err(p) => html! { p role="alert" { (problem_text(&p)) } },
    };
    if is_fragment(&headers) {
        return layout::fragment(region);
    }
    let poll = match &raw {
        Some(r) if !r.is_empty() => format!("/dashboard/interactions?{r}"),
        _ => "/dashboard/interactions".to_string(),
    };
    let v = |k: &str| q.get(k).cloned().unwrap_or_default();
    let body = html! {
        form method="get" action="/dashboard/interactions" class="row panel" role="search" aria-label="Filter interactions" {
            div { label for="f-status" { "Status" }
                select id="f-status" name="status" {
                    option value="" { "any" }
                    @for s in STATUSES { option value=(s) selected[v("status") == s] { (s.replace('_', " ")) } }
                } }
            div { label for="f-terminal" { "Terminal" } input id="f-terminal" name="terminal" value=(v("terminal")); }
            div { label for="f-reference" { "Reference" } input id="f-reference" name="reference" value=(v("reference")); }
            div { label for="f-sale" { "Sale id" } input id="f-sale" name="sale_id" value=(v("sale_id")); }
            div { label for="f-date" { "Date" } input id="f-date" name="date" type="date" value=(v("date")); }
            div { button type="submit" id="filter" { "Filter" } " " a href="/dashboard/interactions" { "Clear" } }
        }
        div data-poll=(poll) aria-live="polite" { (region) }
    };
    page(&signed, "/dashboard/interactions", "Interactions", body)
}

fn receipt(title: &str, r: Option<&poigate_domain::Receipt>) -> Markup {
    html! {
        figure {
            figcaption { (title) }
            @match r {
                Some(r) => pre.receipt aria-label=(title) { (r.text) },
                None => p.muted { "none" },
            }
        }
    }
}

/// An outcome in a few words: `approved (ZKPP0R)`, `declined: insufficient_funds`.
fn outcome_line(o: &poigate_domain::Outcome) -> String {
    let v = serde_json::to_value(o).unwrap_or_default();
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let result = field("result").unwrap_or_else(|| "outcome".into());
    match (field("auth_code"), field("reason")) {
        (Some(code), _) => format!("{result} ({code})"),
        (None, Some(reason)) => format!("{result}: {reason}"),
        (None, None) => result,
    }
}

/// The parts of the detail page that change while the interaction runs.
async fn live_part(
    state: &AppState,
    signed: &Signed,
    id: &str,
) -> Result<(InteractionView, Markup), Problem> {
    let caller = signed.current.caller;
    let i: InteractionView = call(
        crate::routes::get_interaction(
            State(state.clone()),
            Auth(caller),
            Path(id.to_string()),
            ApiQuery(GetInteractionQuery::default()),
        )
        .await,
    )
    .await?;
    let query = ListEventsQuery {
        limit: Some(1000),
        after_seq: None,
        order: None,
    };
    let events: ListOf<EventView> = call(
        crate::routes::list_events(
            State(state.clone()),
            Auth(caller),
            Path(id.to_string()),
            ApiQuery(query),
        )
        .await,
    )
    .await?;
    let markup = html! {
        dl.kv id="summary" {
            dt { "Status" } dd { (badge(&name(&i.status))) @if i.is_final { " (final)" } @else { " (in progress)" } }
            dt { "Type" } dd { (name(&i.kind)) }
            dt { "Amount" } dd { (i.amount.to_string()) }
            dt { "Terminal" } dd { a href={ "/dashboard/terminals/" (i.terminal) } { (i.terminal) } @if !i.terminal_connected { " (disconnected)" } }
            dt { "Reference" } dd { @if let Some(r) = &i.reference { span.mono id="reference" { (r) } } }
            dt { "Sale id / service id" } dd { (i.sale_id.as_deref().unwrap_or("—")) " / " (i.service_id.as_deref().unwrap_or("—")) }
            dt { "Outcome" } dd id="outcome" {
                @match &i.outcome {
                    Some(o) => (serde_json::to_value(o).map(|v| kv(&v)).unwrap_or_else(|_| html! {})),
                    None => span.muted { "not yet" },
                }
            }
        }
        h2 { "Timeline" }
        ol.timeline id="timeline" {
            @for e in &events.data {
                li data-type=(e.kind) {
                    span.mono { (e.seq) } " " strong { (e.kind) }
                    @if let Some(m) = &e.message { " — " (m) }
                    @if let Some(o) = &e.outcome { " — " (outcome_line(o)) }
                    " " span.muted { (e.created_at.to_string()) }
                }
            }
        }
    };
    Ok((i, markup))
}

/// `value` minor units in the transaction's currency (`5.00 EUR`).
fn minor(value: i64, t: &TransactionView) -> String {
    poigate_domain::Money::new(value, t.amount.currency())
        .map(|m| m.to_string())
        .unwrap_or_else(|_| value.to_string())
}

/// The money of a transaction, which changes after the sale (refunds settle later).
fn money_state(t: &TransactionView, refunds: &[OperationView]) -> Markup {
    html! {
        dl.kv id="transaction" {
            dt { "Status" } dd { (badge(&name(&t.status))) }
            dt { "Condition" } dd { (name(&t.condition)) }
            dt { "Card" } dd.mono id="masked-pan" { (t.masked_pan.as_deref().unwrap_or("—")) }
            dt { "Auth code" } dd.mono { (t.auth_code.as_deref().unwrap_or("—")) }
            @if let Some(m) = &t.decline_message { dt { "Decline" } dd { (m) } }
            // A tip asked on the terminal: included in the authorised amount.
            @if let Some(tip) = t.tip_amount { dt { "Tip" } dd id="tip" { (minor(tip, t)) } }
            dt { "Authorised" } dd { (minor(t.authorized_amount, t)) }
            dt { "Captured" } dd { (minor(t.captured_amount, t)) }
            dt { "Refunded" } dd id="refunded" { (minor(t.refunded_amount, t)) }
            dt { "Refund pending" } dd { (minor(t.refund_pending_amount, t)) }
            dt { "Refundable" } dd id="refundable" { (minor(t.refundable_amount, t)) }
        }
        @if !refunds.is_empty() {
            h2 { "Refunds" }
            ul id="refunds" { @for r in refunds { li { span.mono { (r.id) } " " (r.amount.to_string()) " " (badge(&name(&r.status))) } } }
        }
    }
}

async fn refunds_of(state: &AppState, signed: &Signed, t: &TransactionView) -> Vec<OperationView> {
    call::<ListOf<OperationView>, _>(
        crate::routes::list_refunds(
            State(state.clone()),
            Auth(signed.current.caller),
            Path(t.id.to_string()),
        )
        .await,
    )
    .await
    .map(|l| l.data)
    .unwrap_or_default()
}

async fn detail(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (i, live) = match live_part(&state, &signed, &id).await {
        Ok(x) => x,
        Err(p) => {
            return layout::error_page(&signed, "/dashboard/interactions", "Interaction", &p);
        }
    };
    let refunds = match &i.transaction {
        Some(t) => refunds_of(&state, &signed, t).await,
        None => Vec::new(),
    };
    if is_fragment(&headers) {
        return match (&i.transaction, query.as_deref()) {
            (Some(t), Some("part=money")) => layout::fragment(money_state(t, &refunds)),
            _ => layout::fragment(live),
        };
    }
    let base = format!("/dashboard/interactions/{}", i.id);
    // Each rendering of the page gets its own idempotency key: a form sent twice (a double
    // click, a reload) moves money once.
    let idem = session::random_token().unwrap_or_default();
    let refunds: Vec<OperationView> = match &i.transaction {
        Some(t) => call::<ListOf<OperationView>, _>(
            crate::routes::list_refunds(
                State(state.clone()),
                Auth(signed.current.caller),
                Path(t.id.to_string()),
            )
            .await,
        )
        .await
        .map(|l| l.data)
        .unwrap_or_default(),
        None => Vec::new(),
    };
    let body = html! {
        // Polled only while it can still change.
        div data-poll=[(!i.is_final).then_some(base.as_str())] aria-live="polite" { (live) }
        @if !i.is_final {
            form method="post" action={ (base) "/cancel" } { (csrf(&signed)) button.danger type="submit" id="cancel-interaction" { "Cancel interaction" } }
        }
        @if let Some(t) = &i.transaction {
            h2 { "Transaction " span.mono { (t.id) } }
            div.grid {
                section.panel {
                    div data-poll={ (base) "?part=money" } aria-live="polite" { (money_state(t, &refunds)) }
                    @if let Some(card) = &t.card { h2 { "Card" } (serde_json::to_value(card).map(|v| kv(&v)).unwrap_or_else(|_| html! {})) }
                    @if let Some(emv) = &t.emv { h2 { "EMV data" } (serde_json::to_value(emv).map(|v| kv(&v)).unwrap_or_else(|_| html! {})) }
                }
                section.panel aria-labelledby="money-h" {
                    h2 id="money-h" { "Money after the sale" }
                    @for (op, label) in [("capture", "Capture"), ("void", "Void")] {
                        form.inline method="post" action={ "/dashboard/transactions/" (t.id) "/" (op) } {
                            (csrf(&signed))
                            input type="hidden" name="idempotency_key" value={ (idem) "-" (op) };
                            input type="hidden" name="back" value=(base);
                            button.secondary type="submit" id={ (op) "-transaction" } { (label) }
                        }
                        " "
                    }
                    form method="post" action={ "/dashboard/transactions/" (t.id) "/refund" } {
                        (csrf(&signed))
                        input type="hidden" name="idempotency_key" value={ (idem) "-refund" };
                        input type="hidden" name="back" value=(base);
                        label for="refund-amount" { "Refund amount (minor units; empty = all that is left)" }
                        input id="refund-amount" name="amount" inputmode="numeric";
                        " " button type="submit" id="refund" { "Refund" }
                    }
                }
            }
            h2 { "Receipts" }
            div.grid {
                (receipt("Customer receipt", t.receipts.customer.as_ref()))
                (receipt("Merchant receipt", t.receipts.merchant.as_ref()))
            }
        }
    };
    page(
        &signed,
        "/dashboard/interactions",
        &format!("Interaction {}", i.id),
        body,
    )
}

async fn cancel(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = Form::checked(&signed, &headers, &body) {
        return r.into_response();
    }
    let back = format!("/dashboard/interactions/{id}");
    let result: Result<CancelResponse, Problem> = call(
        crate::routes::cancel_interaction(
            State(state),
            Auth(signed.current.caller),
            Path(id),
            ApiQuery(CancelQuery { wait: Some(5) }),
        )
        .await,
    )
    .await;
    signed.done(result, |c| format!("Cancel: {}.", name(&c.result)), &back)
}

async fn money(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::checked(&signed, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    // Only back to a dashboard page (never an open redirect).
    let back = form
        .get("back")
        .filter(|b| b.starts_with("/dashboard/") && !b.starts_with("//"))
        .unwrap_or("/dashboard/interactions")
        .to_string();
    let mut api_headers = HeaderMap::new();
    if let Some(v) = form
        .get("idempotency_key")
        .and_then(|k| HeaderValue::from_str(k).ok())
    {
        api_headers.insert("idempotency-key", v);
    }
    let amount = match form.get("amount").map(str::parse::<i64>) {
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            signed.flash(
                FlashKind::Error,
                "The amount must be a whole number of minor units.",
            );
            return Redirect::to(&back).into_response();
        }
        None => None,
    };
    let s = State(state);
    let a = Auth(signed.current.caller);
    let json = |v: serde_json::Value| Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
    let result: Result<OperationResponse, Problem> = match op.as_str() {
        "capture" => {
            call(
                crate::routes::capture(
                    s,
                    a,
                    Path(id),
                    api_headers,
                    json(serde_json::json!({ "amount": amount })),
                )
                .await,
            )
            .await
        }
        "void" => call(crate::routes::void(s, a, Path(id), api_headers).await).await,
        "refund" => {
            call(
                crate::routes::create_refund(
                    s,
                    a,
                    Path(id),
                    api_headers,
                    json(serde_json::json!({ "amount": amount })),
                )
                .await,
            )
            .await
        }
        _ => {
            signed.flash(FlashKind::Error, "Unknown operation.");
            return Redirect::to(&back).into_response();
        }
    };
    signed.done(
        result,
        |r| {
            format!(
                "{} of {}: {}.",
                name(&r.operation.kind),
                r.operation.amount,
                name(&r.operation.status)
            )
        },
        &back,
    )
}
