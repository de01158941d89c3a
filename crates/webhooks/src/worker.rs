//! The delivery worker.
//!
//! One loop: fan committed messages out to their targets, lease the deliveries that are due,
//! send each on its own task, record the attempt durably, repeat. It sleeps until the next
//! delivery falls due (through the injected clock, so tests drive retries without waiting)
//! or until the engine signals new messages.
//!
//! Concurrency is bounded twice: overall (`max_concurrency`) and per target
//! (`max_per_target`). Both count requests: a send's permit is returned when its answer is
//! in, and the attempt's record then waits for its group commit holding a permit of its own
//! (at most `RECORDS_PER_SEND` times `max_concurrency` of them). The delivery stays leased
//! and pending until that record is durable, so nothing treats it as done before, the next
//! delivery of its subject waits for it, and a crash in between only sends it again (same
//! `webhook-id`: at-least-once). Meanwhile the request slot carries another delivery instead
//! of idling through an fsync. A target at its limit is skipped when leasing, so a slow endpoint
//! holds at most its own few permits and never delays the others. Deliveries to one target
//! are handed out in message order per subject (the store guarantees it), so an integrator
//! sees `interaction.updated` before `interaction.completed` of the same interaction.

use crate::render::{NativeRenderer, PayloadRenderer};
use crate::signing::signature_header;
use crate::ssrf::{GuardedResolver, TargetPolicy};
use poigate_domain::{AttemptResult, NextStep, RetryPolicy, Timestamp};
use poigate_engine::{Clock, LeaseRecovery};
use poigate_store::{AttemptRecord, DeliveryJob, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub policy: TargetPolicy,
    pub retry: RetryPolicy,
    /// Per-attempt request timeout.
    pub request_timeout: Duration,
    pub max_concurrency: usize,
    pub max_per_target: usize,
    /// How long a leased delivery stays reserved (longer than the request timeout).
    pub lease: Duration,
    /// How often to look for due work when nothing signals (a safety net).
    pub poll_interval: Duration,
    /// What may be released at start-up: the coordinator's answer
    /// ([`Coordinator::lease_recovery`](poigate_engine::Coordinator::lease_recovery)).
    pub lease_recovery: LeaseRecovery,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            policy: TargetPolicy::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(15),
            max_concurrency: 64,
            max_per_target: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            lease_recovery: LeaseRecovery::ReleaseAll,
        }
    }
}

/// How many attempt records may wait for their commit per request slot.
const RECORDS_PER_SEND: usize = 4;

/// Stops the worker when dropped or told to.
pub struct WorkerHandle {
    shutdown: Arc<Notify>,
    task: Option<JoinHandle<()>>,
    /// The worker's request permits: all of them free means no request is in flight.
    global: Arc<Semaphore>,
    permits: u32,
    /// The record permits: all of them free means every attempt made is recorded.
    recording: Arc<Semaphore>,
    record_permits: u32,
}

impl WorkerHandle {
    /// Stops taking new work and waits for the loop to end (attempts in flight finish on
    /// their own tasks; an unfinished one is simply due again later: at-least-once).
    pub async fn stop(mut self) {
        self.shutdown.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops taking new work, then waits for the attempts in flight to finish and be
    /// recorded, at most `within`. Returns whether they all did. Those that did not stay leased in the store
    /// and are sent again by the next process (it releases this node's leases at start),
    /// so a drain never loses a delivery; at worst one is sent twice (at-least-once).
    pub async fn stop_within(mut self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        self.shutdown.notify_one();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout_at(deadline, &mut task).await.is_err()
        {
            task.abort();
            return false;
        }
        // Every permit back: no send is running and no record is waiting for its commit.
        let sends = self.global.clone().acquire_many_owned(self.permits);
        let records = self
            .recording
            .clone()
            .acquire_many_owned(self.record_permits);
        let both = async { (sends.await.is_ok(), records.await.is_ok()) };
        matches!(
            tokio::time::timeout_at(deadline, both).await,
            Ok((true, true))
        )
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub struct WebhookWorker {
    renderer: Arc<dyn PayloadRenderer>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    signal: Arc<Notify>,
    config: WebhookConfig,
    http: reqwest::Client,
    global: Arc<Semaphore>,
    /// Attempts made whose record is not yet committed.
    recording: Arc<Semaphore>,
    per_target: Arc<Mutex<HashMap<String, usize>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Record permits: `RECORDS_PER_SEND` per request slot.
fn record_slots(config: &WebhookConfig) -> usize {
    config
        .max_concurrency
        .max(1)
        .saturating_mul(RECORDS_PER_SEND)
}

/// Messages fanned out per store call.
const DISPATCH_CHUNK: u32 = 128;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A number in [-1, 1] for the retry jitter.
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0.0;
    }
    (f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)) * 2.0 - 1.0
}

/// `Retry-After` as seconds: an integer, or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap, now: Timestamp) -> Option<u64> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(secs);
    }
    let date =
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc2822).ok()?;
    let at_ms = i64::try_from(date.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some(u64::try_from(at_ms.saturating_sub(now.as_millis()) / 1000).unwrap_or(0))
}

impl WebhookWorker {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        signal: Arc<Notify>,
        config: WebhookConfig,
    ) -> Result<WebhookWorker, WorkerError> {
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver {
                policy: config.policy,
            }))
            .user_agent(concat!("poigate-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(config.max_per_target)
            .build()?;
        Ok(WebhookWorker {
            renderer: Arc::new(NativeRenderer),
            store,
            clock,
            signal,
            global: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            recording: Arc::new(Semaphore::new(record_slots(&config))),
            per_target: Arc::new(Mutex::new(HashMap::new())),
            config,
            http,
        })
    }

    /// Uses `renderer` for payload formats (provider dialects).
    pub fn with_renderer(mut self, renderer: Arc<dyn PayloadRenderer>) -> WebhookWorker {
        self.renderer = renderer;
        self
    }

    /// Starts the loop on the current runtime.
    pub fn spawn(self) -> WorkerHandle {
        let shutdown = Arc::new(Notify::new());
        let stop = shutdown.clone();
        let global = self.global.clone();
        let permits = u32::try_from(self.config.max_concurrency.max(1)).unwrap_or(u32::MAX);
        let recording = self.recording.clone();
        let record_permits = u32::try_from(record_slots(&self.config)).unwrap_or(u32::MAX);
        let worker = Arc::new(self);
        let task = tokio::spawn(async move { worker.run(stop).await });
        WorkerHandle {
            shutdown,
            task: Some(task),
            global,
            permits,
            recording,
            record_permits,
        }
    }

    fn busy_targets(&self) -> Vec<String> {
        let map = match self.per_target.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.iter()
            .filter(|(_, n)| **n >= self.config.max_per_target)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn target_count(&self, target: &str, delta: isize) {
        let mut map = match self.per_target.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let n = map.entry(target.to_string()).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            map.remove(target);
        }
    }

    async fn run(self: Arc<Self>, shutdown: Arc<Notify>) {
        match &self.config.lease_recovery {
            // The only node: whatever was leased was in flight when the process died.
            LeaseRecovery::ReleaseAll => match self.store.release_delivery_leases().await {
                Ok(n) if n > 0 => {
                    tracing::info!(deliveries = n, "resuming deliveries that were in flight")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot release delivery leases"),
            },
            // Other nodes may be sending right now: their leases are not ours to release; the
            // ones a dead node held expire after `lease` and are taken again.
            LeaseRecovery::ReleaseOwn(node) => {
                tracing::info!(%node, "leases of other nodes are left to expire")
            }
        }
        loop {
            let now = self.clock.now();
            let more_to_dispatch = self.dispatch(now).await;
            let leased = self.lease_and_send(now).await;
            if more_to_dispatch {
                // A backlog is fanned out a chunk per pass, between leases, so that its first
                // deliveries are on the wire while the rest is still being dispatched.
                tokio::task::yield_now().await;
                continue;
            }
            let wake_at = match self.store.next_delivery_due().await {
                Ok(Some(due)) if due > now => {
                    due.min(now.plus_millis(millis(self.config.poll_interval)))
                }
                // Due now but nothing could be taken (all permits in use): wait for a send
                // to finish rather than spin.
                Ok(Some(_)) if leased == 0 => now.plus_millis(millis(self.config.poll_interval)),
                Ok(Some(_)) => now,
                Ok(None) => now.plus_millis(millis(self.config.poll_interval)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the next delivery time");
                    now.plus_millis(millis(self.config.poll_interval))
                }
            };
            if wake_at <= now {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = self.signal.notified() => {}
                _ = self.clock.sleep_until(wake_at) => {}
                _ = shutdown.notified() => return,
            }
        }
    }

    /// Dispatches one chunk of committed messages; says whether more may be waiting.
    async fn dispatch(&self, now: Timestamp) -> bool {
        match self.store.dispatch_outbox(DISPATCH_CHUNK, now).await {
            Ok(n) => n == DISPATCH_CHUNK,
            Err(e) => {
                tracing::error!(error = %e, "cannot dispatch webhook messages");
                false
            }
        }
    }

    async fn lease_and_send(self: &Arc<Self>, now: Timestamp) -> usize {
        let free = self
            .global
            .available_permits()
            .min(self.recording.available_permits());
        if free == 0 {
            return 0;
        }
        let jobs = match self
            .store
            .lease_due_deliveries(
                now,
                now.plus_millis(millis(self.config.lease)),
                u32::try_from(free).unwrap_or(u32::MAX),
                self.busy_targets(),
            )
            .await
        {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "cannot lease deliveries");
                return 0;
            }
        };
        let count = jobs.len();
        for job in jobs {
            // Taken only after the lease: none was free means this job stays leased, unsent
            // until the lease expires (cannot happen: this loop is the only taker).
            let Ok(permit) = self.global.clone().try_acquire_owned() else {
                break;
            };
            let Ok(record_permit) = self.recording.clone().try_acquire_owned() else {
                break;
            };
            self.target_count(&job.target_key, 1);
            let worker = self.clone();
            tokio::spawn(async move {
                let record = worker.attempt(&job).await;
                // The answer is in: the request slot takes the next delivery while this
                // record waits for its group commit.
                worker.target_count(&job.target_key, -1);
                drop(permit);
                worker.signal.notify_one();
                if let Err(e) = worker.store.record_attempt(&record).await {
                    // Not recorded: the lease expires and the attempt is made again.
                    tracing::error!(delivery = %job.delivery_id, error = %e, "cannot record a delivery attempt");
                }
                drop(record_permit);
                // Recorded: the next delivery of this subject may be leased now.
                worker.signal.notify_one();
            });
        }
        count
    }

    /// Makes one attempt and decides what follows.
    async fn attempt(&self, job: &DeliveryJob) -> AttemptRecord {
        let started_at = self.clock.now();
        let clock_start = Instant::now();
        let (result, status_code, error) = self.send(job, started_at).await;
        let latency_ms = u64::try_from(clock_start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = match (&result, &error) {
            // A target refused by policy will not become acceptable by waiting.
            (AttemptResult::Failed { status: None, .. }, Some(e)) if e.starts_with("refused:") => {
                NextStep::GiveUp
            }
            _ => self.config.retry.next_step(
                job.schedule_attempt,
                result,
                self.clock.now(),
                jitter(),
            ),
        };
        let outcome = match next {
            NextStep::Succeeded => "succeeded",
            NextStep::RetryAt(_) => "retry",
            NextStep::GiveUp => "gave_up",
            NextStep::DisableEndpoint => "endpoint_disabled",
        };
        metrics::counter!("poigate_webhook_attempts_total", "result" => outcome).increment(1);
        if matches!(next, NextStep::Succeeded) {
            // From the event to its acknowledged delivery: what a merchant waits for.
            let lag_ms = self.clock.now().millis_since(job.message.created_at).max(0);
            metrics::histogram!("poigate_webhook_delivery_lag_seconds")
                .record(lag_ms as f64 / 1000.0);
        }
        if !matches!(next, NextStep::Succeeded) {
            tracing::info!(
                delivery = %job.delivery_id, attempt = job.attempt, status = ?status_code,
                error = error.as_deref().unwrap_or(""), next = ?next, "webhook attempt failed"
            );
        }
        AttemptRecord {
            delivery_id: job.delivery_id,
            attempt: job.attempt,
            started_at,
            status_code,
            latency_ms,
            error,
            next,
        }
    }

    async fn send(
        &self,
        job: &DeliveryJob,
        now: Timestamp,
    ) -> (AttemptResult, Option<u16>, Option<String>) {
        let failed = |e: String| {
            (
                AttemptResult::Failed {
                    status: None,
                    retry_after_seconds: None,
                },
                None,
                Some(e),
            )
        };
        if let Err(reason) = self.config.policy.check_url(&job.url) {
            return failed(format!("refused: {reason}"));
        }
        let body = match self.renderer.render(&job.message, job.format.as_deref()) {
            Ok(b) => b,
            Err(e) => return failed(format!("refused: cannot render the message: {e}")),
        };
        let msg_id = self
            .renderer
            .webhook_id(&job.message, job.format.as_deref());
        let timestamp = now.as_millis() / 1000;
        let signature = match signature_header(&job.secrets, &msg_id, timestamp, &body) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => return failed("refused: no signing secret".into()),
            Err(e) => return failed(format!("refused: {e}")),
        };
        let response = signed_post(&self.http, &job.url, &msg_id, timestamp, signature, body)
            .send()
            .await;
        match response {
            Err(e) => failed(describe(&e)),
            Ok(r) => {
                let status = r.status().as_u16();
                let after = retry_after(r.headers(), now);
                let answer = drain(r).await;
                let acknowledged =
                    self.renderer
                        .acknowledged(job.format.as_deref(), status, &answer);
                let result = if acknowledged {
                    AttemptResult::Delivered
                } else if status == 410 {
                    AttemptResult::Gone
                } else {
                    AttemptResult::Failed {
                        status: Some(status),
                        retry_after_seconds: after,
                    }
                };
                let error = (!acknowledged).then(|| {
                    if (200..300).contains(&status) {
                        format!("HTTP {status} without the expected acknowledgement")
                    } else {
                        format!("HTTP {status}")
                    }
                });
                (result, Some(status), error)
            }
        }
    }
}

/// Reads at most 16 KiB of the answer (so the connection can be reused, and a format can
/// check an acknowledgement body).
async fn drain(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 16 * 1024 {
            body.truncate(16 * 1024);
            break;
        }
    }
    body
}

/// The delivery log's text for a failed request. A target the resolver refused reads
/// `refused: …`, like a literal refused before sending, so that both give up at once.
/// A Standard Webhooks request: the JSON body with its id, timestamp and signatures.
pub(crate) fn signed_post(
    http: &reqwest::Client,
    url: &str,
    msg_id: &str,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
}

pub(crate) fn describe(e: &reqwest::Error) -> String {
    if let Some(refused) = crate::ssrf::refusal_in(e) {
        format!("refused: {refused}")
    } else if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut detail = String::new();
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        format!("connection failed: {detail}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name that resolves to a non-public address is refused by the resolver, and the
    /// delivery log reads `refused: …`: the worker gives it up at once, as it does a literal.
    #[tokio::test]
    async fn a_resolver_refusal_reads_as_a_refusal() {
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: TargetPolicy {
                    allow_private: false,
                },
            }))
            .build()
            .expect("client");
        let error = http
            .post("http://localhost:9/hook")
            .send()
            .await
            .expect_err("refused by the resolver");
        let text = describe(&error);
        assert!(text.starts_with("refused:"), "{text}");
        assert!(text.contains("localhost"), "{text}");
    }
}
