//! The Prometheus endpoint: `GET /metrics` on a listener of its own (`metrics_listen`), so
//! that it can stay on a private interface while the API faces POS systems.
//!
//! The crates record through the `metrics` facade; this installs the
//! `metrics-exporter-prometheus` recorder (without its HTTP server: the text is served by
//! this small axum router) and fixes the histogram buckets. Every metric is listed in
//! docs/operations.md.

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poigate_engine::Engine;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Buckets of every `_seconds` histogram: from a fast HTTP answer (1 ms) to a webhook that
/// waited through retries (hours).
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    900.0, 3600.0, 21600.0,
];

/// Buckets of the writer's batch size (jobs per commit; the limit is 512).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process's recorder: `metrics` has one global recorder, installed at most once.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .context("histogram buckets")?
        .set_buckets_for_metric(
            Matcher::Full("poigate_store_writer_batch_size".into()),
            BATCH_BUCKETS,
        )
        .context("histogram buckets")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| anyhow::anyhow!("another metrics recorder is already installed"))?;
    let _ = HANDLE.set(handle.clone());
    Ok(handle)
}

/// The running metrics listener.
pub struct MetricsListener {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    upkeep: JoinHandle<()>,
}

impl MetricsListener {
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }
}

impl Drop for MetricsListener {
    fn drop(&mut self) {
        self.task.abort();
        self.upkeep.abort();
    }
}

#[derive(Clone)]
struct MetricsState {
    handle: PrometheusHandle,
    engine: Engine,
}

/// Binds `addr` and serves `/metrics` for `engine` until the returned value is dropped.
pub async fn start(addr: SocketAddr, engine: Engine) -> anyhow::Result<MetricsListener> {
    let handle = recorder()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(MetricsState {
            handle: handle.clone(),
            engine,
        });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    // Without the exporter's own runtime, something must drain histogram samples between
    // scrapes so that an unscraped process does not grow.
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    tracing::info!(%addr, "metrics listening");
    Ok(MetricsListener { addr, task, upkeep })
}

async fn render(State(state): State<MetricsState>) -> impl IntoResponse {
    state.engine.record_gauges();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.handle.render(),
    )
}
