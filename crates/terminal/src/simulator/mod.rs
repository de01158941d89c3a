//! The simulated terminal: a card terminal with a simulated cardholder in front of it.
//!
//! Each simulated terminal has an *uplink* task that delivers its reports to the engine in
//! order, holding them while the terminal is "disconnected" (the test helper), exactly like
//! a real terminal buffering unacknowledged frames. Each interaction runs as a *script* task
//! ([`script`]) that shows the stage messages, waits for the cardholder and reports the
//! result.
//!
//! Cardholder behaviour: by default the cardholder presents an approving Visa chip card once
//! "Present card" shows. A test helper action ([`CardholderAction`]) applies to the
//! interaction waiting for a card right now, or — when the terminal is idle — to the next
//! interaction. Amount triggers ([`amount_trigger`]) decide the issuer's answer whatever card
//! is presented.

mod cards;
mod script;

pub use cards::{TestCard, TestCardOutcome, amount_trigger};

use async_trait::async_trait;
use poigate_domain::{Interaction, InteractionId, Terminal, TerminalId, TerminalKind};
use poigate_engine::{
    EngineError, LinkError, ReportOutcome, TerminalLink, TerminalReport, WeakEngine,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Simulator settings.
#[derive(Clone, Copy, Debug)]
pub struct SimulatorConfig {
    /// Multiplies every delay of the script and the card timeout: 1.0 is realistic (a sale
    /// takes about five seconds), 0.01 runs it in tens of milliseconds, 0 without delays.
    pub speed: f64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig { speed: 1.0 }
    }
}

/// What the simulated cardholder does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardholderAction {
    /// Present this card.
    PresentCard(TestCard),
    /// Press the cancel button on the terminal.
    PressCancel,
    /// Never present a card: the terminal's card timeout expires.
    WalkAway,
    /// Do nothing until another action comes or the POS cancels (no auto-present, no
    /// timeout): lets a test act while the terminal shows "Present card".
    Hold,
}

/// Which interaction a test helper action applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperTarget {
    /// The interaction the terminal is running now.
    Current(InteractionId),
    /// Armed for the next interaction on this terminal.
    Next,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    #[error("no simulated terminal with this id")]
    UnknownTerminal,
}

/// Commands to a running script.
#[derive(Debug)]
enum RunCommand {
    Cardholder(CardholderAction),
    GatewayCancel,
}

struct RunHandle {
    interaction_id: InteractionId,
    commands: mpsc::UnboundedSender<RunCommand>,
    task: JoinHandle<()>,
}

impl RunHandle {
    fn is_alive(&self) -> bool {
        !self.task.is_finished()
    }
}

#[derive(Default)]
struct SimState {
    armed: Option<CardholderAction>,
    run: Option<RunHandle>,
    /// A frozen terminal is connected but does not answer: starts wait here unacknowledged.
    frozen: bool,
    queued: Option<(Interaction, bool)>,
}

/// One report on its way to the engine, with an optional reply channel for the script
/// (the acknowledgement must be confirmed before the cardholder interaction begins).
struct Uplink {
    report: TerminalReport,
    reply: Option<oneshot::Sender<Result<ReportOutcome, EngineError>>>,
}

struct SimTerminal {
    connected: watch::Sender<bool>,
    uplink: mpsc::UnboundedSender<Uplink>,
    state: Mutex<SimState>,
}

impl SimTerminal {
    fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// All simulated terminals of one gateway, behind the engine's [`TerminalLink`].
pub struct SimulatedLink {
    engine: WeakEngine,
    config: SimulatorConfig,
    terminals: Mutex<HashMap<TerminalId, Arc<SimTerminal>>>,
}

impl SimulatedLink {
    pub fn new(engine: WeakEngine, config: SimulatorConfig) -> SimulatedLink {
        SimulatedLink {
            engine,
            config,
            terminals: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> SimulatorConfig {
        self.config
    }

    fn get(&self, id: TerminalId) -> Option<Arc<SimTerminal>> {
        match self.terminals.lock() {
            Ok(m) => m.get(&id).cloned(),
            Err(p) => p.into_inner().get(&id).cloned(),
        }
    }

    /// Whether `id` is a simulated terminal run by this link.
    pub fn manages(&self, id: TerminalId) -> bool {
        self.get(id).is_some()
    }

    /// A cardholder action: applied to the interaction in progress, or armed for the next.
    pub fn act(&self, id: TerminalId, action: CardholderAction) -> Result<HelperTarget, SimError> {
        let sim = self.get(id).ok_or(SimError::UnknownTerminal)?;
        let mut state = sim.state();
        if let Some(run) = state.run.as_ref().filter(|r| r.is_alive())
            && run.commands.send(RunCommand::Cardholder(action)).is_ok()
        {
            return Ok(HelperTarget::Current(run.interaction_id));
        }
        state.armed = Some(action);
        Ok(HelperTarget::Next)
    }

    /// Drops the terminal's connection: it goes offline, keeps running its current
    /// interaction and holds its reports until [`SimulatedLink::connect`].
    pub async fn disconnect(&self, id: TerminalId) -> Result<(), SimError> {
        let sim = self.get(id).ok_or(SimError::UnknownTerminal)?;
        sim.connected.send_replace(false);
        if let Some(engine) = self.engine.upgrade() {
            engine.terminal_connected(id, false).await;
        }
        Ok(())
    }

    /// Brings the terminal back: it is online again and delivers what it held.
    pub async fn connect(&self, id: TerminalId) -> Result<(), SimError> {
        let sim = self.get(id).ok_or(SimError::UnknownTerminal)?;
        if let Some(engine) = self.engine.upgrade() {
            engine.terminal_connected(id, true).await;
        }
        sim.connected.send_replace(true);
        Ok(())
    }

    /// Freezes the terminal: it stays connected but neither acknowledges nor runs the
    /// starts it receives (a hung terminal), until [`SimulatedLink::unfreeze`]. This is how
    /// a test sees an interaction stay `pending`, be cancelled before delivery, or time out
    /// as `not_delivered`.
    pub fn freeze(&self, id: TerminalId) -> Result<(), SimError> {
        let sim = self.get(id).ok_or(SimError::UnknownTerminal)?;
        sim.state().frozen = true;
        Ok(())
    }

    /// Unfreezes the terminal; a start it received while frozen runs now (and stops at once
    /// if the gateway gave up on it meanwhile).
    pub fn unfreeze(&self, id: TerminalId) -> Result<(), SimError> {
        let sim = self.get(id).ok_or(SimError::UnknownTerminal)?;
        let queued = {
            let mut state = sim.state();
            state.frozen = false;
            state.queued.take()
        };
        if let Some((interaction, resume)) = queued {
            self.spawn_run(&sim, &interaction, resume);
        }
        Ok(())
    }

    fn spawn_run(&self, sim: &Arc<SimTerminal>, interaction: &Interaction, resume: bool) {
        let mut state = sim.state();
        if state.frozen {
            state.queued = Some((interaction.clone(), resume));
            return;
        }
        if let Some(run) = &state.run
            && run.interaction_id == interaction.id
            && run.is_alive()
        {
            return; // a re-sent start for the interaction already running
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let action = state.armed.take();
        let ctx = script::Script {
            interaction: interaction.clone(),
            uplink: sim.uplink.clone(),
            speed: self.config.speed,
            seq: interaction.last_terminal_seq,
        };
        let task = tokio::spawn(ctx.run(rx, action, resume));
        state.run = Some(RunHandle {
            interaction_id: interaction.id,
            commands: tx,
            task,
        });
    }
}

#[async_trait]
impl TerminalLink for SimulatedLink {
    async fn start(&self, terminal: &Terminal, interaction: &Interaction) -> Result<(), LinkError> {
        let sim = self.get(terminal.id).ok_or(LinkError::NotConnected)?;
        if !*sim.connected.borrow() {
            return Err(LinkError::NotConnected);
        }
        self.spawn_run(&sim, interaction, false);
        Ok(())
    }

    async fn cancel(
        &self,
        terminal: &Terminal,
        interaction: InteractionId,
    ) -> Result<(), LinkError> {
        let sim = self.get(terminal.id).ok_or(LinkError::NotConnected)?;
        if !*sim.connected.borrow() {
            return Err(LinkError::NotConnected);
        }
        let state = sim.state();
        if let Some(run) = state
            .run
            .as_ref()
            .filter(|r| r.interaction_id == interaction && r.is_alive())
        {
            let _ = run.commands.send(RunCommand::GatewayCancel);
        }
        Ok(())
    }

    async fn resume(&self, terminal: &Terminal, interaction: &Interaction) {
        if let Some(sim) = self.get(terminal.id) {
            self.spawn_run(&sim, interaction, true);
        }
    }

    async fn terminal_added(&self, terminal: &Terminal) {
        if terminal.kind != TerminalKind::Simulated {
            return;
        }
        let created = {
            let mut map = match self.terminals.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            match map.entry(terminal.id) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let (connected, connected_rx) = watch::channel(true);
                    tokio::spawn(uplink(self.engine.clone(), terminal.id, rx, connected_rx));
                    slot.insert(Arc::new(SimTerminal {
                        connected,
                        uplink: tx,
                        state: Mutex::new(SimState::default()),
                    }));
                    true
                }
            }
        };
        if created && let Some(engine) = self.engine.upgrade() {
            engine.terminal_connected(terminal.id, true).await;
        }
    }
}

/// Delivers one terminal's reports in order; waits while the terminal is disconnected;
/// retries while the gateway cannot store them (they are not acknowledged yet).
async fn uplink(
    engine: WeakEngine,
    terminal: TerminalId,
    mut rx: mpsc::UnboundedReceiver<Uplink>,
    mut connected: watch::Receiver<bool>,
) {
    while let Some(msg) = rx.recv().await {
        loop {
            while !*connected.borrow_and_update() {
                if connected.changed().await.is_err() {
                    return;
                }
            }
            let Some(engine) = engine.upgrade() else {
                return;
            };
            match engine.report(terminal, msg.report.clone()).await {
                Err(EngineError::Store(e)) => {
                    tracing::warn!(%terminal, error = %e, "report not stored; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                result => {
                    if let Err(e) = &result {
                        tracing::warn!(%terminal, error = %e, "report refused");
                    }
                    if let Some(reply) = msg.reply {
                        let _ = reply.send(result);
                    }
                    break;
                }
            }
        }
    }
}
