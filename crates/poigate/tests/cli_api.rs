//! The CLI for the whole API against a real gateway, a representative subset: transactions
//! (capture, void, refund, refunds, get), test helpers (present-card with options), terminals
//! over the API (list, register, pairing code, revoke), webhook endpoints (create, rotate,
//! secret, list, deliveries, delete), interactions (list, get, events); completions and man
//! pages.

mod support;

use std::process::Command;

const TERMINAL: &str = "V400m-324688179";

struct Cli {
    url: String,
    key: String,
}

impl Cli {
    /// Runs `poigate <args> --url … --key …`; returns the exit code and standard output.
    fn run(&self, args: &[&str]) -> (i32, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_poigate"))
            .args(args)
            .args(["--url", &self.url, "--key", &self.key])
            .env_remove("POIGATE_API_KEY")
            .output()
            .expect("run poigate");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        (
            output.status.code().expect("exit code"),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    /// Runs with `--json`, expects success, returns the JSON.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (code, out) = self.run(&all);
        assert_eq!(code, 0, "{args:?}: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
}

#[test]
fn the_api_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let key = format!("pg_test_{}", "9".repeat(48));
    let (_gateway, url) = support::start_demo(dir.path(), &key, "0");
    let cli = Cli { url, key };

    // An authorisation, captured.
    let auth = cli.json(&[
        "pay",
        "20.00",
        "EUR",
        "--terminal",
        TERMINAL,
        "--type",
        "auth",
    ]);
    let txn = auth["transaction"]["id"].as_str().expect("txn").to_string();
    let captured = cli.json(&["transactions", "capture", &txn, "--amount", "1500"]);
    assert_eq!(
        captured["transaction"]["captured_amount"], 1500,
        "{captured}"
    );
    let shown = cli.json(&["transactions", "get", &txn]);
    assert_eq!(shown["captured_amount"], 1500);

    // Another, voided.
    let auth = cli.json(&[
        "pay",
        "9.00",
        "EUR",
        "--terminal",
        TERMINAL,
        "--type",
        "auth",
    ]);
    let voided_txn = auth["transaction"]["id"].as_str().expect("txn").to_string();
    let voided = cli.json(&["transactions", "void", &voided_txn]);
    assert_eq!(voided["operation"]["kind"], "void", "{voided}");

    // A sale, partly refunded.
    let sale = cli.json(&["pay", "12.50", "EUR", "--terminal", TERMINAL]);
    let sale_txn = sale["transaction"]["id"].as_str().expect("txn").to_string();
    let refund = cli.json(&["transactions", "refund", &sale_txn, "--amount", "500"]);
    assert_eq!(refund["operation"]["amount"]["value"], 500, "{refund}");
    let refunds = cli.json(&["transactions", "refunds", &sale_txn]);
    assert_eq!(refunds["data"].as_array().map(Vec::len), Some(1));
    let events = cli.json(&["transactions", "events", &sale_txn]);
    assert!(!events["data"].as_array().expect("events").is_empty());
    // A transaction that does not exist: refused (exit 6).
    let (code, _) = cli.run(&[
        "transactions",
        "capture",
        "txn_00000000000000000000000000000000",
    ]);
    assert_eq!(code, 6);

    // Test helpers: a blocked card armed for the next sale, then that sale: not approved.
    let armed = cli.json(&[
        "helpers",
        "present-card",
        TERMINAL,
        "--outcome",
        "card_blocked",
        "--brand",
        "mastercard",
        "--entry-mode",
        "contactless",
    ]);
    assert_eq!(armed["applied_to"], "next");
    let (code, out) = cli.run(&["pay", "3.00", "EUR", "--terminal", TERMINAL]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("DECLINED"), "{out}");
    let (code, _) = cli.run(&["helpers", "present-card", TERMINAL, "--brand", "nope"]);
    assert_eq!(code, 2, "a typo is a usage error");

    // Interactions: list, get, events.
    let list = cli.json(&[
        "interactions",
        "list",
        "--terminal",
        TERMINAL,
        "--limit",
        "100",
    ]);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(4));
    let id = list["data"][0]["id"].as_str().expect("id").to_string();
    // `get` of a final interaction exits like `pay`: 3 when it was not approved.
    let (code, out) = cli.run(&["interactions", "get", &id, "--json"]);
    assert_eq!(code, 3);
    let got: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(got["status"], "declined");
    let (code, out) = cli.run(&["interactions", "events", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("completed"), "{out}");

    // Terminals over the API.
    let (code, out) = cli.run(&["terminals", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains(TERMINAL), "{out}");
    let registered = cli.json(&["terminals", "register", "--serial", "555000111", "--link"]);
    assert!(
        registered["pairing"]["pairing_code"].is_string(),
        "{registered}"
    );
    let tid = registered["id"].as_str().expect("id").to_string();
    let code_json = cli.json(&["terminals", "pairing-code", &tid]);
    assert!(code_json["pairing_code"].is_string());
    assert_eq!(
        cli.json(&["terminals", "get", &tid])["serial_number"],
        "555000111"
    );
    let (code, _) = cli.run(&["terminals", "revoke", &tid]);
    assert_eq!(code, 0);

    // Webhook endpoints.
    let endpoint = cli.json(&[
        "webhooks",
        "create",
        "http://127.0.0.1:9/hook",
        "--events",
        "interaction.completed,transaction.updated",
    ]);
    let eid = endpoint["id"].as_str().expect("id").to_string();
    assert_eq!(endpoint["events"].as_array().map(Vec::len), Some(2));
    cli.json(&["webhooks", "rotate", &eid, "--overlap-seconds", "60"]);
    let secrets = cli.json(&["webhooks", "secret", &eid]);
    assert_eq!(
        secrets["secrets"].as_array().map(Vec::len),
        Some(2),
        "{secrets}"
    );
    let (code, out) = cli.run(&["webhooks", "endpoints"]);
    assert_eq!(code, 0);
    assert!(out.contains(&eid));
    cli.json(&["webhooks", "deliveries"]);
    let (code, _) = cli.run(&["webhooks", "delete", &eid]);
    assert_eq!(code, 0);
    let (code, _) = cli.run(&["webhooks", "secret", &eid]);
    assert_eq!(code, 6, "deleted: not found");

    // Keys.
    let keys = cli.json(&["api-keys", "list"]);
    assert!(!keys["data"].as_array().expect("keys").is_empty());
}

#[test]
fn completions_and_man_pages() {
    let output = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args(["completions", "bash"])
        .output()
        .expect("run");
    assert!(output.status.success());
    let script = String::from_utf8_lossy(&output.stdout);
    assert!(script.contains("poigate") && script.contains("listen") && script.contains("trigger"));
    let dir = tempfile::tempdir().expect("dir");
    let output = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(output.status.success());
    let page = std::fs::read_to_string(dir.path().join("poigate.1")).expect("poigate.1");
    assert!(
        page.contains(".TH poigate"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(dir.path().join("poigate-listen.1").exists());
}
