//! `poigate-bench link`: how much memory an idle terminal-link connection costs the gateway.
//!
//! Not a test (it takes a minute and measures the machine): it starts a gateway in this
//! process, registers and pairs `--connections` device terminals, then runs the terminals
//! in a child process (`poigate-bench link-clients`) so that their memory is not counted. It reads
//! the gateway's resident set size (`VmRSS`) before and after the connections and prints the
//! cost per connection: over all of them (the headline), and for the second half alone (the
//! marginal cost, without one-off growth such as the session map's). Kernel socket buffers
//! are not part of a process's RSS.

use anyhow::Context;
use clap::Args;
use poigate::config::Config;
use poigate_domain::{ApiKeyMode, TerminalConnection, TerminalKind};
use poigate_link::{ClientConfig, LinkClient};
use poigate_store_sqlite::Synchronous;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchArgs {
    /// Idle connections to hold.
    #[arg(long, default_value_t = 5000)]
    connections: usize,
}

#[derive(Args)]
pub struct ClientsArgs {
    #[arg(long)]
    url: String,
    /// A file of `device_key<TAB>serial_number` lines.
    #[arg(long)]
    keys: std::path::PathBuf,
}

/// Resident set size of a process in KiB (`/proc/<pid>/status`), Linux only.
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The soft limit on open files (`/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

async fn wait_for(what: &str, max: Duration, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let until = Instant::now() + max;
    while !done() {
        anyhow::ensure!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let n = args.connections;
    anyhow::ensure!(
        (2..=100_000).contains(&n),
        "--connections must be 2 to 100000"
    );
    if let Some(limit) = open_files_limit() {
        anyhow::ensure!(
            limit >= n as u64 + 256,
            "the open-files limit is {limit}; raise it (ulimit -n {}) to hold {n} connections",
            n + 256
        );
    }
    let dir = std::env::temp_dir().join(format!("poigate-bench-link-{}", std::process::id()));
    let mut config = Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.clone(),
        ..Config::default()
    };
    config.database.synchronous = Synchronous::Normal;
    let server = poigate::start(&config).await?;
    let engine = server.engine.clone();

    println!("provisioning {n} device terminals …");
    let merchant = engine.admin().create_merchant("Bench").await?;
    engine
        .admin()
        .create_api_key(merchant.id, ApiKeyMode::Test, None)
        .await?;
    let mut keys = String::new();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let engine = engine.clone();
        set.spawn(async move {
            let serial = format!("B{i:07}");
            let t = engine
                .admin()
                .register_terminal(
                    merchant.id,
                    &serial,
                    "V400m",
                    None,
                    TerminalKind::Device,
                    TerminalConnection::Link,
                )
                .await?;
            let code = engine.admin().issue_pairing_code(merchant.id, &t).await?;
            let paired = engine.devices().pair_device(&code.code, &serial).await?;
            Ok::<_, anyhow::Error>(format!("{}\t{serial}\n", paired.device_key))
        });
        if set.len() >= 64
            && let Some(done) = set.join_next().await
        {
            keys.push_str(&done??);
        }
    }
    while let Some(done) = set.join_next().await {
        keys.push_str(&done??);
    }
    let keys_file = dir.join("device-keys.tsv");
    std::fs::write(&keys_file, keys)?;

    let me = std::process::id().to_string();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(&me).context("cannot read VmRSS (Linux /proc needed)")?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["link-clients", "--url", &server.link_url(), "--keys"])
        .arg(&keys_file)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("cannot start the client process")?;
    let gateway = server.terminals.gateway().clone();
    let half = n / 2;
    let started = Instant::now();
    wait_for("the first half", Duration::from_secs(300), || {
        gateway.connected_count() >= half
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let middle = rss_kib(&me).unwrap_or(before);
    if let Some(stdin) = child.stdin.as_mut() {
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
    }
    wait_for("all connections", Duration::from_secs(300), || {
        gateway.connected_count() >= n
    })
    .await?;
    let connect_time = started.elapsed();
    // Idle for a heartbeat round or so, then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(&me).unwrap_or(middle);
    let clients_rss = rss_kib(&child.id().to_string());
    let still = gateway.connected_count();

    let per = |kib: u64, count: usize| kib as f64 * 1024.0 / count.max(1) as f64 / 1024.0;
    println!();
    println!("terminal link, {n} idle connections (gateway process)");
    println!(
        "  connected           {still} (in {:.1} s)",
        connect_time.as_secs_f64()
    );
    println!("  RSS before          {before} KiB");
    println!("  RSS at {half:>5}        {middle} KiB");
    println!("  RSS at {n:>5}        {after} KiB");
    println!(
        "  per connection      {:.1} KiB (first half {:.1} KiB, second half {:.1} KiB)",
        per(after.saturating_sub(before), n),
        per(middle.saturating_sub(before), half),
        per(after.saturating_sub(middle), n - half)
    );
    if let Some(c) = clients_rss {
        println!(
            "  client process      {c} KiB ({:.1} KiB per simulated terminal)",
            per(c, n)
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

/// The child of `link` and of `system`'s link-memory row: opens the connections, half
/// now and half after a line on standard input, then idles until killed. Prints
/// `connected N` once each half is connected.
pub async fn clients(args: ClientsArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.keys)?;
    let terminals: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect();
    let half = terminals.len() / 2;
    let mut clients = Vec::with_capacity(terminals.len());
    for (i, (key, serial)) in terminals.into_iter().enumerate() {
        if i == half {
            report_connected(&clients).await;
            // Wait for the parent's measurement of the first half.
            tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)
            })
            .await??;
        }
        let mut config = ClientConfig::new(&args.url, key, &serial);
        config.max_backoff = Duration::from_secs(5);
        clients.push(LinkClient::spawn(config));
        // Pace the handshakes so the listen backlog never overflows.
        if clients.len() % 100 == 0 {
            for c in &clients[clients.len() - 100..] {
                c.wait_connected(Duration::from_secs(30)).await;
            }
        }
    }
    report_connected(&clients).await;
    std::future::pending::<()>().await;
    Ok(ExitCode::SUCCESS)
}

/// Waits (up to a minute each) for every client to connect and prints how many did.
async fn report_connected(clients: &[LinkClient]) {
    let mut connected = 0;
    for c in clients {
        if c.wait_connected(Duration::from_secs(60)).await {
            connected += 1;
        }
    }
    println!("connected {connected}");
}
