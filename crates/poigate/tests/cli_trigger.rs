//! `poigate trigger <scenario>` against a real gateway: each scenario produces the webhook
//! sequence it documents (`expected_webhooks` of its `--json` report, listed in
//! docs/developer-tools.md), observed on the merchant-wide event stream.

mod support;

use poigate_client::{Client, EventStream, SseMessage};
use std::process::Command;
use std::time::Duration;

const SCENARIOS: [&str; 15] = [
    "sale-approved",
    "sale-declined",
    "sale-declined-insufficient-funds",
    "sale-declined-card-blocked",
    "sale-declined-card-expired",
    "sale-declined-invalid-card",
    "sale-declined-pin-incorrect",
    "sale-cancelled-on-terminal",
    "sale-cancelled-by-pos",
    "sale-timeout",
    "refund",
    "capture",
    "void",
    "terminal-busy",
    "terminal-offline",
];

async fn next(stream: &mut EventStream) -> SseMessage {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("an event within 20 s")
        .expect("stream open")
        .expect("no stream error")
}

#[tokio::test]
async fn each_scenario_produces_its_documented_webhook_sequence() {
    let dir = tempfile::tempdir().expect("dir");
    let key = format!("pg_test_{}", "7".repeat(48));
    let (_gateway, url) = support::start_demo(dir.path(), &key, "0");
    let sdk = Client::builder(&url, &key).build().expect("client");

    for scenario in SCENARIOS {
        let mut stream = sdk.merchant_events(&[], None);
        assert_eq!(next(&mut stream).await.event, "ready");
        let (u, k) = (url.clone(), key.clone());
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_poigate"))
                .args([
                    "trigger",
                    scenario,
                    "--terminal",
                    "V400m-324688179",
                    "--json",
                ])
                .args(["--url", &u, "--key", &k])
                .output()
                .expect("run trigger")
        })
        .await
        .expect("join");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{scenario}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("a JSON report");
        let expected: Vec<String> = report["expected_webhooks"]
            .as_array()
            .expect("expected_webhooks")
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let m = next(&mut stream).await;
            let body: serde_json::Value = serde_json::from_str(&m.data).expect("json");
            if let Some(id) = report["interaction"].as_str()
                && m.event.starts_with("interaction.")
            {
                assert_eq!(
                    body["data"]["id"], id,
                    "{scenario}: another interaction's event"
                );
            }
            got.push(m.event);
        }
        assert_eq!(got, expected, "{scenario}");
        let status = report["status"].as_str().unwrap_or_default();
        let want = match scenario {
            "sale-approved" | "refund" | "capture" | "void" => "approved",
            s if s.starts_with("sale-declined") => "declined",
            "terminal-offline" => "",
            _ => "cancelled",
        };
        assert_eq!(status, want, "{scenario}: {report}");
    }
}
