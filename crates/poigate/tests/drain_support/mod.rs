//! A real `poigate serve --demo` process for the drain tests, its log, and a webhook target
//! that holds attempts in flight until released.

#![allow(dead_code)]

use crate::support::{self, Gateway};
use poigate_domain::Status;
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{eventually, sale};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const KEY: &str = "pg_test_drain_on_sigterm_0123456789abcdef01";
pub const WAIT: Duration = Duration::from_secs(30);
/// The demo's terminals.
pub const T_NATIVE: &str = "V400m-324688179";
pub const T_ADYEN: &str = "P400Plus-275039202";
pub const T_NMI: &str = "S1F2-1850000000";

/// A `poigate serve --demo` process with its URL and every line it wrote (log and banner).
pub struct Running {
    gateway: Gateway,
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// `line` without ANSI colour sequences (`ESC [ … m`), so fields read `name=value`.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Running {
    pub fn start(dir: &std::path::Path, log_filter: &str, shutdown_timeout: u64) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_poigate"))
            .args([
                "serve",
                "--demo",
                "--listen",
                "127.0.0.1:0",
                "--sim-speed",
                "0",
            ])
            .args(["--log", log_filter])
            .args(["--shutdown-timeout", &shutdown_timeout.to_string()])
            .arg("--data-dir")
            .arg(dir)
            .env("POIGATE_DEMO_API_KEY", KEY)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start poigate");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push(plain(&line));
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        // The log goes to standard output (tracing's default), beside the banner.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push(plain(&line));
                }
                let _ = tx.send(line);
            }
        });
        let url = support::line_where(&rx, |l| {
            l.trim().strip_prefix("URL").map(|u| u.trim().to_string())
        });
        Running {
            gateway: Gateway(child),
            url,
            log,
        }
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.gateway.0
    }

    /// Lines of the log containing every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> usize {
        let log = match self.log.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        log.iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    pub fn log_text(&self) -> String {
        match self.log.lock() {
            Ok(l) => l.join("\n"),
            Err(p) => p.into_inner().join("\n"),
        }
    }

    /// Sends SIGTERM or SIGINT (`name` `TERM`, `INT`) with the shell's built-in `kill`
    /// (present wherever `sh` is, unlike `/bin/kill`; no unsafe FFI in the test).
    pub fn signal(&mut self, name: &str) {
        let pid = self.child().id().to_string();
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{name} {pid}")])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Waits for the process to exit, at most `max`.
    pub async fn exited_within(&mut self, max: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + max;
        loop {
            if let Ok(Some(status)) = self.child().try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Polls `ready` until it holds, failing after `WAIT` with the gateway's log.
pub async fn until(gateway: &Running, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WAIT:?}; log:\n{}",
            gateway.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A webhook target that reads each request and answers `200` only once released: until
/// then an attempt stays in flight. `accepted` gets a message for every request read.
pub struct GatedTarget {
    pub url: String,
    accepted: std::sync::mpsc::Receiver<()>,
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl GatedTarget {
    pub fn start() -> GatedTarget {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, accepted) = std::sync::mpsc::channel();
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let shared = gate.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (tx, gate) = (tx.clone(), shared.clone());
                std::thread::spawn(move || answer_when_released(stream, &tx, &gate));
            }
        });
        GatedTarget {
            url: format!("http://{addr}/hooks"),
            accepted,
            gate,
        }
    }

    pub fn release(&self) {
        let (open, changed) = &*self.gate;
        if let Ok(mut o) = open.lock() {
            *o = true;
        }
        changed.notify_all();
    }

    /// Waits until a request arrived (an attempt is in flight).
    pub async fn wait_accepted(self) -> anyhow::Result<GatedTarget> {
        tokio::task::spawn_blocking(move || {
            self.accepted.recv_timeout(WAIT)?;
            anyhow::Ok(self)
        })
        .await?
    }
}

/// Reads one HTTP request (head and `content-length` body), waits for the gate, answers 200.
fn answer_when_released(
    mut stream: std::net::TcpStream,
    accepted: &std::sync::mpsc::Sender<()>,
    gate: &(Mutex<bool>, std::sync::Condvar),
) {
    use std::io::{Read, Write};
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut chunk) else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&chunk[..n]);
        let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if request.len() >= head_end + 4 + length {
            break;
        }
    }
    let _ = accepted.send(());
    let (open, changed) = gate;
    let Ok(mut is_open) = open.lock() else { return };
    while !*is_open {
        match changed.wait(is_open) {
            Ok(g) => is_open = g,
            Err(_) => return,
        }
    }
    drop(is_open);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}

/// A gateway with one webhook endpoint (`interaction.completed`) on `target`, after one
/// approved sale whose delivery is in flight.
pub async fn sale_with_webhook_in_flight(
    gw: &Running,
    target: GatedTarget,
) -> anyhow::Result<(Client, GatedTarget)> {
    let client = Client::new(&gw.url, KEY)?;
    client
        .create_webhook_endpoint(&poigate_api::CreateWebhookEndpointRequest {
            url: target.url.clone(),
            format: None,
            events: Some(vec!["interaction.completed".into()]),
            description: None,
            enabled: None,
        })
        .await?;
    let c = client
        .create_interaction(&sale(T_NATIVE, 1000, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status, Status::Approved);
    let target = target.wait_accepted().await?;
    Ok((client, target))
}

/// The delivery log of the next process once every delivery succeeded.
pub async fn all_delivered(url: &str) -> anyhow::Result<Vec<poigate_api::DeliveryView>> {
    let client = Client::new(url, KEY)?;
    eventually(WAIT, || async {
        let log = client
            .deliveries(&poigate_api::ListDeliveriesQuery {
                limit: Some(100),
                ..Default::default()
            })
            .await
            .ok()?;
        (!log.data.is_empty() && log.data.iter().all(|d| d.status == "succeeded"))
            .then_some(log.data)
    })
    .await
}
