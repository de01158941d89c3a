//! The `poigate` command: the server (`serve`), data-directory administration (`keys`,
//! `terminals`), a client of the whole native API (`pay`, `interactions`, `transactions`,
//! `terminals`, `helpers`, `webhooks`, `api-keys`), the developer tools (`listen`,
//! `trigger`, `completions`, `man`; docs/developer-tools.md), a fleet
//! of simulated terminals on the terminal link (`terminal-sim`), a health probe for
//! containers (`healthcheck`). The benchmarks are a
//! separate binary (`poigate-bench`, crates/bench), so the shipped one does not carry them.

#[macro_use]
mod cli_output;
mod cli_api;
mod cli_client;
mod cli_keys;
mod cli_listen;
mod cli_trigger;
mod config_args;
mod healthcheck;
mod shutdown;
mod terminal_sim;

use clap::{Args, Parser, Subcommand};
use config_args::ConfigArgs;
use poigate::config::{Config, DemoTerminals, LogFormat};
use poigate::demo;
use poigate_domain::{ApiKeyMode, TerminalConnection, TerminalKind};
use poigate_engine::{Engine, SystemClock};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "poigate",
    version,
    about = "Cloud gateway between POS systems and card payment terminals",
    after_help = cli_output::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Manage API keys in a data directory.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Terminals: add and list in a data directory; list, get, register, pairing-code and
    /// revoke over the API.
    #[command(subcommand)]
    Terminals(TerminalsCommand),
    /// A merchant's API keys over the API (--url, --key): list, create, revoke.
    #[command(subcommand)]
    ApiKeys(cli_keys::ApiKeysCommand),
    /// Merchants over the API, with a platform admin key (--key pg_admin_…).
    #[command(subcommand)]
    Merchants(cli_keys::MerchantsCommand),
    /// Platform admin keys, on the data directory.
    #[command(subcommand)]
    AdminKey(AdminKeyCommand),
    /// Run a payment on a terminal and follow it live (exit 0 approved, 3 not approved).
    Pay(cli_client::PayArgs),
    /// Follow the merchant's events live; forward each to a local URL, signed like a webhook.
    Listen(cli_listen::ListenArgs),
    /// Run a named scenario on a simulated terminal, producing its real webhook sequence.
    Trigger(cli_trigger::TriggerArgs),
    /// Interactions over the API: list (and look up), get, events, cancel.
    #[command(subcommand)]
    Interactions(cli_api::InteractionsCommand),
    /// Transactions over the API: get, capture, void, refund, refunds, events.
    #[command(subcommand)]
    Transactions(cli_api::TransactionsCommand),
    /// Test helpers: drive a simulated terminal as a cardholder would (test keys).
    #[command(subcommand)]
    Helpers(cli_api::HelpersCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Write man pages (poigate.1 and one per subcommand) into a directory.
    Man {
        /// Where to write them.
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
    },
    /// Show an interaction (optionally waiting for its final state).
    Status(cli_client::StatusArgs),
    /// List the events of an interaction.
    Events(cli_client::EventsArgs),
    /// Ask to cancel an interaction.
    Cancel(cli_client::CancelArgs),
    /// Webhook endpoints and the delivery log of a running gateway.
    #[command(subcommand)]
    Webhooks(cli_client::WebhooksCommand),
    /// Settle now: transactions waiting for settlement become complete.
    Settle {
        #[command(flatten)]
        config: ConfigArgs,
        /// Settle what was captured before this RFC 3339 time [default: now].
        #[arg(long)]
        before: Option<String>,
    },
    /// Print the OpenAPI document of the native API.
    Openapi,
    /// Run simulated terminals as clients of a gateway's terminal link.
    TerminalSim(terminal_sim::TerminalSimArgs),
    /// Ask a running gateway's /healthz; exit 0 when healthy (the container HEALTHCHECK).
    Healthcheck(healthcheck::HealthcheckArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "POIGATE_LISTEN")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    config: ConfigArgs,
    /// Create a demo merchant, a test API key and three simulated terminals.
    #[arg(long, env = "POIGATE_DEMO")]
    demo: bool,
    /// Speed factor of simulated terminals: 1 realistic, 0.1 ten times faster, 0 instant.
    #[arg(long, env = "POIGATE_SIM_SPEED")]
    sim_speed: Option<f64>,
    /// Seconds before an unacknowledged start is cancelled as not_delivered.
    #[arg(long, env = "POIGATE_DELIVERY_TIMEOUT")]
    delivery_timeout: Option<u64>,
    /// Where the demo terminals run: in-process (default) or link (terminal-link clients).
    #[arg(long, env = "POIGATE_DEMO_TERMINALS")]
    demo_terminals: Option<DemoTerminals>,
    /// Seconds of silence after which a terminal-link connection is closed (offline).
    #[arg(long, env = "POIGATE_HEARTBEAT_TIMEOUT")]
    heartbeat_timeout: Option<u64>,
    /// Log filter, e.g. info or debug [default: info; RUST_LOG also works].
    #[arg(long, env = "POIGATE_LOG")]
    log: Option<String>,
    /// Log lines as text (default) or json (one object a line, for production).
    #[arg(long, env = "POIGATE_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Serve Prometheus metrics at http://ADDR/metrics [default: off; 127.0.0.1:9464 with --demo].
    #[arg(long, env = "POIGATE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Allow webhooks to private, loopback and link-local addresses (on with --demo).
    #[arg(long, env = "POIGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS")]
    webhooks_allow_private_targets: bool,
    /// This node's name in a cluster on PostgreSQL [default: generated and logged].
    #[arg(long, env = "POIGATE_NODE_ID")]
    node_id: Option<String>,
    /// Longest graceful drain on SIGTERM/SIGINT, in seconds [default: 10].
    #[arg(long, env = "POIGATE_SHUTDOWN_TIMEOUT")]
    shutdown_timeout: Option<u64>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(
        long,
        env = "POIGATE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "POIGATE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,
    /// Serve HTTPS with a self-signed certificate for development, made once and kept in
    /// DATA_DIR/tls/self-signed-cert.pem (printed at start-up) for clients to trust.
    #[arg(long, env = "POIGATE_TLS_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
}

/// What an administration command works on: the gateway's configuration (the same file,
/// environment and flags as `serve`) and a merchant.
#[derive(Args)]
struct DataDirArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Merchant name (created when missing).
    #[arg(long, default_value = demo::DEMO_MERCHANT)]
    merchant: String,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key and print it (once: only its hash is stored).
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        /// A live key instead of a test key.
        #[arg(long)]
        live: bool,
        #[arg(long)]
        label: Option<String>,
    },
}

#[derive(Subcommand)]
enum AdminKeyCommand {
    /// Create a platform admin key and print it (once: only its hash is stored).
    Create {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum TerminalsCommand {
    /// Register a terminal.
    Add {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        serial: String,
        #[arg(long, default_value = "V400m")]
        model: String,
        #[arg(long)]
        label: Option<String>,
        /// A real device (connects over the terminal link) instead of a simulated terminal.
        #[arg(long)]
        device: bool,
        /// A simulated terminal that connects over the terminal link (`poigate terminal-sim`)
        /// instead of running in-process.
        #[arg(long, conflicts_with = "device")]
        link: bool,
    },
    /// List terminals: over the API with an API key (--key or POIGATE_API_KEY), else from
    /// the data directory.
    List {
        #[command(flatten)]
        data: DataDirArgs,
        /// API key: list over the API (live status included) instead of the data directory.
        #[arg(long, env = "POIGATE_API_KEY", hide_env_values = true)]
        key: Option<String>,
        /// Base URL of the gateway (with --key).
        #[arg(long, env = "POIGATE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Print JSON (with --key).
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Api(cli_api::TerminalsApiCommand),
}

/// mimalloc instead of the system allocator: a gateway request allocates and frees many
/// small buffers (JSON, rows, frames), and glibc's malloc and free were a fifth of the CPU
/// of a `GET` in the profile (docs/performance.md, "Round two").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let as_json = cli_output::wants_json(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, as_json),
    };
    poigate_webhooks::install_tls_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Tasks still running (terminal sessions being cut, a blocking read) must not keep a
    // drained process alive: the runtime gets a moment, then the process exits.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => code,
        Err(e) => {
            let failure = cli_output::classify(&e);
            cli_output::report(&failure, as_json);
            std::process::ExitCode::from(failure.exit_code)
        }
    }
}

/// A command line clap refused (exit code 2), or `--help`/`--version` (0). With `--json`
/// the refusal is JSON like every other error.
fn usage_error(e: clap::Error, as_json: bool) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            cli_output::write_out(&e.render().to_string());
            std::process::ExitCode::SUCCESS
        }
        _ if as_json => {
            let failure = cli_output::Failure {
                exit_code: cli_output::USAGE,
                kind: "usage",
                message: e.render().to_string().trim().to_string(),
                status: None,
                code: None,
                problem: None,
                url: None,
            };
            cli_output::report(&failure, true);
            std::process::ExitCode::from(cli_output::USAGE)
        }
        _ => {
            cli_output::write_err(&e.render().ansi().to_string());
            std::process::ExitCode::from(cli_output::USAGE)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await.map(|_| std::process::ExitCode::SUCCESS),
        Command::Keys(cmd) => keys(cmd).await.map(|_| std::process::ExitCode::SUCCESS),
        Command::Terminals(cmd) => terminals(cmd)
            .await
            .map(|_| std::process::ExitCode::SUCCESS),
        Command::ApiKeys(cmd) => cli_keys::api_keys(cmd).await,
        Command::Merchants(cmd) => cli_keys::merchants(cmd).await,
        Command::AdminKey(AdminKeyCommand::Create { config }) => {
            let engine = open_engine(&config.load()?).await?;
            let key = engine.admin().create_admin_key().await?;
            eprintln!(
                "Created platform admin key {}. It is shown once:",
                key.record.id
            );
            println!("{}", key.secret);
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Pay(args) => cli_client::pay(args).await,
        Command::Interactions(cmd) => cli_api::interactions(cmd).await,
        Command::Transactions(cmd) => cli_api::transactions(cmd).await,
        Command::Helpers(cmd) => cli_api::helpers(cmd).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "poigate", &mut script);
            cli_output::write_out(&String::from_utf8_lossy(&script));
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Man { out } => {
            std::fs::create_dir_all(&out)?;
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::generate_to(command, &out)?;
            errln!("man pages written to {}", out.display());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Listen(args) => cli_listen::listen(args).await,
        Command::Trigger(args) => cli_trigger::trigger(args).await,
        Command::Status(args) => cli_client::status(args).await,
        Command::Events(args) => cli_client::events(args).await,
        Command::Cancel(args) => cli_client::cancel(args).await,
        Command::Webhooks(cmd) => cli_client::webhooks(cmd).await,
        Command::Settle { config, before } => settle(&config, before.as_deref()).await,
        Command::Openapi => {
            print!("{}", poigate_http::openapi::document_json());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::TerminalSim(args) => terminal_sim::run(args).await,
        Command::Healthcheck(args) => healthcheck::run(args).await,
    }
}

/// Logs go to standard error (standard output carries the banner), with colour only when
/// that is a terminal: a file or a pipe gets no escape codes.
fn init_logging(filter: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // Fields at the top level; the request span (its `request_id`, `route`,
        // `merchant_id`) under `span`, on every line logged while serving a request.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The demo's metrics address when none is configured.
const DEMO_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);

/// Starts the metrics listener when configured (or for the demo). The demo's default port
/// may be taken by another demo on the machine: then it runs without metrics, and says so.
async fn start_metrics(
    config: &Config,
    engine: &Engine,
) -> anyhow::Result<Option<poigate::metrics::MetricsListener>> {
    match (config.metrics_listen, config.demo) {
        (Some(addr), _) => Ok(Some(poigate::metrics::start(addr, engine.clone()).await?)),
        (None, true) => match poigate::metrics::start(DEMO_METRICS_LISTEN, engine.clone()).await {
            Ok(listener) => Ok(Some(listener)),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "demo without metrics (set --metrics-listen)");
                Ok(None)
            }
        },
        (None, false) => Ok(None),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.config.load()?;
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if args.demo {
        config.demo = true;
    }
    if let Some(v) = args.sim_speed {
        config.simulator.speed = v;
    }
    if let Some(v) = args.delivery_timeout {
        config.engine.delivery_timeout_seconds = v;
    }
    if let Some(v) = args.demo_terminals {
        config.demo_terminals = v;
    }
    if let Some(v) = args.heartbeat_timeout {
        config.link.heartbeat_timeout_seconds = v;
    }
    if let Some(v) = args.log {
        config.log = v;
    }
    if let Some(v) = args.node_id {
        config.node_id = Some(v);
    }
    if let Some(v) = args.shutdown_timeout {
        config.shutdown_timeout_seconds = v;
    }
    if let Some(v) = args.log_format {
        config.log_format = v;
    }
    if let Some(v) = args.metrics_listen {
        config.metrics_listen = Some(v);
    }
    if args.tls_cert.is_some() || args.tls_self_signed {
        // Flags replace the file's TLS settings as a whole.
        config.tls = poigate::config::TlsSettings {
            cert: args.tls_cert,
            key: args.tls_key,
            self_signed: args.tls_self_signed,
        };
    }
    if args.webhooks_allow_private_targets || config.demo {
        // The demo's webhook receivers run on this machine.
        config.webhooks.allow_private_targets = true;
    }
    init_logging(&config.log, config.log_format);
    if config.metrics_listen.is_some() || config.demo {
        // Before anything records: what start-up counts is kept.
        poigate::metrics::recorder()?;
    }
    // Before anything starts: a signal during start-up is a request to stop too.
    let mut signals = shutdown::Signals::install()?;
    let server = poigate::start(&config).await?;
    let url = server.url();
    let metrics = start_metrics(&config, &server.engine).await?;
    let metrics_url = metrics.as_ref().map(|m| m.url());
    // Link clients of the demo live as long as the server.
    let mut _demo_clients = Vec::new();
    if config.demo {
        let chosen = std::env::var("POIGATE_DEMO_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        let demo = demo::bootstrap(
            &server.engine,
            &config.data_dir,
            chosen.as_deref(),
            config.demo_terminals,
        )
        .await?;
        let simulator = poigate_terminal::SimulatorConfig {
            speed: config.simulator.speed,
        };
        _demo_clients =
            demo::start_link_clients(&server.engine, &demo, &server.link_url(), simulator).await?;
        for client in &_demo_clients {
            if !client
                .wait_connected(std::time::Duration::from_secs(10))
                .await
            {
                anyhow::bail!("a demo terminal could not connect over the terminal link");
            }
        }
        print_demo_banner(
            &url,
            metrics_url.as_deref(),
            server.self_signed_cert.as_deref(),
            &demo,
        );
    } else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "poigate listening on {url} (data in {})",
            config.data_dir.display()
        );
        if let Some(m) = &metrics_url {
            let _ = writeln!(std::io::stdout(), "metrics at {m}");
        }
        if let Some(cert) = &server.self_signed_cert {
            let _ = writeln!(
                std::io::stdout(),
                "self-signed TLS certificate (trust it in clients): {}",
                cert.display()
            );
        }
    }
    let first = signals.next().await;
    let bound = config.shutdown_timeout();
    tracing::info!(
        signal = first.name(),
        bound_seconds = bound.as_secs(),
        "draining"
    );
    tokio::select! {
        drained = server.drain(bound) => {
            let drained = drained?;
            if drained.requests_finished && drained.webhooks_finished && drained.flushed {
                tracing::info!(took_ms = drained.took.as_millis(), "drained; exiting");
            } else {
                tracing::warn!(
                    requests_finished = drained.requests_finished,
                    webhooks_finished = drained.webhooks_finished,
                    flushed = drained.flushed,
                    "shutdown_timeout reached: cut what was left (every acknowledged write is durable; leased webhooks are retried by the next process)"
                );
            }
            Ok(())
        }
        second = signals.next() => {
            // An operator who asks twice wants out now: no more waiting for anyone.
            eprintln!("second {} during the drain: exiting at once", second.name());
            std::process::exit(second.exit_code());
        }
    }
}

/// Prints the demo banner. Write errors are ignored: a gateway must keep serving when
/// whoever started it stopped reading its standard output (a closed pipe).
fn print_demo_banner(
    url: &str,
    metrics: Option<&str>,
    self_signed_cert: Option<&std::path::Path>,
    demo: &demo::Demo,
) {
    use std::io::Write;
    let terminal = demo
        .terminals
        .first()
        .map(String::as_str)
        .unwrap_or("V400m-324688179");
    let metrics = metrics.unwrap_or("off");
    // With --tls-self-signed: the certificate clients must trust (curl --cacert FILE,
    // NODE_EXTRA_CA_CERTS=FILE …).
    let tls = self_signed_cert
        .map(|p| format!("\n  TLS cert   {}", p.display()))
        .unwrap_or_default();
    let banner = format!(
        "\npoigate demo is running\n\n  URL        {url}\n  API key    {key}\n  terminals  {terminals}\n  dashboard  {url}/dashboard (sign in with the API key)\n  metrics    {metrics}{tls}\n\n\
         Try a sale:\n\n  export POIGATE_URL={url} POIGATE_API_KEY={key}\n  \
         curl -s $POIGATE_URL/v1/interactions -H \"Authorization: Bearer $POIGATE_API_KEY\" \\\n    \
         -H 'Content-Type: application/json' \\\n    \
         -d '{{\"terminal\": \"{terminal}\", \"type\": \"sale\", \"amount\": {{\"value\": 1250, \"currency\": \"EUR\"}}}}'\n\n\
         or: poigate pay 12.50 EUR --terminal {terminal}\n\n",
        key = demo.api_key,
        terminals = demo.terminals.join(", "),
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes());
    let _ = out.flush();
}

/// The engine of an administration command, from the gateway's configuration (defaults,
/// file, environment, flags: [`ConfigArgs::load`]), validated like `serve`'s, its database
/// opened exactly as `serve` opens it, its engine settings. Not started: no timers, no
/// terminals, no webhooks. The one place the administration commands build an engine: it
/// runs no terminals and moves no money (the gateway does), hence `NoTerminals` and
/// `NoProcessor`.
async fn open_engine(config: &Config) -> anyhow::Result<Engine> {
    config.validate()?;
    let store = poigate::database::open(config).await?;
    let ports = poigate_engine::Ports {
        token_key: poigate_engine::TokenKey::load_or_create(store.as_ref()).await?,
        store,
        clock: Arc::new(SystemClock),
        coordinator: Arc::new(poigate_engine::LocalCoordinator::new()),
        processor: Arc::new(poigate_engine::NoProcessor),
        target_guard: Arc::new(poigate_webhooks::TargetPolicy {
            allow_private: config.webhooks.allow_private_targets,
        }),
    };
    let (engine, _) = Engine::builder(ports, config.engine_config()?)
        .build(|_| Arc::new(poigate_engine::NoTerminals));
    Ok(engine)
}

async fn settle(
    config: &ConfigArgs,
    before: Option<&str>,
) -> anyhow::Result<std::process::ExitCode> {
    let engine = open_engine(&config.load()?).await?;
    let before = match before {
        Some(text) => poigate_domain::Timestamp::parse_rfc3339(text).ok_or_else(|| {
            anyhow::anyhow!("--before must be an RFC 3339 time, e.g. 2026-11-21T23:00:00Z")
        })?,
        None => engine.now(),
    };
    let settled = engine.transactions().settle(before).await?;
    println!("settled {settled} transaction(s) captured before {before}");
    Ok(std::process::ExitCode::SUCCESS)
}

async fn merchant_id(engine: &Engine, name: &str) -> anyhow::Result<poigate_domain::MerchantId> {
    Ok(match engine.admin().find_merchant_by_name(name).await? {
        Some(m) => m.id,
        None => engine.admin().create_merchant(name).await?.id,
    })
}

async fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create { data, live, label } => {
            let engine = open_engine(&data.config.load()?).await?;
            let merchant = merchant_id(&engine, &data.merchant).await?;
            let mode = if live {
                ApiKeyMode::Live
            } else {
                ApiKeyMode::Test
            };
            let key = engine.admin().create_api_key(merchant, mode, label).await?;
            eprintln!(
                "Created {} key {} for merchant \"{}\" ({merchant}). It is shown once:",
                mode.as_str(),
                key.record.id,
                data.merchant
            );
            println!("{}", key.secret);
        }
    }
    Ok(())
}

async fn terminals(cmd: TerminalsCommand) -> anyhow::Result<()> {
    match cmd {
        TerminalsCommand::Add {
            data,
            serial,
            model,
            label,
            device,
            link,
        } => {
            let engine = open_engine(&data.config.load()?).await?;
            let merchant = merchant_id(&engine, &data.merchant).await?;
            let kind = if device {
                TerminalKind::Device
            } else {
                TerminalKind::Simulated
            };
            let connection = if device || link {
                TerminalConnection::Link
            } else {
                TerminalConnection::InProcess
            };
            let t = engine
                .admin()
                .register_terminal(merchant, &serial, &model, label, kind, connection)
                .await?;
            println!(
                "{}\t{}\t{}\t{}",
                t.id,
                t.poiid(),
                if device { "device" } else { "simulated" },
                connection.as_str()
            );
            if connection == TerminalConnection::Link {
                let code = engine.admin().issue_pairing_code(merchant, &t).await?;
                eprintln!(
                    "Pairing code (once, valid until {}): the device exchanges it for its device key",
                    code.expires_at
                );
                println!("{}", code.code);
            }
        }
        TerminalsCommand::Api(cmd) => {
            cli_api::terminals_api(cmd).await?;
        }
        TerminalsCommand::List {
            key: Some(key),
            url,
            json,
            ..
        } => {
            cli_api::list_terminals(&cli_client::Connection::new(url, key, json)).await?;
        }
        TerminalsCommand::List { data, .. } => {
            let engine = open_engine(&data.config.load()?).await?;
            let Some(merchant) = engine.admin().find_merchant_by_name(&data.merchant).await? else {
                anyhow::bail!("no merchant named \"{}\"", data.merchant);
            };
            for t in engine.store().list_terminals(merchant.id).await? {
                let kind = match t.kind {
                    TerminalKind::Simulated => "simulated",
                    TerminalKind::Device => "device",
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.poiid(),
                    kind,
                    t.connection.as_str(),
                    t.label.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Every subcommand's arguments are consistent (unique names, valid defaults): what
    /// clap otherwise checks only when that subcommand is built, e.g. for completions.
    #[test]
    fn the_command_line_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
