//! The log of the real `poigate` binary written to a file: JSON lines with an access line per
//! request carrying the request id (also in the `X-Request-Id` header and in the
//! problem+json of a failing request), no credentials, and no ANSI escape codes — in text
//! format too, since a file is not a terminal.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const KEY: &str = "pg_test_request_logs_0123456789abcdef012345";

/// Starts the demo with its log in `log`, and returns it with its URL.
fn start(dir: &Path, log: &Path, format: &str) -> (support::Gateway, String) {
    poigate_webhooks::install_tls_provider();
    let file = std::fs::File::create(log).expect("log file");
    let (gateway, rx) = support::spawn_with_stderr(
        &[
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--sim-speed",
            "0",
            "--log",
            "info",
            "--log-format",
            format,
        ],
        Some(dir),
        KEY,
        Stdio::from(file),
    );
    let url = support::line_where(&rx, |l| {
        l.trim().strip_prefix("URL").map(|u| u.trim().to_string())
    });
    (gateway, url)
}

/// Waits until the log holds a line satisfying `found` (the log is written as requests end).
fn wait_for_log(log: &Path, found: impl Fn(&str) -> bool) -> String {
    support::poll(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines().any(&found).then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "line not logged; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The access line of `request_id` in a JSON log, every line of which must be JSON.
fn access_line(text: &str, request_id: &str) -> Option<Value> {
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .find(|v| v["target"] == "poigate::access" && v["request_id"] == request_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_of_the_answer() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("poigate.log");
    let (_gateway, url) = start(&dir.path().join("data"), &log, "json");
    let http = reqwest::Client::new();

    // An authenticated request that fails: the id is generated, echoed, in the problem.
    let missing = http
        .get(format!(
            "{url}/v1/interactions/int_00000000000000000000000000000000"
        ))
        .bearer_auth(KEY)
        .send()
        .await?;
    assert_eq!(missing.status(), 404);
    let generated = header(&missing, "x-request-id");
    assert!(generated.starts_with("req_"), "{generated}");
    let problem: Value = missing.json().await?;
    assert_eq!(problem["code"], "not_found");
    assert_eq!(problem["request_id"], generated.as_str(), "{problem}");

    // A valid id given by the client is kept.
    let given = "pos-7.checkout_42";
    let unknown = http
        .get(format!("{url}/v1/no-such-endpoint"))
        .header("X-Request-Id", given)
        .send()
        .await?;
    assert_eq!(unknown.status(), 404);
    assert_eq!(header(&unknown, "x-request-id"), given);
    let problem: Value = unknown.json().await?;
    assert_eq!(problem["request_id"], given);

    // An unsafe one is replaced, not refused.
    let unsafe_id = http
        .get(format!("{url}/healthz"))
        .header("X-Request-Id", "two words;\"quoted\"")
        .send()
        .await?;
    assert_eq!(unsafe_id.status(), 200);
    let replaced = header(&unsafe_id, "x-request-id");
    assert!(replaced.starts_with("req_"), "{replaced}");

    // A dialect's error keeps its provider's shape, and still has the header.
    let nmi = http
        .post(format!("{url}/nmi/api/transact.php"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Request-Id", "nmi-call-1")
        .body("security_key=wrong&type=sale&amount=1.00")
        .send()
        .await?;
    assert_eq!(header(&nmi, "x-request-id"), "nmi-call-1");
    let nmi_body = nmi.text().await?;
    assert!(!nmi_body.contains("request_id"), "{nmi_body}");

    let text = wait_for_log(&log, |l| l.contains("nmi-call-1"));
    let line = access_line(&text, &generated).expect("access line of the 404");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/v1/interactions/{id}");
    assert_eq!(line["status"], 404);
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    let merchant = line["merchant_id"].as_str().unwrap_or_default();
    assert!(merchant.starts_with("mch_"), "authenticated: {line}");
    // The request span is on the line (and on any other line logged while serving it).
    assert_eq!(line["span"]["request_id"], generated.as_str(), "{line}");
    assert_eq!(line["span"]["merchant_id"], merchant, "{line}");

    let line = access_line(&text, given).expect("access line of the given id");
    assert_eq!(line["route"], "unmatched", "{line}");
    assert_eq!(line["merchant_id"], "-", "unauthenticated: {line}");
    assert!(access_line(&text, &replaced).is_some());
    let line = access_line(&text, "nmi-call-1").expect("access line of the dialect call");
    assert_eq!(line["route"], "/nmi/api/transact.php");

    assert!(!text.contains(KEY), "the API key is never logged");
    assert!(!text.contains("wrong"), "credentials are never logged");
    assert!(!text.contains('\u{1b}'), "no ANSI escape in a file");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_in_a_file_have_no_ansi_escapes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("poigate.log");
    let (_gateway, url) = start(&dir.path().join("data"), &log, "text");
    let response = reqwest::Client::new()
        .get(format!("{url}/v1/interactions"))
        .bearer_auth(KEY)
        .header("X-Request-Id", "text-log-1")
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let text = wait_for_log(&log, |l| {
        l.contains("poigate::access") && l.contains("text-log-1")
    });
    assert!(!text.contains('\u{1b}'), "ANSI escape in a file:\n{text}");
    let line = text
        .lines()
        .find(|l| l.contains("poigate::access") && l.contains("text-log-1"))
        .unwrap_or_default();
    for part in [
        "INFO",
        "request_id=text-log-1",
        "route=/v1/interactions",
        "status=200",
        "merchant_id=mch_",
    ] {
        assert!(line.contains(part), "{part} missing in {line}");
    }
    Ok(())
}
