//! One terminal's connection, from hello to close.
//!
//! The session reads frames in order and answers a report only after the engine made it
//! durable, so acknowledgements go out in the order the reports came in. Reports that are
//! already waiting on the socket when one arrives (a terminal sends its stage reports and its
//! result without waiting for each ack) are taken together, up to [`MAX_REPORT_BURST`], and
//! made durable in one write — one commit instead of one per report. Between frames the
//! session writes what the gateway queued (starts, cancels, test actions) and pings.
//!
//! Memory: an idle session is this small state machine waiting on the socket, its mailbox
//! and a timer. Work that needs more (a report's durable write, the hello exchange) runs in
//! boxed futures that exist only while they run.

use super::LinkGateway;
use super::presence::SessionHandle;
use crate::protocol::{
    Ack, Cancel, ErrorCode, ErrorFrame, GatewayFrame, Hello, PROTOCOL_V1, Reconnect,
    ReconnectReason, Start, TerminalFrame, TerminalInfo, Test, TestAction, TestDone, Welcome,
    close, parse_terminal_frame, render,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use poigate_domain::{InteractionId, Status, Terminal, TerminalKind};
use poigate_engine::{EngineError, TerminalReport};
use poigate_terminal::{Job, TestCard};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// What the gateway asks a session to do.
#[derive(Debug)]
pub enum Command {
    Start(Job),
    Cancel(InteractionId),
    Test {
        action: TestAction,
        card: Option<TestCard>,
        reply: oneshot::Sender<TestDone>,
    },
    Close {
        code: u16,
        reason: &'static str,
    },
    /// The gateway drains: send `reconnect` with the hint, then close with 1001.
    Reconnect {
        retry_after_ms: u64,
    },
}

/// Whether the session goes on.
enum Flow {
    Continue,
    Stop,
}

/// Test actions awaiting their answer, at most this many per session.
const MAX_PENDING_TESTS: usize = 8;

/// Reports already received that are made durable together, at most.
const MAX_REPORT_BURST: usize = 32;

/// A frame as the session first sorts it: a report (to gather with those right behind it)
/// or anything else.
enum Incoming {
    Report(String, TerminalReport),
    Other(Message),
}

impl Incoming {
    fn sort(message: Message) -> Incoming {
        if let Message::Text(text) = &message
            && let Ok(frame) = parse_terminal_frame(text.as_str())
            && let Some(report) = frame.report()
        {
            return Incoming::Report(frame.id().to_string(), report);
        }
        Incoming::Other(message)
    }
}

/// Counts an established link connection (`poigate_link_connections`) while it lives.
struct OpenConnection(());

impl OpenConnection {
    fn new() -> OpenConnection {
        metrics::gauge!("poigate_link_connections").increment(1.0);
        OpenConnection(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("poigate_link_connections").decrement(1.0);
    }
}

struct Session<'a> {
    gw: &'a LinkGateway,
    socket: WebSocket,
    terminal: Terminal,
    handle: Arc<SessionHandle>,
    next_id: u64,
    errors: u32,
    pending_tests: Vec<(String, oneshot::Sender<TestDone>)>,
    last_heard: Instant,
    /// This connection's fencing token: reports are applied only while it is the
    /// terminal's newest connection anywhere (`None`: the connect could not be recorded).
    epoch: Option<u64>,
}

/// Closes a connection that arrived while the gateway drains: 1001, reconnect elsewhere.
pub(super) async fn going_away(mut socket: WebSocket) {
    close_with(&mut socket, close::GOING_AWAY, "gateway shutting down").await;
}

/// Runs one authenticated connection of `terminal` until it ends.
pub(super) async fn run(gw: &LinkGateway, mut socket: WebSocket, terminal: Terminal) {
    let Some(hello) = Box::pin(receive_hello(gw, &mut socket, &terminal)).await else {
        return;
    };
    tracing::info!(
        terminal = %terminal.id,
        model = %hello.model,
        firmware = %hello.firmware,
        holds = hello.holds.len(),
        "terminal connected over the link"
    );
    let (handle, epoch) = gw.presence.register(terminal.id).await;
    let _open = OpenConnection::new();
    let mut session = Session {
        gw,
        socket,
        handle: handle.clone(),
        next_id: 1,
        errors: 0,
        pending_tests: Vec::new(),
        last_heard: Instant::now(),
        epoch,
        terminal,
    };
    session.serve(&hello).await;
    gw.presence.unregister(session.terminal.id, handle.id).await;
    tracing::info!(terminal = %session.terminal.id, "terminal link closed");
}

async fn close_with(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

fn error_frame(code: ErrorCode, reference: Option<String>, message: String) -> GatewayFrame {
    GatewayFrame::Error(ErrorFrame {
        id: "g0".into(),
        reference,
        code,
        message,
        expected_seq: None,
    })
}

/// Waits for the hello; refuses anything else, and a hello for another serial number.
async fn receive_hello(
    gw: &LinkGateway,
    socket: &mut WebSocket,
    terminal: &Terminal,
) -> Option<Hello> {
    let deadline = Instant::now() + gw.config.hello_timeout;
    loop {
        let message = match tokio::time::timeout_at(deadline, socket.recv()).await {
            Err(_) => {
                close_with(socket, close::POLICY, "no hello received in time").await;
                return None;
            }
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(m))) => m,
        };
        let text = match message {
            Message::Text(t) => t,
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return None,
            Message::Binary(_) => {
                close_with(socket, close::POLICY, "the first frame must be a hello").await;
                return None;
            }
        };
        let parsed = parse_terminal_frame(text.as_str());
        // Checked before anything of the hello is logged: a buggy terminal once put track 2
        // into its firmware text.
        if let Ok(TerminalFrame::Hello(hello)) = &parsed
            && let Some((field, finding)) = hello_card_data(hello)
        {
            tracing::warn!(terminal = %terminal.id, field, "hello refused: it holds card data (value not logged)");
            let frame = error_frame(
                ErrorCode::InvalidFrame,
                None,
                poigate_domain::card_data::message(field, finding),
            );
            let _ = socket.send(Message::Text(render(&frame).into())).await;
            close_with(socket, close::HELLO_REFUSED, "hello refused: card data").await;
            return None;
        }
        let refusal = match parsed {
            Ok(TerminalFrame::Hello(hello)) if hello.serial_number == terminal.serial_number => {
                return Some(hello);
            }
            Ok(TerminalFrame::Hello(hello)) => (
                error_frame(
                    ErrorCode::InvalidFrame,
                    Some(hello.id),
                    "serial_number is not the serial number this device key was paired for".into(),
                ),
                close::HELLO_REFUSED,
                "hello refused: wrong serial number",
            ),
            Ok(other) => (
                error_frame(
                    ErrorCode::UnexpectedFrame,
                    Some(other.id().to_string()),
                    "the first frame must be a hello".into(),
                ),
                close::POLICY,
                "the first frame must be a hello",
            ),
            Err(e) => (
                error_frame(e.code, e.reference, e.message),
                close::POLICY,
                "the first frame must be a hello",
            ),
        };
        let (frame, code, reason) = refusal;
        let _ = socket.send(Message::Text(render(&frame).into())).await;
        close_with(socket, code, reason).await;
        return None;
    }
}

/// The first field of a hello that holds card data, if any.
fn hello_card_data(hello: &Hello) -> Option<(&'static str, poigate_domain::card_data::Finding)> {
    [
        ("id", hello.id.as_str()),
        ("serial_number", hello.serial_number.as_str()),
        ("model", hello.model.as_str()),
        ("firmware", hello.firmware.as_str()),
    ]
    .into_iter()
    .find_map(|(field, text)| poigate_domain::card_data::scan(text).map(|f| (field, f)))
}

/// Whether a read failed because a frame or message was over the configured limit.
fn is_capacity_error(e: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        e.into_inner().downcast_ref::<Error>(),
        Some(Error::Capacity(_))
    )
}

impl Session<'_> {
    fn next_id(&mut self) -> String {
        let id = format!("g{}", self.next_id);
        self.next_id += 1;
        id
    }

    async fn send(&mut self, frame: &GatewayFrame) -> Flow {
        match self.socket.send(Message::Text(render(frame).into())).await {
            Ok(()) => {
                metrics::counter!("poigate_link_frames_sent_total").increment(1);
                Flow::Continue
            }
            Err(_) => Flow::Stop,
        }
    }

    async fn close(&mut self, code: u16, reason: &'static str) -> Flow {
        close_with(&mut self.socket, code, reason).await;
        Flow::Stop
    }

    async fn error(
        &mut self,
        code: ErrorCode,
        reference: Option<String>,
        message: String,
        expected_seq: Option<u64>,
    ) -> Flow {
        tracing::info!(terminal = %self.terminal.id, code = code.as_str(), "protocol error from terminal");
        let frame = GatewayFrame::Error(ErrorFrame {
            id: self.next_id(),
            reference,
            code,
            message,
            expected_seq,
        });
        if let Flow::Stop = self.send(&frame).await {
            return Flow::Stop;
        }
        self.errors += 1;
        if self.errors > self.gw.config.max_errors {
            return self.close(close::POLICY, "too many protocol errors").await;
        }
        Flow::Continue
    }

    async fn serve(&mut self, hello: &Hello) {
        let welcome = GatewayFrame::Welcome(Welcome {
            id: self.next_id(),
            reference: hello.id.clone(),
            protocol: PROTOCOL_V1.into(),
            terminal: TerminalInfo {
                id: self.terminal.id,
                poiid: self.terminal.poiid(),
            },
            heartbeat_seconds: self.gw.config.heartbeat_timeout.as_secs().max(1),
            max_frame_bytes: self.gw.config.limits.max_frame_bytes,
        });
        if let Flow::Stop = self.send(&welcome).await {
            return;
        }
        if let Flow::Stop = Box::pin(self.reconcile(hello)).await {
            return;
        }
        // Ping every third of the timeout; two unanswered pings in a row and the connection is
        // dead, so a silent terminal is offline within the heartbeat timeout.
        let ping_every =
            (self.gw.config.heartbeat_timeout / 3).max(std::time::Duration::from_millis(10));
        let mut next_ping = Instant::now() + ping_every;
        let handle = self.handle.clone();
        loop {
            while let Some(command) = handle.pop() {
                if let Flow::Stop = Box::pin(self.command(command)).await {
                    return;
                }
            }
            tokio::select! {
                biased;
                _ = handle.notify.notified() => {}
                message = self.socket.recv() => {
                    let flow = match message {
                        None | Some(Ok(Message::Close(_))) => Flow::Stop,
                        Some(Err(e)) => {
                            if is_capacity_error(e) {
                                self.close(close::TOO_BIG, "frame larger than max_frame_bytes").await
                            } else {
                                Flow::Stop
                            }
                        }
                        Some(Ok(message)) => {
                            self.last_heard = Instant::now();
                            Box::pin(self.incoming(message)).await
                        }
                    };
                    if let Flow::Stop = flow {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(next_ping) => {
                    if self.last_heard.elapsed() >= ping_every * 2 {
                        tracing::info!(terminal = %self.terminal.id, "terminal silent: closing the link");
                        self.close(close::HEARTBEAT_TIMEOUT, "heartbeat timeout").await;
                        return;
                    }
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                    next_ping = Instant::now() + ping_every;
                }
            }
        }
    }

    /// After (re)connecting: re-send the start of an interaction still waiting for its
    /// acknowledgement, and a cancel the terminal may not have received.
    async fn reconcile(&mut self, hello: &Hello) -> Flow {
        let Some(engine) = self.gw.engine.upgrade() else {
            return self.close(close::GOING_AWAY, "gateway shutting down").await;
        };
        let Some(live) = engine.devices().live_interaction_of(self.terminal.id).await else {
            return Flow::Continue;
        };
        let held = hello.holds.iter().any(|h| h.interaction == live.id);
        match live.status {
            Status::Pending => self.command(Command::Start(Job::from(&live))).await,
            Status::InProgress => {
                if !held {
                    tracing::warn!(
                        terminal = %self.terminal.id,
                        interaction = %live.id,
                        "the terminal does not hold its interaction in progress; it stays in progress until the terminal reports"
                    );
                }
                if live.cancel_requested {
                    self.command(Command::Cancel(live.id)).await
                } else {
                    Flow::Continue
                }
            }
            _ => Flow::Continue,
        }
    }

    async fn command(&mut self, command: Command) -> Flow {
        match command {
            Command::Start(job) => {
                let frame = GatewayFrame::Start(Start {
                    id: self.next_id(),
                    interaction: (&job).into(),
                });
                self.send(&frame).await
            }
            Command::Cancel(interaction) => {
                let frame = GatewayFrame::Cancel(Cancel {
                    id: self.next_id(),
                    interaction,
                });
                self.send(&frame).await
            }
            Command::Test {
                action,
                card,
                reply,
            } => {
                if self.terminal.kind != TerminalKind::Simulated {
                    return Flow::Continue; // dropping `reply` answers "no answer"
                }
                let id = self.next_id();
                if self.pending_tests.len() >= MAX_PENDING_TESTS {
                    self.pending_tests.remove(0);
                }
                self.pending_tests.push((id.clone(), reply));
                self.send(&GatewayFrame::Test(Test { id, action, card }))
                    .await
            }
            Command::Close { code, reason } => self.close(code, reason).await,
            Command::Reconnect { retry_after_ms } => {
                let frame = GatewayFrame::Reconnect(Reconnect {
                    id: self.next_id(),
                    reason: ReconnectReason::Draining,
                    retry_after_ms,
                });
                // Closed either way: a terminal that missed the frame still sees 1001.
                let _ = self.send(&frame).await;
                self.close(close::GOING_AWAY, "gateway shutting down").await
            }
        }
    }

    /// A frame, and the reports right behind it on the socket.
    async fn incoming(&mut self, first: Message) -> Flow {
        use futures_util::FutureExt;
        let mut reports = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            if matches!(message, Message::Text(_) | Message::Binary(_)) {
                metrics::counter!("poigate_link_frames_received_total").increment(1);
            }
            match Incoming::sort(message) {
                Incoming::Report(id, report) => reports.push((id, report)),
                Incoming::Other(other) => {
                    if let Flow::Stop = self.reports(std::mem::take(&mut reports)).await {
                        return Flow::Stop;
                    }
                    return self.message(other).await;
                }
            }
            if reports.len() >= MAX_REPORT_BURST {
                break;
            }
            // Only what is already there: never wait for more.
            match self.socket.recv().now_or_never() {
                Some(Some(Ok(message))) => next = Some(message),
                Some(None | Some(Err(_))) => {
                    // The connection ended behind these reports: store what came, then stop
                    // (the acks may not arrive; the terminal re-sends and gets `duplicate`).
                    self.reports(reports).await;
                    return Flow::Stop;
                }
                None => {}
            }
        }
        self.reports(reports).await
    }

    async fn message(&mut self, message: Message) -> Flow {
        let text = match message {
            Message::Text(t) => t,
            Message::Binary(_) => {
                return self
                    .error(
                        ErrorCode::InvalidFrame,
                        None,
                        "binary frames are not used; send JSON text frames".into(),
                        None,
                    )
                    .await;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Flow::Continue,
        };
        let frame = match parse_terminal_frame(text.as_str()) {
            Ok(f) => f,
            Err(e) => return self.error(e.code, e.reference, e.message, None).await,
        };
        if let Some(report) = frame.report() {
            return self.reports(vec![(frame.id().to_string(), report)]).await;
        }
        match frame {
            TerminalFrame::TestDone(done) => {
                match self
                    .pending_tests
                    .iter()
                    .position(|(id, _)| *id == done.reference)
                {
                    Some(i) => {
                        let (_, reply) = self.pending_tests.remove(i);
                        let _ = reply.send(done);
                        Flow::Continue
                    }
                    None => {
                        self.error(
                            ErrorCode::UnexpectedFrame,
                            Some(done.id),
                            "no test action with this ref is waiting for an answer".into(),
                            None,
                        )
                        .await
                    }
                }
            }
            TerminalFrame::Error(e) => {
                tracing::info!(terminal = %self.terminal.id, code = e.code.as_str(), "the terminal reported an error");
                if let Some(reference) = &e.reference {
                    self.pending_tests.retain(|(id, _)| id != reference);
                }
                Flow::Continue
            }
            other => {
                self.error(
                    ErrorCode::UnexpectedFrame,
                    Some(other.id().to_string()),
                    "hello is only the first frame of a connection".into(),
                    None,
                )
                .await
            }
        }
    }

    /// Makes reports durable (together), then answers each, in order.
    async fn reports(&mut self, reports: Vec<(String, TerminalReport)>) -> Flow {
        if reports.is_empty() {
            return Flow::Continue;
        }
        let Some(engine) = self.gw.engine.upgrade() else {
            return self.close(close::GOING_AWAY, "gateway shutting down").await;
        };
        if let Flow::Stop = self.fence(&engine).await {
            return Flow::Stop;
        }
        let (ids, reports): (Vec<String>, Vec<TerminalReport>) = reports.into_iter().unzip();
        let outcomes = engine
            .devices()
            .report_many(self.terminal.id, reports)
            .await;
        for (frame_id, outcome) in ids.into_iter().zip(outcomes) {
            // Acks are queued and written together below; anything else is answered at
            // once (after what is queued, so the order holds).
            if let Ok(outcome) = outcome {
                let ack = GatewayFrame::Ack(Ack {
                    id: self.next_id(),
                    reference: frame_id,
                    status: outcome.into(),
                });
                if self.feed(&ack).await.is_err() {
                    return Flow::Stop;
                }
                continue;
            }
            if let Flow::Stop = self.answer(frame_id, outcome).await {
                return Flow::Stop;
            }
        }
        match futures_util::SinkExt::flush(&mut self.socket).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    /// Refuses the reports of a connection that a newer one replaced — possibly on another
    /// node, after this node lost sight of the terminal — by closing it unacknowledged
    /// (`4000`): the terminal re-sends them on its current connection, where they are
    /// applied once. If the coordinator cannot answer, the reports go on to the engine,
    /// whose storage then refuses them too.
    async fn fence(&mut self, engine: &poigate_engine::Engine) -> Flow {
        let Some(epoch) = self.epoch else {
            // The connect was not recorded (the database was unreachable then): nothing
            // proves this connection is the newest. Reconnecting records it.
            tracing::warn!(terminal = %self.terminal.id, "connection without a recorded epoch; asking the terminal to reconnect");
            return self
                .close(close::INTERNAL, "connection not recorded; reconnect")
                .await;
        };
        let current = engine
            .devices()
            .is_current_session(self.terminal.id, epoch)
            .await;
        match current {
            Ok(true) | Err(_) => Flow::Continue,
            Ok(false) => {
                tracing::warn!(
                    terminal = %self.terminal.id,
                    epoch,
                    "reports from a replaced connection refused by epoch; closing it"
                );
                self.close(close::REPLACED, "replaced by a newer connection")
                    .await
            }
        }
    }

    /// Queues a frame without writing it yet (the next send or flush writes it).
    async fn feed(&mut self, frame: &GatewayFrame) -> Result<(), axum::Error> {
        futures_util::SinkExt::feed(&mut self.socket, Message::Text(render(frame).into())).await
    }

    /// The answer to one report: its ack, or why it was not stored.
    async fn answer(
        &mut self,
        frame_id: String,
        outcome: Result<poigate_engine::ReportOutcome, EngineError>,
    ) -> Flow {
        match outcome {
            Ok(outcome) => {
                let ack = GatewayFrame::Ack(Ack {
                    id: self.next_id(),
                    reference: frame_id,
                    status: outcome.into(),
                });
                self.send(&ack).await
            }
            Err(EngineError::WrongSeq { expected }) => {
                self.error(
                    ErrorCode::WrongSeq,
                    Some(frame_id),
                    format!("reports of an interaction are numbered without gaps; expected seq {expected}"),
                    Some(expected),
                )
                .await
            }
            Err(EngineError::UnknownInteraction | EngineError::WrongTerminal) => {
                self.error(
                    ErrorCode::UnknownInteraction,
                    Some(frame_id),
                    "no such interaction for this terminal".into(),
                    None,
                )
                .await
            }
            Err(EngineError::Store(e)) => {
                tracing::warn!(terminal = %self.terminal.id, error = %e, "report not stored; closing so the terminal re-sends it");
                self.close(close::INTERNAL, "storage unavailable; reconnect and re-send")
                    .await
            }
            Err(e) => {
                self.error(ErrorCode::InvalidReport, Some(frame_id), e.to_string(), None)
                    .await
            }
        }
    }
}
