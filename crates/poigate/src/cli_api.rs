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
