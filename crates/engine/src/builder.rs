//! Building an engine: every port is given up front, so a missing one is a compile error.
//!
//! The engine used to be created bare and have its link, processor, SSRF guard and token key
//! attached afterwards through setters that had to be called "before start", and shutdown had
//! to break the engine ↔ link reference cycle by hand. Now [`Ports`] is a plain struct with
//! every field required, and the link is made *from* the engine being built (it receives a
//! [`WeakEngine`]), so the link can report to the engine without keeping it alive.

use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::coordinator::Coordinator;
use crate::engine::{Engine, WeakEngine};
use crate::link::TerminalLink;
use crate::processor::Processor;
use crate::tokens::TokenKey;
use crate::webhooks::TargetGuard;
use poigate_store::Store;
use std::sync::Arc;

/// Everything outside the engine that the engine talks to, except the terminal link (which
/// is made from the engine: see [`EngineBuilder::build`]).
pub struct Ports {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Time, injected so tests drive timers.
    pub clock: Arc<dyn Clock>,
    /// Cross-request and cross-node facts (one process: [`crate::LocalCoordinator`]).
    pub coordinator: Arc<dyn Coordinator>,
    /// Executes captures, voids and refunds.
    pub processor: Arc<dyn Processor>,
    /// Decides which webhook URLs may be called (the SSRF guard).
    pub target_guard: Arc<dyn TargetGuard>,
    /// Signs and checks access tokens ([`TokenKey::load_or_create`]).
    pub token_key: TokenKey,
}

/// Builds an [`Engine`] from its [`Ports`] and configuration.
pub struct EngineBuilder {
    ports: Ports,
    config: EngineConfig,
}

impl EngineBuilder {
    pub fn new(ports: Ports, config: EngineConfig) -> EngineBuilder {
        EngineBuilder { ports, config }
    }

    /// Builds the engine with the terminal link `make_link` makes from a weak handle of it,
    /// and returns both. Call [`Engine::start`] before serving requests.
    pub fn build<L: TerminalLink>(
        self,
        make_link: impl FnOnce(WeakEngine) -> Arc<L>,
    ) -> (Engine, Arc<L>) {
        Engine::assemble(self.ports, self.config, make_link)
    }
}
