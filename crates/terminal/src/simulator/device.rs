//! One simulated terminal's brain, whatever carries its reports: the cardholder's armed
//! action, the interaction it runs, the frozen state.
//!
//! A [`SimDevice`] receives what a terminal receives (start, cancel, test-helper actions)
//! and puts its reports into an *outbox* ([`Outgoing`]). Who drains the outbox decides the
//! transport: the in-process [`SimulatedLink`](super::SimulatedLink) hands reports straight
//! to the engine; the terminal-link client sends them as frames and answers each report when
//! the gateway acknowledges it. The script cannot tell the difference, so both modes run
//! exactly the same terminal.

use super::script::Script;
use super::{CardholderAction, HelperTarget, SimulatorConfig};
use poigate_domain::{Interaction, InteractionId, InteractionType, Money};
use poigate_engine::{ReportOutcome, TerminalReport};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What a terminal is told to run: the content of a start request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: InteractionId,
    pub kind: InteractionType,
    pub amount: Money,
    /// The card-interaction timeout the terminal enforces.
    pub timeout_seconds: u32,
    /// Ask the cardholder for a tip before the card is presented.
    pub ask_for_tip: bool,
}

impl From<&Interaction> for Job {
    fn from(i: &Interaction) -> Job {
        Job {
            id: i.id,
            kind: i.kind,
            amount: i.amount,
            timeout_seconds: i.timeout_seconds,
            ask_for_tip: i.ask_for_tip,
        }
    }
}

/// Why a report was not accepted (the engine's or the gateway's words).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("report refused: {0}")]
pub struct ReportRefused(pub String);

/// The answer to one report, once it is durable at the gateway (or refused).
pub type Delivered = Result<ReportOutcome, ReportRefused>;

/// One report on its way out, with the channel its answer comes back on. The script waits
/// for the answer to its acknowledgement before it reads a card.
#[derive(Debug)]
pub struct Outgoing {
    pub report: TerminalReport,
    pub reply: oneshot::Sender<Delivered>,
}

/// Commands to a running script.
#[derive(Debug)]
pub(super) enum RunCommand {
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

/// How many finished interactions a terminal remembers, to ignore a start sent again.
const REMEMBERED: usize = 8;

#[derive(Default)]
struct DeviceState {
    armed: Option<CardholderAction>,
    run: Option<RunHandle>,
    /// A frozen terminal is connected but does not answer: starts wait here unacknowledged.
    frozen: bool,
    queued: Option<(Job, u64, bool)>,
    /// Interactions this terminal ran, newest last.
    ran: VecDeque<InteractionId>,
}

/// One simulated terminal.
pub struct SimDevice {
    config: SimulatorConfig,
    outbox: mpsc::UnboundedSender<Outgoing>,
    state: Mutex<DeviceState>,
}

impl SimDevice {
    /// A terminal whose reports go to `outbox`.
    pub fn new(config: SimulatorConfig, outbox: mpsc::UnboundedSender<Outgoing>) -> Arc<SimDevice> {
        Arc::new(SimDevice {
            config,
            outbox,
            state: Mutex::new(DeviceState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DeviceState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Runs `job`. A start for an interaction this terminal runs or ran already is a
    /// re-delivery and does nothing. `last_seq` is the sequence number of the last report
    /// for this interaction the gateway has (0 for a new start); `resume` carries on from
    /// "Processing payment..." (after a gateway restart, in-process only).
    pub fn start(&self, job: Job, last_seq: u64, resume: bool) {
        let mut state = self.state();
        if state.frozen {
            state.queued = Some((job, last_seq, resume));
            return;
        }
        let running = state
            .run
            .as_ref()
            .is_some_and(|r| r.interaction_id == job.id && r.is_alive());
        if running || (!resume && state.ran.contains(&job.id)) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let action = state.armed.take();
        let id = job.id;
        let script = Script {
            job,
            uplink: self.outbox.clone(),
            speed: self.config.speed,
            seq: last_seq,
        };
        let task = tokio::spawn(script.run(rx, action, resume));
        state.run = Some(RunHandle {
            interaction_id: id,
            commands: tx,
            task,
        });
        if !state.ran.contains(&id) {
            if state.ran.len() == REMEMBERED {
                state.ran.pop_front();
            }
            state.ran.push_back(id);
        }
    }

    /// The gateway asks to abort `interaction`; the running script decides (cancelled, or
    /// too late once the card is read).
    pub fn cancel(&self, interaction: InteractionId) {
        let state = self.state();
        if let Some(run) = state
            .run
            .as_ref()
            .filter(|r| r.interaction_id == interaction && r.is_alive())
        {
            let _ = run.commands.send(RunCommand::GatewayCancel);
        }
    }

    /// A cardholder action: applied to the interaction in progress, or armed for the next.
    pub fn act(&self, action: CardholderAction) -> HelperTarget {
        let mut state = self.state();
        if let Some(run) = state.run.as_ref().filter(|r| r.is_alive())
            && run.commands.send(RunCommand::Cardholder(action)).is_ok()
        {
            return HelperTarget::Current(run.interaction_id);
        }
        state.armed = Some(action);
        HelperTarget::Next
    }

    /// Stops answering: starts received from now on wait unacknowledged.
    pub fn freeze(&self) {
        self.state().frozen = true;
    }

    /// Answers again; a start received while frozen runs now (and stops at once if the
    /// gateway gave up on it meanwhile).
    pub fn unfreeze(&self) {
        let queued = {
            let mut state = self.state();
            state.frozen = false;
            state.queued.take()
        };
        if let Some((job, last_seq, resume)) = queued {
            self.start(job, last_seq, resume);
        }
    }

    /// The interaction the terminal is running right now, if any.
    pub fn running(&self) -> Option<InteractionId> {
        self.state()
            .run
            .as_ref()
            .filter(|r| r.is_alive())
            .map(|r| r.interaction_id)
    }
}
