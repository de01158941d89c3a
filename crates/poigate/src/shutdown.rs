//! The signals that stop `poigate serve`: SIGTERM (systemd, container runtimes, Kubernetes)
//! and SIGINT (Ctrl-C). The first starts a graceful drain; a second one during the drain
//! exits at once.

/// Which signal arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Terminate,
    Interrupt,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Terminate => "SIGTERM",
            Stop::Interrupt => "SIGINT",
        }
    }

    /// The exit status of a process ended by this signal, as shells report it (128 + the
    /// signal number): 143 for SIGTERM, 130 for SIGINT.
    pub fn exit_code(self) -> i32 {
        match self {
            Stop::Terminate => 128 + 15,
            Stop::Interrupt => 128 + 2,
        }
    }
}

/// Both signals, installed once (so none is missed between two waits).
pub struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Takes over SIGTERM and SIGINT from now on.
    pub fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use anyhow::Context;
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
                interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// The next signal.
    pub async fn next(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => Stop::Terminate,
                _ = self.interrupt.recv() => Stop::Interrupt,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        }
    }
}
