//! The dashboard's pages do what they say, checked through the API against a real server:
//! a registered device terminal's pairing code pairs, revoking it stops its key; a created
//! API key is shown once and works, revoking it stops it; webhook endpoints are disabled,
//! rotated and deleted; filters filter; the request log lists API requests; bad input is a
//! message, never a 5xx.

mod dashboard_support;

use anyhow::{Context, Result, ensure};
use dashboard_support::Visitor;
use poigate_testkit::{TERMINALS, TestServer, sale};

/// The text of the flash message on the page that follows an action.
async fn after(v: &Visitor, r: reqwest::Response) -> Result<String> {
    ensure!(r.status() == 303, "action answered {}", r.status());
    let to = r
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .context("redirect")?
        .to_string();
    v.page(&to).await
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    Some(&html[from..from + html[from..].find(end)?])
}

#[tokio::test]
async fn terminals_keys_and_webhooks_through_the_pages() -> Result<()> {
    let server = TestServer::start().await?;
    let http = reqwest::Client::new();
    let mut v = Visitor::new(&server);
    v.sign_in(server.key(), false).await?;
    let token = v.csrf().await?;

    // A device terminal: its pairing code pairs.
    let r = v
        .post(
            "/dashboard/terminals",
            &[
                ("_csrf", &token),
                ("model", "V400m"),
                ("serial_number", "555000111"),
                ("label", "Till 9"),
            ],
        )
        .await?;
    let page = after(&v, r).await?;
    let code = between(&page, "Pairing code: ", " ").context("pairing code shown")?;
    let paired: serde_json::Value = http
        .post(format!("{}/v1/terminal-link/pair", server.url()))
        .json(&serde_json::json!({"pairing_code": code, "serial_number": "555000111"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let device_key = paired["device_key"]
        .as_str()
        .context("device key")?
        .to_string();
    ensure!(
        server
            .engine()
            .devices()
            .authenticate_device(&device_key)
            .await?
            .is_some()
    );
    ensure!(page.contains("V400m-555000111") && page.contains("Till 9"));
    // Revoked from its page: the key no longer authenticates.
    let r = v
        .post(
            "/dashboard/terminals/V400m-555000111/revoke",
            &[("_csrf", &token)],
        )
        .await?;
    ensure!(after(&v, r).await?.contains("Revoked V400m-555000111"));
    ensure!(
        server
            .engine()
            .devices()
            .authenticate_device(&device_key)
            .await?
            .is_none()
    );

    // An API key: shown once, works, revoked.
    let r = v
        .post(
            "/dashboard/api-keys",
            &[("_csrf", &token), ("label", "from the dashboard")],
        )
        .await?;
    let page = after(&v, r).await?;
    let secret = between(&page, "id=\"new-secret\">", "<")
        .context("secret shown")?
        .to_string();
    ensure!(secret.starts_with("pg_test_"), "{secret}");
    ensure!(
        !v.page("/dashboard/api-keys").await?.contains(&secret),
        "the secret is shown twice"
    );
    let works = |key: String| {
        let http = http.clone();
        let url = format!("{}/v1/terminals", server.url());
        async move { Ok::<_, anyhow::Error>(http.get(url).bearer_auth(key).send().await?.status()) }
    };
    assert_eq!(works(secret.clone()).await?, 200);
    let keys: serde_json::Value = http
        .get(format!("{}/v1/api-keys", server.url()))
        .bearer_auth(server.key())
        .send()
        .await?
        .json()
        .await?;
    let id = keys["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["label"] == "from the dashboard")
        .and_then(|k| k["id"].as_str())
        .context("new key listed")?
        .to_string();
    let r = v
        .post(
            &format!("/dashboard/api-keys/{id}/revoke"),
            &[("_csrf", &token)],
        )
        .await?;
    ensure!(after(&v, r).await?.contains("Revoked key"));
    assert_eq!(works(secret).await?, 401);

    // A webhook endpoint: secret once, disabled, rotated, deleted.
    let r = v
        .post(
            "/dashboard/webhooks",
            &[
                ("_csrf", &token),
                ("url", "https://pos.example.com/hooks"),
                ("description", "till <b>9</b>"),
            ],
        )
        .await?;
    let page = after(&v, r).await?;
    let first = between(&page, "id=\"new-secret\">", "<")
        .context("endpoint secret shown")?
        .to_string();
    ensure!(first.starts_with("whsec_"), "{first}");
    ensure!(
        page.contains("till &lt;b&gt;9&lt;/b&gt;"),
        "description escaped"
    );
    let client = server.client();
    let endpoint = client
        .webhook_endpoints()
        .await?
        .data
        .into_iter()
        .next()
        .context("endpoint")?;
    let e = endpoint.id.to_string();
    let r = v
        .post(
            &format!("/dashboard/webhooks/{e}/disable"),
            &[("_csrf", &token)],
        )
        .await?;
    ensure!(after(&v, r).await?.contains("disabled"));
    ensure!(!client.webhook_endpoint(&e).await?.enabled);
    let r = v
        .post(
            &format!("/dashboard/webhooks/{e}/rotate"),
            &[("_csrf", &token)],
        )
        .await?;
    let page = after(&v, r).await?;
    let second = between(&page, "id=\"new-secret\">", "<").context("rotated secret shown")?;
    ensure!(second.starts_with("whsec_") && second != first);
    let r = v
        .post(
            &format!("/dashboard/webhooks/{e}/delete"),
            &[("_csrf", &token)],
        )
        .await?;
    ensure!(after(&v, r).await?.contains("Endpoint deleted"));
    ensure!(client.webhook_endpoints().await?.data.is_empty());
    server.stop().await
}

#[tokio::test]
async fn filters_request_log_and_bad_input() -> Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    // One approved, one declined (an amount ending in 124 declines), on two terminals.
    let approved = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let declined = client
        .create_interaction(&sale(TERMINALS[1], 1124, "EUR"), None)
        .await?;
    for id in [&approved.interaction.id, &declined.interaction.id] {
        // A long-poll answers as soon as the interaction is final.
        let i = client
            .get_interaction(&id.to_string(), Some(30), None)
            .await?;
        ensure!(i.is_final, "{id} not final after 30 s");
    }
    let mut v = Visitor::new(&server);
    v.sign_in(server.key(), false).await?;
    let a = approved.interaction.id.to_string();
    let d = declined.interaction.id.to_string();
    let page = v.page("/dashboard/interactions?status=declined").await?;
    ensure!(page.contains(&d) && !page.contains(&a), "status filter");
    let page = v
        .page(&format!(
            "/dashboard/interactions?terminal={}",
            TERMINALS[0]
        ))
        .await?;
    ensure!(page.contains(&a) && !page.contains(&d), "terminal filter");
    let page = v.page("/dashboard/interactions?date=1999-01-01").await?;
    ensure!(!page.contains(&a) && !page.contains(&d), "date filter");
    // Their own day (UTC) finds them, through the API's time range.
    let today = approved.interaction.created_at.to_rfc3339();
    let page = v
        .page(&format!("/dashboard/interactions?date={}", &today[..10]))
        .await?;
    ensure!(
        page.contains(&a) && page.contains(&d),
        "date filter: {}",
        &today[..10]
    );
    let page = v.page("/dashboard/interactions").await?;
    ensure!(page.contains(&a) && page.contains(&d));
    // A bad filter is the API's message, not a failure.
    let r = v.get("/dashboard/interactions?status=nonsense").await?;
    assert_eq!(r.status(), 200);
    ensure!(r.text().await?.contains("role=\"alert\""));

    // The request log: the API requests above, with their dialect; no dashboard requests.
    let page = v.page("/dashboard/requests").await?;
    let log = between(&page, "id=\"requests\"", "</table>").context("request table")?;
    ensure!(
        log.contains("/v1/interactions/{id}") && log.contains("native"),
        "request log"
    );
    ensure!(
        !log.contains("/dashboard/interactions"),
        "dashboard requests are not listed"
    );

    // Bad input: a message on the page, never a 5xx, nothing created.
    let token = v.csrf().await?;
    let pos = format!("/dashboard/terminals/{}/pos", TERMINALS[2]);
    for (amount, currency) in [("abc", "EUR"), ("-5", "EUR"), ("100", "XYZ"), ("", "EUR")] {
        let r = v
            .post(
                &pos,
                &[
                    ("_csrf", &token),
                    ("type", "sale"),
                    ("amount", amount),
                    ("currency", currency),
                ],
            )
            .await?;
        let page = after(&v, r).await?;
        ensure!(
            page.contains("flash flash-error"),
            "amount {amount:?} {currency}: no error shown"
        );
    }
    for path in [
        "/dashboard/terminals/nope",
        "/dashboard/interactions/int_nope",
    ] {
        assert_eq!(v.get(path).await?.status(), 404, "{path}");
    }
    let r = v
        .post(
            &format!("/dashboard/terminals/{}/helper/explode", TERMINALS[2]),
            &[("_csrf", &token)],
        )
        .await?;
    ensure!(after(&v, r).await?.contains("Unknown action"));
    let r = v
        .post(
            "/dashboard/transactions/txn_nope/refund",
            &[("_csrf", &token), ("amount", "1")],
        )
        .await?;
    ensure!(after(&v, r).await?.contains("flash flash-error"));
    let all: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/interactions?terminal={}",
            server.url(),
            TERMINALS[2]
        ))
        .bearer_auth(server.key())
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        all["data"].as_array().is_some_and(Vec::is_empty),
        "bad input created an interaction"
    );
    server.stop().await
}

/// The newest interaction on `terminal`, waited for until final (a long-poll).
async fn last_final(server: &TestServer, terminal: &str) -> Result<poigate_api::InteractionView> {
    let list: poigate_api::ListOf<poigate_api::InteractionView> = reqwest::Client::new()
        .get(format!(
            "{}/v1/interactions?terminal={terminal}&limit=1",
            server.url()
        ))
        .bearer_auth(server.key())
        .send()
        .await?
        .json()
        .await?;
    let id = list.data.first().context("an interaction")?.id.to_string();
    let i = server.client().get_interaction(&id, Some(30), None).await?;
    ensure!(i.is_final, "{id} not final after 30 s");
    Ok(i)
}

#[tokio::test]
async fn the_virtual_terminal_controls() -> Result<()> {
    let server = TestServer::start().await?;
    let mut v = Visitor::new(&server);
    v.sign_in(server.key(), false).await?;
    let token = v.csrf().await?;
    let t = TERMINALS[2];
    let base = format!("/dashboard/terminals/{t}");
    let act = |action: &'static str| {
        let v = &v;
        let token = token.clone();
        let path = format!("{base}/helper/{action}");
        async move { after(v, v.post(&path, &[("_csrf", token.as_str())]).await?).await }
    };
    let start = |kind: &'static str, amount: &'static str| {
        let v = &v;
        let token = token.clone();
        let path = format!("{base}/pos");
        async move {
            let form = [
                ("_csrf", token.as_str()),
                ("type", kind),
                ("amount", amount),
                ("currency", "EUR"),
            ];
            after(v, v.post(&path, &form).await?).await
        }
    };
    let screen = || async {
        let r = v
            .http
            .get(format!("{}{base}", v.base))
            .header(
                reqwest::header::COOKIE,
                v.cookie.clone().unwrap_or_default(),
            )
            .header("x-poigate-fragment", "1")
            .send()
            .await?;
        ensure!(r.status() == 200);
        Ok::<_, anyhow::Error>(r.text().await?)
    };
    let client = server.client();

    // Disconnect and reconnect.
    ensure!(act("disconnect").await?.contains("disconnect: done"));
    ensure!(
        format!("{:?}", client.terminal(t).await?.status)
            .to_lowercase()
            .contains("offline")
    );
    ensure!(screen().await?.contains("Offline"));
    ensure!(act("connect").await?.contains("connect: done"));
    ensure!(
        format!("{:?}", client.terminal(t).await?.status)
            .to_lowercase()
            .contains("online")
    );

    // Hold, start, press cancel: cancelled by the terminal.
    ensure!(
        act("hold")
            .await?
            .contains("armed for the next interaction")
    );
    ensure!(
        start("sale", "700")
            .await?
            .contains("Started sale 7.00 EUR")
    );
    ensure!(act("cancel").await?.contains("flash flash-ok"));
    let i = last_final(&server, t).await?;
    ensure!(
        format!("{:?}", i.cancel_reason).contains("Terminal"),
        "{:?}",
        i.cancel_reason
    );
    ensure!(screen().await?.contains("CANCELLED"));

    // Hold, start, walk away: the terminal times out.
    act("hold").await?;
    start("sale", "800").await?;
    act("timeout").await?;
    let i = last_final(&server, t).await?;
    ensure!(
        format!("{:?}", i.cancel_reason).contains("Timeout"),
        "{:?}",
        i.cancel_reason
    );

    // An auth, captured from its page; another, voided.
    for (op, condition) in [("capture", "Pendingsettlement"), ("void", "Canceled")] {
        start("auth", "3000").await?;
        let i = last_final(&server, t).await?;
        let txn = i
            .transaction
            .context("an approved auth has a transaction")?;
        let detail = v.page(&format!("/dashboard/interactions/{}", i.id)).await?;
        let idem = detail
            .split("value=\"")
            .find(|s| s.contains(&format!("-{op}\"")))
            .map(|s| s.split('"').next().unwrap_or("").to_string())
            .context("idempotency key on the form")?;
        let form = [
            ("_csrf", token.as_str()),
            ("idempotency_key", idem.as_str()),
            ("back", "/dashboard/interactions"),
        ];
        let path = format!("/dashboard/transactions/{}/{op}", txn.id);
        let page = after(&v, v.post(&path, &form).await?).await?;
        ensure!(
            page.contains("flash flash-ok"),
            "{op}: {}",
            between(&page, "id=\"flash\">", "<").unwrap_or("")
        );
        // Sent twice (a double click): the money moves once.
        after(&v, v.post(&path, &form).await?).await?;
        let after_op = client.transaction(&txn.id.to_string()).await?;
        ensure!(
            format!("{:?}", after_op.condition) == condition,
            "{op}: {:?}",
            after_op.condition
        );
        if op == "capture" {
            assert_eq!(after_op.captured_amount, 3000);
        }
    }
    // The POS form sent twice (a double click) starts one sale.
    let count = || async {
        let list: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/v1/interactions?terminal={t}&limit=100",
                server.url()
            ))
            .bearer_auth(server.key())
            .send()
            .await?
            .json()
            .await?;
        Ok::<_, anyhow::Error>(list["data"].as_array().map(Vec::len).unwrap_or(0))
    };
    let before = count().await?;
    let page = v.page(&base).await?;
    let key = between(&page, "name=\"idempotency_key\" value=\"", "\"")
        .context("idempotency key on the POS form")?
        .to_string();
    let form = [
        ("_csrf", token.as_str()),
        ("idempotency_key", key.as_str()),
        ("type", "sale"),
        ("amount", "900"),
        ("currency", "EUR"),
    ];
    for _ in 0..2 {
        let page = after(&v, v.post(&format!("{base}/pos"), &form).await?).await?;
        ensure!(
            page.contains("Started sale 9.00 EUR"),
            "a resent POS form is refused"
        );
    }
    assert_eq!(count().await?, before + 1);
    server.stop().await
}

/// "Send a test event" on the webhooks page: the receiver gets one signed `webhook.test`,
/// and the page says it was delivered (or, for a receiver that fails, why not).
#[tokio::test]
async fn a_test_event_is_sent_from_the_webhooks_page() -> Result<()> {
    let server = TestServer::start().await?;
    let receiver = poigate_testkit::WebhookReceiver::start().await?;
    let created = server
        .client()
        .create_webhook_endpoint(&poigate_api::CreateWebhookEndpointRequest {
            url: receiver.url("/hooks"),
            events: None,
            description: None,
            enabled: None,
            format: None,
        })
        .await?;
    let e = created.id.to_string();
    let mut v = Visitor::new(&server);
    v.sign_in(server.key(), false).await?;
    let token = v.csrf().await?;
    ensure!(
        v.page("/dashboard/webhooks")
            .await?
            .contains("Send a test event"),
        "the button is on the page"
    );
    let r = v
        .post(
            &format!("/dashboard/webhooks/{e}/test"),
            &[("_csrf", &token)],
        )
        .await?;
    let page = after(&v, r).await?;
    ensure!(page.contains("delivered to"), "the page says delivered");
    let got = receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await?;
    ensure!(
        got[0].event_type() == "webhook.test",
        "{}",
        got[0].event_type()
    );

    receiver.script([poigate_testkit::Reply::Status(503)]);
    let r = v
        .post(
            &format!("/dashboard/webhooks/{e}/test"),
            &[("_csrf", &token)],
        )
        .await?;
    let page = after(&v, r).await?;
    ensure!(
        page.contains("not delivered") && page.contains("HTTP 503"),
        "the page says why not"
    );
    server.stop().await
}

/// The POS panel's "Ask for a tip" box: the terminal asks, the simulated cardholder tips
/// 15 %, and the virtual terminal's last-interaction line shows the tip and the total.
#[tokio::test]
async fn the_pos_panel_asks_for_a_tip_on_the_terminal() -> Result<()> {
    let server = TestServer::start().await?;
    let mut v = Visitor::new(&server);
    v.sign_in(server.key(), false).await?;
    let token = v.csrf().await?;
    let t = TERMINALS[2];
    let base = format!("/dashboard/terminals/{t}");
    ensure!(
        v.page(&base).await?.contains("id=\"pos-tip\""),
        "the box is on the panel"
    );
    let form = [
        ("_csrf", token.as_str()),
        ("type", "sale"),
        ("amount", "1250"),
        ("currency", "EUR"),
        ("tip", "on_terminal"),
    ];
    let page = after(&v, v.post(&format!("{base}/pos"), &form).await?).await?;
    ensure!(page.contains("Started sale 12.50 EUR"), "started");
    let i = last_final(&server, t).await?;
    let txn = i.transaction.as_ref().context("transaction")?;
    assert_eq!((txn.tip_amount, txn.amount.value()), (Some(187), 1437));
    let page = v.page(&base).await?;
    ensure!(
        page.contains("tip 1.87 EUR") && page.contains("total 14.37 EUR"),
        "{}",
        between(&page, "id=\"pos-answer\"", "</p>").unwrap_or("no answer line")
    );
    let detail = v.page(&format!("/dashboard/interactions/{}", i.id)).await?;
    ensure!(
        between(&detail, "id=\"tip\">", "<") == Some("1.87 EUR"),
        "the tip on the interaction page"
    );
    server.stop().await
}
