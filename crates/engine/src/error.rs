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
    #[error("{0}")]
    MoneyRule(poigate_domain::MoneyRuleError),
    #[error("storage: {0}")]
    Store(StoreError),
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
        EngineError::InvalidReport(e.to_string())
    }
}

impl From<ValidationErrors> for EngineError {
    fn from(e: ValidationErrors) -> Self {
        EngineError::Validation(e)
    }
}
