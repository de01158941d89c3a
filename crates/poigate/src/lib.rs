//! # poigate (binary crate)
//!
//! Wires the pieces into a running gateway (store → engine → simulated terminals → HTTP)
//! and holds the command-line interface. Also a library, so the test kit can start the very
//! same server in-process.
//!
//! **Owns:** configuration (defaults, TOML file, `POIGATE_*` environment, flags), start-up
//! and graceful shutdown, the demo bootstrap, the CLI.
//!
//! **Must not know about:** business rules (engine) or wire shapes (api, http).

pub mod config;
pub mod database;
pub mod demo;
pub mod fd_budget;
pub mod metrics;
pub mod server;
pub mod tls;

pub use config::Config;
pub use server::{Drained, RunningServer, StartHooks, start, start_with_clock, start_with_hooks};
