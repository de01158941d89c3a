//! # poigate-link
//!
//! The terminal link (design section 6): real terminals hold an outbound WebSocket to the
//! gateway and speak `poigate.terminal.v1` (specified in `docs/terminal-protocol.md`).
//!
//! - [`protocol`]: the frames, their parsing and the stable error and close codes;
//! - [`gateway`]: the gateway side — one session per terminal behind the engine's
//!   [`TerminalLink`](poigate_engine::TerminalLink), reports acknowledged only once durable,
//!   starts re-sent after a reconnect, heartbeats, test helpers over the link;
//! - [`client`]: a terminal-side client that runs the simulator
//!   ([`SimDevice`](poigate_terminal::SimDevice)) over the protocol — `poigate terminal-sim`
//!   and the link mode of `serve --demo`;
//! - [`routing`]: [`Terminals`], the engine's one link, sending each terminal's commands to
//!   the in-process simulator or over the WebSocket by how the terminal is connected.
//!
//! **Owns:** the protocol and both of its ends, the per-connection memory budget
//! ([`Limits`]).
//!
//! **Must not know about:** storage, the state machine's rules (the engine decides what a
//! report means), HTTP routing and authentication (the HTTP edge authenticates a device key
//! and hands over an upgraded socket).

pub mod client;
pub mod gateway;
pub mod protocol;
pub mod routing;

pub use client::{ClientConfig, ClientState, LinkClient};
pub use gateway::{HelperError, LinkConfig, LinkGateway};
pub use routing::{HelperAction, Terminals};

/// WebSocket buffer sizes and limits, the same on both ends. The library defaults allocate a
/// 128 KiB read buffer per connection and let the write buffer grow without bound for a peer
/// that does not read; frames of this protocol are a few hundred bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Read buffer, allocated up front per connection (grows only for a larger frame).
    pub read_buffer_bytes: usize,
    /// Bytes buffered before writing; 0 writes every frame at once.
    pub write_buffer_bytes: usize,
    /// The most a peer that does not read can make us buffer before the connection fails.
    pub max_write_buffer_bytes: usize,
    /// Largest frame and message accepted.
    pub max_frame_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_buffer_bytes: 2 * 1024,
            write_buffer_bytes: 0,
            max_write_buffer_bytes: 64 * 1024,
            max_frame_bytes: protocol::MAX_FRAME_BYTES,
        }
    }
}

impl Limits {
    /// The same limits for a `tungstenite` connection (the client side).
    pub fn websocket_config(&self) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_bytes)
            .write_buffer_size(self.write_buffer_bytes)
            .max_write_buffer_size(self.max_write_buffer_bytes)
            .max_message_size(Some(self.max_frame_bytes))
            .max_frame_size(Some(self.max_frame_bytes))
    }
}
