//! The exit-code table of the CLI holds for each case, against the real binary and a real
//! gateway (and a gateway that is down): approved 0, usage 2, not approved 3,
//! authentication 4, unreachable 5, refused 6, server error 7. `--json` errors are JSON.
//! `poigate pay … | head -1` ends without a panic and the payment still reaches its end.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

const TERMINAL: &str = "V400m-324688179";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn poigate(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args(args)
        .env_remove("POIGATE_URL")
        .env_remove("POIGATE_API_KEY")
        .output()
        .expect("run poigate");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn with_conn<'a>(args: &[&'a str], url: &'a str, key: &'a str) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--url", url, "--key", key]);
    all
}

fn json_error(run: &Run) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {} / {}", run.stdout, run.stderr));
    v["error"].clone()
}

/// An HTTP server that answers every request with `500` and a problem document.
fn broken_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let body = r#"{"type":"about:blank","title":"Internal error","status":500,"code":"internal_error","detail":"it broke"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn the_exit_code_table_holds() {
    let dir = tempfile::tempdir().expect("dir");
    let key = format!("pg_test_{}", "e".repeat(48));
    let (_gateway, url) = support::start_demo(dir.path(), &key, "0");

    // 0: approved; the idempotency key is printed.
    let run = poigate(&with_conn(
        &["pay", "12.50", "EUR", "--terminal", TERMINAL],
        &url,
        &key,
    ));
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("APPROVED"), "{}", run.stdout);
    assert!(
        run.stderr.contains("idempotency key idem_"),
        "{}",
        run.stderr
    );

    // 0 too with a tip asked on the terminal: the summary shows the cardholder's 15 %.
    let run = poigate(&with_conn(
        &[
            "pay",
            "12.50",
            "EUR",
            "--terminal",
            TERMINAL,
            "--tip-on-terminal",
        ],
        &url,
        &key,
    ));
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("APPROVED"), "{}", run.stdout);
    assert!(run.stdout.contains("tip 187"), "{}", run.stdout);

    // 3: declined (an amount ending in 124).
    let run = poigate(&with_conn(
        &["pay", "11.24", "EUR", "--terminal", TERMINAL],
        &url,
        &key,
    ));
    assert_eq!(run.code, 3, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("DECLINED"), "{}", run.stdout);

    // 2: usage, found before sending (a bad amount; a missing argument).
    let run = poigate(&with_conn(
        &["pay", "12.5.0", "EUR", "--terminal", TERMINAL],
        &url,
        &key,
    ));
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = poigate(&["pay", "12.50"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = poigate(&["pay", "12.50", "--json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(json_error(&run)["type"], "usage");

    // 4: authentication.
    let wrong = format!("pg_test_{}", "0".repeat(48));
    let run = poigate(&with_conn(
        &["pay", "1.00", "EUR", "--terminal", TERMINAL],
        &url,
        &wrong,
    ));
    assert_eq!(run.code, 4, "{}", run.stderr);
    let run = poigate(&with_conn(
        &["interactions", "list", "--json"],
        &url,
        &wrong,
    ));
    assert_eq!(run.code, 4, "{}", run.stderr);
    let e = json_error(&run);
    assert_eq!(
        (e["type"].as_str(), e["status"].as_u64()),
        (Some("authentication"), Some(401))
    );
    assert_eq!(e["exit_code"], 4);

    // 6: refused (an unknown terminal is 422 terminal_not_found), as JSON too.
    let run = poigate(&with_conn(
        &["pay", "1.00", "EUR", "--terminal", "nope-1", "--json"],
        &url,
        &key,
    ));
    assert_eq!(run.code, 6, "{}", run.stderr);
    let e = json_error(&run);
    assert_eq!(e["code"], "terminal_not_found");
    assert_eq!(e["status"], 422);

    // 7: a server error.
    let broken = broken_server();
    let run = poigate(&with_conn(&["status", "int_0", "--json"], &broken, &key));
    assert_eq!(run.code, 7, "{} {}", run.stdout, run.stderr);
    assert_eq!(json_error(&run)["type"], "server_error");

    // 5: nobody listens; the message names the URL and how to start a gateway.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let down = format!("http://{free}");
    let run = poigate(&with_conn(
        &["pay", "1.00", "EUR", "--terminal", TERMINAL],
        &down,
        &key,
    ));
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains(&down), "{}", run.stderr);
    assert!(
        run.stderr.contains("poigate serve --demo"),
        "{}",
        run.stderr
    );
    let run = poigate(&with_conn(&["interactions", "list", "--json"], &down, &key));
    assert_eq!(run.code, 5);
    assert_eq!(json_error(&run)["type"], "unreachable");

    // --help documents the table.
    let run = poigate(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Exit codes:") && run.stdout.contains("7  server error"));
}

#[test]
fn pay_into_a_closed_pipe_ends_quietly_and_the_payment_still_ends() {
    let dir = tempfile::tempdir().expect("dir");
    let key = format!("pg_test_{}", "f".repeat(48));
    // Realistic speed: the payment is still running when the reader goes away.
    let (_gateway, url) = support::start_demo(dir.path(), &key, "0.3");

    // Exactly the command of the issue, through a real shell pipe.
    let script = format!(
        "\"$0\" pay 12.50 EUR --terminal {TERMINAL} --sale-id pipe-test --service-id 0001 \
         --url {url} --key {key} | head -1; echo \"exit=${{PIPESTATUS[0]}}\""
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_poigate"))
        .stderr(Stdio::piped())
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut lines = stdout.lines();
    let first = lines.next().expect("head printed a line");
    assert!(first.starts_with("sale 12.50 EUR"), "{stdout}");
    assert_eq!(lines.next(), Some("exit=0"), "{stdout} / {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // `pay` exited only once its payment was final: look it up by its natural key.
    let run = poigate(&with_conn(
        &[
            "interactions",
            "list",
            "--sale-id",
            "pipe-test",
            "--service-id",
            "0001",
            "--json",
        ],
        &url,
        &key,
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let list: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["data"][0]["final"], true, "{}", run.stdout);
    assert_eq!(list["data"][0]["status"], "approved");
}

#[test]
fn pay_closes_its_pipe_early_without_panicking_when_read_line_by_line() {
    // The same from a reader that drops the pipe after the first line, with the exit code
    // checked directly.
    let dir = tempfile::tempdir().expect("dir");
    let key = format!("pg_test_{}", "a".repeat(48));
    let (_gateway, url) = support::start_demo(dir.path(), &key, "0.3");
    let mut child = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args(with_conn(
            &["pay", "3.00", "EUR", "--terminal", TERMINAL],
            &url,
            &key,
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a line");
    // The reader (and the pipe) is gone here.
    assert!(first.starts_with("sale 3.00 EUR"), "{first}");
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn pay_recovers_a_lost_answer_without_paying_twice() {
    use poigate_testkit::proxy::{Fault, Proxy};
    let dir = tempfile::tempdir().expect("dir");
    let key = format!("pg_test_{}", "b".repeat(48));
    let (_gateway, url) = support::start_demo(dir.path(), &key, "0");
    let proxy = Proxy::start(&url, Fault::DropFirstCreateAnswer)
        .await
        .expect("proxy");
    let through = proxy.url();
    let (k, t) = (key.clone(), through.clone());
    let run = tokio::task::spawn_blocking(move || {
        poigate(&with_conn(
            &[
                "pay",
                "4.00",
                "EUR",
                "--terminal",
                TERMINAL,
                "--sale-id",
                "lost",
                "--service-id",
                "1",
            ],
            &t,
            &k,
        ))
    })
    .await
    .expect("join");
    assert!(proxy.fired(), "the create's answer was dropped");
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(run.stderr.contains("answer was lost"), "{}", run.stderr);
    let (k, u) = (key.clone(), url.clone());
    let run = tokio::task::spawn_blocking(move || {
        poigate(&with_conn(
            &[
                "interactions",
                "list",
                "--sale-id",
                "lost",
                "--service-id",
                "1",
                "--json",
            ],
            &u,
            &k,
        ))
    })
    .await
    .expect("join");
    let list: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "one payment"
    );
}
