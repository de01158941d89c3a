//! The system under test — a real `poigate serve` process with a durable SQLite database
//! (`synchronous=FULL`) and a fleet of simulated terminals in a separate `terminal-sim`
//! process on the terminal link — and the end-to-end rows measured against it: S1 (sales
//! created and long-polled to their outcome) and S2 (reads).

use super::http::{Conn, Endpoint};
use super::load::{MakeRequest, Throughput, closed_loop, closed_loop_requests, cpu_over};
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
        Gateway::start_on(placement.server_command(exe), data_dir).await
    }

    /// [`Gateway::start`] with the command that runs `poigate` (pinned or not).
    pub async fn start_on(
        mut command: tokio::process::Command,
        data_dir: &Path,
    ) -> anyhow::Result<Gateway> {
        let key = format!("pg_test_bench{:024x}", rand_u128());
        // The load generator is one client with one key on one address: the per-key request
        // budget would measure the limiter, and the full run holds 10,000 parked long-polls
        // plus the S1 connections, over the default connection cap.
        let config = data_dir.with_extension("toml");
        std::fs::write(
            &config,
            "[rate_limits]\nrequests_per_key = { burst = 0, per_minute = 0 }\n\n[connections]\nmax_connections = 100000\n",
        )
        .with_context(|| format!("cannot write {}", config.display()))?;
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
            .arg("--config")
            .arg(&config)
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
    /// The gateway's CPU time over the measured window per completed sale (all its threads:
    /// HTTP, link sessions, the SQLite writer); `None` when no process was named.
    pub cpu_us_per_sale: Option<f64>,
    /// (interaction id, reference) of the sales made, for the read rows.
    #[serde(skip)]
    pub made: Vec<(String, String)>,
}

pub async fn closed_loop_sales(
    endpoint: &Arc<Endpoint>,
    terminals: &[String],
    warmup: Duration,
    measure: Duration,
    server: Option<u32>,
) -> anyhow::Result<EndToEnd> {
    let from = Instant::now() + warmup;
    let until = from + measure;
    let cpu = server.map(|pid| tokio::spawn(cpu_over(pid, from, until)));
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
    let cpu_seconds = match cpu {
        Some(task) => Some(task.await??),
        None => None,
    };
    Ok(EndToEnd {
        cpu_us_per_sale: cpu_seconds
            .filter(|_| total.completed > 0)
            .map(|s| s * 1e6 / total.completed as f64),
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
    server: Option<u32>,
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
        server,
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
        server,
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
        server,
    )
    .await
    .context("lookup by reference")?;
    Ok(Reads {
        get_interaction,
        list_events,
        lookup_by_reference,
    })
}

/// The sales the dialect rows read: made through the native API with a nexo `SaleID` and
/// `ServiceID`, on every terminal, and followed to their outcome.
pub struct NexoSale {
    pub id: String,
    pub poiid: String,
    pub service_id: String,
}

/// The `SaleID` of the dialect rows' sales.
pub const BENCH_SALE_ID: &str = "BENCHPOS";

/// `per_terminal` sales on each terminal (terminals in parallel), each followed to final.
pub async fn nexo_sales(
    endpoint: &Arc<Endpoint>,
    terminals: &[String],
    per_terminal: usize,
) -> anyhow::Result<Vec<NexoSale>> {
    let mut workers = tokio::task::JoinSet::new();
    for (w, terminal) in terminals.iter().enumerate() {
        let (endpoint, terminal) = (endpoint.clone(), terminal.clone());
        workers.spawn(async move {
            let mut conn = Conn::open(&endpoint).await?;
            let mut made = Vec::with_capacity(per_terminal);
            for k in 0..per_terminal {
                // 1 to 10 letters or digits, as Adyen's cloud API requires of a ServiceID.
                let service_id = format!("b{w}n{k}");
                let body = Bytes::from(format!(
                    r#"{{"terminal":"{terminal}","type":"sale","amount":{{"value":1250,"currency":"EUR"}},"sale_id":"{BENCH_SALE_ID}","service_id":"{service_id}"}}"#
                ));
                let id = create_sale(&mut conn, body).await?;
                follow_to_final(&mut conn, &id).await?;
                made.push(NexoSale {
                    id,
                    poiid: terminal.clone(),
                    service_id,
                });
            }
            Ok::<_, anyhow::Error>(made)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = workers.join_next().await {
        all.extend(done??);
    }
    Ok(all)
}

/// An Adyen `/sync` `TransactionStatusRequest` for `sale`, receipts reprinted (the request a
/// POS sends after losing the answer to its payment); `n` makes the header's own ServiceID.
pub fn adyen_status_body(sale: &NexoSale, n: u64) -> Bytes {
    let own = format!("q{}", n % 1_000_000_000);
    Bytes::from(format!(
        r#"{{"SaleToPOIRequest":{{"MessageHeader":{{"ProtocolVersion":"3.0","MessageClass":"Service","MessageCategory":"TransactionStatus","MessageType":"Request","SaleID":"{BENCH_SALE_ID}","ServiceID":"{own}","POIID":"{}"}},"TransactionStatusRequest":{{"ReceiptReprintFlag":true,"DocumentQualifier":["CashierReceipt","CustomerReceipt"],"MessageReference":{{"SaleID":"{BENCH_SALE_ID}","ServiceID":"{}","MessageCategory":"Payment"}}}}}}}}"#,
        sale.poiid, sale.service_id
    ))
}

/// The dialect rows: the native `GET` of an interaction and the Adyen `/sync`
/// `TransactionStatus` that wraps it, over the same sales, same connections, same run; and
/// the same status request against a peer (Adyen's mock terminal API) when given.
#[derive(Debug, Serialize)]
pub struct DialectReads {
    pub native_get: Throughput,
    pub adyen_status: Throughput,
    pub peer_adyen_mock: Option<Throughput>,
}

pub async fn dialect_reads(
    endpoint: &Arc<Endpoint>,
    sales: &[NexoSale],
    connections: usize,
    warmup: Duration,
    measure: Duration,
    server: Option<u32>,
    peer: Option<(&Arc<Endpoint>, &str)>,
) -> anyhow::Result<DialectReads> {
    anyhow::ensure!(!sales.is_empty(), "no sales were made for the dialect rows");
    let sales: Arc<Vec<NexoSale>> = Arc::new(
        sales
            .iter()
            .map(|s| NexoSale {
                id: s.id.clone(),
                poiid: s.poiid.clone(),
                service_id: s.service_id.clone(),
            })
            .collect(),
    );
    let pick = |sales: &[NexoSale], w: usize, n: u64| {
        (w as u64 * 7919 + n * 104_729) as usize % sales.len()
    };
    // /sync answers 200 whatever happened: check once that this is the full answer (the
    // payment found, receipts included), not a cheap `NotFound` or `Reject`.
    let mut conn = Conn::open(endpoint).await?;
    let reply = conn
        .post_json("/adyen/sync", Some(adyen_status_body(&sales[0], 0)))
        .await?
        .ok()?;
    let text = String::from_utf8_lossy(&reply.body);
    anyhow::ensure!(
        text.contains(r#""Result":"Success""#) && text.contains("RepeatedMessageResponse"),
        "the Adyen TransactionStatus of a bench sale did not answer Success: {text}"
    );
    let s = sales.clone();
    let native: MakeRequest = Arc::new(move |w, n| {
        let sale = &s[pick(&s, w, n)];
        (
            hyper::Method::GET,
            format!("/v1/interactions/{}", sale.id),
            None,
        )
    });
    let native_get = closed_loop_requests(endpoint, connections, warmup, measure, native, server)
        .await
        .context("native GET for the dialect rows")?;
    let status = |path: String| -> MakeRequest {
        let s = sales.clone();
        Arc::new(move |w, n| {
            let sale = &s[pick(&s, w, n)];
            (
                hyper::Method::POST,
                path.clone(),
                Some(adyen_status_body(sale, n)),
            )
        })
    };
    let adyen_status = closed_loop_requests(
        endpoint,
        connections,
        warmup,
        measure,
        status("/adyen/sync".into()),
        server,
    )
    .await
    .context("Adyen /sync TransactionStatus")?;
    let peer_adyen_mock = match peer {
        Some((peer, path)) => Some(
            closed_loop_requests(
                peer,
                connections,
                warmup,
                measure,
                status(path.to_string()),
                None,
            )
            .await
            .context("the Adyen mock's /sync TransactionStatus")?,
        ),
        None => None,
    };
    Ok(DialectReads {
        native_get,
        adyen_status,
        peer_adyen_mock,
    })
}
