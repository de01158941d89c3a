//! Connection hygiene: how long a client may take to send a request head, how long a
//! connection may sit silent, and how many connections are served at once — with a small
//! second lane that keeps `/healthz` and `/readyz` answering when the first one is full.
//!
//! - **Header read timeout** ([`ConnectionLimits::header_read_timeout`], 10 s): the request
//!   head must arrive within it, counted from the connection's start or from the end of the
//!   previous response. hyper runs one timer for both, so it is also the keep-alive idle
//!   timeout: a kept-alive connection that sends no new request within it is closed. A
//!   client that trickles its headers (slowloris) is closed when it runs out.
//! - **Idle timeout** ([`ConnectionLimits::idle_timeout`], 120 s): a connection on which no
//!   byte moved either way for this long is closed (a request body that never arrives, a
//!   reader that stopped reading). Long-polls (at most 60 s) and Server-Sent Events (a
//!   comment every 15 s) stay under it; an upgraded terminal-link WebSocket leaves this
//!   module's hands and lives under the link's own heartbeat timeout.
//! - **Maximum connections** ([`ConnectionLimits::max_connections`]): beyond it a new
//!   connection goes to the *overflow lane* ([`ConnectionLimits::overflow_connections`]),
//!   where one request is read within [`OVERFLOW_HEADER_TIMEOUT`]: `/healthz` and `/readyz`
//!   are answered as usual, anything else gets `503 over_capacity` (problem+json,
//!   `Retry-After: 1`, `Connection: close`). Beyond both lanes a connection is closed right
//!   after it is accepted: the kernel's backlog is drained, so a health probe behind a flood
//!   still reaches the front.
//!
//! A connection's slot is held by its socket (see [`Slotted`]): an upgraded WebSocket keeps
//! its slot until it closes, so the limit counts every socket this listener opened.
//!
//! - **TLS** (optional, [`serve`]'s `tls`): the handshake runs inside the connection's task,
//!   after its slot is taken, and must finish within the header read timeout (the overflow
//!   lane's for that lane): a client that opens a socket and never says hello holds it no
//!   longer than one that never sends a request head. The timeouts and limits above then
//!   apply to the decrypted connection unchanged (bytes are counted on the socket).

use crate::error::ApiError;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
pub use tokio_rustls::TlsAcceptor;

/// Marks a request that arrived over this server's own TLS (e.g. for cookies' `Secure`).
#[derive(Clone, Copy, Debug)]
pub struct OverTls;
use tower::ServiceExt;

/// How long a connection of the overflow lane has for its one request head: a health probe
/// sends it at once, and the lane must not be held by idle sockets.
pub const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection limits of one listener. See the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// The request head must arrive within this (also the keep-alive idle timeout).
    pub header_read_timeout: Duration,
    /// A connection without a byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections beyond `max_connections` that still get an answer (health, or `503`).
    pub overflow_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 10_000,
            overflow_connections: 256,
        }
    }
}

/// Which lane a connection was admitted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Regular,
    Overflow,
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes, then lets the
/// requests in flight finish (idle connections are closed at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let regular = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let overflow = Arc::new(Semaphore::new(limits.overflow_connections));
    // Dropping `stop_rx` (when `shutdown` completes) tells every connection to wind down;
    // `done_tx` is closed once every connection task dropped its `done_rx`.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx);
    });
    let mut refused = Refusals::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            _ = stop_tx.closed() => break,
        };
        let (lane, permit) = match regular.clone().try_acquire_owned() {
            Ok(permit) => (Lane::Regular, permit),
            Err(_) => match overflow.clone().try_acquire_owned() {
                Ok(permit) => (Lane::Overflow, permit),
                Err(_) => {
                    // Over both lanes: closed at once (the backlog drains).
                    drop(stream);
                    refused.note(limits.max_connections);
                    continue;
                }
            },
        };
        let connection = Connection {
            app: app.clone(),
            lane,
            limits,
            tls: tls.clone(),
            stop: stop_tx.clone(),
            done: done_rx.clone(),
        };
        tokio::spawn(connection.run(stream, peer, permit));
    }
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Counts connections closed over capacity, and says so in the log at most every 10 s.
#[derive(Default)]
struct Refusals {
    since_log: u64,
    last_log: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, max_connections: usize) {
        self.since_log += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10))
        {
            tracing::warn!(
                closed = self.since_log,
                max_connections,
                "connection limit reached: new connections are closed at once"
            );
            self.since_log = 0;
            self.last_log = Some(now);
        }
    }
}

/// A failed `accept`: a connection that went away before it was accepted is simply
/// skipped; running out of file descriptors (or memory) waits a moment — not a second:
/// the health probes are waiting behind it.
async fn accept_failed(e: &io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted => {}
        _ => {
            tracing::warn!(error = %e, "accept failed (out of file descriptors?)");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One accepted connection, and what it needs to be served.
struct Connection {
    app: Router,
    lane: Lane,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    stop: watch::Sender<()>,
    done: watch::Receiver<()>,
}

impl Connection {
    async fn run(self, stream: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit) {
        let _ = stream.set_nodelay(true);
        let started = Instant::now();
        let last_io = Arc::new(AtomicU64::new(0));
        let io = Slotted {
            inner: stream,
            started,
            last_io: last_io.clone(),
            _permit: permit,
        };
        let done = self.done.clone();
        let served = async move {
            match self.tls.clone() {
                None => self.serve_io(io, started, last_io, false).await,
                Some(acceptor) => {
                    let limit = match self.lane {
                        Lane::Regular => self.limits.header_read_timeout,
                        Lane::Overflow => {
                            OVERFLOW_HEADER_TIMEOUT.min(self.limits.header_read_timeout)
                        }
                    };
                    match tokio::time::timeout(limit, acceptor.accept(io)).await {
                        Ok(Ok(tls)) => self.serve_io(tls, started, last_io, true).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        };
        crate::limits::PEER.scope(peer.ip(), served).await;
        drop(done);
    }

    /// Serves HTTP/1.1 on `io` (the socket, or TLS over it) until the connection ends.
    /// Requests of a TLS connection carry the [`OverTls`] extension.
    async fn serve_io<I>(self, io: I, started: Instant, last_io: Arc<AtomicU64>, over_tls: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new());
        match self.lane {
            Lane::Regular => {
                builder.header_read_timeout(self.limits.header_read_timeout);
            }
            Lane::Overflow => {
                builder
                    .header_read_timeout(
                        OVERFLOW_HEADER_TIMEOUT.min(self.limits.header_read_timeout),
                    )
                    .keep_alive(false);
            }
        }
        let app = self.app;
        let service = match self.lane {
            Lane::Regular => TowerToHyperService::new(
                app.map_request(move |r: Request<Incoming>| {
                    let mut r = r.map(Body::new);
                    if over_tls {
                        r.extensions_mut().insert(OverTls);
                    }
                    r
                })
                .boxed_clone(),
            ),
            Lane::Overflow => TowerToHyperService::new(
                tower::service_fn(move |r: Request<Incoming>| {
                    overflow_answer(app.clone(), r.map(Body::new))
                })
                .boxed_clone(),
            ),
        };
        let idle_timeout = self.limits.idle_timeout;
        let stop = self.stop;
        {
            let mut conn = pin!(
                builder
                    .serve_connection(TokioIo::new(io), service)
                    .with_upgrades()
            );
            let mut stopping = pin!(stop.closed());
            let mut stopped = false;
            let mut idle_check = Box::pin(tokio::time::sleep(idle_timeout));
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "connection ended");
                        }
                        break;
                    }
                    _ = &mut stopping, if !stopped => {
                        stopped = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    _ = &mut idle_check => {
                        let silent = started.elapsed().saturating_sub(Duration::from_millis(
                            last_io.load(Ordering::Relaxed),
                        ));
                        if silent >= idle_timeout {
                            tracing::debug!(?silent, "idle connection closed");
                            break;
                        }
                        idle_check
                            .as_mut()
                            .reset(Instant::now() + (idle_timeout - silent));
                    }
                }
            }
        }
        drop(self.done);
    }
}

/// The overflow lane's one answer: health and readiness as usual, `503 over_capacity`
/// otherwise. Never kept alive.
async fn overflow_answer(app: Router, request: Request) -> Result<Response, Infallible> {
    let path = request.uri().path();
    let mut response = if path == "/healthz" || path == "/readyz" {
        match app.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    } else {
        let mut refusal = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "over_capacity",
            "Too many connections",
            "the server is at its connection limit; retry in a moment",
        );
        refusal.retry_after = Some(1);
        refusal.into_response()
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(response)
}

/// A connection's socket, holding its slot (the semaphore permit) for as long as it is
/// open — also after an upgrade hands it to a WebSocket — and noting when bytes last moved.
struct Slotted {
    inner: TcpStream,
    started: Instant,
    /// Milliseconds after `started` when a byte last moved either way.
    last_io: Arc<AtomicU64>,
    _permit: OwnedSemaphorePermit,
}

impl Slotted {
    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
