//! # poigate-engine
//!
//! The rules of poigate (design section 2), on top of the [`Store`](poigate_store::Store)
//! trait, a [`TerminalLink`] and a [`Clock`]:
//! - **create**: durable before acknowledged; refused at once when the terminal is offline
//!   or busy (naming the blocking interaction); idempotent by `Idempotency-Key` and by the
//!   natural key (`sale_id`, `service_id`), with fingerprints and an in-flight guard;
//! - **cancel**: immediate before delivery, forwarded in flight, the terminal decides;
//! - **terminal reports**: de-duplicated by `(interaction, terminal_seq)`, applied through the
//!   pure state machine, durable before the link acknowledges them;
//! - **timers**: delivery timeout (`not_delivered`), overdue flag — all through the clock;
//! - **waiters**: long-poll and SSE wake-ups with no missed wake-up;
//! - **terminal registry**: live status (`online` / `busy` / `offline`);
//! - **device credentials**: pairing codes exchanged for device keys, revocation.
//!
//! **Must not know about:** HTTP, JSON wire formats, SQL, WebSockets, the simulator. It sees
//! terminals only through [`TerminalLink`] and storage only through the `Store` trait.

pub mod auth;
pub mod clock;
pub mod config;
mod engine;
pub mod error;
pub mod idempotency;
mod key_cache;
pub mod link;
mod live;
mod lookup;
mod money;
pub mod processor;
pub mod registry;
pub mod tokens;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::EngineConfig;
pub use engine::{
    Caller, CancelAnswer, CancelResult, CreateRequest, Created, Engine, NewApiKey, PairedDevice,
    PairingCode, TerminalView, Waited, WeakEngine,
};
pub use error::EngineError;
pub use link::{LinkError, ReportKind, ReportOutcome, TerminalLink, TerminalReport};
pub use money::{OperationRequest, OperationResult};
pub use poigate_store::{AttemptLog, DeliveryFilter, DeliveryRecord, DeliveryStatus};
pub use poigate_store::{EventOrder, InteractionFilter};
pub use processor::{Processor, ProcessorAnswer, ProcessorError};
pub use registry::TerminalLive;
pub use tokens::AccessToken;
pub use webhooks::{EndpointUpdate, NewEndpoint, TargetGuard};
