//! Interactions and transactions: create, status (with long-poll), events, SSE, cancel,
//! lookup.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Auth, path_id};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use poigate_api::*;
use poigate_domain::{Event, Interaction, InteractionId, Money, MoneyError, Status, TransactionId};
use poigate_engine::{Caller, CancelAnswer, CreateRequest, Engine};
use poigate_engine::{EventOrder, InteractionFilter};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

/// Longest long-poll (`wait`) a request may ask for, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// `Retry-After` of a long-poll cut short by a drain: come back at once (to another node).
const DRAIN_RETRY_AFTER_SECONDS: &str = "1";

/// SSE `retry:` of a stream ended by a drain: reconnect after this long, with `Last-Event-ID`.
const DRAIN_SSE_RETRY: Duration = Duration::from_millis(1000);

fn money_from(amount: &AmountInput) -> Result<Money, ApiError> {
    Money::from_parts(amount.value, &amount.currency).map_err(|e| {
        let field = match e {
            MoneyError::UnknownCurrency(_) => "amount.currency",
            _ => "amount.value",
        };
        ApiError::invalid_field(field, e.code(), e.to_string())
    })
}

fn wait_duration(wait: Option<u64>) -> Result<Option<Duration>, ApiError> {
    match wait {
        Some(w) if w > MAX_WAIT_SECONDS => Err(ApiError::invalid_field(
            "wait",
            "out_of_range",
            format!("wait is at most {MAX_WAIT_SECONDS} seconds"),
        )),
        Some(0) | None => Ok(None),
        Some(w) => Ok(Some(Duration::from_secs(w))),
    }
}

/// Renders an interaction with its transaction, if it has one.
pub(crate) async fn view(
    engine: &Engine,
    caller: &Caller,
    interaction: &Interaction,
) -> Result<InteractionView, ApiError> {
    let transaction = match interaction.transaction_id {
        Some(id) => Some(engine.transactions().transaction(caller, id).await?),
        None => None,
    };
    Ok(InteractionView::new(interaction, transaction.as_ref()))
}

/// Create an interaction on a terminal
///
/// Accepted requests are durable before the 202 answer. The terminal is then asked to run
/// the cardholder interaction; follow it with `GET /v1/interactions/{id}?wait=N`, the event
/// list, the SSE stream or webhooks. A retry with the same `Idempotency-Key` (24 h) or the
/// same `sale_id` + `service_id` (48 h) returns the original answer.
#[utoipa::path(post, path = "/v1/interactions", tag = "interactions",
    request_body = CreateInteractionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key with the same body returns the original answer (24 h)")),
    responses(
        (status = 202, description = "Accepted and durable; the terminal was asked to start", body = InteractionView),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`livemode_mismatch`: a live key cannot use a simulated terminal", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`terminal_busy` (names the blocking interaction), `terminal_offline`, or `idempotency_in_progress`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_mismatch` or `terminal_not_found`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_interaction(
    State(state): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateInteractionRequest>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::invalid_field(
                        "Idempotency-Key",
                        "invalid_idempotency_key",
                        "must be printable ASCII",
                    )
                })?
                .to_string(),
        ),
        None => None,
    };
    let request = CreateRequest {
        terminal: body.terminal,
        kind: body.kind,
        amount: money_from(&body.amount)?,
        reference: body.reference,
        sale_id: body.sale_id,
        service_id: body.service_id,
        timeout_seconds: body.timeout_seconds,
        metadata: body.metadata.unwrap_or_default(),
        webhooks: body.webhooks.unwrap_or_default(),
        ask_for_tip: match body.tip {
            Some(TipRequest::OnTerminal) => true,
            None => false,
        },
        idempotency_key,
    };
    let created = state.engine.interactions().create(&caller, request).await?;
    let body = view(&state.engine, &caller, &created.interaction).await?;
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/interactions/{}", created.interaction.id)) {
        headers.insert(header::LOCATION, v);
    }
    if created.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Get an interaction (optionally long-polling)
///
/// With `wait=N` the answer comes as soon as the interaction is final (or, with
/// `after_seq=S`, as soon as it has an event newer than `S`), at the latest after N seconds.
/// `final: true` means the status will never change again.
#[utoipa::path(get, path = "/v1/interactions/{id}", tag = "interactions",
    params(("id" = String, Path, description = "Interaction id"), GetInteractionQuery),
    responses(
        (status = 200, description = "The interaction", body = InteractionView,
            headers(("poigate-committed-at" = String, description = "On a long-poll woken by a change: when that change was committed, in microseconds since the Unix epoch"),
                    ("Retry-After" = String, description = "On a long-poll cut short because the gateway is shutting down (draining): the interaction is not final; poll again after this many seconds (another node answers)"))),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interaction for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_interaction(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<GetInteractionQuery>,
) -> Result<Response, ApiError> {
    let id: InteractionId = path_id(&id, "interaction")?;
    let waited = match wait_duration(query.wait)? {
        Some(wait) => {
            tracing::debug!(interaction = %id, wait_seconds = wait.as_secs(), "long-poll parked");
            state
                .engine
                .interactions()
                .wait_timed(&caller, id, query.after_seq, wait)
                .await?
        }
        None => {
            let (interaction, transaction) = state
                .engine
                .interactions()
                .get_with_transaction(&caller, id)
                .await?;
            return Ok(
                Json(InteractionView::new(&interaction, transaction.as_ref())).into_response(),
            );
        }
    };
    let body = match waited.transaction {
        Some(t) => InteractionView::new(&waited.interaction, Some(&t)),
        None => view(&state.engine, &caller, &waited.interaction).await?,
    };
    let mut response = Json(body).into_response();
    // The gateway is draining (shutting down): the long-poll ended early with the state as it
    // is; the client polls again, which a load balancer sends to another node.
    if query.wait.is_some_and(|w| w > 0)
        && !waited.interaction.is_final()
        && state.engine.is_draining()
    {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(DRAIN_RETRY_AFTER_SECONDS),
        );
    }
    // When a long-poll was woken by a change: when that change was committed (µs since the
    // epoch), so clients and benchmarks can see how fast the wake-up was.
    if let Some(micros) = waited.committed_at_micros
        && let Ok(v) = HeaderValue::from_str(&micros.to_string())
    {
        response.headers_mut().insert("poigate-committed-at", v);
    }
    Ok(response)
}

/// List the events of an interaction
#[utoipa::path(get, path = "/v1/interactions/{id}/events", tag = "interactions",
    params(("id" = String, Path, description = "Interaction id"), ListEventsQuery),
    responses(
        (status = 200, description = "Events, gap-free by `seq`", body = ListOf<EventView>),
        (status = 404, description = "No such interaction for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListEventsQuery>,
) -> Result<Json<ListOf<EventView>>, ApiError> {
    let id: InteractionId = path_id(&id, "interaction")?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "out_of_range",
            "limit is 1 to 1000",
        ));
    }
    let order = match query.order.unwrap_or_default() {
        Order::Asc => EventOrder::Asc,
        Order::Desc => EventOrder::Desc,
    };
    let mut events = state
        .engine
        .interactions()
        .events(&caller, id, query.after_seq.unwrap_or(0), limit + 1, order)
        .await?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    Ok(Json(ListOf::new(
        events.iter().map(EventView::new).collect(),
        has_more,
        None,
    )))
}

/// Stream the events of an interaction (Server-Sent Events)
///
/// Each SSE message has `id` = the event's `seq`, `event` = its type and `data` = the event
/// as JSON. The stream ends after the final event. Reconnect with `Last-Event-ID` (or
/// `?after_seq=`) to resume without gaps or duplicates. When the gateway shuts down
/// (drains), the stream ends with an `event: reconnect` message carrying a `retry:` hint and
/// no `id`: reconnect with `Last-Event-ID`, another node answers.
#[utoipa::path(get, path = "/v1/interactions/{id}/events/stream", tag = "interactions",
    params(("id" = String, Path, description = "Interaction id"),
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this seq"),
           ("after_seq" = Option<u64>, Query, description = "Resume after this seq")),
    responses(
        (status = 200, description = "text/event-stream of events", content_type = "text/event-stream", body = poigate_api::EventStreamMessage),
        (status = 404, description = "No such interaction for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn stream_events(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SseQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let id: InteractionId = path_id(&id, "interaction")?;
    state.engine.interactions().get(&caller, id).await?;
    let from_header = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "Last-Event-ID",
                        "invalid_value",
                        "must be an event seq",
                    )
                })?,
        ),
        None => None,
    };
    let after = from_header.or(query.after_seq).unwrap_or(0);
    let stream = event_stream(state.engine.clone(), caller, id, after);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SseQuery {
    after_seq: Option<u64>,
}

struct StreamState {
    engine: Engine,
    caller: Caller,
    id: InteractionId,
    last: u64,
    pending: VecDeque<Event>,
    done: bool,
    /// Counts this stream in `poigate_sse_streams` until the client goes away.
    _open: crate::observe::GaugeGuard,
}

/// The last message of a stream ended by a drain: `event: reconnect` with a `retry:` hint
/// and no `id`, so the client's `Last-Event-ID` stays the last event it received and it
/// resumes without gaps on whichever node answers next.
pub(crate) fn reconnect_event() -> SseEvent {
    SseEvent::default()
        .event("reconnect")
        .retry(DRAIN_SSE_RETRY)
        .data(r#"{"reason":"draining"}"#)
}

fn event_stream(
    engine: Engine,
    caller: Caller,
    id: InteractionId,
    after: u64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let start = StreamState {
        engine,
        caller,
        id,
        last: after,
        pending: VecDeque::new(),
        done: false,
        _open: crate::observe::GaugeGuard::new("poigate_sse_streams"),
    };
    stream::unfold(start, |mut st| async move {
        loop {
            if let Some(event) = st.pending.pop_front() {
                st.last = event.seq;
                st.done |= event.kind.is_final();
                let view = EventView::new(&event);
                let sse = SseEvent::default()
                    .id(event.seq.to_string())
                    .event(view.kind.clone())
                    .json_data(&view)
                    .unwrap_or_else(|_| SseEvent::default().comment("unserialisable event"));
                return Some((Ok(sse), st));
            }
            if st.done {
                return None;
            }
            // Draining: events already committed are sent above and below; then the client
            // is told to resume elsewhere.
            let draining = st.engine.is_draining();
            match st
                .engine
                .interactions()
                .events(&st.caller, st.id, st.last, 100, EventOrder::Asc)
                .await
            {
                Ok(events) if !events.is_empty() => {
                    st.pending.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(_) => return None,
            }
            if draining {
                st.done = true;
                return Some((Ok(reconnect_event()), st));
            }
            let interactions = st.engine.interactions();
            let wait = interactions.wait(&st.caller, st.id, Some(st.last), Duration::from_secs(30));
            match poigate_engine::metrics::in_stream(wait).await {
                Ok(i) if i.is_final() && i.last_seq <= st.last => return None,
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    })
}

/// Cancel an interaction
///
/// Before the terminal acknowledged it, the interaction is cancelled at once (`cancelled`).
/// In flight, the cancel is forwarded and the terminal decides (`cancel_requested`; with
/// `wait=N` the answer waits for the decision). If the interaction already ended otherwise,
/// the answer is `too_late` with the final state.
#[utoipa::path(post, path = "/v1/interactions/{id}/cancel", tag = "interactions",
    params(("id" = String, Path, description = "Interaction id"), CancelQuery),
    responses(
        (status = 200, description = "`cancelled` or `too_late`", body = CancelResponse),
        (status = 202, description = "`cancel_requested`: forwarded, the terminal decides", body = CancelResponse),
        (status = 404, description = "No such interaction for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn cancel_interaction(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<CancelQuery>,
) -> Result<Response, ApiError> {
    let id: InteractionId = path_id(&id, "interaction")?;
    let wait = wait_duration(query.wait)?;
    let mut result = state.engine.interactions().cancel(&caller, id).await?;
    if result.answer == CancelAnswer::CancelRequested
        && let Some(wait) = wait
    {
        let interaction = state
            .engine
            .interactions()
            .wait(&caller, id, None, wait)
            .await?;
        result.answer = match interaction.status {
            Status::Cancelled => CancelAnswer::Cancelled,
            s if s.is_final() => CancelAnswer::TooLate,
            _ => CancelAnswer::CancelRequested,
        };
        result.interaction = interaction;
    }
    let (status, kind) = match result.answer {
        CancelAnswer::Cancelled => (StatusCode::OK, CancelResultKind::Cancelled),
        CancelAnswer::TooLate => (StatusCode::OK, CancelResultKind::TooLate),
        CancelAnswer::CancelRequested => (StatusCode::ACCEPTED, CancelResultKind::CancelRequested),
    };
    let body = CancelResponse {
        result: kind,
        interaction: view(&state.engine, &caller, &result.interaction).await?,
    };
    Ok((status, Json(body)).into_response())
}

/// Look interactions up by POS references
///
/// Finds what a POS created when it lost the response: by `sale_id` + `service_id`, by
/// `reference`, by terminal or status. Newest first; page with `cursor`.
#[utoipa::path(get, path = "/v1/interactions", tag = "interactions",
    params(ListInteractionsQuery),
    responses(
        (status = 200, description = "Matching interactions, newest first", body = ListOf<InteractionView>),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_interactions(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(query): ApiQuery<ListInteractionsQuery>,
) -> Result<Json<ListOf<InteractionView>>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "out_of_range",
            "limit is 1 to 100",
        ));
    }
    let status = match &query.status {
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::invalid_field(
                "status",
                "invalid_value",
                "one of pending, in_progress, approved, declined, cancelled, failed",
            )
        })?),
        None => None,
    };
    let before = match &query.cursor {
        Some(c) => Some(c.parse::<InteractionId>().map_err(|_| {
            ApiError::invalid_field(
                "cursor",
                "invalid_value",
                "use the next_cursor of a previous page",
            )
        })?),
        None => None,
    };
    let time_bound =
        |field: &str, raw: &Option<String>| -> Result<Option<InteractionId>, ApiError> {
            match raw {
                None => Ok(None),
                Some(t) => poigate_domain::Timestamp::parse_rfc3339(t)
                    .map(|at| Some(InteractionId::first_at(at)))
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            field,
                            "invalid_value",
                            "an RFC 3339 time, e.g. 2026-11-30T00:00:00Z",
                        )
                    }),
            }
        };
    let since = time_bound("created_after", &query.created_after)?;
    // Ids are time-ordered: "created before T" is "id below the first id of T"; with a
    // cursor too, the lower of both.
    let before = match (before, time_bound("created_before", &query.created_before)?) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let terminal_id = match &query.terminal {
        Some(reference) => match state
            .engine
            .admin()
            .find_terminal_for(&caller, reference)
            .await
        {
            Ok(t) => Some(t.terminal.id),
            Err(poigate_engine::EngineError::NotFound(_)) => {
                return Ok(Json(ListOf::new(Vec::new(), false, None)));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let filter = InteractionFilter {
        sale_id: query.sale_id,
        service_id: query.service_id,
        reference: query.reference,
        terminal_id,
        status,
        // The engine sets the caller's mode.
        livemode: None,
        before,
        since,
        limit: limit + 1,
    };
    let mut found = state
        .engine
        .interactions()
        .find_with_transactions(&caller, &filter)
        .await?;
    let has_more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next_cursor = if has_more {
        found.last().map(|(i, _)| i.id.to_string())
    } else {
        None
    };
    let data = found
        .iter()
        .map(|(i, t)| InteractionView::new(i, t.as_ref()))
        .collect();
    Ok(Json(ListOf::new(data, has_more, next_cursor)))
}

/// Get a transaction
#[utoipa::path(get, path = "/v1/transactions/{id}", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id")),
    responses(
        (status = 200, description = "The transaction, with masked card, EMV data and receipts", body = TransactionView),
        (status = 404, description = "No such transaction for this merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_transaction(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<TransactionView>, ApiError> {
    let id: TransactionId = path_id(&id, "transaction")?;
    let txn = state.engine.transactions().transaction(&caller, id).await?;
    Ok(Json(TransactionView::new(&txn)))
}
