//! A real webhook receiver on port 0 that records every request and answers as told.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }
}

/// How to answer the next requests.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// A status with a `Retry-After` header (seconds).
    RetryAfter(u16, u64),
}

#[derive(Default)]
struct Inner {
    /// Every request as it arrived, before a stall (a request cut by its sender's death
    /// is here and never in `received`).
    arrived: Vec<Received>,
    received: Vec<Received>,
    script: VecDeque<Reply>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    /// While true, requests wait (a receiver that hangs).
    stalled: watch::Sender<bool>,
    count: watch::Sender<usize>,
    arrived: watch::Sender<usize>,
}

pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Shared,
    _task: tokio::task::JoinHandle<()>,
}

async fn handle(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut inner = match shared.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        inner.arrived.push(Received {
            path: uri.path().to_string(),
            headers: headers.clone(),
            body: body.clone(),
        });
    }
    shared.arrived.send_modify(|n| *n += 1);
    let mut stalled = shared.stalled.subscribe();
    while *stalled.borrow_and_update() {
        if stalled.changed().await.is_err() {
            break;
        }
    }
    let reply = {
        let mut inner = match shared.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        inner.received.push(Received {
            path: uri.path().to_string(),
            headers,
            body,
        });
        inner.script.pop_front().unwrap_or(Reply::Status(200))
    };
    shared.count.send_modify(|n| *n += 1);
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::OK)
            .into_response(),
        Reply::RetryAfter(code, secs) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            [("retry-after", secs.to_string())],
        )
            .into_response(),
    }
}

impl WebhookReceiver {
    pub async fn start() -> anyhow::Result<WebhookReceiver> {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner::default())),
            stalled: watch::Sender::new(false),
            count: watch::Sender::new(0),
            arrived: watch::Sender::new(0),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WebhookReceiver {
            addr,
            shared,
            _task: task,
        })
    }

    /// The URL of a path on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests with these replies, then 200.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        if let Ok(mut inner) = self.shared.inner.lock() {
            inner.script.extend(replies);
        }
    }

    /// Makes requests hang (true) or lets them through (false).
    pub fn stall(&self, stalled: bool) {
        self.shared.stalled.send_replace(stalled);
    }

    pub fn received(&self) -> Vec<Received> {
        match self.shared.inner.lock() {
            Ok(inner) => inner.received.clone(),
            Err(p) => p.into_inner().received.clone(),
        }
    }

    /// Requests as they arrived, answered or not (see [`WebhookReceiver::stall`]).
    pub fn arrived(&self) -> Vec<Received> {
        match self.shared.inner.lock() {
            Ok(inner) => inner.arrived.clone(),
            Err(p) => p.into_inner().arrived.clone(),
        }
    }

    /// Waits until at least `n` requests arrived, answered or still stalled (or fails after
    /// `deadline`).
    pub async fn wait_arrived(
        &self,
        n: usize,
        deadline: std::time::Duration,
    ) -> anyhow::Result<Vec<Received>> {
        reach(&self.shared.arrived, n, deadline)
            .await
            .map_err(|got| anyhow::anyhow!("expected {n} webhook requests to arrive, got {got}"))?;
        Ok(self.arrived())
    }

    /// Waits until at least `n` requests were answered (or fails after `deadline`).
    pub async fn wait_for(
        &self,
        n: usize,
        deadline: std::time::Duration,
    ) -> anyhow::Result<Vec<Received>> {
        reach(&self.shared.count, n, deadline)
            .await
            .map_err(|got| anyhow::anyhow!("expected {n} webhook requests, got {got}"))?;
        Ok(self.received())
    }
}

/// Waits until `counter` reaches `n`; on timeout, returns how far it got.
async fn reach(
    counter: &watch::Sender<usize>,
    n: usize,
    deadline: std::time::Duration,
) -> Result<(), usize> {
    let mut rx = counter.subscribe();
    let reached = tokio::time::timeout(deadline, async {
        while *rx.borrow_and_update() < n {
            if rx.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    reached.map_err(|_| *counter.borrow())
}
