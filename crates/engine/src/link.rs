//! The engine's view of terminals: how it sends them work ([`TerminalLink`]) and what they
//! report back ([`TerminalReport`]).
//!
//! The in-process simulator and the WebSocket link both implement [`TerminalLink`]; both
//! report through [`crate::Devices::report`] and [`crate::Devices::terminal_connected`]. The
//! engine never knows which one is on the other side.

use async_trait::async_trait;
use poigate_domain::{Interaction, InteractionId, Terminal, TerminalOutcome};

/// Why the link could not pass a command on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    #[error("terminal is not connected")]
    NotConnected,
    #[error("link failure: {0}")]
    Failed(String),
}

/// Sends commands to terminals.
#[async_trait]
pub trait TerminalLink: Send + Sync + 'static {
    /// Hands a start request to the terminal. `Ok` means sent, not acknowledged: the
    /// acknowledgement arrives later as a [`ReportKind::Acknowledged`] report.
    async fn start(&self, terminal: &Terminal, interaction: &Interaction) -> Result<(), LinkError>;

    /// Asks the terminal to abort an interaction. The terminal answers with a result
    /// (cancelled) or [`ReportKind::CancelTooLate`].
    async fn cancel(
        &self,
        terminal: &Terminal,
        interaction: InteractionId,
    ) -> Result<(), LinkError>;

    /// After a gateway restart: the terminal acknowledged `interaction` before the restart
    /// and has not reported its outcome yet. A real terminal reports on reconnect by itself;
    /// a simulated one needs to be told to carry on.
    async fn resume(&self, _terminal: &Terminal, _interaction: &Interaction) {}

    /// A terminal was registered or loaded at start-up.
    async fn terminal_added(&self, _terminal: &Terminal) {}

    /// The terminal's device credentials were revoked or replaced (re-paired): close its
    /// live connection, which was authenticated with a key that is no longer valid.
    async fn credentials_revoked(&self, _terminal: &Terminal) {}
}

/// One report from a terminal about one interaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalReport {
    pub interaction_id: InteractionId,
    /// Increases by one with every report the terminal sends for this interaction (across
    /// reconnects), so a re-sent report is recognised and stored once.
    pub terminal_seq: u64,
    pub kind: ReportKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportKind {
    Acknowledged,
    Stage { message: String },
    Result(Box<TerminalOutcome>),
    CancelTooLate,
}

/// What became of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Stored (durably) and applied.
    Applied,
    /// Seen before (same or lower `terminal_seq`); nothing changed.
    Duplicate,
    /// The interaction is already final; nothing changed.
    AlreadyFinal,
}

/// The link of a process that runs no terminals (the admin commands working on a data
/// directory): every command is refused as "not connected".
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTerminals;

#[async_trait]
impl TerminalLink for NoTerminals {
    async fn start(
        &self,
        _terminal: &Terminal,
        _interaction: &Interaction,
    ) -> Result<(), LinkError> {
        Err(LinkError::NotConnected)
    }

    async fn cancel(
        &self,
        _terminal: &Terminal,
        _interaction: InteractionId,
    ) -> Result<(), LinkError> {
        Err(LinkError::NotConnected)
    }
}
