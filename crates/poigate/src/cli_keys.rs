//! `poigate api-keys …` and `poigate merchants …`: keys and merchants over the API
//! (`--url`, `--key`), as an integrator or an operator without access to the data directory
//! would manage them. `api-keys` takes a merchant's key; `merchants` a platform admin key.

use crate::cli_client::{Connection, print_json};
use clap::Subcommand;
use poigate_api::{AdminCreateApiKeyRequest, ApiKeyView, CreateApiKeyRequest};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ApiKeysCommand {
    /// List the merchant's keys (with when each was last used).
    List {
        #[command(flatten)]
        conn: Connection,
    },
    /// Create a key of the caller's mode; its secret is printed once.
    Create {
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Revoke a key (refused from its next request on).
    Revoke {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
}

#[derive(Subcommand)]
pub enum MerchantsCommand {
    /// List merchants (with a platform admin key).
    List {
        #[command(flatten)]
        conn: Connection,
    },
    /// Create a merchant.
    Create {
        name: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Disable a merchant: its keys are refused (401) from the next request on.
    Disable {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Create an API key for a merchant; its secret is printed once.
    CreateKey {
        id: String,
        /// A live key instead of a test key.
        #[arg(long)]
        live: bool,
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
}

fn key_line(k: &ApiKeyView) -> String {
    let mode = if k.livemode { "live" } else { "test" };
    let state = match k.revoked_at {
        Some(at) => format!("revoked {}", at.to_rfc3339()),
        None => "active".into(),
    };
    let used = k
        .last_used_at
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "never".into());
    format!(
        "{}  {}  {}…  {}  last used {}  {}",
        k.id,
        mode,
        k.prefix,
        state,
        used,
        k.label.clone().unwrap_or_default()
    )
}

/// Prints a new key: the secret alone on stdout (for scripts), the rest on stderr.
fn print_new_key(k: &ApiKeyView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(k);
    }
    errln!(
        "Created {} key {}. It is shown once:",
        if k.livemode { "live" } else { "test" },
        k.id
    );
    outln!("{}", k.secret.clone().unwrap_or_default());
    Ok(())
}

pub async fn api_keys(cmd: ApiKeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ApiKeysCommand::List { conn } => {
            let list = conn.client()?.api_keys().await?;
            if conn.json {
                print_json(&list)?;
            } else {
                for k in &list.data {
                    outln!("{}", key_line(k));
                }
            }
        }
        ApiKeysCommand::Create { label, conn } => {
            let key = conn
                .client()?
                .create_api_key(&CreateApiKeyRequest { label })
                .await?;
            print_new_key(&key, conn.json)?;
        }
        ApiKeysCommand::Revoke { id, conn } => {
            let key = conn.client()?.revoke_api_key(&id).await?;
            if conn.json {
                print_json(&key)?;
            } else {
                outln!("{}", key_line(&key));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn merchants(cmd: MerchantsCommand) -> anyhow::Result<ExitCode> {
    let merchant_line = |m: &poigate_api::MerchantView| {
        let state = match m.disabled_at {
            Some(at) => format!("disabled {}", at.to_rfc3339()),
            None => "active".into(),
        };
        format!("{}  {}  {}", m.id, m.name, state)
    };
    match cmd {
        MerchantsCommand::List { conn } => {
            let list = conn.client()?.admin_merchants().await?;
            if conn.json {
                print_json(&list)?;
            } else {
                for m in &list.data {
                    outln!("{}", merchant_line(m));
                }
            }
        }
        MerchantsCommand::Create { name, conn } => {
            let m = conn.client()?.admin_create_merchant(&name).await?;
            if conn.json {
                print_json(&m)?;
            } else {
                outln!("{}", merchant_line(&m));
            }
        }
        MerchantsCommand::Disable { id, conn } => {
            let m = conn.client()?.admin_disable_merchant(&id).await?;
            if conn.json {
                print_json(&m)?;
            } else {
                outln!("{}", merchant_line(&m));
            }
        }
        MerchantsCommand::CreateKey {
            id,
            live,
            label,
            conn,
        } => {
            let key = conn
                .client()?
                .admin_create_api_key(
                    &id,
                    &AdminCreateApiKeyRequest {
                        livemode: live,
                        label,
                    },
                )
                .await?;
            print_new_key(&key, conn.json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
