//! `poigate-bench system`: in one run, the machine's baselines and the gateway's system rows,
//! a table with every system row's ratio to its baseline, and the same as JSON (`--out`).
//!
//! The gateway runs as a real `poigate serve` process (durable SQLite, `synchronous=FULL`)
//! pinned to core 0; the load generator (this process, hyper HTTP/1.1 clients) and the
//! simulated terminals (a `poigate terminal-sim` process on the terminal link) run on core 1.
//! The bare axum baseline is served by `poigate-bench baseline-server` on core 0, under the
//! same load generator. See `docs/performance.md` for the rows, the method and the results.

mod baseline;
pub(crate) mod http;
mod link_memory;
mod load;
mod parked;
mod procs;
mod report;
pub(crate) mod stats;
pub(crate) mod system;

use crate::exes::{self, Exes};
use anyhow::Context;
use clap::Args;
use http::{Conn, Endpoint};
use procs::{Placement, Proc};
use report::{Better, Row, Target};
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use baseline::serve as serve_baseline;

#[derive(Args)]
pub struct BenchArgs {
    /// Short runs and 1,000 instead of 10,000 parked long-polls and link connections: under
    /// a minute, for everyday use.
    #[arg(long)]
    quick: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Terminals (and POS clients) in the end-to-end closed loop [default: 64 quick, 256 full].
    #[arg(long)]
    terminals: Option<usize>,
    /// Every row, as small and short as possible: proves the benchmark runs (its test), not
    /// the machine.
    #[arg(long, hide = true, conflicts_with = "quick")]
    smoke: bool,
    /// The `poigate` executable to measure [default: `poigate` next to this executable].
    #[arg(long, env = "POIGATE_BIN")]
    poigate_bin: Option<std::path::PathBuf>,
    /// Adyen's mock terminal API (adyen-examples/adyen-mock-terminal-api), e.g.
    /// `http://127.0.0.1:8080/sync`: adds the peer row, the same `TransactionStatus` request
    /// at the same concurrency, with poigate's ratio to it (docs/performance.md says how to
    /// start the mock; nothing is downloaded here).
    #[arg(long, value_name = "URL")]
    peer_adyen_mock: Option<String>,
}

#[derive(Args)]
pub struct BaselineServerArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
}

/// How long and how big each part runs.
#[derive(Clone, Debug, Serialize)]
struct Plan {
    mode: &'static str,
    baseline_seconds: f64,
    warmup_seconds: f64,
    s1_seconds: f64,
    s1_terminals: usize,
    open_loop_rate: f64,
    open_loop_seconds: f64,
    read_seconds: f64,
    read_connections: usize,
    parked_long_polls: usize,
    held_interactions: usize,
    wake_samples: usize,
    link_connections: usize,
}

impl Plan {
    fn new(args: &BenchArgs) -> Plan {
        if args.smoke {
            return Plan {
                mode: "smoke",
                baseline_seconds: 0.2,
                warmup_seconds: 0.2,
                s1_seconds: 1.0,
                s1_terminals: args.terminals.unwrap_or(4),
                open_loop_rate: 100.0,
                open_loop_seconds: 0.5,
                read_seconds: 0.3,
                read_connections: 4,
                parked_long_polls: 40,
                held_interactions: 2,
                wake_samples: 10,
                link_connections: 20,
            };
        }
        if args.quick {
            Plan {
                mode: "quick",
                baseline_seconds: 0.7,
                warmup_seconds: 0.5,
                s1_seconds: 3.0,
                s1_terminals: args.terminals.unwrap_or(64),
                open_loop_rate: 1000.0,
                open_loop_seconds: 3.0,
                read_seconds: 1.5,
                read_connections: 32,
                parked_long_polls: 1000,
                held_interactions: 10,
                wake_samples: 100,
                link_connections: 1000,
            }
        } else {
            Plan {
                mode: "full",
                baseline_seconds: 3.0,
                warmup_seconds: 2.0,
                s1_seconds: 15.0,
                s1_terminals: args.terminals.unwrap_or(256),
                open_loop_rate: 1000.0,
                open_loop_seconds: 15.0,
                read_seconds: 5.0,
                read_connections: 32,
                parked_long_polls: 10_000,
                held_interactions: 100,
                wake_samples: 1000,
                link_connections: 10_000,
            }
        }
    }
}

#[derive(Serialize)]
struct Report {
    poigate_version: &'static str,
    plan: Plan,
    machine: Machine,
    placement: String,
    rows: Vec<Row>,
    details: Details,
}

#[derive(Serialize, Default)]
struct Details {
    end_to_end: Option<system::EndToEnd>,
    open_loop: Option<system::OpenLoop>,
    reads: Option<system::Reads>,
    dialect: Option<system::DialectReads>,
    both_cores: Option<system::EndToEnd>,
    bare_axum: Option<load::Throughput>,
    parked: Option<parked::Parked>,
    link: Option<link_memory::LinkMemory>,
}

#[derive(Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    memory_gib: f64,
    kernel: String,
}

impl Machine {
    fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".into(), |(_, v)| v.trim().to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
        }
    }
}

/// Progress on standard error, one line per step, with the time since the start.
struct Progress(Instant);

impl Progress {
    fn step(&self, what: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "[{:>5.1}s] {what}", self.0.elapsed().as_secs_f64());
    }
}

/// Entry point, before any runtime exists: pins this process to the load core first so that
/// every thread of the runtime built here inherits it.
pub fn main(args: BenchArgs) -> ExitCode {
    let placement = Placement::detect();
    let (cores_before_pin, pinned) = (
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        placement.pin_self(),
    );
    if let Err(e) = pinned {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, placement, cores_before_pin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: BenchArgs, placement: Placement, cores: usize) -> anyhow::Result<()> {
    let plan = Plan::new(&args);
    anyhow::ensure!(
        (1..=5000).contains(&plan.s1_terminals),
        "--terminals must be 1 to 5000"
    );
    let exes = Exes {
        poigate: exes::poigate(args.poigate_bin.as_deref())?,
        me: exes::this_exe()?,
    };
    let progress = Progress(Instant::now());
    let scratch = procs::scratch_dir()?;
    let open_files = procs::raise_open_files();
    let needed = plan.parked_long_polls.max(plan.link_connections) as u64 + 1024;
    anyhow::ensure!(
        open_files >= needed,
        "the open-files limit is {open_files}; {needed} are needed (raise the hard limit, e.g. ulimit -Hn {needed})"
    );
    let mut machine = Machine::describe();
    machine.cores = cores;
    progress.step(&format!(
        "poigate-bench system ({} run) on {} ({} cores, {} GiB); {}",
        plan.mode,
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        placement.describe()
    ));
    let peer = match &args.peer_adyen_mock {
        Some(url) => {
            let endpoint = http::Endpoint::from_url(url, None)?;
            let path = url
                .strip_prefix("http://")
                .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
                .unwrap_or_else(|| "/sync".into());
            Some((endpoint, path))
        }
        None => None,
    };
    let run = Run {
        peer: peer.as_ref(),
        plan: &plan,
        placement: &placement,
        exes: &exes,
        scratch: scratch.path(),
        progress: &progress,
    };
    let mut details = Details::default();
    let base = run.baselines(&mut details).await?;
    let mut rows = run.end_to_end(&base, &mut details).await?;
    rows.extend(run.both_cores(&base, &mut details).await?);
    rows.extend(run.parked(&base, &mut details).await?);
    rows.extend(run.link(&base, &mut details).await?);
    let mut all = base.rows();
    all.extend(rows);
    progress.step("done");

    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(
        out,
        "poigate-bench system, {} run: {} ({} cores, {} GiB, Linux {}); {}\n",
        plan.mode,
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        machine.kernel,
        placement.describe()
    )?;
    write!(out, "{}", report::table(&all))?;
    let report = Report {
        poigate_version: env!("CARGO_PKG_VERSION"),
        plan: plan.clone(),
        machine,
        placement: placement.describe(),
        rows: all,
        details,
    };
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(out, "\nJSON report written to {}", path.display())?;
    }
    Ok(())
}

/// What every phase of a run shares.
struct Run<'a> {
    /// `--peer-adyen-mock`: its endpoint and path.
    peer: Option<&'a (Arc<Endpoint>, String)>,
    plan: &'a Plan,
    placement: &'a Placement,
    exes: &'a Exes,
    scratch: &'a std::path::Path,
    progress: &'a Progress,
}

/// The baseline rows, by what they are the baseline of.
struct Baselines {
    fsync50: Row,
    fsync99: Row,
    commits: Row,
    rows100: Row,
    axum: Row,
    rtt50: Row,
    rtt99: Row,
    conn: Row,
    axum_cpu: Row,
}

impl Baselines {
    fn rows(&self) -> Vec<Row> {
        [
            &self.fsync50,
            &self.fsync99,
            &self.commits,
            &self.rows100,
            &self.axum,
            &self.rtt50,
            &self.rtt99,
            &self.conn,
            &self.axum_cpu,
        ]
        .into_iter()
        .cloned()
        .collect()
    }
}

impl Run<'_> {
    fn seconds(&self, s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    async fn baselines(&self, details: &mut Details) -> anyhow::Result<Baselines> {
        let (plan, dir) = (self.plan, self.scratch);
        let time = self.seconds(plan.baseline_seconds);
        self.progress
            .step("baseline: fsync latency (append 4 KiB + fdatasync)");
        let fsync = baseline::fsync_latency(dir, time)?;
        self.progress
            .step("baseline: raw rusqlite WAL synchronous=FULL");
        let commits = baseline::sqlite_rows_per_second(dir, 1, time)?;
        let rows100 = baseline::sqlite_rows_per_second(dir, 100, time)?;
        self.progress
            .step("baseline: bare axum JSON handler, same load generator");
        let (axum_rps, axum_rtt, axum_conn_kib) =
            bare_axum(self.placement, &self.exes.me, plan).await?;
        let rtt = axum_rtt.latency.context("no bare axum latency samples")?;
        let axum_cpu = axum_rps
            .cpu_us_per_request
            .context("no bare axum CPU figure")?;
        details.bare_axum = Some(axum_rps);
        let lower = Better::Lower;
        Ok(Baselines {
            fsync50: Row::baseline(
                "B1",
                "fsync p50 (4 KiB append + fdatasync)",
                fsync.p50_ms,
                "ms",
                lower,
            ),
            fsync99: Row::baseline("B2", "fsync p99", fsync.p99_ms, "ms", lower),
            commits: Row::baseline(
                "B3",
                "rusqlite WAL FULL, 1 row per transaction",
                commits,
                "commits/s",
                Better::Higher,
            ),
            rows100: Row::baseline(
                "B4",
                "rusqlite WAL FULL, 100 rows per transaction",
                rows100,
                "rows/s",
                Better::Higher,
            ),
            axum: Row::baseline(
                "B5",
                format!("bare axum JSON GET, {} connections", plan.read_connections),
                axum_rps.requests_per_second,
                "req/s",
                Better::Higher,
            ),
            rtt50: Row::baseline(
                "B6",
                "bare axum round trip p50, 1 connection",
                rtt.p50_ms,
                "ms",
                lower,
            ),
            rtt99: Row::baseline(
                "B7",
                "bare axum round trip p99, 1 connection",
                rtt.p99_ms,
                "ms",
                lower,
            ),
            conn: Row::baseline(
                "B8",
                "bare axum idle keep-alive connection",
                axum_conn_kib,
                "KiB",
                lower,
            ),
            axum_cpu: Row::baseline(
                "B9",
                format!(
                    "bare axum CPU per request, {} connections",
                    plan.read_connections
                ),
                axum_cpu,
                "µs",
                lower,
            ),
        })
    }

    /// S1 (closed and open loop) and S2, on one gateway with `s1_terminals` terminals.
    async fn end_to_end(
        &self,
        base: &Baselines,
        details: &mut Details,
    ) -> anyhow::Result<Vec<Row>> {
        let plan = self.plan;
        let mut rows = Vec::new();
        self.progress
            .step("starting the gateway (serve --demo, synchronous=FULL) and terminal-sim");
        let gateway = system::Gateway::start(
            self.placement,
            &self.exes.poigate,
            &self.scratch.join("gateway"),
        )
        .await?;
        let fleet = system::Fleet::start(
            self.placement,
            &self.exes.poigate,
            &gateway,
            plan.s1_terminals,
        )
        .await?;
        let terminals = &fleet.terminals;

        self.progress.step(&format!(
            "S1 closed loop: {} POS clients on {} terminals for {} s",
            terminals.len(),
            terminals.len(),
            plan.s1_seconds
        ));
        let server = Some(gateway.proc.pid()?);
        let e2e = system::closed_loop_sales(
            &gateway.endpoint,
            terminals,
            self.seconds(plan.warmup_seconds),
            self.seconds(plan.s1_seconds),
            server,
        )
        .await?;
        let create = e2e.create.context("S1 completed no sale")?;
        let completion = e2e.completion.context("S1 completed no sale")?;
        let (lower, f50, f99) = (Better::Lower, &base.fsync50, &base.fsync99);
        rows.push(Row::system(
            "S1",
            format!(
                "interactions/s end to end, {} terminals, durable",
                e2e.terminals
            ),
            e2e.interactions_per_second,
            "/s",
            Better::Higher,
            &base.commits,
            Some(Target::Value(5000.0)),
        ));
        let cpu = e2e.cpu_us_per_sale.context("no CPU figure for S1")?;
        rows.push(Row::system(
            "S1.cpu",
            "CPU per sale, gateway process (all threads)",
            cpu,
            "µs",
            lower,
            &base.axum_cpu,
            Some(Target::Value(200.0)),
        ));
        rows.push(Row::system(
            "S1.c50",
            "closed loop: create p50",
            create.p50_ms,
            "ms",
            lower,
            f50,
            None,
        ));
        rows.push(Row::system(
            "S1.c99",
            "closed loop: create p99",
            create.p99_ms,
            "ms",
            lower,
            f99,
            None,
        ));
        rows.push(Row::system(
            "S1.f50",
            "closed loop: completion p50",
            completion.p50_ms,
            "ms",
            lower,
            f50,
            None,
        ));
        rows.push(Row::system(
            "S1.f99",
            "closed loop: completion p99",
            completion.p99_ms,
            "ms",
            lower,
            f99,
            None,
        ));
        self.progress.step(&format!(
            "S1: {:.0} interactions/s, {cpu:.0} µs CPU per sale, create p99 {:.2} ms, completion p99 {:.2} ms ({} errors)",
            e2e.interactions_per_second, create.p99_ms, completion.p99_ms, e2e.errors
        ));

        self.progress.step(&format!(
            "S1 open loop: {} sales/s for {} s",
            plan.open_loop_rate, plan.open_loop_seconds
        ));
        let open = system::open_loop_sales(
            &gateway.endpoint,
            terminals,
            plan.open_loop_rate,
            self.seconds(plan.open_loop_seconds),
        )
        .await?;
        let o_create = open.create.context("the open loop completed no sale")?;
        let o_done = open.completion.context("the open loop completed no sale")?;
        let at = format!("{:.0}/s", plan.open_loop_rate);
        rows.push(Row::system(
            "S1.o50",
            format!("open loop {at}: create p50"),
            o_create.p50_ms,
            "ms",
            lower,
            f50,
            None,
        ));
        rows.push(Row::system(
            "S1.o99",
            format!("open loop {at}: create p99"),
            o_create.p99_ms,
            "ms",
            lower,
            f99,
            Some(Target::Value(10.0)),
        ));
        rows.push(Row::system(
            "S1.of99",
            format!("open loop {at}: completion p99"),
            o_done.p99_ms,
            "ms",
            lower,
            f99,
            None,
        ));
        self.progress.step(&format!(
            "S1 open loop: create p99 {:.2} ms, completion p99 {:.2} ms ({} not sent for want of a free terminal, {} errors)",
            o_create.p99_ms, o_done.p99_ms, open.no_free_terminal, open.errors
        ));

        self.progress.step(&format!(
            "S2 reads: {} connections, {} s each",
            plan.read_connections, plan.read_seconds
        ));
        let reads = system::reads(
            &gateway.endpoint,
            &e2e.made,
            plan.read_connections,
            self.seconds(plan.warmup_seconds.min(1.0)),
            self.seconds(plan.read_seconds),
            server,
        )
        .await?;
        for (id, what, t) in [
            ("S2.get", "GET interaction", &reads.get_interaction),
            ("S2.events", "GET events", &reads.list_events),
            (
                "S2.lookup",
                "lookup by reference",
                &reads.lookup_by_reference,
            ),
        ] {
            let target = Some(Target::Ratio(0.5));
            rows.push(Row::system(
                id,
                what,
                t.requests_per_second,
                "req/s",
                Better::Higher,
                &base.axum,
                target,
            ));
            self.progress.step(&format!(
                "S2 {what}: {:.0} req/s, {:.0} µs CPU per request ({} errors)",
                t.requests_per_second,
                t.cpu_us_per_request.unwrap_or(f64::NAN),
                t.errors
            ));
        }
        rows.extend(self.dialect(base, &gateway, terminals, details).await?);
        details.end_to_end = Some(e2e);
        details.open_loop = Some(open);
        details.reads = Some(reads);
        fleet.proc.stop().await;
        gateway.proc.stop().await;
        Ok(rows)
    }

    /// D1: the Adyen `/sync` `TransactionStatus` against the native `GET` it wraps, and,
    /// with `--peer-adyen-mock`, against Adyen's own mock.
    async fn dialect(
        &self,
        base: &Baselines,
        gateway: &system::Gateway,
        terminals: &[String],
        details: &mut Details,
    ) -> anyhow::Result<Vec<Row>> {
        let plan = self.plan;
        let per_terminal = (2048 / terminals.len().max(1)).clamp(1, 16);
        self.progress.step(&format!(
            "D1: {per_terminal} sales per terminal with a nexo SaleID/ServiceID, then native GET vs Adyen /sync TransactionStatus"
        ));
        let sales = system::nexo_sales(&gateway.endpoint, terminals, per_terminal).await?;
        let peer = self.peer.map(|(e, p)| (e, p.as_str()));
        let d = system::dialect_reads(
            &gateway.endpoint,
            &sales,
            plan.read_connections,
            self.seconds(plan.warmup_seconds.min(1.0)),
            self.seconds(plan.read_seconds),
            Some(gateway.proc.pid()?),
            peer,
        )
        .await?;
        let native = Row::system(
            "D1.get",
            "native GET interaction (the read D1 wraps)",
            d.native_get.requests_per_second,
            "req/s",
            Better::Higher,
            &base.axum,
            None,
        );
        let adyen = Row::system(
            "D1.adyen",
            "Adyen /sync TransactionStatus, receipts",
            d.adyen_status.requests_per_second,
            "req/s",
            Better::Higher,
            &native,
            Some(Target::Ratio(0.8)),
        );
        let mut rows = vec![native];
        for (id, what, t) in [
            ("D1.getcpu", "CPU per native GET", &d.native_get),
            (
                "D1.adyencpu",
                "CPU per Adyen TransactionStatus",
                &d.adyen_status,
            ),
        ] {
            if let Some(cpu) = t.cpu_us_per_request {
                rows.push(Row::system(
                    id,
                    what,
                    cpu,
                    "µs",
                    Better::Lower,
                    &base.axum_cpu,
                    None,
                ));
            }
        }
        self.progress.step(&format!(
            "D1: native GET {:.0} req/s ({:.0} µs CPU), Adyen TransactionStatus {:.0} req/s ({:.0} µs CPU), {} + {} errors",
            d.native_get.requests_per_second,
            d.native_get.cpu_us_per_request.unwrap_or(f64::NAN),
            d.adyen_status.requests_per_second,
            d.adyen_status.cpu_us_per_request.unwrap_or(f64::NAN),
            d.native_get.errors,
            d.adyen_status.errors
        ));
        if let Some(peer) = &d.peer_adyen_mock {
            let mock = Row::baseline(
                "P1",
                "Adyen mock terminal API /sync TransactionStatus (peer)",
                peer.requests_per_second,
                "req/s",
                Better::Higher,
            );
            let versus = Row::system(
                "P1.adyen",
                "poigate Adyen TransactionStatus vs the mock",
                adyen.value,
                "req/s",
                Better::Higher,
                &mock,
                Some(Target::Ratio(10.0)),
            );
            self.progress.step(&format!(
                "P1: the Adyen mock {:.0} req/s ({} errors)",
                peer.requests_per_second, peer.errors
            ));
            rows.push(adyen);
            rows.push(mock);
            rows.push(versus);
        } else {
            rows.push(adyen);
        }
        details.dialect = Some(d);
        Ok(rows)
    }

    /// S1 again on a fresh gateway free to use every core (the load generator and the
    /// terminals stay on theirs, so they compete with it there).
    async fn both_cores(
        &self,
        base: &Baselines,
        details: &mut Details,
    ) -> anyhow::Result<Vec<Row>> {
        let plan = self.plan;
        self.progress
            .step("S1 both cores: a fresh gateway, not pinned, and terminal-sim");
        let gateway = system::Gateway::start_on(
            self.placement.server_command_all_cores(&self.exes.poigate),
            &self.scratch.join("gateway-both-cores"),
        )
        .await?;
        let fleet = system::Fleet::start(
            self.placement,
            &self.exes.poigate,
            &gateway,
            plan.s1_terminals,
        )
        .await?;
        let e2e = system::closed_loop_sales(
            &gateway.endpoint,
            &fleet.terminals,
            self.seconds(plan.warmup_seconds),
            self.seconds(plan.s1_seconds),
            Some(gateway.proc.pid()?),
        )
        .await?;
        fleet.proc.stop().await;
        gateway.proc.stop().await;
        let cpu = e2e.cpu_us_per_sale.context("no CPU figure for S1")?;
        self.progress.step(&format!(
            "S1 both cores: {:.0} interactions/s, {cpu:.0} µs CPU per sale ({} errors)",
            e2e.interactions_per_second, e2e.errors
        ));
        let rows = vec![
            Row::system(
                "S1.2c",
                format!(
                    "interactions/s, {} terminals, gateway on both cores",
                    e2e.terminals
                ),
                e2e.interactions_per_second,
                "/s",
                Better::Higher,
                &base.commits,
                None,
            ),
            Row::system(
                "S1.2ccpu",
                "CPU per sale, gateway on both cores",
                cpu,
                "µs",
                Better::Lower,
                &base.axum_cpu,
                None,
            ),
        ];
        details.both_cores = Some(e2e);
        Ok(rows)
    }

    /// S4 and S5 for long-polls, on a fresh gateway (so that the memory the earlier rows
    /// freed does not hide what the parked long-polls take).
    async fn parked(&self, base: &Baselines, details: &mut Details) -> anyhow::Result<Vec<Row>> {
        let plan = self.plan;
        self.progress.step(&format!(
            "S4/S5: a fresh gateway; {} long-polls parked on {} held interactions, then {} wake samples",
            plan.parked_long_polls, plan.held_interactions, plan.wake_samples
        ));
        let gateway = system::Gateway::start(
            self.placement,
            &self.exes.poigate,
            &self.scratch.join("gateway-polls"),
        )
        .await?;
        let fleet = system::Fleet::start(
            self.placement,
            &self.exes.poigate,
            &gateway,
            plan.held_interactions + 1,
        )
        .await?;
        let (holders, samplers) = fleet.terminals.split_at(plan.held_interactions);
        let parked = parked::long_polls(
            &gateway,
            holders,
            samplers,
            plan.parked_long_polls,
            plan.wake_samples,
        )
        .await?;
        fleet.proc.stop().await;
        gateway.proc.stop().await;

        let wake = parked.wake.context("no wake sample")?;
        let n = parked.parked;
        let mut rows = vec![
            Row::system(
                "S4.50",
                format!("long-poll wake p50, {n} parked"),
                wake.p50_ms,
                "ms",
                Better::Lower,
                &base.rtt50,
                None,
            ),
            Row::system(
                "S4.99",
                format!("long-poll wake p99, {n} parked"),
                wake.p99_ms,
                "ms",
                Better::Lower,
                &base.rtt99,
                Some(Target::Value(2.0)),
            ),
        ];
        if let Some(fanout) = parked.fanout_wake {
            let per = n / parked.held_interactions.max(1);
            let what = format!("fan-out wake p99, {per} long-polls per outcome");
            rows.push(Row::system(
                "S4.fan99",
                what,
                fanout.p99_ms,
                "ms",
                Better::Lower,
                &base.rtt99,
                None,
            ));
        }
        rows.push(Row::system(
            "S5.poll",
            "memory per parked long-poll",
            parked.kib_per_long_poll,
            "KiB",
            Better::Lower,
            &base.conn,
            Some(Target::Value(24.0)),
        ));
        self.progress.step(&format!(
            "S4: wake p50 {:.3} ms, p99 {:.3} ms ({} discarded); {} of {n} parked long-polls woken; S5 {:.1} KiB per parked long-poll",
            wake.p50_ms, wake.p99_ms, parked.wake_discarded, parked.fanout_woken, parked.kib_per_long_poll
        ));
        details.parked = Some(parked);
        Ok(rows)
    }

    /// S5 for idle terminal-link connections, on a fresh gateway.
    async fn link(&self, base: &Baselines, details: &mut Details) -> anyhow::Result<Vec<Row>> {
        let n = self.plan.link_connections;
        self.progress.step(&format!(
            "S5: {n} idle terminal-link connections on a fresh gateway"
        ));
        let link =
            link_memory::idle_link_connections(self.placement, self.exes, self.scratch, n).await?;
        let row = Row::system(
            "S5.link",
            "memory per idle link connection",
            link.kib_per_connection,
            "KiB",
            Better::Lower,
            &base.conn,
            Some(Target::Value(16.0)),
        );
        self.progress.step(&format!(
            "S5: {:.1} KiB per idle link connection ({:.1} KiB for the second half alone)",
            link.kib_per_connection, link.kib_per_connection_second_half
        ));
        details.link = Some(link);
        Ok(vec![row])
    }
}

/// The bare axum baseline: requests/s at the read rows' concurrency, round-trip latency on
/// one connection, and memory per idle keep-alive connection.
async fn bare_axum(
    placement: &Placement,
    me: &std::path::Path,
    plan: &Plan,
) -> anyhow::Result<(load::Throughput, load::Throughput, f64)> {
    let mut command = placement.server_command(me);
    command.arg("baseline-server");
    let mut server = Proc::spawn("bare axum server", command)?;
    let addr: std::net::SocketAddr = server
        .line(
            Duration::from_secs(30),
            |_| {},
            |l| l.strip_prefix("listening on ").and_then(|a| a.parse().ok()),
        )
        .await?;
    // The same headers as the gateway's reads (the bare handler ignores the key).
    let endpoint = Endpoint::new(addr, Some("pg_test_bare_axum_baseline_key_000"))?;
    let path: Arc<dyn Fn(usize, u64) -> String + Send + Sync> =
        Arc::new(|w, n| format!("/v1/interactions/int_{w}_{n}"));
    let warmup = Duration::from_secs_f64(plan.warmup_seconds.min(1.0));
    let measure = Duration::from_secs_f64(plan.read_seconds);
    let pid = server.pid()?;
    let rps = load::closed_loop(
        &endpoint,
        plan.read_connections,
        warmup,
        measure,
        path.clone(),
        Some(pid),
    )
    .await?;
    let rtt = load::closed_loop(&endpoint, 1, warmup, measure, path, None).await?;

    let conns_to_hold = plan.parked_long_polls;
    procs::quiesce(pid, Duration::from_millis(300), Duration::from_secs(30)).await?;
    let before = procs::rss_kib(pid)?;
    let mut conns: Vec<Conn> = parked::open_many(&endpoint, conns_to_hold, 200).await?;
    for conn in &mut conns {
        conn.get("/v1/interactions/int_idle").await?.ok()?;
    }
    procs::quiesce(pid, Duration::from_millis(300), Duration::from_secs(30)).await?;
    let after = procs::rss_kib(pid)?;
    drop(conns);
    server.stop().await;
    Ok((
        rps,
        rtt,
        after.saturating_sub(before) as f64 / conns_to_hold as f64,
    ))
}
