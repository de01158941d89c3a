//! Malformed input never produces a 5xx: every case gets a 4xx problem+json with a stable
//! code, and random bodies are fuzzed against the create endpoint.

use poigate_testkit::{TERMINALS, TestServer};
use proptest::prelude::*;
use serde_json::{Value, json};

async fn post_raw(
    ts: &TestServer,
    body: Vec<u8>,
    content_type: &str,
) -> anyhow::Result<(u16, Value, String)> {
    let response = ts
        .http()
        .post(format!("{}/v1/interactions", ts.url()))
        .bearer_auth(ts.key())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = response.bytes().await?;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, value, ct))
}

/// (name, body, content type, expected status, expected code, expected offending field)
type Case = (
    &'static str,
    Vec<u8>,
    &'static str,
    u16,
    &'static str,
    Option<&'static str>,
);

fn valid() -> Value {
    json!({"terminal": TERMINALS[0], "type": "sale", "amount": {"value": 1000, "currency": "EUR"}})
}

fn with(path: &[&str], value: Value) -> Value {
    let mut body = valid();
    let mut cursor = &mut body;
    for key in &path[..path.len() - 1] {
        cursor = &mut cursor[*key];
    }
    cursor[path[path.len() - 1]] = value;
    body
}

#[tokio::test]
async fn every_bad_request_gets_a_4xx_problem_with_a_stable_code() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cases: Vec<Case> = vec![
        ("malformed JSON", b"{\"terminal\": ".to_vec(), "application/json", 400, "invalid_json", None),
        ("trailing garbage", b"{} x".to_vec(), "application/json", 400, "invalid_json", None),
        ("not an object", b"[1,2]".to_vec(), "application/json", 400, "invalid_request", None),
        ("wrong type", with(&["amount", "value"], json!("ten")).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("amount.value")),
        ("missing field", json!({"terminal": TERMINALS[0], "type": "sale"}).to_string().into_bytes(), "application/json", 400, "invalid_request", None),
        ("unknown field", with(&["ammount"], json!(1)).to_string().into_bytes(), "application/json", 400, "invalid_request", None),
        ("unknown type", with(&["type"], json!("purchase")).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("type")),
        ("zero amount", with(&["amount", "value"], json!(0)).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("amount.value")),
        ("negative amount", with(&["amount", "value"], json!(-5)).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("amount.value")),
        ("huge amount", with(&["amount", "value"], json!(100_000_000_000i64)).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("amount.value")),
        ("amount beyond i64", br#"{"terminal":"V400m-100000001","type":"sale","amount":{"value":99999999999999999999999,"currency":"EUR"}}"#.to_vec(), "application/json", 400, "invalid_request", Some("amount.value")),
        ("fractional minor units", with(&["amount", "value"], json!(10.5)).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("amount.value")),
        ("unknown currency", with(&["amount", "currency"], json!("XYZ")).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("amount.currency")),
        ("unknown terminal", with(&["terminal"], json!("nope-1")).to_string().into_bytes(), "application/json", 422, "terminal_not_found", Some("terminal")),
        ("card number in reference", with(&["reference"], json!("4111 1111 1111 1111")).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("reference")),
        ("timeout out of range", with(&["timeout_seconds"], json!(5)).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("timeout_seconds")),
        ("validate with an amount", with(&["type"], json!("validate")).to_string().into_bytes(), "application/json", 400, "invalid_request", Some("amount.value")),
        ("wrong content type", valid().to_string().into_bytes(), "text/plain", 415, "unsupported_media_type", None),
        ("oversized body", format!("{{\"reference\": \"{}\"}}", "x".repeat(70 * 1024)).into_bytes(), "application/json", 413, "payload_too_large", None),
    ];
    for (name, body, ct, status, code, field) in cases {
        let (got, problem, got_ct) = post_raw(&ts, body, ct).await?;
        assert_eq!(got, status, "{name}: {problem}");
        assert_eq!(got_ct, "application/problem+json", "{name}");
        assert_eq!(problem["code"], code, "{name}: {problem}");
        assert_eq!(problem["status"], status, "{name}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        if let Some(field) = field {
            let fields: Vec<&str> = problem["errors"]
                .as_array()
                .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
                .unwrap_or_default();
            assert!(
                fields.contains(&field),
                "{name}: expected field {field} in {problem}"
            );
        }
    }
    // Three-decimal EUR arrives through the CLI and dialects as a decimal string; the
    // native API takes minor units, so the same rule shows as a non-integer value (above).
    Ok(())
}

#[tokio::test]
async fn bad_paths_and_queries_are_4xx_too() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let http = ts.http();
    let get = |path: &str| {
        http.get(format!("{}{path}", ts.url()))
            .bearer_auth(ts.key())
            .send()
    };
    for (path, status) in [
        ("/v1/interactions/not-an-id", 404),
        ("/v1/interactions/int_00000000000000000000000000000000", 404),
        (
            "/v1/interactions/int_00000000000000000000000000000000/events",
            404,
        ),
        ("/v1/interactions?limit=0", 400),
        ("/v1/interactions?limit=abc", 400),
        ("/v1/interactions?status=done", 400),
        ("/v1/interactions?cursor=xyz", 400),
        ("/v1/interactions?bogus=1", 400),
        ("/v1/transactions/txn_zz", 404),
        ("/v1/nothing-here", 404),
    ] {
        let r = get(path).await?;
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{path}"
        );
    }
    let r = http
        .delete(format!("{}/v1/interactions", ts.url()))
        .bearer_auth(ts.key())
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 405);
    Ok(())
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "sale",
            "auth",
            "refund",
            "validate",
            "EUR",
            "JPY",
            TERMINALS[0],
            "V400m-100000002"
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "terminal",
                    "type",
                    "amount",
                    "value",
                    "currency",
                    "reference",
                    "sale_id",
                    "service_id",
                    "timeout_seconds",
                    "metadata",
                    "webhooks",
                    "url",
                    "events",
                    "x"
                ])
                .prop_map(str::to_string),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn random_bodies_never_produce_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ts = runtime.block_on(TestServer::start()).expect("server");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    runner
        .run(&arb_json(), |body| {
            let (status, _, _) = runtime
                .block_on(post_raw(
                    &ts,
                    body.to_string().into_bytes(),
                    "application/json",
                ))
                .expect("request");
            prop_assert!(status < 500, "{body} gave {status}");
            Ok(())
        })
        .expect("no 5xx");
}
