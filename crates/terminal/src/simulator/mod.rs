//! The simulated terminal: a card terminal with a simulated cardholder in front of it.
//!
//! [`SimDevice`] is one terminal's brain; each interaction runs as a *script* task
//! ([`script`]) that shows the stage messages, waits for the cardholder and reports the
//! result into the device's outbox. [`SimulatedLink`] runs devices in-process: an *uplink*
//! task per terminal delivers the outbox to the engine in order, holding reports while the
//! terminal is "disconnected" (the test helper), exactly like a real terminal buffering
//! unacknowledged frames. The terminal-link client runs the same devices over a WebSocket.
//!
//! Cardholder behaviour: by default the cardholder presents an approving Visa chip card once
//! "Present card" shows. A test helper action ([`CardholderAction`]) applies to the
//! interaction waiting for a card right now, or — when the terminal is idle — to the next
//! interaction. Amount triggers ([`amount_trigger`]) decide the issuer's answer whatever card
//! is presented.

mod cards;
mod device;
mod script;

pub use cards::{NO_TIP_SUFFIX, TestCard, TestCardOutcome, amount_trigger, simulated_tip};
pub use device::{Delivered, Job, Outgoing, ReportRefused, SimDevice};

use async_trait::async_trait;
use poigate_domain::{
    Interaction, InteractionId, Terminal, TerminalConnection, TerminalId, TerminalKind,
};
use poigate_engine::{EngineError, LinkError, TerminalLink, WeakEngine};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Simulator settings.
#[derive(Clone, Copy, Debug, PartialEq)]
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

/// One in-process simulated terminal: its brain, whether it is "connected" (the
/// disconnect test helper), and the uplink task that delivers its outbox to the engine.
struct SimTerminal {
    device: Arc<SimDevice>,
    connected: watch::Sender<bool>,
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
        Ok(sim.device.act(action))
    }

    /// Drops the terminal's connection: it goes offline, keeps running its current
    /// interaction and holds its reports until [`SimulatedLink::connect`].
    pub async fn disconnect(&self, id: TerminalId) -> Result<(), SimError> {
        let sim = self.get(id).ok_or(SimError::UnknownTerminal)?;
        sim.connected.send_replace(false);
        if let Some(engine) = self.engine.upgrade() {
            engine.devices().terminal_connected(id, false).await;
        }
        Ok(())
    }

    /// Brings the terminal back: it is online again and delivers what it held.
    pub async fn connect(&self, id: TerminalId) -> Result<(), SimError> {
        let sim = self.get(id).ok_or(SimError::UnknownTerminal)?;
        if let Some(engine) = self.engine.upgrade() {
            engine.devices().terminal_connected(id, true).await;
        }
        sim.connected.send_replace(true);
        Ok(())
    }

    /// Freezes the terminal: it stays connected but neither acknowledges nor runs the
    /// starts it receives (a hung terminal), until [`SimulatedLink::unfreeze`]. This is how
    /// a test sees an interaction stay `pending`, be cancelled before delivery, or time out
    /// as `not_delivered`.
    pub fn freeze(&self, id: TerminalId) -> Result<(), SimError> {
        self.get(id)
            .ok_or(SimError::UnknownTerminal)?
            .device
            .freeze();
        Ok(())
    }

    /// Unfreezes the terminal; a start it received while frozen runs now (and stops at once
    /// if the gateway gave up on it meanwhile).
    pub fn unfreeze(&self, id: TerminalId) -> Result<(), SimError> {
        self.get(id)
            .ok_or(SimError::UnknownTerminal)?
            .device
            .unfreeze();
        Ok(())
    }
}

#[async_trait]
impl TerminalLink for SimulatedLink {
    async fn start(&self, terminal: &Terminal, interaction: &Interaction) -> Result<(), LinkError> {
        let sim = self.get(terminal.id).ok_or(LinkError::NotConnected)?;
        if !*sim.connected.borrow() {
            return Err(LinkError::NotConnected);
        }
        sim.device
            .start(Job::from(interaction), interaction.last_terminal_seq, false);
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
        sim.device.cancel(interaction);
        Ok(())
    }

    async fn resume(&self, terminal: &Terminal, interaction: &Interaction) {
        if let Some(sim) = self.get(terminal.id) {
            sim.device
                .start(Job::from(interaction), interaction.last_terminal_seq, true);
        }
    }

    async fn terminal_added(&self, terminal: &Terminal) {
        if terminal.kind != TerminalKind::Simulated
            || terminal.connection != TerminalConnection::InProcess
        {
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
                        device: SimDevice::new(self.config, tx),
                        connected,
                    }));
                    true
                }
            }
        };
        if created && let Some(engine) = self.engine.upgrade() {
            engine.devices().terminal_connected(terminal.id, true).await;
        }
    }
}

/// Delivers one terminal's reports in order; waits while the terminal is disconnected;
/// retries while the gateway cannot store them (they are not acknowledged yet).
async fn uplink(
    engine: WeakEngine,
    terminal: TerminalId,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut connected: watch::Receiver<bool>,
) {
    /// Reports already in the outbox go to the engine together (one durable write), like a
    /// link terminal's burst.
    const MAX_BURST: usize = 32;
    while let Some(first) = rx.recv().await {
        let mut batch = std::collections::VecDeque::from([first]);
        while batch.len() < MAX_BURST {
            match rx.try_recv() {
                Ok(msg) => batch.push_back(msg),
                Err(_) => break,
            }
        }
        while !batch.is_empty() {
            while !*connected.borrow_and_update() {
                if connected.changed().await.is_err() {
                    return;
                }
            }
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let reports = batch.iter().map(|m| m.report.clone()).collect();
            for result in engine.devices().report_many(terminal, reports).await {
                let Some(msg) = batch.pop_front() else { break };
                match result {
                    Err(EngineError::Store(e)) => {
                        // Not stored: this report and those after it are tried again.
                        tracing::warn!(%terminal, error = %e, "report not stored; retrying");
                        batch.push_front(msg);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        break;
                    }
                    result => {
                        if let Err(e) = &result {
                            tracing::warn!(%terminal, error = %e, "report refused");
                        }
                        let _ = msg
                            .reply
                            .send(result.map_err(|e| ReportRefused(e.to_string())));
                    }
                }
            }
        }
    }
}
