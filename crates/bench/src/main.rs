//! `poigate-bench`: poigate's benchmarks, kept out of the shipped `poigate` binary (they are
//! the only code that needs `unsafe`, libc and a raw hyper client).
//!
//! - `system`: the machine's baselines and the gateway's throughput, latency and memory rows
//!   with ratios, measuring a real `poigate serve` process (docs/performance.md).
//! - `link`: memory per idle terminal-link connection, with the gateway in this process.
//!
//! Build both binaries side by side and run it:
//! `cargo build --release -p poigate -p poigate-bench && target/release/poigate-bench system --quick`.

mod cluster;
mod exes;
mod link;
mod suite;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "poigate-bench", version, about = "poigate's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The machine's baselines and the gateway's throughput, latency and memory rows, with
    /// ratios (docs/performance.md).
    System(suite::BenchArgs),
    /// Hold many idle terminal-link connections and print memory per connection.
    Link(link::BenchArgs),
    /// poigate on PostgreSQL: one node and two, against the database's own commit rate.
    Cluster(cluster::BenchArgs),
    /// (Internal to `system`: the bare axum baseline server.)
    #[command(hide = true)]
    BaselineServer(suite::BaselineServerArgs),
    /// (Internal to `link` and `system`: the link clients, in their own process.)
    #[command(hide = true)]
    LinkClients(link::ClientsArgs),
}

/// The gateway's allocator (mimalloc) here too, so that the bare-axum baselines measured
/// by this process and the gateway they are compared with allocate the same way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::System(args) = cli.command {
        // Pins itself to a core before building its own runtime.
        return suite::main(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::System(_) => anyhow::bail!("system runs on its own runtime"),
            Command::Link(args) => link::run(args).await,
            Command::Cluster(args) => cluster::run(args).await,
            Command::BaselineServer(args) => suite::serve_baseline(args.listen)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::LinkClients(args) => link::clients(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
