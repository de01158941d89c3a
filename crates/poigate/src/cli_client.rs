//! Client commands: `pay`, `status`, `events`, `cancel`, talking to a running gateway.
//!
//! They use the SDK client (`Client::builder`): creates carry an idempotency key and
//! requests are retried on network failures and 429/503, so a flaky network costs time,
//! never a second payment.

use crate::cli_output::{NOT_APPROVED, UsageError, stdout_closed};
use clap::Args;
use poigate_api::{
    AmountInput, CancelResultKind, CreateInteractionRequest, EventView, InteractionView,
    ListEventsQuery, Order,
};
use poigate_client::Client;
use poigate_domain::{Currency, InteractionType, Money, Status};
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Args)]
pub struct Connection {
    /// Base URL of the gateway.
    #[arg(long, env = "POIGATE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key (pg_test_… or pg_live_…; pg_admin_… for `merchants`).
    #[arg(long, env = "POIGATE_API_KEY", hide_env_values = true)]
    key: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Connection {
    pub(crate) fn new(url: String, key: String, json: bool) -> Connection {
        Connection { url, key, json }
    }

    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::builder(&self.url, &self.key).build()?)
    }
}

#[derive(Args)]
pub struct PayArgs {
    /// Amount in major units, e.g. 12.50.
    amount: String,
    /// ISO 4217 currency, e.g. EUR.
    currency: String,
    /// Terminal id, POIID or serial number.
    #[arg(long)]
    terminal: String,
    /// sale, auth, refund or validate.
    #[arg(long = "type", default_value = "sale", value_parser = parse_type)]
    kind: InteractionType,
    /// Your reference for this payment.
    #[arg(long)]
    reference: Option<String>,
    /// The create's Idempotency-Key [default: generated, and printed]. Run the same
    /// command again with it after a lost answer: the gateway answers with the payment it
    /// already has, never a second one.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// The POS id (nexo SaleID); with --service-id a natural key the payment can be looked
    /// up by (`poigate interactions list --sale-id … --service-id …`).
    #[arg(long, requires = "service_id")]
    sale_id: Option<String>,
    /// This request's id at the POS (nexo ServiceID).
    #[arg(long, requires = "sale_id")]
    service_id: Option<String>,
    /// Card timeout enforced by the terminal, 10 to 600 seconds [default: 120].
    #[arg(long)]
    timeout_seconds: Option<u32>,
    /// Ask the cardholder for a tip on the terminal (sale or auth).
    #[arg(long)]
    tip_on_terminal: bool,
    #[command(flatten)]
    conn: Connection,
}

fn parse_type(s: &str) -> Result<InteractionType, String> {
    match s {
        "sale" => Ok(InteractionType::Sale),
        "auth" => Ok(InteractionType::Auth),
        "refund" => Ok(InteractionType::Refund),
        "validate" => Ok(InteractionType::Validate),
        _ => Err("expected sale, auth, refund or validate".into()),
    }
}

#[derive(Args)]
pub struct StatusArgs {
    pub(crate) id: String,
    /// Long-poll up to this many seconds for the final state.
    #[arg(long, num_args = 0..=1, default_missing_value = "60")]
    pub(crate) wait: Option<u64>,
    #[command(flatten)]
    pub(crate) conn: Connection,
}

#[derive(Args)]
pub struct EventsArgs {
    id: String,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Args)]
pub struct CancelArgs {
    id: String,
    /// Wait up to this many seconds for the terminal's decision.
    #[arg(long, default_value_t = 10)]
    wait: u64,
    #[command(flatten)]
    conn: Connection,
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Exit code 3 (not approved) as a value `main` returns.
fn not_approved() -> ExitCode {
    ExitCode::from(NOT_APPROVED)
}

pub(crate) fn exit_for(i: &InteractionView) -> ExitCode {
    if i.status == Status::Approved {
        ExitCode::from(crate::cli_output::APPROVED)
    } else {
        not_approved()
    }
}

/// One live line on a terminal; one line per update otherwise.
struct LiveLine {
    tty: bool,
}

impl LiveLine {
    fn show(&self, text: &str) {
        if self.tty {
            crate::cli_output::write_out(&format!("\r\x1b[2K{text}"));
        } else {
            outln!("{text}");
        }
    }

    fn done(&self) {
        if self.tty {
            outln!();
        }
    }
}

pub(crate) fn describe(event: &EventView) -> Option<String> {
    match event.kind.as_str() {
        "created" => Some("Sent to terminal…".into()),
        "acknowledged" => Some("Terminal acknowledged".into()),
        "stage" => event.message.clone(),
        "cancel_requested" => Some("Cancel requested…".into()),
        "cancel_too_late" => Some("Too late to cancel".into()),
        "terminal_disconnected" => {
            Some("Terminal disconnected, waiting for it to come back…".into())
        }
        "terminal_reconnected" => Some("Terminal reconnected".into()),
        "overdue" => Some("No result yet from the terminal (overdue)".into()),
        _ => None,
    }
}

pub(crate) fn summary(i: &InteractionView) -> String {
    let outcome = match &i.outcome {
        Some(poigate_domain::Outcome::Approved {
            auth_code,
            tip_amount,
        }) => match tip_amount {
            Some(tip) => format!("APPROVED  auth code {auth_code}  tip {tip} (minor units)"),
            None => format!("APPROVED  auth code {auth_code}"),
        },
        Some(poigate_domain::Outcome::Declined { message, .. }) => format!("DECLINED  {message}"),
        Some(poigate_domain::Outcome::Cancelled { reason }) => format!(
            "CANCELLED ({})",
            serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        ),
        Some(poigate_domain::Outcome::Failed { message, .. }) => format!("FAILED  {message}"),
        None => format!("{} (not final yet)", i.status.as_str()),
    };
    format!("{outcome}  {}  {}", i.amount, i.id)
}

pub async fn pay(args: PayArgs) -> anyhow::Result<ExitCode> {
    let client = args.conn.client()?;
    let currency = Currency::from_code(&args.currency)
        .ok_or_else(|| UsageError(format!("unknown currency {}", args.currency)))?;
    let amount = Money::parse_decimal(&args.amount, currency)
        .map_err(|e| UsageError(format!("invalid amount {}: {e}", args.amount)))?;
    let request = CreateInteractionRequest {
        terminal: args.terminal.clone(),
        kind: args.kind,
        amount: AmountInput {
            value: amount.value(),
            currency: currency.code().to_string(),
        },
        reference: args.reference,
        sale_id: args.sale_id,
        service_id: args.service_id,
        timeout_seconds: args.timeout_seconds,
        metadata: None,
        webhooks: None,
        tip: args
            .tip_on_terminal
            .then_some(poigate_api::TipRequest::OnTerminal),
    };
    let key = args
        .idempotency_key
        .unwrap_or_else(poigate_client::new_idempotency_key);
    // Printed before anything is sent: whatever happens next, the user can run the same
    // payment again with this key and land on the same one.
    errln!("idempotency key {key}");
    let created = client
        .create_recovering(&request, &key, std::time::Duration::from_secs(60))
        .await?;
    let id = created.response.interaction.id.to_string();
    let line = LiveLine {
        tty: std::io::stdout().is_terminal() && !args.conn.json,
    };
    if created.recovered {
        errln!("the answer was lost on the way; found {id} again (no second payment)");
    }
    if !args.conn.json {
        line.show(&format!(
            "{} {} on {} ({id})",
            args.kind.as_str(),
            amount,
            args.terminal
        ));
        line.done();
    }
    let final_state = follow(&client, &id, &line, args.conn.json)
        .await
        .map_err(|e| {
            e.context(format!(
                "lost track of {id} (it goes on on the terminal): `poigate status {id} --wait` \
             shows how it ends"
            ))
        })?;
    if args.conn.json {
        print_json(&final_state)?;
    } else {
        line.done();
        outln!("{}", summary(&final_state));
        if let Some(receipt) = final_state
            .transaction
            .as_ref()
            .and_then(|t| t.receipts.customer.as_ref())
        {
            outln!();
            outln!("{}", receipt.text);
        }
    }
    Ok(exit_for(&final_state))
}

/// Follows `id` to its final state, printing each event. A closed standard output (the
/// reader went away: `| head -1`) does not stop it: the payment is followed to its end all
/// the same, quietly. Ctrl-C asks the terminal to cancel, and still waits for the end.
async fn follow(
    client: &Client,
    id: &str,
    line: &LiveLine,
    json: bool,
) -> anyhow::Result<InteractionView> {
    let mut seen = 0;
    let mut cancel_sent = false;
    loop {
        let state = tokio::select! {
            s = client.get_interaction(id, Some(30), Some(seen)) => s?,
            _ = tokio::signal::ctrl_c(), if !cancel_sent => {
                cancel_sent = true;
                if !json { line.show("Cancelling…"); }
                let _ = client.cancel(id, None).await;
                continue;
            }
        };
        if state.last_event_seq > seen {
            let events = client
                .list_events(
                    id,
                    &ListEventsQuery {
                        after_seq: Some(seen),
                        limit: Some(1000),
                        order: Some(Order::Asc),
                    },
                )
                .await?;
            if !json && !stdout_closed() {
                for e in &events.data {
                    if let Some(text) = describe(e) {
                        line.show(&text);
                    }
                }
            }
            seen = events
                .data
                .last()
                .map(|e| e.seq)
                .unwrap_or(state.last_event_seq);
        }
        if state.is_final {
            return Ok(state);
        }
    }
}

pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = args.conn.client()?;
    let i = client.get_interaction(&args.id, args.wait, None).await?;
    if args.conn.json {
        print_json(&i)?;
    } else {
        outln!("{}  final: {}", summary(&i), i.is_final);
    }
    Ok(if i.is_final {
        exit_for(&i)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn events(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let client = args.conn.client()?;
    let list = client
        .list_events(
            &args.id,
            &ListEventsQuery {
                after_seq: None,
                limit: Some(1000),
                order: Some(Order::Asc),
            },
        )
        .await?;
    if args.conn.json {
        print_json(&list)?;
    } else {
        for e in &list.data {
            let text = describe(e).unwrap_or_else(|| match &e.outcome {
                Some(_) => format!("completed: {}", e.status.as_str()),
                None => e.kind.clone(),
            });
            outln!("{:>3}  {}  {:<22} {}", e.seq, e.created_at, e.kind, text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let client = args.conn.client()?;
    let wait = (args.wait > 0).then_some(args.wait.min(60));
    let answer = client.cancel(&args.id, wait).await?;
    if args.conn.json {
        print_json(&answer)?;
    } else {
        let result = match answer.result {
            CancelResultKind::Cancelled => "cancelled",
            CancelResultKind::CancelRequested => "cancel requested (the terminal decides)",
            CancelResultKind::TooLate => "too late",
        };
        outln!("{result}: {}", summary(&answer.interaction));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand)]
pub enum WebhooksCommand {
    /// List webhook endpoints.
    Endpoints {
        #[command(flatten)]
        conn: Connection,
    },
    /// Create a webhook endpoint; its signing secret is printed.
    Create {
        /// Where to send events (https://…; private addresses only when the gateway allows).
        #[arg(value_name = "URL")]
        target: String,
        /// Event types (comma-separated) [default: all].
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        /// Payload format: native (default) or a dialect's, e.g. adyen.
        #[arg(long)]
        format: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show an endpoint's signing secrets (during a rotation, both).
    Secret {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Rotate an endpoint's signing secret; the old one keeps signing for the overlap.
    Rotate {
        id: String,
        /// Seconds the old secret stays valid [default: the gateway's, 24 h].
        #[arg(long)]
        overlap_seconds: Option<u64>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Delete an endpoint (its pending deliveries fail).
    Delete {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show the delivery log (newest first), with every attempt.
    Deliveries {
        /// pending, succeeded or failed.
        #[arg(long)]
        status: Option<String>,
        /// Event type, e.g. interaction.completed.
        #[arg(long)]
        event: Option<String>,
        /// Endpoint id.
        #[arg(long)]
        endpoint: Option<String>,
        /// Interaction, terminal or transaction id.
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        conn: Connection,
    },
    /// Send a delivery again.
    Redeliver {
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
}

pub async fn webhooks(cmd: WebhooksCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WebhooksCommand::Create {
            target: url,
            events,
            description,
            format,
            conn,
        } => {
            let body = poigate_api::CreateWebhookEndpointRequest {
                url,
                events: (!events.is_empty()).then_some(events),
                description,
                enabled: None,
                format,
            };
            let client = conn.client()?;
            let e = client.create_webhook_endpoint(&body).await?;
            if conn.json {
                print_json(&e)?;
            } else {
                outln!("{}  {}  [{}]", e.id, e.url, e.events.join(","));
                let secrets = client.webhook_secret(&e.id.to_string()).await?;
                errln!("Signing secret (verify each webhook with it):");
                outln!(
                    "{}",
                    serde_json::to_value(&secrets)?["secrets"][0]["secret"]
                        .as_str()
                        .unwrap_or_default()
                );
            }
        }
        WebhooksCommand::Secret { id, conn } => {
            let secrets = conn.client()?.webhook_secret(&id).await?;
            print_json(&secrets)?;
        }
        WebhooksCommand::Rotate {
            id,
            overlap_seconds,
            conn,
        } => {
            let e = conn
                .client()?
                .rotate_webhook_secret(&id, overlap_seconds)
                .await?;
            if conn.json {
                print_json(&e)?;
            } else {
                outln!(
                    "{} rotated: `poigate webhooks secret {}` shows the new secret",
                    e.id,
                    e.id
                );
            }
        }
        WebhooksCommand::Delete { id, conn } => {
            conn.client()?.delete_webhook_endpoint(&id).await?;
            if conn.json {
                print_json(&serde_json::json!({ "id": id, "deleted": true }))?;
            } else {
                outln!("{id} deleted");
            }
        }
        WebhooksCommand::Endpoints { conn } => {
            let list = conn.client()?.webhook_endpoints().await?;
            if conn.json {
                print_json(&list)?;
            } else {
                for e in &list.data {
                    let state = if e.enabled {
                        "enabled".to_string()
                    } else {
                        format!(
                            "disabled ({})",
                            e.disabled_reason.clone().unwrap_or_default()
                        )
                    };
                    outln!("{}  {}  [{}]  {}", e.id, e.url, e.events.join(","), state);
                }
            }
        }
        WebhooksCommand::Deliveries {
            status,
            event,
            endpoint,
            subject,
            limit,
            conn,
        } => {
            let list = conn
                .client()?
                .deliveries(&poigate_api::ListDeliveriesQuery {
                    endpoint,
                    event,
                    status,
                    subject,
                    limit: Some(limit),
                    cursor: None,
                })
                .await?;
            if conn.json {
                print_json(&list)?;
            } else {
                for d in &list.data {
                    outln!(
                        "{}  {:<9} {:<26} {}  {}",
                        d.id,
                        d.status,
                        d.event_type,
                        d.webhook_id,
                        d.url
                    );
                    for a in &d.attempts {
                        let status = a
                            .status_code
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "---".into());
                        outln!(
                            "    #{} {}  {}  {:>5} ms  {}",
                            a.attempt,
                            a.started_at,
                            status,
                            a.latency_ms,
                            a.error.clone().unwrap_or_default()
                        );
                    }
                    if let Some(next) = d.next_attempt_at.filter(|_| d.status == "pending") {
                        outln!("    next attempt at {next}");
                    }
                }
            }
        }
        WebhooksCommand::Redeliver { id, conn } => {
            let d = conn.client()?.redeliver(&id).await?;
            if conn.json {
                print_json(&d)?;
            } else {
                outln!(
                    "{} is due again ({} attempts so far)",
                    d.id,
                    d.attempts.len()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
