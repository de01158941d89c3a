//! The terminal registry: every terminal this node knows and the interaction it is busy
//! with. Presence (connected, last seen) is the [`Coordinator`](crate::Coordinator)'s: with
//! several nodes, only the cluster knows which terminals are connected.

use poigate_domain::{InteractionId, Terminal, TerminalId, TerminalStatus, Timestamp};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Clone, Debug)]
pub struct TerminalLive {
    pub terminal: Terminal,
    pub connected: bool,
    pub last_seen_at: Option<Timestamp>,
    pub active: Option<InteractionId>,
}

impl TerminalLive {
    pub fn status(&self) -> TerminalStatus {
        if !self.connected {
            TerminalStatus::Offline
        } else if self.active.is_some() {
            TerminalStatus::Busy
        } else {
            TerminalStatus::Online
        }
    }
}

#[derive(Default)]
pub struct Registry {
    terminals: Mutex<HashMap<TerminalId, Known>>,
}

/// A terminal this node knows, and the interaction it is busy with (a fast path: the
/// database's unique index is the guarantee).
struct Known {
    terminal: Terminal,
    active: Option<InteractionId>,
}

impl Registry {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<TerminalId, Known>) -> R) -> R {
        let mut guard = match self.terminals.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn add(&self, terminal: Terminal) {
        self.with(|m| {
            m.entry(terminal.id).or_insert(Known {
                terminal,
                active: None,
            });
        });
    }

    /// The terminal and its active interaction; presence comes from the coordinator.
    pub fn get(&self, id: TerminalId) -> Option<(Terminal, Option<InteractionId>)> {
        self.with(|m| m.get(&id).map(|t| (t.terminal.clone(), t.active)))
    }

    pub fn terminal(&self, id: TerminalId) -> Option<Terminal> {
        self.with(|m| m.get(&id).map(|t| t.terminal.clone()))
    }

    pub fn active(&self, id: TerminalId) -> Option<InteractionId> {
        self.with(|m| m.get(&id).and_then(|t| t.active))
    }

    pub fn set_active(&self, id: TerminalId, interaction: InteractionId) {
        self.with(|m| {
            if let Some(t) = m.get_mut(&id) {
                t.active = Some(interaction);
            }
        });
    }

    /// Every known terminal and whether it is busy (for the `poigate_terminals` gauge).
    pub fn activity(&self) -> Vec<(TerminalId, bool)> {
        self.with(|m| m.iter().map(|(id, t)| (*id, t.active.is_some())).collect())
    }

    /// Frees the terminal if `interaction` is the one holding it.
    pub fn release(&self, id: TerminalId, interaction: InteractionId) {
        self.with(|m| {
            if let Some(t) = m.get_mut(&id)
                && t.active == Some(interaction)
            {
                t.active = None;
            }
        });
    }
}
