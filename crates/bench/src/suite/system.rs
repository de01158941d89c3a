//! The system under test — a real `poigate serve` process with a durable SQLite database
//! (`synchronous=FULL`) and a fleet of simulated terminals in a separate `terminal-sim`
//! process on the terminal link — and the end-to-end rows measured against it: S1 (sales
//! created and long-polled to their outcome) and S2 (reads).

use super::http::{Conn, Endpoint};
use super::load::{Throughput, closed_loop};
use super::procs::{Placement, Proc};
use super::stats::{Samples, Summary};
use anyhow::Context;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A running gateway.
pub struct Gateway {
    pub proc: Proc,
    pub url: String,
    pub key: String,
    pub endpoint: Arc<Endpoint>,
}

impl Gateway {
    /// `poigate serve --demo` on a fresh data directory, instant simulated cardholders,
    /// `synchronous=FULL`, on the server core.
    pub async fn start(
        placement: &Placement,
        exe: &Path,
        data_dir: &Path,
    ) -> anyhow::Result<Gateway> {
        let key = format!("pg_test_bench{:024x}", rand_u128());
        let mut command = placement.server_command(exe);
        command
            .args([
                "serve",
                "--demo",
                "--sim-speed",
                "0",
                "--synchronous",
                "full",
            ])
            .args(["--listen", "127.0.0.1:0", "--log", "warn", "--data-dir"])
            .arg(data_dir)
            .env("POIGATE_DEMO_API_KEY", &key);
        let mut proc = Proc::spawn("gateway", command)?;
        let url = proc
            .line(
                Duration::from_secs(60),
                |_| {},
                |l| {
                    l.trim()
                        .strip_prefix("URL")
                        .map(|rest| rest.trim().to_string())
                },
            )
            .await?;
        let endpoint = Endpoint::from_url(&url, Some(&key))?;
        Ok(Gateway {
            proc,
            url,
            key,
            endpoint,
        })
    }

    pub fn link_url(&self) -> String {
        self.url.replacen("http://", "ws://", 1)
    }
}

/// A not-cryptographic random number for names that must not collide between runs.
fn rand_u128() -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    nanos ^ (u128::from(std::process::id()) << 64)
}

/// Simulated terminals on the terminal link, in their own `terminal-sim` process.
pub struct Fleet {
    pub proc: Proc,
    pub terminals: Vec<String>,
}

impl Fleet {
    pub async fn start(
        placement: &Placement,
        exe: &Path,
        gateway: &Gateway,
        count: usize,
    ) -> anyhow::Result<Fleet> {
        let mut command = placement.load_command(exe);
        command
            .args(["terminal-sim", "--sim-speed", "0", "--serial", "BENCH"])
            .args(["--count", &count.to_string(), "--url", &gateway.link_url()])
            .env("POIGATE_API_KEY", &gateway.key);
        let mut proc = Proc::spawn("terminal-sim", command)?;
        let mut terminals = Vec::with_capacity(count);
        proc.line(
            Duration::from_secs(600),
            |l| {
                if let Some((poiid, "connected")) = l.split_once('\t') {
                    terminals.push(poiid.to_string());
                }
            },
            |l| l.contains("simulated terminal(s) on").then_some(()),
        )
        .await?;
        anyhow::ensure!(
            terminals.len() == count,
            "terminal-sim connected {} terminals, not {count}",
            terminals.len()
        );
        Ok(Fleet { proc, terminals })
    }
}

/// The parts of an interaction the load generator looks at.
#[derive(Deserialize)]
pub struct Brief {
    pub id: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub status: String,
}

pub fn sale_body(terminal: &str, reference: &str, timeout_seconds: Option<u32>) -> Bytes {
    let timeout = timeout_seconds
        .map(|t| format!(r#","timeout_seconds":{t}"#))
        .unwrap_or_default();
    Bytes::from(format!(
        r#"{{"terminal":"{terminal}","type":"sale","amount":{{"value":1250,"currency":"EUR"}},"reference":"{reference}"{timeout}}}"#
    ))
}

/// Creates a sale: its id, after checking the gateway accepted it.
pub async fn create_sale(conn: &mut Conn, body: Bytes) -> anyhow::Result<String> {
    let reply = conn.post_json("/v1/interactions", Some(body)).await?.ok()?;
    Ok(reply.json::<Brief>()?.id)
}

/// Long-polls an interaction until it is final; its final status.
pub async fn follow_to_final(conn: &mut Conn, id: &str) -> anyhow::Result<String> {
    let path = format!("/v1/interactions/{id}?wait=30");
    loop {
        let brief: Brief = conn.get(&path).await?.ok()?.json()?;
        if brief.is_final {
            return Ok(brief.status);
        }
    }
}

/// S1: what a closed loop of POS clients — one per terminal, each creating a sale and
/// long-polling it to its outcome, then the next — gets through.
#[derive(Debug, Serialize)]
pub struct EndToEnd {
    pub terminals: usize,
    pub interactions_per_second: f64,
    pub completed: u64,
    pub not_approved: u64,
    pub errors: u64,
    pub create: Option<Summary>,
    pub completion: Option<Summary>,
    /// (interaction id, reference) of the sales made, for the read rows.
    #[serde(skip)]
    pub made: Vec<(String, String)>,
}

pub async fn closed_loop_sales(
    endpoint: &Arc<Endpoint>,
    terminals: &[String],
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<EndToEnd> {
    let from = Instant::now() + warmup;
    let until = from + measure;
    let mut workers = tokio::task::JoinSet::new();
    for (w, terminal) in terminals.iter().enumerate() {
        let endpoint = endpoint.clone();
        let terminal = terminal.clone();
        workers.spawn(async move {
            let mut conn = Conn::open(&endpoint).await?;
            let mut tally = Tally::default();
            let mut n = 0u64;
            while Instant::now() < until {
                let reference = format!("s1-{w}-{n}");
                n += 1;
                let sent = Instant::now();
                let outcome = async {
                    let id = create_sale(&mut conn, sale_body(&terminal, &reference, None)).await?;
                    let created = Instant::now();
                    let status = follow_to_final(&mut conn, &id).await?;
                    Ok::<_, anyhow::Error>((id, created, status))
                }
                .await;
                let done = Instant::now();
                if sent < from || done > until {
                    continue;
                }
                match outcome {
                    Ok((id, created, status)) => {
                        tally.record(created - sent, done - sent, &status);
                        tally.made.push((id, reference));
                    }
                    Err(_) => {
                        tally.errors += 1;
                        conn = Conn::open(&endpoint).await?;
                    }
                }
            }
            Ok::<_, anyhow::Error>(tally)
        });
    }
    let mut total = Tally::default();
    while let Some(done) = workers.join_next().await {
        total.merge(done??);
    }
    Ok(EndToEnd {
        terminals: terminals.len(),
        interactions_per_second: total.completed as f64 / measure.as_secs_f64(),
        completed: total.completed,
        not_approved: total.not_approved,
        errors: total.errors,
        create: total.create.summary(),
        completion: total.completion.summary(),
        made: total.made,
    })
}

#[derive(Default)]
struct Tally {
    completed: u64,
    not_approved: u64,
    errors: u64,
    skipped: u64,
    create: Samples,
    completion: Samples,
    made: Vec<(String, String)>,
}

impl Tally {
    fn record(&mut self, create: Duration, completion: Duration, status: &str) {
        self.completed += 1;
        if status != "approved" {
            self.not_approved += 1;
        }
        self.create.push_duration(create);
        self.completion.push_duration(completion);
    }

    fn merge(&mut self, other: Tally) {
        self.completed += other.completed;
        self.not_approved += other.not_approved;
        self.errors += other.errors;
        self.skipped += other.skipped;
        self.create.extend(other.create);
        self.completion.extend(other.completion);
        self.made.extend(other.made);
    }
}

/// S1 at a fixed arrival rate (open loop): sales are started on schedule whether or not
/// earlier ones are done, and latency counts from the scheduled start, so a stall shows in
/// the percentiles instead of slowing the load down (no coordinated omission).
#[derive(Debug, Serialize)]
pub struct OpenLoop {
    pub target_per_second: f64,
    pub started: u64,
    pub completed: u64,
    /// Arrivals that found every terminal busy (not sent).
    pub no_free_terminal: u64,
    pub errors: u64,
    pub create: Option<Summary>,
    pub completion: Option<Summary>,
}

pub async fn open_loop_sales(
    endpoint: &Arc<Endpoint>,
    terminals: &[String],
    rate: f64,
    measure: Duration,
) -> anyhow::Result<OpenLoop> {
    let free = Arc::new(Mutex::new(terminals.to_vec()));
    let pool = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..terminals.len().min(64) {
        let conn = Conn::open(endpoint).await?;
        lock(&pool).push(conn);
    }
    let arrivals = (rate * measure.as_secs_f64()).round() as u64;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut total = Tally::default();
    for i in 0..arrivals {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        let Some(terminal) = lock(&free).pop() else {
            total.skipped += 1;
            continue;
        };
        let (endpoint, free, pool) = (endpoint.clone(), free.clone(), pool.clone());
        tasks.spawn(async move {
            let pooled = lock(&pool).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => Conn::open(&endpoint).await?,
            };
            let reference = format!("s1o-{i}");
            let outcome = async {
                let id = create_sale(&mut conn, sale_body(&terminal, &reference, None)).await?;
                let created = Instant::now();
                let status = follow_to_final(&mut conn, &id).await?;
                Ok::<_, anyhow::Error>((created, status))
            }
            .await;
            let done = Instant::now();
            lock(&free).push(terminal);
            let mut tally = Tally::default();
            match outcome {
                Ok((created, status)) => {
                    lock(&pool).push(conn);
                    tally.record(created - scheduled, done - scheduled, &status);
                }
                Err(_) => tally.errors += 1,
            }
            Ok::<_, anyhow::Error>(tally)
        });
        while let Some(done) = tasks.try_join_next() {
            total.merge(done??);
        }
    }
    while let Some(done) = tasks.join_next().await {
        total.merge(done??);
    }
    Ok(OpenLoop {
        target_per_second: rate,
        started: arrivals - total.skipped,
        completed: total.completed,
        no_free_terminal: total.skipped,
        errors: total.errors,
        create: total.create.summary(),
        completion: total.completion.summary(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// S2: the three reads a POS makes, each in a closed loop over the sales S1 made.
#[derive(Debug, Serialize)]
pub struct Reads {
    pub get_interaction: Throughput,
    pub list_events: Throughput,
    pub lookup_by_reference: Throughput,
}

pub async fn reads(
    endpoint: &Arc<Endpoint>,
    made: &[(String, String)],
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Reads> {
    anyhow::ensure!(!made.is_empty(), "no sales were made to read");
    let made: Arc<Vec<(String, String)>> = Arc::new(made.to_vec());
    let pick = move |made: &Arc<Vec<(String, String)>>, w: usize, n: u64| {
        // Spread the connections over the sales so reads do not all hit one row.
        let i = (w as u64 * 7919 + n * 104_729) % made.len() as u64;
        made[i as usize].clone()
    };
    let m = made.clone();
    let get_interaction = closed_loop(
        endpoint,
        connections,
        warmup,
        measure,
        Arc::new(move |w, n| format!("/v1/interactions/{}", pick(&m, w, n).0)),
    )
    .await
    .context("GET interaction")?;
    let m = made.clone();
    let list_events = closed_loop(
        endpoint,
        connections,
        warmup,
        measure,
        Arc::new(move |w, n| format!("/v1/interactions/{}/events", pick(&m, w, n).0)),
    )
    .await
    .context("GET events")?;
    let m = made.clone();
    let lookup_by_reference = closed_loop(
        endpoint,
        connections,
        warmup,
        measure,
        Arc::new(move |w, n| format!("/v1/interactions?reference={}", pick(&m, w, n).1)),
    )
    .await
    .context("lookup by reference")?;
    Ok(Reads {
        get_interaction,
        list_events,
        lookup_by_reference,
    })
}
