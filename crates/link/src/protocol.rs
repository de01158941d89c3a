//! The wire format of `poigate.terminal.v1` (specified in `docs/terminal-protocol.md`).
//!
//! One JSON object per WebSocket text message. Every frame has a `type` and an `id` chosen by
//! its sender; answers name the frame they answer in `ref`. Receivers ignore fields they do
//! not know, so later minor additions do not break older peers; anything incompatible gets a
//! new protocol version (negotiated with the `Sec-WebSocket-Protocol` header).
//!
//! Exception: inside a report's `card` and `emv`, unknown fields are refused with
//! `invalid_report` (more than BIN and last four is card data).
//!
//! Parsing never echoes a value back: an error names the offending field, never its content,
//! because a buggy terminal could put card data anywhere.

use poigate_domain::{InteractionId, InteractionType, Money, TerminalId, TerminalOutcome};
use poigate_engine::{ReportKind, ReportOutcome, TerminalReport};
use poigate_terminal::{Job, TestCard};
use serde::{Deserialize, Serialize};

/// The only protocol version this gateway speaks (WebSocket subprotocol name).
pub const PROTOCOL_V1: &str = "poigate.terminal.v1";

/// Subprotocols the gateway accepts, best first.
pub const SUPPORTED_PROTOCOLS: &[&str] = &[PROTOCOL_V1];

/// Path of the WebSocket endpoint.
pub const LINK_PATH: &str = "/v1/terminal-link";

/// Path of the pairing endpoint (pairing code → device key).
pub const PAIR_PATH: &str = "/v1/terminal-link/pair";

/// Largest frame (WebSocket message) either side accepts, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

/// Longest message id.
pub const MAX_ID_LEN: usize = 64;

/// Most interactions a hello may list as held.
pub const MAX_HOLDS: usize = 16;

/// Close codes (RFC 6455 section 7.4; 4000–4999 are ours).
pub mod close {
    /// The gateway is shutting down: reconnect with backoff.
    pub const GOING_AWAY: u16 = 1001;
    /// Too many protocol errors, or a frame that makes the session unusable.
    pub const POLICY: u16 = 1008;
    /// A frame larger than [`super::MAX_FRAME_BYTES`].
    pub const TOO_BIG: u16 = 1009;
    /// The gateway could not make a report durable: reconnect and re-send it.
    pub const INTERNAL: u16 = 1011;
    /// Another connection authenticated with the same device key replaced this one. Do not
    /// reconnect automatically: two devices share one key.
    pub const REPLACED: u16 = 4000;
    /// Dropped by the `disconnect` test helper (simulated terminals): reconnect as usual;
    /// the gateway lets the terminal back in once the `connect` helper is called.
    pub const TEST_DISCONNECT: u16 = 4001;
    /// The hello was refused (wrong serial number, malformed): fix the device, then retry.
    pub const HELLO_REFUSED: u16 = 4002;
    /// The device key was revoked or replaced by a new pairing: stop; pair again.
    pub const REVOKED: u16 = 4003;
    /// Nothing was heard from the terminal within the heartbeat timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4008;
}

/// Stable error codes of `error` frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message is not JSON.
    InvalidJson,
    /// Not an object, no valid `id` or `type`, a missing or malformed field, a binary frame.
    InvalidFrame,
    /// A `type` this version does not define.
    UnknownType,
    /// A valid frame at the wrong time (a second hello, an answer to nothing).
    UnexpectedFrame,
    /// A report whose `seq` is neither a re-send nor the next one (`expected_seq` says which).
    WrongSeq,
    /// Not an interaction of this terminal.
    UnknownInteraction,
    /// The report's content was refused (e.g. card data beyond BIN and last four).
    InvalidReport,
    /// A test action sent to a terminal that is not a simulator.
    NotSimulated,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidFrame => "invalid_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::UnexpectedFrame => "unexpected_frame",
            ErrorCode::WrongSeq => "wrong_seq",
            ErrorCode::UnknownInteraction => "unknown_interaction",
            ErrorCode::InvalidReport => "invalid_report",
            ErrorCode::NotSimulated => "not_simulated",
        }
    }
}

// --- terminal → gateway -------------------------------------------------------------------

/// An interaction the terminal still holds from before a disconnect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub interaction: InteractionId,
    /// The highest report `seq` the terminal produced for it.
    pub last_seq: u64,
}

/// The first frame on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub id: String,
    pub serial_number: String,
    pub model: String,
    pub firmware: String,
    /// Interactions the terminal is running or still has unacknowledged reports for.
    #[serde(default)]
    pub holds: Vec<Held>,
}

/// `acknowledged`, `stage`, `result`, `cancel_too_late`: one report about one interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report<T> {
    pub id: String,
    pub interaction: InteractionId,
    /// 1, 2, 3 … per interaction, across reconnects; a re-sent report keeps its `seq`.
    pub seq: u64,
    #[serde(flatten)]
    pub body: T,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoBody {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageBody {
    /// What the terminal shows, 1 to 200 characters.
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultBody {
    pub outcome: TerminalOutcome,
}

/// Which interaction a test action applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliedTo {
    /// The interaction running now (`interaction` names it).
    Current,
    /// Armed for the next interaction.
    Next,
    /// The terminal itself (freeze, unfreeze).
    Terminal,
}

/// The answer of a simulated terminal to a `test` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestDone {
    pub id: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub applied_to: AppliedTo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<InteractionId>,
}

/// An error frame, in either direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub id: String,
    /// The frame this error is about, when it had a readable id.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub code: ErrorCode,
    pub message: String,
    /// With `wrong_seq`: the `seq` the gateway expects next for that interaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seq: Option<u64>,
}

/// Every frame a terminal sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalFrame {
    Hello(Hello),
    Acknowledged(Report<NoBody>),
    Stage(Report<StageBody>),
    Result(Report<ResultBody>),
    CancelTooLate(Report<NoBody>),
    TestDone(TestDone),
    Error(ErrorFrame),
}

const TERMINAL_TYPES: &[&str] = &[
    "hello",
    "acknowledged",
    "stage",
    "result",
    "cancel_too_late",
    "test_done",
    "error",
];

/// Frame types that are reports about an interaction.
const REPORT_TYPES: &[&str] = &["acknowledged", "stage", "result", "cancel_too_late"];

impl TerminalFrame {
    pub fn id(&self) -> &str {
        match self {
            TerminalFrame::Hello(f) => &f.id,
            TerminalFrame::Acknowledged(f) | TerminalFrame::CancelTooLate(f) => &f.id,
            TerminalFrame::Stage(f) => &f.id,
            TerminalFrame::Result(f) => &f.id,
            TerminalFrame::TestDone(f) => &f.id,
            TerminalFrame::Error(f) => &f.id,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            TerminalFrame::Hello(_) => "hello",
            TerminalFrame::Acknowledged(_) => "acknowledged",
            TerminalFrame::Stage(_) => "stage",
            TerminalFrame::Result(_) => "result",
            TerminalFrame::CancelTooLate(_) => "cancel_too_late",
            TerminalFrame::TestDone(_) => "test_done",
            TerminalFrame::Error(_) => "error",
        }
    }

    /// The engine's view of a report frame.
    pub fn report(&self) -> Option<TerminalReport> {
        let (interaction_id, terminal_seq, kind) = match self {
            TerminalFrame::Acknowledged(r) => (r.interaction, r.seq, ReportKind::Acknowledged),
            TerminalFrame::Stage(r) => (
                r.interaction,
                r.seq,
                ReportKind::Stage {
                    message: r.body.message.clone(),
                },
            ),
            TerminalFrame::Result(r) => (
                r.interaction,
                r.seq,
                ReportKind::Result(Box::new(r.body.outcome.clone())),
            ),
            TerminalFrame::CancelTooLate(r) => (r.interaction, r.seq, ReportKind::CancelTooLate),
            _ => return None,
        };
        Some(TerminalReport {
            interaction_id,
            terminal_seq,
            kind,
        })
    }

    /// The frame that carries `report`, with message id `id`.
    pub fn from_report(id: String, report: &TerminalReport) -> TerminalFrame {
        let interaction = report.interaction_id;
        let seq = report.terminal_seq;
        match &report.kind {
            ReportKind::Acknowledged => TerminalFrame::Acknowledged(Report {
                id,
                interaction,
                seq,
                body: NoBody {},
            }),
            ReportKind::Stage { message } => TerminalFrame::Stage(Report {
                id,
                interaction,
                seq,
                body: StageBody {
                    message: message.clone(),
                },
            }),
            ReportKind::Result(outcome) => TerminalFrame::Result(Report {
                id,
                interaction,
                seq,
                body: ResultBody {
                    outcome: (**outcome).clone(),
                },
            }),
            ReportKind::CancelTooLate => TerminalFrame::CancelTooLate(Report {
                id,
                interaction,
                seq,
                body: NoBody {},
            }),
        }
    }
}

// --- gateway → terminal -------------------------------------------------------------------

/// Who the terminal is, as the gateway knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalInfo {
    pub id: TerminalId,
    pub poiid: String,
}

/// The answer to `hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub id: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub protocol: String,
    pub terminal: TerminalInfo,
    /// The gateway closes a connection it has heard nothing from for this long; it pings
    /// three times per period, so a terminal that hears nothing for this long reconnects.
    pub heartbeat_seconds: u64,
    pub max_frame_bytes: usize,
}

/// What became of a report, sent only once the report is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// Stored and applied.
    Applied,
    /// Seen before (a re-send): nothing changed.
    Duplicate,
    /// The interaction is already final: stop it. For an `acknowledged` report this means
    /// "do not begin the cardholder interaction".
    AlreadyFinal,
}

impl From<ReportOutcome> for AckStatus {
    fn from(o: ReportOutcome) -> AckStatus {
        match o {
            ReportOutcome::Applied => AckStatus::Applied,
            ReportOutcome::Duplicate => AckStatus::Duplicate,
            ReportOutcome::AlreadyFinal => AckStatus::AlreadyFinal,
        }
    }
}

impl From<AckStatus> for ReportOutcome {
    fn from(s: AckStatus) -> ReportOutcome {
        match s {
            AckStatus::Applied => ReportOutcome::Applied,
            AckStatus::Duplicate => ReportOutcome::Duplicate,
            AckStatus::AlreadyFinal => ReportOutcome::AlreadyFinal,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub id: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub status: AckStatus,
}

/// What to run (the start's `interaction`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartInteraction {
    pub id: InteractionId,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    pub amount: Money,
    pub timeout_seconds: u32,
    /// Ask the cardholder for a tip before the card; the result reports `tip_amount`.
    /// Absent (false) when no tip is asked, so terminals that predate tipping are unaffected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ask_for_tip: bool,
}

impl From<&Job> for StartInteraction {
    fn from(j: &Job) -> StartInteraction {
        StartInteraction {
            id: j.id,
            kind: j.kind,
            amount: j.amount,
            timeout_seconds: j.timeout_seconds,
            ask_for_tip: j.ask_for_tip,
        }
    }
}

impl From<&StartInteraction> for Job {
    fn from(s: &StartInteraction) -> Job {
        Job {
            id: s.id,
            kind: s.kind,
            amount: s.amount,
            timeout_seconds: s.timeout_seconds,
            ask_for_tip: s.ask_for_tip,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Start {
    pub id: String,
    pub interaction: StartInteraction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    pub id: String,
    pub interaction: InteractionId,
}

/// A test-helper action for a simulated terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestAction {
    PresentCard,
    PressCancel,
    Timeout,
    Hold,
    Freeze,
    Unfreeze,
}

/// Sent only to terminals registered as simulated, for test API keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Test {
    pub id: String,
    pub action: TestAction,
    /// With `present_card`: the test card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<TestCard>,
}

/// Why the gateway asks a terminal to reconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconnectReason {
    /// This gateway process is shutting down (a deploy, a restart): another node, or the
    /// next process, takes the terminal.
    Draining,
    /// A reason a later gateway may send: treated like `draining`, so adding one does not
    /// break older terminals.
    #[serde(other)]
    Other,
}

/// Sent just before the gateway closes the connection with 1001 (going away): reconnect
/// after about `retry_after_ms`, to the same URL (a load balancer picks a node that is up),
/// with a hello listing what the terminal still holds. Nothing is lost: reports not yet
/// acknowledged are re-sent after the next welcome, as after any reconnection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconnect {
    pub id: String,
    pub reason: ReconnectReason,
    /// How long to wait before the first reconnection attempt, in milliseconds; then the
    /// usual backoff.
    pub retry_after_ms: u64,
}

/// Every frame the gateway sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GatewayFrame {
    Welcome(Welcome),
    Ack(Ack),
    Start(Start),
    Cancel(Cancel),
    Test(Test),
    Error(ErrorFrame),
    Reconnect(Reconnect),
}

const GATEWAY_TYPES: &[&str] = &[
    "welcome",
    "ack",
    "start",
    "cancel",
    "test",
    "error",
    "reconnect",
];

impl GatewayFrame {
    pub fn type_name(&self) -> &'static str {
        match self {
            GatewayFrame::Welcome(_) => "welcome",
            GatewayFrame::Ack(_) => "ack",
            GatewayFrame::Start(_) => "start",
            GatewayFrame::Cancel(_) => "cancel",
            GatewayFrame::Test(_) => "test",
            GatewayFrame::Error(_) => "error",
            GatewayFrame::Reconnect(_) => "reconnect",
        }
    }
}

// --- parsing -------------------------------------------------------------------------------

/// Why a received message is not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct FrameError {
    pub code: ErrorCode,
    /// The frame's `id`, when it had a readable one.
    pub reference: Option<String>,
    pub message: String,
}

impl FrameError {
    fn new(code: ErrorCode, reference: Option<String>, message: impl Into<String>) -> FrameError {
        FrameError {
            code,
            reference,
            message: message.into(),
        }
    }
}

/// Whether `id` is an acceptable message id: 1 to 64 printable ASCII characters.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| (0x21..0x7f).contains(&b))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, known: &[&str]) -> Result<T, FrameError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| FrameError::new(ErrorCode::InvalidJson, None, "the message is not JSON"))?;
    let Some(object) = value.as_object() else {
        return Err(FrameError::new(
            ErrorCode::InvalidFrame,
            None,
            "a frame is a JSON object",
        ));
    };
    let id = match object.get("id").and_then(|v| v.as_str()) {
        Some(id) if valid_id(id) => id.to_string(),
        _ => {
            return Err(FrameError::new(
                ErrorCode::InvalidFrame,
                None,
                "`id` must be a string of 1 to 64 printable ASCII characters",
            ));
        }
    };
    let Some(kind) = object.get("type").and_then(|v| v.as_str()) else {
        return Err(FrameError::new(
            ErrorCode::InvalidFrame,
            Some(id),
            "`type` must be a string",
        ));
    };
    if !known.contains(&kind) {
        return Err(FrameError::new(
            ErrorCode::UnknownType,
            Some(id),
            "this frame type is not part of poigate.terminal.v1",
        ));
    }
    let is_report = REPORT_TYPES.contains(&kind);
    serde_json::from_value(value).map_err(|e| {
        // Only `card` and `emv` refuse unknown fields: something beyond what the protocol
        // lets a terminal report of a card is card data, and the report is refused.
        if is_report && e.to_string().starts_with("unknown field") {
            return FrameError::new(
                ErrorCode::InvalidReport,
                Some(id),
                "`card` holds only bin, last4, brand and entry_mode, and `emv` only its documented fields; a report carrying more is refused",
            );
        }
        // serde's message may quote the offending value; name the problem, not the content.
        let what = match e.classify() {
            serde_json::error::Category::Data if e.to_string().starts_with("missing field") => {
                e.to_string()
            }
            _ => "a field is missing, of the wrong type or out of range".to_string(),
        };
        FrameError::new(ErrorCode::InvalidFrame, Some(id), what)
    })
}

/// Parses a frame received from a terminal.
pub fn parse_terminal_frame(text: &str) -> Result<TerminalFrame, FrameError> {
    let frame: TerminalFrame = parse(text, TERMINAL_TYPES)?;
    if let TerminalFrame::Hello(h) = &frame
        && h.holds.len() > MAX_HOLDS
    {
        return Err(FrameError::new(
            ErrorCode::InvalidFrame,
            Some(h.id.clone()),
            format!("a hello lists at most {MAX_HOLDS} held interactions"),
        ));
    }
    Ok(frame)
}

/// Parses a frame received from the gateway.
pub fn parse_gateway_frame(text: &str) -> Result<GatewayFrame, FrameError> {
    parse(text, GATEWAY_TYPES)
}

/// Renders a frame as the text of one WebSocket message.
pub fn render<T: Serialize>(frame: &T) -> String {
    // Frames are plain data (strings, numbers, enums): serialisation cannot fail.
    serde_json::to_string(frame).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_problem_not_the_content() {
        let e = parse_terminal_frame("not json").expect_err("invalid");
        assert_eq!(e.code, ErrorCode::InvalidJson);
        let e = parse_terminal_frame("[1]").expect_err("array");
        assert_eq!(e.code, ErrorCode::InvalidFrame);
        let e = parse_terminal_frame(r#"{"type":"stage"}"#).expect_err("no id");
        assert_eq!((e.code, e.reference), (ErrorCode::InvalidFrame, None));
        let e = parse_terminal_frame(r#"{"type":"dance","id":"7"}"#).expect_err("unknown");
        assert_eq!(e.code, ErrorCode::UnknownType);
        assert_eq!(e.reference.as_deref(), Some("7"));
        let e = parse_terminal_frame(
            r#"{"type":"stage","id":"8","interaction":"int_0192f7e0c6d87f3a9b2c4d5e6f708192","seq":"4761739001010010","message":"x"}"#,
        )
        .expect_err("seq is a string");
        assert_eq!(e.code, ErrorCode::InvalidFrame);
        assert!(!e.message.contains("4761739001010010"), "{}", e.message);
        let e = parse_terminal_frame(r#"{"type":"stage","id":"9","seq":1,"message":"x"}"#)
            .expect_err("missing interaction");
        assert!(e.message.contains("interaction"), "{}", e.message);
    }

    #[test]
    fn reconnect_frame_round_trips() {
        let frame = GatewayFrame::Reconnect(Reconnect {
            id: "g9".into(),
            reason: ReconnectReason::Draining,
            retry_after_ms: 500,
        });
        let text = render(&frame);
        assert_eq!(
            text,
            r#"{"type":"reconnect","id":"g9","reason":"draining","retry_after_ms":500}"#
        );
        assert_eq!(parse_gateway_frame(&text).expect("valid"), frame);
        let later = r#"{"type":"reconnect","id":"g1","reason":"rebalancing","retry_after_ms":0}"#;
        match parse_gateway_frame(later).expect("valid") {
            GatewayFrame::Reconnect(r) => assert_eq!(r.reason, ReconnectReason::Other),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ask_for_tip_is_sent_only_when_asked_and_optional_when_read() {
        let id = "int_0192f7e0c6d87f3a9b2c4d5e6f708192";
        let old = format!(
            r#"{{"type":"start","id":"g1","interaction":{{"id":"{id}","type":"sale","amount":{{"value":1250,"currency":"EUR"}},"timeout_seconds":120}}}}"#
        );
        let GatewayFrame::Start(start) = parse_gateway_frame(&old).expect("valid") else {
            panic!("not a start");
        };
        assert!(!start.interaction.ask_for_tip, "absent: no tip asked");
        // Rendered back without the field: a start with no tip is what it always was.
        assert_eq!(render(&GatewayFrame::Start(start.clone())), old);
        let mut tipped = start;
        tipped.interaction.ask_for_tip = true;
        let text = render(&GatewayFrame::Start(tipped));
        assert!(text.contains(r#""ask_for_tip":true"#), "{text}");
        assert!(
            Job::from(&match parse_gateway_frame(&text).expect("valid") {
                GatewayFrame::Start(s) => s.interaction,
                other => panic!("{other:?}"),
            })
            .ask_for_tip
        );
    }

    #[test]
    fn a_tip_that_is_not_an_integer_is_an_invalid_frame() {
        for tip in ["-0.5", "\"3\"", "18446744073709551616"] {
            let text = format!(
                r#"{{"type":"result","id":"r1","interaction":"int_0192f7e0c6d87f3a9b2c4d5e6f708192","seq":2,"outcome":{{"result":"approved","auth_code":"A1","tip_amount":{tip},"card":{{"last4":"1111","brand":"visa","entry_mode":"chip"}}}}}}"#
            );
            let e = parse_terminal_frame(&text).expect_err(tip);
            assert_eq!(e.code, ErrorCode::InvalidFrame, "{tip}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let f = parse_terminal_frame(
            r#"{"type":"hello","id":"1","serial_number":"1","model":"V400m","firmware":"x","colour":"blue"}"#,
        )
        .expect("valid");
        assert_eq!(f.type_name(), "hello");
    }

    #[test]
    fn a_card_with_more_than_the_protocol_allows_is_an_invalid_report() {
        let e = parse_terminal_frame(
            r#"{"type":"result","id":"r1","interaction":"int_0192f7e0c6d87f3a9b2c4d5e6f708192","seq":2,"outcome":{"result":"approved","auth_code":"A1","card":{"last4":"1111","brand":"visa","entry_mode":"chip","track2":";4111111111111111=2512101?"}}}"#,
        )
        .expect_err("extra card field");
        assert_eq!(e.code, ErrorCode::InvalidReport);
        assert_eq!(e.reference.as_deref(), Some("r1"));
        assert!(!e.message.contains("4111"), "{}", e.message);
    }
}
