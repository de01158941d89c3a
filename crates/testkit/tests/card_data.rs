//! Card data never gets in (issue 13): disguised card numbers and track data are refused in
//! every free-text field of the API and of the terminal link, refusals name the field and
//! never echo the value, nothing of it is logged, and an `Idempotency-Key` is stored only as
//! its SHA-256 (checked by reading the SQLite file and its WAL).
//!
//! The test binary installs a tracing subscriber that records every log line of the server
//! (which runs in this process) at DEBUG, so "not logged" is checked on the real output.

use poigate_testkit::{RawTerminal, TERMINALS, TestServer, eventually, sale};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Disguises of published test card numbers (Visa, Mir, Amex, UATP, Troy-range and
/// full-width) as a careless or hostile client would send them.
const DISGUISED: &[&str] = &[
    "4111111111111111",
    "4111.1111.1111.1111",
    "4111_1111_1111_1111",
    "4111/1111/1111/1111",
    "4111  1111  1111  1111",
    "４１１１１１１１１１１１１１１１",
    "2200000000000004",
    "3782 822463 10005",
    "135410014004955",
    "card 5555-5555-5555-4444 exp 12/25",
    ";4111111111111111=2512101?",
    "%B4111111111111111^DOE/JOHN^2512101?",
];

/// Strings that must never appear in a log line, a response, or the database.
const NEEDLES: &[&str] = &[
    "4111111111111111",
    "4111.1111",
    "4111_1111",
    "4111/1111",
    "4111  1111",
    "４１１１",
    "2200000000000004",
    "822463",
    "135410014004955",
    "5555-5555",
];

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut v) => v.extend_from_slice(buf),
            Err(p) => p.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this process so far (the subscriber is installed on first use).
fn logs() -> String {
    static CAPTURE: OnceLock<Captured> = OnceLock::new();
    let captured = CAPTURE.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        captured
    });
    let bytes = match captured.0.lock() {
        Ok(v) => v.clone(),
        Err(p) => p.into_inner().clone(),
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

fn assert_no_card_data(what: &str, text: &str) {
    for needle in NEEDLES {
        assert!(!text.contains(needle), "{what} contains {needle:?}: {text}");
    }
}

async fn post(
    ts: &TestServer,
    path: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = ts
        .http()
        .post(format!("{}{path}", ts.url()))
        .bearer_auth(ts.key())
        .json(body);
    if let Some(k) = idempotency_key {
        request = request.header("Idempotency-Key", k);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    if status >= 400 {
        assert_no_card_data(&format!("the refusal of POST {path}"), &text);
    }
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// The fields of a 400 answer that carry `card_data_not_allowed`.
fn refused_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter(|e| e["code"] == "card_data_not_allowed")
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn disguised_card_numbers_are_refused_in_every_api_field() -> anyhow::Result<()> {
    let _ = logs();
    let ts = TestServer::start().await?;
    let sale_body = json!({"terminal": TERMINALS[0], "type": "sale", "amount": {"value": 100, "currency": "EUR"}});
    for value in DISGUISED {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "/v1/interactions",
                with(&sale_body, "reference", json!(value)),
                "reference",
            ),
            (
                "/v1/interactions",
                with(&sale_body, "sale_id", json!(value)),
                "sale_id",
            ),
            (
                "/v1/interactions",
                with(&sale_body, "service_id", json!(value)),
                "service_id",
            ),
            (
                "/v1/interactions",
                with(&sale_body, "metadata", json!({"note": value})),
                "metadata.note",
            ),
            (
                "/v1/interactions",
                with(&sale_body, "metadata", json!({*value: "x"})),
                "metadata",
            ),
            (
                "/v1/interactions",
                with(
                    &sale_body,
                    "webhooks",
                    json!([{"url": format!("https://pos.example.com/{value}"), "events": ["*"]}]),
                ),
                "webhooks[0].url",
            ),
            (
                "/v1/terminals",
                json!({"serial_number": "1", "model": "V400m", "label": value}),
                "label",
            ),
            (
                "/v1/webhook-endpoints",
                json!({"url": "https://pos.example.com/hooks", "description": value}),
                "description",
            ),
            (
                "/v1/webhook-endpoints",
                json!({"url": format!("https://pos.example.com/{value}")}),
                "url",
            ),
        ];
        for (path, body, field) in cases {
            let (status, problem) = post(&ts, path, &body, None).await?;
            assert_eq!(status, 400, "{path} {field} {value:?}: {problem}");
            assert!(
                refused_fields(&problem).iter().any(|f| f == field),
                "{path} {field} {value:?}: {problem}"
            );
        }
    }
    // Serial numbers and models are letters and digits only, which a card number is.
    for (body, field) in [
        (
            json!({"serial_number": "4111111111111111", "model": "V400m"}),
            "serial_number",
        ),
        (
            json!({"serial_number": "1", "model": "2200000000000004"}),
            "model",
        ),
    ] {
        let (status, problem) = post(&ts, "/v1/terminals", &body, None).await?;
        assert_eq!(status, 400, "{problem}");
        assert!(
            refused_fields(&problem).iter().any(|f| f == field),
            "{problem}"
        );
    }
    // Keys that name card secrets.
    for key in ["cvv", "CVC2", "pin_block", "track2", "card_number"] {
        let body = with(&sale_body, "metadata", json!({key: "123"}));
        let (status, problem) = post(&ts, "/v1/interactions", &body, None).await?;
        assert_eq!(status, 400, "{key}: {problem}");
        assert!(
            refused_fields(&problem).iter().any(|f| f == "metadata"),
            "{key}: {problem}"
        );
    }
    // Ordinary references that the old detector refused are accepted.
    for (i, reference) in [
        "000379-1061545662",
        "1234-567-12345678",
        "ref-00004111111111111111",
    ]
    .iter()
    .enumerate()
    {
        let body = with(
            &with(&sale_body, "reference", json!(reference)),
            "terminal",
            json!(TERMINALS[i]),
        );
        let (status, answer) = post(&ts, "/v1/interactions", &body, None).await?;
        assert_eq!(status, 202, "{reference}: {answer}");
    }
    assert_no_card_data("the server log", &logs());
    Ok(())
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut v = base.clone();
    v[key] = value;
    v
}

#[tokio::test]
async fn idempotency_keys_are_stored_as_sha256_never_in_clear() -> anyhow::Result<()> {
    let _ = logs();
    let ts = TestServer::start().await?;
    let body = json!({"terminal": TERMINALS[1], "type": "sale", "amount": {"value": 250, "currency": "EUR"}});
    let ordinary = "retry-key-7f3a9c41-order-88412";
    let (status, first) = post(&ts, "/v1/interactions", &body, Some(ordinary)).await?;
    assert_eq!(status, 202, "{first}");
    let (status, again) = post(&ts, "/v1/interactions", &body, Some(ordinary)).await?;
    assert_eq!(status, 202, "{again}");
    assert_eq!(
        first["id"], again["id"],
        "the retry is answered from the hashed key"
    );

    // A key holding track data is refused, naming the header, and never stored.
    let track = ";4111111111111111=2512101?";
    let (status, problem) = post(&ts, "/v1/interactions", &body, Some(track)).await?;
    assert_eq!(status, 400, "{problem}");
    assert!(
        refused_fields(&problem)
            .iter()
            .any(|f| f == "Idempotency-Key"),
        "{problem}"
    );

    // The raw bytes of the database file and its write-ahead log.
    let mut raw = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(ts.data_dir())? {
        let path = entry?.path();
        if path.is_file() {
            raw.extend(std::fs::read(&path)?);
            files.push(path.display().to_string());
        }
    }
    assert!(
        files.iter().any(|f| f.ends_with("-wal")),
        "the WAL must be read too: {files:?}"
    );
    let haystack = String::from_utf8_lossy(&raw);
    assert!(
        !haystack.contains(ordinary),
        "the ordinary key is stored in clear"
    );
    assert!(
        !haystack.contains("4111111111111111"),
        "the track data is stored"
    );
    let digest = poigate_store::IdempotencyKey::Header(ordinary.into()).storage_key();
    assert!(
        haystack.contains(&digest),
        "the key's SHA-256 is what is stored"
    );
    assert!(!logs().contains(ordinary), "the key is logged");
    Ok(())
}

#[tokio::test]
async fn link_reports_with_card_data_are_refused_and_not_logged() -> anyhow::Result<()> {
    let _ = logs();
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000031", true).await?;
    let mut raw = ts.raw_terminal(&link).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 700, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    let start = raw.next_frame().await?;
    assert_eq!(start["type"], "start");
    raw.report("acknowledged", &id, 1, json!({})).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");

    let card = json!({"bin": "411111", "last4": "1111", "brand": "visa", "entry_mode": "chip"});
    let emv = |label: &str| {
        json!({"application_id": "A0000000031010", "application_label": label,
               "cvm": "signature", "tsi": "E800", "tvr": "0000008000"})
    };
    let bad_reports = [
        ("stage", json!({"message": "Card 4111 1111 1111 1111 read"})),
        (
            "stage",
            json!({"message": "４１１１１１１１１１１１１１１１"}),
        ),
        ("stage", json!({"message": "Mir 2200000000000004"})),
        (
            "result",
            json!({"outcome": {"result": "approved", "auth_code": "A1B2C3", "card": card, "emv": emv("4111.1111.1111.1111")}}),
        ),
        (
            "result",
            json!({"outcome": {"result": "approved", "auth_code": "A1B2C3", "card": {"last4": "1111", "brand": "visa", "entry_mode": "chip", "pan": "4111111111111111"}}}),
        ),
        (
            "result",
            json!({"outcome": {"result": "approved", "auth_code": "A1B2C3", "card": {"last4": "1111", "brand": "visa", "entry_mode": "chip", "track2": ";4111111111111111=2512101?"}}}),
        ),
        (
            "result",
            json!({"outcome": {"result": "declined", "reason": "insufficient_funds", "message": ";4111111111111111=2512101?"}}),
        ),
        (
            "result",
            json!({"outcome": {"result": "failed", "reason": "terminal_error", "message": "%B4111111111111111^DOE/JOHN^2512101?"}}),
        ),
    ];
    for (kind, body) in bad_reports {
        let frame_id = raw.report(kind, &id, 2, body.clone()).await?;
        let answer = raw.next_answer().await?;
        assert_eq!(answer["type"], "error", "{body}: {answer}");
        assert_eq!(answer["code"], "invalid_report", "{body}: {answer}");
        assert_eq!(answer["ref"], frame_id.as_str());
        assert_no_card_data("an error frame", &answer.to_string());
    }
    // Nothing of it was stored: the next report still has seq 2, and it completes.
    raw.report("stage", &id, 2, json!({"message": "Present card"}))
        .await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    raw.report(
        "result",
        &id,
        3,
        json!({"outcome": {"result": "approved", "auth_code": "A1B2C3", "card": card, "emv": emv("VISA CREDIT")}}),
    )
    .await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    let done = client.wait_final(&id, WAIT).await?;
    let stored = serde_json::to_string(&done)?;
    assert_no_card_data("the interaction", &stored);
    let events = ts
        .http()
        .get(format!("{}/v1/interactions/{id}/events", ts.url()))
        .bearer_auth(ts.key())
        .send()
        .await?
        .text()
        .await?;
    assert_no_card_data("the events", &events);
    assert_no_card_data("the server log", &logs());
    Ok(())
}

#[tokio::test]
async fn a_hello_with_card_data_is_refused_before_anything_of_it_is_logged() -> anyhow::Result<()> {
    let _ = logs();
    let ts = TestServer::start().await?;
    let link = ts.link_terminal("700000032", true).await?;
    for (field, value) in [
        ("firmware", ";4111111111111111=2512101?"),
        ("firmware", "acme 4111 1111 1111 1111"),
        ("model", "4111111111111111"),
    ] {
        let mut raw = RawTerminal::open(&ts.link_url(), &link.device_key).await?;
        let mut hello = json!({"type": "hello", "serial_number": link.serial, "model": "V400m",
                               "firmware": "raw-test 1", "holds": []});
        hello[field] = json!(value);
        raw.send(hello).await?;
        let answer = raw.next_frame().await?;
        assert_eq!(answer["type"], "error", "{field}: {answer}");
        assert!(
            answer["message"].as_str().unwrap_or("").contains(field),
            "{answer}"
        );
        assert_no_card_data("the hello refusal", &answer.to_string());
        assert_eq!(raw.closed().await?, Some(4002), "{field}");
    }
    // A clean hello still connects.
    let _raw = ts.raw_terminal(&link).await?;
    eventually(WAIT, || async {
        let t = ts.client().terminal(&link.poiid).await.ok()?;
        (t.status == poigate_domain::TerminalStatus::Online).then_some(())
    })
    .await?;
    assert_no_card_data("the server log", &logs());
    Ok(())
}

/// A provider dialect maps its free text onto the same fields, so the same policy answers,
/// in the dialect's own error shape (CM.com here), without echoing the value.
#[tokio::test]
async fn a_dialect_refuses_card_data_in_its_free_text_fields() -> anyhow::Result<()> {
    let _ = logs();
    let ts = TestServer::start().await?;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/cm/api/v1/authorization/oauth2/token", ts.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "client_id=pos&client_secret={}&grant_type=client_credentials",
            ts.key()
        ))
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let base = format!(
        "{}/cm/api/v1/paymentmethods/creditcard/v1/transactions",
        ts.url()
    );
    for value in DISGUISED {
        for (field, key) in [
            ("reference", None),
            ("description", None),
            ("reference", Some(*value)),
        ] {
            if key.is_some_and(|k| !k.is_ascii()) {
                continue; // not a header value an HTTP client can send
            }
            let mut body = json!({"terminal": TERMINALS[0], "reference": "order-1",
                                  "amount": 100, "currency": "EUR"});
            if key.is_none() {
                body[field] = json!(value);
            }
            let mut request = http.post(&base).bearer_auth(&token).json(&body);
            if let Some(k) = key {
                request = request.header("Idempotency-Key", k);
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            assert_eq!(status, 400, "{field} {key:?} {value:?}: {text}");
            assert_no_card_data("a CM.com refusal", &text);
        }
    }
    assert_no_card_data("the server log", &logs());
    Ok(())
}
