//! The demo bootstrap of `serve --demo`: a merchant, a test key and three simulated
//! terminals, created idempotently so that restarts keep the same ones.
//!
//! The demo key is the value of `POIGATE_DEMO_API_KEY` when set. Otherwise a random test key
//! is created once and kept in `<data_dir>/demo-api-key` (mode 0600), because the database
//! keeps only its hash and the demo must print it again after a restart. This file exists
//! only in demo mode and only for a test key, which can drive simulated terminals and
//! nothing else.

use anyhow::Context;
use poigate_domain::{ApiKeyMode, MerchantId, TerminalKind};
use poigate_engine::{Engine, EngineError};
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
    pub terminals: Vec<String>,
}

pub async fn bootstrap(
    engine: &Engine,
    data_dir: &Path,
    chosen_key: Option<&str>,
) -> anyhow::Result<Demo> {
    let merchant = match engine.find_merchant_by_name(DEMO_MERCHANT).await? {
        Some(m) => m,
        None => engine.create_merchant(DEMO_MERCHANT).await?,
    };
    let api_key = match chosen_key {
        Some(secret) => {
            ensure_key(engine, merchant.id, secret).await?;
            secret.to_string()
        }
        None => stored_or_new_key(engine, merchant.id, data_dir).await?,
    };
    let mut terminals = Vec::new();
    for (model, serial, label) in DEMO_TERMINALS {
        match engine
            .register_terminal(
                merchant.id,
                serial,
                model,
                Some(label.to_string()),
                TerminalKind::Simulated,
            )
            .await
        {
            Ok(_) | Err(EngineError::Duplicate(_)) => {}
            Err(e) => return Err(e.into()),
        }
        terminals.push(format!("{model}-{serial}"));
    }
    Ok(Demo {
        merchant_id: merchant.id,
        api_key,
        terminals,
    })
}

async fn ensure_key(engine: &Engine, merchant: MerchantId, secret: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        ApiKeyMode::of_secret(secret) == Some(ApiKeyMode::Test),
        "POIGATE_DEMO_API_KEY must be a test key (pg_test_ followed by at least 24 characters)"
    );
    match engine.find_api_key(secret).await? {
        Some(record) if record.merchant_id == merchant && record.revoked_at.is_none() => Ok(()),
        Some(_) => anyhow::bail!("POIGATE_DEMO_API_KEY belongs to another merchant or was revoked"),
        None => {
            engine
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
        if let Some(record) = engine.find_api_key(&secret).await?
            && record.merchant_id == merchant
            && record.revoked_at.is_none()
        {
            return Ok(secret);
        }
    }
    let key = engine
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
