//! Graceful drain of a real `poigate serve` process on SIGTERM and SIGINT: every waiting
//! client gets a well-formed answer at once (a parked long-poll, an SSE stream, an Adyen
//! `/sync` payment, an NMI synchronous poll, a Cybersource synchronous payment), the process
//! exits 0 within `shutdown_timeout`, and the next process on the same data directory
//! completes the interactions that were in flight.

mod drain_support;
mod support;

use drain_support::{KEY, Running, T_ADYEN, T_NATIVE, T_NMI, WAIT, until};
use poigate_domain::Status;
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{eventually, sale};
use serde_json::{Value, json};
use std::time::Duration;

const SALE_ID: &str = "DrainPOS";

fn adyen_header(category: &str, service_id: &str, poiid: &str) -> Value {
    json!({
        "ProtocolVersion": "3.0", "MessageClass": "Service", "MessageCategory": category,
        "MessageType": "Request", "SaleID": SALE_ID, "ServiceID": service_id, "POIID": poiid
    })
}

fn adyen_payment(service_id: &str, poiid: &str) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": adyen_header("Payment", service_id, poiid),
        "PaymentRequest": {
            "SaleData": {"SaleTransactionID": {
                "TransactionID": format!("order-{service_id}"),
                "TimeStamp": "2026-11-29T13:11:30.000Z"
            }},
            "PaymentTransaction": {"AmountsReq": {"Currency": "EUR", "RequestedAmount": 10.0}}
        }
    }})
}

fn adyen_status(service_id: &str, poiid: &str, reference: &str) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": adyen_header("TransactionStatus", service_id, poiid),
        "TransactionStatusRequest": {
            "MessageReference": {"SaleID": SALE_ID, "ServiceID": reference, "MessageCategory": "Payment"}
        }
    }})
}

async fn post_adyen(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let r = http
        .post(format!("{url}/adyen/sync"))
        .header("x-api-key", KEY)
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "adyen answered {}", r.status());
    Ok(r.json().await?)
}

/// `/nmi/api/asyncstatus/{guid}?responseMethod=synchronous`: status and JSON body.
async fn nmi_sync_status(
    http: &reqwest::Client,
    url: &str,
    guid: &str,
) -> anyhow::Result<(u16, Value)> {
    let r = http
        .get(format!(
            "{url}/nmi/api/asyncstatus/{guid}?responseMethod=synchronous"
        ))
        .bearer_auth(KEY)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await?))
}

/// Makes sure the interaction completes on the restarted gateway: presents the card if
/// the resumed terminal is still waiting for one, then waits for the final state.
async fn complete(client: &Client, terminal: &str, id: &str) -> anyhow::Result<Status> {
    let done = eventually(WAIT, || async {
        let i = client.get_interaction(id, Some(1), None).await.ok()?;
        if i.is_final {
            return Some(i.status);
        }
        let _ = client.test_helper(terminal, "present-card", None).await;
        None
    })
    .await?;
    Ok(done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_every_waiting_client_and_the_next_process_finishes_the_work()
-> anyhow::Result<()> {
    const BOUND: u64 = 5;
    let dir = tempfile::tempdir()?;
    let mut gw = Running::start(dir.path(), "warn,poigate_http=debug", BOUND);
    let url = gw.url.clone();
    let client = Client::new(&url, KEY)?;
    let http = reqwest::Client::new();
    for t in [T_NATIVE, T_ADYEN, T_NMI] {
        client.test_helper(t, "hold", None).await?;
    }

    // (1) and (2): a long-poll and an SSE stream on a native sale held at "Present card".
    let native = client
        .create_interaction(&sale(T_NATIVE, 1000, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    eventually(WAIT, || async {
        let i = client.get_interaction(&native, None, None).await.ok()?;
        (i.status == Status::InProgress).then_some(())
    })
    .await?;
    let long_poll = tokio::spawn({
        let (http, url, id) = (http.clone(), url.clone(), native.clone());
        async move {
            let r = http
                .get(format!("{url}/v1/interactions/{id}?wait=60"))
                .bearer_auth(KEY)
                .send()
                .await?;
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body: Value = r.json().await?;
            anyhow::Ok((status, retry_after, body))
        }
    });
    let (streaming_tx, streaming) = tokio::sync::oneshot::channel::<()>();
    let sse = tokio::spawn({
        let (http, url, id) = (http.clone(), url.clone(), native.clone());
        async move {
            let mut r = http
                .get(format!("{url}/v1/interactions/{id}/events/stream"))
                .bearer_auth(KEY)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "stream answered {}", r.status());
            let mut text = String::new();
            let mut streaming_tx = Some(streaming_tx);
            while let Some(chunk) = r.chunk().await? {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if text.contains("id:")
                    && let Some(tx) = streaming_tx.take()
                {
                    let _ = tx.send(());
                }
            }
            anyhow::Ok(text)
        }
    });

    // (3) an Adyen `/sync` payment waiting for its result.
    let adyen = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move { post_adyen(&http, &url, &adyen_payment("7001", T_ADYEN)).await }
    });

    // (4) an NMI synchronous poll of an asynchronous sale.
    let started = http
        .post(format!("{url}/nmi/api/transact.php"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "security_key={KEY}&response_method=asynchronous&type=sale&amount=10.00&poi_device_id={T_NMI}"
        ))
        .send()
        .await?
        .text()
        .await?;
    let guid = started
        .split('&')
        .find_map(|kv| kv.strip_prefix("async_status_guid="))
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| panic!("no async_status_guid in {started}"))
        .to_string();
    let nmi = tokio::spawn({
        let (http, url, guid) = (http.clone(), url.clone(), guid.clone());
        async move { nmi_sync_status(&http, &url, &guid).await }
    });

    // (5) a Cybersource synchronous payment, on a fourth terminal.
    let cs_serial = "900000004";
    let cs_terminal = client
        .create_terminal(&poigate_api::CreateTerminalRequest {
            serial_number: cs_serial.into(),
            model: "V400m".into(),
            label: None,
            kind: Some(poigate_domain::TerminalKind::Simulated),
            connection: Some(poigate_domain::TerminalConnection::InProcess),
        })
        .await?
        .poiid;
    eventually(WAIT, || async {
        client.test_helper(&cs_terminal, "hold", None).await.ok()
    })
    .await?;
    let token = poigate_testkit::calls::access_token(&http, &url, KEY).await?;
    let cybersource = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(format!("{url}/cybersource/v1/cloud/transactions"))
                .bearer_auth(token)
                .json(
                    &json!({"serialNumber": cs_serial, "request": {"type": "PaymentRequest",
                    "merchantReferenceCode": "drain-cs-1",
                    "amountDetails": {"amount": "10.00", "currency": "EUR"}}}),
                )
                .send()
                .await?;
            let status = r.status().as_u16();
            anyhow::Ok((status, r.json::<Value>().await?))
        }
    });

    // Every client is waiting inside the gateway: the stream has sent its first event, the
    // long-poll and both synchronous calls are parked (the gateway says so at debug level).
    streaming.await?;
    until(&gw, "the long-poll parked", || {
        gw.lines_with(&["long-poll parked", &native]) == 1
    })
    .await;
    until(&gw, "the three synchronous calls parked", || {
        gw.lines_with(&["synchronous wait parked"]) == 3
    })
    .await;

    gw.signal("TERM");
    let status = gw
        .exited_within(Duration::from_secs(BOUND + 5))
        .await
        .unwrap_or_else(|| panic!("still running; log:\n{}", gw.log_text()));
    assert!(status.success(), "{status:?}; log:\n{}", gw.log_text());

    let answer_in = Duration::from_secs(BOUND);
    // (1) the current state, not final, and when to come back.
    let (code, retry_after, body) = tokio::time::timeout(answer_in, long_poll).await???;
    assert_eq!(code, 200);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["id"], native.as_str());
    assert_eq!(body["status"], "in_progress", "{body}");
    assert_eq!(body["final"], false, "{body}");

    // (2) the events so far, then a `reconnect` event with a `retry:` hint and no `id:` (the
    // client's Last-Event-ID stays the last event it got), then the end of the stream.
    let text = tokio::time::timeout(answer_in, sse).await???;
    let messages: Vec<&str> = text
        .split("\n\n")
        .filter(|m| !m.trim().is_empty())
        .collect();
    let last = messages.last().copied().unwrap_or_default();
    assert!(last.contains("event: reconnect"), "{text}");
    assert!(last.contains("retry: 1000"), "{text}");
    assert!(last.contains(r#"data: {"reason":"draining"}"#), "{text}");
    assert!(!last.contains("id:"), "{text}");
    assert!(
        messages.iter().any(|m| m.contains("event: stage")),
        "{text}"
    );

    // (3) Adyen's own answer for a payment not finished yet.
    let answer = tokio::time::timeout(answer_in, adyen).await???;
    let payment = &answer["SaleToPOIResponse"]["PaymentResponse"];
    assert_eq!(payment["Response"]["Result"], "Failure", "{answer}");
    assert_eq!(
        payment["Response"]["ErrorCondition"], "InProgress",
        "{answer}"
    );
    assert!(
        payment["Response"]["AdditionalResponse"]
            .as_str()
            .is_some_and(|a| a.contains("Uncompleted")),
        "{answer}"
    );
    let header = &answer["SaleToPOIResponse"]["MessageHeader"];
    assert_eq!(header["ServiceID"], "7001", "{answer}");
    assert_eq!(header["SaleID"], SALE_ID, "{answer}");

    // (4) NMI's `inFlight`.
    let (code, body) = tokio::time::timeout(answer_in, nmi).await???;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["asyncStatus"], "inFlight", "{body}");

    // (5) Cybersource's answer for a transaction still running: 202 naming the interaction.
    let (code, body) = tokio::time::timeout(answer_in, cybersource).await???;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["type"], "ErrorResponse", "{body}");
    assert!(
        body.to_string().contains("/v1/cloud/interactions/"),
        "names the interaction to follow: {body}"
    );

    // The next process on the same data directory finishes all four.
    let next = Running::start(dir.path(), "warn", BOUND);
    let client = Client::new(&next.url, KEY)?;
    assert_eq!(
        complete(&client, T_NATIVE, &native).await?,
        Status::Approved
    );
    let found = client
        .lookup(&poigate_api::ListInteractionsQuery {
            sale_id: Some(SALE_ID.into()),
            service_id: Some("7001".into()),
            ..Default::default()
        })
        .await?;
    let adyen_id = found
        .data
        .first()
        .expect("the Adyen payment")
        .id
        .to_string();
    assert_eq!(
        complete(&client, T_ADYEN, &adyen_id).await?,
        Status::Approved
    );
    let status = post_adyen(&http, &next.url, &adyen_status("7001st", T_ADYEN, "7001")).await?;
    let result = &status["SaleToPOIResponse"]["TransactionStatusResponse"]["RepeatedMessageResponse"]
        ["RepeatedResponseMessageBody"]["PaymentResponse"]["Response"]["Result"];
    assert_eq!(result, "Success", "{status}");
    let found = client
        .lookup(&poigate_api::ListInteractionsQuery {
            reference: Some("drain-cs-1".into()),
            ..Default::default()
        })
        .await?;
    let cs_id = found
        .data
        .first()
        .expect("the Cybersource payment")
        .id
        .to_string();
    assert_eq!(
        complete(&client, &cs_terminal, &cs_id).await?,
        Status::Approved
    );
    let (code, body) = eventually(WAIT, || async {
        let _ = client.test_helper(T_NMI, "present-card", None).await;
        let (code, body) = nmi_sync_status(&http, &next.url, &guid).await.ok()?;
        (body["asyncStatus"] == "interactionComplete").then_some((code, body))
    })
    .await?;
    assert_eq!(code, 200);
    assert_eq!(body["transaction"]["success"], true, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_drains_like_sigterm() -> anyhow::Result<()> {
    const BOUND: u64 = 5;
    let dir = tempfile::tempdir()?;
    let mut gw = Running::start(dir.path(), "warn,poigate_http=debug", BOUND);
    let client = Client::new(&gw.url, KEY)?;
    client.test_helper(T_NATIVE, "hold", None).await?;
    let id = client
        .create_interaction(&sale(T_NATIVE, 1000, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    let long_poll = tokio::spawn({
        let (url, id) = (gw.url.clone(), id.clone());
        async move {
            let r = reqwest::Client::new()
                .get(format!("{url}/v1/interactions/{id}?wait=60"))
                .bearer_auth(KEY)
                .send()
                .await?;
            let retry_after = r.headers().get("retry-after").cloned();
            anyhow::Ok((r.status().as_u16(), retry_after, r.json::<Value>().await?))
        }
    });
    until(&gw, "the long-poll parked", || {
        gw.lines_with(&["long-poll parked", &id]) == 1
    })
    .await;
    gw.signal("INT");
    let status = gw
        .exited_within(Duration::from_secs(BOUND + 5))
        .await
        .unwrap_or_else(|| panic!("still running; log:\n{}", gw.log_text()));
    assert!(status.success(), "{status:?}");
    let (code, retry_after, body) =
        tokio::time::timeout(Duration::from_secs(BOUND), long_poll).await???;
    assert_eq!(code, 200);
    assert!(retry_after.is_some(), "{body}");
    assert_eq!(body["final"], false, "{body}");
    Ok(())
}
