//! A terminal that speaks `poigate.terminal.v1` frame by frame, for protocol tests: it
//! sends exactly what a test writes (including garbage) and shows exactly what the gateway
//! answers.

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for one frame.
const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct RawTerminal {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// The gateway's welcome (after [`RawTerminal::connect`]).
    pub welcome: Value,
}

/// The outcome of a handshake: the WebSocket, or the HTTP status and body of the refusal.
pub enum Handshake {
    Open(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    Refused(u16, String),
}

impl RawTerminal {
    /// Opens a WebSocket with `key` offering `protocol` (no hello yet).
    pub async fn handshake(
        url: &str,
        key: Option<&str>,
        protocol: Option<&str>,
    ) -> anyhow::Result<Handshake> {
        let mut request = url.into_client_request()?;
        if let Some(key) = key {
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {key}"))?,
            );
        }
        if let Some(p) = protocol {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_str(p)?);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Handshake::Open(Box::new(socket))),
            Err(WsError::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Ok(Handshake::Refused(status, body))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An open connection before the hello.
    pub async fn open(url: &str, key: &str) -> anyhow::Result<RawTerminal> {
        match RawTerminal::handshake(url, Some(key), Some("poigate.terminal.v1")).await? {
            Handshake::Open(socket) => Ok(RawTerminal {
                socket: *socket,
                next_id: 1,
                welcome: Value::Null,
            }),
            Handshake::Refused(status, body) => anyhow::bail!("handshake refused: {status} {body}"),
        }
    }

    /// Connects and says hello (with `holds`: (interaction id, last seq)); waits for the
    /// welcome.
    pub async fn connect(
        url: &str,
        key: &str,
        serial: &str,
        holds: &[(&str, u64)],
    ) -> anyhow::Result<RawTerminal> {
        let mut t = RawTerminal::open(url, key).await?;
        let holds: Vec<Value> = holds
            .iter()
            .map(|(i, s)| json!({"interaction": i, "last_seq": s}))
            .collect();
        let hello = json!({"type": "hello", "serial_number": serial, "model": "V400m",
                           "firmware": "raw-test 1", "holds": holds});
        t.send(hello).await?;
        let welcome = t.next_frame().await?;
        anyhow::ensure!(
            welcome["type"] == "welcome",
            "expected a welcome, got {welcome}"
        );
        t.welcome = welcome;
        Ok(t)
    }

    /// Sends a frame, adding a fresh `id` unless it has one; returns the id.
    pub async fn send(&mut self, mut frame: Value) -> anyhow::Result<String> {
        if frame.get("id").is_none() {
            frame["id"] = Value::String(format!("r{}", self.next_id));
            self.next_id += 1;
        }
        let id = frame["id"].as_str().unwrap_or_default().to_string();
        self.send_text(&frame.to_string()).await?;
        Ok(id)
    }

    /// Sends any text as one message.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket.send(Message::Text(text.into())).await?;
        Ok(())
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.socket.send(Message::Binary(bytes.into())).await?;
        Ok(())
    }

    /// A report frame (`acknowledged`, `stage`, `result`, `cancel_too_late`); returns its id.
    pub async fn report(
        &mut self,
        kind: &str,
        interaction: &str,
        seq: u64,
        extra: Value,
    ) -> anyhow::Result<String> {
        let mut frame = json!({"type": kind, "interaction": interaction, "seq": seq});
        if let (Some(f), Value::Object(more)) = (frame.as_object_mut(), extra) {
            f.extend(more);
        }
        self.send(frame).await
    }

    /// Report frames `(kind, interaction, seq, extra)` written in ONE flush, so that they
    /// reach the gateway together, as a terminal's burst does; returns their ids in order.
    pub async fn reports_together(
        &mut self,
        reports: &[(&str, &str, u64, Value)],
    ) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(reports.len());
        for (kind, interaction, seq, extra) in reports {
            let id = format!("r{}", self.next_id);
            self.next_id += 1;
            let mut frame = json!({"type": kind, "id": id, "interaction": interaction, "seq": seq});
            if let (Some(f), Value::Object(more)) = (frame.as_object_mut(), extra.clone()) {
                f.extend(more);
            }
            self.socket
                .feed(Message::Text(frame.to_string().into()))
                .await?;
            ids.push(id);
        }
        self.socket.flush().await?;
        Ok(ids)
    }

    /// The next text frame from the gateway (pings are answered and skipped). Fails on a
    /// close, naming its code.
    pub async fn next_frame(&mut self) -> anyhow::Result<Value> {
        loop {
            let message = tokio::time::timeout(FRAME_WAIT, self.socket.next())
                .await
                .context("no frame from the gateway in time")?
                .context("the connection ended")??;
            match message {
                Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
                Message::Close(frame) => {
                    anyhow::bail!(
                        "closed by the gateway: {:?}",
                        frame.map(|f| (u16::from(f.code), f.reason.to_string()))
                    )
                }
                _ => {}
            }
        }
    }

    /// The next frame that is not a `start` or `cancel` (which a test reads on purpose).
    pub async fn next_answer(&mut self) -> anyhow::Result<Value> {
        loop {
            let f = self.next_frame().await?;
            if f["type"] != "start" && f["type"] != "cancel" {
                return Ok(f);
            }
        }
    }

    /// Reads until the gateway closes; returns the close code.
    pub async fn closed(&mut self) -> anyhow::Result<Option<u16>> {
        loop {
            let message = tokio::time::timeout(FRAME_WAIT, self.socket.next())
                .await
                .context("the gateway did not close in time")?;
            match message {
                None => return Ok(None),
                Some(Err(_)) => return Ok(None),
                Some(Ok(Message::Close(frame))) => return Ok(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Drops the TCP connection without a close handshake (a terminal losing its network).
    pub fn drop_connection(self) {
        drop(self.socket);
    }
}
