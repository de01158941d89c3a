//! Configuration: defaults, then an optional TOML file, then `POIGATE_*` environment
//! variables and command-line flags (clap reads both), each overriding the one before.

use anyhow::Context;
use poigate_engine::EngineConfig;
pub use poigate_http::limits::{Rate, RateLimitConfig};
use poigate_store_sqlite::Synchronous;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything `poigate serve` needs; the administration commands (`keys`, `terminals`,
/// `settle`) read the same, so they open the same database the same way.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// Directory of the database (`poigate.db`) and the demo key file.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub simulator: SimulatorSettings,
    pub engine: EngineSettings,
    pub webhooks: WebhookSettings,
    pub settlement: SettlementSettings,
    pub link: LinkSettings,
    /// Timeouts and the connection limit of the API listener.
    pub connections: ConnectionSettings,
    /// Rate limits on refused credentials, pairing codes and requests per API key.
    pub rate_limits: RateLimitConfig,
    /// Create the demo merchant, key and terminals at start-up.
    pub demo: bool,
    /// Where the demo's simulated terminals run: `in_process` (default) or `link` (as
    /// terminal-link clients of this gateway, over a real WebSocket).
    pub demo_terminals: DemoTerminals,
    /// `tracing` filter, e.g. `info` or `poigate=debug,tower_http=info`.
    pub log: String,
    /// This node's name in a cluster (PostgreSQL); generated and logged when unset.
    pub node_id: Option<String>,
    /// Longest graceful drain on SIGTERM or SIGINT, in seconds: parked long-polls, event
    /// streams and synchronous provider calls are answered at once, terminals are told to
    /// reconnect, webhook attempts in flight get this long to finish.
    pub shutdown_timeout_seconds: u64,
    /// `text` (default, for people) or `json` (one object a line, for log pipelines).
    pub log_format: LogFormat,
    /// Address of the Prometheus `/metrics` listener, apart from the API so that it can stay
    /// on a private interface. Off unless set (`serve --demo` uses 127.0.0.1:9464).
    pub metrics_listen: Option<SocketAddr>,
    /// HTTPS for the API listener (plain HTTP unless set; see `crate::tls`).
    pub tls: TlsSettings,
}

/// `[tls]`: a certificate chain and its key (PEM files), or a self-signed certificate for
/// development, kept in `<data_dir>/tls/self-signed-cert.pem` for clients to trust.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain (the server's certificate first).
    pub cert: Option<PathBuf>,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Make (once) and serve a self-signed certificate for localhost.
    pub self_signed: bool,
}

impl TlsSettings {
    /// Whether the listener serves HTTPS.
    pub fn enabled(&self) -> bool {
        self.self_signed || self.cert.is_some() || self.key.is_some()
    }
}

/// How log lines are written (to standard error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".into()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// PostgreSQL URL (`postgres://user:password@host:5432/poigate`): several gateway nodes
    /// share it. Unset (the default): SQLite in the data directory, one node.
    pub url: Option<String>,
    /// PostgreSQL: connections per node.
    pub pool_size: usize,
    /// SQLite: `full` (default: every commit survives power loss) or `normal`.
    pub synchronous: Synchronous,
    /// SQLite: read-only connections beside the single writer.
    pub read_connections: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorSettings {
    /// Multiplies the simulated terminals' delays: 1.0 is realistic, 0 is instant.
    pub speed: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Seconds a start may stay unacknowledged before it is cancelled as `not_delivered`.
    pub delivery_timeout_seconds: u64,
    /// Seconds after the card timeout before a live interaction is flagged `overdue`.
    pub overdue_grace_seconds: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettlementSettings {
    /// Daily cut-off in UTC, `HH:MM`, or `off`: transactions waiting for settlement that
    /// were captured before it become `complete`.
    pub cutoff: String,
}

impl Default for SettlementSettings {
    fn default() -> Self {
        SettlementSettings {
            cutoff: "23:00".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSettings {
    /// A link connection silent for this long (no frame, no pong) is closed and the terminal
    /// shown offline.
    pub heartbeat_timeout_seconds: u64,
    /// How long a terminal's pairing code can be exchanged for a device key.
    pub pairing_code_ttl_seconds: u64,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            heartbeat_timeout_seconds: 30,
            pairing_code_ttl_seconds: 600,
        }
    }
}

impl SettlementSettings {
    /// The cut-off as (hour, minute), `None` when off.
    pub fn cutoff_utc(&self) -> anyhow::Result<Option<(u8, u8)>> {
        if self.cutoff.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let parsed = self.cutoff.split_once(':').and_then(|(h, m)| {
            let (h, m) = (h.parse::<u8>().ok()?, m.parse::<u8>().ok()?);
            (h < 24 && m < 60 && self.cutoff.len() == 5).then_some((h, m))
        });
        parsed.map(Some).ok_or_else(|| {
            anyhow::anyhow!(
                "settlement.cutoff must be HH:MM (UTC) or off, not `{}`",
                self.cutoff
            )
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Allow webhook targets on private, loopback and link-local addresses (off by default:
    /// the SSRF guard). `serve --demo` turns it on so a local receiver works.
    pub allow_private_targets: bool,
    /// Delays before the 2nd, 3rd, … attempt, in seconds.
    pub retry_schedule_seconds: Vec<u64>,
    /// Upper bound for a target's `Retry-After`, in seconds.
    pub retry_after_max_seconds: u64,
    pub request_timeout_seconds: u64,
    pub max_concurrency: usize,
    pub max_per_endpoint: usize,
    /// How long a rotated-out secret keeps signing.
    pub secret_overlap_seconds: u64,
    /// How long a node's claim on a delivery it is sending lasts. On several nodes, a node
    /// that dies mid-delivery leaves its claims to expire: another node sends them after
    /// this long. Longer than `request_timeout_seconds`, so a live node's claim never
    /// expires while its request is still running (which would send it twice).
    pub lease_seconds: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private_targets: false,
            retry_schedule_seconds: poigate_domain::RetryPolicy::default().delays_seconds,
            retry_after_max_seconds: 36_000,
            request_timeout_seconds: 15,
            max_concurrency: 64,
            max_per_endpoint: 4,
            secret_overlap_seconds: 86_400,
            lease_seconds: 60,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSettings {
    /// Seconds a client has to send a request head (from connecting, or from the end of the
    /// previous response: also the keep-alive idle timeout).
    pub header_read_timeout_seconds: u64,
    /// Seconds without a byte either way after which a connection is closed.
    pub idle_timeout_seconds: u64,
    /// Connections served at once (lowered to what the open-files limit can carry).
    pub max_connections: usize,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_read_timeout_seconds: 10,
            idle_timeout_seconds: 120,
            max_connections: 10_000,
        }
    }
}

/// Where the demo's terminals run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemoTerminals {
    #[default]
    InProcess,
    Link,
}

impl std::str::FromStr for DemoTerminals {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in_process" | "in-process" => Ok(DemoTerminals::InProcess),
            "link" => Ok(DemoTerminals::Link),
            _ => Err("expected in-process or link".into()),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("poigate-data"),
            database: DatabaseConfig::default(),
            simulator: SimulatorSettings::default(),
            engine: EngineSettings::default(),
            webhooks: WebhookSettings::default(),
            settlement: SettlementSettings::default(),
            link: LinkSettings::default(),
            connections: ConnectionSettings::default(),
            rate_limits: RateLimitConfig::default(),
            demo: false,
            demo_terminals: DemoTerminals::InProcess,
            log: "info".into(),
            node_id: None,
            shutdown_timeout_seconds: 10,
            log_format: LogFormat::Text,
            metrics_listen: None,
            tls: TlsSettings::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            pool_size: 16,
            synchronous: Synchronous::Full,
            read_connections: 4,
        }
    }
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        SimulatorSettings { speed: 1.0 }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            delivery_timeout_seconds: 30,
            overdue_grace_seconds: 60,
        }
    }
}

impl Config {
    /// Reads a TOML file (unknown keys are errors, so typos do not pass silently).
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// [`Config::shutdown_timeout_seconds`] as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_seconds)
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("poigate.db")
    }

    /// The engine's settings, for the server and the administration commands alike (a
    /// pairing code issued by `terminals add --link` lives as long as one issued by the API).
    pub fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        Ok(EngineConfig {
            delivery_timeout: Duration::from_secs(self.engine.delivery_timeout_seconds),
            overdue_grace: Duration::from_secs(self.engine.overdue_grace_seconds),
            webhook_secret_overlap: Duration::from_secs(self.webhooks.secret_overlap_seconds),
            settlement_cutoff_utc: self.settlement.cutoff_utc()?,
            pairing_code_ttl: Duration::from_secs(self.link.pairing_code_ttl_seconds),
            ..EngineConfig::default()
        })
    }

    /// Checks values a file or flag may have set out of range.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            matches!(
                (&self.tls.cert, &self.tls.key, self.tls.self_signed),
                (Some(_), Some(_), false) | (None, None, _)
            ),
            "tls takes either cert and key (--tls-cert and --tls-key) or self_signed (--tls-self-signed), not both, not half"
        );
        anyhow::ensure!(
            !(self.tls.enabled() && self.demo && self.demo_terminals == DemoTerminals::Link),
            "demo_terminals = link is not available with TLS (the demo's link clients speak ws://): use in-process demo terminals"
        );
        anyhow::ensure!(
            self.simulator.speed.is_finite() && self.simulator.speed >= 0.0,
            "simulator.speed must be a number >= 0"
        );
        anyhow::ensure!(
            self.engine.delivery_timeout_seconds >= 1,
            "engine.delivery_timeout_seconds must be at least 1"
        );
        anyhow::ensure!(
            (1..=64).contains(&self.database.read_connections),
            "database.read_connections must be 1 to 64"
        );
        anyhow::ensure!(
            (2..=256).contains(&self.database.pool_size),
            "database.pool_size must be 2 to 256"
        );
        if let Some(url) = &self.database.url {
            anyhow::ensure!(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "database.url must be a PostgreSQL URL (postgres://user:password@host:5432/database)"
            );
        }
        if let Some(node) = &self.node_id {
            anyhow::ensure!(
                !node.is_empty()
                    && node.len() <= 63
                    && node
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
                "node_id must be 1 to 63 letters, digits, '-', '_' or '.'"
            );
        }
        self.settlement.cutoff_utc()?;
        anyhow::ensure!(
            self.metrics_listen
                .is_none_or(|m| m != self.listen || self.listen.port() == 0),
            "metrics_listen must differ from listen: metrics have a listener of their own"
        );
        anyhow::ensure!(
            self.webhooks.retry_schedule_seconds.len() <= 20,
            "webhooks.retry_schedule_seconds holds at most 20 delays"
        );
        anyhow::ensure!(
            (1..=120).contains(&self.webhooks.request_timeout_seconds),
            "webhooks.request_timeout_seconds must be 1 to 120"
        );
        anyhow::ensure!(
            self.webhooks.lease_seconds > self.webhooks.request_timeout_seconds
                && self.webhooks.lease_seconds <= 3600,
            "webhooks.lease_seconds must be longer than webhooks.request_timeout_seconds and at most 3600"
        );
        anyhow::ensure!(
            self.webhooks.max_concurrency >= 1 && self.webhooks.max_per_endpoint >= 1,
            "webhooks.max_concurrency and webhooks.max_per_endpoint must be at least 1"
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.link.heartbeat_timeout_seconds),
            "link.heartbeat_timeout_seconds must be 1 to 3600"
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.shutdown_timeout_seconds),
            "shutdown_timeout_seconds must be 1 to 3600"
        );
        anyhow::ensure!(
            (1..=300).contains(&self.connections.header_read_timeout_seconds),
            "connections.header_read_timeout_seconds must be 1 to 300"
        );
        anyhow::ensure!(
            self.connections.idle_timeout_seconds >= 65,
            "connections.idle_timeout_seconds must be at least 65 (a long-poll waits up to 60 s)"
        );
        anyhow::ensure!(
            self.connections.max_connections >= 1,
            "connections.max_connections must be at least 1"
        );
        anyhow::ensure!(
            (10..=7 * 24 * 3600).contains(&self.link.pairing_code_ttl_seconds),
            "link.pairing_code_ttl_seconds must be 10 to 604800"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_file_and_refuses_unknown_keys() {
        let text = r#"
            listen = "0.0.0.0:9000"
            data_dir = "/var/lib/poigate"
            demo = true
            demo_terminals = "link"
            log = "debug"
            shutdown_timeout_seconds = 25
            log_format = "json"
            metrics_listen = "127.0.0.1:9464"
            [database]
            synchronous = "normal"
            read_connections = 2
            [simulator]
            speed = 0.5
            [engine]
            delivery_timeout_seconds = 10
            overdue_grace_seconds = 30
            [link]
            heartbeat_timeout_seconds = 5
            pairing_code_ttl_seconds = 120
            [connections]
            header_read_timeout_seconds = 5
            max_connections = 2000
            [rate_limits]
            failed_auth_per_address = { burst = 5, per_minute = 10 }
            requests_per_key = { burst = 0, per_minute = 0 }
            client_address_header = "x-forwarded-for"
        "#;
        let c: Config = toml::from_str(text).expect("valid");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.database.synchronous, Synchronous::Normal);
        assert_eq!(c.simulator.speed, 0.5);
        assert_eq!(c.link.heartbeat_timeout_seconds, 5);
        assert_eq!(c.demo_terminals, DemoTerminals::Link);
        assert_eq!(c.shutdown_timeout(), Duration::from_secs(25));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.metrics_listen.map(|a| a.port()), Some(9464));
        assert_eq!(c.connections.header_read_timeout_seconds, 5);
        assert_eq!(c.connections.idle_timeout_seconds, 120);
        assert_eq!(c.rate_limits.failed_auth_per_address.burst, 5);
        assert_eq!(c.rate_limits.requests_per_key.per_minute, 0);
        assert_eq!(
            c.rate_limits.failed_auth_per_key_prefix,
            RateLimitConfig::default().failed_auth_per_key_prefix
        );
        assert!(c.validate().is_ok());
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
        assert!(toml::from_str::<Config>("log_format = \"xml\"").is_err());
        let same = Config {
            metrics_listen: Some(c.listen),
            ..c.clone()
        };
        assert!(same.validate().is_err());
    }

    #[test]
    fn a_webhook_lease_must_outlast_the_request() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.webhooks.lease_seconds = c.webhooks.request_timeout_seconds;
        let err = c.validate().expect_err("a lease as short as the request");
        assert!(err.to_string().contains("webhooks.lease_seconds"), "{err}");
        c.webhooks.lease_seconds = c.webhooks.request_timeout_seconds + 1;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn settlement_cutoff_parses() {
        let mut s = SettlementSettings::default();
        assert_eq!(s.cutoff_utc().expect("valid"), Some((23, 0)));
        s.cutoff = "off".into();
        assert_eq!(s.cutoff_utc().expect("valid"), None);
        for bad in ["24:00", "7:00", "12:60", "noon"] {
            s.cutoff = bad.into();
            assert!(s.cutoff_utc().is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_sane() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database.synchronous, Synchronous::Full);
        assert_eq!(c.link.heartbeat_timeout_seconds, 30);
        assert_eq!(c.link.pairing_code_ttl_seconds, 600);
        assert_eq!(c.shutdown_timeout_seconds, 10);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.metrics_listen, None);
        assert!(c.validate().is_ok());
    }
}
