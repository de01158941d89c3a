//! Engine calls the dialects share: the interaction a terminal is busy with (providers that
//! cancel "whatever runs on this device"), and a bounded wait for the final state
//! (providers with synchronous endpoints).

use poigate_domain::{Interaction, InteractionId, Transaction};
use poigate_engine::{Caller, Engine, EngineError};
use std::time::Duration;

/// The live interaction on the caller's terminal `reference` (id, POIID or serial number),
/// if there is one.
pub(crate) async fn active_interaction(
    engine: &Engine,
    caller: &Caller,
    reference: &str,
) -> Result<Option<InteractionId>, EngineError> {
    let view = engine
        .admin()
        .find_terminal_for(caller, reference)
        .await
        .map_err(|e| match e {
            EngineError::NotFound(_) => EngineError::TerminalNotFound(reference.to_string()),
            other => other,
        })?;
    Ok(view.live.and_then(|l| l.active))
}

/// Long-polls until the interaction is final or `bound` has passed (on the engine's clock),
/// or the gateway drains, and returns its state then (the caller renders a state that is
/// not final as its provider's own "still in progress" answer). The engine caps a single wait; this repeats it, because
/// providers' synchronous calls wait longer (Cybersource 180 s, NMI 5 minutes).
pub(crate) async fn wait_final(
    engine: &Engine,
    caller: &Caller,
    id: InteractionId,
    bound: Duration,
) -> Result<Interaction, EngineError> {
    tracing::debug!(interaction = %id, "synchronous wait parked");
    let bound_ms = i64::try_from(bound.as_millis()).unwrap_or(i64::MAX);
    let deadline = engine.now().plus_millis(bound_ms);
    loop {
        let now = engine.now();
        let left = u64::try_from(deadline.millis_since(now)).unwrap_or(0);
        let interaction = engine
            .interactions()
            .wait(caller, id, None, Duration::from_millis(left))
            .await?;
        if interaction.is_final() || engine.now() >= deadline || left == 0 || engine.is_draining() {
            return Ok(interaction);
        }
    }
}

/// The transaction of an interaction, if its card decision created one.
pub(crate) async fn transaction_of(
    engine: &Engine,
    caller: &Caller,
    interaction: &Interaction,
) -> Result<Option<Transaction>, EngineError> {
    match interaction.transaction_id {
        Some(id) => Ok(Some(engine.transactions().transaction(caller, id).await?)),
        None => Ok(None),
    }
}
