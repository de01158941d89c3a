//! # poigate-engine
//!
//! The rules of poigate (design section 2), as five services over a set of ports.
//!
//! **Services** (see [`services`]): [`Interactions`] (create, cancel, status, long-poll,
//! events, lookup), [`Devices`] (terminal reports, presence, pairing, device keys),
//! [`Transactions`] (money after the sale: capture, void, refunds, settlement), [`Admin`]
//! (merchants, API keys, access tokens, terminals), [`Webhooks`] (endpoints, secrets,
//! delivery log). Obtained from one [`Engine`]: `engine.interactions().create(…)`.
//!
//! **Ports** (traits for every outside fact, all given to [`EngineBuilder`] up front):
//! [`Store`](poigate_store::Store) (durable state), [`Clock`] (time), [`Coordinator`]
//! (presence and routing of terminals, waiters, timers, in-flight guards, transaction locks,
//! the API-key cache, webhook leases: what spans requests and nodes), [`TerminalLink`]
//! (this node's terminals), [`Processor`] (the acquirer), [`TargetGuard`] (which webhook URLs
//! may be called), and the access-token [`TokenKey`].
//!
//! The rules themselves:
//! - **create**: durable before acknowledged; refused at once when the terminal is offline
//!   or busy (naming the blocking interaction); idempotent by `Idempotency-Key` and by the
//!   natural key (`sale_id`, `service_id`), with fingerprints and an in-flight guard;
//! - **cancel**: immediate before delivery, forwarded in flight, the terminal decides;
//! - **terminal reports**: de-duplicated by `(interaction, terminal_seq)`, applied through the
//!   pure state machine, durable before the link acknowledges them;
//! - **timers**: delivery timeout (`not_delivered`), overdue flag — all through the clock,
//!   claimed once through the coordinator;
//! - **waiters**: long-poll and SSE wake-ups with no missed wake-up;
//! - **device credentials**: pairing codes exchanged for device keys, revocation.
//!
//! **Must not know about:** HTTP, JSON wire formats, SQL, WebSockets, the simulator, other
//! nodes' addresses. It sees terminals only through [`TerminalLink`] and the [`Coordinator`],
//! and storage only through the `Store` trait.

pub mod auth;
pub mod builder;
pub mod clock;
pub mod config;
pub mod coordinator;
mod engine;
pub mod error;
pub mod feed;
pub mod idempotency;
mod key_admin;
pub mod key_cache;
pub mod link;
mod live;
mod lookup;
pub mod metrics;
mod money;
pub mod processor;
pub mod registry;
pub mod services;
pub mod tokens;
pub mod webhooks;

pub use builder::{EngineBuilder, Ports};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::EngineConfig;
pub use coordinator::{
    Committed, Coordinator, CoordinatorError, LeaseRecovery, LocalCoordinator, NodeId,
    PresenceChange, Route, Subscription, TerminalCommand, TimerKey, Waiters,
};
pub use engine::{
    Caller, CancelAnswer, CancelResult, CreateRequest, Created, Engine, NewApiKey, PairedDevice,
    PairingCode, TerminalView, Waited, WeakEngine,
};
pub use error::EngineError;
pub use key_admin::{ADMIN_KEY_PREFIX, NewAdminKey, admin_key_well_formed};
pub use link::{LinkError, NoTerminals, ReportKind, ReportOutcome, TerminalLink, TerminalReport};
pub use money::{OperationRequest, OperationResult};
pub use poigate_store::{AdminKeyRecord, ApiKeyRecord, EventOrder, InteractionFilter};
pub use poigate_store::{AttemptLog, DeliveryFilter, DeliveryRecord, DeliveryStatus};
pub use processor::{NoProcessor, Processor, ProcessorAnswer, ProcessorError};
pub use registry::TerminalLive;
pub use services::{Admin, Devices, Interactions, Transactions, Webhooks};
pub use tokens::{AccessToken, TokenKey};
pub use webhooks::{EndpointUpdate, NewEndpoint, TargetGuard};
