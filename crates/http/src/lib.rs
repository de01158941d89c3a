//! # poigate-http
//!
//! The HTTP edge of poigate: the native API of design section 4 and the provider dialects
//! mounted beside it, authentication by API key, `application/problem+json` errors,
//! long-poll and Server-Sent Events, body limits, and the OpenAPI document generated from the
//! handlers.
//!
//! Provider dialects implement [`dialect::Dialect`] (prefix, router, where the credential
//! is, an exhaustive engine-error mapping, webhook formats) and are mounted from one
//! [`dialect::DialectRegistry`]; the four shipped ones live in [`dialects`].
//!
//! **Owns:** parsing requests into engine commands, rendering engine answers, mapping every
//! error to a status code exactly once ([`error::ApiError`]).
//!
//! Abuse limits live here too: [`connections`] (header and idle timeouts, a connection
//! limit with an overflow lane that keeps the health probes answering) and [`limits`]
//! (token buckets on refused credentials, pairing codes and requests per key, applied by the
//! one shared authentication of the native API and every dialect).
//!
//! Also the HTTP side of the terminal link: the device-facing pairing endpoint and the
//! WebSocket upgrade (device-key authentication, protocol negotiation, buffer limits), after
//! which the socket belongs to `poigate-link`.
//!
//! The [`dashboard`] at `/dashboard` is here too: server-rendered pages for people that call
//! the native API's own handlers with a signed-in session's caller (see `docs/dashboard.md`).
//!
//! **Must not know about:** storage, the state machine's rules, the link protocol's frames.
//! Handlers call the [`Engine`]; the only other thing they touch is [`Terminals`], for the
//! test helpers and to hand over upgraded link connections.

pub mod connections;
pub mod dashboard;
pub mod dialect;
pub mod dialects;
pub mod error;
pub mod extract;
pub mod limits;
pub mod oauth;
pub mod observe;
pub mod openapi;
mod routes;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use dialect::DialectRegistry;
use poigate_engine::Engine;
use poigate_link::Terminals;
use std::sync::Arc;

/// Largest request body accepted (payment requests are small).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// Where terminals run (in-process simulator, terminal link): for the test helpers and
    /// the link endpoint. `None` serves neither.
    pub terminals: Option<Arc<Terminals>>,
    /// Rate limits on refused credentials, pairing codes and requests per key.
    pub limits: Arc<limits::RateLimits>,
    /// Sends "test events" to one webhook endpoint on request (outside the outbox).
    pub webhook_test: Arc<poigate_webhooks::TestEventSender>,
}

/// The complete HTTP application, with the standard dialects.
pub fn router(state: AppState) -> Router {
    router_with(state, &DialectRegistry::standard())
}

/// The complete HTTP application, with the dialects of `dialects`.
pub fn router_with(state: AppState, dialects: &DialectRegistry) -> Router {
    let dashboard = Arc::new(dashboard::Dashboard::new(dialects));
    routes::router(dialects)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            routes::panic_to_problem,
        ))
        .layer(axum::middleware::from_fn(observe::observe))
        // Outside `observe`, so the request log it feeds is reachable there.
        .layer(axum::Extension(dashboard))
        .with_state(state)
}

/// Serves the API (with the standard dialects) on `listener` until `shutdown` completes, then
/// lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, &DialectRegistry::standard(), shutdown).await
}

/// [`serve`] with the dialects of `dialects`.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    dialects: &DialectRegistry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = connections::ConnectionLimits::default();
    serve_with_limits(listener, state, dialects, limits, shutdown).await
}

/// [`serve_with`] under `limits` (timeouts, connection count; see [`connections`]).
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    state: AppState,
    dialects: &DialectRegistry,
    limits: connections::ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_options(listener, state, dialects, limits, None, shutdown).await
}

/// [`serve_with_limits`], over TLS when `tls` is given (HTTPS: the same application, the
/// same limits; the handshake is bounded by the header read timeout).
pub async fn serve_with_options(
    listener: tokio::net::TcpListener,
    state: AppState,
    dialects: &DialectRegistry,
    limits: connections::ConnectionLimits,
    tls: Option<connections::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::spawn(limits::sweep_every(
        std::time::Duration::from_secs(60),
        Arc::downgrade(&state.limits),
    ));
    // Each connection gets a clone of the router (an `Arc` inside), not a deep copy.
    connections::serve(
        listener,
        router_with(state, dialects),
        limits,
        tls,
        shutdown,
    )
    .await
}
