//! The gateway side of the terminal link: one session per connected terminal, behind the
//! engine's [`TerminalLink`].
//!
//! - **Sessions** ([`session`]) run one WebSocket each: hello, welcome, reports acknowledged
//!   only once durable, starts and cancels sent, heartbeats.
//! - **Presence** ([`presence`]) keeps at most one session per terminal. A reconnect replaces
//!   the old session; connect and disconnect reach the engine in the order they happened,
//!   never an old session's "disconnected" after a new session's "connected".
//! - **Test helpers** for simulated terminals run over the link: cardholder actions and
//!   freeze are `test` frames; `disconnect` closes the connection and holds the terminal's
//!   next handshake until `connect`.

mod presence;
mod session;

use crate::protocol::{AppliedTo, TestAction, TestDone, close};
use async_trait::async_trait;
use axum::extract::ws::WebSocket;
use poigate_domain::{Interaction, InteractionId, Terminal, TerminalId};
use poigate_engine::{LinkError, TerminalLink, WeakEngine};
use poigate_terminal::{CardholderAction, HelperTarget, Job, TestCard};
use presence::Presence;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

pub use session::Command;

/// Settings of the gateway side.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// A connection with no traffic (frames or pongs) for this long is closed and the
    /// terminal shown offline. The gateway pings three times per period.
    pub heartbeat_timeout: Duration,
    /// How long a new connection may take to send its hello.
    pub hello_timeout: Duration,
    /// How long a test helper waits for a simulated terminal's answer.
    pub test_answer_timeout: Duration,
    /// Protocol errors tolerated on one connection before it is closed.
    pub max_errors: u32,
    /// WebSocket buffers and limits (memory per connection).
    pub limits: crate::Limits,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            heartbeat_timeout: Duration::from_secs(30),
            hello_timeout: Duration::from_secs(10),
            test_answer_timeout: Duration::from_secs(5),
            max_errors: 16,
            limits: crate::Limits::default(),
        }
    }
}

/// Why a test helper could not be carried out over the link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    #[error("not a simulated terminal")]
    NotSimulated,
    #[error("the terminal is not connected")]
    Offline,
    #[error("the terminal did not answer in time")]
    NoAnswer,
}

/// Counts a running session down when dropped.
struct SessionCount<'a>(&'a watch::Sender<usize>);

impl Drop for SessionCount<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The gateway side of the link for all link terminals of one gateway.
pub struct LinkGateway {
    engine: WeakEngine,
    config: LinkConfig,
    presence: Presence,
    /// Terminals held offline by the `disconnect` test helper: `true` while held.
    held: Mutex<HashMap<TerminalId, watch::Sender<bool>>>,
    /// Sessions running now (a drain waits for them to end).
    sessions: watch::Sender<usize>,
    /// Set by [`LinkGateway::drain`]: a connection arriving afterwards is closed at once.
    draining: std::sync::atomic::AtomicBool,
}

impl LinkGateway {
    pub fn new(engine: WeakEngine, config: LinkConfig) -> LinkGateway {
        LinkGateway {
            presence: Presence::new(engine.clone()),
            engine,
            config,
            held: Mutex::new(HashMap::new()),
            sessions: watch::Sender::new(0),
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Runs one authenticated connection until it ends.
    pub async fn serve(&self, socket: WebSocket, terminal: Terminal) {
        if self.draining.load(std::sync::atomic::Ordering::Acquire) {
            session::going_away(socket).await;
            return;
        }
        self.sessions.send_modify(|n| *n += 1);
        // Counted down however the session ends (even a panic of its task).
        let _running = SessionCount(&self.sessions);
        session::run(self, socket, terminal).await;
    }

    /// Number of terminals connected right now.
    pub fn connected_count(&self) -> usize {
        self.presence.count()
    }

    /// Drains the link (graceful shutdown): every session gets a `reconnect` frame with the
    /// hint `retry_after`, then a close with 1001, and its terminal reconnects to another
    /// node or the next process. Waits until the sessions have ended, at most `within`
    /// (a terminal that does not read cannot hold the shutdown up).
    pub async fn drain(&self, retry_after: Duration, within: Duration) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Release);
        let retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
        self.presence
            .evict_all_with(|| session::Command::Reconnect { retry_after_ms })
            .await;
        let mut sessions = self.sessions.subscribe();
        let _ = tokio::time::timeout(within, sessions.wait_for(|n| *n == 0)).await;
    }

    /// Closes every session (gateway shutdown): terminals reconnect to the next gateway.
    pub async fn shutdown(&self) {
        self.presence
            .evict_all(close::GOING_AWAY, "gateway shutting down")
            .await;
    }

    fn held_flag(&self, terminal: TerminalId) -> Option<watch::Receiver<bool>> {
        let held = match self.held.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        held.get(&terminal).map(|tx| tx.subscribe())
    }

    /// Waits while `terminal` is held offline by the `disconnect` test helper; `false` when
    /// it is still held after `max`. A handshake calls this before upgrading, so a held
    /// terminal gets in the moment `connect` is called.
    pub async fn wait_until_released(&self, terminal: TerminalId, max: Duration) -> bool {
        let Some(mut rx) = self.held_flag(terminal) else {
            return true;
        };
        let released = async {
            loop {
                if !*rx.borrow_and_update() {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return true;
                }
            }
        };
        tokio::time::timeout(max, released).await.unwrap_or(false)
    }

    fn set_held(&self, terminal: TerminalId, held: bool) {
        let mut map = match self.held.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        if held {
            map.entry(terminal)
                .or_insert_with(|| watch::Sender::new(true))
                .send_replace(true);
        } else if let Some(tx) = map.remove(&terminal) {
            tx.send_replace(false);
        }
    }

    /// The `disconnect` test helper: closes the connection and holds the terminal's next
    /// handshake until [`LinkGateway::test_connect`]. The terminal is offline when this
    /// returns; it keeps running and holds its reports, like a real terminal would.
    pub async fn test_disconnect(&self, terminal: TerminalId) {
        self.set_held(terminal, true);
        self.presence
            .evict(
                terminal,
                close::TEST_DISCONNECT,
                "disconnected by a test helper",
            )
            .await;
    }

    /// The `connect` test helper: lets the terminal back in and waits (up to the test answer
    /// timeout) until it has reconnected.
    pub async fn test_connect(&self, terminal: TerminalId) -> Result<(), HelperError> {
        self.set_held(terminal, false);
        let waited = tokio::time::timeout(
            self.config.test_answer_timeout,
            self.presence.wait_connected(terminal),
        )
        .await;
        waited.map_err(|_| HelperError::NoAnswer)
    }

    /// Sends a test action to a connected simulated terminal and waits for its answer.
    pub async fn test_action(
        &self,
        terminal: TerminalId,
        action: TestAction,
        card: Option<TestCard>,
    ) -> Result<Option<HelperTarget>, HelperError> {
        let (tx, rx) = oneshot::channel();
        self.presence
            .send(
                terminal,
                Command::Test {
                    action,
                    card,
                    reply: tx,
                },
            )
            .await
            .map_err(|_| HelperError::Offline)?;
        let done: TestDone = tokio::time::timeout(self.config.test_answer_timeout, rx)
            .await
            .map_err(|_| HelperError::NoAnswer)?
            .map_err(|_| HelperError::Offline)?;
        Ok(match (done.applied_to, done.interaction) {
            (AppliedTo::Current, Some(id)) => Some(HelperTarget::Current(id)),
            (AppliedTo::Next, _) => Some(HelperTarget::Next),
            _ => None,
        })
    }

    /// A cardholder action for a link-connected simulated terminal.
    pub async fn test_cardholder(
        &self,
        terminal: TerminalId,
        action: CardholderAction,
    ) -> Result<Option<HelperTarget>, HelperError> {
        let (action, card) = match action {
            CardholderAction::PresentCard(card) => (TestAction::PresentCard, Some(card)),
            CardholderAction::PressCancel => (TestAction::PressCancel, None),
            CardholderAction::WalkAway => (TestAction::Timeout, None),
            CardholderAction::Hold => (TestAction::Hold, None),
        };
        self.test_action(terminal, action, card).await
    }
}

#[async_trait]
impl TerminalLink for LinkGateway {
    async fn start(&self, terminal: &Terminal, interaction: &Interaction) -> Result<(), LinkError> {
        self.presence
            .send(terminal.id, Command::Start(Job::from(interaction)))
            .await
    }

    async fn cancel(
        &self,
        terminal: &Terminal,
        interaction: InteractionId,
    ) -> Result<(), LinkError> {
        self.presence
            .send(terminal.id, Command::Cancel(interaction))
            .await
    }

    async fn credentials_revoked(&self, terminal: &Terminal) {
        self.set_held(terminal.id, false);
        self.presence
            .evict(terminal.id, close::REVOKED, "device credentials revoked")
            .await;
    }
}
