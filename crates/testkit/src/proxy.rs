//! A TCP proxy in front of a test server that loses answers on purpose: the failures a POS
//! meets on a real network (an answer that never arrives after the server committed, a
//! stream cut mid-way), made exact and repeatable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy breaks (once).
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// The first `POST /v1/interactions` reaches the server, which commits and answers; the
    /// answer is thrown away and the client's connection closed.
    DropFirstCreateAnswer,
    /// The first Server-Sent Events stream (`…/stream`) is cut after this many bytes of its
    /// answer went through.
    CutFirstStreamAfter(usize),
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct State {
    fired: AtomicBool,
    connections: AtomicUsize,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1:0 to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, fault: Fault) -> anyhow::Result<Proxy> {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let state = shared.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&target).await {
                        pipe(client, server, fault, state).await;
                    }
                });
            }
        });
        Ok(Proxy { url, state, task })
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Whether the fault happened.
    pub fn fired(&self) -> bool {
        self.state.fired.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

async fn pipe(client: TcpStream, server: TcpStream, fault: Fault, state: Arc<State>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Set by the request direction when this connection's answer is to be broken.
    let doomed = Arc::new(AtomicBool::new(false));
    let mark = doomed.clone();
    let up_state = state.clone();
    let upstream = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let hit = match fault {
                Fault::DropFirstCreateAnswer => chunk.starts_with(b"POST /v1/interactions "),
                Fault::CutFirstStreamAfter(_) => {
                    chunk.starts_with(b"GET ") && find(chunk, b"/stream").is_some()
                }
            };
            if hit && !up_state.fired.load(Ordering::SeqCst) {
                mark.store(true, Ordering::SeqCst);
            }
            if server_write.write_all(chunk).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    let mut forwarded = 0usize;
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if doomed.load(Ordering::SeqCst) && !state.fired.load(Ordering::SeqCst) {
            match fault {
                Fault::DropFirstCreateAnswer => {
                    // The server answered: it committed. The client never hears of it.
                    state.fired.store(true, Ordering::SeqCst);
                    break;
                }
                Fault::CutFirstStreamAfter(limit) => {
                    let room = limit.saturating_sub(forwarded).min(n);
                    if client_write.write_all(&buf[..room]).await.is_err() {
                        break;
                    }
                    forwarded += room;
                    if forwarded >= limit {
                        state.fired.store(true, Ordering::SeqCst);
                        break;
                    }
                    continue;
                }
            }
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    upstream.abort();
    let _ = client_write.shutdown().await;
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
