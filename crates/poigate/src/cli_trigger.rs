//! `poigate trigger <scenario>`: runs a named scenario end to end on a simulated terminal
//! (test key), so the developer's app sees the real sequence of webhooks — with `poigate
//! listen --forward-to …` in another terminal, or its own registered endpoint.
//!
//! Scenarios are driven through the public API only: test helpers are armed while the
//! terminal is idle (they then apply to the next interaction, so nothing races the
//! terminal), the interaction is created and followed to its final state, and follow-up
//! operations (capture, void, refund) are sent like a POS would.

use crate::cli_client::{Connection, print_json};
use crate::cli_output::UsageError;
use clap::{Args, ValueEnum};
use poigate_api::{CreateInteractionRequest, PresentCardRequest, RefundRequest, TerminalView};
use poigate_client::Client;
use poigate_domain::{InteractionType, OperationStatus, TerminalKind, TerminalStatus};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// A sale, approved.
    SaleApproved,
    /// A sale declined by the issuer (card outcome `decline`).
    SaleDeclined,
    /// Declined: insufficient funds.
    SaleDeclinedInsufficientFunds,
    /// Declined: card blocked.
    SaleDeclinedCardBlocked,
    /// Declined: card expired.
    SaleDeclinedCardExpired,
    /// Declined: invalid card.
    SaleDeclinedInvalidCard,
    /// Declined: wrong PIN.
    SaleDeclinedPinIncorrect,
    /// The cardholder presses cancel on the terminal.
    SaleCancelledOnTerminal,
    /// The POS cancels while the terminal waits for a card.
    SaleCancelledByPos,
    /// No card is presented: the terminal times out.
    SaleTimeout,
    /// An approved sale, then a full referenced refund.
    Refund,
    /// An approved pre-authorisation, then its capture.
    Capture,
    /// An approved pre-authorisation, then its void.
    Void,
    /// A second sale on a busy terminal is refused (409 terminal_busy); the first is
    /// then cancelled by the POS.
    TerminalBusy,
    /// The terminal drops its connection and comes back.
    TerminalOffline,
}

impl Scenario {
    /// The webhook events the scenario produces, in order (what `listen` shows).
    pub fn expected_webhooks(self) -> &'static [&'static str] {
        const SALE: &[&str] = &[
            "interaction.updated",
            "interaction.updated",
            "interaction.updated",
            "interaction.completed",
        ];
        const THEN_TRANSACTION: &[&str] = &[
            "interaction.updated",
            "interaction.updated",
            "interaction.updated",
            "interaction.completed",
            "transaction.updated",
        ];
        const THEN_REFUND: &[&str] = &[
            "interaction.updated",
            "interaction.updated",
            "interaction.updated",
            "interaction.completed",
            "transaction.refund.updated",
            "transaction.refund.updated",
        ];
        match self {
            Scenario::Refund => THEN_REFUND,
            Scenario::Capture | Scenario::Void => THEN_TRANSACTION,
            Scenario::TerminalOffline => &["terminal.offline", "terminal.online"],
            Scenario::SaleApproved
            | Scenario::SaleDeclined
            | Scenario::SaleDeclinedInsufficientFunds
            | Scenario::SaleDeclinedCardBlocked
            | Scenario::SaleDeclinedCardExpired
            | Scenario::SaleDeclinedInvalidCard
            | Scenario::SaleDeclinedPinIncorrect
            | Scenario::SaleCancelledOnTerminal
            | Scenario::SaleCancelledByPos
            | Scenario::SaleTimeout
            | Scenario::TerminalBusy => SALE,
        }
    }

    /// The card outcome armed for a decline scenario.
    fn decline(self) -> Option<&'static str> {
        Some(match self {
            Scenario::SaleDeclined => "decline",
            Scenario::SaleDeclinedInsufficientFunds => "insufficient_funds",
            Scenario::SaleDeclinedCardBlocked => "card_blocked",
            Scenario::SaleDeclinedCardExpired => "card_expired",
            Scenario::SaleDeclinedInvalidCard => "invalid_card",
            Scenario::SaleDeclinedPinIncorrect => "pin_incorrect",
            _ => return None,
        })
    }
}

#[derive(Args)]
pub struct TriggerArgs {
    /// What to run.
    scenario: Scenario,
    /// The simulated terminal [default: the first online simulated terminal].
    #[arg(long)]
    terminal: Option<String>,
    /// Amount in minor units.
    #[arg(long, default_value_t = 1250)]
    amount: i64,
    #[arg(long, default_value = "EUR")]
    currency: String,
    #[command(flatten)]
    conn: Connection,
}

/// What a scenario did, for `--json` and the summary.
#[derive(serde::Serialize, Default)]
struct Report {
    scenario: String,
    terminal: String,
    interaction: Option<String>,
    status: Option<String>,
    transaction: Option<String>,
    operation: Option<String>,
    expected_webhooks: Vec<&'static str>,
}

const FINAL_WITHIN: Duration = Duration::from_secs(180);

pub async fn trigger(args: TriggerArgs) -> anyhow::Result<ExitCode> {
    let client = args.conn.client()?;
    let json = args.conn.json;
    let say = |text: String| {
        if !json {
            outln!("{text}");
        }
    };
    let terminal = match args.terminal {
        Some(t) => t,
        None => pick_terminal(&client).await?,
    };
    let name = args
        .scenario
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let mut report = Report {
        scenario: name.clone(),
        terminal: terminal.clone(),
        expected_webhooks: args.scenario.expected_webhooks().to_vec(),
        ..Report::default()
    };
    say(format!("Running {name} on {terminal}"));
    let kind = match args.scenario {
        Scenario::Capture | Scenario::Void => InteractionType::Auth,
        _ => InteractionType::Sale,
    };
    let request = CreateInteractionRequest::new(&terminal, kind, args.amount, &args.currency);

    if args.scenario == Scenario::TerminalOffline {
        client.test_helper(&terminal, "disconnect", None).await?;
        say("  terminal disconnected".into());
        wait_status(&client, &terminal, TerminalStatus::Offline).await?;
        client.test_helper(&terminal, "connect", None).await?;
        wait_status(&client, &terminal, TerminalStatus::Online).await?;
        say("  terminal back online".into());
        return finish(report, json);
    }

    // Arm the cardholder while the terminal is idle: it applies to the next interaction.
    let armed = match args.scenario {
        s if s.decline().is_some() => {
            let card = PresentCardRequest {
                outcome: s.decline().map(String::from),
                ..PresentCardRequest::default()
            };
            client
                .test_helper(&terminal, "present-card", Some(&card))
                .await?;
            format!(
                "armed a card that will be declined ({})",
                card.outcome.unwrap_or_default()
            )
        }
        Scenario::SaleCancelledOnTerminal => {
            client.test_helper(&terminal, "cancel", None).await?;
            "armed: the cardholder will press cancel".into()
        }
        Scenario::SaleTimeout => {
            client.test_helper(&terminal, "timeout", None).await?;
            "armed: no card will be presented".into()
        }
        Scenario::SaleCancelledByPos | Scenario::TerminalBusy => {
            client.test_helper(&terminal, "hold", None).await?;
            "armed: the cardholder waits at \"Present card\"".into()
        }
        _ => String::new(),
    };
    if !armed.is_empty() {
        say(format!("  {armed}"));
    }
    let created = client.create_interaction(&request, None).await?;
    let id = created.interaction.id.to_string();
    report.interaction = Some(id.clone());
    say(format!("  created {} {id}", kind.as_str()));

    match args.scenario {
        Scenario::TerminalBusy => {
            wait_in_progress(&client, &id).await?;
            match client.create_interaction(&request, None).await {
                Err(e) if e.code() == Some("terminal_busy") => {
                    say("  a second sale was refused: 409 terminal_busy".into())
                }
                Err(e) => return Err(e.into()),
                Ok(second) => anyhow::bail!(
                    "the terminal took a second interaction ({}): not busy",
                    second.interaction.id
                ),
            }
            client.cancel(&id, Some(10)).await?;
            say("  the first sale cancelled by the POS".into());
        }
        Scenario::SaleCancelledByPos => {
            wait_in_progress(&client, &id).await?;
            client.cancel(&id, Some(10)).await?;
            say("  cancel requested by the POS".into());
        }
        _ => {}
    }
    let done = client.follow_to_final(&id, FINAL_WITHIN).await?;
    anyhow::ensure!(done.is_final, "{id} did not end within {FINAL_WITHIN:?}");
    report.status = Some(done.status.as_str().to_string());
    report.transaction = done.transaction.as_ref().map(|t| t.id.to_string());
    say(format!("  {}", crate::cli_client::summary(&done)));

    let txn = report.transaction.clone();
    match (args.scenario, txn) {
        (Scenario::Capture, Some(t)) => {
            let op = client.capture(&t, None, None).await?;
            report.operation = Some(op.response.operation.id.to_string());
            say(format!("  captured {t}"));
        }
        (Scenario::Void, Some(t)) => {
            let op = client.void(&t, None).await?;
            report.operation = Some(op.response.operation.id.to_string());
            say(format!("  voided {t}"));
        }
        (Scenario::Refund, Some(t)) => {
            let op = client
                .refund(
                    &t,
                    &RefundRequest {
                        amount: None,
                        reference: Some(format!("trigger-{name}")),
                    },
                    None,
                )
                .await?;
            let refund = op.response.operation.id.to_string();
            let status = wait_refund(&client, &t, &refund).await?;
            report.operation = Some(refund.clone());
            let status = serde_json::to_value(status)?;
            say(format!(
                "  refund {refund}: {}",
                status.as_str().unwrap_or_default()
            ));
        }
        (Scenario::Capture | Scenario::Void | Scenario::Refund, None) => {
            anyhow::bail!("the payment was not approved, so there is no transaction to follow up")
        }
        _ => {}
    }
    finish(report, json)
}

fn finish(report: Report, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&report)?;
    } else {
        outln!(
            "Webhooks to expect, in order: {}",
            report.expected_webhooks.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The first online simulated terminal of the key's merchant.
async fn pick_terminal(client: &Client) -> anyhow::Result<String> {
    let list = client.terminals().await?;
    list.data
        .iter()
        .find(|t: &&TerminalView| t.kind == TerminalKind::Simulated && t.status == TerminalStatus::Online)
        .map(|t| t.poiid.clone())
        .ok_or_else(|| {
            UsageError(
                "no online simulated terminal: name one with --terminal (see `poigate terminals list`)"
                    .into(),
            )
            .into()
        })
}

/// Long-polls until the terminal acknowledged `id` (the cardholder is now in front of it).
async fn wait_in_progress(client: &Client, id: &str) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    loop {
        let i = client.get_interaction(id, Some(5), Some(seen)).await?;
        if i.status != poigate_domain::Status::Pending || i.is_final {
            return Ok(());
        }
        seen = i.last_event_seq;
        anyhow::ensure!(Instant::now() < until, "{id} was not acknowledged in time");
    }
}

async fn wait_status(client: &Client, terminal: &str, want: TerminalStatus) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if client.terminal(terminal).await?.status == want {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "{terminal} did not become {want:?} in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_refund(client: &Client, txn: &str, refund: &str) -> anyhow::Result<OperationStatus> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let op = client.get_refund(txn, refund).await?;
        if op.status != OperationStatus::Pending {
            return Ok(op.status);
        }
        anyhow::ensure!(Instant::now() < until, "refund {refund} still pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
