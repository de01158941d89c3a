//! The file-descriptor budget: how many connections the API listener may hold so that the
//! process never runs out of descriptors for what keeps it healthy — the database, webhook
//! deliveries, accepting (and answering or closing) one more connection, the health probes.
//!
//! At start-up the soft `RLIMIT_NOFILE` is raised to the hard limit (through the `rlimit`
//! crate, no `unsafe` here). Then
//!
//! ```text
//! reserved        = 256 + database connections × 3 + webhooks.max_concurrency
//! for connections = nofile − reserved
//! overflow lane   = min(256, for connections / 8)
//! max_connections = min(connections.max_connections, for connections − overflow lane)
//! ```
//!
//! A configured `max_connections` the descriptors cannot carry is lowered, with a warning.

use crate::config::Config;
use poigate_http::connections::ConnectionLimits;
use std::time::Duration;

/// Descriptors kept for everything but the API's connections, beyond the database's and
/// the webhook worker's own: the runtime, logs, the data-directory lock, the terminal-link
/// bookkeeping, a metrics listener, DNS lookups.
const BASE_RESERVE: u64 = 256;

/// Raises the soft open-files limit to the hard one; the limit in force afterwards.
pub fn raise_nofile_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-files limit");
            None
        }
    }
}

/// The connection limits of `config` within a budget of `nofile` descriptors (`None`: no
/// known limit, the configuration as it is).
pub fn connection_limits(config: &Config, nofile: Option<u64>) -> ConnectionLimits {
    let settings = &config.connections;
    let configured = ConnectionLimits {
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_seconds),
        idle_timeout: Duration::from_secs(settings.idle_timeout_seconds),
        max_connections: settings.max_connections,
        overflow_connections: 256,
    };
    let Some(nofile) = nofile else {
        return configured;
    };
    let database = match config.database.url {
        Some(_) => config.database.pool_size as u64 + 4,
        None => (config.database.read_connections as u64 + 1) * 3,
    };
    let reserved = BASE_RESERVE + database + config.webhooks.max_concurrency as u64;
    let for_connections = nofile.saturating_sub(reserved).max(32);
    let overflow = (for_connections / 8).min(256);
    let fits = usize::try_from(for_connections - overflow).unwrap_or(usize::MAX);
    if fits < configured.max_connections {
        tracing::warn!(
            configured = configured.max_connections,
            max_connections = fits,
            open_files_limit = nofile,
            "connections.max_connections lowered to what the open-files limit can carry"
        );
    }
    ConnectionLimits {
        max_connections: configured.max_connections.min(fits).max(1),
        overflow_connections: usize::try_from(overflow).unwrap_or(256),
        ..configured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_headroom_under_the_open_files_limit() {
        let config = Config::default();
        // Plenty of descriptors: the configuration stands.
        let roomy = connection_limits(&config, Some(1_048_576));
        assert_eq!(roomy.max_connections, 10_000);
        assert_eq!(roomy.overflow_connections, 256);
        // 4,096 descriptors: connections and the overflow lane fit under it, with the
        // reserve for the database and the webhook worker left over.
        let tight = connection_limits(&config, Some(4_096));
        let used = tight.max_connections + tight.overflow_connections;
        assert!(used < 4_096 - 256 - 64, "{tight:?}");
        assert!(tight.max_connections > 3_000, "{tight:?}");
        // Absurdly low: still serves a few.
        let tiny = connection_limits(&config, Some(100));
        assert!(tiny.max_connections >= 1 && tiny.overflow_connections >= 1);
        assert_eq!(tiny.header_read_timeout, Duration::from_secs(10));
    }
}
