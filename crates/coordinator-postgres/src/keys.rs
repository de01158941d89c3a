//! Text forms of timers and terminal commands as they are stored in the coordinator's
//! tables. Deliberately not the domain's serde: a command row carries ids only, and the node
//! that carries it out reads the interaction from the store, so no domain type is ever
//! serialized here.

use poigate_domain::{InteractionId, TerminalId, Timestamp};
use poigate_engine::{TerminalCommand, TimerKey};

/// `delivery:<interaction>`, `overdue:<interaction>`, `settlement:<ms>`.
pub fn timer_text(timer: TimerKey) -> String {
    match timer {
        TimerKey::Delivery(id) => format!("delivery:{id}"),
        TimerKey::Overdue(id) => format!("overdue:{id}"),
        TimerKey::Settlement(at) => format!("settlement:{}", at.as_millis()),
    }
}

/// The inverse of [`timer_text`]; `None` for anything else.
pub fn parse_timer(text: &str) -> Option<TimerKey> {
    let (kind, rest) = text.split_once(':')?;
    match kind {
        "delivery" => rest.parse::<InteractionId>().ok().map(TimerKey::Delivery),
        "overdue" => rest.parse::<InteractionId>().ok().map(TimerKey::Overdue),
        "settlement" => rest
            .parse::<i64>()
            .ok()
            .map(|ms| TimerKey::Settlement(Timestamp::from_millis(ms))),
        _ => None,
    }
}

/// A command as a row: `start:<terminal>:<interaction>`, `cancel:<terminal>:<interaction>`,
/// `revoked:<terminal>`.
pub fn command_text(command: &TerminalCommand) -> String {
    match command {
        TerminalCommand::Start {
            terminal,
            interaction,
        } => format!("start:{terminal}:{}", interaction.id),
        TerminalCommand::Cancel {
            terminal,
            interaction,
        } => format!("cancel:{terminal}:{interaction}"),
        TerminalCommand::CredentialsRevoked { terminal } => format!("revoked:{terminal}"),
    }
}

/// A parsed command row: what to do, to which terminal, for which interaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandRow {
    Start(TerminalId, InteractionId),
    Cancel(TerminalId, InteractionId),
    Revoked(TerminalId),
}

/// The inverse of [`command_text`]; `None` for anything else.
pub fn parse_command(text: &str) -> Option<CommandRow> {
    let mut parts = text.split(':');
    let kind = parts.next()?;
    let terminal = parts.next()?.parse::<TerminalId>().ok()?;
    let interaction = parts.next().map(str::parse::<InteractionId>);
    match (kind, interaction) {
        ("start", Some(Ok(i))) => Some(CommandRow::Start(terminal, i)),
        ("cancel", Some(Ok(i))) => Some(CommandRow::Cancel(terminal, i)),
        ("revoked", None) => Some(CommandRow::Revoked(terminal)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_and_commands_round_trip() {
        let at = Timestamp::from_millis(1_800_000_000_000);
        let i = InteractionId::generate(at);
        let t = TerminalId::generate(at);
        for timer in [
            TimerKey::Delivery(i),
            TimerKey::Overdue(i),
            TimerKey::Settlement(at),
        ] {
            assert_eq!(parse_timer(&timer_text(timer)), Some(timer));
        }
        assert_eq!(
            parse_command(&command_text(&TerminalCommand::Cancel {
                terminal: t,
                interaction: i
            })),
            Some(CommandRow::Cancel(t, i))
        );
        assert_eq!(
            parse_command(&command_text(&TerminalCommand::CredentialsRevoked {
                terminal: t
            })),
            Some(CommandRow::Revoked(t))
        );
        assert_eq!(parse_command("start:nonsense"), None);
        assert_eq!(parse_timer("delivery:int_zz"), None);
    }
}
