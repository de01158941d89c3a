//! The script one simulated interaction follows, stage by stage, as in the Cybersource seed:
//! "Connecting to card reader", "Registering transaction", "1.00 GBP - Present card",
//! "Processing payment...", "Payment approved".

use super::CardholderAction;
use super::cards::{TestCard, amount_trigger, simulated_tip};
use super::device::{Delivered, Job, Outgoing, RunCommand};
use poigate_domain::{
    CancelReason, DeclineReason, InteractionId, InteractionType, TerminalOutcome,
};
use poigate_engine::{ReportKind, ReportOutcome, TerminalReport};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub(super) struct Script {
    pub job: Job,
    pub uplink: mpsc::UnboundedSender<Outgoing>,
    pub speed: f64,
    /// The last report sequence number used for this interaction.
    pub seq: u64,
}

/// How long the simulated cardholder looks at the tip prompt, at speed 1.0.
const TIP_MS: u64 = 1_000;

/// How the wait for a card ended.
enum CardWait {
    Presented(TestCard),
    Cancelled(CancelReason),
}

/// Realistic durations at speed 1.0, in milliseconds.
const CONNECTING_MS: u64 = 800;
const REGISTERING_MS: u64 = 500;
const PROMPT_REPEAT_MS: u64 = 300;
const AUTO_PRESENT_MS: u64 = 1_500;
const PROCESSING_MS: u64 = 1_500;
const RESULT_MS: u64 = 300;

impl Script {
    fn scaled(&self, ms: u64) -> Duration {
        Duration::from_secs_f64((ms as f64 / 1000.0) * self.speed.max(0.0))
    }

    fn report(&mut self, kind: ReportKind) -> oneshot::Receiver<Delivered> {
        self.seq += 1;
        let (tx, rx) = oneshot::channel();
        let _ = self.uplink.send(Outgoing {
            report: TerminalReport {
                interaction_id: self.job.id,
                terminal_seq: self.seq,
                kind,
            },
            reply: tx,
        });
        rx
    }

    fn stage(&mut self, message: impl Into<String>) {
        drop(self.report(ReportKind::Stage {
            message: message.into(),
        }));
    }

    fn finish(&mut self, outcome: TerminalOutcome) {
        drop(self.report(ReportKind::Result(Box::new(outcome))));
    }

    /// Sleeps `ms` (scaled) unless a command arrives first.
    async fn pause(
        &self,
        ms: u64,
        commands: &mut mpsc::UnboundedReceiver<RunCommand>,
    ) -> Option<RunCommand> {
        let wait = self.scaled(ms);
        if wait.is_zero() {
            return commands.try_recv().ok();
        }
        tokio::select! {
            cmd = commands.recv() => cmd,
            _ = tokio::time::sleep(wait) => None,
        }
    }

    pub(super) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<RunCommand>,
        armed: Option<CardholderAction>,
        resume: bool,
    ) {
        let mut action = armed;
        if !resume {
            // The cardholder interaction begins only once the gateway has durably recorded
            // the acknowledgement: if the gateway already gave up on this interaction (the
            // POS cancelled it, or it timed out undelivered), no card is ever read.
            let confirmed = self.report(ReportKind::Acknowledged).await;
            match confirmed {
                Ok(Ok(ReportOutcome::Applied | ReportOutcome::Duplicate)) => {}
                _ => return,
            }
            let steps: [(&str, u64); 3] = [
                ("Connecting to card reader", CONNECTING_MS),
                ("Registering transaction", REGISTERING_MS),
                ("Registering transaction", REGISTERING_MS),
            ];
            for (message, ms) in steps {
                self.stage(message);
                match self.pause(ms, &mut commands).await {
                    Some(RunCommand::GatewayCancel) => return self.cancelled(CancelReason::Api),
                    Some(RunCommand::Cardholder(a)) => action = Some(a),
                    None => {}
                }
            }
            if self.job.ask_for_tip {
                self.stage("Add a tip?");
                match self.pause(TIP_MS, &mut commands).await {
                    Some(RunCommand::GatewayCancel) => return self.cancelled(CancelReason::Api),
                    Some(RunCommand::Cardholder(a)) => action = Some(a),
                    None => {}
                }
            }
            let card = match self.wait_for_card(action, &mut commands).await {
                CardWait::Presented(card) => card,
                CardWait::Cancelled(reason) => return self.cancelled(reason),
            };
            self.process(card, &mut commands).await;
        } else {
            let card = match action {
                Some(CardholderAction::PresentCard(card)) => card,
                _ => TestCard::default(),
            };
            self.process(card, &mut commands).await;
        }
    }

    fn cancelled(&mut self, reason: CancelReason) {
        self.finish(TerminalOutcome::Cancelled { reason });
    }

    /// The tip the simulated cardholder chooses, when the start asked for one.
    fn tip(&self) -> Option<i64> {
        self.job
            .ask_for_tip
            .then(|| simulated_tip(&self.job.amount))
    }

    fn prompt(&self) -> String {
        if self.job.kind == InteractionType::Validate {
            return "Present card".to_string();
        }
        // With a tip, the prompt shows the total the card is asked for.
        let total = self.tip().and_then(|tip| {
            poigate_domain::Money::new(self.job.amount.value() + tip, self.job.amount.currency())
                .ok()
        });
        format!("{} - Present card", total.unwrap_or(self.job.amount))
    }

    async fn wait_for_card(
        &mut self,
        mut action: Option<CardholderAction>,
        commands: &mut mpsc::UnboundedReceiver<RunCommand>,
    ) -> CardWait {
        let prompt = self.prompt();
        for _ in 0..3 {
            self.stage(prompt.clone());
            match self.pause(PROMPT_REPEAT_MS, commands).await {
                Some(RunCommand::GatewayCancel) => return CardWait::Cancelled(CancelReason::Api),
                Some(RunCommand::Cardholder(a)) => action = Some(a),
                None => {}
            }
        }
        loop {
            let wait = match action {
                Some(CardholderAction::PresentCard(card)) => return CardWait::Presented(card),
                Some(CardholderAction::PressCancel) => {
                    return CardWait::Cancelled(CancelReason::Terminal);
                }
                Some(CardholderAction::WalkAway) => {
                    Some(self.scaled(u64::from(self.job.timeout_seconds) * 1000))
                }
                Some(CardholderAction::Hold) => None,
                None => Some(self.scaled(AUTO_PRESENT_MS)),
            };
            let next = match wait {
                Some(d) => tokio::select! {
                    cmd = commands.recv() => cmd,
                    _ = tokio::time::sleep(d) => {
                        return match action {
                            Some(CardholderAction::WalkAway) => CardWait::Cancelled(CancelReason::Timeout),
                            _ => CardWait::Presented(TestCard::default()),
                        };
                    }
                },
                None => commands.recv().await,
            };
            match next {
                Some(RunCommand::GatewayCancel) => return CardWait::Cancelled(CancelReason::Api),
                Some(RunCommand::Cardholder(CardholderAction::WalkAway)) => {
                    // The cardholder walked away while the prompt shows: the timer expires now.
                    return CardWait::Cancelled(CancelReason::Timeout);
                }
                Some(RunCommand::Cardholder(a)) => action = Some(a),
                // Nobody can reach this script any more; behave like the default cardholder.
                None => return CardWait::Presented(TestCard::default()),
            }
        }
    }

    async fn process(
        &mut self,
        card: TestCard,
        commands: &mut mpsc::UnboundedReceiver<RunCommand>,
    ) {
        self.stage("Processing payment...");
        let mut waited = 0;
        // Past this point the card is read: a cancel from the POS is too late.
        while waited < 2 {
            match self.pause(PROCESSING_MS / 2, commands).await {
                Some(RunCommand::GatewayCancel) => drop(self.report(ReportKind::CancelTooLate)),
                Some(RunCommand::Cardholder(_)) | None => {}
            }
            waited += 1;
        }
        let decline = amount_trigger(&self.job.amount).or(card.outcome.decline_reason());
        let outcome = match (card.masked(), decline) {
            (Err(e), _) => TerminalOutcome::Failed {
                reason: poigate_domain::FailureReason::CardReadError,
                message: e.to_string(),
            },
            (Ok(masked), Some(reason)) => {
                self.stage(declined_message(self.job.kind));
                TerminalOutcome::Declined {
                    reason,
                    message: reason_message(reason).to_string(),
                    card: Some(masked),
                    emv: card.emv(),
                }
            }
            (Ok(masked), None) => {
                self.stage(approved_message(self.job.kind));
                TerminalOutcome::Approved {
                    auth_code: auth_code(self.job.id),
                    card: masked,
                    emv: card.emv(),
                    tip_amount: self.tip(),
                }
            }
        };
        if let Some(RunCommand::GatewayCancel) = self.pause(RESULT_MS, commands).await {
            drop(self.report(ReportKind::CancelTooLate));
        }
        self.finish(outcome);
    }
}

fn approved_message(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::Sale | InteractionType::Auth => "Payment approved",
        InteractionType::Refund => "Refund approved",
        InteractionType::Validate => "Card verified",
    }
}

fn declined_message(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::Refund => "Refund declined",
        InteractionType::Validate => "Card not verified",
        _ => "Payment declined",
    }
}

fn reason_message(reason: DeclineReason) -> &'static str {
    reason.default_message()
}

/// A deterministic six-character authorisation code derived from the interaction id.
fn auth_code(id: InteractionId) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = id.uuid().into_bytes();
    bytes[10..16]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}
