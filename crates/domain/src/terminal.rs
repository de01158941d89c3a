//! Terminals (POI devices) and their live status.

use crate::id::{MerchantId, TerminalId};
use crate::time::Timestamp;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};

/// Where the terminal runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TerminalKind {
    /// Built-in simulated terminal (deterministic, test triggers).
    Simulated,
    /// A real device connected over the terminal link.
    Device,
}

/// How the gateway reaches the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TerminalConnection {
    /// Run inside the gateway process (simulated terminals only).
    #[default]
    InProcess,
    /// Connected over the terminal link (a WebSocket the terminal opens with its device key):
    /// every real device, and simulated terminals run by `poigate terminal-sim`.
    Link,
}

impl TerminalConnection {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalConnection::InProcess => "in_process",
            TerminalConnection::Link => "link",
        }
    }

    pub fn parse(s: &str) -> Option<TerminalConnection> {
        match s {
            "in_process" => Some(TerminalConnection::InProcess),
            "link" => Some(TerminalConnection::Link),
            _ => None,
        }
    }
}

/// Live status, derived from the link and the busy rule, never stored as truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TerminalStatus {
    Online,
    Busy,
    Offline,
}

/// A registered terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminal {
    pub id: TerminalId,
    pub merchant_id: MerchantId,
    /// Live or test mode (the mode of the key that created it, or of its terminal): a key
    /// sees only objects of its own mode. Absent (test) in rows written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livemode: bool,
    pub serial_number: String,
    pub model: String,
    pub label: Option<String>,
    pub kind: TerminalKind,
    /// In-process (simulated only) or over the terminal link.
    #[serde(default)]
    pub connection: TerminalConnection,
    pub created_at: Timestamp,
}

impl Terminal {
    /// Adyen-style POI id: `<model>-<serial number>`, e.g. `V400m-324688179`.
    pub fn poiid(&self) -> String {
        format!("{}-{}", self.model, self.serial_number)
    }

    /// Checks serial number, model and label of a terminal to register.
    pub fn validate_fields(
        serial_number: &str,
        model: &str,
        label: Option<&str>,
    ) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if serial_number.is_empty()
            || serial_number.len() > 32
            || !serial_number.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            errors.add(
                "serial_number",
                "invalid_serial_number",
                "serial_number must be 1 to 32 letters or digits",
            );
        }
        if model.is_empty()
            || model.len() > 32
            || !model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            errors.add(
                "model",
                "invalid_model",
                "model must be 1 to 32 letters, digits or underscores (no dashes: the POIID is model-serial)",
            );
        }
        // Letters and digits only, so a serial number or model could still be a card number.
        crate::card_data::check_value(&mut errors, "serial_number", serial_number);
        crate::card_data::check_value(&mut errors, "model", model);
        if let Some(l) = label {
            errors.check_text("label", l, 100);
        }
        errors.into_result(())
    }

    /// A real device is always reached over the link; a simulated terminal either way.
    pub fn validate_connection(
        kind: TerminalKind,
        connection: TerminalConnection,
    ) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if kind == TerminalKind::Device && connection == TerminalConnection::InProcess {
            errors.add(
                "connection",
                "invalid_connection",
                "a device terminal connects over the terminal link (connection: link)",
            );
        }
        errors.into_result(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poiid_is_model_dash_serial() {
        let t = Terminal {
            livemode: false,
            id: TerminalId::generate(Timestamp::from_millis(0)),
            merchant_id: MerchantId::generate(Timestamp::from_millis(0)),
            serial_number: "324688179".into(),
            model: "V400m".into(),
            label: None,
            kind: TerminalKind::Simulated,
            connection: TerminalConnection::InProcess,
            created_at: Timestamp::from_millis(0),
        };
        assert_eq!(t.poiid(), "V400m-324688179");
    }

    #[test]
    fn validates_fields() {
        assert!(Terminal::validate_fields("1850000000", "V400m", None).is_ok());
        assert!(Terminal::validate_fields("", "V400m", None).is_err());
        assert!(Terminal::validate_fields("123", "V400-m", None).is_err());
        assert!(Terminal::validate_fields("12 3", "V400m", None).is_err());
        assert!(
            Terminal::validate_connection(TerminalKind::Device, TerminalConnection::InProcess)
                .is_err()
        );
        assert!(
            Terminal::validate_connection(TerminalKind::Simulated, TerminalConnection::Link)
                .is_ok()
        );
    }
}
