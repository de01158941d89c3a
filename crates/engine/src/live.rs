//! Live interactions held in memory: one entry per interaction that is not final yet.
//!
//! Each entry serialises the transitions of its interaction (an async mutex held across
//! the durable write) and publishes every committed state on a `watch` channel. Waiters
//! (long-polls, SSE) subscribe *before* they look at the state, so a change that lands
//! between the look and the wait still wakes them: there is no missed wake-up.

use poigate_domain::{Interaction, InteractionId, MerchantId, TerminalId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct LiveEntry {
    pub id: InteractionId,
    pub merchant_id: MerchantId,
    pub terminal_id: TerminalId,
    /// The committed state; locked while a transition is computed and written.
    pub state: tokio::sync::Mutex<Interaction>,
    /// The latest committed state, for readers and waiters.
    pub published: watch::Sender<Arc<Interaction>>,
    /// When the latest state was published (wall clock, µs since the epoch): right after its
    /// commit. Long-polls report it so a benchmark can measure commit-to-response latency.
    pub published_at_micros: std::sync::atomic::AtomicI64,
    /// The transaction the card decision created, as committed with it: a long-poll woken by
    /// the outcome answers with it without reading it back from the database.
    pub transaction: Mutex<Option<poigate_domain::Transaction>>,
    timers: Mutex<Vec<JoinHandle<()>>>,
}

impl LiveEntry {
    pub fn new(interaction: Interaction) -> LiveEntry {
        LiveEntry {
            id: interaction.id,
            merchant_id: interaction.merchant_id,
            terminal_id: interaction.terminal_id,
            published: watch::Sender::new(Arc::new(interaction.clone())),
            published_at_micros: std::sync::atomic::AtomicI64::new(0),
            transaction: Mutex::new(None),
            state: tokio::sync::Mutex::new(interaction),
            timers: Mutex::new(Vec::new()),
        }
    }

    pub fn snapshot(&self) -> Arc<Interaction> {
        self.published.borrow().clone()
    }

    pub fn publish(&self, interaction: Interaction) {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        self.published_at_micros
            .store(micros, std::sync::atomic::Ordering::Release);
        self.published.send_replace(Arc::new(interaction));
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
