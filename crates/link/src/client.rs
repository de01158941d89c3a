//! The terminal side of the link, running a simulated terminal: what `poigate terminal-sim`
//! and the link mode of `serve --demo` run, one client per terminal.
//!
//! The client is an ordinary protocol client: it connects with its device key, says hello
//! (listing what it still holds), sends the [`SimDevice`]'s reports as frames and answers
//! each report only when the gateway acknowledges it, so the script waits for a durable
//! acknowledgement before it reads a card, exactly as in-process. Reports not acknowledged
//! when a connection drops are re-sent, in order and with the same `seq`, on the next one.

use crate::Limits;
use crate::protocol::{
    AppliedTo, ErrorFrame, GatewayFrame, Held, Hello, PROTOCOL_V1, TerminalFrame, TestAction,
    TestDone, close, parse_gateway_frame, render,
};
use futures_util::{SinkExt, StreamExt};
use poigate_domain::InteractionId;
use poigate_engine::TerminalReport;
use poigate_terminal::{
    CardholderAction, Delivered, HelperTarget, Job, Outgoing, ReportRefused, SimDevice,
    SimulatorConfig, TestCard,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How one simulated terminal reaches its gateway.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `ws://host:port/v1/terminal-link`.
    pub url: String,
    /// Other nodes of the same gateway: when a node cannot be reached, the terminal tries the
    /// next one (in order, round the list), so it fails over when its node dies.
    pub other_urls: Vec<String>,
    /// `pg_dev_…`, from pairing.
    pub device_key: String,
    /// Must be the serial number the key was paired for.
    pub serial_number: String,
    pub model: String,
    pub firmware: String,
    pub simulator: SimulatorConfig,
    pub limits: Limits,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>, device_key: impl Into<String>, serial: &str) -> Self {
        ClientConfig {
            url: url.into(),
            other_urls: Vec::new(),
            device_key: device_key.into(),
            serial_number: serial.to_string(),
            model: "V400m".into(),
            firmware: format!("poigate-sim {}", env!("CARGO_PKG_VERSION")),
            simulator: SimulatorConfig::default(),
            limits: Limits::default(),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Where a client is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientState {
    Connecting,
    Connected,
    /// Gave up for good (key refused or revoked, replaced by another connection).
    Stopped(String),
}

/// A running simulated terminal connected over the link. Dropping it drops the connection.
pub struct LinkClient {
    state: watch::Receiver<ClientState>,
    device: Arc<SimDevice>,
    task: JoinHandle<()>,
}

impl Drop for LinkClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LinkClient {
    /// Starts the terminal; it connects (and reconnects) in the background.
    pub fn spawn(config: ClientConfig) -> LinkClient {
        let (state_tx, state) = watch::channel(ClientState::Connecting);
        let (outbox, reports) = mpsc::unbounded_channel();
        let device = SimDevice::new(config.simulator, outbox);
        let core = Core {
            config,
            device: device.clone(),
            reports,
            unacked: VecDeque::new(),
            last_sent: None,
            next_id: 1,
            state: state_tx,
        };
        LinkClient {
            state,
            device,
            task: tokio::spawn(core.run()),
        }
    }

    pub fn state(&self) -> ClientState {
        self.state.borrow().clone()
    }

    /// The interaction the simulated terminal is running right now, if any: `None` once its
    /// result is reported — into the outbox, even while it is offline.
    pub fn running(&self) -> Option<InteractionId> {
        self.device.running()
    }

    /// A cardholder acts at the terminal itself, connected or not: applied to the running
    /// interaction, or armed for the next one. What the `present-card`, `cancel`, `timeout`
    /// and `hold` test helpers do over the link, for when the link is down (a card presented
    /// while the terminal is offline: its reports wait in the outbox).
    pub fn act(&self, action: CardholderAction) -> HelperTarget {
        self.device.act(action)
    }

    /// Waits until the state satisfies `done`, at most `max`.
    pub async fn wait_for(
        &self,
        max: Duration,
        done: impl Fn(&ClientState) -> bool,
    ) -> Option<ClientState> {
        let mut rx = self.state.clone();
        let waited = tokio::time::timeout(max, async {
            loop {
                let current = rx.borrow_and_update().clone();
                if done(&current) {
                    return Some(current);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        waited.ok().flatten()
    }

    /// Waits until connected (hello answered), at most `max`.
    pub async fn wait_connected(&self, max: Duration) -> bool {
        self.wait_for(max, |s| *s == ClientState::Connected)
            .await
            .is_some()
    }
}

/// A report sent and not yet acknowledged.
struct InFlight {
    id: String,
    report: TerminalReport,
    reply: oneshot::Sender<Delivered>,
}

enum End {
    Reconnect,
    /// The gateway drains (`reconnect` frame): reconnect after its hint.
    ReconnectAfter(Duration),
    Stop(String),
}

/// Longest `retry_after_ms` hint honoured: a gateway cannot park a terminal for long.
const MAX_RECONNECT_HINT: Duration = Duration::from_secs(30);

/// Why a connection attempt failed.
enum ConnectError {
    /// Retrying will not help.
    Fatal(String),
    Retry(String),
}

struct Core {
    config: ClientConfig,
    device: Arc<SimDevice>,
    reports: mpsc::UnboundedReceiver<Outgoing>,
    unacked: VecDeque<InFlight>,
    /// The newest report sent: (interaction, seq).
    last_sent: Option<(InteractionId, u64)>,
    next_id: u64,
    state: watch::Sender<ClientState>,
}

impl Core {
    async fn run(mut self) {
        let first_backoff = Duration::from_millis(50);
        let mut backoff = first_backoff;
        let urls: Vec<String> = std::iter::once(self.config.url.clone())
            .chain(self.config.other_urls.iter().cloned())
            .collect();
        let mut current = 0;
        loop {
            self.state.send_replace(ClientState::Connecting);
            let url = &urls[current % urls.len()];
            match connect(&self.config, url).await {
                Ok(socket) => {
                    backoff = first_backoff;
                    match self.session(socket).await {
                        End::Reconnect => {}
                        End::ReconnectAfter(hint) => {
                            self.state.send_replace(ClientState::Connecting);
                            tokio::time::sleep(hint.min(MAX_RECONNECT_HINT)).await;
                        }
                        End::Stop(why) => {
                            tracing::warn!(serial = %self.config.serial_number, %why, "terminal stops");
                            self.state.send_replace(ClientState::Stopped(why));
                            return;
                        }
                    }
                }
                Err(ConnectError::Fatal(why)) => {
                    tracing::warn!(serial = %self.config.serial_number, %why, "terminal stops");
                    self.state.send_replace(ClientState::Stopped(why));
                    return;
                }
                Err(ConnectError::Retry(why)) => {
                    tracing::debug!(serial = %self.config.serial_number, %url, %why, "cannot connect yet");
                    // The next node, if there is one; the backoff grows once per round.
                    current += 1;
                    if current % urls.len() == 0 {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(self.config.max_backoff);
                    }
                }
            }
        }
    }

    fn next_id(&mut self) -> String {
        let id = format!("t{}", self.next_id);
        self.next_id += 1;
        id
    }

    /// What the terminal still holds: its running interaction and every interaction with
    /// unacknowledged reports.
    fn holds(&self) -> Vec<Held> {
        let mut holds: Vec<Held> = Vec::new();
        let mut add = |interaction: InteractionId, seq: u64| match holds
            .iter_mut()
            .find(|h| h.interaction == interaction)
        {
            Some(h) => h.last_seq = h.last_seq.max(seq),
            None => holds.push(Held {
                interaction,
                last_seq: seq,
            }),
        };
        if let Some(running) = self.device.running() {
            let seq = match self.last_sent {
                Some((id, seq)) if id == running => seq,
                _ => 0,
            };
            add(running, seq);
        }
        for f in &self.unacked {
            add(f.report.interaction_id, f.report.terminal_seq);
        }
        holds
    }

    async fn session(&mut self, mut socket: Socket) -> End {
        let hello = TerminalFrame::Hello(Hello {
            id: self.next_id(),
            serial_number: self.config.serial_number.clone(),
            model: self.config.model.clone(),
            firmware: self.config.firmware.clone(),
            holds: self.holds(),
        });
        if socket.send(text(&hello)).await.is_err() {
            return End::Reconnect;
        }
        let heartbeat = match Box::pin(await_welcome(&mut socket)).await {
            Ok(seconds) => Duration::from_secs(seconds.max(1)),
            Err(end) => return end,
        };
        self.state.send_replace(ClientState::Connected);
        // Re-send, in order and with their seq, what the last connection left unacknowledged.
        for f in &self.unacked {
            let frame = TerminalFrame::from_report(f.id.clone(), &f.report);
            if socket.send(text(&frame)).await.is_err() {
                return End::Reconnect;
            }
        }
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                message = socket.next() => {
                    let message = match message {
                        None => return End::Reconnect,
                        Some(Err(_)) => return End::Reconnect,
                        Some(Ok(m)) => m,
                    };
                    last_heard = Instant::now();
                    match message {
                        Message::Text(t) => {
                            if let Some(end) = self.gateway_frame(&mut socket, t.as_str()).await {
                                return end;
                            }
                        }
                        Message::Close(frame) => return closed(frame),
                        _ => {}
                    }
                }
                report = self.reports.recv() => {
                    let Some(out) = report else { return End::Stop("the terminal was dropped".into()) };
                    let id = self.next_id();
                    let frame = TerminalFrame::from_report(id.clone(), &out.report);
                    self.last_sent = Some((out.report.interaction_id, out.report.terminal_seq));
                    self.unacked.push_back(InFlight { id, report: out.report, reply: out.reply });
                    if socket.send(text(&frame)).await.is_err() {
                        return End::Reconnect;
                    }
                }
                _ = tokio::time::sleep_until(last_heard + heartbeat) => {
                    tracing::info!(serial = %self.config.serial_number, "gateway silent: reconnecting");
                    return End::Reconnect;
                }
            }
        }
    }

    /// Handles one frame from the gateway; `Some` ends the connection.
    async fn gateway_frame(&mut self, socket: &mut Socket, text_frame: &str) -> Option<End> {
        let frame = match parse_gateway_frame(text_frame) {
            Ok(f) => f,
            Err(e) => {
                let answer = TerminalFrame::Error(ErrorFrame {
                    id: self.next_id(),
                    reference: e.reference,
                    code: e.code,
                    message: e.message,
                    expected_seq: None,
                });
                return socket
                    .send(text(&answer))
                    .await
                    .err()
                    .map(|_| End::Reconnect);
            }
        };
        match frame {
            GatewayFrame::Ack(ack) => {
                if let Some(f) = self.take_unacked(&ack.reference) {
                    let _ = f.reply.send(Ok(ack.status.into()));
                }
            }
            GatewayFrame::Error(e) => {
                tracing::info!(serial = %self.config.serial_number, code = e.code.as_str(), "the gateway refused a frame");
                if let Some(reference) = &e.reference
                    && let Some(f) = self.take_unacked(reference)
                {
                    let _ = f.reply.send(Err(ReportRefused(format!(
                        "{}: {}",
                        e.code.as_str(),
                        e.message
                    ))));
                }
            }
            GatewayFrame::Start(start) => {
                self.device.start(Job::from(&start.interaction), 0, false)
            }
            GatewayFrame::Cancel(cancel) => self.device.cancel(cancel.interaction),
            GatewayFrame::Test(test) => {
                let (applied_to, interaction) = self.apply_test(test.action, test.card);
                let done = TerminalFrame::TestDone(TestDone {
                    id: self.next_id(),
                    reference: test.id,
                    applied_to,
                    interaction,
                });
                if socket.send(text(&done)).await.is_err() {
                    return Some(End::Reconnect);
                }
            }
            GatewayFrame::Welcome(_) => {}
            GatewayFrame::Reconnect(r) => {
                tracing::info!(
                    serial = %self.config.serial_number,
                    retry_after_ms = r.retry_after_ms,
                    "the gateway drains: reconnecting"
                );
                return Some(End::ReconnectAfter(Duration::from_millis(r.retry_after_ms)));
            }
        }
        None
    }

    fn take_unacked(&mut self, id: &str) -> Option<InFlight> {
        let i = self.unacked.iter().position(|f| f.id == id)?;
        self.unacked.remove(i)
    }

    fn apply_test(
        &self,
        action: TestAction,
        card: Option<TestCard>,
    ) -> (AppliedTo, Option<InteractionId>) {
        let cardholder = match action {
            TestAction::PresentCard => CardholderAction::PresentCard(card.unwrap_or_default()),
            TestAction::PressCancel => CardholderAction::PressCancel,
            TestAction::Timeout => CardholderAction::WalkAway,
            TestAction::Hold => CardholderAction::Hold,
            TestAction::Freeze => {
                self.device.freeze();
                return (AppliedTo::Terminal, None);
            }
            TestAction::Unfreeze => {
                self.device.unfreeze();
                return (AppliedTo::Terminal, None);
            }
        };
        match self.device.act(cardholder) {
            HelperTarget::Current(id) => (AppliedTo::Current, Some(id)),
            HelperTarget::Next => (AppliedTo::Next, None),
        }
    }
}

fn text(frame: &TerminalFrame) -> Message {
    Message::Text(render(frame).into())
}

/// What a close from the gateway means for the terminal.
fn closed(frame: Option<CloseFrame>) -> End {
    let Some(frame) = frame else {
        return End::Reconnect;
    };
    match u16::from(frame.code) {
        close::REPLACED => {
            End::Stop("replaced by another connection with the same device key".into())
        }
        close::REVOKED => End::Stop("the device key was revoked; pair the terminal again".into()),
        close::HELLO_REFUSED => End::Stop(format!("hello refused: {}", frame.reason)),
        _ => End::Reconnect,
    }
}

/// Waits for the welcome; returns its heartbeat period.
async fn await_welcome(socket: &mut Socket) -> Result<u64, End> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let message = match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) | Ok(None) | Ok(Some(Err(_))) => return Err(End::Reconnect),
            Ok(Some(Ok(m))) => m,
        };
        match message {
            Message::Text(t) => match parse_gateway_frame(t.as_str()) {
                Ok(GatewayFrame::Welcome(w)) => return Ok(w.heartbeat_seconds),
                Ok(GatewayFrame::Error(e)) => {
                    tracing::warn!(code = e.code.as_str(), message = %e.message, "hello refused");
                }
                _ => {}
            },
            Message::Close(frame) => return Err(closed(frame)),
            _ => {}
        }
    }
}

async fn connect(config: &ClientConfig, url: &str) -> Result<Socket, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Fatal(format!("invalid link URL: {e}")))?;
    let auth = HeaderValue::from_str(&format!("Bearer {}", config.device_key))
        .map_err(|_| ConnectError::Fatal("the device key is not a valid header value".into()))?;
    let headers = request.headers_mut();
    headers.insert("authorization", auth);
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(PROTOCOL_V1),
    );
    match tokio_tungstenite::connect_async_with_config(
        request,
        Some(config.limits.websocket_config()),
        false,
    )
    .await
    {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            match status {
                401 | 403 => Err(ConnectError::Fatal(format!(
                    "the gateway refused the device key ({status})"
                ))),
                400 | 404 | 426 => Err(ConnectError::Fatal(format!(
                    "the gateway refused the connection ({status}); check the URL and protocol version"
                ))),
                _ => Err(ConnectError::Retry(format!("HTTP {status}"))),
            }
        }
        Err(WsError::Url(e)) => Err(ConnectError::Fatal(format!("invalid link URL: {e}"))),
        Err(e) => Err(ConnectError::Retry(e.to_string())),
    }
}
