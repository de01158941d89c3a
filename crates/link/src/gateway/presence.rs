//! Which session speaks for which terminal, and the connection changes the engine sees.
//!
//! Each terminal has a slot with an async lock. Registering a session, ending one and
//! evicting one all happen under that lock, *including* the engine call that records the
//! change, so the engine sees them in the order they happened: a replaced session that ends
//! late cannot mark the terminal offline after its successor marked it online. A session
//! only unregisters itself while it is still the current one.

use super::session::Command;
use poigate_domain::TerminalId;
use poigate_engine::{LinkError, WeakEngine};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};

/// Commands a session may have queued before it writes them; more means the terminal does
/// not read (a start, a cancel and a few test actions are all that can be outstanding).
const MAX_QUEUED: usize = 32;

/// The mailbox of one live session. Kept small: an idle connection holds one of these.
pub(super) struct SessionHandle {
    pub id: u64,
    inbox: Mutex<VecDeque<Command>>,
    pub notify: Notify,
}

impl SessionHandle {
    fn inbox(&self) -> std::sync::MutexGuard<'_, VecDeque<Command>> {
        match self.inbox.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn push(&self, command: Command) -> Result<(), LinkError> {
        {
            let mut inbox = self.inbox();
            if inbox.len() >= MAX_QUEUED {
                return Err(LinkError::Failed("the terminal is not reading".into()));
            }
            inbox.push_back(command);
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Asks the session to close; jumps the queue.
    fn close(&self, code: u16, reason: &'static str) {
        self.urgent(Command::Close { code, reason });
    }

    /// Queues `command` ahead of everything else.
    fn urgent(&self, command: Command) {
        self.inbox().push_front(command);
        self.notify.notify_one();
    }

    pub fn pop(&self) -> Option<Command> {
        self.inbox().pop_front()
    }
}

#[derive(Default)]
struct Slot {
    current: tokio::sync::Mutex<Option<Arc<SessionHandle>>>,
}

pub(super) struct Presence {
    engine: WeakEngine,
    slots: Mutex<HashMap<TerminalId, Arc<Slot>>>,
    next_id: AtomicU64,
    connected: AtomicUsize,
    /// Bumped after every connect and disconnect, for waiters.
    changed: watch::Sender<u64>,
}

impl Presence {
    pub fn new(engine: WeakEngine) -> Presence {
        Presence {
            engine,
            slots: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            connected: AtomicUsize::new(0),
            changed: watch::Sender::new(0),
        }
    }

    fn slot(&self, terminal: TerminalId, create: bool) -> Option<Arc<Slot>> {
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if create {
            Some(slots.entry(terminal).or_default().clone())
        } else {
            slots.get(&terminal).cloned()
        }
    }

    /// Tells the engine; for a connect, returns the connection's fencing token.
    async fn record(&self, terminal: TerminalId, connected: bool) -> Option<u64> {
        let mut epoch = None;
        if let Some(engine) = self.engine.upgrade() {
            epoch = engine
                .devices()
                .terminal_connected(terminal, connected)
                .await;
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        epoch
    }

    /// Makes a new session the terminal's current one, closing the one it replaces.
    /// Returns its handle and its fencing token (the epoch the coordinator recorded for this
    /// connection, read under the slot's lock so it is this session's and not a later one's).
    pub async fn register(&self, terminal: TerminalId) -> (Arc<SessionHandle>, Option<u64>) {
        let handle = Arc::new(SessionHandle {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            inbox: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
        });
        let Some(slot) = self.slot(terminal, true) else {
            return (handle, None);
        };
        let mut current = slot.current.lock().await;
        match current.replace(handle.clone()) {
            Some(old) => {
                tracing::info!(%terminal, "a new connection replaces the previous one");
                old.close(
                    crate::protocol::close::REPLACED,
                    "replaced by a newer connection",
                );
            }
            None => {
                self.connected.fetch_add(1, Ordering::Relaxed);
            }
        }
        let epoch = self.record(terminal, true).await;
        (handle, epoch)
    }

    /// A session ended by itself; the terminal goes offline unless a newer session
    /// replaced it already.
    pub async fn unregister(&self, terminal: TerminalId, session: u64) {
        let Some(slot) = self.slot(terminal, false) else {
            return;
        };
        let mut current = slot.current.lock().await;
        if current.as_ref().is_some_and(|h| h.id == session) {
            *current = None;
            self.connected.fetch_sub(1, Ordering::Relaxed);
            self.record(terminal, false).await;
        }
    }

    /// Closes the terminal's session (if any) and records it offline at once.
    pub async fn evict(&self, terminal: TerminalId, code: u16, reason: &'static str) {
        let Some(slot) = self.slot(terminal, false) else {
            return;
        };
        let mut current = slot.current.lock().await;
        if let Some(old) = current.take() {
            old.close(code, reason);
            self.connected.fetch_sub(1, Ordering::Relaxed);
            self.record(terminal, false).await;
        }
    }

    /// Closes every session without recording anything (the gateway is stopping; a fresh
    /// gateway starts with every terminal offline).
    pub async fn evict_all(&self, code: u16, reason: &'static str) {
        self.evict_all_with(|| Command::Close { code, reason })
            .await;
    }

    /// Ends every session with the command `last` makes (a close, or a `reconnect` frame
    /// followed by a close).
    pub async fn evict_all_with(&self, last: impl Fn() -> Command) {
        let slots: Vec<Arc<Slot>> = match self.slots.lock() {
            Ok(s) => s.values().cloned().collect(),
            Err(p) => p.into_inner().values().cloned().collect(),
        };
        for slot in slots {
            if let Some(old) = slot.current.lock().await.take() {
                old.urgent(last());
                self.connected.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Queues a command for the terminal's current session.
    pub async fn send(&self, terminal: TerminalId, command: Command) -> Result<(), LinkError> {
        let slot = self.slot(terminal, false).ok_or(LinkError::NotConnected)?;
        let current = slot.current.lock().await;
        match current.as_ref() {
            Some(handle) => handle.push(command),
            None => Err(LinkError::NotConnected),
        }
    }

    /// Completes once the terminal has a session.
    pub async fn wait_connected(&self, terminal: TerminalId) {
        let mut rx = self.changed.subscribe();
        loop {
            if let Some(slot) = self.slot(terminal, false)
                && slot.current.lock().await.is_some()
            {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn count(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }
}
