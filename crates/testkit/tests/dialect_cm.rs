//! The CM.com dialect end to end, only through its endpoints: golden test against the seed
//! example, sale with webhooks, decline, cancel, expiry, refund, recovery after a lost
//! response, authentication and malformed requests.

use poigate_testkit::golden::{seed_example, shape_differences};
use poigate_testkit::{TERMINALS, TestServer, WebhookReceiver, eventually};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const BASE: &str = "/cm/api/v1/paymentmethods/creditcard/v1/transactions";

struct Cm {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Cm {
    /// Gets an access token the CM.com way, then talks CM.com.
    async fn connect(ts: &TestServer) -> anyhow::Result<Cm> {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{}/cm/api/v1/authorization/oauth2/token", ts.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "client_id=pos&client_secret={}&grant_type=client_credentials",
                ts.key()
            ))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "token: {}", r.status());
        let body: Value = r.json().await?;
        Ok(Cm {
            http,
            url: ts.url(),
            token: body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }

    async fn post(
        &self,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, id: &str) -> anyhow::Result<(u16, Value)> {
        let r = self
            .http
            .get(format!("{}{BASE}/{id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn until_status(&self, id: &str, done: impl Fn(&str) -> bool) -> anyhow::Result<Value> {
        eventually(WAIT, || async {
            let (_, t) = self.get(id).await.ok()?;
            done(t["status"].as_str()?).then_some(t)
        })
        .await
    }
}

fn create_body(terminal: &str, amount: i64, reference: &str) -> Value {
    json!({
        "terminal": terminal,
        "reference": reference,
        "description": "Order at yourdomain.tld",
        "amount": amount,
        "currency": "EUR",
        "language": "nl",
        "country": "NL",
        "returnUrls": {
            "success": "https://yourdomain.tld/order/payment-success.html",
            "cancelled": "https://yourdomain.tld/order/payment-cancelled.html",
            "expired": "https://yourdomain.tld/order/payment-expired.html",
            "failed": "https://yourdomain.tld/order/payment-failed.html"
        }
    })
}

#[tokio::test]
async fn get_transaction_matches_the_seed_example() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cm = Cm::connect(&ts).await?;
    // Keep it OPEN, as in the example.
    ts.client().test_helper(TERMINALS[0], "hold", None).await?;
    let mut body = create_body(TERMINALS[0], 1200, "20210623130413");
    body["expiresAt"] = json!(
        (poigate_domain::Timestamp::from_millis(ts.engine().now().as_millis() + 300_000))
            .to_rfc3339_seconds()
    );
    body["webhooks"] = json!([
        {"url": "https://yourdomain.tld/order-webhooks?purchaseId=order123", "events": ["FINALSTATUS"]},
        {"url": "https://yourdomain.tld/payment-webhooks?purchaseId=order123", "events": ["REFUND_STATUS"]},
        {"url": "https://yourdomain.tld/payment-webhooks?purchaseId=order123", "events": ["STATUS_CHANGE"]}
    ]);
    let (status, created) = cm.post(BASE, &body, None).await?;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 36, "String(36)");
    let (status, got) = cm.get(&id).await?;
    assert_eq!(status, 200);
    let seed = seed_example("cm-get-transaction-response.json");
    assert_eq!(
        shape_differences(&seed, &got),
        Vec::<String>::new(),
        "{got}"
    );
    assert_eq!(got["status"], "OPEN");
    assert_eq!(got["orderId"], got["id"]);
    assert_eq!(got["amount"], seed["amount"]);
    assert_eq!(got["reference"], seed["reference"]);
    assert_eq!(got["returnUrls"], seed["returnUrls"]);
    assert_eq!(
        got["webhooks"], seed["webhooks"],
        "the entries exactly as sent"
    );
    assert_eq!(
        got["refunds"],
        json!({"refundedAmount": 0, "refundedPendingAmount": 0})
    );
    insta::assert_json_snapshot!("cm_get_transaction_open", got, {
        ".id" => "[id]",
        ".orderId" => "[id]",
        ".createdAt" => "[timestamp]",
        ".expiresAt" => "[timestamp]",
        ".action.redirect.url" => "[url]",
    });
    Ok(())
}

#[tokio::test]
async fn sale_decline_cancel_expiry_and_refund_with_webhooks() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cm = Cm::connect(&ts).await?;
    let receiver = WebhookReceiver::start().await?;

    // A sale with the three webhook events.
    let mut body = create_body(TERMINALS[0], 1200, "order-1");
    body["webhooks"] = json!([
        {"url": receiver.url("/status"), "events": ["FINALSTATUS", "STATUS_CHANGE"]},
        {"url": receiver.url("/refunds"), "events": ["REFUND_STATUS"]}
    ]);
    let (status, created) = cm.post(BASE, &body, None).await?;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let done = cm.until_status(&id, |s| s != "OPEN").await?;
    assert_eq!(done["status"], "SUCCESS");
    assert!(
        done.get("action").is_none_or(Value::is_null),
        "action only while OPEN"
    );
    assert_eq!(done["webhooks"], body["webhooks"]);
    let got = receiver.wait_for(2, WAIT).await?;
    let mut events: Vec<String> = got
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or_default().to_string())
        .collect();
    events.sort();
    assert_eq!(events, ["FINALSTATUS", "STATUS_CHANGE"]);
    for r in &got {
        let b = r.json();
        assert_eq!(b["transaction"], id.as_str());
        assert_eq!(b["reference"], "order-1");
        assert!(b["payment"].is_string() && b["createdAt"].is_string());
        assert_eq!(r.path, "/status");
    }

    // A refund through the dialect: pending first, then REFUND_STATUS.
    let (status, refunded) = cm
        .post(
            &format!("{BASE}/{id}/refunds"),
            &json!({"amount": 300, "reason": "damaged"}),
            None,
        )
        .await?;
    assert_eq!(status, 201, "{refunded}");
    assert_eq!(refunded["refunds"]["refundedPendingAmount"], 300);
    let after = eventually(WAIT, || async {
        let (_, t) = cm.get(&id).await.ok()?;
        (t["refunds"]["refundedAmount"] == 300).then_some(t)
    })
    .await?;
    assert_eq!(after["refunds"]["refundedPendingAmount"], 0);
    let got = receiver.wait_for(4, WAIT).await?;
    let refund_hooks: Vec<_> = got.iter().filter(|r| r.path == "/refunds").collect();
    assert_eq!(refund_hooks.len(), 2, "pending and succeeded");
    assert!(
        refund_hooks
            .iter()
            .all(|r| r.json()["event"] == "REFUND_STATUS")
    );
    let (status, too_much) = cm
        .post(
            &format!("{BASE}/{id}/refunds"),
            &json!({"amount": 5000}),
            None,
        )
        .await?;
    assert_eq!(status, 400, "{too_much}");
    assert!(too_much["message"].is_string());

    // A decline.
    let (_, declined) = cm
        .post(BASE, &create_body(TERMINALS[1], 1124, "order-2"), None)
        .await?;
    let declined = cm
        .until_status(declined["id"].as_str().expect("id"), |s| s != "OPEN")
        .await?;
    assert_eq!(declined["status"], "FAILURE");

    // A cancel while the terminal waits for the card.
    ts.client().test_helper(TERMINALS[2], "hold", None).await?;
    let (_, open) = cm
        .post(BASE, &create_body(TERMINALS[2], 1500, "order-3"), None)
        .await?;
    let open_id = open["id"].as_str().expect("id").to_string();
    eventually(WAIT, || async {
        let i = ts
            .client()
            .get_interaction(
                &format!("int_{}", open_id.replace('-', "")),
                Some(5),
                Some(7),
            )
            .await
            .ok()?;
        (i.last_event_seq >= 8).then_some(())
    })
    .await?;
    let (status, cancelled) = cm
        .post(&format!("{BASE}/{open_id}/cancel"), &json!({}), None)
        .await?;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");

    // Nobody presents a card before expiresAt: EXPIRED.
    ts.client()
        .test_helper(TERMINALS[2], "timeout", None)
        .await?;
    let mut body = create_body(TERMINALS[2], 1600, "order-4");
    body["expiresAt"] = json!(
        poigate_domain::Timestamp::from_millis(ts.engine().now().as_millis() + 60_000)
            .to_rfc3339_seconds()
    );
    let (_, expiring) = cm.post(BASE, &body, None).await?;
    let expired = cm
        .until_status(expiring["id"].as_str().expect("id"), |s| s != "OPEN")
        .await?;
    assert_eq!(expired["status"], "EXPIRED");
    Ok(())
}

#[tokio::test]
async fn a_retry_after_a_lost_response_returns_the_same_transaction() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cm = Cm::connect(&ts).await?;
    let body = create_body(TERMINALS[0], 2500, "order-lost");
    let (status, first) = cm.post(BASE, &body, Some("order-lost-attempt")).await?;
    assert_eq!(status, 201);
    // ... the response was lost: the POS sends the same request again.
    let (status, again) = cm.post(BASE, &body, Some("order-lost-attempt")).await?;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again["id"], first["id"],
        "the same transaction, not a second payment"
    );
    let done = cm
        .until_status(first["id"].as_str().expect("id"), |s| s != "OPEN")
        .await?;
    assert_eq!(done["status"], "SUCCESS");
    let list = ts
        .client()
        .lookup(&poigate_api::ListInteractionsQuery {
            reference: Some("order-lost".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(list.data.len(), 1);
    Ok(())
}

#[tokio::test]
async fn bad_requests_and_credentials_get_cm_errors() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cm = Cm::connect(&ts).await?;
    let http = reqwest::Client::new();
    let anonymous = http
        .get(format!(
            "{}{BASE}/8db1e7fa-ba8a-4189-92fd-67a20217443d",
            ts.url()
        ))
        .send()
        .await?;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.json::<Value>().await?["message"].is_string());
    let mut tampered = cm.token.clone();
    tampered.push('x');
    let r = http
        .get(format!(
            "{}{BASE}/8db1e7fa-ba8a-4189-92fd-67a20217443d",
            ts.url()
        ))
        .bearer_auth(tampered)
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let (status, missing) = cm.get("8db1e7fa-ba8a-4189-92fd-67a20217443d").await?;
    assert_eq!((status, missing["message"].is_string()), (404, true));
    let (status, _) = cm.get("not-a-uuid").await?;
    assert_eq!(status, 404);
    let mut both = create_body(TERMINALS[0], 100, "r");
    both["returnUrl"] = json!("https://x.example/");
    for (name, body) in [
        ("both return URLs", both),
        ("zero amount", create_body(TERMINALS[0], 0, "r")),
        (
            "fractional amount",
            json!({"terminal": TERMINALS[0], "reference": "r", "amount": 1.5, "currency": "EUR"}),
        ),
        (
            "unknown currency",
            json!({"terminal": TERMINALS[0], "reference": "r", "amount": 100, "currency": "XYZ"}),
        ),
        (
            "no terminal",
            json!({"reference": "r", "amount": 100, "currency": "EUR"}),
        ),
        ("unknown terminal", create_body("nope-1", 100, "r")),
        (
            "expired already",
            json!({"terminal": TERMINALS[0], "reference": "r", "amount": 100, "currency": "EUR", "expiresAt": "2006-01-02T15:04:05Z"}),
        ),
        (
            "unknown webhook event",
            json!({"terminal": TERMINALS[0], "reference": "r", "amount": 100, "currency": "EUR", "webhooks": [{"url": "https://x.example", "events": ["QR_PAYMENT_CREATED"]}]}),
        ),
        ("empty reference", create_body(TERMINALS[0], 100, "")),
    ] {
        let (status, err) = cm.post(BASE, &body, None).await?;
        assert_eq!(status, 400, "{name}: {err}");
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: {err}"
        );
    }
    let raw = http
        .post(format!("{}{BASE}", ts.url()))
        .bearer_auth(&cm.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(raw.status(), 400);
    let unsupported = http
        .get(format!(
            "{}/cm/api/v1/paymentmethods/ideal/v1/transactions",
            ts.url()
        ))
        .bearer_auth(&cm.token)
        .send()
        .await?;
    assert_eq!(unsupported.status(), 404);
    Ok(())
}

/// Issue 14, items 9 and 10 (CM.com): the documented create body works unchanged once the
/// API key (and so its OAuth client) has a default terminal; refunds and transactions are
/// listed; an unsupported method answers in CM.com's `{message}` shape; `FINALSTATUS` and
/// `STATUS_CHANGE` deliveries have distinct `webhook-id`s.
#[tokio::test]
async fn documented_body_default_terminal_lists_methods_and_webhook_ids() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cm = Cm::connect(&ts).await?;
    let http = reqwest::Client::new();
    let receiver = WebhookReceiver::start().await?;
    // CM.com's documented body: no terminal anywhere.
    let documented = |reference: &str| {
        json!({
            "reference": reference,
            "description": "Order at yourdomain.tld",
            "amount": 1200,
            "currency": "EUR",
            "language": "nl",
            "country": "NL",
            "webhooks": [{"url": receiver.url("/status"), "events": ["FINALSTATUS", "STATUS_CHANGE"]}],
            "returnUrls": {"success": "https://yourdomain.tld/order/payment-success.html"}
        })
    };
    let (status, refused) = cm.post(BASE, &documented("doc-0"), None).await?;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("default terminal")),
        "{refused}"
    );

    // The key's default terminal, set through the native API.
    let keys: Value = http
        .get(format!("{}/v1/api-keys", ts.url()))
        .bearer_auth(ts.key())
        .send()
        .await?
        .json()
        .await?;
    let key_id = keys["data"]
        .as_array()
        .and_then(|all| {
            all.iter().find(|k| {
                k["prefix"]
                    .as_str()
                    .is_some_and(|p| ts.key().starts_with(p))
            })
        })
        .and_then(|k| k["id"].as_str())
        .expect("the test key")
        .to_string();
    let set = |terminal: Value| {
        let http = http.clone();
        let url = format!("{}/v1/api-keys/{key_id}/default-terminal", ts.url());
        let key = ts.key().to_string();
        async move {
            let r = http
                .put(url)
                .bearer_auth(key)
                .json(&json!({ "terminal": terminal }))
                .send()
                .await?;
            let status = r.status().as_u16();
            anyhow::Ok((status, r.json::<Value>().await?))
        }
    };
    let terminal = ts.client().terminal(TERMINALS[2]).await?;
    let (status, default) = set(json!(TERMINALS[2])).await?;
    assert_eq!(status, 200, "{default}");
    assert_eq!(default["terminal"], terminal.id.to_string());
    let (status, _) = set(json!("nope-1")).await?;
    assert_eq!(
        status, 422,
        "an unknown terminal, as the native API answers it"
    );

    // The documented body, with the OAuth token of that key: a sale on the default terminal.
    let (status, created) = cm.post(BASE, &documented("doc-1"), None).await?;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let done = cm.until_status(&id, |s| s != "OPEN").await?;
    assert_eq!(done["status"], "SUCCESS");
    let native = ts
        .client()
        .wait_final(&format!("int_{}", id.replace('-', "")), WAIT)
        .await?;
    assert_eq!(native.terminal, terminal.id);

    // FINALSTATUS and STATUS_CHANGE: two deliveries, two webhook-ids.
    let got = receiver.wait_for(2, WAIT).await?;
    let mut ids: Vec<&str> = got.iter().filter_map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "distinct webhook-ids: {ids:?}");

    // Refunds, then the refund list.
    let (status, _) = cm
        .post(
            &format!("{BASE}/{id}/refunds"),
            &json!({"amount": 200, "reason": "damaged"}),
            None,
        )
        .await?;
    assert_eq!(status, 201);
    let refunds = eventually(WAIT, || async {
        let r = http
            .get(format!("{}{BASE}/{id}/refunds", cm.url))
            .bearer_auth(&cm.token)
            .send()
            .await
            .ok()?;
        let list: Value = r.json().await.ok()?;
        (list[0]["status"] == "SUCCEEDED").then_some(list)
    })
    .await?;
    assert_eq!(refunds.as_array().map(Vec::len), Some(1), "{refunds}");
    assert_eq!(refunds[0]["amount"], 200);
    assert_eq!(refunds[0]["currency"], "EUR");
    assert_eq!(refunds[0]["reason"], "damaged");
    assert_eq!(refunds[0]["transactionId"], id.as_str());

    // The transaction list: newest first, by reference, bounded.
    let (_, second) = cm.post(BASE, &documented("doc-2"), None).await?;
    let second = second["id"].as_str().expect("id").to_string();
    cm.until_status(&second, |s| s != "OPEN").await?;
    let list = |query: &str| {
        let http = http.clone();
        let url = format!("{}{BASE}{query}", cm.url);
        let token = cm.token.clone();
        async move {
            let r = http.get(url).bearer_auth(token).send().await?;
            let status = r.status().as_u16();
            anyhow::Ok((status, r.json::<Value>().await?))
        }
    };
    let (status, all) = list("").await?;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all[0]["id"], second.as_str());
    assert_eq!(all[1]["id"], id.as_str());
    let (_, one) = list("?reference=doc-1").await?;
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(one[0]["id"], id.as_str());
    let (_, limited) = list("?limit=1").await?;
    assert_eq!(limited.as_array().map(Vec::len), Some(1));
    let (status, bad) = list("?limit=0").await?;
    assert_eq!(status, 400);
    assert!(bad["message"].is_string(), "{bad}");

    // An unsupported method: CM.com's {message}, not problem+json.
    let r = http
        .delete(format!("{}{BASE}/{id}", cm.url))
        .bearer_auth(&cm.token)
        .send()
        .await?;
    assert_eq!(r.status(), 405);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(r.json::<Value>().await?["message"].is_string());

    // Cleared: the documented body needs a terminal again.
    let (status, cleared) = set(Value::Null).await?;
    assert_eq!((status, &cleared["terminal"]), (200, &Value::Null));
    let (status, _) = cm.post(BASE, &documented("doc-3"), None).await?;
    assert_eq!(status, 400);
    Ok(())
}
