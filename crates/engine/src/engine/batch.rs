//! Deciding a run of inputs to one interaction at once: each input decided on the state the
//! previous ones left — what deciding them one by one would give — and everything that
//! changed gathered into one write. Pure: no I/O, no clock (the caller passes `now`).

use crate::error::EngineError;
use crate::link::ReportOutcome;
use poigate_domain::webhook::interaction_messages;
use poigate_domain::{Input, Interaction, Timestamp, Transition, apply};
use poigate_store::TransitionWrite;

/// An input, with the terminal's `seq` when a terminal report carries it.
pub(super) type Step = (Input, Option<u64>);

/// What a run of inputs does to an interaction: decided in memory, written at once.
pub(super) struct Decision {
    pub outcomes: Vec<Result<ReportOutcome, EngineError>>,
    /// The state after the run.
    pub next: Interaction,
    /// The transitions that changed something, for their side effects after the commit.
    pub applied: Vec<Transition>,
    /// `None` when nothing is to be stored.
    pub write: Option<TransitionWrite>,
}

/// Decides `steps` on `current` in order, each on the state the previous ones left: what
/// [`Engine::transition`] would decide for each in turn, gathered into one write.
pub(super) fn decide(current: &Interaction, steps: &[Step], now: Timestamp) -> Decision {
    let mut state = current.clone();
    let mut outcomes = Vec::with_capacity(steps.len());
    let mut applied: Vec<Transition> = Vec::new();
    let mut events = Vec::new();
    let mut outbox = Vec::new();
    let mut transaction = None;
    for (input, terminal_seq) in steps {
        if state.is_final() {
            outcomes.push(Ok(ReportOutcome::AlreadyFinal));
            continue;
        }
        if let Some(seq) = *terminal_seq {
            if seq > 0 && seq <= state.last_terminal_seq {
                outcomes.push(Ok(ReportOutcome::Duplicate));
                continue;
            }
            if seq != state.last_terminal_seq + 1 {
                outcomes.push(Err(EngineError::WrongSeq {
                    expected: state.last_terminal_seq + 1,
                }));
                continue;
            }
        }
        let transition = match apply(&state, input.clone(), now) {
            Ok(t) => t,
            Err(e) => {
                // A terminal's report the state machine refuses is an invalid report; the
                // engine's own inputs (cancel, timers) keep the refusal as it is.
                outcomes.push(Err(match terminal_seq {
                    Some(_) => EngineError::InvalidReport(e.to_string()),
                    None => EngineError::from(e),
                }));
                continue;
            }
        };
        let mut next = transition.interaction.clone();
        if let Some(seq) = *terminal_seq {
            next.last_terminal_seq = seq;
        }
        outcomes.push(Ok(ReportOutcome::Applied));
        if next == state && transition.events.is_empty() {
            continue;
        }
        outbox.extend(interaction_messages(
            Some(&state),
            &next,
            transition.transaction.as_ref(),
            now,
        ));
        events.extend(transition.events.iter().cloned());
        if transition.transaction.is_some() {
            transaction = transition.transaction.clone();
        }
        state = next;
        applied.push(transition);
    }
    let write = (state != *current).then(|| TransitionWrite {
        interaction: state.clone(),
        expected_last_seq: current.last_seq,
        events,
        transaction,
        outbox,
    });
    Decision {
        outcomes,
        next: state,
        applied,
        write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::{InteractionType, fixtures};
    use proptest::prelude::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + ms)
    }

    fn acknowledged() -> Interaction {
        let created = fixtures::new_interaction(InteractionType::Sale, 100, "EUR", t(0));
        let mut acked = apply(&created, Input::TerminalAcknowledged, t(1))
            .expect("ack")
            .interaction;
        acked.last_terminal_seq = 1;
        acked
    }

    /// A report: a stage (or, for `true`, the result) with a terminal seq.
    fn step(is_result: bool, seq: u64) -> Step {
        let input = if is_result {
            fixtures::approved_result(t(0))
        } else {
            Input::TerminalStage {
                message: format!("stage {seq}"),
            }
        };
        (input, Some(seq))
    }

    fn outcome_names(outcomes: &[Result<ReportOutcome, EngineError>]) -> Vec<String> {
        outcomes
            .iter()
            .map(|o| match o {
                Ok(o) => format!("{o:?}"),
                Err(e) => e.to_string(),
            })
            .collect()
    }

    proptest! {
        /// Deciding a burst at once gives the outcomes, the state and the events that
        /// deciding (and storing) its reports one by one gives.
        #[test]
        fn a_burst_decides_like_its_reports_one_by_one(
            reports in proptest::collection::vec((proptest::bool::weighted(0.15), 0u64..9), 1..12)
        ) {
            let start = acknowledged();
            let steps: Vec<_> = reports.iter().map(|(r, s)| step(*r, *s)).collect();
            let together = decide(&start, &steps, t(5));

            let mut state = start.clone();
            let mut outcomes = Vec::new();
            let mut events = Vec::new();
            for s in &steps {
                let one = decide(&state, std::slice::from_ref(s), t(5));
                outcomes.extend(one.outcomes);
                if let Some(w) = one.write {
                    prop_assert_eq!(w.expected_last_seq, state.last_seq);
                    events.extend(w.events);
                }
                state = one.next;
            }
            prop_assert_eq!(outcome_names(&together.outcomes), outcome_names(&outcomes));
            prop_assert_eq!(&together.next, &state);
            let write_events = together.write.as_ref().map(|w| w.events.clone()).unwrap_or_default();
            prop_assert_eq!(write_events, events);
            prop_assert_eq!(together.write.is_some(), state != start);
            if let Some(w) = &together.write {
                prop_assert_eq!(w.expected_last_seq, start.last_seq);
                prop_assert_eq!(&w.interaction, &state);
                prop_assert_eq!(w.transaction.is_some(), state.transaction_id.is_some());
            }
        }
    }
}
