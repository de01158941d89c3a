//! Starting the real `poigate` binary in demo mode for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A gateway process, killed when dropped.
pub struct Gateway(pub Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `poigate serve --demo` on a free port with the demo key `key`, and returns the
/// process and the URL from its banner.
pub fn start_demo(data_dir: &std::path::Path, key: &str, sim_speed: &str) -> (Gateway, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--sim-speed",
            sim_speed,
            "--log",
            "warn",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("POIGATE_DEMO_API_KEY", key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start poigate serve --demo");
    let stdout = child.stdout.take().expect("stdout");
    let gateway = Gateway(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no URL in the demo banner: {banner:?}"));
        if let Some(url) = line.trim().strip_prefix("URL") {
            return (gateway, url.trim().to_string());
        }
        banner.push(line);
    }
}
