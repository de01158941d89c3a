//! The [`Coordinator`] port: every fact the engine needs that spans requests or nodes.
//!
//! One gateway process can keep these facts in memory; several gateway nodes on one
//! PostgreSQL database cannot. So the engine never keeps them itself: it asks its
//! coordinator. What a coordinator owns:
//!
//! - **presence and routing**: whether a terminal's connection is held, and by which node;
//!   a start or cancel accepted anywhere is routed to that node ([`Coordinator::route`],
//!   [`Coordinator::forward`], [`Coordinator::next_command`]);
//! - **commits and waiters**: every committed change of an interaction is published, and
//!   long-polls and SSE streams subscribe to it ([`Coordinator::publish`],
//!   [`Coordinator::subscribe`]);
//! - **timers**: a due timer (delivery timeout, overdue deadline, the daily settlement) is
//!   carried out exactly once in the cluster ([`Coordinator::claim_timer`]);
//! - **in-flight guards and locks**: a create with an idempotency key that is still running,
//!   and the one change of a transaction at a time ([`Coordinator::claim_in_flight`],
//!   [`Coordinator::lock_transaction`]);
//! - **the API-key cache**: valid keys remembered for a few seconds, forgotten everywhere at
//!   once on revocation ([`Coordinator::cached_key`], [`Coordinator::forget_key`]);
//! - **webhook leases**: which node's worker owns a delivery lease, and what a worker may
//!   release at start-up ([`Coordinator::lease_recovery`]).
//!
//! [`LocalCoordinator`] is the one-process implementation (SQLite): everything in memory,
//! exactly the behaviour poigate had before the port existed. How a PostgreSQL
//! implementation satisfies each method is written down in `docs/design-notes.md`.

use crate::idempotency::{InFlight, InFlightGuard};
pub use crate::key_cache::KeyCache;
use async_trait::async_trait;
use poigate_domain::{
    ApiKeyId, Interaction, InteractionId, MerchantId, TerminalId, Timestamp, Transaction,
    TransactionId,
};
use poigate_store::ApiKeyRecord;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The name of a gateway node (one process). Stable for the life of the process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(pub String);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a command for a terminal must go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// This node holds the terminal's connection (or runs it in-process).
    Here,
    /// Another node holds it.
    Node(NodeId),
    /// Nobody holds it: the terminal is offline.
    Nowhere,
}

/// A command for a terminal, routed to the node that holds its connection.
#[derive(Clone, Debug)]
pub enum TerminalCommand {
    Start {
        terminal: TerminalId,
        interaction: Box<Interaction>,
    },
    Cancel {
        terminal: TerminalId,
        interaction: InteractionId,
    },
    /// The terminal's device key was revoked or replaced: close its connection.
    CredentialsRevoked { terminal: TerminalId },
}

impl TerminalCommand {
    /// The terminal the command is for.
    pub fn terminal(&self) -> TerminalId {
        match self {
            TerminalCommand::Start { terminal, .. }
            | TerminalCommand::Cancel { terminal, .. }
            | TerminalCommand::CredentialsRevoked { terminal } => *terminal,
        }
    }
}

/// A committed change of an interaction, as published to its waiters.
#[derive(Clone, Debug)]
pub struct Committed {
    pub interaction: Interaction,
    /// The transaction committed with this change, if any (so a woken long-poll needs no read).
    pub transaction: Option<Transaction>,
    /// When the change was committed, µs since the epoch (for wake-latency measurements).
    pub committed_at_micros: i64,
}

/// A subscription to the committed changes of one interaction.
///
/// The receiver holds the newest change published *after* the subscription was taken
/// (`None` before the first one): a waiter subscribes first and reads the state second, so
/// a change in between is never missed.
pub struct Subscription {
    pub changes: watch::Receiver<Option<Arc<Committed>>>,
    /// Runs when the subscription is dropped (the coordinator forgets channels nobody
    /// listens to).
    _release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Subscription {
    pub fn new(
        changes: watch::Receiver<Option<Arc<Committed>>>,
        release: Option<Box<dyn FnOnce() + Send + Sync>>,
    ) -> Subscription {
        Subscription {
            changes,
            _release: release,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(release) = self._release.take() {
            release();
        }
    }
}

/// A timer the engine sets: due at a time, carried out once in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKey {
    /// The start was not acknowledged in time (`not_delivered`).
    Delivery(InteractionId),
    /// No result by the safety deadline (`overdue`).
    Overdue(InteractionId),
    /// The daily settlement at this cut-off.
    Settlement(Timestamp),
}

/// What a webhook worker may do with delivery leases when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseRecovery {
    /// This is the only node: every lease is an orphan of a previous life; release them all.
    ReleaseAll,
    /// Other nodes may be working: release only leases this node's id holds; the others
    /// expire by themselves.
    ReleaseOwn(NodeId),
}

/// What recording a connect or disconnect did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresenceChange {
    /// Whether the cluster-wide presence changed (offline to online or back).
    pub changed: bool,
    /// For a connect: the connection's fencing token, an epoch that grows with every connect
    /// of the terminal on any node. `None` for a disconnect, and for a disconnect that was
    /// not this node's to record.
    pub epoch: Option<u64>,
}

/// Why a coordinator could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoordinatorError {
    /// The shared medium (e.g. the database the nodes coordinate through) cannot be reached.
    #[error("coordination unavailable: {0}")]
    Unavailable(String),
}

/// Held while one change of a transaction is carried out; released when dropped.
pub type TransactionGuard = tokio::sync::OwnedMutexGuard<()>;

/// One change of a transaction at a time in this process: a mutex per transaction, forgotten
/// once nobody holds or waits for it.
#[derive(Default)]
pub struct TransactionLocks {
    locks: Mutex<HashMap<TransactionId, Arc<tokio::sync::Mutex<()>>>>,
}

impl TransactionLocks {
    /// Waits for `transaction`'s turn.
    pub async fn lock(&self, transaction: TransactionId) -> TransactionGuard {
        let lock = {
            let mut locks = lock(&self.locks);
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(transaction).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// See the module documentation.
#[async_trait]
pub trait Coordinator: Send + Sync + 'static {
    /// This node.
    fn node_id(&self) -> &NodeId;

    /// Whether other nodes change the same interactions: then this node's memory of live
    /// interactions is a cache of what it did itself, and reads go to the store.
    fn is_cluster(&self) -> bool;

    // --- presence and routing ----------------------------------------------------------

    /// Records that this node now holds (or no longer holds) `terminal`'s connection.
    async fn set_connected(
        &self,
        terminal: TerminalId,
        connected: bool,
        now: Timestamp,
    ) -> Result<PresenceChange, CoordinatorError>;

    /// Whether the connection recorded with `epoch` is still the terminal's newest, asked of
    /// the authority (the database in a cluster, not a cache): a node whose terminal
    /// reconnected to another node must not apply the old connection's frames, which it may
    /// still be reading from a half-open socket.
    async fn is_current_session(
        &self,
        terminal: TerminalId,
        epoch: u64,
    ) -> Result<bool, CoordinatorError>;

    /// Whether any node holds `terminal`'s connection.
    fn is_connected(&self, terminal: TerminalId) -> bool;

    /// When the terminal was last heard from, if ever.
    fn last_seen(&self, terminal: TerminalId) -> Option<Timestamp>;

    /// Notes that the terminal was heard from now.
    fn seen(&self, terminal: TerminalId, now: Timestamp);

    /// Where a command for `terminal` must go.
    fn route(&self, terminal: TerminalId) -> Route;

    /// Sends a command to the node that holds the terminal.
    async fn forward(
        &self,
        node: &NodeId,
        command: TerminalCommand,
    ) -> Result<(), CoordinatorError>;

    /// The next command other nodes routed to this one; `None` when there will be no more
    /// (a one-process coordinator never has any).
    async fn next_command(&self) -> Option<TerminalCommand>;

    // --- commits and waiters -----------------------------------------------------------

    /// Publishes a committed change to every waiter of the interaction, on every node.
    fn publish(&self, committed: Arc<Committed>);

    /// Subscribes to the committed changes of one interaction.
    fn subscribe(&self, interaction: InteractionId) -> Subscription;

    // --- timers, guards and locks ------------------------------------------------------

    /// Records that `timer` is due at `due`, so that it fires even if this node dies before
    /// (another node finds it through [`Coordinator::next_orphaned_timer`]). The setting node
    /// also sleeps until `due` itself and then claims it.
    async fn set_timer(&self, timer: TimerKey, due: Timestamp) -> Result<(), CoordinatorError>;

    /// Forgets a timer that will not be needed (its interaction is final).
    async fn cancel_timer(&self, timer: TimerKey);

    /// Claims a due timer: `true` for exactly one caller in the cluster.
    async fn claim_timer(&self, timer: TimerKey) -> Result<bool, CoordinatorError>;

    /// The next timer that is overdue and that no node has claimed (its node died); `None`
    /// when there will be none (a one-process coordinator: its own sleeps fire every timer).
    async fn next_orphaned_timer(&self) -> Option<TimerKey>;

    /// Claims idempotency keys of a create that is starting; `None` while any of them is
    /// being created already.
    fn claim_in_flight(&self, merchant: MerchantId, keys: Vec<String>) -> Option<InFlightGuard>;

    /// Waits for the one change of `transaction` at a time.
    async fn lock_transaction(&self, transaction: TransactionId) -> TransactionGuard;

    // --- API keys ----------------------------------------------------------------------

    /// A valid key recently read, by the SHA-256 of its secret.
    fn cached_key(&self, hash: &[u8; 32]) -> Option<ApiKeyRecord>;

    /// A valid key recently read, by its id (access tokens name their key).
    fn cached_key_by_id(&self, id: ApiKeyId) -> Option<ApiKeyRecord>;

    /// Remembers a key read from the store (by the hash of its secret when known).
    fn remember_key(&self, hash: Option<[u8; 32]>, record: &ApiKeyRecord);

    /// Forgets a key on every node (it was revoked).
    fn forget_key(&self, id: ApiKeyId);

    // --- webhooks ----------------------------------------------------------------------

    /// What this node's webhook worker may release at start-up.
    fn lease_recovery(&self) -> LeaseRecovery;
}

/// The waiters of one process: one `watch` channel per interaction somebody waits for,
/// forgotten when its last subscriber leaves or its interaction is final. Every coordinator
/// keeps its own node's waiters with it; a cluster coordinator feeds it changes committed on
/// other nodes too.
#[derive(Default)]
pub struct Waiters {
    channels: Arc<Mutex<Channels>>,
}

/// One channel per interaction somebody waits for.
type Channels = HashMap<InteractionId, watch::Sender<Option<Arc<Committed>>>>;

impl Waiters {
    /// Hands a committed change to the interaction's subscribers on this node, if any.
    pub fn publish(&self, committed: Arc<Committed>) {
        let id = committed.interaction.id;
        let final_ = committed.interaction.is_final();
        let mut channels = lock(&self.channels);
        if let Some(tx) = channels.get(&id) {
            tx.send_replace(Some(committed));
            if final_ {
                // Nothing follows a final change: receivers keep the value, then see the
                // channel closed.
                channels.remove(&id);
            }
        }
    }

    /// Subscribes to one interaction's changes on this node.
    pub fn subscribe(&self, interaction: InteractionId) -> Subscription {
        let rx = {
            let mut channels = lock(&self.channels);
            channels
                .entry(interaction)
                .or_insert_with(|| watch::Sender::new(None))
                .subscribe()
        };
        let channels = Arc::downgrade(&self.channels);
        Subscription::new(
            rx,
            Some(Box::new(move || {
                let Some(channels) = channels.upgrade() else {
                    return;
                };
                let mut channels = lock(&channels);
                // The dropped receiver still counts while this runs: forget the channel when
                // ours was the last one.
                if channels
                    .get(&interaction)
                    .is_some_and(|tx| tx.receiver_count() <= 1)
                {
                    channels.remove(&interaction);
                }
            })),
        )
    }

    /// The interactions somebody on this node waits for.
    pub fn subscribed(&self) -> Vec<InteractionId> {
        lock(&self.channels).keys().copied().collect()
    }
}

/// The coordinator of one gateway process: all facts in memory.
pub struct LocalCoordinator {
    node: NodeId,
    presence: Mutex<HashMap<TerminalId, Presence>>,
    waiters: Waiters,
    in_flight: InFlight,
    txn_locks: TransactionLocks,
    keys: KeyCache,
}

#[derive(Clone, Copy, Default)]
struct Presence {
    connected: bool,
    last_seen_at: Option<Timestamp>,
    /// Grows on every connect: the fencing token of the newest connection.
    epoch: u64,
}

impl Default for LocalCoordinator {
    fn default() -> Self {
        LocalCoordinator::new()
    }
}

impl LocalCoordinator {
    pub fn new() -> LocalCoordinator {
        LocalCoordinator {
            node: NodeId("local".into()),
            presence: Mutex::default(),
            waiters: Waiters::default(),
            in_flight: InFlight::default(),
            txn_locks: TransactionLocks::default(),
            keys: KeyCache::default(),
        }
    }

    fn with_presence<R>(&self, f: impl FnOnce(&mut HashMap<TerminalId, Presence>) -> R) -> R {
        match self.presence.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Number of interactions with at least one subscriber (for tests and diagnostics).
    pub fn subscribed_interactions(&self) -> usize {
        self.waiters.subscribed().len()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[async_trait]
impl Coordinator for LocalCoordinator {
    fn node_id(&self) -> &NodeId {
        &self.node
    }

    fn is_cluster(&self) -> bool {
        false
    }

    async fn set_connected(
        &self,
        terminal: TerminalId,
        connected: bool,
        now: Timestamp,
    ) -> Result<PresenceChange, CoordinatorError> {
        Ok(self.with_presence(|m| {
            let p = m.entry(terminal).or_default();
            p.last_seen_at = Some(now);
            let changed = p.connected != connected;
            p.connected = connected;
            if connected {
                p.epoch += 1;
            }
            PresenceChange {
                changed,
                epoch: connected.then_some(p.epoch),
            }
        }))
    }

    async fn is_current_session(
        &self,
        terminal: TerminalId,
        epoch: u64,
    ) -> Result<bool, CoordinatorError> {
        Ok(self.with_presence(|m| {
            m.get(&terminal)
                .is_some_and(|p| p.connected && p.epoch == epoch)
        }))
    }

    fn is_connected(&self, terminal: TerminalId) -> bool {
        self.with_presence(|m| m.get(&terminal).is_some_and(|p| p.connected))
    }

    fn last_seen(&self, terminal: TerminalId) -> Option<Timestamp> {
        self.with_presence(|m| m.get(&terminal).and_then(|p| p.last_seen_at))
    }

    fn seen(&self, terminal: TerminalId, now: Timestamp) {
        self.with_presence(|m| {
            if let Some(p) = m.get_mut(&terminal) {
                p.last_seen_at = Some(now);
            }
        });
    }

    fn route(&self, terminal: TerminalId) -> Route {
        if self.is_connected(terminal) {
            Route::Here
        } else {
            Route::Nowhere
        }
    }

    async fn forward(
        &self,
        node: &NodeId,
        _command: TerminalCommand,
    ) -> Result<(), CoordinatorError> {
        // One process: `route` never names another node.
        Err(CoordinatorError::Unavailable(format!(
            "no node {node} in a one-process gateway"
        )))
    }

    async fn next_command(&self) -> Option<TerminalCommand> {
        None
    }

    fn publish(&self, committed: Arc<Committed>) {
        self.waiters.publish(committed);
    }

    fn subscribe(&self, interaction: InteractionId) -> Subscription {
        self.waiters.subscribe(interaction)
    }

    async fn set_timer(&self, _timer: TimerKey, _due: Timestamp) -> Result<(), CoordinatorError> {
        // The process that sets a timer is the only one, and it sleeps until it is due.
        Ok(())
    }

    async fn cancel_timer(&self, _timer: TimerKey) {}

    async fn claim_timer(&self, _timer: TimerKey) -> Result<bool, CoordinatorError> {
        // One process sets each timer once.
        Ok(true)
    }

    async fn next_orphaned_timer(&self) -> Option<TimerKey> {
        None
    }

    fn claim_in_flight(&self, merchant: MerchantId, keys: Vec<String>) -> Option<InFlightGuard> {
        self.in_flight.claim(merchant, keys)
    }

    async fn lock_transaction(&self, transaction: TransactionId) -> TransactionGuard {
        self.txn_locks.lock(transaction).await
    }

    fn cached_key(&self, hash: &[u8; 32]) -> Option<ApiKeyRecord> {
        self.keys.by_hash(hash)
    }

    fn cached_key_by_id(&self, id: ApiKeyId) -> Option<ApiKeyRecord> {
        self.keys.by_id(id)
    }

    fn remember_key(&self, hash: Option<[u8; 32]>, record: &ApiKeyRecord) {
        self.keys.remember(hash, record);
    }

    fn forget_key(&self, id: ApiKeyId) {
        self.keys.forget(id);
    }

    fn lease_recovery(&self) -> LeaseRecovery {
        LeaseRecovery::ReleaseAll
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::{InteractionType, fixtures};

    fn pending() -> Interaction {
        fixtures::new_interaction(
            InteractionType::Sale,
            1250,
            "EUR",
            Timestamp::from_millis(1),
        )
    }

    #[tokio::test]
    async fn a_subscriber_sees_a_change_published_after_it_subscribed() {
        let coordinator = LocalCoordinator::new();
        let interaction = pending();
        let mut sub = coordinator.subscribe(interaction.id);
        assert!(sub.changes.borrow().is_none());
        coordinator.publish(Arc::new(Committed {
            interaction: interaction.clone(),
            transaction: None,
            committed_at_micros: 1,
        }));
        sub.changes.changed().await.expect("a change");
        let seen = sub.changes.borrow().clone().expect("published");
        assert_eq!(seen.interaction.id, interaction.id);
    }

    #[tokio::test]
    async fn channels_nobody_listens_to_are_forgotten() {
        let coordinator = LocalCoordinator::new();
        let interaction = pending();
        let a = coordinator.subscribe(interaction.id);
        let b = coordinator.subscribe(interaction.id);
        assert_eq!(coordinator.subscribed_interactions(), 1);
        drop(a);
        assert_eq!(coordinator.subscribed_interactions(), 1);
        drop(b);
        assert_eq!(coordinator.subscribed_interactions(), 0);
        // Publishing without subscribers keeps nothing.
        coordinator.publish(Arc::new(Committed {
            interaction,
            transaction: None,
            committed_at_micros: 1,
        }));
        assert_eq!(coordinator.subscribed_interactions(), 0);
    }

    #[tokio::test]
    async fn presence_decides_the_route() {
        let coordinator = LocalCoordinator::new();
        let terminal = pending().terminal_id;
        assert_eq!(coordinator.route(terminal), Route::Nowhere);
        let now = Timestamp::from_millis(1_000);
        assert!(
            coordinator
                .set_connected(terminal, true, now)
                .await
                .is_ok_and(|c| c.changed && c.epoch == Some(1))
        );
        assert_eq!(coordinator.route(terminal), Route::Here);
        assert!(
            coordinator
                .set_connected(terminal, true, now)
                .await
                .is_ok_and(|c| !c.changed && c.epoch == Some(2))
        );
        assert_eq!(coordinator.last_seen(terminal), Some(now));
    }
}
