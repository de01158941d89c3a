//! [`Terminals`]: the engine's one [`TerminalLink`], routing each terminal's commands by how
//! it is connected — in-process simulated terminals to the [`SimulatedLink`], everything
//! else over the WebSocket link — and the test helpers the same way.
//!
//! A simulated terminal run by `poigate terminal-sim` is still a simulated terminal: its
//! test helpers travel over the link as `test` frames (cardholder actions, freeze), and its
//! `disconnect` really closes the socket and holds the next handshake until `connect`.

use crate::gateway::{HelperError, LinkGateway};
use crate::protocol::TestAction;
use async_trait::async_trait;
use poigate_domain::{Interaction, InteractionId, Terminal, TerminalConnection, TerminalKind};
use poigate_engine::{LinkError, TerminalLink};
use poigate_terminal::{CardholderAction, HelperTarget, SimulatedLink};
use std::sync::Arc;

/// A test-helper action on a simulated terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperAction {
    Cardholder(CardholderAction),
    Disconnect,
    Connect,
    Freeze,
    Unfreeze,
}

/// All terminals of one gateway, wherever they run.
pub struct Terminals {
    simulator: Arc<SimulatedLink>,
    gateway: Arc<LinkGateway>,
}

impl Terminals {
    pub fn new(simulator: Arc<SimulatedLink>, gateway: Arc<LinkGateway>) -> Terminals {
        Terminals { simulator, gateway }
    }

    pub fn simulator(&self) -> &Arc<SimulatedLink> {
        &self.simulator
    }

    pub fn gateway(&self) -> &Arc<LinkGateway> {
        &self.gateway
    }

    fn link_for(&self, terminal: &Terminal) -> &dyn TerminalLink {
        match terminal.connection {
            TerminalConnection::InProcess => self.simulator.as_ref(),
            TerminalConnection::Link => self.gateway.as_ref(),
        }
    }

    /// Drives a simulated terminal as a test helper would. `Ok(None)` for actions on the
    /// terminal itself (connection, freeze).
    pub async fn helper(
        &self,
        terminal: &Terminal,
        action: HelperAction,
    ) -> Result<Option<HelperTarget>, HelperError> {
        if terminal.kind != TerminalKind::Simulated {
            return Err(HelperError::NotSimulated);
        }
        match terminal.connection {
            TerminalConnection::InProcess => self.in_process(terminal, action).await,
            TerminalConnection::Link => self.over_link(terminal, action).await,
        }
    }

    async fn in_process(
        &self,
        terminal: &Terminal,
        action: HelperAction,
    ) -> Result<Option<HelperTarget>, HelperError> {
        let sim = &self.simulator;
        let id = terminal.id;
        let done = match action {
            HelperAction::Cardholder(a) => return sim.act(id, a).map(Some).map_err(not_simulated),
            HelperAction::Disconnect => sim.disconnect(id).await,
            HelperAction::Connect => sim.connect(id).await,
            HelperAction::Freeze => sim.freeze(id),
            HelperAction::Unfreeze => sim.unfreeze(id),
        };
        done.map(|()| None).map_err(not_simulated)
    }

    async fn over_link(
        &self,
        terminal: &Terminal,
        action: HelperAction,
    ) -> Result<Option<HelperTarget>, HelperError> {
        let gw = &self.gateway;
        let id = terminal.id;
        match action {
            HelperAction::Cardholder(a) => gw.test_cardholder(id, a).await,
            HelperAction::Disconnect => {
                gw.test_disconnect(id).await;
                Ok(None)
            }
            HelperAction::Connect => gw.test_connect(id).await.map(|()| None),
            HelperAction::Freeze => gw.test_action(id, TestAction::Freeze, None).await,
            HelperAction::Unfreeze => gw.test_action(id, TestAction::Unfreeze, None).await,
        }
    }
}

fn not_simulated(_: poigate_terminal::SimError) -> HelperError {
    HelperError::NotSimulated
}

#[async_trait]
impl TerminalLink for Terminals {
    async fn start(&self, terminal: &Terminal, interaction: &Interaction) -> Result<(), LinkError> {
        self.link_for(terminal).start(terminal, interaction).await
    }

    async fn cancel(
        &self,
        terminal: &Terminal,
        interaction: InteractionId,
    ) -> Result<(), LinkError> {
        self.link_for(terminal).cancel(terminal, interaction).await
    }

    async fn resume(&self, terminal: &Terminal, interaction: &Interaction) {
        self.link_for(terminal).resume(terminal, interaction).await
    }

    async fn terminal_added(&self, terminal: &Terminal) {
        self.link_for(terminal).terminal_added(terminal).await
    }

    async fn credentials_revoked(&self, terminal: &Terminal) {
        self.link_for(terminal).credentials_revoked(terminal).await
    }
}
