//! `GET /v1/events/stream`: every webhook event of the caller's merchant (and mode), live,
//! as Server-Sent Events — what `poigate listen` and a dashboard follow.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Auth};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use poigate_domain::WebhookEventType;
use poigate_engine::Caller;
use poigate_engine::feed::FeedEntry;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// `GET /v1/events/stream` query.
#[derive(serde::Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MerchantStreamQuery {
    /// Comma-separated event types to receive (default: all), e.g.
    /// `interaction.completed,transaction.updated`.
    types: Option<String>,
}

/// Stream every event of the merchant (Server-Sent Events)
///
/// One SSE message per webhook event of the caller's merchant and mode, as it is committed:
/// `id` = `<epoch>-<n>` (a position in this node's feed), `event` = the event type, `data`
/// = exactly the body a webhook endpoint receives (`{id, type, created_at, data}`). The
/// first message is `event: ready` (data `{"epoch": …}`, `id` = the position the stream
/// starts from): the stream is open and every event committed from then on will follow.
/// Reconnect with `Last-Event-ID` to resume after the last message received: the node keeps
/// its last 4,096 events (all merchants) for this. When it cannot resume — the position is
/// older than that, or from another process (a restart, another node) — the stream starts
/// with an `event: gap` message (no `id`) and continues from now: events may have been
/// missed, and webhooks remain the durable delivery. A draining gateway ends the stream
/// with `event: reconnect`, as the interaction stream does.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events",
    params(MerchantStreamQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this message (`<epoch>-<n>`)")),
    responses(
        (status = 200, description = "text/event-stream of webhook events", content_type = "text/event-stream", body = poigate_api::MerchantEventStreamMessage),
    ),
    security(("bearer" = [])))]
pub async fn stream_merchant_events(
    State(state): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<MerchantStreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let types = match query.types.as_deref() {
        None | Some("") | Some("*") => None,
        Some(list) => {
            let mut types = Vec::new();
            for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let parsed = WebhookEventType::parse(t).ok_or_else(|| {
                    ApiError::invalid_field(
                        "types",
                        "unknown_event_type",
                        format!("`{t}` is not an event type"),
                    )
                })?;
                types.push(parsed);
            }
            Some(types)
        }
    };
    let after = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().split_once('-'))
                .and_then(|(epoch, n)| Some((epoch.to_string(), n.parse::<u64>().ok()?)))
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "Last-Event-ID",
                        "invalid_value",
                        "must be the id of a message of this stream (<epoch>-<n>)",
                    )
                })?,
        ),
    };
    let feed = state.engine.event_feed();
    let start = feed.follow(after.clone());
    let st = Follower {
        engine: state.engine.clone(),
        caller,
        types,
        epoch: feed.epoch().to_string(),
        last: start.position,
        pending: start.backlog.into(),
        gap: start.gap,
        ready: false,
        live: start.live,
        done: false,
        _open: crate::observe::GaugeGuard::new("poigate_sse_streams"),
    };
    Ok(Sse::new(follow(st)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Follower {
    engine: poigate_engine::Engine,
    caller: Caller,
    types: Option<Vec<WebhookEventType>>,
    epoch: String,
    /// The feed number of the last message considered (sent or filtered out).
    last: u64,
    pending: VecDeque<Arc<FeedEntry>>,
    gap: bool,
    /// Whether the `ready` message was sent.
    ready: bool,
    live: broadcast::Receiver<Arc<FeedEntry>>,
    done: bool,
    _open: crate::observe::GaugeGuard,
}

impl Follower {
    fn wants(&self, entry: &FeedEntry) -> bool {
        let m = &entry.message;
        m.merchant_id == self.caller.merchant_id
            && m.livemode == self.caller.livemode()
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.contains(&m.event_type))
    }

    fn message(&self, entry: &FeedEntry) -> SseEvent {
        match poigate_webhooks::render::body(&entry.message) {
            Ok(body) => SseEvent::default()
                .id(format!("{}-{}", self.epoch, entry.number))
                .event(entry.message.event_type.as_str())
                .data(String::from_utf8_lossy(&body)),
            Err(_) => SseEvent::default().comment("unserialisable event"),
        }
    }
}

fn gap_event() -> SseEvent {
    SseEvent::default().event("gap").data(
        r#"{"reason":"cannot_resume","detail":"events between the Last-Event-ID and now may be missing (too old, or from another process); look objects up or rely on webhooks"}"#,
    )
}

fn follow(start: Follower) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    stream::unfold(start, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if !st.ready {
                st.ready = true;
                // With an id: a client cut off before the first event resumes from here.
                let ready = SseEvent::default()
                    .id(format!("{}-{}", st.epoch, st.last))
                    .event("ready")
                    .data(serde_json::json!({ "epoch": st.epoch }).to_string());
                return Some((Ok(ready), st));
            }
            if st.gap {
                st.gap = false;
                return Some((Ok(gap_event()), st));
            }
            if let Some(entry) = st.pending.pop_front() {
                if entry.number <= st.last {
                    continue;
                }
                st.last = entry.number;
                if st.wants(&entry) {
                    let message = st.message(&entry);
                    return Some((Ok(message), st));
                }
                continue;
            }
            let drained = st.engine.drained();
            tokio::select! {
                received = st.live.recv() => match received {
                    Ok(entry) => st.pending.push_back(entry),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the live channel: catch up from the ring if it still
                        // holds what was skipped.
                        match st.engine.event_feed().since(st.last) {
                            Some(entries) => st.pending.extend(entries),
                            None => st.gap = true,
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = drained => {
                    st.done = true;
                    return Some((Ok(super::interactions::reconnect_event()), st));
                }
            }
        }
    })
}
