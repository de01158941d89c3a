//! Benchmark: webhook deliveries per second to a local receiver, next to a raw HTTP fan-out
//! baseline measured in the same run, on the same machine, with the same concurrency.
//!
//! The system row includes everything a real delivery does: leasing from the SQLite outbox
//! (WAL, `synchronous=FULL`), rendering and signing the body (HMAC-SHA256), the HTTP POST,
//! and the durable attempt record. The baseline is bare POSTs of the same body.
//!
//! The two rows are measured in alternating rounds (a baseline round, then a delivery round
//! with a fresh worker, and again), and each row's rate is its items over its summed time:
//! on a shared machine the load of other processes changes from second to second, and two
//! rows measured one after the other compared that load as much as the code.
//!
//! Run: `cargo run --release -p poigate-webhooks --example bench_deliveries -- [messages] [rounds]`

use poigate_domain::webhook::terminal_message;
use poigate_domain::{
    EndpointKind, MerchantId, SigningSecret, Terminal, TerminalId, TerminalKind, TerminalStatus,
    Timestamp, WebhookEndpoint, WebhookEndpointId,
};
use poigate_engine::{Clock, SystemClock};
use poigate_store::Store;
use poigate_store_sqlite::{SqliteConfig, SqliteStore};
use poigate_webhooks::{TargetPolicy, WebhookConfig, WebhookWorker};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 64;

async fn receiver(count: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/hook"))
}

async fn baseline(url: &str, body: Vec<u8>, n: usize) -> anyhow::Result<f64> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, next, url, body) = (http.clone(), next.clone(), url.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let _ = r.bytes().await?;
            }
            Ok::<_, reqwest::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    poigate_webhooks::install_tls_provider();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5)
        .clamp(1, n.max(1));
    let count = Arc::new(AtomicUsize::new(0));
    let url = receiver(count.clone()).await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&SqliteConfig::new(
        dir.path().join("bench.db"),
    ))?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let merchant = poigate_domain::Merchant {
        id: MerchantId::generate(now),
        name: "bench".into(),
        created_at: now,
        disabled_at: None,
    };
    store.create_merchant(&merchant).await?;
    store
        .save_webhook_endpoint(&WebhookEndpoint {
            id: WebhookEndpointId::generate(now),
            merchant_id: merchant.id,
            livemode: false,
            kind: EndpointKind::Endpoint,
            url: url.clone(),
            format: None,
            description: None,
            events: vec!["*".into()],
            enabled: true,
            disabled_reason: None,
            secrets: vec![SigningSecret {
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                created_at: now,
                expires_at: None,
            }],
            created_at: now,
            updated_at: now,
        })
        .await?;
    // Many subjects, so per-subject ordering does not serialise the run.
    let messages: Vec<_> = (0..n)
        .map(|i| {
            let terminal = Terminal {
                id: TerminalId::generate(now),
                merchant_id: merchant.id,
                livemode: false,
                serial_number: format!("{i}"),
                model: "V400m".into(),
                label: None,
                kind: TerminalKind::Simulated,
                connection: poigate_domain::TerminalConnection::InProcess,
                created_at: now,
            };
            terminal_message(
                &terminal,
                TerminalStatus::Online,
                Timestamp::from_millis(now.as_millis() + i as i64),
            )
        })
        .collect();
    let body = poigate_webhooks::render::body(&messages[0])?;
    println!(
        "webhook delivery benchmark: {n} messages in {rounds} alternating rounds, concurrency {CONCURRENCY}, body {} bytes",
        body.len()
    );
    let per_round = n.div_ceil(rounds);
    let (mut base_time, mut base_items) = (Duration::ZERO, 0usize);
    let (mut system_time, mut system_items) = (Duration::ZERO, 0usize);
    let mut ratios = Vec::new();
    for round in messages.chunks(per_round) {
        let m = round.len();
        let started = Instant::now();
        baseline(&url, body.clone(), m).await?;
        let base_round = started.elapsed();

        // The round's messages are committed to the outbox before the clock starts, as the
        // engine commits them with its state changes; the worker starts with the clock.
        for chunk in round.chunks(500) {
            store.append_outbox(chunk).await?;
        }
        count.store(0, Ordering::Relaxed);
        let signal = Arc::new(tokio::sync::Notify::new());
        let worker = WebhookWorker::new(
            store.clone(),
            clock.clone(),
            signal.clone(),
            WebhookConfig {
                policy: TargetPolicy {
                    allow_private: true,
                },
                max_concurrency: CONCURRENCY,
                max_per_target: CONCURRENCY,
                ..WebhookConfig::default()
            },
        )?;
        let started = Instant::now();
        let handle = worker.spawn();
        signal.notify_one();
        loop {
            if count.load(Ordering::Relaxed) >= m && store.next_delivery_due().await?.is_none() {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(600),
                "did not finish in 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let system_round = started.elapsed();
        handle.stop().await;
        ratios.push(base_round.as_secs_f64() / system_round.as_secs_f64());
        base_time += base_round;
        base_items += m;
        system_time += system_round;
        system_items += m;
    }
    let base = base_items as f64 / base_time.as_secs_f64();
    let system = system_items as f64 / system_time.as_secs_f64();
    let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = ratios.iter().copied().fold(0.0, f64::max);
    println!();
    println!("| row | per second | ratio to baseline |");
    println!("|---|---:|---:|");
    println!("| baseline: raw HTTP POST fan-out | {base:.0} | 1.00 |");
    println!(
        "| poigate: signed, durable deliveries (SQLite FULL) | {system:.0} | {:.2} |",
        system / base
    );
    println!();
    println!("ratio per round: {lowest:.2} to {highest:.2}");
    println!(
        "targets: at least 1,000 deliveries/s -> {}; ratio at least 0.30 (issue 17) -> {}",
        if system >= 1000.0 { "met" } else { "MISSED" },
        if system / base >= 0.3 {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}
