//! # poigate-testkit
//!
//! Starts a real poigate server — real SQLite file in a temporary directory, real HTTP on
//! port 0, the in-process simulated terminals — and hands out clients with real API keys.
//! Tests talk to it only over HTTP, like a POS would, and over the terminal link's WebSocket,
//! like a terminal would: [`TestServer::link_terminal`] registers and pairs a terminal
//! through the API, [`TestServer::run_link_sim`] runs the simulator on it as a real link
//! client, and [`RawTerminal`] speaks the protocol frame by frame.
//!
//! **Owns:** fixtures (merchants, keys, terminals) and readiness polling.
//! **Must not know about:** what the tests assert.

use anyhow::Context;
use poigate::config::Config;
use poigate::{RunningServer, StartHooks, start_with_hooks};
use poigate_api::{CreateInteractionRequest, CreateTerminalRequest, PairRequest};
use poigate_client::Client;
use poigate_domain::{
    ApiKeyMode, InteractionType, TerminalConnection, TerminalKind, TerminalStatus,
};
use poigate_engine::{Clock, Engine, SystemClock};
use poigate_http::dialect::DialectRegistry;
use poigate_link::{ClientConfig, LinkClient};
use poigate_terminal::SimulatorConfig;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub mod browser;
pub mod calls;
mod faulty;
pub mod golden;
pub mod proxy;
mod receiver;

pub use faulty::{FaultyStore, StoreFaults};

pub use poigate_client;
pub use poigate_engine::ManualClock;
pub use receiver::{Received, Reply, WebhookReceiver};

mod raw;
pub use raw::{Handshake, RawTerminal};

/// POIIDs of the three simulated terminals every test server has.
pub const TERMINALS: [&str; 3] = ["V400m-100000001", "V400m-100000002", "P400Plus-100000003"];

/// Options of a test server.
#[derive(Clone)]
pub struct Options {
    /// Simulator speed factor (0 = no delays).
    pub sim_speed: f64,
    pub delivery_timeout_seconds: u64,
    /// Terminal-link heartbeat timeout.
    pub heartbeat_timeout_seconds: u64,
    pub clock: Arc<dyn Clock>,
    /// Tests run their webhook receivers on loopback, so private targets are allowed
    /// unless a test checks the SSRF guard.
    pub webhooks_allow_private: bool,
    /// When set, the server's store is wrapped in a [`FaultyStore`] driven by this switch.
    pub store_faults: Option<StoreFaults>,
    /// The dialects to mount (default: the standard four).
    pub dialects: Option<DialectRegistry>,
    /// The rate limits (default: the production defaults).
    pub rate_limits: poigate::config::RateLimitConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sim_speed: 0.0,
            delivery_timeout_seconds: 30,
            heartbeat_timeout_seconds: 30,
            clock: Arc::new(SystemClock),
            webhooks_allow_private: true,
            store_faults: None,
            dialects: None,
            rate_limits: poigate::config::RateLimitConfig::default(),
        }
    }
}

/// Starts the gateway with the options' clock, dialects and storage faults.
async fn start_server(config: &Config, options: &Options) -> anyhow::Result<RunningServer> {
    let wrap_store = options.store_faults.clone().map(|faults| {
        Box::new(move |inner: Arc<dyn poigate_store::Store>| {
            Arc::new(FaultyStore::new(inner, faults)) as Arc<dyn poigate_store::Store>
        }) as poigate::server::StoreWrapper
    });
    let hooks = StartHooks {
        wrap_store,
        dialects: options.dialects.clone(),
    };
    start_with_hooks(config, options.clock.clone(), hooks).await
}

/// A running gateway with one merchant ("Merchant A"), its test key and three terminals.
pub struct TestServer {
    server: Option<RunningServer>,
    dir: TempDir,
    config: Config,
    options: Options,
    key: String,
}

impl TestServer {
    pub async fn start() -> anyhow::Result<TestServer> {
        TestServer::start_with(Options::default()).await
    }

    /// A server on a manual clock (starting at 2027-01-15T08:00:00Z) and that clock, for
    /// tests that move time: token expiry, retry schedules, timeouts.
    pub async fn start_with_manual_clock() -> anyhow::Result<(TestServer, ManualClock)> {
        let clock = ManualClock::new(poigate_domain::Timestamp::from_millis(1_800_000_000_000));
        let ts = TestServer::start_with(Options {
            clock: std::sync::Arc::new(clock.clone()),
            ..Options::default()
        })
        .await?;
        Ok((ts, clock))
    }

    pub async fn start_with(options: Options) -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir().context("temp dir")?;
        let mut config = Config {
            listen: "127.0.0.1:0".parse()?,
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.simulator.speed = options.sim_speed;
        config.engine.delivery_timeout_seconds = options.delivery_timeout_seconds;
        config.webhooks.allow_private_targets = options.webhooks_allow_private;
        config.link.heartbeat_timeout_seconds = options.heartbeat_timeout_seconds;
        config.rate_limits = options.rate_limits.clone();
        let server = start_server(&config, &options).await?;
        let merchant = server.engine.admin().create_merchant("Merchant A").await?;
        let key = server
            .engine
            .admin()
            .create_api_key(merchant.id, ApiKeyMode::Test, Some("tests".into()))
            .await?
            .secret;
        for poiid in TERMINALS {
            let (model, serial) = poiid.split_once('-').context("poiid")?;
            register_in_process(&server.engine, merchant.id, serial, model).await?;
        }
        let ts = TestServer {
            server: Some(server),
            dir,
            config,
            options,
            key,
        };
        ts.wait_ready().await?;
        Ok(ts)
    }

    fn running(&self) -> &RunningServer {
        match &self.server {
            Some(s) => s,
            None => panic!("the test server is stopped"),
        }
    }

    pub fn url(&self) -> String {
        self.running().url()
    }

    pub fn engine(&self) -> &Engine {
        &self.running().engine
    }

    /// The terminal link's WebSocket URL.
    pub fn link_url(&self) -> String {
        self.running().link_url()
    }

    /// Registers a terminal on the link through the API (simulated unless `device`) and
    /// pairs it, as an installer would.
    pub async fn link_terminal(&self, serial: &str, device: bool) -> anyhow::Result<LinkTerminal> {
        let client = self.client();
        let created = client
            .create_terminal(&CreateTerminalRequest {
                serial_number: serial.to_string(),
                model: "V400m".into(),
                label: None,
                kind: Some(if device {
                    TerminalKind::Device
                } else {
                    TerminalKind::Simulated
                }),
                connection: Some(TerminalConnection::Link),
            })
            .await?;
        let code = created
            .pairing
            .context("a link terminal gets a pairing code")?;
        let paired = client
            .pair(&PairRequest {
                pairing_code: code.pairing_code,
                serial_number: serial.to_string(),
            })
            .await?;
        Ok(LinkTerminal {
            poiid: paired.poiid,
            serial: serial.to_string(),
            device_key: paired.device_key,
        })
    }

    /// Runs the simulator on a paired link terminal, as a real client of the link, and
    /// waits until it is connected.
    pub async fn run_link_sim(&self, terminal: &LinkTerminal) -> anyhow::Result<LinkClient> {
        self.run_link_sim_as(terminal, &self.client()).await
    }

    /// [`TestServer::run_link_sim`], watching the terminal with `client`'s key (a live
    /// terminal is visible to live keys only).
    pub async fn run_link_sim_as(
        &self,
        terminal: &LinkTerminal,
        client: &Client,
    ) -> anyhow::Result<LinkClient> {
        let mut config = ClientConfig::new(self.link_url(), &terminal.device_key, &terminal.serial);
        config.simulator = SimulatorConfig {
            speed: self.options.sim_speed,
        };
        config.max_backoff = Duration::from_millis(200);
        let sim = LinkClient::spawn(config);
        anyhow::ensure!(
            sim.wait_connected(Duration::from_secs(10)).await,
            "the link simulator did not connect: {:?}",
            sim.state()
        );
        let status = eventually(Duration::from_secs(10), || async {
            let t = client.terminal(&terminal.poiid).await.ok()?;
            t.connected.then_some(t.status)
        })
        .await?;
        anyhow::ensure!(status != TerminalStatus::Offline);
        Ok(sim)
    }

    /// A raw protocol connection authenticated as `terminal`, hello and welcome done.
    pub async fn raw_terminal(&self, terminal: &LinkTerminal) -> anyhow::Result<RawTerminal> {
        RawTerminal::connect(
            &self.link_url(),
            &terminal.device_key,
            &terminal.serial,
            &[],
        )
        .await
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The API key of Merchant A.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A client of Merchant A.
    pub fn client(&self) -> Client {
        match Client::new(self.url(), &self.key) {
            Ok(c) => c,
            Err(e) => panic!("cannot build a client: {e}"),
        }
    }

    /// A raw HTTP client (no key) for malformed-request tests.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// Creates another merchant with one simulated terminal and returns its client.
    pub async fn other_merchant(&self, name: &str) -> anyhow::Result<Client> {
        let engine = self.engine();
        let merchant = engine.admin().create_merchant(name).await?;
        let key = engine
            .admin()
            .create_api_key(merchant.id, ApiKeyMode::Test, None)
            .await?
            .secret;
        engine
            .admin()
            .register_terminal(
                merchant.id,
                "900000001",
                "V400m",
                None,
                TerminalKind::Simulated,
                TerminalConnection::InProcess,
            )
            .await?;
        Ok(Client::new(self.url(), key)?)
    }

    /// Registers another simulated in-process terminal for Merchant A (a provider's example
    /// names its own serial number) and waits until it is online; returns its POIID.
    pub async fn add_terminal(&self, model: &str, serial: &str) -> anyhow::Result<String> {
        let engine = self.engine();
        let caller = engine
            .admin()
            .authenticate(&self.key)
            .await?
            .context("the test key authenticates")?;
        let terminal = register_in_process(engine, caller.merchant_id, serial, model).await?;
        let poiid = terminal.poiid();
        let client = self.client();
        eventually(Duration::from_secs(10), || async {
            let t = client.terminal(&poiid).await.ok()?;
            (t.status == TerminalStatus::Online).then_some(())
        })
        .await?;
        Ok(poiid)
    }

    /// Whether webhooks may go to private addresses after the next restart (e.g. to check
    /// that an endpoint created while they were allowed is refused once they are not).
    pub fn set_webhooks_allow_private(&mut self, allowed: bool) {
        self.config.webhooks.allow_private_targets = allowed;
    }

    /// Stops the server and starts a new one on the same data directory (new port).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            server.stop().await?;
        }
        let server = start_server(&self.config, &self.options).await?;
        self.server = Some(server);
        self.wait_ready().await
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let url = format!("{}/readyz", self.url());
        let http = reqwest::Client::new();
        eventually(Duration::from_secs(10), || {
            let http = http.clone();
            let url = url.clone();
            async move {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Some(()),
                    _ => None,
                }
            }
        })
        .await
        .context("server did not become ready")
    }

    /// Drains the server as SIGTERM does ([`RunningServer::drain`]); it stays stopped until
    /// [`TestServer::restart_same_port`].
    pub async fn drain(&mut self, bound: Duration) -> anyhow::Result<poigate::Drained> {
        let server = self.server.take().context("the test server is stopped")?;
        self.config.listen = server.addr;
        server.drain(bound).await
    }

    /// Starts the server again on the same data directory and, after [`TestServer::drain`],
    /// on the same address (so link clients find it again).
    pub async fn restart_same_port(&mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            self.config.listen = server.addr;
            server.stop().await?;
        }
        let server = start_server(&self.config, &self.options).await?;
        self.server = Some(server);
        self.wait_ready().await
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            server.stop().await?;
        }
        Ok(())
    }
}

/// A terminal registered on the link and paired.
#[derive(Clone, Debug)]
pub struct LinkTerminal {
    pub poiid: String,
    pub serial: String,
    pub device_key: String,
}

/// Polls `probe` until it returns `Some`, or fails after `deadline`. Yields between polls;
/// no fixed sleeps.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    let mut backoff = Duration::from_millis(1);
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        anyhow::ensure!(
            Instant::now() < until,
            "condition not met within {deadline:?}"
        );
        // A poll interval between probes, bounded by the deadline above.
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(50));
    }
}

/// Awaits `wait` for at most `deadline` of real time, naming `what` did not happen when it
/// runs out. For waits on a server driven by a [`ManualClock`]: its long-polls and timers
/// end only when the manual clock moves, so a timer that never fires would otherwise hang
/// the test (or end on a transport timeout that says nothing) instead of failing it.
pub async fn within<T, E>(
    deadline: Duration,
    what: &str,
    wait: impl Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    anyhow::Error: From<E>,
{
    match tokio::time::timeout(deadline, wait).await {
        Ok(done) => Ok(done?),
        Err(_) => anyhow::bail!("{what} did not happen within {deadline:?} of real time"),
    }
}

/// A sale request body.
pub fn sale(terminal: &str, value: i64, currency: &str) -> CreateInteractionRequest {
    request(terminal, InteractionType::Sale, value, currency)
}

pub fn request(
    terminal: &str,
    kind: InteractionType,
    value: i64,
    currency: &str,
) -> CreateInteractionRequest {
    CreateInteractionRequest::new(terminal, kind, value, currency)
}

/// Registers an in-process simulated terminal.
async fn register_in_process(
    engine: &poigate_engine::Engine,
    merchant: poigate_domain::MerchantId,
    serial: &str,
    model: &str,
) -> anyhow::Result<poigate_domain::Terminal> {
    Ok(engine
        .admin()
        .register_terminal(
            merchant,
            serial,
            model,
            None,
            TerminalKind::Simulated,
            TerminalConnection::InProcess,
        )
        .await?)
}
