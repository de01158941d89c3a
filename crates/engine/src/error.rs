//! The engine's error type: one per layer, mapped once to HTTP at the edge.

use poigate_domain::{DomainError, InteractionId, ValidationErrors};
use poigate_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no terminal `{0}` for this merchant")]
    TerminalNotFound(String),
    #[error("invalid request: {0}")]
    Validation(ValidationErrors),
    #[error("terminal is busy with {blocking}")]
    TerminalBusy { blocking: InteractionId },
    #[error("terminal is offline")]
    TerminalOffline,
    #[error("this idempotency key was used with a different request")]
    IdempotencyMismatch,
    #[error("a request with this idempotency key is still being processed")]
    IdempotencyInProgress,
    #[error("{0} already exists")]
    Duplicate(&'static str),
    #[error("the interaction belongs to another terminal")]
    WrongTerminal,
    #[error("unknown interaction")]
    UnknownInteraction,
    #[error("report refused: {0}")]
    InvalidReport(String),
    /// The state machine refused an input in the interaction's current state (a report or a
    /// timer that does not fit, e.g. `cancel_too_late` when no cancel was asked for).
    #[error("refused by the state machine: {0}")]
    Transition(DomainError),
    /// A report's `terminal_seq` is neither a re-send (at most the last applied) nor the next
    /// one: reports of an interaction are numbered 1, 2, 3 … without gaps.
    #[error("report out of sequence: expected seq {expected}")]
    WrongSeq { expected: u64 },
    /// A pairing code that is unknown, expired, used, revoked or for another serial number
    /// (deliberately indistinguishable).
    #[error("invalid pairing code")]
    InvalidPairingCode,
    #[error("the operation is not allowed: {0}")]
    NotAllowed(&'static str),
    /// A live key asked for a simulated terminal: live keys move real money and never
    /// drive simulated terminals (test keys do).
    #[error("a live API key cannot use a simulated terminal")]
    LivemodeMismatch,
    #[error("{0}")]
    MoneyRule(poigate_domain::MoneyRuleError),
    #[error("storage: {0}")]
    Store(StoreError),
    /// The operating system could not give random bytes (for a secret, a key, a code). Not a
    /// storage problem: nothing was read or written.
    #[error("no randomness available: {0}")]
    Randomness(String),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TerminalBusy { blocking } => EngineError::TerminalBusy { blocking },
            StoreError::Duplicate(what) => EngineError::Duplicate(what),
            // A transaction that kept changing under a request answers as it always did (a
            // conflict the client may retry); an interaction's conflict is retried inside the
            // engine and only escapes as a storage failure.
            StoreError::VersionConflict {
                entity: "transaction",
                ..
            } => EngineError::Duplicate("a concurrent change of this transaction"),
            other => EngineError::Store(other),
        }
    }
}

impl From<DomainError> for EngineError {
    fn from(e: DomainError) -> Self {
        match e {
            // Card data only comes in a terminal's report: the report itself is at fault.
            DomainError::InvalidCardData(_) | DomainError::InvalidTip(_) => {
                EngineError::InvalidReport(e.to_string())
            }
            DomainError::AlreadyFinal(_) | DomainError::Unexpected { .. } => {
                EngineError::Transition(e)
            }
        }
    }
}

impl From<getrandom::Error> for EngineError {
    fn from(e: getrandom::Error) -> Self {
        EngineError::Randomness(e.to_string())
    }
}

impl From<ValidationErrors> for EngineError {
    fn from(e: ValidationErrors) -> Self {
        EngineError::Validation(e)
    }
}
