//! The interaction state machine (design section 2) as one pure function.
//!
//! `apply(current, input, now)` returns the next state, the events to append and the side
//! effects the engine must carry out — or a [`DomainError`] and no change at all. The engine
//! persists the transition atomically and only then performs the effects.
//!
//! Rules enforced here, each covered by a property test:
//! - a final state never changes (every input on a final interaction is refused);
//! - events are numbered `last_seq + 1, + 2, …` without gaps;
//! - exactly one `completed` event, always the last;
//! - the gateway cancels on its own only what the terminal never acknowledged
//!   (`not_delivered`); after the acknowledgement only the terminal reports an outcome.

use crate::event::{Event, EventKind};
use crate::id::TransactionId;
use crate::interaction::{CancelReason, Interaction, Outcome, Status, TerminalOutcome};
use crate::receipt::ReceiptContext;
use crate::time::Timestamp;
use crate::transaction::Transaction;

/// Something that happened to an interaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The terminal acknowledged the start request.
    TerminalAcknowledged,
    /// The terminal reports a progress message.
    TerminalStage { message: String },
    /// The terminal reports the final result. `transaction_id` is the id the engine reserved
    /// for the transaction record a card decision creates.
    TerminalResult {
        outcome: Box<TerminalOutcome>,
        transaction_id: TransactionId,
        receipt_context: ReceiptContext,
    },
    /// The terminal answered a forwarded cancel: too late, the outcome follows.
    TerminalCancelTooLate,
    /// The terminal's connection state changed.
    TerminalConnection { connected: bool },
    /// A cancel request through the API.
    CancelRequested,
    /// The terminal did not acknowledge within the delivery timeout.
    DeliveryTimedOut,
    /// The safety deadline passed.
    DeadlinePassed,
}

impl Input {
    pub fn name(&self) -> &'static str {
        match self {
            Input::TerminalAcknowledged => "terminal_acknowledged",
            Input::TerminalStage { .. } => "terminal_stage",
            Input::TerminalResult { .. } => "terminal_result",
            Input::TerminalCancelTooLate => "terminal_cancel_too_late",
            Input::TerminalConnection { .. } => "terminal_connection",
            Input::CancelRequested => "cancel_requested",
            Input::DeliveryTimedOut => "delivery_timed_out",
            Input::DeadlinePassed => "deadline_passed",
        }
    }

    /// Whether the input comes from the terminal (and so proves the start was delivered).
    fn is_terminal_report(&self) -> bool {
        matches!(
            self,
            Input::TerminalAcknowledged
                | Input::TerminalStage { .. }
                | Input::TerminalResult { .. }
                | Input::TerminalCancelTooLate
        )
    }
}

/// Work the engine must do after the transition is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Tell the terminal to abort this interaction.
    ForwardCancelToTerminal,
    /// The interaction reached its final state (release the terminal, wake waiters).
    Completed,
}

/// The result of applying an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub interaction: Interaction,
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    /// The transaction record created by a card decision (approved or declined).
    pub transaction: Option<Transaction>,
}

impl Transition {
    /// True when nothing changed and nothing needs to be stored.
    pub fn is_noop(&self, before: &Interaction) -> bool {
        self.events.is_empty() && self.transaction.is_none() && &self.interaction == before
    }
}

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the interaction is already final ({0:?})")]
    AlreadyFinal(Status),
    #[error("`{input}` is not expected while the interaction is {state:?}")]
    Unexpected { state: Status, input: &'static str },
    #[error("invalid card data in terminal report: {0}")]
    InvalidCardData(String),
    #[error("invalid tip in terminal report: {0}")]
    InvalidTip(#[from] crate::interaction::TipError),
}

/// Applies `input` to `current` at time `now`.
pub fn apply(
    current: &Interaction,
    input: Input,
    now: Timestamp,
) -> Result<Transition, DomainError> {
    if current.is_final() {
        return Err(DomainError::AlreadyFinal(current.status));
    }
    let mut t = Builder::new(current, now);
    if current.status == Status::Pending && input.is_terminal_report() {
        // Any report from the terminal proves it received the start.
        t.acknowledge();
    }
    match input {
        Input::TerminalAcknowledged => {}
        Input::TerminalStage { message } => {
            if let Some(finding) = crate::card_data::scan(&message) {
                return Err(DomainError::InvalidCardData(crate::card_data::message(
                    "message", finding,
                )));
            }
            t.event(EventKind::Stage { message })
        }
        Input::TerminalResult {
            outcome,
            transaction_id,
            receipt_context,
        } => {
            if let Some((field, finding)) = outcome.card_data() {
                return Err(DomainError::InvalidCardData(crate::card_data::message(
                    field, finding,
                )));
            }
            let tip = outcome.checked_tip(current)?;
            let outcome = outcome.with_tip(tip);
            let transaction = if outcome.creates_transaction() {
                let txn = Transaction::from_terminal_outcome(
                    transaction_id,
                    &t.next,
                    &outcome,
                    &receipt_context,
                    now,
                )
                .map_err(|e| DomainError::InvalidCardData(e.to_string()))?;
                Some(txn)
            } else {
                None
            };
            t.complete(outcome.to_outcome(), transaction);
        }
        Input::TerminalCancelTooLate => {
            if !current.cancel_requested {
                return Err(DomainError::Unexpected {
                    state: current.status,
                    input: "terminal_cancel_too_late",
                });
            }
            t.event(EventKind::CancelTooLate);
        }
        Input::TerminalConnection { connected } => {
            if t.next.terminal_connected != connected {
                t.next.terminal_connected = connected;
                if t.next.status == Status::InProgress {
                    t.event(if connected {
                        EventKind::TerminalReconnected
                    } else {
                        EventKind::TerminalDisconnected
                    });
                } else {
                    t.next.updated_at = now;
                }
            }
        }
        Input::CancelRequested => match current.status {
            Status::Pending => {
                t.event(EventKind::CancelRequested);
                t.next.cancel_requested = true;
                t.effects.push(Effect::ForwardCancelToTerminal);
                t.complete(
                    Outcome::Cancelled {
                        reason: CancelReason::Api,
                    },
                    None,
                );
            }
            _ if current.cancel_requested => {}
            _ => {
                t.next.cancel_requested = true;
                t.event(EventKind::CancelRequested);
                t.effects.push(Effect::ForwardCancelToTerminal);
            }
        },
        Input::DeliveryTimedOut => {
            if current.status == Status::Pending {
                t.effects.push(Effect::ForwardCancelToTerminal);
                t.complete(
                    Outcome::Cancelled {
                        reason: CancelReason::NotDelivered,
                    },
                    None,
                );
            }
        }
        Input::DeadlinePassed => {
            if current.status == Status::InProgress && !current.overdue {
                t.next.overdue = true;
                t.event(EventKind::Overdue);
            }
        }
    }
    Ok(t.finish())
}

/// Accumulates one transition: numbers events, stamps times.
struct Builder {
    next: Interaction,
    events: Vec<Event>,
    effects: Vec<Effect>,
    transaction: Option<Transaction>,
    now: Timestamp,
}

impl Builder {
    fn new(current: &Interaction, now: Timestamp) -> Self {
        Builder {
            next: current.clone(),
            events: Vec::new(),
            effects: Vec::new(),
            transaction: None,
            now,
        }
    }

    fn event(&mut self, kind: EventKind) {
        self.next.last_seq += 1;
        self.next.updated_at = self.now;
        self.events.push(Event {
            interaction_id: self.next.id,
            seq: self.next.last_seq,
            status: self.next.status,
            created_at: self.now,
            kind,
        });
    }

    fn acknowledge(&mut self) {
        self.next.status = Status::InProgress;
        self.next.acknowledged_at = Some(self.now);
        self.event(EventKind::Acknowledged);
    }

    fn complete(&mut self, outcome: Outcome, transaction: Option<Transaction>) {
        self.next.status = outcome.status();
        self.next.outcome = Some(outcome.clone());
        self.next.completed_at = Some(self.now);
        self.next.transaction_id = transaction.as_ref().map(|t| t.id);
        self.event(EventKind::Completed {
            outcome,
            transaction_id: self.next.transaction_id,
        });
        self.transaction = transaction;
        self.effects.push(Effect::Completed);
    }

    fn finish(self) -> Transition {
        Transition {
            interaction: self.next,
            events: self.events,
            effects: self.effects,
            transaction: self.transaction,
        }
    }
}

#[cfg(test)]
mod tests;
