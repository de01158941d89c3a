//! The engine's Prometheus metrics (names in docs/operations.md), through the `metrics`
//! facade: without an installed recorder every call here is a no-op, so the engine never
//! depends on whether or how metrics are exported.
//!
//! Interactions are counted by the *origin* that created them: `native` or the name of
//! the provider dialect whose route called [`Interactions::create`](crate::Interactions).
//! The HTTP edge says which with [`with_origin`] around a dialect's requests; the engine
//! cannot see HTTP, and an interaction does not store it (it is an operational fact, not a
//! payment one), so a completion counted after a restart says `unknown`.

use crate::registry::Registry;
use poigate_domain::{Interaction, TerminalId};
use std::future::Future;

tokio::task_local! {
    static ORIGIN: &'static str;
    static IN_STREAM: ();
}

/// Runs `future` (an SSE stream's wait for its next event) without counting its waits as
/// parked long-polls: open streams have their own gauge, `poigate_sse_streams`.
pub async fn in_stream<F: Future>(future: F) -> F::Output {
    IN_STREAM.scope((), future).await
}

/// Runs `future` with `origin` (a dialect name) as the origin of the interactions it creates.
pub async fn with_origin<F: Future>(origin: &'static str, future: F) -> F::Output {
    ORIGIN.scope(origin, future).await
}

/// The origin of the current request: the dialect set by [`with_origin`], else `native`.
pub(crate) fn current_origin() -> &'static str {
    ORIGIN.try_with(|o| *o).unwrap_or("native")
}

/// A new interaction was made durable.
pub(crate) fn interaction_created(interaction: &Interaction, origin: &'static str) {
    metrics::counter!(
        "poigate_interactions_created_total",
        "type" => interaction.kind.as_str(),
        "dialect" => origin,
    )
    .increment(1);
}

/// An interaction reached its final state: counted by type, outcome and origin, with the
/// time from creation to that state.
pub(crate) fn interaction_completed(interaction: &Interaction, origin: &'static str) {
    let outcome = interaction.status.as_str();
    metrics::counter!(
        "poigate_interactions_completed_total",
        "type" => interaction.kind.as_str(),
        "outcome" => outcome,
        "dialect" => origin,
    )
    .increment(1);
    let end = interaction.completed_at.unwrap_or(interaction.updated_at);
    let millis = end.millis_since(interaction.created_at).max(0);
    metrics::histogram!(
        "poigate_interaction_time_to_final_seconds",
        "type" => interaction.kind.as_str(),
        "outcome" => outcome,
    )
    .record(millis as f64 / 1000.0);
}

/// The safety deadline of a live interaction passed without a result (design 2.5): the
/// terminal or its link is stuck, and the merchant is waiting.
pub(crate) fn interaction_overdue(interaction: &Interaction) {
    metrics::counter!(
        "poigate_interactions_overdue_total",
        "type" => interaction.kind.as_str(),
    )
    .increment(1);
}

/// Sets `poigate_terminals{status}` from this node's registry and the coordinator's presence.
pub(crate) fn record_terminals(registry: &Registry, connected: impl Fn(TerminalId) -> bool) {
    let (mut online, mut busy, mut offline) = (0u64, 0u64, 0u64);
    for (id, active) in registry.activity() {
        match (connected(id), active) {
            (false, _) => offline += 1,
            (true, true) => busy += 1,
            (true, false) => online += 1,
        }
    }
    for (status, n) in [("online", online), ("busy", busy), ("offline", offline)] {
        metrics::gauge!("poigate_terminals", "status" => status).set(n as f64);
    }
}

/// Counts a parked long-poll (`poigate_long_polls_parked`) while it lives.
pub(crate) struct ParkedLongPoll(());

impl ParkedLongPoll {
    pub(crate) fn new() -> Option<ParkedLongPoll> {
        if IN_STREAM.try_with(|_| ()).is_ok() {
            return None;
        }
        metrics::gauge!("poigate_long_polls_parked").increment(1.0);
        Some(ParkedLongPoll(()))
    }
}

impl Drop for ParkedLongPoll {
    fn drop(&mut self) {
        metrics::gauge!("poigate_long_polls_parked").decrement(1.0);
    }
}
