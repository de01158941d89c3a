//! `poigate-bench cluster`: poigate on PostgreSQL, one node and two, against the database's
//! own commit rate measured in the same run.
//!
//! - **baseline**: single-row `INSERT` commits on one connection (fsync on), the ceiling of any
//!   durable write path on this machine's PostgreSQL;
//! - **S1 one node**: the closed loop of `system` (one POS per terminal: create, long-poll to
//!   the outcome, next) through the node that runs the terminals;
//! - **S1 two nodes**: the same loop through the *other* node: every start and every outcome
//!   crosses nodes (a routed command, a commit notification);
//! - **cross-node wake**: a long-poll parked on the node that does not hold the terminal,
//!   woken by an outcome committed on the node that does: time from that commit to the
//!   answer (`poigate-committed-at`, carried by the notification).
//!
//! PostgreSQL runs in a temporary directory (the test harness of `poigate-store-postgres`),
//! switched to durable settings (`fsync`, `synchronous_commit`, `full_page_writes` on) before
//! anything is measured. Both nodes run the demo's three in-process simulated terminals; the
//! node started last holds them.

use crate::suite::http::{Conn, Endpoint};
use crate::suite::stats::{Samples, Summary};
use crate::suite::system::{Brief, EndToEnd, closed_loop_sales, create_sale, sale_body};
use anyhow::Context;
use poigate_store_postgres::testing::PgServer;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Seconds of measurement per S1 row.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Cross-node wake-ups to measure.
    #[arg(long, default_value_t = 200)]
    wakes: usize,
    /// The `poigate` executable [default: next to this one].
    #[arg(long, env = "POIGATE_BIN")]
    poigate_bin: Option<PathBuf>,
}

/// A `poigate serve` node, killed when dropped.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start_node(
    exe: &Path,
    db: &str,
    name: &str,
    key: &str,
    dir: &Path,
) -> anyhow::Result<Node> {
    let listen = format!("127.0.0.1:{}", free_port()?);
    let child = Command::new(exe)
        .args(["serve", "--demo", "--sim-speed", "0", "--log", "warn"])
        .args(["--database", db, "--node-id", name, "--listen", &listen])
        .arg("--data-dir")
        .arg(dir)
        .env("POIGATE_DEMO_API_KEY", key)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let url = format!("http://{listen}");
    let node = Node { child, url };
    let probe = Endpoint::from_url(&node.url, None)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut conn) = Conn::open(&probe).await
            && conn.get("/readyz").await.is_ok_and(|r| r.status == 200)
        {
            return Ok(node);
        }
        anyhow::ensure!(Instant::now() < deadline, "node {name} did not get ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Single-row commits on one connection: commits per second and their latency.
async fn commit_baseline(url: &str, seconds: u64) -> anyhow::Result<(f64, Option<Summary>)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE bench_commit (id bigserial PRIMARY KEY, v bigint NOT NULL)")
        .await?;
    let insert = client
        .prepare("INSERT INTO bench_commit (v) VALUES ($1)")
        .await?;
    let mut samples = Samples::default();
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut n = 0i64;
    while Instant::now() < until {
        let t = Instant::now();
        client.execute(&insert, &[&n]).await?;
        samples.push_duration(t.elapsed());
        n += 1;
    }
    Ok((
        n as f64 / started.elapsed().as_secs_f64(),
        samples.summary(),
    ))
}

/// Long-polls parked on `waiter`, woken by outcomes committed on `owner`.
async fn cross_node_wakes(
    owner: &Arc<Endpoint>,
    waiter: &Arc<Endpoint>,
    terminal: &str,
    n: usize,
) -> anyhow::Result<Option<Summary>> {
    let mut control = Conn::open(owner).await?;
    let mut samples = Samples::with_capacity(n);
    for i in 0..n {
        control
            .post_json(&format!("/v1/test-helpers/terminals/{terminal}/hold"), None)
            .await?
            .ok()?;
        let id = create_sale(
            &mut control,
            sale_body(terminal, &format!("wake-{i}"), None),
        )
        .await?;
        // Parked on the other node, after the terminal acknowledged (so only the outcome wakes it).
        let mut seq = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while seq < 2 {
            let brief: serde_json::Value = control
                .get(&format!("/v1/interactions/{id}"))
                .await?
                .ok()?
                .json()?;
            seq = brief["last_event_seq"].as_u64().unwrap_or(0);
            anyhow::ensure!(Instant::now() < deadline, "sale {id} was not acknowledged");
        }
        let waiter = waiter.clone();
        let parked_id = id.clone();
        let parked = tokio::spawn(async move {
            let mut conn = Conn::open(&waiter).await?;
            let reply = conn
                .get(&format!(
                    "/v1/interactions/{parked_id}?wait=30&after_seq=99"
                ))
                .await?
                .ok()?;
            let received = wall_micros();
            let committed: Option<i64> = reply
                .headers
                .get("poigate-committed-at")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            anyhow::ensure!(reply.json::<Brief>()?.is_final, "woken before the outcome");
            Ok::<_, anyhow::Error>(committed.map(|c| received - c))
        });
        // Let the long-poll park on the other node before the outcome comes; one that was
        // too late sees the outcome at once, has no `poigate-committed-at`, and is not counted.
        tokio::time::sleep(Duration::from_millis(20)).await;
        control
            .post_json(
                &format!("/v1/test-helpers/terminals/{terminal}/present-card"),
                None,
            )
            .await?
            .ok()?;
        if let Some(micros) = parked.await?? {
            samples.push(u64::try_from(micros).unwrap_or(0));
        }
    }
    Ok(samples.summary())
}

fn wall_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn row(name: &str, e: &EndToEnd, base: f64) {
    println!(
        "{name:<34} {:>10.1}/s  ratio to the commit baseline {:>5.3}  completion p50 {:>6.2} ms p99 {:>7.2} ms  errors {}",
        e.interactions_per_second,
        e.interactions_per_second / base,
        e.completion.map_or(0.0, |s| s.p50_ms),
        e.completion.map_or(0.0, |s| s.p99_ms),
        e.errors
    );
}

pub async fn run(args: BenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let exe = crate::exes::poigate(args.poigate_bin.as_deref())?;
    eprintln!("starting PostgreSQL (temporary directory) …");
    let pg = PgServer::start().context("PostgreSQL is needed (apt-get install postgresql)")?;
    let db = pg.create_database().await?;
    {
        // The harness runs PostgreSQL for tests (no fsync); measure it durable.
        let (client, connection) = tokio_postgres::connect(&db, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        // One statement at a time: ALTER SYSTEM refuses to run in a multi-statement batch.
        for sql in [
            "ALTER SYSTEM SET fsync = on",
            "ALTER SYSTEM SET synchronous_commit = on",
            "ALTER SYSTEM SET full_page_writes = on",
            "SELECT pg_reload_conf()",
        ] {
            client.batch_execute(sql).await?;
        }
    }
    eprintln!("baseline: single-row commits for {} s …", args.seconds);
    let (commits, commit_latency) = commit_baseline(&db, args.seconds).await?;
    let key = "pg_test_benchcluster0123456789abcdef0123".to_string();
    let dirs = tempfile::tempdir()?;
    let a = start_node(&exe, &db, "bench-a", &key, &dirs.path().join("a")).await?;
    // Started last, node b holds the demo terminals.
    let b = start_node(&exe, &db, "bench-b", &key, &dirs.path().join("b")).await?;
    let terminals: Vec<String> = ["V400m-324688179", "P400Plus-275039202", "S1F2-1850000000"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    let on_a = Endpoint::from_url(&a.url, Some(&key))?;
    let on_b = Endpoint::from_url(&b.url, Some(&key))?;
    // Node a learns that node b holds the terminals (a notification; the refresh within 1 s).
    let mut probe = Conn::open(&on_a).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    for t in &terminals {
        loop {
            let view: serde_json::Value = probe
                .get(&format!("/v1/terminals/{t}"))
                .await?
                .ok()?
                .json()?;
            if view["status"] == "online" {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "node a does not see terminal {t}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let measure = Duration::from_secs(args.seconds);
    let warmup = Duration::from_secs(1);
    eprintln!("S1 through the node that holds the terminals …");
    let one = closed_loop_sales(&on_b, &terminals, warmup, measure, None).await?;
    eprintln!("S1 through the other node …");
    let two = closed_loop_sales(&on_a, &terminals, warmup, measure, None).await?;
    eprintln!("cross-node wake-ups ({}) …", args.wakes);
    let wakes = cross_node_wakes(&on_b, &on_a, &terminals[0], args.wakes).await?;

    println!();
    println!(
        "poigate on PostgreSQL ({} terminals, simulated cardholders at speed 0)",
        terminals.len()
    );
    println!(
        "{:<34} {:>10.1}/s  commit p50 {:.2} ms p99 {:.2} ms",
        "baseline: single-row commits",
        commits,
        commit_latency.map_or(0.0, |s| s.p50_ms),
        commit_latency.map_or(0.0, |s| s.p99_ms)
    );
    row("S1 one node (terminals local)", &one, commits);
    row("S1 two nodes (sales cross nodes)", &two, commits);
    match wakes {
        Some(s) => println!(
            "{:<34} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} samples; target p99 <= 10 ms)",
            "cross-node long-poll wake", s.p50_ms, s.p99_ms, s.max_ms, s.count
        ),
        None => println!("cross-node long-poll wake: no sample"),
    }
    drop(a);
    drop(b);
    Ok(std::process::ExitCode::SUCCESS)
}
