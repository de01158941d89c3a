//! Starting the real `poigate` binary for end-to-end tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `poigate` process, killed when dropped.
pub struct Gateway(pub Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `poigate <args>` (with `POIGATE_DEMO_API_KEY=key`) and returns it with a receiver of
/// its standard output lines.
pub fn spawn(
    args: &[&str],
    data_dir: Option<&std::path::Path>,
    key: &str,
) -> (Gateway, mpsc::Receiver<String>) {
    spawn_with_stderr(args, data_dir, key, Stdio::inherit())
}

/// [`spawn`] with its standard error (the log) going to `stderr`, e.g. a file.
pub fn spawn_with_stderr(
    args: &[&str],
    data_dir: Option<&std::path::Path>,
    key: &str,
    stderr: Stdio,
) -> (Gateway, mpsc::Receiver<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_poigate"));
    command
        .args(args)
        .env("POIGATE_DEMO_API_KEY", key)
        .stdout(Stdio::piped())
        .stderr(stderr);
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    let mut child = command.spawn().expect("start poigate");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep reading after the receiver is gone, so the process never writes into a closed
        // pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Gateway(child), rx)
}

/// Asks `probe` until it answers, for at most `deadline`; `None` when it never did. The
/// blocking twin of `poigate_testkit::eventually`, for tests that talk over plain sockets
/// on their own threads: the pause between probes grows from 1 ms to 50 ms.
pub fn poll<T>(deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let until = std::time::Instant::now() + deadline;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if std::time::Instant::now() >= until {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Reads lines until one satisfies `pick` (or fails after a minute).
pub fn line_where<T>(rx: &mpsc::Receiver<String>, mut pick: impl FnMut(&str) -> Option<T>) -> T {
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("expected output not printed; got {seen:?}"));
        if let Some(v) = pick(&line) {
            return v;
        }
        seen.push(line);
    }
}

/// Starts `poigate serve --demo` on a free port with the demo key `key`, and returns the
/// process and the URL from its banner.
pub fn start_demo(data_dir: &std::path::Path, key: &str, sim_speed: &str) -> (Gateway, String) {
    let (gateway, rx) = spawn(
        &[
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--sim-speed",
            sim_speed,
            "--log",
            "warn",
            // Not the demo's well-known metrics port: tests run side by side.
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        Some(data_dir),
        key,
    );
    let url = line_where(&rx, |l| {
        l.trim().strip_prefix("URL").map(|u| u.trim().to_string())
    });
    (gateway, url)
}
