//! The processor: who carries out captures, voids and referenced refunds with the acquirer.
//! A simulated one runs in-process today; a real acquirer connection implements the same
//! trait later.

use async_trait::async_trait;
use poigate_domain::{Operation, Transaction};

/// The processor's answer to an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessorAnswer {
    pub approved: bool,
    /// The processor's reference for the operation.
    pub reference: String,
    /// Why it was declined.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessorError {
    #[error("processor unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Processor: Send + Sync + 'static {
    /// Carries out `operation` on `transaction`. Must be idempotent by operation id: after a
    /// crash the same operation is sent again, and must not move money twice.
    async fn execute(
        &self,
        transaction: &Transaction,
        operation: &Operation,
    ) -> Result<ProcessorAnswer, ProcessorError>;
}

/// The processor of a process that carries out no money operations (the admin commands
/// working on a data directory): every operation is answered "unavailable", and stays
/// pending for the gateway, which sends it again when it starts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProcessor;

#[async_trait]
impl Processor for NoProcessor {
    async fn execute(
        &self,
        _transaction: &Transaction,
        _operation: &Operation,
    ) -> Result<ProcessorAnswer, ProcessorError> {
        Err(ProcessorError::Unavailable(
            "this process carries out no money operations".into(),
        ))
    }
}
