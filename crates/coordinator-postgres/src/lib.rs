//! # poigate-coordinator-postgres
//!
//! The [`Coordinator`](poigate_engine::Coordinator) of several poigate nodes that share one
//! PostgreSQL database. Every fact the engine needs across nodes lives in a small table of
//! its own or travels as a `NOTIFY`; nothing here is a consensus protocol: PostgreSQL is the
//! one source of truth, and its high availability (managed services, Patroni) is the
//! cluster's.
//!
//! | fact | how |
//! |---|---|
//! | node membership | `poigate_nodes`: a heartbeat every second, alive while `expires_at > now()` (5 s) |
//! | terminal ownership | `poigate_terminal_owners`: the node holding the connection, an `epoch` that grows on every connect (a fencing token), `connected`, `last_seen_at`; cached per node, refreshed on `NOTIFY poigate_presence` and every second |
//! | routing | `poigate_terminal_commands` rows for the owning node + `NOTIFY poigate_command`; taken with `FOR UPDATE SKIP LOCKED`, polled every second as well |
//! | waiters | local channels, fed by this node's commits and by `NOTIFY poigate_commit` from the others; a waiter that misses a notification is still woken within one second by a re-read of every interaction somebody waits for |
//! | timers | `poigate_timers` rows: the node that set a timer fires it when due, any node fires it once it is two seconds late (its node died); the claim is one conditional `UPDATE`, so each fires once |
//! | API-key revocation | `NOTIFY poigate_key_revoked` to every node, on top of the 10 s cache bound |
//! | webhook leases | leases expire (`LeaseRecovery::ReleaseOwn`): no node releases another's |
//!
//! **Owns:** these tables and channels, and the background tasks that keep the node's view of
//! them fresh. **Must not know about:** the engine's rules, HTTP, the store's own tables (it
//! reads interactions only through the [`Store`](poigate_store::Store) port).

mod keys;
mod schema;
mod tasks;

use async_trait::async_trait;
use deadpool_postgres::{Pool, Runtime};
use poigate_domain::{ApiKeyId, InteractionId, MerchantId, TerminalId, Timestamp, TransactionId};
use poigate_engine::coordinator::{KeyCache, TransactionGuard, TransactionLocks, Waiters};
use poigate_engine::idempotency::{InFlight, InFlightGuard};
use poigate_engine::{
    Clock, Committed, Coordinator, CoordinatorError, LeaseRecovery, NodeId, PresenceChange, Route,
    Subscription, TerminalCommand, TimerKey,
};
use poigate_store::{ApiKeyRecord, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::NoTls;

pub use keys::{CommandRow, command_text, parse_command, parse_timer, timer_text};

/// How often every node refreshes its view (presence, missed commits, commands, orphaned
/// timers): the bound on how late a missed notification can make anything.
pub const REFRESH: Duration = Duration::from_secs(1);
/// How long a node stays alive without a heartbeat.
pub const NODE_LEASE: Duration = Duration::from_secs(5);
/// How late a timer must be before another node than its own fires it.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// Settings of the coordinator.
#[derive(Clone, Debug)]
pub struct PostgresCoordinatorConfig {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// This node's name (unique in the cluster).
    pub node_id: NodeId,
    /// Connections of the coordinator's own pool (the listener has one more).
    pub pool_size: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("cannot reach the database: {0}")]
    Database(String),
}

/// Who holds a terminal, as this node last saw it.
#[derive(Clone, Debug)]
pub(crate) struct Owner {
    pub node: String,
    pub epoch: i64,
    pub connected: bool,
    pub last_seen_at: Option<Timestamp>,
}

/// State shared by the coordinator and its background tasks.
pub(crate) struct Shared {
    pub node: NodeId,
    pub pool: Pool,
    pub url: String,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub waiters: Waiters,
    /// The newest `last_seq` handed to this node's waiters, per interaction.
    pub published_seq: Mutex<HashMap<InteractionId, u64>>,
    pub owners: Mutex<HashMap<TerminalId, Owner>>,
    pub alive_nodes: Mutex<HashMap<String, bool>>,
    pub keys: KeyCache,
    pub notify: mpsc::UnboundedSender<(&'static str, String)>,
    pub commands: mpsc::UnboundedSender<TerminalCommand>,
    pub orphans: mpsc::UnboundedSender<TimerKey>,
}

/// See the crate documentation.
pub struct PostgresCoordinator {
    shared: Arc<Shared>,
    in_flight: InFlight,
    txn_locks: TransactionLocks,
    commands: tokio::sync::Mutex<mpsc::UnboundedReceiver<TerminalCommand>>,
    orphans: tokio::sync::Mutex<mpsc::UnboundedReceiver<TimerKey>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for PostgresCoordinator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> CoordinatorError {
    CoordinatorError::Unavailable(e.to_string())
}

impl PostgresCoordinator {
    /// Connects, creates the coordinator's tables (once, under an advisory lock), registers
    /// this node and starts the background tasks.
    pub async fn start(
        config: &PostgresCoordinatorConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<PostgresCoordinator, StartError> {
        let pg_config: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| StartError::Config(e.to_string()))?;
        let manager = deadpool_postgres::Manager::from_config(
            pg_config,
            NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StartError::Config(e.to_string()))?;
        schema::migrate(&pool)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        let (notify_tx, notify_rx) = mpsc::unbounded_channel();
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (orphans_tx, orphans_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            node: config.node_id.clone(),
            pool,
            url: config.url.clone(),
            store,
            clock,
            waiters: Waiters::default(),
            published_seq: Mutex::default(),
            owners: Mutex::default(),
            alive_nodes: Mutex::default(),
            keys: KeyCache::default(),
            notify: notify_tx,
            commands: commands_tx,
            orphans: orphans_tx,
        });
        tasks::heartbeat(&shared)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        tasks::refresh_presence(&shared)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        let (listening_tx, listening_rx) = tokio::sync::oneshot::channel();
        let tasks = vec![
            tokio::spawn(tasks::notifier(shared.clone(), notify_rx)),
            tokio::spawn(tasks::listener(Arc::downgrade(&shared), listening_tx)),
            tokio::spawn(tasks::every_refresh(Arc::downgrade(&shared))),
        ];
        // Serve only once other nodes' notifications reach this one (the refresh would cover a
        // miss, but a node that starts deaf is late for its first second for no reason).
        if tokio::time::timeout(Duration::from_secs(5), listening_rx)
            .await
            .is_err()
        {
            tracing::warn!("not listening to other nodes yet; relying on the refresh");
        }
        tracing::info!(node = %config.node_id, "joined the cluster");
        Ok(PostgresCoordinator {
            shared,
            in_flight: InFlight::default(),
            txn_locks: TransactionLocks::default(),
            commands: tokio::sync::Mutex::new(commands_rx),
            orphans: tokio::sync::Mutex::new(orphans_rx),
            tasks,
        })
    }

    /// Leaves the cluster: this node's terminals are marked disconnected (they reconnect to
    /// another node) and its membership row is removed, so nobody waits for its lease to end.
    pub async fn leave(&self) {
        if let Err(e) = tasks::leave(&self.shared).await {
            tracing::warn!(error = %e, "could not leave the cluster cleanly; the node lease expires");
        }
    }

    /// The epoch (fencing token) of this node's ownership of `terminal`, if it owns it.
    pub fn epoch_of(&self, terminal: TerminalId) -> Option<i64> {
        lock(&self.shared.owners)
            .get(&terminal)
            .filter(|o| o.node == self.shared.node.0)
            .map(|o| o.epoch)
    }
}

#[async_trait]
impl Coordinator for PostgresCoordinator {
    fn node_id(&self) -> &NodeId {
        &self.shared.node
    }

    fn is_cluster(&self) -> bool {
        true
    }

    async fn set_connected(
        &self,
        terminal: TerminalId,
        connected: bool,
        now: Timestamp,
    ) -> Result<PresenceChange, CoordinatorError> {
        let was = self.is_connected(terminal);
        let client = self.shared.pool.get().await.map_err(unavailable)?;
        let node = &self.shared.node.0;
        let owner = if connected {
            let row = client
                .query_one(
                    "INSERT INTO poigate_terminal_owners (terminal_id, node_id, epoch, connected, last_seen_at)
                     VALUES ($1, $2, 1, true, $3)
                     ON CONFLICT (terminal_id) DO UPDATE
                       SET node_id = EXCLUDED.node_id, epoch = poigate_terminal_owners.epoch + 1,
                           connected = true, last_seen_at = EXCLUDED.last_seen_at
                     RETURNING epoch",
                    &[&terminal.to_string(), node, &now.as_millis()],
                )
                .await
                .map_err(unavailable)?;
            Some(Owner {
                node: node.clone(),
                epoch: row.get(0),
                connected: true,
                last_seen_at: Some(now),
            })
        } else {
            // Only the owner may say its connection ended: a node that lost the terminal to
            // another node must not mark it offline.
            let rows = client
                .query(
                    "UPDATE poigate_terminal_owners SET connected = false, last_seen_at = $3
                     WHERE terminal_id = $1 AND node_id = $2 RETURNING epoch",
                    &[&terminal.to_string(), node, &now.as_millis()],
                )
                .await
                .map_err(unavailable)?;
            rows.first().map(|row| Owner {
                node: node.clone(),
                epoch: row.get(0),
                connected: false,
                last_seen_at: Some(now),
            })
        };
        let Some(owner) = owner else {
            return Ok(PresenceChange {
                changed: false,
                epoch: None,
            });
        };
        let epoch = connected.then(|| u64::try_from(owner.epoch).ok()).flatten();
        lock(&self.shared.owners).insert(terminal, owner);
        let _ = self
            .shared
            .notify
            .send(("poigate_presence", terminal.to_string()));
        Ok(PresenceChange {
            changed: was != connected,
            epoch,
        })
    }

    async fn is_current_session(
        &self,
        terminal: TerminalId,
        epoch: u64,
    ) -> Result<bool, CoordinatorError> {
        let client = self.shared.pool.get().await.map_err(unavailable)?;
        let row = client
            .query_opt(
                "SELECT node_id, epoch, connected FROM poigate_terminal_owners WHERE terminal_id = $1",
                &[&terminal.to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(row.is_some_and(|r| {
            let (node, current, connected): (String, i64, bool) = (r.get(0), r.get(1), r.get(2));
            node == self.shared.node.0 && connected && u64::try_from(current) == Ok(epoch)
        }))
    }

    fn is_connected(&self, terminal: TerminalId) -> bool {
        let Some(owner) = lock(&self.shared.owners).get(&terminal).cloned() else {
            return false;
        };
        owner.connected
            && (owner.node == self.shared.node.0
                || lock(&self.shared.alive_nodes)
                    .get(&owner.node)
                    .copied()
                    .unwrap_or(false))
    }

    fn last_seen(&self, terminal: TerminalId) -> Option<Timestamp> {
        lock(&self.shared.owners)
            .get(&terminal)
            .and_then(|o| o.last_seen_at)
    }

    fn seen(&self, terminal: TerminalId, now: Timestamp) {
        // In memory only: written to the owner row with the next presence change. Seeing a
        // terminal is far too frequent for a write each time.
        if let Some(owner) = lock(&self.shared.owners).get_mut(&terminal) {
            owner.last_seen_at = Some(now);
        }
    }

    fn route(&self, terminal: TerminalId) -> Route {
        if !self.is_connected(terminal) {
            return Route::Nowhere;
        }
        match lock(&self.shared.owners).get(&terminal) {
            Some(owner) if owner.node != self.shared.node.0 => {
                Route::Node(NodeId(owner.node.clone()))
            }
            _ => Route::Here,
        }
    }

    async fn forward(
        &self,
        node: &NodeId,
        command: TerminalCommand,
    ) -> Result<(), CoordinatorError> {
        let client = self.shared.pool.get().await.map_err(unavailable)?;
        client
            .execute(
                "INSERT INTO poigate_terminal_commands (node_id, body) VALUES ($1, $2)",
                &[&node.0, &command_text(&command)],
            )
            .await
            .map_err(unavailable)?;
        client
            .execute("SELECT pg_notify('poigate_command', $1)", &[&node.0])
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn next_command(&self) -> Option<TerminalCommand> {
        self.commands.lock().await.recv().await
    }

    fn publish(&self, committed: Arc<Committed>) {
        let id = committed.interaction.id;
        let seq = committed.interaction.last_seq;
        let at = committed.committed_at_micros;
        tasks::publish_locally(&self.shared, committed);
        // The commit time travels along, so a waiter woken on another node reports when the
        // change was committed, not when it heard of it.
        let _ = self.shared.notify.send((
            "poigate_commit",
            format!("{}|{}|{}|{}", self.shared.node.0, id, seq, at),
        ));
    }

    fn subscribe(&self, interaction: InteractionId) -> Subscription {
        self.shared.waiters.subscribe(interaction)
    }

    async fn set_timer(&self, timer: TimerKey, due: Timestamp) -> Result<(), CoordinatorError> {
        let client = self.shared.pool.get().await.map_err(unavailable)?;
        client
            .execute(
                "INSERT INTO poigate_timers (key, due_at, set_by) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE
                   SET due_at = EXCLUDED.due_at, set_by = EXCLUDED.set_by, fired_by = NULL",
                &[&timer_text(timer), &due.as_millis(), &self.shared.node.0],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn cancel_timer(&self, timer: TimerKey) {
        let Ok(client) = self.shared.pool.get().await else {
            return;
        };
        if let Err(e) = client
            .execute(
                "DELETE FROM poigate_timers WHERE key = $1",
                &[&timer_text(timer)],
            )
            .await
        {
            tracing::debug!(error = %e, "timer not removed; it fires harmlessly later");
        }
    }

    async fn claim_timer(&self, timer: TimerKey) -> Result<bool, CoordinatorError> {
        let client = self.shared.pool.get().await.map_err(unavailable)?;
        let key = timer_text(timer);
        // A timer nobody recorded (e.g. the daily settlement) is recorded first; then one
        // conditional UPDATE claims it: a racing claim waits for the row lock and re-checks
        // `fired_by IS NULL` against the committed row, so exactly one caller sees a row.
        // Recorded as due now: fired timers are swept a day after they were due, and a claim
        // swept away at once could be made a second time.
        let now = self.shared.clock.now().as_millis();
        client
            .execute(
                "INSERT INTO poigate_timers (key, due_at, set_by) VALUES ($1, $3, $2)
                 ON CONFLICT (key) DO NOTHING",
                &[&key, &self.shared.node.0, &now],
            )
            .await
            .map_err(unavailable)?;
        let claimed = client
            .execute(
                "UPDATE poigate_timers SET fired_by = $2 WHERE key = $1 AND fired_by IS NULL",
                &[&key, &self.shared.node.0],
            )
            .await
            .map_err(unavailable)?;
        Ok(claimed == 1)
    }

    async fn next_orphaned_timer(&self) -> Option<TimerKey> {
        self.orphans.lock().await.recv().await
    }

    fn claim_in_flight(&self, merchant: MerchantId, keys: Vec<String>) -> Option<InFlightGuard> {
        // Per node; across nodes the unique index on idempotency keys makes the loser replay
        // the winner's committed answer.
        self.in_flight.claim(merchant, keys)
    }

    async fn lock_transaction(&self, transaction: TransactionId) -> TransactionGuard {
        // Per node; across nodes the store's optimistic check on the transaction's `last_seq`
        // keeps changes apart (the loser re-reads and re-applies).
        self.txn_locks.lock(transaction).await
    }

    fn cached_key(&self, hash: &[u8; 32]) -> Option<ApiKeyRecord> {
        self.shared.keys.by_hash(hash)
    }

    fn cached_key_by_id(&self, id: ApiKeyId) -> Option<ApiKeyRecord> {
        self.shared.keys.by_id(id)
    }

    fn remember_key(&self, hash: Option<[u8; 32]>, record: &ApiKeyRecord) {
        self.shared.keys.remember(hash, record);
    }

    fn forget_key(&self, id: ApiKeyId) {
        self.shared.keys.forget(id);
        let _ = self
            .shared
            .notify
            .send(("poigate_key_revoked", id.to_string()));
    }

    fn lease_recovery(&self) -> LeaseRecovery {
        LeaseRecovery::ReleaseOwn(self.shared.node.clone())
    }
}
