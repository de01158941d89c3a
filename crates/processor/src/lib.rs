//! # poigate-processor
//!
//! A simulated processor behind the engine's [`Processor`] trait: it carries out captures,
//! voids and referenced refunds with realistic latency (scaled by a speed factor, like the
//! simulated terminals) and deterministic test triggers, so a real acquirer connection can
//! replace it later without touching the engine.
//!
//! **Owns:** the processor's answers and their timing. **Must not know about:** storage,
//! HTTP, the money rules (the engine checks them before asking).
//!
//! Test trigger: a refund whose amount (minor units) ends in `124` is declined
//! ("Refund declined: insufficient merchant balance").

use async_trait::async_trait;
use poigate_domain::{Operation, OperationKind, Transaction};
use poigate_engine::{Processor, ProcessorAnswer, ProcessorError};
use std::time::Duration;

/// Realistic latencies at speed 1.0, in milliseconds.
const CAPTURE_MS: u64 = 300;
const VOID_MS: u64 = 200;
const REFUND_MS: u64 = 800;

#[derive(Clone, Copy, Debug)]
pub struct SimulatedProcessor {
    /// Multiplies every latency: 1.0 realistic, 0 instant.
    pub speed: f64,
}

impl SimulatedProcessor {
    pub fn new(speed: f64) -> SimulatedProcessor {
        SimulatedProcessor { speed }
    }
}

/// The decline a refund amount triggers, if any.
pub fn refund_trigger(amount_minor: i64) -> Option<&'static str> {
    (amount_minor % 1000 == 124).then_some("Refund declined: insufficient merchant balance")
}

/// The decline an incremental authorisation amount triggers, if any (the same `…124` rule
/// as refunds: the card has no more room).
pub fn increment_trigger(amount_minor: i64) -> Option<&'static str> {
    (amount_minor % 1000 == 124).then_some("Incremental authorisation declined: insufficient funds")
}

#[async_trait]
impl Processor for SimulatedProcessor {
    async fn execute(
        &self,
        _transaction: &Transaction,
        operation: &Operation,
    ) -> Result<ProcessorAnswer, ProcessorError> {
        let ms = match operation.kind {
            OperationKind::Capture | OperationKind::Increment => CAPTURE_MS,
            OperationKind::Void => VOID_MS,
            OperationKind::Refund => REFUND_MS,
        };
        let wait = Duration::from_secs_f64(ms as f64 / 1000.0 * self.speed.max(0.0));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        // Deterministic per operation: a retry after a crash gets the same answer.
        let reference = format!("sim-{}", &operation.id.uuid().simple().to_string()[20..]);
        let declined = match operation.kind {
            OperationKind::Refund => refund_trigger(operation.amount.value()),
            OperationKind::Increment => increment_trigger(operation.amount.value()),
            OperationKind::Capture | OperationKind::Void => None,
        };
        Ok(ProcessorAnswer {
            approved: declined.is_none(),
            reference,
            reason: declined.map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_ending_in_124_are_declined() {
        assert!(refund_trigger(124).is_some());
        assert!(refund_trigger(10124).is_some());
        assert!(refund_trigger(1240).is_none());
        assert!(refund_trigger(100).is_none());
    }
}
