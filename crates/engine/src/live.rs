//! Live interactions held in memory: one entry per interaction that is not final yet.
//!
//! Each entry serialises the transitions of its interaction (an async mutex held across
//! the durable write) and keeps the latest committed state for readers. Waiters (long-polls,
//! SSE) do not wait here: they subscribe to the [`Coordinator`](crate::Coordinator), which
//! knows about commits on every node.

use poigate_domain::{Interaction, InteractionId, MerchantId, TerminalId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

pub struct LiveEntry {
    pub id: InteractionId,
    pub merchant_id: MerchantId,
    pub terminal_id: TerminalId,
    /// The committed state; locked while a transition is computed and written.
    pub state: tokio::sync::Mutex<Interaction>,
    /// The latest committed state, for readers (who must not wait for a transition).
    current: Mutex<Arc<Interaction>>,
    timers: Mutex<Vec<JoinHandle<()>>>,
    /// Who created it (`native` or a dialect), for the completion metrics; unset for an
    /// interaction this process did not create (restored after a restart).
    pub origin: std::sync::OnceLock<&'static str>,
}

impl LiveEntry {
    pub fn new(interaction: Interaction) -> LiveEntry {
        LiveEntry {
            id: interaction.id,
            merchant_id: interaction.merchant_id,
            terminal_id: interaction.terminal_id,
            current: Mutex::new(Arc::new(interaction.clone())),
            state: tokio::sync::Mutex::new(interaction),
            timers: Mutex::new(Vec::new()),
            origin: std::sync::OnceLock::new(),
        }
    }

    /// The latest committed state.
    pub fn snapshot(&self) -> Arc<Interaction> {
        match self.current.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Records a newly committed state.
    pub fn set_current(&self, interaction: Interaction) {
        let next = Arc::new(interaction);
        match self.current.lock() {
            Ok(mut c) => *c = next,
            Err(p) => *p.into_inner() = next,
        }
    }

    pub fn add_timer(&self, handle: JoinHandle<()>) {
        match self.timers.lock() {
            Ok(mut t) => t.push(handle),
            Err(p) => p.into_inner().push(handle),
        }
    }

    pub fn cancel_timers(&self) {
        let handles = match self.timers.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        for h in handles {
            h.abort();
        }
    }
}

#[derive(Default)]
pub struct LiveMap {
    entries: Mutex<HashMap<InteractionId, Arc<LiveEntry>>>,
}

impl LiveMap {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<InteractionId, Arc<LiveEntry>>) -> R) -> R {
        match self.entries.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub fn get(&self, id: InteractionId) -> Option<Arc<LiveEntry>> {
        self.with(|m| m.get(&id).cloned())
    }

    /// Inserts `interaction` unless an entry exists; returns the entry in the map.
    pub fn insert(&self, interaction: Interaction) -> Arc<LiveEntry> {
        self.with(|m| {
            m.entry(interaction.id)
                .or_insert_with(|| Arc::new(LiveEntry::new(interaction)))
                .clone()
        })
    }

    pub fn remove(&self, id: InteractionId) -> Option<Arc<LiveEntry>> {
        self.with(|m| m.remove(&id))
    }

    pub fn count(&self) -> usize {
        self.with(|m| m.len())
    }

    pub fn all(&self) -> Vec<Arc<LiveEntry>> {
        self.with(|m| m.values().cloned().collect())
    }
}
