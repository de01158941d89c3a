//! # poigate-webhooks
//!
//! Delivers the webhook outbox: a worker fans committed messages out to targets, signs each
//! attempt per the Standard Webhooks specification, retries on the configured schedule
//! (honouring `Retry-After`), disables endpoints that answer `410 Gone`, records every
//! attempt durably, and refuses private network targets unless allowed (SSRF guard).
//!
//! **Owns:** the HTTP client side of webhooks: signing, rendering the envelope, scheduling
//! attempts, concurrency limits, the SSRF guard.
//!
//! Payload formats other than the native envelope (Adyen, CM.com, …) come from a
//! [`PayloadRenderer`] — the HTTP edge's dialect registry — and what the worker may release at
//! start-up from the engine's `Coordinator` ([`LeaseRecovery`](poigate_engine::LeaseRecovery)).
//!
//! **Must not know about:** how messages are produced (the engine writes them with its state
//! changes), SQL, the API server, the dialects' shapes.

pub mod render;
pub mod signing;
pub mod ssrf;
mod test_event;
mod worker;

pub use render::{NativeRenderer, PayloadRenderer};
pub use ssrf::TargetPolicy;
pub use test_event::{TestEventOutcome, TestEventSender};
pub use worker::{WebhookConfig, WebhookWorker, WorkerHandle};

/// Installs the process-wide TLS crypto provider (ring) used by HTTPS webhook targets.
/// Call once at start-up; calling again is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
