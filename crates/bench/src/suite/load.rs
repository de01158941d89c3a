//! Closed-loop request load: `connections` keep-alive connections, each sending its next
//! request as soon as the previous answer is in, for a fixed time after a warm-up. Used for
//! the read rows and their bare-axum baseline alike, so both see the same client costs.

use super::http::{Conn, Endpoint};
use super::stats::{Samples, Summary};
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
}

/// Runs GETs of `path(n)` (n counts up per connection) on `connections` connections for
/// `warmup + measure`; counts the answers completed during `measure`. Any answer but 2xx is
/// an error.
pub async fn closed_loop(
    endpoint: &Arc<Endpoint>,
    connections: usize,
    warmup: Duration,
    measure: Duration,
    path: Arc<dyn Fn(usize, u64) -> String + Send + Sync>,
) -> anyhow::Result<Throughput> {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + measure;
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
                let reply = conn.get(&path(worker, n)).await;
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
    Ok(Throughput {
        requests_per_second: ok as f64 / measure.as_secs_f64(),
        errors,
        latency: samples.summary(),
    })
}
