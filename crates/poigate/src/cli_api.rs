//! `poigate interactions …`, `transactions …`, `terminals` over the API, `helpers …`: the
//! native API from the command line (`--url`, `--key`), one subcommand per operation.
//! Text for people, `--json` for scripts (the API's own JSON, unchanged).

use crate::cli_client::{Connection, print_json, summary};
use clap::Subcommand;
use poigate_api::ListInteractionsQuery;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum InteractionsCommand {
    /// List interactions, newest first, or look one up by the POS's references.
    List {
        #[arg(long)]
        sale_id: Option<String>,
        #[arg(long)]
        service_id: Option<String>,
        #[arg(long)]
        reference: Option<String>,
        /// Terminal id, POIID or serial number.
        #[arg(long)]
        terminal: Option<String>,
        /// pending, in_progress, approved, declined, cancelled or failed.
        #[arg(long)]
        status: Option<String>,
        /// 1 to 100.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// `next_cursor` of the previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// Only those created at or after this RFC 3339 time.
        #[arg(long)]
        created_after: Option<String>,
        /// Only those created before this RFC 3339 time.
        #[arg(long)]
        created_before: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show one interaction (--wait long-polls for its final state).
    Get(crate::cli_client::StatusArgs),
    /// List an interaction's events.
    Events(crate::cli_client::EventsArgs),
    /// Ask to cancel an interaction.
    Cancel(crate::cli_client::CancelArgs),
}

pub async fn interactions(cmd: InteractionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        InteractionsCommand::List {
            sale_id,
            service_id,
            reference,
            terminal,
            status,
            limit,
            cursor,
            created_after,
            created_before,
            conn,
        } => {
            let list = conn
                .client()?
                .lookup(&ListInteractionsQuery {
                    sale_id,
                    service_id,
                    reference,
                    terminal,
                    status,
                    limit: Some(limit),
                    cursor,
                    created_after,
                    created_before,
                })
                .await?;
            if conn.json {
                print_json(&list)?;
            } else {
                for i in &list.data {
                    outln!("{}  {}", i.created_at, summary(i));
                }
                if let Some(next) = &list.next_cursor {
                    outln!("more: --cursor {next}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        InteractionsCommand::Get(args) => crate::cli_client::status(args).await,
        InteractionsCommand::Events(args) => crate::cli_client::events(args).await,
        InteractionsCommand::Cancel(args) => crate::cli_client::cancel(args).await,
    }
}

/// Text for people: the object's id and the fields that say what state it is in; `--json`
/// prints the API's answer unchanged.
fn show<T: serde::Serialize>(value: &T, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    let v = serde_json::to_value(value)?;
    match v.get("data").and_then(|d| d.as_array()) {
        Some(items) => {
            for item in items {
                outln!("{}", brief(item));
            }
            if items.is_empty() {
                outln!("(none)");
            }
        }
        None => outln!("{}", brief(&v)),
    }
    Ok(())
}

/// One line: id, then whichever of the usual state fields the object has.
fn brief(v: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    for field in [
        "id",
        "pairing_code",
        "object",
        "kind",
        "type",
        "poiid",
        "status",
        "condition",
        "url",
        "amount",
        "captured_amount",
        "refunded_amount",
        "label",
        "expires_at",
        "created_at",
    ] {
        match v.get(field) {
            Some(serde_json::Value::String(s)) => parts.push(s.clone()),
            Some(serde_json::Value::Number(n)) => parts.push(format!("{field}={n}")),
            Some(serde_json::Value::Object(o)) => {
                if let (Some(value), Some(currency)) = (o.get("value"), o.get("currency")) {
                    parts.push(format!("{value} {}", currency.as_str().unwrap_or_default()));
                }
            }
            _ => {}
        }
    }
    if let Some(op) = v.get("operation") {
        parts.push(format!("operation {}", brief(op)));
    }
    parts.join("  ")
}

#[derive(Subcommand)]
pub enum TransactionsCommand {
    /// Show a transaction (card, amounts, condition, receipts with --json).
    Get {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Capture an authorised transaction (all of it, or --amount minor units).
    Capture {
        id: String,
        /// Minor units [default: the whole authorised amount].
        #[arg(long)]
        amount: Option<i64>,
        /// [default: generated]
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Void a transaction before settlement.
    Void {
        id: String,
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Refund a transaction (referenced, no card needed): all that is left, or --amount.
    Refund {
        id: String,
        /// Minor units [default: all that is left to refund].
        #[arg(long)]
        amount: Option<i64>,
        #[arg(long)]
        reference: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// List a transaction's refunds.
    Refunds {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// List a transaction's events (operations requested, succeeded, failed; settled).
    Events {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
}

pub async fn transactions(cmd: TransactionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TransactionsCommand::Get { id, conn } => {
            show(&conn.client()?.transaction(&id).await?, conn.json)?
        }
        TransactionsCommand::Capture {
            id,
            amount,
            idempotency_key,
            conn,
        } => {
            let done = conn
                .client()?
                .capture(&id, amount, idempotency_key.as_deref())
                .await?;
            show(&done.response, conn.json)?
        }
        TransactionsCommand::Void {
            id,
            idempotency_key,
            conn,
        } => {
            let done = conn.client()?.void(&id, idempotency_key.as_deref()).await?;
            show(&done.response, conn.json)?
        }
        TransactionsCommand::Refund {
            id,
            amount,
            reference,
            idempotency_key,
            conn,
        } => {
            let body = poigate_api::RefundRequest { amount, reference };
            let done = conn
                .client()?
                .refund(&id, &body, idempotency_key.as_deref())
                .await?;
            show(&done.response, conn.json)?
        }
        TransactionsCommand::Refunds { id, conn } => {
            show(&conn.client()?.refunds(&id).await?, conn.json)?
        }
        TransactionsCommand::Events { id, conn } => {
            show(&conn.client()?.transaction_events(&id).await?, conn.json)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `poigate terminals …` over the API (the data-directory `add` and `list` live in main).
#[derive(Subcommand)]
pub enum TerminalsApiCommand {
    /// Show a terminal and its live status.
    Get {
        /// Terminal id, POIID or serial number.
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Register a terminal over the API; a link terminal's pairing code is printed.
    Register {
        #[arg(long)]
        serial: String,
        #[arg(long, default_value = "V400m")]
        model: String,
        #[arg(long)]
        label: Option<String>,
        /// A real device (connects over the terminal link) instead of a simulated terminal.
        #[arg(long)]
        device: bool,
        /// A simulated terminal run by `poigate terminal-sim` over the terminal link.
        #[arg(long, conflicts_with = "device")]
        link: bool,
        #[command(flatten)]
        conn: Connection,
    },
    /// Issue a fresh one-time pairing code for a link terminal.
    PairingCode {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Revoke a terminal's device credentials (it is disconnected and must pair again).
    Revoke {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
}

pub async fn terminals_api(cmd: TerminalsApiCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TerminalsApiCommand::Get { id, conn } => {
            show(&conn.client()?.terminal(&id).await?, conn.json)?
        }
        TerminalsApiCommand::Register {
            serial,
            model,
            label,
            device,
            link,
            conn,
        } => {
            use poigate_domain::{TerminalConnection, TerminalKind};
            let body = poigate_api::CreateTerminalRequest {
                serial_number: serial,
                model,
                label,
                kind: Some(if device {
                    TerminalKind::Device
                } else {
                    TerminalKind::Simulated
                }),
                connection: Some(if device || link {
                    TerminalConnection::Link
                } else {
                    TerminalConnection::InProcess
                }),
            };
            let t = conn.client()?.create_terminal(&body).await?;
            show(&t, conn.json)?;
            if !conn.json
                && let Some(code) = &t.pairing
            {
                errln!("Pairing code (once): the device exchanges it for its device key");
                outln!("{}", code.pairing_code);
            }
        }
        TerminalsApiCommand::PairingCode { id, conn } => {
            let code = conn.client()?.pairing_code(&id).await?;
            if conn.json {
                print_json(&code)?;
            } else {
                errln!("Pairing code (once, valid until {})", code.expires_at);
                outln!("{}", code.pairing_code);
            }
        }
        TerminalsApiCommand::Revoke { id, conn } => {
            show(&conn.client()?.revoke_terminal(&id).await?, conn.json)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists the merchant's terminals over the API.
pub async fn list_terminals(conn: &Connection) -> anyhow::Result<ExitCode> {
    let list = conn.client()?.terminals().await?;
    if conn.json {
        print_json(&list)?;
    } else {
        for t in &list.data {
            outln!(
                "{}\t{}\t{}\t{}\t{}",
                t.id,
                t.poiid,
                serde_json::to_value(t.kind)?.as_str().unwrap_or_default(),
                serde_json::to_value(t.status)?.as_str().unwrap_or_default(),
                t.label.clone().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum HelpersCommand {
    /// Present a test card (to the interaction waiting for one, or armed for the next).
    PresentCard {
        /// Terminal id, POIID or serial number.
        terminal: String,
        /// approve, decline, insufficient_funds, card_blocked, card_expired, invalid_card,
        /// pin_incorrect [default: approve].
        #[arg(long)]
        outcome: Option<String>,
        /// visa, mastercard, maestro, amex, discover, jcb, unionpay, diners.
        #[arg(long)]
        brand: Option<String>,
        /// chip, contactless or swipe.
        #[arg(long)]
        entry_mode: Option<String>,
        /// online_pin, offline_pin, signature, offline_pin_signature, consumer_device, none.
        #[arg(long)]
        cvm: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// The cardholder presses cancel.
    Cancel(HelperArgs),
    /// No card is presented: the terminal times out.
    Timeout(HelperArgs),
    /// The cardholder waits at "Present card" until another helper acts or the POS cancels.
    Hold(HelperArgs),
    /// The terminal drops its connection (offline).
    Disconnect(HelperArgs),
    /// The terminal comes back.
    Connect(HelperArgs),
    /// The terminal stays connected but stops answering (starts stay unacknowledged).
    Freeze(HelperArgs),
    /// The terminal answers again.
    Unfreeze(HelperArgs),
}

#[derive(clap::Args)]
pub struct HelperArgs {
    /// Terminal id, POIID or serial number.
    terminal: String,
    #[command(flatten)]
    conn: Connection,
}

/// A JSON string value as the API's enum (a typo is a usage error, before anything is sent).
fn parse_enum<T: serde::de::DeserializeOwned>(
    flag: &str,
    value: Option<String>,
) -> anyhow::Result<Option<T>> {
    value
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.clone())).map_err(|_| {
                crate::cli_output::UsageError(format!("--{flag}: unknown value `{v}`")).into()
            })
        })
        .transpose()
}

pub async fn helpers(cmd: HelpersCommand) -> anyhow::Result<ExitCode> {
    let (action, args, card) = match cmd {
        HelpersCommand::PresentCard {
            terminal,
            outcome,
            brand,
            entry_mode,
            cvm,
            conn,
        } => {
            let card = poigate_api::PresentCardRequest {
                outcome,
                brand: parse_enum("brand", brand)?,
                entry_mode: parse_enum("entry-mode", entry_mode)?,
                cvm: parse_enum("cvm", cvm)?,
            };
            ("present-card", HelperArgs { terminal, conn }, Some(card))
        }
        HelpersCommand::Cancel(a) => ("cancel", a, None),
        HelpersCommand::Timeout(a) => ("timeout", a, None),
        HelpersCommand::Hold(a) => ("hold", a, None),
        HelpersCommand::Disconnect(a) => ("disconnect", a, None),
        HelpersCommand::Connect(a) => ("connect", a, None),
        HelpersCommand::Freeze(a) => ("freeze", a, None),
        HelpersCommand::Unfreeze(a) => ("unfreeze", a, None),
    };
    let answer = args
        .conn
        .client()?
        .test_helper(&args.terminal, action, card.as_ref())
        .await?;
    if args.conn.json {
        print_json(&answer)?;
    } else {
        let to = match (answer.applied_to.as_str(), &answer.interaction) {
            ("current", Some(i)) => format!("applied to {i}"),
            ("next", _) => "armed for the next interaction".into(),
            _ => "applied to the terminal".into(),
        };
        let status = serde_json::to_value(answer.status)?;
        outln!(
            "{action}: {to} (terminal {})",
            status.as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
