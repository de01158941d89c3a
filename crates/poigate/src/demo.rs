//! The demo bootstrap of `serve --demo`: a merchant, a test key and three simulated
//! terminals, created idempotently so that restarts keep the same ones. The terminals run
//! in-process (default) or as terminal-link clients of the same gateway
//! (`--demo-terminals link`), paired afresh at every start (the database keeps only the hash
//! of a device key, so the demo cannot reuse one).
//!
//! The demo key is the value of `POIGATE_DEMO_API_KEY` when set. Otherwise a random test key
//! is created once and kept in `<data_dir>/demo-api-key` (mode 0600), because the database
//! keeps only its hash and the demo must print it again after a restart. This file exists
//! only in demo mode and only for a test key, which can drive simulated terminals and
//! nothing else.

use crate::config::DemoTerminals;
use anyhow::Context;
use poigate_domain::{ApiKeyMode, MerchantId, Terminal, TerminalConnection, TerminalKind};
use poigate_engine::{Engine, EngineError};
use poigate_link::{ClientConfig, LinkClient};
use poigate_terminal::SimulatorConfig;
use std::path::Path;

pub const DEMO_MERCHANT: &str = "Demo Merchant";

/// (model, serial number, label) of the demo terminals.
pub const DEMO_TERMINALS: [(&str, &str, &str); 3] = [
    ("V400m", "324688179", "Till 1"),
    ("P400Plus", "275039202", "Till 2"),
    ("S1F2", "1850000000", "Till 3"),
];

/// What the demo created or found.
pub struct Demo {
    pub merchant_id: MerchantId,
    pub api_key: String,
    /// POIIDs.
    pub terminals: Vec<String>,
    /// The demo terminals that run as link clients (empty in-process).
    pub link_terminals: Vec<Terminal>,
}

pub async fn bootstrap(
    engine: &Engine,
    data_dir: &Path,
    chosen_key: Option<&str>,
    mode: DemoTerminals,
) -> anyhow::Result<Demo> {
    let connection = match mode {
        DemoTerminals::InProcess => TerminalConnection::InProcess,
        DemoTerminals::Link => TerminalConnection::Link,
    };
    let merchant = match engine.admin().find_merchant_by_name(DEMO_MERCHANT).await? {
        Some(m) => m,
        None => engine.admin().create_merchant(DEMO_MERCHANT).await?,
    };
    let api_key = match chosen_key {
        Some(secret) => {
            ensure_key(engine, merchant.id, secret).await?;
            secret.to_string()
        }
        None => stored_or_new_key(engine, merchant.id, data_dir).await?,
    };
    let mut terminals = Vec::new();
    let mut link_terminals = Vec::new();
    for (model, serial, label) in DEMO_TERMINALS {
        let terminal = match engine
            .admin()
            .register_terminal(
                merchant.id,
                serial,
                model,
                Some(label.to_string()),
                TerminalKind::Simulated,
                connection,
            )
            .await
        {
            Ok(t) => t,
            Err(EngineError::Duplicate(_)) => {
                engine
                    .admin()
                    .find_terminal(merchant.id, serial)
                    .await?
                    .terminal
            }
            Err(e) => return Err(e.into()),
        };
        anyhow::ensure!(
            terminal.connection == connection,
            "the demo terminals in {} were created {}; use another --data-dir to run them {}",
            data_dir.display(),
            terminal.connection.as_str(),
            connection.as_str(),
        );
        terminals.push(terminal.poiid());
        if connection == TerminalConnection::Link {
            link_terminals.push(terminal);
        }
    }
    Ok(Demo {
        merchant_id: merchant.id,
        api_key,
        terminals,
        link_terminals,
    })
}

/// Pairs each link terminal of the demo and runs it as a terminal-link client of `link_url`.
/// The clients run until dropped.
pub async fn start_link_clients(
    engine: &Engine,
    demo: &Demo,
    link_url: &str,
    simulator: SimulatorConfig,
) -> anyhow::Result<Vec<LinkClient>> {
    let mut clients = Vec::new();
    for terminal in &demo.link_terminals {
        let code = engine
            .admin()
            .issue_pairing_code(demo.merchant_id, terminal)
            .await?;
        let paired = engine
            .devices()
            .pair_device(&code.code, &terminal.serial_number)
            .await?;
        let mut config = ClientConfig::new(link_url, paired.device_key, &terminal.serial_number);
        config.model = terminal.model.clone();
        config.simulator = simulator;
        clients.push(LinkClient::spawn(config));
    }
    Ok(clients)
}

async fn ensure_key(engine: &Engine, merchant: MerchantId, secret: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        ApiKeyMode::of_secret(secret) == Some(ApiKeyMode::Test),
        "POIGATE_DEMO_API_KEY must be a test key (pg_test_ followed by at least 24 characters)"
    );
    match engine.admin().find_api_key(secret).await? {
        Some(record) if record.merchant_id == merchant && record.revoked_at.is_none() => Ok(()),
        Some(_) => anyhow::bail!("POIGATE_DEMO_API_KEY belongs to another merchant or was revoked"),
        None => {
            engine
                .admin()
                .import_api_key(merchant, secret, Some("demo".into()))
                .await?;
            Ok(())
        }
    }
}

async fn stored_or_new_key(
    engine: &Engine,
    merchant: MerchantId,
    data_dir: &Path,
) -> anyhow::Result<String> {
    let path = data_dir.join("demo-api-key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let secret = text.trim().to_string();
        if let Some(record) = engine.admin().find_api_key(&secret).await?
            && record.merchant_id == merchant
            && record.revoked_at.is_none()
        {
            return Ok(secret);
        }
    }
    let key = engine
        .admin()
        .create_api_key(merchant, ApiKeyMode::Test, Some("demo".into()))
        .await?;
    write_private(&path, &key.secret)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key.secret)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
