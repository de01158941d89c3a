//! What the CLI prints, and how it ends: exit codes, errors as text or JSON, a closed pipe.
//!
//! **Exit codes** (the table is in `--help` and the README; scripts rely on it):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success; for a payment: approved |
//! | 1 | any other failure (a local file, the runtime …) |
//! | 2 | usage: a wrong flag or value, caught before anything was sent |
//! | 3 | the payment ended, not approved (declined, cancelled, failed) |
//! | 4 | authentication: the key is missing, unknown, revoked, or lacks the right (401, 403) |
//! | 5 | network: the gateway could not be reached, or stopped answering |
//! | 6 | refused by the gateway (any other 4xx: validation, not found, conflict) |
//! | 7 | server error (5xx) |
//!
//! **A closed pipe** (`poigate pay … | head -1`): Rust ignores SIGPIPE, so writing to a
//! closed standard output is an error, and `println!` panics on it. Every line goes through
//! [`outln!`] instead, which notes that nobody reads any more and stays quiet; the command
//! carries on (`pay` follows its payment to the final state) and exits with its own code.

use poigate_client::ClientError;
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

pub const APPROVED: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const NOT_APPROVED: u8 = 3;
pub const AUTHENTICATION: u8 = 4;
pub const NETWORK: u8 = 5;
pub const REFUSED: u8 = 6;
pub const SERVER_ERROR: u8 = 7;

/// The exit-code table as `--help` shows it.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (a payment: approved)
  1  other failure
  2  usage: wrong flag or value (nothing was sent)
  3  the payment ended, not approved (declined, cancelled, failed)
  4  authentication: key missing, unknown, revoked or not allowed (401/403)
  5  network: the gateway could not be reached or stopped answering
  6  refused by the gateway (other 4xx: validation, not found, conflict)
  7  server error (5xx)

With --json, errors are printed as JSON on standard output too:
  {\"error\": {\"type\": \"…\", \"exit_code\": N, \"message\": \"…\", \"status\": …, \"code\": \"…\"}}";

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether standard output was found closed (its reader went away).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes to standard output; a closed pipe is remembered and everything after it dropped.
pub fn write_out(text: &str) {
    if stdout_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes to standard error, ignoring failures (nothing sensible is left to tell them to).
pub fn write_err(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// `println!` that survives a closed pipe (see the module documentation).
macro_rules! outln {
    () => { $crate::cli_output::write_out("\n") };
    ($($arg:tt)*) => { $crate::cli_output::write_out(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli_output::write_err(&format!("{}\n", format_args!($($arg)*))) };
}

/// A mistake in what the user typed, found before anything was sent (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An error, classified for its exit code and rendered.
pub struct Failure {
    pub exit_code: u8,
    pub kind: &'static str,
    pub message: String,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub problem: Option<serde_json::Value>,
    pub url: Option<String>,
}

/// Classifies `error` by what the user can do about it.
pub fn classify(error: &anyhow::Error) -> Failure {
    let mut failure = Failure {
        exit_code: FAILURE,
        kind: "error",
        message: format!("{error:#}"),
        status: None,
        code: None,
        problem: None,
        url: None,
    };
    if let Some(usage) = error.downcast_ref::<UsageError>() {
        failure.exit_code = USAGE;
        failure.kind = "usage";
        failure.message = usage.0.clone();
        return failure;
    }
    let Some(client) = error.chain().find_map(|e| e.downcast_ref::<ClientError>()) else {
        return failure;
    };
    match client {
        ClientError::Api { status, problem } => {
            let s = status.as_u16();
            failure.status = Some(s);
            failure.code = Some(problem.code.clone());
            failure.problem = serde_json::to_value(problem).ok();
            (failure.exit_code, failure.kind) = match s {
                401 | 403 => (AUTHENTICATION, "authentication"),
                400..=499 => (REFUSED, "refused"),
                _ => (SERVER_ERROR, "server_error"),
            };
        }
        ClientError::Decode { status, .. } => {
            failure.status = Some(status.as_u16());
            (failure.exit_code, failure.kind) = match status.as_u16() {
                401 | 403 => (AUTHENTICATION, "authentication"),
                400..=499 => (REFUSED, "refused"),
                _ => (SERVER_ERROR, "server_error"),
            };
        }
        ClientError::Http(e) => {
            failure.exit_code = NETWORK;
            failure.kind = "network";
            let url = e
                .url()
                .map(|u| format!("{}://{}", u.scheme(), u.authority()))
                .unwrap_or_default();
            if e.is_connect() {
                failure.kind = "unreachable";
                failure.message = format!(
                    "cannot reach the gateway at {url} (connection refused or no route). \
                     Is it running? Start one with `poigate serve --demo`, or point --url / \
                     POIGATE_URL at a running gateway"
                );
            } else if e.is_timeout() {
                failure.message =
                    format!("{error:#} (the gateway at {url} did not answer in time)");
            }
            failure.url = Some(url);
        }
        ClientError::NotFinal { .. } => {
            failure.exit_code = NETWORK;
            failure.kind = "not_final";
        }
        ClientError::Invalid(_) => {
            failure.exit_code = USAGE;
            failure.kind = "usage";
        }
    }
    failure
}

/// Prints `failure`: JSON on standard output with `--json`, else a line on standard error.
pub fn report(failure: &Failure, as_json: bool) {
    if as_json {
        let mut error = json!({
            "type": failure.kind,
            "exit_code": failure.exit_code,
            "message": failure.message,
        });
        if let Some(s) = failure.status {
            error["status"] = json!(s);
        }
        if let Some(c) = &failure.code {
            error["code"] = json!(c);
        }
        if let Some(p) = &failure.problem {
            error["problem"] = p.clone();
        }
        if let Some(u) = &failure.url {
            error["url"] = json!(u);
        }
        let text = serde_json::to_string_pretty(&json!({ "error": error }))
            .unwrap_or_else(|_| "{\"error\": {}}".into());
        write_out(&format!("{text}\n"));
    } else {
        write_err(&format!("error: {}\n", failure.message));
    }
}

/// Whether the command line asks for JSON (looked at before parsing, so that a usage
/// error is JSON too).
pub fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter().any(|a| a == "--json")
}
