//! Start-up and shutdown of a complete gateway.

use crate::config::Config;
use anyhow::Context;
use poigate_coordinator_postgres::{PostgresCoordinator, PostgresCoordinatorConfig};
use poigate_domain::RetryPolicy;
use poigate_engine::NodeId;
use poigate_engine::{Clock, Coordinator, Engine, LocalCoordinator, Ports, SystemClock, TokenKey};
use poigate_http::AppState;
use poigate_http::dialect::DialectRegistry;
use poigate_link::{LinkConfig, LinkGateway, Terminals};
use poigate_processor::SimulatedProcessor;
use poigate_terminal::{SimulatedLink, SimulatorConfig};
use poigate_webhooks::{TargetPolicy, WebhookConfig, WebhookWorker, WorkerHandle};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A gateway serving HTTP in the background of the current runtime.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Whether the API is served over HTTPS.
    pub tls: bool,
    /// The self-signed certificate clients must trust (`--tls-self-signed`).
    pub self_signed_cert: Option<std::path::PathBuf>,
    pub engine: Engine,
    /// This node's membership of a cluster on PostgreSQL (`None` on SQLite).
    pub cluster: Option<Arc<PostgresCoordinator>>,
    /// Held while serving on SQLite (one node per data directory).
    _data_dir_lock: Option<crate::database::DataDirLock>,
    pub simulator: Arc<SimulatedLink>,
    webhooks: Option<WorkerHandle>,
    /// Every terminal, in-process or on the link.
    pub terminals: Arc<Terminals>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The terminal link's WebSocket URL (on loopback when listening on every address).
    pub fn link_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{addr}{}", poigate_link::protocol::LINK_PATH)
    }

    /// Stops accepting connections, closes the terminal link's connections (terminals
    /// reconnect to the next gateway), lets requests in flight finish, releases the engine.
    /// Unbounded and without a drain (a parked long-poll keeps it waiting for its whole
    /// wait): for tests and embedding programs; `poigate serve` stops with
    /// [`RunningServer::drain`].
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.terminals.gateway().shutdown().await;
        let result = (&mut self.task).await;
        if let Some(worker) = self.webhooks.take() {
            worker.stop().await;
        }
        if let Some(cluster) = &self.cluster {
            // Its terminals reconnect to another node; nobody waits for this node's lease.
            cluster.leave().await;
        }
        result
            .context("server task failed")?
            .context("server error")?;
        Ok(())
    }

    /// The graceful drain of a deploy or restart (SIGTERM, SIGINT), bounded by `bound`:
    ///
    /// 1. the engine drains: every parked long-poll, event stream and synchronous provider
    ///    call is answered now with the state as it is (each in its own dialect's "still in
    ///    progress" shape), and later waits answer at once;
    /// 2. the listener stops accepting; answers in flight are finished;
    /// 3. link terminals get a `reconnect` frame and a 1001 close;
    /// 4. webhook attempts in flight may finish within what is left of the bound; the others
    ///    stay leased and the next process sends them again;
    /// 5. the storage writer is flushed: a round trip through it once nothing else writes.
    ///
    /// What does not finish within the bound is cut (connections closed). Nothing durable
    /// depends on it: every accepted request and terminal report was committed before it
    /// was answered, and the next process on the same data resumes live interactions.
    pub async fn drain(mut self, bound: Duration) -> anyhow::Result<Drained> {
        let started = tokio::time::Instant::now();
        let deadline = started + bound;
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        self.engine.begin_drain();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Side by side: a terminal that does not read must not eat the bound of the HTTP
        // answers, nor a slow HTTP client that of the terminals.
        let gateway = self.terminals.gateway().clone();
        let (_, served) = tokio::join!(
            gateway.drain(LINK_RECONNECT_HINT, left()),
            tokio::time::timeout_at(deadline, &mut self.task)
        );
        let requests_finished = match served {
            Ok(result) => {
                result
                    .context("server task failed")?
                    .context("server error")?;
                true
            }
            Err(_) => {
                self.task.abort();
                false
            }
        };
        // The flush is last and quick; it keeps a slice of the bound for itself, so slow
        // webhook targets cannot leave the writer unflushed.
        let flush_reserve = (bound / 5).min(Duration::from_secs(1));
        let webhooks_finished = match self.webhooks.take() {
            Some(worker) => {
                worker
                    .stop_within(left().saturating_sub(flush_reserve))
                    .await
            }
            None => true,
        };
        let flushed = matches!(
            tokio::time::timeout(left(), self.engine.store().ready()).await,
            Ok(Ok(()))
        );
        if let Some(cluster) = &self.cluster {
            // Its terminals are free for other nodes at once, not after the node lease.
            let _ = tokio::time::timeout(left(), cluster.leave()).await;
        }
        Ok(Drained {
            requests_finished,
            webhooks_finished,
            flushed,
            took: started.elapsed(),
        })
    }

    /// Waits until the server stops by itself (it does not, unless the listener fails).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let result = (&mut self.task).await;
        result
            .context("server task failed")?
            .context("server error")?;
        Ok(())
    }
}

/// How long a link terminal waits before reconnecting after a drain's `reconnect` frame:
/// long enough for a load balancer to notice the node going away, short enough that a
/// payment barely pauses.
pub const LINK_RECONNECT_HINT: Duration = Duration::from_millis(500);

/// What a [`RunningServer::drain`] achieved within its bound.
#[derive(Debug, Clone, Copy)]
pub struct Drained {
    /// Every HTTP answer in flight was finished (otherwise connections were cut).
    pub requests_finished: bool,
    /// Every webhook attempt in flight finished (otherwise the rest stay leased for the
    /// next process).
    pub webhooks_finished: bool,
    /// The storage writer answered a last round trip: everything queued was committed.
    pub flushed: bool,
    pub took: Duration,
}

/// The coordinator of this node: the whole gateway on SQLite (one process), or a member of
/// a cluster on PostgreSQL (named by `node_id`, or a generated name that is logged).
async fn coordinator_for(
    config: &Config,
    store: &Arc<dyn poigate_store::Store>,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<(Arc<dyn Coordinator>, Option<Arc<PostgresCoordinator>>)> {
    let Some(url) = &config.database.url else {
        return Ok((Arc::new(LocalCoordinator::new()), None));
    };
    let node_id = match &config.node_id {
        Some(id) => id.clone(),
        None => generated_node_id(),
    };
    tracing::info!(node = %node_id, "node of a PostgreSQL cluster");
    let cluster = Arc::new(
        PostgresCoordinator::start(
            &PostgresCoordinatorConfig {
                url: url.clone(),
                node_id: NodeId(node_id),
                pool_size: 4,
            },
            store.clone(),
            clock.clone(),
        )
        .await
        .context("cannot join the cluster")?,
    );
    Ok((cluster.clone() as Arc<dyn Coordinator>, Some(cluster)))
}

/// `node-<host>-<random>`: unique enough for a cluster, readable in logs.
fn generated_node_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(32)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let mut bytes = [0u8; 4];
    let suffix = match getrandom::fill(&mut bytes) {
        Ok(()) => u32::from_le_bytes(bytes),
        Err(_) => std::process::id(),
    };
    format!("node-{host}-{suffix:08x}")
}

/// Opens the database, starts the engine, its simulated terminals and the terminal link,
/// binds the listener and serves the API. Returns once the server accepts connections.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// [`start`] with an injected clock (tests drive timers with a `ManualClock`).
pub async fn start_with_clock(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<RunningServer> {
    start_with_hooks(config, clock, StartHooks::default()).await
}

/// What a test (or an embedding program) may change at start-up beyond the configuration.
#[derive(Default)]
pub struct StartHooks {
    /// Wraps the store right after it is opened, before anything uses it (tests inject
    /// storage faults with it).
    pub wrap_store: Option<StoreWrapper>,
    /// The provider dialects to mount and render webhooks with (default: the standard four).
    pub dialects: Option<DialectRegistry>,
}

/// See [`StartHooks::wrap_store`].
pub type StoreWrapper =
    Box<dyn FnOnce(Arc<dyn poigate_store::Store>) -> Arc<dyn poigate_store::Store> + Send>;

/// [`start_with_clock`] with [`StartHooks`].
pub async fn start_with_hooks(
    config: &Config,
    clock: Arc<dyn Clock>,
    hooks: StartHooks,
) -> anyhow::Result<RunningServer> {
    let dialects = hooks.dialects.unwrap_or_else(DialectRegistry::standard);
    config.validate()?;
    // SQLite is one node: a second gateway on the same files is refused before it opens them.
    let data_dir_lock = match crate::database::uses_postgres(config) {
        true => None,
        false => Some(crate::database::lock_data_dir(config)?),
    };
    let store = crate::database::open(config).await?;
    let engine_config = config.engine_config()?;
    let store = match hooks.wrap_store {
        Some(wrap) => wrap(store),
        None => store,
    };
    let policy = TargetPolicy {
        allow_private: config.webhooks.allow_private_targets,
    };
    let (coordinator, cluster) = coordinator_for(config, &store, &clock).await?;
    let ports = Ports {
        token_key: TokenKey::load_or_create(store.as_ref())
            .await
            .context("cannot load the access-token key")?,
        store: store.clone(),
        clock: clock.clone(),
        coordinator: coordinator.clone(),
        processor: Arc::new(SimulatedProcessor::new(config.simulator.speed)),
        target_guard: Arc::new(policy),
    };
    let simulator_config = SimulatorConfig {
        speed: config.simulator.speed,
    };
    let link_config = LinkConfig {
        heartbeat_timeout: Duration::from_secs(config.link.heartbeat_timeout_seconds),
        ..LinkConfig::default()
    };
    let mut simulator = None;
    // The link is made from the engine being built: it reports to the engine through a weak
    // handle, so nothing has to be detached at shutdown.
    let (engine, terminals) = Engine::builder(ports, engine_config).build(|weak| {
        let sim = Arc::new(SimulatedLink::new(weak.clone(), simulator_config));
        simulator = Some(sim.clone());
        let gateway = Arc::new(LinkGateway::new(weak, link_config));
        Arc::new(Terminals::new(sim, gateway))
    });
    let simulator = simulator.context("the simulator is made with the engine")?;
    engine.start().await.context("cannot start the engine")?;
    let worker = WebhookWorker::new(
        store,
        clock,
        engine.outbox_signal(),
        WebhookConfig {
            policy,
            retry: RetryPolicy {
                delays_seconds: config.webhooks.retry_schedule_seconds.clone(),
                retry_after_max_seconds: config.webhooks.retry_after_max_seconds,
                ..RetryPolicy::default()
            },
            request_timeout: Duration::from_secs(config.webhooks.request_timeout_seconds),
            max_concurrency: config.webhooks.max_concurrency,
            max_per_target: config.webhooks.max_per_endpoint,
            lease_recovery: coordinator.lease_recovery(),
            lease: Duration::from_secs(config.webhooks.lease_seconds),
            ..WebhookConfig::default()
        },
    )
    .context("cannot start the webhook worker")?
    .with_renderer(Arc::new(dialects.clone()))
    .spawn();

    let connection_limits =
        crate::fd_budget::connection_limits(config, crate::fd_budget::raise_nofile_limit());
    let tls = crate::tls::load(&config.tls, &config.data_dir, config.listen)?;
    let self_signed_cert = tls.as_ref().and_then(|t| t.self_signed_cert.clone());
    let acceptor = tls.map(|t| t.acceptor);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let state = AppState {
        engine: engine.clone(),
        terminals: Some(terminals.clone()),
        limits: Arc::new(poigate_http::limits::RateLimits::new(&config.rate_limits)),
        webhook_test: Arc::new(
            poigate_webhooks::TestEventSender::new(
                policy,
                Duration::from_secs(config.webhooks.request_timeout_seconds),
            )
            .context("cannot start the webhook test sender")?,
        ),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let tls_enabled = acceptor.is_some();
    let tls_acceptor = acceptor;
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = rx.await;
        };
        poigate_http::serve_with_options(
            listener,
            state,
            &dialects,
            connection_limits,
            tls_acceptor,
            shutdown,
        )
        .await
    });
    tracing::info!(
        %addr, data_dir = %config.data_dir.display(),
        max_connections = connection_limits.max_connections, "poigate listening"
    );
    Ok(RunningServer {
        addr,
        tls: tls_enabled,
        self_signed_cert,
        engine,
        cluster,
        _data_dir_lock: data_dir_lock,
        simulator,
        webhooks: Some(worker),
        terminals,
        shutdown: Some(tx),
        task,
    })
}
