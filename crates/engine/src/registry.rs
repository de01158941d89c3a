//! The terminal registry: every known terminal with its live state (connected, busy,
//! last seen). Held in memory; the database knows terminals, only the running gateway
//! knows which are connected right now.

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
    terminals: Mutex<HashMap<TerminalId, TerminalLive>>,
}

impl Registry {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<TerminalId, TerminalLive>) -> R) -> R {
        let mut guard = match self.terminals.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn add(&self, terminal: Terminal) {
        self.with(|m| {
            m.entry(terminal.id).or_insert(TerminalLive {
                terminal,
                connected: false,
                last_seen_at: None,
                active: None,
            });
        });
    }

    pub fn get(&self, id: TerminalId) -> Option<TerminalLive> {
        self.with(|m| m.get(&id).cloned())
    }

    pub fn terminal(&self, id: TerminalId) -> Option<Terminal> {
        self.with(|m| m.get(&id).map(|t| t.terminal.clone()))
    }

    pub fn is_connected(&self, id: TerminalId) -> bool {
        self.with(|m| m.get(&id).is_some_and(|t| t.connected))
    }

    pub fn active(&self, id: TerminalId) -> Option<InteractionId> {
        self.with(|m| m.get(&id).and_then(|t| t.active))
    }

    /// Records a connection change; returns whether it changed anything.
    pub fn set_connected(&self, id: TerminalId, connected: bool, now: Timestamp) -> bool {
        self.with(|m| match m.get_mut(&id) {
            Some(t) => {
                t.last_seen_at = Some(now);
                let changed = t.connected != connected;
                t.connected = connected;
                changed
            }
            None => false,
        })
    }

    pub fn seen(&self, id: TerminalId, now: Timestamp) {
        self.with(|m| {
            if let Some(t) = m.get_mut(&id) {
                t.last_seen_at = Some(now);
            }
        });
    }

    pub fn set_active(&self, id: TerminalId, interaction: InteractionId) {
        self.with(|m| {
            if let Some(t) = m.get_mut(&id) {
                t.active = Some(interaction);
            }
        });
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
