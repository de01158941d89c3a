//! Closed-loop request load: `connections` keep-alive connections, each sending its next
//! request as soon as the previous answer is in, for a fixed time after a warm-up. Used for
//! the read rows and their bare-axum baseline alike, so both see the same client costs.

use super::http::{Conn, Endpoint};
use super::stats::{Samples, Summary};
use bytes::Bytes;
use hyper::Method;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What one closed-loop run achieved.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Throughput {
    pub requests_per_second: f64,
    pub errors: u64,
    pub latency: Option<Summary>,
    /// The server's CPU time (user + system, all its threads) over the measured window per
    /// answer: the machine-independent figure (a busy or slow machine changes requests/s,
    /// much less the CPU each request takes). `None` when no server process was named.
    pub cpu_us_per_request: Option<f64>,
}

/// One request of a closed loop: method, path and body.
pub type Request = (Method, String, Option<Bytes>);

/// Makes the `n`th request of connection `worker`.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Request + Send + Sync>;

/// Runs GETs of `path(n)` (n counts up per connection) on `connections` connections for
/// `warmup + measure`; counts the answers completed during `measure`. Any answer but 2xx is
/// an error.
pub async fn closed_loop(
    endpoint: &Arc<Endpoint>,
    connections: usize,
    warmup: Duration,
    measure: Duration,
    path: Arc<dyn Fn(usize, u64) -> String + Send + Sync>,
    server: Option<u32>,
) -> anyhow::Result<Throughput> {
    let make: MakeRequest = Arc::new(move |w, n| (Method::GET, path(w, n), None));
    closed_loop_requests(endpoint, connections, warmup, measure, make, server).await
}

/// [`closed_loop`] with any request (the dialect rows `POST` a body).
pub async fn closed_loop_requests(
    endpoint: &Arc<Endpoint>,
    connections: usize,
    warmup: Duration,
    measure: Duration,
    path: MakeRequest,
    server: Option<u32>,
) -> anyhow::Result<Throughput> {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + measure;
    let cpu = server.map(|pid| tokio::spawn(cpu_over(pid, from, until)));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..connections {
        let endpoint = endpoint.clone();
        let path = path.clone();
        workers.spawn(async move {
            let mut conn = Conn::open(&endpoint).await?;
            let (mut ok, mut errors) = (0u64, 0u64);
            let mut samples = Samples::with_capacity(1 << 14);
            let mut n = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let (method, target, body) = path(worker, n);
                let reply = conn.send(method, &target, body).await;
                n += 1;
                let done = Instant::now();
                if done < from || done > until {
                    continue;
                }
                match reply {
                    Ok(r) if r.status.is_success() => {
                        ok += 1;
                        samples.push_duration(done - sent);
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = Conn::open(&endpoint).await?;
                    }
                }
            }
            Ok::<_, anyhow::Error>((ok, errors, samples))
        });
    }
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut samples = Samples::default();
    while let Some(done) = workers.join_next().await {
        let (o, e, s) = done??;
        ok += o;
        errors += e;
        samples.extend(s);
    }
    let cpu_seconds = match cpu {
        Some(task) => Some(task.await??),
        None => None,
    };
    Ok(Throughput {
        requests_per_second: ok as f64 / measure.as_secs_f64(),
        errors,
        latency: samples.summary(),
        cpu_us_per_request: cpu_seconds.filter(|_| ok > 0).map(|s| s * 1e6 / ok as f64),
    })
}

/// CPU seconds process `pid` used between `from` and `until`.
pub async fn cpu_over(pid: u32, from: Instant, until: Instant) -> anyhow::Result<f64> {
    tokio::time::sleep_until(from).await;
    let before = super::procs::cpu_seconds(pid)?;
    tokio::time::sleep_until(until).await;
    Ok(super::procs::cpu_seconds(pid)? - before)
}
