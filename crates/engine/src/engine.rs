//! The engine: commands (create, cancel, terminal reports), queries, timers and waiters.

mod batch;
mod devices;

pub use devices::{PairedDevice, PairingCode};

use crate::auth;
use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::idempotency::{InFlight, fingerprint};
use crate::link::{ReportKind, ReportOutcome, TerminalLink, TerminalReport};
use crate::live::{LiveEntry, LiveMap};
use crate::registry::{Registry, TerminalLive};
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
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// The authenticated caller: every query is scoped by its merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub merchant_id: MerchantId,
    pub mode: ApiKeyMode,
    pub key_id: ApiKeyId,
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
    link: RwLock<Option<Arc<dyn TerminalLink>>>,
    /// Notified after every commit that wrote webhook messages (wakes the worker).
    pub(crate) outbox_signal: Arc<tokio::sync::Notify>,
    pub(crate) target_guard: RwLock<Option<Arc<dyn crate::webhooks::TargetGuard>>>,
    pub(crate) processor: RwLock<Option<Arc<dyn crate::processor::Processor>>>,
    /// The HMAC key of access tokens, once loaded.
    pub(crate) token_key: RwLock<Option<Vec<u8>>>,
    /// Serialises changes of one transaction (operations, settlement) in this process.
    pub(crate) txn_locks: Mutex<HashMap<TransactionId, Arc<tokio::sync::Mutex<()>>>>,
    registry: Registry,
    live: LiveMap,
    pub(crate) in_flight: InFlight,
    merchant_names: Mutex<HashMap<MerchantId, String>>,
    /// API keys recently found valid (see [`crate::key_cache`]).
    pub(crate) keys: crate::key_cache::KeyCache,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: EngineConfig) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                link: RwLock::new(None),
                registry: Registry::default(),
                live: LiveMap::default(),
                in_flight: InFlight::default(),
                merchant_names: Mutex::new(HashMap::new()),
                keys: Default::default(),
                outbox_signal: Arc::new(tokio::sync::Notify::new()),
                target_guard: RwLock::new(None),
                processor: RwLock::new(None),
                token_key: RwLock::new(None),
                txn_locks: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// Attaches the terminal link. Call before [`Engine::start`].
    pub fn set_link(&self, link: Arc<dyn TerminalLink>) {
        match self.inner.link.write() {
            Ok(mut l) => *l = Some(link),
            Err(p) => *p.into_inner() = Some(link),
        }
    }

    /// Detaches the link (at shutdown), breaking the engine ↔ link reference cycle.
    pub fn clear_link(&self) {
        match self.inner.link.write() {
            Ok(mut l) => *l = None,
            Err(p) => *p.into_inner() = None,
        }
    }

    fn link(&self) -> Option<Arc<dyn TerminalLink>> {
        match self.inner.link.read() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
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

    fn outbox_written(&self) {
        self.inner.outbox_signal.notify_one();
    }

    /// Loads terminals and live interactions and resumes their timers and deliveries.
    /// Call once, after [`Engine::set_link`], before serving requests.
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
        if let Some(link) = self.link() {
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
        }
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

    // --- merchants and keys ----------------------------------------------------------------

    pub async fn create_merchant(&self, name: &str) -> Result<Merchant, EngineError> {
        let mut errors = ValidationErrors::new();
        errors.check_text("name", name, 100);
        errors.into_result(())?;
        let now = self.now();
        let merchant = Merchant {
            id: MerchantId::generate(now),
            name: name.to_string(),
            created_at: now,
        };
        self.inner.store.create_merchant(&merchant).await?;
        Ok(merchant)
    }

    pub async fn find_merchant_by_name(&self, name: &str) -> Result<Option<Merchant>, EngineError> {
        Ok(self.inner.store.find_merchant_by_name(name).await?)
    }

    /// Creates a key with a random secret.
    pub async fn create_api_key(
        &self,
        merchant: MerchantId,
        mode: ApiKeyMode,
        label: Option<String>,
    ) -> Result<NewApiKey, EngineError> {
        let secret = auth::generate_secret(mode).map_err(|e| {
            EngineError::Store(StoreError::Unavailable(format!("no randomness: {e}")))
        })?;
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
        let now = self.now();
        let record = ApiKeyRecord {
            id: ApiKeyId::generate(now),
            merchant_id: merchant,
            mode,
            secret_hash: auth::hash_secret(secret),
            display_prefix: secret.chars().take(12).collect(),
            label,
            created_at: now,
            revoked_at: None,
        };
        self.inner.store.create_api_key(&record).await?;
        Ok(NewApiKey {
            secret: secret.to_string(),
            record,
        })
    }

    /// The key record of `secret`, if it exists (revoked or not).
    pub async fn find_api_key(&self, secret: &str) -> Result<Option<ApiKeyRecord>, EngineError> {
        Ok(self
            .inner
            .store
            .find_api_key_by_hash(&auth::hash_secret(secret))
            .await?)
    }

    /// The caller a secret authenticates, or `None` for unknown, revoked or malformed keys
    /// (deliberately indistinguishable).
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Caller>, EngineError> {
        if crate::tokens::is_access_token(secret) {
            return self.verify_access_token(secret).await;
        }
        if !auth::well_formed(secret) {
            return Ok(None);
        }
        let hash = auth::hash_secret(secret);
        let record = match self.inner.keys.by_hash(&hash) {
            Some(record) => record,
            None => {
                let Some(record) = self.inner.store.find_api_key_by_hash(&hash).await? else {
                    return Ok(None);
                };
                self.inner.keys.remember(Some(hash), &record);
                record
            }
        };
        if !auth::hashes_equal(&record.secret_hash, &hash) || record.revoked_at.is_some() {
            return Ok(None);
        }
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
            .inner
            .store
            .revoke_api_key(merchant, id, self.now())
            .await?;
        self.inner.keys.forget(id);
        Ok(revoked)
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

    // --- terminals -------------------------------------------------------------------------

    pub async fn register_terminal(
        &self,
        merchant: MerchantId,
        serial_number: &str,
        model: &str,
        label: Option<String>,
        kind: TerminalKind,
        connection: TerminalConnection,
    ) -> Result<Terminal, EngineError> {
        Terminal::validate_fields(serial_number, model, label.as_deref())?;
        Terminal::validate_connection(kind, connection)?;
        let now = self.now();
        let terminal = Terminal {
            id: TerminalId::generate(now),
            merchant_id: merchant,
            serial_number: serial_number.to_string(),
            model: model.to_string(),
            label,
            kind,
            connection,
            created_at: now,
        };
        self.inner.store.create_terminal(&terminal).await?;
        self.inner.registry.add(terminal.clone());
        if let Some(link) = self.link() {
            link.terminal_added(&terminal).await;
        }
        Ok(terminal)
    }

    pub async fn list_terminals(
        &self,
        merchant: MerchantId,
    ) -> Result<Vec<TerminalView>, EngineError> {
        let terminals = self.inner.store.list_terminals(merchant).await?;
        for t in &terminals {
            self.ensure_registered(t).await;
        }
        Ok(terminals
            .into_iter()
            .map(|t| TerminalView {
                live: self.inner.registry.get(t.id),
                terminal: t,
            })
            .collect())
    }

    /// A merchant's terminal by id, POIID or serial number.
    pub async fn find_terminal(
        &self,
        merchant: MerchantId,
        reference: &str,
    ) -> Result<TerminalView, EngineError> {
        let terminal = self
            .inner
            .store
            .find_terminal(merchant, reference)
            .await?
            .ok_or(EngineError::NotFound("terminal"))?;
        self.ensure_registered(&terminal).await;
        Ok(TerminalView {
            live: self.inner.registry.get(terminal.id),
            terminal,
        })
    }

    /// Adds a terminal registered by another process (the CLI on the same data directory)
    /// to the registry and tells the link about it.
    async fn ensure_registered(&self, terminal: &Terminal) {
        if self.inner.registry.get(terminal.id).is_some() {
            return;
        }
        self.inner.registry.add(terminal.clone());
        if let Some(link) = self.link() {
            link.terminal_added(terminal).await;
        }
    }

    /// Live state of a terminal (no merchant check: for links and test helpers).
    pub fn terminal_live(&self, id: TerminalId) -> Option<TerminalLive> {
        self.inner.registry.get(id)
    }

    /// Called by the link when a terminal connects or disconnects.
    pub async fn terminal_connected(&self, id: TerminalId, connected: bool) {
        let now = self.now();
        if !self.inner.registry.set_connected(id, connected, now) {
            return;
        }
        tracing::info!(terminal = %id, connected, "terminal connection changed");
        if let Some(live) = self.inner.registry.get(id) {
            let message = terminal_message(&live.terminal, live.status(), now);
            match self.inner.store.append_outbox(&[message]).await {
                Ok(()) => self.outbox_written(),
                Err(e) => {
                    tracing::error!(terminal = %id, error = %e, "terminal webhook not stored")
                }
            }
        }
        if let Some(active) = self.inner.registry.active(id) {
            let _ = self
                .transition(active, Input::TerminalConnection { connected }, None)
                .await;
        }
    }

    // --- interactions: commands ------------------------------------------------------------

    /// Creates an interaction (design sections 2.3 and 2.6): durable before it returns,
    /// refused when the terminal is offline or busy, idempotent by key.
    pub async fn create(
        &self,
        caller: &Caller,
        req: CreateRequest,
    ) -> Result<Created, EngineError> {
        let now = self.now();
        let merchant = caller.merchant_id;
        let terminal = self
            .inner
            .store
            .find_terminal(merchant, &req.terminal)
            .await?
            .ok_or_else(|| EngineError::TerminalNotFound(req.terminal.clone()))?;
        self.ensure_registered(&terminal).await;
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
        };
        let mut errors = new.validate().err().unwrap_or_default();
        for (i, hook) in new.webhooks.iter().enumerate() {
            let field = format!("webhooks[{i}].url");
            if !errors.errors().iter().any(|e| e.field == field) {
                self.check_webhook_url(&field, &hook.url, &mut errors);
            }
        }
        if let Some(key) = &req.idempotency_key
            && (key.is_empty()
                || key.len() > 255
                || !key.bytes().all(|b| (0x21..0x7f).contains(&b)))
        {
            errors.add(
                "Idempotency-Key",
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
            );
        }
        errors.into_result(())?;

        let fp = fingerprint(&new);
        let mut keys = Vec::new();
        if let Some(k) = &req.idempotency_key {
            keys.push((
                IdempotencyKey::Header(k.clone()),
                self.inner.config.idempotency_ttl,
            ));
        }
        if let (Some(sale_id), Some(service_id)) = (&new.sale_id, &new.service_id) {
            keys.push((
                IdempotencyKey::Natural {
                    sale_id: sale_id.clone(),
                    service_id: service_id.clone(),
                },
                self.inner.config.natural_key_ttl,
            ));
        }
        let _guard = self
            .inner
            .in_flight
            .claim(
                merchant,
                keys.iter().map(|(k, _)| k.storage_key()).collect(),
            )
            .ok_or(EngineError::IdempotencyInProgress)?;
        for (key, _) in &keys {
            if let Some(existing) = self
                .inner
                .store
                .find_idempotency(merchant, key, now)
                .await?
            {
                return replay(existing, fp);
            }
        }

        if !self.inner.registry.is_connected(terminal.id) {
            return Err(EngineError::TerminalOffline);
        }
        if let Some(blocking) = self.inner.registry.active(terminal.id) {
            return Err(EngineError::TerminalBusy { blocking });
        }

        let id = InteractionId::generate(now);
        let (interaction, first_event) = Interaction::create(new, id, true, now)?;
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
            self.ensure_callback_secret(merchant).await?;
        }
        let create = CreateInteraction {
            outbox: interaction_messages(None, &interaction, None, now),
            interaction: interaction.clone(),
            first_event,
            idempotency,
        };
        match self.inner.store.create_interaction(&create).await {
            Ok(()) => {}
            Err(StoreError::IdempotencyConflict { existing }) => return replay(*existing, fp),
            Err(e) => return Err(e.into()),
        }

        self.outbox_written();
        let entry = self.inner.live.insert(interaction.clone());
        self.inner.registry.set_active(terminal.id, id);
        self.schedule(
            &entry,
            now.plus_millis(millis(self.inner.config.delivery_timeout)),
            Input::DeliveryTimedOut,
        );
        if let Some(link) = self.link() {
            let started = interaction.clone();
            tokio::spawn(async move {
                if let Err(e) = link.start(&terminal, &started).await {
                    tracing::warn!(interaction = %started.id, error = %e, "start not delivered; the delivery timeout decides");
                }
            });
        }
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
        let (_, interaction) = self.transition(id, Input::CancelRequested, None).await?;
        Ok(CancelResult::from_state(interaction))
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
    /// same order, exactly as if each had been passed to [`Engine::report`] in turn — but the
    /// consecutive reports of one interaction are committed in ONE write. A terminal at full
    /// speed sends a burst of stage reports and its result; one commit instead of one per
    /// report is what lets a durable gateway keep up with it (docs/performance.md).
    pub async fn report_many(
        &self,
        terminal_id: TerminalId,
        reports: Vec<TerminalReport>,
    ) -> Vec<Result<ReportOutcome, EngineError>> {
        let now = self.now();
        self.inner.registry.seen(terminal_id, now);
        let mut outcomes = Vec::with_capacity(reports.len());
        // A run of consecutive, well-formed reports of one interaction.
        let mut run: Option<(InteractionId, Vec<Step>)> = None;
        for report in reports {
            let id = report.interaction_id;
            if run.as_ref().is_some_and(|(r, _)| *r != id)
                && let Some((rid, steps)) = run.take()
            {
                outcomes.extend(self.transition_many(rid, steps).await.0);
            }
            match self.report_input(terminal_id, report, now).await {
                Ok(step) => run.get_or_insert_with(|| (id, Vec::new())).1.push(step),
                Err(e) => {
                    if let Some((rid, steps)) = run.take() {
                        outcomes.extend(self.transition_many(rid, steps).await.0);
                    }
                    outcomes.push(Err(e));
                }
            }
        }
        if let Some((rid, steps)) = run.take() {
            outcomes.extend(self.transition_many(rid, steps).await.0);
        }
        outcomes
    }

    /// Checks that a report is this terminal's and turns it into the state machine's input.
    async fn report_input(
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
    async fn transition(
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
    async fn transition_many(
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
        let mut attempts = 0;
        let decision = loop {
            let decision = decide(&state, &steps, self.now());
            let Some(write) = &decision.write else {
                return (decision.outcomes, Some(state.clone()));
            };
            match self.inner.store.apply_transition(write).await {
                Ok(()) => {
                    if !write.outbox.is_empty() {
                        self.outbox_written();
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
                        entry.publish(state.clone());
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
        if let Some(transaction) = decision.write.and_then(|w| w.transaction)
            && let Ok(mut slot) = entry.transaction.lock()
        {
            *slot = Some(transaction);
        }
        entry.publish(next.clone());
        drop(state);
        for transition in &decision.applied {
            self.after_commit(&entry, &transition.interaction, transition);
        }
        (decision.outcomes, Some(next))
    }

    /// Side effects of a durable transition.
    fn after_commit(&self, entry: &Arc<LiveEntry>, next: &Interaction, transition: &Transition) {
        if transition
            .events
            .iter()
            .any(|e| e.kind == EventKind::Acknowledged)
        {
            self.schedule_overdue(entry, next);
        }
        for effect in &transition.effects {
            match effect {
                Effect::ForwardCancelToTerminal => {
                    if let (Some(link), Some(terminal)) =
                        (self.link(), self.inner.registry.terminal(next.terminal_id))
                    {
                        let id = next.id;
                        tokio::spawn(async move {
                            if let Err(e) = link.cancel(&terminal, id).await {
                                tracing::info!(interaction = %id, error = %e, "cancel not forwarded");
                            }
                        });
                    }
                }
                Effect::Completed => {
                    self.inner.live.remove(next.id);
                    self.inner.registry.release(next.terminal_id, next.id);
                    entry.cancel_timers();
                }
            }
        }
    }

    fn schedule(&self, entry: &Arc<LiveEntry>, at: Timestamp, input: Input) {
        let engine = self.downgrade();
        let sleep = self.inner.clock.sleep_until(at);
        let id = entry.id;
        let handle = tokio::spawn(async move {
            sleep.await;
            if let Some(engine) = engine.upgrade()
                && let Err(e) = engine.transition(id, input, None).await
            {
                tracing::warn!(interaction = %id, error = %e, "timer transition failed");
            }
        });
        entry.add_timer(handle);
    }

    fn schedule_overdue(&self, entry: &Arc<LiveEntry>, interaction: &Interaction) {
        let grace = u32::try_from(self.inner.config.overdue_grace.as_secs()).unwrap_or(u32::MAX);
        self.schedule(
            entry,
            interaction.safety_deadline(grace),
            Input::DeadlinePassed,
        );
    }

    // --- interactions: queries ---------------------------------------------------------------

    /// The current state of an interaction of the caller's merchant.
    pub async fn get(
        &self,
        caller: &Caller,
        id: InteractionId,
    ) -> Result<Interaction, EngineError> {
        if let Some(entry) = self.inner.live.get(id) {
            if entry.merchant_id != caller.merchant_id {
                return Err(EngineError::NotFound("interaction"));
            }
            return Ok((*entry.snapshot()).clone());
        }
        match self.inner.store.get_interaction(id).await? {
            Some(i) if i.merchant_id == caller.merchant_id => Ok(i),
            _ => Err(EngineError::NotFound("interaction")),
        }
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

    /// [`Engine::wait`], also saying — when the wait ended because the state changed — when
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
        let Some(entry) = self.inner.live.get(id) else {
            return Ok(stored(self.get(caller, id).await?));
        };
        if entry.merchant_id != caller.merchant_id {
            return Err(EngineError::NotFound("interaction"));
        }
        // Subscribe first, then look: a change in between still wakes us.
        let mut rx = entry.published.subscribe();
        let timeout = timeout.min(self.inner.config.max_wait);
        let deadline = self.now().plus_millis(millis(timeout));
        let mut sleep = self.inner.clock.sleep_until(deadline);
        let mut woke = false;
        loop {
            let current = rx.borrow_and_update().clone();
            if done(&current) {
                if !woke {
                    return Ok(stored((*current).clone()));
                }
                let transaction = entry
                    .transaction
                    .lock()
                    .ok()
                    .and_then(|t| t.clone())
                    .filter(|t| Some(t.id) == current.transaction_id);
                return Ok(Waited {
                    interaction: (*current).clone(),
                    committed_at_micros: Some(
                        entry
                            .published_at_micros
                            .load(std::sync::atomic::Ordering::Acquire),
                    ),
                    transaction,
                });
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The entry is gone (completed and dropped): the store has the truth.
                        return Ok(stored(self.get(caller, id).await?));
                    }
                    woke = true;
                }
                _ = &mut sleep => return Ok(stored((*rx.borrow().clone()).clone())),
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
            .inner
            .store
            .list_events(id, after_seq, limit, order)
            .await?)
    }

    /// Lookup by POS references.
    pub async fn find(
        &self,
        caller: &Caller,
        filter: &InteractionFilter,
    ) -> Result<Vec<Interaction>, EngineError> {
        let found = self
            .inner
            .store
            .find_interactions(caller.merchant_id, filter)
            .await?;
        // Live interactions are fresher in memory than in the row read a moment ago.
        Ok(found
            .into_iter()
            .map(|i| match self.inner.live.get(i.id) {
                Some(entry) => (*entry.snapshot()).clone(),
                None => i,
            })
            .collect())
    }

    pub async fn transaction(
        &self,
        caller: &Caller,
        id: TransactionId,
    ) -> Result<Transaction, EngineError> {
        match self.inner.store.get_transaction(id).await? {
            Some(t) if t.merchant_id == caller.merchant_id => Ok(t),
            _ => Err(EngineError::NotFound("transaction")),
        }
    }

    /// Number of interactions not yet final.
    pub fn live_count(&self) -> usize {
        self.inner.live.count()
    }

    /// Interactions currently live on simulated or real terminals (for diagnostics).
    pub fn live_snapshot(&self) -> Vec<Interaction> {
        self.inner
            .live
            .all()
            .iter()
            .map(|e| (*e.snapshot()).clone())
            .collect()
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
