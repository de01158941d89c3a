//! The engine: commands (create, cancel, terminal reports), queries, timers and waiters.

mod batch;
mod devices;

pub use devices::{PairedDevice, PairingCode};

use crate::auth;
use crate::builder::Ports;
use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::coordinator::{Committed, Coordinator, Route, TerminalCommand, TimerKey};
use crate::error::EngineError;
use crate::idempotency::fingerprint;
use crate::link::{ReportKind, ReportOutcome, TerminalLink, TerminalReport};
use crate::live::{LiveEntry, LiveMap};
use crate::processor::Processor;
use crate::registry::{Registry, TerminalLive};
use crate::services::{Admin, Devices, Interactions, Transactions};
use crate::tokens::TokenKey;
use crate::webhooks::TargetGuard;
use batch::{Step, decide};
use poigate_domain::webhook::{interaction_messages, terminal_message};
use poigate_domain::{
    ApiKeyId, ApiKeyMode, CallbackSubscription, Effect, Event, EventKind, Input, Interaction,
    InteractionId, InteractionType, Merchant, MerchantId, Money, NewInteraction, ReceiptContext,
    Status, Terminal, TerminalConnection, TerminalId, TerminalKind, Timestamp, Transaction,
    TransactionId, Transition, ValidationErrors,
};
use poigate_store::{
    ApiKeyRecord, CreateInteraction, EventOrder, IdempotencyKey, IdempotencyRecord,
    InteractionFilter, Store, StoreError,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The authenticated caller: every query is scoped by its merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub merchant_id: MerchantId,
    pub mode: ApiKeyMode,
    pub key_id: ApiKeyId,
}

impl Caller {
    /// Whether the caller's key is a live key: it sees only live objects, and what it
    /// creates is live; a test key sees and creates only test objects.
    pub fn livemode(&self) -> bool {
        self.mode == ApiKeyMode::Live
    }
}

/// What a long-poll found: the state, and — when a change woke it — when that change was
/// committed (µs since the epoch) and the transaction committed with it, if any.
#[derive(Clone, Debug)]
pub struct Waited {
    pub interaction: Interaction,
    pub committed_at_micros: Option<i64>,
    pub transaction: Option<Transaction>,
}

/// A create request, parsed but not yet validated against the rules.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    /// Terminal id, POIID or serial number.
    pub terminal: String,
    pub kind: InteractionType,
    pub amount: Money,
    pub reference: Option<String>,
    pub sale_id: Option<String>,
    pub service_id: Option<String>,
    pub timeout_seconds: Option<u32>,
    pub metadata: BTreeMap<String, String>,
    pub webhooks: Vec<CallbackSubscription>,
    /// Ask the cardholder for a tip on the terminal (sale or auth).
    pub ask_for_tip: bool,
    pub idempotency_key: Option<String>,
}

/// The answer to a create.
#[derive(Clone, Debug)]
pub struct Created {
    pub interaction: Interaction,
    /// True when this is the stored answer to an earlier identical request.
    pub replayed: bool,
}

/// What a cancel request achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelAnswer {
    /// The interaction is cancelled (it was not delivered yet, or the terminal agreed).
    Cancelled,
    /// Forwarded to the terminal, which decides: cancelled, or too late.
    CancelRequested,
    /// The interaction reached another final state first.
    TooLate,
}

#[derive(Clone, Debug)]
pub struct CancelResult {
    pub answer: CancelAnswer,
    pub interaction: Interaction,
}

impl CancelResult {
    fn from_state(interaction: Interaction) -> CancelResult {
        let answer = match interaction.status {
            Status::Cancelled => CancelAnswer::Cancelled,
            s if s.is_final() => CancelAnswer::TooLate,
            _ => CancelAnswer::CancelRequested,
        };
        CancelResult {
            answer,
            interaction,
        }
    }
}

/// A terminal with its live status.
#[derive(Clone, Debug)]
pub struct TerminalView {
    pub terminal: Terminal,
    pub live: Option<TerminalLive>,
}

/// A newly created API key: the secret is shown once and never stored.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub secret: String,
    pub record: ApiKeyRecord,
}

/// The engine handle. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

/// A handle that does not keep the engine alive (for links and timers).
#[derive(Clone)]
pub struct WeakEngine(Weak<Inner>);

impl WeakEngine {
    pub fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    /// Cross-request and cross-node facts: presence, routing, waiters, timers, locks, keys.
    pub(crate) coordinator: Arc<dyn Coordinator>,
    /// This node's terminals (in-process simulator and the link's connections).
    pub(crate) link: Arc<dyn TerminalLink>,
    pub(crate) processor: Arc<dyn Processor>,
    pub(crate) target_guard: Arc<dyn TargetGuard>,
    /// The HMAC key of access tokens.
    pub(crate) token_key: TokenKey,
    /// Notified after every commit that wrote webhook messages (wakes the worker).
    pub(crate) outbox_signal: Arc<tokio::sync::Notify>,
    /// Every committed webhook message, for live followers (`GET /v1/events/stream`).
    pub(crate) feed: crate::feed::EventFeed,
    pub(crate) registry: Registry,
    pub(crate) live: LiveMap,
    /// Set once when the process starts draining (shutdown): every wait answers at once.
    draining: tokio::sync::watch::Sender<bool>,
    merchant_names: Mutex<HashMap<MerchantId, String>>,
    /// When each key's use was last written (this node): `last_used_at` costs at most one
    /// write a minute a key, not one a request.
    pub(crate) key_use_written: Mutex<HashMap<ApiKeyId, Timestamp>>,
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    /// A key sees only objects of its own mode: a terminal of the other mode is, to it,
    /// like another merchant's.
    pub(crate) fn check_terminal_mode(
        caller: &Caller,
        terminal: &Terminal,
    ) -> Result<(), EngineError> {
        if terminal.livemode == caller.livemode() {
            Ok(())
        } else {
            Err(EngineError::NotFound("terminal"))
        }
    }

    /// Sets the gauges that are read rather than counted (`poigate_terminals{status}`,
    /// `poigate_interactions_live`); the metrics endpoint calls it before each scrape.
    pub fn record_gauges(&self) {
        let coordinator = self.coordinator();
        crate::metrics::record_terminals(&self.inner.registry, |id| coordinator.is_connected(id));
        metrics::gauge!("poigate_interactions_live").set(self.inner.live.count() as f64);
    }

    /// Starts building an engine: see [`EngineBuilder`](crate::EngineBuilder).
    pub fn builder(ports: Ports, config: EngineConfig) -> crate::EngineBuilder {
        crate::EngineBuilder::new(ports, config)
    }

    /// Builds the engine around ports that are all present (the builder's job), with the
    /// terminal link made from a weak handle of the engine itself: the link reports to the
    /// engine without keeping it alive, so there is no reference cycle to break at shutdown.
    pub(crate) fn assemble<L: TerminalLink>(
        ports: Ports,
        config: EngineConfig,
        make_link: impl FnOnce(WeakEngine) -> Arc<L>,
    ) -> (Engine, Arc<L>) {
        let mut made = None;
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let link = make_link(WeakEngine(weak.clone()));
            made = Some(link.clone());
            Inner {
                store: ports.store,
                clock: ports.clock,
                config,
                coordinator: ports.coordinator,
                link,
                processor: ports.processor,
                target_guard: ports.target_guard,
                token_key: ports.token_key,
                outbox_signal: Arc::new(tokio::sync::Notify::new()),
                feed: crate::feed::EventFeed::new(),
                registry: Registry::default(),
                live: LiveMap::default(),
                draining: tokio::sync::watch::Sender::new(false),
                merchant_names: Mutex::new(HashMap::new()),
                key_use_written: Mutex::new(HashMap::new()),
            }
        });
        let engine = Engine { inner };
        match made {
            Some(link) => (engine, link),
            // `new_cyclic` runs its closure exactly once, before returning.
            None => unreachable!("the link is made while the engine is built"),
        }
    }

    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    pub(crate) fn link(&self) -> &Arc<dyn TerminalLink> {
        &self.inner.link
    }

    pub(crate) fn coordinator(&self) -> &Arc<dyn Coordinator> {
        &self.inner.coordinator
    }

    /// A known terminal with its presence (from the coordinator) and its active interaction.
    pub(crate) fn terminal_view(&self, id: TerminalId) -> Option<TerminalLive> {
        let (terminal, active) = self.inner.registry.get(id)?;
        let coordinator = self.coordinator();
        Some(TerminalLive {
            terminal,
            connected: coordinator.is_connected(id),
            last_seen_at: coordinator.last_seen(id),
            active,
        })
    }

    /// Hands a command to the node holding the terminal: this one's link, or another
    /// node through the coordinator. A terminal nobody holds gets it through this node's
    /// link, which refuses it (`NotConnected`) unless the terminal is just coming back.
    pub(crate) async fn send_to_terminal(&self, command: TerminalCommand) -> Result<(), String> {
        match self.coordinator().route(command.terminal()) {
            Route::Node(node) => self
                .coordinator()
                .forward(&node, command)
                .await
                .map_err(|e| e.to_string()),
            Route::Here | Route::Nowhere => self.deliver_here(command).await,
        }
    }

    /// Closes a terminal's connection wherever it is held (its credentials changed).
    pub(crate) async fn close_connection(&self, terminal: &Terminal) {
        match self.coordinator().route(terminal.id) {
            Route::Node(node) => {
                let command = TerminalCommand::CredentialsRevoked {
                    terminal: terminal.id,
                };
                if let Err(e) = self.coordinator().forward(&node, command).await {
                    tracing::warn!(terminal = %terminal.id, error = %e, "connection not closed");
                }
            }
            // Also when nobody holds it: a connection being set up right now must not survive.
            Route::Here | Route::Nowhere => self.link().credentials_revoked(terminal).await,
        }
    }

    /// Carries out a command on this node's link.
    pub(crate) async fn deliver_here(&self, command: TerminalCommand) -> Result<(), String> {
        let terminal_id = command.terminal();
        let Some(terminal) = self.inner.registry.terminal(terminal_id) else {
            return Err(format!("terminal {terminal_id} is not known on this node"));
        };
        match command {
            TerminalCommand::Start { interaction, .. } => self
                .link()
                .start(&terminal, &interaction)
                .await
                .map_err(|e| e.to_string()),
            TerminalCommand::Cancel { interaction, .. } => self
                .link()
                .cancel(&terminal, interaction)
                .await
                .map_err(|e| e.to_string()),
            TerminalCommand::CredentialsRevoked { .. } => {
                self.link().credentials_revoked(&terminal).await;
                Ok(())
            }
        }
    }

    /// Carries out a due timer if this node claims it (exactly one node does).
    pub(crate) async fn fire_timer(&self, key: TimerKey) {
        let (id, input) = match key {
            TimerKey::Delivery(id) => (id, Input::DeliveryTimedOut),
            TimerKey::Overdue(id) => (id, Input::DeadlinePassed),
            TimerKey::Settlement(_) => return,
        };
        match self.coordinator().claim_timer(key).await {
            Ok(true) => {
                if let Err(e) = self.transition(id, input, None).await {
                    tracing::warn!(interaction = %id, error = %e, "timer transition failed");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(interaction = %id, error = %e, "timer not claimed"),
        }
    }

    /// Fires the timers other nodes set and could not fire (they died), for as long as the
    /// engine lives (a one-process coordinator has none, and this ends at once).
    fn serve_orphaned_timers(&self) {
        let weak = self.downgrade();
        let coordinator = self.inner.coordinator.clone();
        tokio::spawn(async move {
            while let Some(key) = coordinator.next_orphaned_timer().await {
                let Some(engine) = weak.upgrade() else { return };
                engine.fire_timer(key).await;
            }
        });
    }

    /// Carries out the commands other nodes route to this one, for as long as the engine
    /// lives (a one-process coordinator has none, and this ends at once).
    fn serve_routed_commands(&self) {
        let weak = self.downgrade();
        let coordinator = self.inner.coordinator.clone();
        tokio::spawn(async move {
            while let Some(command) = coordinator.next_command().await {
                let Some(engine) = weak.upgrade() else { return };
                if let Err(e) = engine.deliver_here(command).await {
                    tracing::info!(error = %e, "routed command not delivered");
                }
            }
        });
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Notified whenever webhook messages were committed to the outbox.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.inner.outbox_signal.clone()
    }

    /// Starts draining (the process is shutting down): every wait in progress ends now with
    /// the state as it is, and every later wait answers at once. The engine keeps working
    /// otherwise (terminals may still report, timers still fire) until it is dropped; the
    /// callers of the waits decide how to tell their clients to come back (HTTP adds
    /// `Retry-After`, dialects answer their own "still in progress"). Idempotent.
    pub fn begin_drain(&self) {
        self.inner.draining.send_replace(true);
    }

    /// Whether [`Engine::begin_drain`] was called.
    pub fn is_draining(&self) -> bool {
        *self.inner.draining.borrow()
    }

    /// Completes once the engine drains (at once when it already does). For long-lived
    /// answers that are not a single wait, such as an event stream.
    pub fn drained(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.draining.subscribe();
        async move {
            // An error means the engine is gone: as good as drained.
            let _ = rx.wait_for(|d| *d).await;
        }
    }

    /// After a commit that wrote `messages`: wakes the webhook worker and publishes them to
    /// the live feed.
    pub(crate) fn outbox_committed(&self, messages: &[poigate_domain::OutboxMessage]) {
        self.inner.feed.publish(messages);
        self.inner.outbox_signal.notify_one();
    }

    /// The merchant-wide live feed of this node's committed events.
    pub fn event_feed(&self) -> &crate::feed::EventFeed {
        &self.inner.feed
    }

    /// Loads terminals and live interactions and resumes their timers and deliveries.
    /// Call once, before serving requests.
    pub async fn start(&self) -> Result<(), EngineError> {
        let terminals = self.inner.store.list_all_terminals().await?;
        for t in &terminals {
            self.inner.registry.add(t.clone());
        }
        let live = self.inner.store.live_interactions().await?;
        let now = self.now();
        for interaction in &live {
            let entry = self.inner.live.insert(interaction.clone());
            self.inner
                .registry
                .set_active(interaction.terminal_id, interaction.id);
            match interaction.status {
                Status::Pending => {
                    // A fresh delivery window: the link re-sends the start below.
                    self.schedule(
                        &entry,
                        now.plus_millis(millis(self.inner.config.delivery_timeout)),
                        Input::DeliveryTimedOut,
                    );
                }
                _ => self.schedule_overdue(&entry, interaction),
            }
        }
        let link = self.link();
        for t in &terminals {
            link.terminal_added(t).await;
        }
        for interaction in live {
            let Some(terminal) = self.inner.registry.terminal(interaction.terminal_id) else {
                continue;
            };
            if interaction.status == Status::Pending {
                if let Err(e) = link.start(&terminal, &interaction).await {
                    tracing::info!(interaction = %interaction.id, error = %e, "start not re-delivered yet");
                }
            } else {
                link.resume(&terminal, &interaction).await;
            }
        }
        self.serve_routed_commands();
        self.serve_orphaned_timers();
        let pending = self.inner.store.pending_operations().await?;
        if !pending.is_empty() {
            tracing::info!(
                operations = pending.len(),
                "resuming operations the processor had not answered"
            );
        }
        self.resume_operations(pending);
        self.schedule_settlement();
        tracing::info!(
            terminals = terminals.len(),
            live = self.inner.live.count(),
            "engine started"
        );
        Ok(())
    }

    pub(crate) fn terminal_poiid(&self, id: TerminalId) -> String {
        self.inner
            .registry
            .terminal(id)
            .map(|t| t.poiid())
            .unwrap_or_default()
    }

    pub(crate) async fn merchant_name(&self, id: MerchantId) -> String {
        let cached = self
            .inner
            .merchant_names
            .lock()
            .ok()
            .and_then(|m| m.get(&id).cloned());
        if let Some(name) = cached {
            return name;
        }
        match self.inner.store.get_merchant(id).await {
            Ok(Some(m)) => {
                if let Ok(mut names) = self.inner.merchant_names.lock() {
                    names.insert(id, m.name.clone());
                }
                m.name
            }
            _ => "poigate merchant".to_string(),
        }
    }

    /// Adds a terminal registered by another process (the CLI on the same data directory)
    /// to the registry and tells the link about it.
    pub(crate) async fn ensure_registered(&self, terminal: &Terminal) {
        if self.inner.registry.get(terminal.id).is_some() {
            return;
        }
        self.inner.registry.add(terminal.clone());
        self.link().terminal_added(terminal).await;
    }

    /// Checks that a report is this terminal's and turns it into the state machine's input.
    pub(crate) async fn report_input(
        &self,
        terminal_id: TerminalId,
        report: TerminalReport,
        now: Timestamp,
    ) -> Result<Step, EngineError> {
        let id = report.interaction_id;
        let owner = match self.inner.live.get(id) {
            Some(entry) => Some((entry.terminal_id, entry.merchant_id)),
            None => self
                .inner
                .store
                .get_interaction(id)
                .await?
                .map(|i| (i.terminal_id, i.merchant_id)),
        };
        let Some((owner_terminal, merchant)) = owner else {
            return Err(EngineError::UnknownInteraction);
        };
        if owner_terminal != terminal_id {
            return Err(EngineError::WrongTerminal);
        }
        let input = match report.kind {
            ReportKind::Acknowledged => Input::TerminalAcknowledged,
            ReportKind::Stage { message } => {
                if message.is_empty() || message.chars().count() > 200 {
                    return Err(EngineError::InvalidReport(
                        "stage message must be 1 to 200 characters".into(),
                    ));
                }
                Input::TerminalStage { message }
            }
            ReportKind::CancelTooLate => Input::TerminalCancelTooLate,
            ReportKind::Result(outcome) => Input::TerminalResult {
                outcome,
                transaction_id: TransactionId::generate(now),
                receipt_context: ReceiptContext {
                    merchant_name: self.merchant_name(merchant).await,
                    terminal_poiid: self
                        .inner
                        .registry
                        .terminal(terminal_id)
                        .map(|t| t.poiid())
                        .unwrap_or_default(),
                },
            },
        };
        Ok((input, Some(report.terminal_seq)))
    }

    /// Applies one input to one interaction, durably, serialised per interaction.
    pub(crate) async fn transition(
        &self,
        id: InteractionId,
        input: Input,
        terminal_seq: Option<u64>,
    ) -> Result<(ReportOutcome, Interaction), EngineError> {
        let (mut outcomes, interaction) =
            self.transition_many(id, vec![(input, terminal_seq)]).await;
        let outcome = outcomes
            .pop()
            .unwrap_or(Err(EngineError::UnknownInteraction))?;
        let interaction = interaction.ok_or(EngineError::UnknownInteraction)?;
        Ok((outcome, interaction))
    }

    /// Applies inputs to one interaction in order, durably and in ONE write, serialised per
    /// interaction: an outcome per input, and the state after them (when the interaction
    /// exists). Each input is decided on the state the previous ones left, exactly as if they
    /// had come one by one; a refused input changes nothing and the next is still decided.
    pub(crate) async fn transition_many(
        &self,
        id: InteractionId,
        steps: Vec<Step>,
    ) -> (Vec<Result<ReportOutcome, EngineError>>, Option<Interaction>) {
        let n = steps.len();
        let fail_all = |e: &dyn Fn() -> EngineError| (0..n).map(|_| Err(e())).collect::<Vec<_>>();
        let entry = match self.inner.live.get(id) {
            Some(e) => e,
            None => match self.inner.store.get_interaction(id).await {
                Ok(Some(stored)) if stored.is_final() => {
                    let outcomes = steps
                        .iter()
                        .map(|_| Ok(ReportOutcome::AlreadyFinal))
                        .collect();
                    return (outcomes, Some(stored));
                }
                Ok(Some(stored)) => self.inner.live.insert(stored),
                Ok(None) => return (fail_all(&|| EngineError::UnknownInteraction), None),
                Err(e) => return (fail_all(&|| EngineError::from(e.clone())), None),
            },
        };
        let mut state = entry.state.lock().await;
        if !self.memory_is_truth() {
            // In a cluster another node may have moved it on since this node last did: decide
            // on the stored state, not on this node's memory (a stale `last_terminal_seq` would
            // refuse a terminal's re-sent reports forever).
            match self.inner.store.get_interaction(id).await {
                Ok(Some(stored)) => *state = stored,
                Ok(None) => return (fail_all(&|| EngineError::UnknownInteraction), None),
                Err(e) => return (fail_all(&|| EngineError::from(e.clone())), None),
            }
            if state.is_final() {
                let done = state.clone();
                self.forget_live(&entry, &done);
                let outcomes = steps
                    .iter()
                    .map(|_| Ok(ReportOutcome::AlreadyFinal))
                    .collect();
                return (outcomes, Some(done));
            }
        }
        let mut attempts = 0;
        let decision = loop {
            let decision = decide(&state, &steps, self.now());
            let Some(write) = &decision.write else {
                return (decision.outcomes, Some(state.clone()));
            };
            match self.inner.store.apply_transition(write).await {
                Ok(()) => {
                    if !write.outbox.is_empty() {
                        self.outbox_committed(&write.outbox);
                    }
                    break decision;
                }
                Err(StoreError::VersionConflict { .. }) if attempts < 3 => {
                    attempts += 1;
                    // Another writer (another node) got there first: reload and re-decide.
                    match self.inner.store.get_interaction(id).await {
                        Ok(Some(reloaded)) => *state = reloaded,
                        Ok(None) => {
                            return (fail_all(&|| EngineError::UnknownInteraction), None);
                        }
                        Err(e) => {
                            return (
                                fail_all(&|| EngineError::from(e.clone())),
                                Some(state.clone()),
                            );
                        }
                    }
                    if state.is_final() {
                        // Finished elsewhere (another node): forget it here too.
                        self.publish(&entry, state.clone(), None);
                        self.forget_live(&entry, &state);
                        let outcomes = steps
                            .iter()
                            .map(|_| Ok(ReportOutcome::AlreadyFinal))
                            .collect();
                        return (outcomes, Some(state.clone()));
                    }
                }
                Err(e) => {
                    // Nothing of the write is stored: no input was applied.
                    return (
                        fail_all(&|| EngineError::from(e.clone())),
                        Some(state.clone()),
                    );
                }
            }
        };
        let next = decision.next;
        *state = next.clone();
        let transaction = decision.write.and_then(|w| w.transaction);
        self.publish(&entry, next.clone(), transaction);
        drop(state);
        for transition in &decision.applied {
            self.after_commit(&entry, &transition.interaction, transition);
        }
        // In a cluster, only the node holding the terminal keeps the interaction in memory:
        // elsewhere the entry was a lock for this one transition, and would go stale.
        if !self.memory_is_truth()
            && !next.is_final()
            && self.coordinator().route(next.terminal_id) != Route::Here
        {
            self.inner.live.remove(next.id);
        }
        (decision.outcomes, Some(next))
    }

    /// Makes a committed state the live one and tells its waiters, on every node.
    fn publish(
        &self,
        entry: &LiveEntry,
        interaction: Interaction,
        transaction: Option<Transaction>,
    ) {
        entry.set_current(interaction.clone());
        let committed_at_micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        self.coordinator().publish(Arc::new(Committed {
            interaction,
            transaction,
            committed_at_micros,
        }));
    }

    /// Whether this node's memory of live interactions is the truth: on one process it is
    /// (every transition happens here); in a cluster it is a cache of what this node did.
    pub(crate) fn memory_is_truth(&self) -> bool {
        !self.coordinator().is_cluster()
    }

    /// Forgets a live interaction that is final (its timers, its terminal's busy mark).
    fn forget_live(&self, entry: &LiveEntry, state: &Interaction) {
        self.inner.live.remove(state.id);
        self.inner.registry.release(state.terminal_id, state.id);
        entry.cancel_timers();
    }

    /// Side effects of a durable transition.
    pub(crate) fn after_commit(
        &self,
        entry: &Arc<LiveEntry>,
        next: &Interaction,
        transition: &Transition,
    ) {
        if transition
            .events
            .iter()
            .any(|e| e.kind == EventKind::Acknowledged)
        {
            self.schedule_overdue(entry, next);
        }
        if transition
            .events
            .iter()
            .any(|e| e.kind == EventKind::Overdue)
        {
            crate::metrics::interaction_overdue(next);
        }
        for effect in &transition.effects {
            match effect {
                Effect::ForwardCancelToTerminal => {
                    let engine = self.clone();
                    let command = TerminalCommand::Cancel {
                        terminal: next.terminal_id,
                        interaction: next.id,
                    };
                    let id = next.id;
                    tokio::spawn(async move {
                        if let Err(e) = engine.send_to_terminal(command).await {
                            tracing::info!(interaction = %id, error = %e, "cancel not forwarded");
                        }
                    });
                }
                Effect::Completed => {
                    let origin = entry.origin.get().copied().unwrap_or("unknown");
                    crate::metrics::interaction_completed(next, origin);
                    self.inner.live.remove(next.id);
                    self.inner.registry.release(next.terminal_id, next.id);
                    entry.cancel_timers();
                    let coordinator = self.inner.coordinator.clone();
                    let id = next.id;
                    tokio::spawn(async move {
                        coordinator.cancel_timer(TimerKey::Delivery(id)).await;
                        coordinator.cancel_timer(TimerKey::Overdue(id)).await;
                    });
                }
            }
        }
    }

    /// Sets a timer of a live interaction: when it is due, the node that claims it from the
    /// coordinator (exactly one in the cluster) applies `input`.
    pub(crate) fn schedule(&self, entry: &Arc<LiveEntry>, at: Timestamp, input: Input) {
        let engine = self.downgrade();
        let sleep = self.inner.clock.sleep_until(at);
        let id = entry.id;
        let key = match input {
            Input::DeliveryTimedOut => TimerKey::Delivery(id),
            _ => TimerKey::Overdue(id),
        };
        let handle = tokio::spawn(async move {
            if let Some(engine) = engine.upgrade()
                && let Err(e) = engine.coordinator().set_timer(key, at).await
            {
                // This node still fires it; only a takeover after its death is lost.
                tracing::warn!(interaction = %id, error = %e, "timer not recorded for other nodes");
            }
            sleep.await;
            if let Some(engine) = engine.upgrade() {
                engine.fire_timer(key).await;
            }
        });
        entry.add_timer(handle);
    }

    pub(crate) fn schedule_overdue(&self, entry: &Arc<LiveEntry>, interaction: &Interaction) {
        let grace = u32::try_from(self.inner.config.overdue_grace.as_secs()).unwrap_or(u32::MAX);
        self.schedule(
            entry,
            interaction.safety_deadline(grace),
            Input::DeadlinePassed,
        );
    }
}

fn replay(existing: IdempotencyRecord, fp: [u8; 32]) -> Result<Created, EngineError> {
    if existing.fingerprint == fp {
        Ok(Created {
            interaction: existing.response,
            replayed: true,
        })
    } else {
        Err(EngineError::IdempotencyMismatch)
    }
}

impl Admin<'_> {
    // --- merchants and keys ----------------------------------------------------------------

    pub async fn create_merchant(&self, name: &str) -> Result<Merchant, EngineError> {
        let mut errors = ValidationErrors::new();
        errors.check_text("name", name, 100);
        errors.into_result(())?;
        let now = self.engine.now();
        let merchant = Merchant {
            id: MerchantId::generate(now),
            name: name.to_string(),
            created_at: now,
            disabled_at: None,
        };
        self.engine.inner.store.create_merchant(&merchant).await?;
        Ok(merchant)
    }

    pub async fn find_merchant_by_name(&self, name: &str) -> Result<Option<Merchant>, EngineError> {
        Ok(self.engine.inner.store.find_merchant_by_name(name).await?)
    }

    /// Creates a key with a random secret.
    pub async fn create_api_key(
        &self,
        merchant: MerchantId,
        mode: ApiKeyMode,
        label: Option<String>,
    ) -> Result<NewApiKey, EngineError> {
        let secret =
            auth::generate_secret(mode).map_err(|e| EngineError::Randomness(e.to_string()))?;
        self.import_api_key(merchant, &secret, label).await
    }

    /// Stores a key for a secret chosen by the operator (the demo's `POIGATE_DEMO_API_KEY`).
    pub async fn import_api_key(
        &self,
        merchant: MerchantId,
        secret: &str,
        label: Option<String>,
    ) -> Result<NewApiKey, EngineError> {
        let mode = ApiKeyMode::of_secret(secret).ok_or_else(|| {
            EngineError::Validation(ValidationErrors::single(poigate_domain::FieldError::new(
                "secret",
                "invalid_api_key",
                "an API key starts with pg_test_ or pg_live_",
            )))
        })?;
        if secret.len() < 8 + 24 || !auth::well_formed(secret) {
            return Err(EngineError::Validation(ValidationErrors::single(
                poigate_domain::FieldError::new(
                    "secret",
                    "invalid_api_key",
                    "an API key needs at least 24 characters after its prefix (128 bits or more)",
                ),
            )));
        }
        if let Some(l) = &label {
            let mut errors = ValidationErrors::new();
            errors.check_text("label", l, 100);
            errors.into_result(())?;
        }
        let now = self.engine.now();
        let record = ApiKeyRecord {
            id: ApiKeyId::generate(now),
            merchant_id: merchant,
            mode,
            secret_hash: auth::hash_secret(secret),
            display_prefix: secret.chars().take(12).collect(),
            label,
            created_at: now,
            revoked_at: None,
            last_used_at: None,
        };
        self.engine.inner.store.create_api_key(&record).await?;
        Ok(NewApiKey {
            secret: secret.to_string(),
            record,
        })
    }

    /// The key record of `secret`, if it exists (revoked or not).
    pub async fn find_api_key(&self, secret: &str) -> Result<Option<ApiKeyRecord>, EngineError> {
        Ok(self
            .engine
            .inner
            .store
            .find_api_key_by_hash(&auth::hash_secret(secret))
            .await?)
    }

    /// The caller a secret authenticates, or `None` for unknown, revoked or malformed keys
    /// (deliberately indistinguishable).
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Caller>, EngineError> {
        if crate::tokens::is_access_token(secret) {
            return self.engine.verify_access_token(secret).await;
        }
        if !auth::well_formed(secret) {
            return Ok(None);
        }
        let hash = auth::hash_secret(secret);
        let record = match self.engine.coordinator().cached_key(&hash) {
            Some(record) => record,
            None => {
                let Some(record) = self.engine.inner.store.find_api_key_by_hash(&hash).await?
                else {
                    return Ok(None);
                };
                // A disabled merchant's key is never cached: disabling forgets its keys, so
                // a cached key always belongs to a merchant that was enabled when cached.
                if self.engine.merchant_disabled(record.merchant_id).await? {
                    return Ok(None);
                }
                self.engine.coordinator().remember_key(Some(hash), &record);
                record
            }
        };
        if !auth::hashes_equal(&record.secret_hash, &hash) || record.revoked_at.is_some() {
            return Ok(None);
        }
        self.engine.note_key_use(record.id).await;
        Ok(Some(Caller {
            merchant_id: record.merchant_id,
            mode: record.mode,
            key_id: record.id,
        }))
    }

    pub async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
    ) -> Result<bool, EngineError> {
        let revoked = self
            .engine
            .inner
            .store
            .revoke_api_key(merchant, id, self.engine.now())
            .await?;
        self.engine.coordinator().forget_key(id);
        Ok(revoked)
    }

    /// Sets (with `None`: clears) the default terminal of the merchant's key `id`: the
    /// terminal a dialect uses when a provider's documented request names none (CM.com's
    /// create body). Per key, so that each POS lane (its own key, or OAuth client) has its
    /// own terminal. The terminal must be the caller's, in the caller's mode.
    pub async fn set_default_terminal(
        &self,
        caller: &Caller,
        id: ApiKeyId,
        terminal: Option<&str>,
    ) -> Result<Option<Terminal>, EngineError> {
        let terminal = match terminal {
            Some(reference) => Some(
                self.find_terminal_for(caller, reference)
                    .await
                    .map_err(|e| match e {
                        EngineError::NotFound(_) => {
                            EngineError::TerminalNotFound(reference.to_string())
                        }
                        other => other,
                    })?
                    .terminal,
            ),
            None => None,
        };
        let set = self
            .engine
            .inner
            .store
            .set_api_key_default_terminal(caller.merchant_id, id, terminal.as_ref().map(|t| t.id))
            .await?;
        if !set {
            return Err(EngineError::NotFound("api key"));
        }
        Ok(terminal)
    }

    /// The default terminal of the caller's key (an access token's is its key's), if it has
    /// one that still exists for the caller.
    pub async fn default_terminal(&self, caller: &Caller) -> Result<Option<Terminal>, EngineError> {
        let Some(id) = self
            .engine
            .inner
            .store
            .api_key_default_terminal(caller.key_id)
            .await?
        else {
            return Ok(None);
        };
        match self.find_terminal_for(caller, &id.to_string()).await {
            Ok(view) => Ok(Some(view.terminal)),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // --- terminals -------------------------------------------------------------------------

    /// Registers a test-mode terminal (the CLI, the demo and tests; keys go through
    /// [`Admin::register_terminal_in_mode`]).
    pub async fn register_terminal(
        &self,
        merchant: MerchantId,
        serial_number: &str,
        model: &str,
        label: Option<String>,
        kind: TerminalKind,
        connection: TerminalConnection,
    ) -> Result<Terminal, EngineError> {
        self.register_terminal_in_mode(
            merchant,
            false,
            serial_number,
            model,
            label,
            kind,
            connection,
        )
        .await
    }

    /// Registers a terminal of the given mode: a key registers terminals of its own mode.
    /// A simulated terminal is always test (live keys are refused before this).
    #[allow(clippy::too_many_arguments)]
    pub async fn register_terminal_in_mode(
        &self,
        merchant: MerchantId,
        livemode: bool,
        serial_number: &str,
        model: &str,
        label: Option<String>,
        kind: TerminalKind,
        connection: TerminalConnection,
    ) -> Result<Terminal, EngineError> {
        if livemode && kind == TerminalKind::Simulated {
            return Err(EngineError::LivemodeMismatch);
        }
        Terminal::validate_fields(serial_number, model, label.as_deref())?;
        Terminal::validate_connection(kind, connection)?;
        let now = self.engine.now();
        let terminal = Terminal {
            id: TerminalId::generate(now),
            merchant_id: merchant,
            livemode,
            serial_number: serial_number.to_string(),
            model: model.to_string(),
            label,
            kind,
            connection,
            created_at: now,
        };
        self.engine.inner.store.create_terminal(&terminal).await?;
        self.engine.inner.registry.add(terminal.clone());
        self.engine.link().terminal_added(&terminal).await;
        Ok(terminal)
    }

    pub async fn list_terminals(
        &self,
        merchant: MerchantId,
    ) -> Result<Vec<TerminalView>, EngineError> {
        let terminals = self.engine.inner.store.list_terminals(merchant).await?;
        for t in &terminals {
            self.engine.ensure_registered(t).await;
        }
        Ok(terminals
            .into_iter()
            .map(|t| TerminalView {
                live: self.engine.terminal_view(t.id),
                terminal: t,
            })
            .collect())
    }

    /// The caller's terminals: its merchant's, of its key's mode only.
    pub async fn list_terminals_for(
        &self,
        caller: &Caller,
    ) -> Result<Vec<TerminalView>, EngineError> {
        let mut views = self.list_terminals(caller.merchant_id).await?;
        views.retain(|v| v.terminal.livemode == caller.livemode());
        Ok(views)
    }

    /// The caller's terminal by id, POIID or serial number: one of another mode answers
    /// like another merchant's (404), except that a live key naming a simulated terminal
    /// learns why it may not (`LivemodeMismatch`).
    pub async fn find_terminal_for(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<TerminalView, EngineError> {
        let view = self.find_terminal(caller.merchant_id, reference).await?;
        if Engine::check_terminal_mode(caller, &view.terminal).is_err() {
            return Err(match view.terminal.kind {
                TerminalKind::Simulated if caller.livemode() => EngineError::LivemodeMismatch,
                _ => EngineError::NotFound("terminal"),
            });
        }
        Ok(view)
    }

    /// A merchant's terminal by id, POIID or serial number, of either mode.
    pub async fn find_terminal(
        &self,
        merchant: MerchantId,
        reference: &str,
    ) -> Result<TerminalView, EngineError> {
        let terminal = self
            .engine
            .inner
            .store
            .find_terminal(merchant, reference)
            .await?
            .ok_or(EngineError::NotFound("terminal"))?;
        self.engine.ensure_registered(&terminal).await;
        Ok(TerminalView {
            live: self.engine.terminal_view(terminal.id),
            terminal,
        })
    }
}

impl Devices<'_> {
    /// Live state of a terminal (no merchant check: for links and test helpers).
    pub fn terminal_live(&self, id: TerminalId) -> Option<TerminalLive> {
        self.engine.terminal_view(id)
    }

    /// Called by the link when a terminal connects or disconnects. For a connect, returns
    /// the connection's fencing token (see [`Devices::is_current_session`]).
    pub async fn terminal_connected(&self, id: TerminalId, connected: bool) -> Option<u64> {
        let session = self.record_connection(id, connected).await;
        if connected { session } else { None }
    }

    /// Whether the connection that got `epoch` from [`Devices::terminal_connected`] is still
    /// the terminal's newest one anywhere in the cluster. A link session asks before it
    /// applies reports: frames from a connection that a reconnect elsewhere replaced are
    /// refused (by epoch), never applied beside the new connection's.
    pub async fn is_current_session(
        &self,
        id: TerminalId,
        epoch: u64,
    ) -> Result<bool, EngineError> {
        // The coordination medium is the database: unreachable, it answers like storage.
        self.engine
            .coordinator()
            .is_current_session(id, epoch)
            .await
            .map_err(|e| match e {
                crate::coordinator::CoordinatorError::Unavailable(m) => {
                    EngineError::Store(poigate_store::StoreError::Unavailable(m))
                }
            })
    }

    async fn record_connection(&self, id: TerminalId, connected: bool) -> Option<u64> {
        let now = self.engine.now();
        let coordinator = self.engine.coordinator();
        let session = match coordinator.set_connected(id, connected, now).await {
            Ok(change) if change.changed => change.epoch,
            Ok(change) => return change.epoch,
            Err(e) => {
                tracing::error!(terminal = %id, error = %e, "terminal presence not recorded");
                return None;
            }
        };
        tracing::info!(terminal = %id, connected, "terminal connection changed");
        if let Some(live) = self.engine.terminal_view(id) {
            let message = terminal_message(&live.terminal, live.status(), now);
            match self
                .engine
                .inner
                .store
                .append_outbox(std::slice::from_ref(&message))
                .await
            {
                Ok(()) => self.engine.outbox_committed(&[message]),
                Err(e) => {
                    tracing::error!(terminal = %id, error = %e, "terminal webhook not stored")
                }
            }
        }
        if let Some(active) = self.engine.inner.registry.active(id) {
            let _ = self
                .engine
                .transition(active, Input::TerminalConnection { connected }, None)
                .await;
        }
        session
    }

    /// A report from a terminal. `Ok` means durable: the link may acknowledge the frame.
    pub async fn report(
        &self,
        terminal_id: TerminalId,
        report: TerminalReport,
    ) -> Result<ReportOutcome, EngineError> {
        self.report_many(terminal_id, vec![report])
            .await
            .pop()
            .unwrap_or(Err(EngineError::UnknownInteraction))
    }

    /// Reports that arrived together from one terminal, in order: one outcome each, in the
    /// same order, exactly as if each had been passed to [`Devices::report`] in turn — but the
    /// consecutive reports of one interaction are committed in ONE write. A terminal at full
    /// speed sends a burst of stage reports and its result; one commit instead of one per
    /// report is what lets a durable gateway keep up with it (docs/performance.md).
    pub async fn report_many(
        &self,
        terminal_id: TerminalId,
        reports: Vec<TerminalReport>,
    ) -> Vec<Result<ReportOutcome, EngineError>> {
        let now = self.engine.now();
        self.engine.coordinator().seen(terminal_id, now);
        let mut outcomes = Vec::with_capacity(reports.len());
        // A run of consecutive, well-formed reports of one interaction.
        let mut run: Option<(InteractionId, Vec<Step>)> = None;
        for report in reports {
            let id = report.interaction_id;
            if run.as_ref().is_some_and(|(r, _)| *r != id)
                && let Some((rid, steps)) = run.take()
            {
                outcomes.extend(self.engine.transition_many(rid, steps).await.0);
            }
            match self.engine.report_input(terminal_id, report, now).await {
                Ok(step) => run.get_or_insert_with(|| (id, Vec::new())).1.push(step),
                Err(e) => {
                    if let Some((rid, steps)) = run.take() {
                        outcomes.extend(self.engine.transition_many(rid, steps).await.0);
                    }
                    outcomes.push(Err(e));
                }
            }
        }
        if let Some((rid, steps)) = run.take() {
            outcomes.extend(self.engine.transition_many(rid, steps).await.0);
        }
        outcomes
    }
}

impl Interactions<'_> {
    // --- interactions: commands ------------------------------------------------------------

    /// Creates an interaction (design sections 2.3 and 2.6): durable before it returns,
    /// refused when the terminal is offline or busy, idempotent by key.
    pub async fn create(
        &self,
        caller: &Caller,
        req: CreateRequest,
    ) -> Result<Created, EngineError> {
        let now = self.engine.now();
        let merchant = caller.merchant_id;
        let terminal = self
            .engine
            .inner
            .store
            .find_terminal(merchant, &req.terminal)
            .await?
            .ok_or_else(|| EngineError::TerminalNotFound(req.terminal.clone()))?;
        if caller.mode == ApiKeyMode::Live && terminal.kind == TerminalKind::Simulated {
            return Err(EngineError::LivemodeMismatch);
        }
        if Engine::check_terminal_mode(caller, &terminal).is_err() {
            return Err(EngineError::TerminalNotFound(req.terminal.clone()));
        }
        self.engine.ensure_registered(&terminal).await;
        let new = NewInteraction {
            merchant_id: merchant,
            terminal_id: terminal.id,
            kind: req.kind,
            amount: req.amount,
            reference: req.reference,
            sale_id: req.sale_id,
            service_id: req.service_id,
            timeout_seconds: req.timeout_seconds,
            metadata: req.metadata,
            webhooks: req.webhooks,
            ask_for_tip: req.ask_for_tip,
        };
        let mut errors = new.validate().err().unwrap_or_default();
        for (i, hook) in new.webhooks.iter().enumerate() {
            let field = format!("webhooks[{i}].url");
            if !errors.errors().iter().any(|e| e.field == field) {
                self.engine
                    .check_webhook_url(&field, &hook.url, &mut errors);
            }
        }
        crate::idempotency::check_key(&mut errors, req.idempotency_key.as_deref());
        errors.into_result(())?;

        let fp = fingerprint(&new);
        let mut keys = Vec::new();
        if let Some(k) = &req.idempotency_key {
            keys.push((
                IdempotencyKey::Header(k.clone()),
                self.engine.inner.config.idempotency_ttl,
            ));
        }
        if let (Some(sale_id), Some(service_id)) = (&new.sale_id, &new.service_id) {
            keys.push((
                IdempotencyKey::Natural {
                    sale_id: sale_id.clone(),
                    service_id: service_id.clone(),
                },
                self.engine.inner.config.natural_key_ttl,
            ));
        }
        let _guard = self
            .engine
            .coordinator()
            .claim_in_flight(
                merchant,
                keys.iter().map(|(k, _)| k.storage_key()).collect(),
            )
            .ok_or(EngineError::IdempotencyInProgress)?;
        for (key, _) in &keys {
            if let Some(existing) = self
                .engine
                .inner
                .store
                .find_idempotency(merchant, key, now)
                .await?
            {
                return replay(existing, fp);
            }
        }

        if !self.engine.coordinator().is_connected(terminal.id) {
            return Err(EngineError::TerminalOffline);
        }
        // The fast path of the busy rule; in a cluster another node may have finished the
        // blocking interaction, and the database's unique index decides.
        if self.engine.memory_is_truth()
            && let Some(blocking) = self.engine.inner.registry.active(terminal.id)
        {
            return Err(EngineError::TerminalBusy { blocking });
        }

        let id = InteractionId::generate(now);
        let (mut interaction, first_event) = Interaction::create(new, id, true, now)?;
        // An interaction's mode is its terminal's (which the key's mode matched above).
        interaction.livemode = terminal.livemode;
        let idempotency = keys
            .into_iter()
            .map(|(key, ttl)| IdempotencyRecord {
                merchant_id: merchant,
                key,
                fingerprint: fp,
                interaction_id: id,
                response: interaction.clone(),
                created_at: now,
                expires_at: now.plus_millis(millis(ttl)),
            })
            .collect();
        if !interaction.webhooks.is_empty() {
            self.engine
                .webhooks()
                .ensure_callback_secret(merchant)
                .await?;
        }
        let create = CreateInteraction {
            outbox: interaction_messages(None, &interaction, None, now),
            interaction: interaction.clone(),
            first_event,
            idempotency,
        };
        match self.engine.inner.store.create_interaction(&create).await {
            Ok(()) => {}
            Err(StoreError::IdempotencyConflict { existing }) => return replay(*existing, fp),
            Err(e) => return Err(e.into()),
        }

        self.engine.outbox_committed(&create.outbox);
        let entry = self.engine.inner.live.insert(interaction.clone());
        let origin = crate::metrics::current_origin();
        let _ = entry.origin.set(origin);
        crate::metrics::interaction_created(&interaction, origin);
        self.engine.inner.registry.set_active(terminal.id, id);
        self.engine.schedule(
            &entry,
            now.plus_millis(millis(self.engine.inner.config.delivery_timeout)),
            Input::DeliveryTimedOut,
        );
        let engine = self.engine.clone();
        let command = TerminalCommand::Start {
            terminal: terminal.id,
            interaction: Box::new(interaction.clone()),
        };
        tokio::spawn(async move {
            if let Err(e) = engine.send_to_terminal(command).await {
                tracing::warn!(interaction = %id, error = %e, "start not delivered; the delivery timeout decides");
            }
        });
        Ok(Created {
            interaction,
            replayed: false,
        })
    }

    /// A cancel request (design section 2.4).
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: InteractionId,
    ) -> Result<CancelResult, EngineError> {
        let current = self.get(caller, id).await?;
        if current.is_final() {
            return Ok(CancelResult::from_state(current));
        }
        let (_, interaction) = self
            .engine
            .transition(id, Input::CancelRequested, None)
            .await?;
        Ok(CancelResult::from_state(interaction))
    }

    // --- interactions: queries ---------------------------------------------------------------

    /// The current state of an interaction of the caller's merchant.
    pub async fn get(
        &self,
        caller: &Caller,
        id: InteractionId,
    ) -> Result<Interaction, EngineError> {
        // In a cluster another node may have moved it on: only the store is the truth.
        if let Some(entry) = self
            .engine
            .memory_is_truth()
            .then(|| self.engine.inner.live.get(id))
            .flatten()
        {
            let snapshot = entry.snapshot();
            if entry.merchant_id != caller.merchant_id || snapshot.livemode != caller.livemode() {
                return Err(EngineError::NotFound("interaction"));
            }
            return Ok((*snapshot).clone());
        }
        match self.engine.inner.store.get_interaction(id).await? {
            Some(i) if i.merchant_id == caller.merchant_id && i.livemode == caller.livemode() => {
                Ok(i)
            }
            _ => Err(EngineError::NotFound("interaction")),
        }
    }

    /// [`Interactions::get`] with the transaction its card decision created: the whole of
    /// what a `GET` shows, read from the store in one go (one read instead of two is a
    /// fifth of the CPU of a `GET`; docs/performance.md).
    pub async fn get_with_transaction(
        &self,
        caller: &Caller,
        id: InteractionId,
    ) -> Result<(Interaction, Option<Transaction>), EngineError> {
        let live = self
            .engine
            .memory_is_truth()
            .then(|| self.engine.inner.live.get(id))
            .flatten();
        let (interaction, transaction) = match live {
            Some(_) => {
                let interaction = self.get(caller, id).await?;
                let transaction = match interaction.transaction_id {
                    Some(t) => self.engine.inner.store.get_transaction(t).await?,
                    None => None,
                };
                (interaction, transaction)
            }
            None => self
                .engine
                .inner
                .store
                .get_interaction_with_transaction(id)
                .await?
                .ok_or(EngineError::NotFound("interaction"))?,
        };
        if interaction.merchant_id != caller.merchant_id
            || interaction.livemode != caller.livemode()
        {
            return Err(EngineError::NotFound("interaction"));
        }
        // A transaction is the interaction's merchant's; checked all the same, like every read.
        let transaction = transaction
            .filter(|t| t.merchant_id == caller.merchant_id && t.livemode == caller.livemode());
        Ok((interaction, transaction))
    }

    /// Waits until the interaction is final or, with `after_seq`, has an event newer than
    /// `after_seq`; gives up after `timeout` (capped by `max_wait`) and returns the state.
    pub async fn wait(
        &self,
        caller: &Caller,
        id: InteractionId,
        after_seq: Option<u64>,
        timeout: Duration,
    ) -> Result<Interaction, EngineError> {
        Ok(self
            .wait_timed(caller, id, after_seq, timeout)
            .await?
            .interaction)
    }

    /// [`Interactions::wait`], also saying — when the wait ended because the state changed — when
    /// that change was committed and, for an outcome, the transaction committed with it (so
    /// the answer needs no read of it).
    pub async fn wait_timed(
        &self,
        caller: &Caller,
        id: InteractionId,
        after_seq: Option<u64>,
        timeout: Duration,
    ) -> Result<Waited, EngineError> {
        let done = |i: &Interaction| i.is_final() || after_seq.is_some_and(|s| i.last_seq > s);
        let stored = |interaction| Waited {
            interaction,
            committed_at_micros: None,
            transaction: None,
        };
        // Subscribe first, then look: a change committed in between still wakes us.
        let mut sub = self.engine.coordinator().subscribe(id);
        let drained = self.engine.drained();
        let mut latest = self.get(caller, id).await?;
        // Draining: nobody waits any more; the caller answers with the state as it is.
        if done(&latest) || self.engine.is_draining() {
            return Ok(stored(latest));
        }
        let timeout = timeout.min(self.engine.inner.config.max_wait);
        let deadline = self.engine.now().plus_millis(millis(timeout));
        let mut sleep = self.engine.inner.clock.sleep_until(deadline);
        let _parked = crate::metrics::ParkedLongPoll::new();
        tokio::pin!(drained);
        loop {
            tokio::select! {
                changed = sub.changes.changed() => {
                    if changed.is_err() {
                        // Nobody publishes any more (the interaction is final and its channel
                        // forgotten): the store has the truth.
                        return Ok(stored(self.get(caller, id).await?));
                    }
                    let Some(committed) = sub.changes.borrow_and_update().clone() else {
                        continue;
                    };
                    let interaction = &committed.interaction;
                    if interaction.last_seq <= latest.last_seq && !interaction.is_final() {
                        // Older than what we read after subscribing.
                        continue;
                    }
                    if done(interaction) {
                        let transaction = committed
                            .transaction
                            .clone()
                            .filter(|t| Some(t.id) == interaction.transaction_id);
                        return Ok(Waited {
                            interaction: interaction.clone(),
                            committed_at_micros: Some(committed.committed_at_micros),
                            transaction,
                        });
                    }
                    latest = interaction.clone();
                }
                _ = &mut sleep => return Ok(stored(latest)),
                // The freshest state, not `latest`: a change may be committed but not yet
                // seen by this loop.
                _ = &mut drained => return Ok(stored(self.get(caller, id).await?)),
            }
        }
    }

    /// Events of an interaction of the caller's merchant.
    pub async fn events(
        &self,
        caller: &Caller,
        id: InteractionId,
        after_seq: u64,
        limit: u32,
        order: EventOrder,
    ) -> Result<Vec<Event>, EngineError> {
        self.get(caller, id).await?;
        Ok(self
            .engine
            .inner
            .store
            .list_events(id, after_seq, limit, order)
            .await?)
    }

    /// The receipts of an interaction that ended without a card decision (cancelled or
    /// failed before the card was read): slips saying nothing was charged, for providers
    /// whose answer to an aborted payment carries receipts (Cybersource). `None` while it
    /// runs, or when it has a card decision (its transaction carries the receipts).
    pub async fn unfinished_receipts(
        &self,
        caller: &Caller,
        interaction: &Interaction,
    ) -> Result<Option<poigate_domain::Receipts>, EngineError> {
        if interaction.merchant_id != caller.merchant_id {
            return Err(EngineError::NotFound("interaction"));
        }
        let ctx = ReceiptContext {
            merchant_name: self.engine.merchant_name(interaction.merchant_id).await,
            terminal_poiid: self.engine.terminal_poiid(interaction.terminal_id),
        };
        Ok(poigate_domain::receipt::render_unfinished(
            interaction,
            &ctx,
        ))
    }

    /// Lookup by POS references.
    pub async fn find(
        &self,
        caller: &Caller,
        filter: &InteractionFilter,
    ) -> Result<Vec<Interaction>, EngineError> {
        let found = self
            .engine
            .inner
            .store
            .find_interactions(
                caller.merchant_id,
                &InteractionFilter {
                    livemode: Some(caller.livemode()),
                    ..filter.clone()
                },
            )
            .await?;
        if !self.engine.memory_is_truth() {
            return Ok(found);
        }
        // Live interactions are fresher in memory than in the row read a moment ago.
        Ok(found
            .into_iter()
            .map(|i| match self.engine.inner.live.get(i.id) {
                Some(entry) => (*entry.snapshot()).clone(),
                None => i,
            })
            .collect())
    }

    /// [`Interactions::find`], each with the transaction its card decision created (what a
    /// lookup shows), read with the list in one go where the store can.
    pub async fn find_with_transactions(
        &self,
        caller: &Caller,
        filter: &InteractionFilter,
    ) -> Result<Vec<(Interaction, Option<Transaction>)>, EngineError> {
        let found = self
            .engine
            .inner
            .store
            .find_interactions_with_transactions(
                caller.merchant_id,
                &InteractionFilter {
                    livemode: Some(caller.livemode()),
                    ..filter.clone()
                },
            )
            .await?;
        let mut out = Vec::with_capacity(found.len());
        for (row, read) in found {
            // Live interactions are fresher in memory than in the row read a moment ago.
            let interaction = match self
                .engine
                .memory_is_truth()
                .then(|| self.engine.inner.live.get(row.id))
                .flatten()
            {
                Some(entry) => (*entry.snapshot()).clone(),
                None => row,
            };
            let transaction = match (interaction.transaction_id, read) {
                (Some(id), Some(t)) if t.id == id => Some(t),
                // Decided since the row was read: read its transaction now.
                (Some(id), _) => self.engine.inner.store.get_transaction(id).await?,
                (None, _) => None,
            };
            let transaction = transaction
                .filter(|t| t.merchant_id == caller.merchant_id && t.livemode == caller.livemode());
            out.push((interaction, transaction));
        }
        Ok(out)
    }

    /// Number of interactions not yet final.
    pub fn live_count(&self) -> usize {
        self.engine.inner.live.count()
    }

    /// Interactions currently live on simulated or real terminals (for diagnostics).
    pub fn live_snapshot(&self) -> Vec<Interaction> {
        self.engine
            .inner
            .live
            .all()
            .iter()
            .map(|e| (*e.snapshot()).clone())
            .collect()
    }
}

impl Transactions<'_> {
    pub async fn transaction(
        &self,
        caller: &Caller,
        id: TransactionId,
    ) -> Result<Transaction, EngineError> {
        match self.engine.inner.store.get_transaction(id).await? {
            Some(t) if t.merchant_id == caller.merchant_id && t.livemode == caller.livemode() => {
                Ok(t)
            }
            _ => Err(EngineError::NotFound("transaction")),
        }
    }
}
