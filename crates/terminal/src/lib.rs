//! # poigate-terminal
//!
//! The simulated terminal, which behaves like a card terminal with a cardholder in front of
//! it (stage messages, card reading, amount test triggers, cancel button, timeouts,
//! connection drops). [`SimDevice`] is the terminal itself, independent of transport;
//! [`SimulatedLink`] runs devices in-process behind the engine's
//! [`TerminalLink`](poigate_engine::TerminalLink), and the terminal-link client
//! (`poigate-link`) runs the very same devices over the WebSocket protocol.
//!
//! **Owns:** what a terminal does between "start" and "result": the script, its timing
//! (scaled by a speed factor), the test-trigger table, the test cards.
//!
//! **Must not know about:** HTTP, WebSockets, storage, the state machine's rules (it reports;
//! the engine decides what a report means).

pub mod simulator;

pub use simulator::{
    CardholderAction, Delivered, HelperTarget, Job, NO_TIP_SUFFIX, Outgoing, ReportRefused,
    SimDevice, SimError, SimulatedLink, SimulatorConfig, TestCard, TestCardOutcome, amount_trigger,
    simulated_tip,
};
