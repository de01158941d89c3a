//! # poigate-terminal
//!
//! Terminals as seen from the gateway side. Today: the simulated terminal, which behaves like
//! a card terminal with a cardholder in front of it (stage messages, card reading, amount
//! test triggers, cancel button, timeouts, connection drops), behind the engine's
//! [`TerminalLink`](poigate_engine::TerminalLink). The WebSocket link for real devices will
//! implement the same trait.
//!
//! **Owns:** what a terminal does between "start" and "result": the script, its timing
//! (scaled by a speed factor), the test-trigger table, the test cards.
//!
//! **Must not know about:** HTTP, storage, the state machine's rules (it reports; the engine
//! decides what a report means).

pub mod simulator;

pub use simulator::{
    CardholderAction, HelperTarget, SimError, SimulatedLink, SimulatorConfig, TestCard,
    TestCardOutcome, amount_trigger,
};
