//! Server-Sent Events streams that resume by themselves.
//!
//! An [`EventStream`] reads `text/event-stream` and hands out one [`SseMessage`] per event.
//! When the connection drops (network failure, a proxy's idle cut, a gateway that drains
//! and says `event: reconnect`), it reconnects after a backoff and sends `Last-Event-ID` =
//! the `id` of the last event it handed out. The server resumes right after it, so no
//! event is lost and none comes twice. A half-received event (no blank line yet) is
//! dropped: the server sends it again after the reconnect.

use crate::{Client, ClientError};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::pin::Pin;
use std::time::Duration;

/// One event of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseMessage {
    /// The event's id (`Last-Event-ID` after it), when the server gave one.
    pub id: Option<String>,
    /// The event type (`message` when the server gave none).
    pub event: String,
    /// The data lines, joined by `\n`.
    pub data: String,
}

impl SseMessage {
    /// The data decoded as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.data)
    }
}

type Body = Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Consecutive failed connection attempts after which [`EventStream::next`] reports the
/// error (the next call tries again).
const REPORT_AFTER_FAILURES: u32 = 5;

/// A resumable event stream; see the module documentation.
pub struct EventStream {
    client: Client,
    path: String,
    query: Vec<(String, String)>,
    last_event_id: Option<String>,
    /// A message after which the server ends the stream for good (an interaction's final
    /// event): the stream ends there instead of reconnecting.
    ends_with: Option<fn(&SseMessage) -> bool>,
    body: Option<Body>,
    buffer: Vec<u8>,
    partial: Partial,
    /// The server's `retry:` hint, used as the reconnection delay when given.
    retry_hint: Option<Duration>,
    failures: u32,
    reconnects: u32,
    finished: bool,
    /// Whether a connection was ever opened (a later one is a reconnection).
    opened: bool,
}

#[derive(Default)]
struct Partial {
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
}

impl EventStream {
    pub(crate) fn new(
        client: Client,
        path: String,
        query: Vec<(String, String)>,
        last_event_id: Option<String>,
        ends_with: Option<fn(&SseMessage) -> bool>,
    ) -> EventStream {
        EventStream {
            client,
            path,
            query,
            last_event_id,
            ends_with,
            body: None,
            buffer: Vec::new(),
            partial: Partial::default(),
            retry_hint: None,
            failures: 0,
            reconnects: 0,
            finished: false,
            opened: false,
        }
    }

    /// The `id` of the last event handed out: where a reconnection resumes.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// How many times the stream reconnected after a dropped connection.
    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// The next event; `None` once the stream ended for good (an interaction's final
    /// event). Connection problems are handled inside (reconnect with backoff); an error is
    /// returned when the server refuses the stream (`401`, `404` …: not retried) or after
    /// several connection attempts in a row failed (calling again keeps trying).
    pub async fn next(&mut self) -> Option<Result<SseMessage, ClientError>> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(message) = self.take_message() {
                if message.event == "reconnect" && message.id.is_none() {
                    // The gateway is draining: resume elsewhere, after its `retry:` hint.
                    self.drop_connection();
                    continue;
                }
                if let Some(id) = &message.id {
                    self.last_event_id = Some(id.clone());
                }
                if self.ends_with.is_some_and(|end| end(&message)) {
                    self.finished = true;
                }
                return Some(Ok(message));
            }
            let Some(body) = self.body.as_mut() else {
                if let Err(e) = self.connect().await {
                    return Some(Err(e));
                }
                continue;
            };
            match body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                // The connection ended or broke: whatever event was half-read is dropped.
                Some(Err(_)) | None => self.drop_connection(),
            }
        }
    }

    fn drop_connection(&mut self) {
        self.body = None;
        self.buffer.clear();
        self.partial = Partial::default();
    }

    /// Opens the stream (again), waiting first when this is a reconnection.
    async fn connect(&mut self) -> Result<(), ClientError> {
        loop {
            if self.opened || self.failures > 0 {
                let backoff = self.client.retry_policy().backoff(self.failures.max(1));
                let wait = self
                    .retry_hint
                    .unwrap_or(backoff)
                    .max(crate::retry::jitter(Duration::from_millis(50)));
                tokio::time::sleep(wait).await;
            }
            let mut req = self
                .client
                .request(Method::GET, &self.path)
                .query(&self.query)
                .header(reqwest::header::ACCEPT, "text/event-stream");
            if let Some(id) = &self.last_event_id {
                req = req.header("Last-Event-ID", id);
            }
            let error = match req.send().await {
                Ok(r) if r.status().is_success() => {
                    if self.opened {
                        self.reconnects += 1;
                    }
                    self.failures = 0;
                    self.body = Some(Box::pin(r.bytes_stream()));
                    self.opened = true;
                    return Ok(());
                }
                Ok(r) => {
                    let status = r.status();
                    let retryable = crate::retry::retryable_status(status);
                    let e = crate::decode::<serde::de::IgnoredAny>(r)
                        .await
                        .err()
                        .unwrap_or(ClientError::Decode {
                            status,
                            body: String::new(),
                        });
                    if !retryable {
                        self.finished = status != StatusCode::UNAUTHORIZED
                            && status != StatusCode::TOO_MANY_REQUESTS
                            && status.is_client_error();
                        return Err(e);
                    }
                    e
                }
                Err(e) => ClientError::Http(e),
            };
            self.failures += 1;
            if self.failures.is_multiple_of(REPORT_AFTER_FAILURES) {
                return Err(error);
            }
        }
    }

    /// Parses complete lines from the buffer; returns an event when a blank line ends one.
    fn take_message(&mut self) -> Option<SseMessage> {
        loop {
            let newline = self.buffer.iter().position(|&b| b == b'\n')?;
            let mut line: Vec<u8> = self.buffer.drain(..=newline).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if line.is_empty() {
                let p = std::mem::take(&mut self.partial);
                if p.data.is_empty() && p.event.is_none() {
                    continue;
                }
                return Some(SseMessage {
                    id: p.id,
                    event: p.event.unwrap_or_else(|| "message".into()),
                    data: p.data.join("\n"),
                });
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()),
                None => (line.clone(), String::new()),
            };
            match field.as_str() {
                "id" => self.partial.id = Some(value),
                "event" => self.partial.event = Some(value),
                "data" => self.partial.data.push(value),
                "retry" => {
                    if let Ok(ms) = value.parse::<u64>() {
                        self.retry_hint = Some(Duration::from_millis(ms));
                    }
                }
                _ => {}
            }
        }
    }
}

impl Client {
    /// The events of one interaction as they happen (`GET
    /// /v1/interactions/{id}/events/stream`), from the start or after `after_seq`. Each
    /// message's `data` is an [`EventView`](poigate_api::EventView); the stream ends after
    /// the final event (`completed`).
    pub fn interaction_events(&self, id: &str, after_seq: Option<u64>) -> EventStream {
        EventStream::new(
            self.clone(),
            format!("/v1/interactions/{id}/events/stream"),
            Vec::new(),
            after_seq.map(|s| s.to_string()),
            Some(|m| m.event == "completed"),
        )
    }

    /// Every event of the merchant as it happens (`GET /v1/events/stream`): the webhook
    /// events (`interaction.updated`, `interaction.completed`, `transaction.updated` …), each
    /// message's `data` the exact webhook body. `types` filters (empty: all);
    /// `last_event_id` resumes after an event received earlier. The stream never ends by
    /// itself.
    pub fn merchant_events(&self, types: &[&str], last_event_id: Option<&str>) -> EventStream {
        let query = if types.is_empty() {
            Vec::new()
        } else {
            vec![("types".to_string(), types.join(","))]
        };
        EventStream::new(
            self.clone(),
            "/v1/events/stream".into(),
            query,
            last_event_id.map(String::from),
            None,
        )
    }
}
