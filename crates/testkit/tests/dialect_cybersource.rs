//! The Cybersource dialect (`/cybersource`) over real HTTP: golden tests built from every
//! Cybersource example of the seed (`seeds/examples/cybersource-*.json`), the synchronous
//! endpoint with Check Transaction Status and refunds, `ErrorResponse` for every kind of
//! bad request, bearer tokens, and an end-to-end run through Cybersource's endpoints only.
//!
//! The simulated terminal's test helpers play the cardholder (hold); everything the POS does
//! goes through `/cybersource`, with a bearer token generated before each request as the
//! seed asks.

use poigate_testkit::calls::{access_token, get_json, post_text};
use poigate_testkit::golden::{assert_matches_example, seed_example};
use poigate_testkit::{TERMINALS, TestServer, eventually};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const ASYNC: &str = "/v1/cloud/transactions/async";
const SYNC: &str = "/v1/cloud/transactions";

/// A POS speaking Cybersource to the test server.
struct Cybersource {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Cybersource {
    fn new(ts: &TestServer) -> Cybersource {
        Cybersource {
            http: ts.http(),
            url: ts.url(),
            key: ts.key().to_string(),
        }
    }

    /// "Generate a bearer token before sending each request."
    async fn token(&self) -> anyhow::Result<String> {
        access_token(&self.http, &self.url, &self.key).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let token = self.token().await?;
        self.post_raw(path, body.to_string(), Some(&token)).await
    }

    async fn post_raw(
        &self,
        path: &str,
        body: String,
        bearer: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}/cybersource{path}", self.url);
        let (status, text) = post_text(&self.http, &url, "application/json", body, bearer).await?;
        Ok((status, serde_json::from_str(&text)?))
    }

    async fn events(&self, id: &str, limit: Option<&str>) -> anyhow::Result<(u16, Value)> {
        let token = self.token().await?;
        self.events_as(id, limit, Some(&token)).await
    }

    async fn events_as(
        &self,
        id: &str,
        limit: Option<&str>,
        bearer: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut url = format!("{}/cybersource/v1/cloud/interactions/{id}/events", self.url);
        if let Some(l) = limit {
            url.push_str(&format!("?limit={l}"));
        }
        get_json(&self.http, &url, bearer).await
    }

    /// Starts a request asynchronously; returns the interaction id.
    async fn start(&self, body: &Value) -> anyhow::Result<String> {
        let (status, answer) = self.post(ASYNC, body).await?;
        anyhow::ensure!(status == 200, "not accepted: {status} {answer}");
        answer["interactionId"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no interactionId: {answer}"))
    }

    /// The latest event (`limit=1`) once it has the type `kind`.
    async fn latest(&self, id: &str, kind: &str) -> anyhow::Result<Value> {
        eventually(WAIT, || async {
            let (status, body) = self.events(id, Some("1")).await.ok()?;
            let event = body["transactionEvents"].get(0)?.clone();
            (status == 200 && event["type"] == kind).then_some(event)
        })
        .await
    }

    async fn lookup(&self, serial: &str, id_type: &str, id: &str) -> anyhow::Result<(u16, Value)> {
        self.post(
            SYNC,
            &json!({"serialNumber": serial, "request":
                {"type": "TransactionLookupRequest", "idType": id_type, "id": id}}),
        )
        .await
    }
}

fn payment(serial: &str, code: &str, amount: &str, currency: &str) -> Value {
    json!({"serialNumber": serial, "request": {"type": "PaymentRequest",
        "merchantReferenceCode": code,
        "amountDetails": {"amount": amount, "currency": currency}}})
}

fn serial(poiid: &str) -> &str {
    poiid.split_once('-').map(|(_, s)| s).unwrap_or(poiid)
}

/// `2024-05-28 13:11:30:939`.
fn is_event_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 23
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 | 19 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::assert_json_snapshot!($name, $value, {
            ".interactionId" => "[interaction id]",
            ".transactionEvents[].createdAt" => "[created at]",
            ".transactionEvents[].transactionId" => "[transaction id]",
            ".transactionDetails.id" => "[transaction id]",
            ".transactionDetails.submitTimeUtc" => "[submit time]",
            ".linkedOperations[].id" => "[operation id]",
            ".receipts.*.preformattedReceipt" => "[receipt text]",
        })
    };
}

#[tokio::test]
async fn golden_seed_request_response_events_and_transaction_status() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let poiid = ts.add_terminal("S1F2", "1850000000").await?;
    let cybs = Cybersource::new(&ts);

    // The seed's request, verbatim.
    let request = seed_example("cybersource-async-request.json");
    let (status, accepted) = cybs.post(ASYNC, &request).await?;
    assert_eq!(status, 200, "{accepted}");
    assert_matches_example("cybersource-async-response.json", &accepted, &[]);
    snapshot!("cybersource_async_response", &accepted);
    let id = accepted["interactionId"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 36);
    // It was read as the seed means it: 1.00 GBP on terminal 1850000000, the reference kept.
    let native = ts
        .client()
        .wait_final(&format!("int_{}", id.replace('-', "")), WAIT)
        .await?;
    assert_eq!(native.amount.value(), 100);
    assert_eq!(native.amount.currency().code(), "GBP");
    assert_eq!(
        native.reference.as_deref(),
        Some("058ed6c3430e436dab91b782f4113fd2")
    );
    assert_eq!(native.terminal, ts.client().terminal(&poiid).await?.id);

    // The events: exactly the seed's sequence of types and messages, newest first.
    let payment = cybs.latest(&id, "PaymentResponse").await?;
    assert_eq!(payment["message"], "Payment approved");
    let (status, events) = cybs.events(&id, None).await?;
    assert_eq!(status, 200);
    assert_eq!(events["interactionId"], id.as_str());
    let seed = seed_example("cybersource-events-response.json");
    let sequence = |v: &Value| -> Vec<(Value, Value)> {
        v["transactionEvents"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| (e["type"].clone(), e["message"].clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(sequence(&events), sequence(&seed));
    assert_matches_example("cybersource-events-response.json", &events, &[]);
    let times: Vec<&str> = events["transactionEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["createdAt"].as_str())
        .collect();
    assert!(times.iter().all(|t| is_event_time(t)), "{times:?}");
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    snapshot!("cybersource_events_response", &events);
    // limit=1: only the latest.
    let (_, latest) = cybs.events(&id, Some("1")).await?;
    assert_eq!(
        latest["transactionEvents"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        latest["transactionEvents"][0],
        events["transactionEvents"][0]
    );
    let (_, three) = cybs.events(&id, Some("3")).await?;
    assert_eq!(three["transactionEvents"].as_array().map(Vec::len), Some(3));

    // Check Transaction Status with the transactionId from the events.
    let txn = payment["transactionId"].as_str().expect("transactionId");
    assert_eq!(txn.len(), 32);
    let (status, lookup) = cybs.lookup("1850000000", "TRANSACTION_ID", txn).await?;
    assert_eq!(status, 200, "{lookup}");
    assert_eq!(lookup["type"], "TransactionLookupResponse");
    assert_eq!(lookup["transactionDetails"]["id"], txn);
    assert_eq!(
        lookup["transactionDetails"]["merchantReferenceCode"],
        "058ed6c3430e436dab91b782f4113fd2"
    );
    assert_eq!(lookup["processingDetails"]["status"], "APPROVED");
    assert_eq!(
        lookup["processingDetails"]["card"]["maskedPan"],
        "476173XXXXXX0010"
    );
    let receipt = lookup["receipts"]["customerReceipt"]["preformattedReceipt"]
        .as_str()
        .expect("receipt");
    assert!(
        receipt.contains("APPROVED") && receipt.contains("GBP 1.00"),
        "{receipt}"
    );
    snapshot!("cybersource_transaction_lookup_response", &lookup);
    Ok(())
}

#[tokio::test]
async fn golden_error_response() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cybs = Cybersource::new(&ts);
    let (status, error) = cybs
        .post(
            ASYNC,
            &payment(serial(TERMINALS[0]), "ref-1", "1.001", "GBP"),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(error["type"], "ErrorResponse");
    assert_matches_example("cybersource-error-response.json", &error, &[]);
    snapshot!("cybersource_error_response", &error);
    Ok(())
}

#[tokio::test]
async fn malformed_requests_get_error_responses_with_a_4xx() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cybs = Cybersource::new(&ts);
    let dev = serial(TERMINALS[0]);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (ASYNC, "{".into(), 400, "valid"),
        (ASYNC, "[]".into(), 400, "valid"),
        (
            ASYNC,
            json!({"request": {"type": "CancelRequest"}}).to_string(),
            400,
            "serialNumber",
        ),
        (
            ASYNC,
            json!({"serialNumber": dev}).to_string(),
            400,
            "request",
        ),
        (
            ASYNC,
            json!({"serialNumber": dev, "request": {"type": "TipRequest"}}).to_string(),
            400,
            "TipRequest",
        ),
        (
            ASYNC,
            payment(dev, "ref", "1", "XXX").to_string(),
            400,
            "currency",
        ),
        (
            ASYNC,
            payment(dev, "ref", "-1.00", "GBP").to_string(),
            400,
            "negative",
        ),
        (
            ASYNC,
            payment(dev, "ref", "0.00", "GBP").to_string(),
            400,
            "amount",
        ),
        (
            ASYNC,
            payment(dev, "a b", "1.00", "GBP").to_string(),
            400,
            "merchantReferenceCode",
        ),
        (
            ASYNC,
            payment(dev, &"x".repeat(51), "1.00", "GBP").to_string(),
            400,
            "merchantReferenceCode",
        ),
        (
            ASYNC,
            payment("999999999", "ref", "1.00", "GBP").to_string(),
            400,
            "serialNumber",
        ),
        (
            ASYNC,
            json!({"serialNumber": dev, "request": {"type": "PaymentRequest",
            "merchantReferenceCode": "r", "amountDetails": {"amount": 1.0, "currency": "GBP"}}})
            .to_string(),
            400,
            "string",
        ),
        (
            ASYNC,
            json!({"serialNumber": dev, "request": {"type": "PaymentRequest",
            "merchantReferenceCode": "r", "amountDetails": {"amount": "1.00", "currency": "GBP",
            "cashbackAmount": "5.00"}}})
            .to_string(),
            400,
            "cashbackAmount",
        ),
        (
            ASYNC,
            json!({"serialNumber": dev, "request": {"type": "TransactionLookupRequest",
            "idType": "TRANSACTION_ID", "id": "x"}})
            .to_string(),
            400,
            "transaction id",
        ),
        (
            SYNC,
            json!({"serialNumber": dev, "request": {"type": "PaymentRequest",
            "merchantReferenceCode": "r", "capture": "no",
            "amountDetails": {"amount": "1.00", "currency": "GBP"}}})
            .to_string(),
            400,
            "boolean",
        ),
        (
            SYNC,
            json!({"serialNumber": dev, "request": {"type": "AccountVerificationRequest",
            "merchantReferenceCode": "r", "amountDetails": {"amount": "1.00", "currency": "GBP"}}})
            .to_string(),
            400,
            "zero amount",
        ),
        (
            ASYNC,
            json!({"serialNumber": dev, "request": {"type": "CancelRequest"}}).to_string(),
            409,
            "no transaction",
        ),
        (
            SYNC,
            json!({"serialNumber": dev, "request": {"type": "TransactionLookupRequest",
            "idType": "RECEIPT_NUMBER", "id": "x"}})
            .to_string(),
            400,
            "idType",
        ),
        (
            SYNC,
            json!({"serialNumber": dev, "request": {"type": "TransactionLookupRequest",
            "idType": "TRANSACTION_ID", "id": "nope"}})
            .to_string(),
            400,
            "transaction id",
        ),
        (
            SYNC,
            json!({"serialNumber": dev, "request": {"type": "TransactionLookupRequest",
            "idType": "TRANSACTION_ID", "id": "0192f6a1b2c37d4e8f90a1b2c3d4e5f6"}})
            .to_string(),
            404,
            "transaction",
        ),
        (
            SYNC,
            json!({"serialNumber": dev, "request": {"type": "TransactionLookupRequest",
            "idType": "MERCHANT_REFERENCE_CODE", "id": "never-used"}})
            .to_string(),
            404,
            "merchantReferenceCode",
        ),
        (
            SYNC,
            json!({"serialNumber": dev, "request": {"type": "LinkedRefundRequest",
            "transactionId": "0192f6a1b2c37d4e8f90a1b2c3d4e5f6",
            "amountDetails": {"amount": "1.00", "currency": "GBP"}}})
            .to_string(),
            404,
            "transaction",
        ),
    ];
    for (path, body, status, mentions) in cases {
        let (got, answer) = cybs.post_raw(path, body.clone(), Some(ts.key())).await?;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["type"], "ErrorResponse", "{body}");
        assert!(answer["message"].is_string());
        let description = answer["developerDescription"].as_str().unwrap_or("");
        assert!(
            description
                .to_lowercase()
                .contains(&mentions.to_lowercase()),
            "{body}: {description}"
        );
    }
    assert!(
        ts.client()
            .lookup(&Default::default())
            .await?
            .data
            .is_empty(),
        "no request above may have started anything"
    );

    // Credentials.
    let body = payment(dev, "ref-auth", "1.00", "GBP").to_string();
    for bearer in [
        None,
        Some("pg_test_wrongwrongwrongwrongwrongwrong"),
        Some("pgat_e30.AAAA"),
    ] {
        let (status, answer) = cybs.post_raw(ASYNC, body.clone(), bearer).await?;
        assert_eq!(status, 401, "{bearer:?}");
        assert_eq!(answer["type"], "ErrorResponse");
    }
    // Events: a malformed id is a 400, an unknown one a 404, a bad limit a 400.
    let (status, answer) = cybs.events("not-an-id", None).await?;
    assert_eq!((status, &answer["type"]), (400, &json!("ErrorResponse")));
    let (status, _) = cybs
        .events("0c292d7f-6bf9-460c-afc3-d75c189f2f99", None)
        .await?;
    assert_eq!(status, 404);
    let id = cybs
        .start(&payment(dev, "ref-events", "1.00", "GBP"))
        .await?;
    for limit in ["0", "-1", "x", "1001"] {
        let (status, answer) = cybs.events(&id, Some(limit)).await?;
        assert_eq!(
            (status, &answer["type"]),
            (400, &json!("ErrorResponse")),
            "{limit}"
        );
    }
    let (status, _) = cybs.events_as(&id, None, None).await?;
    assert_eq!(status, 401);
    // Another merchant does not see it.
    let other = ts.other_merchant("Merchant B").await?;
    let (status, _) = cybs.events_as(&id, None, Some(other.api_key())).await?;
    assert_eq!(status, 404);
    // Unknown paths and methods answer in Cybersource's shape too.
    let r = ts
        .http()
        .get(format!(
            "{}/cybersource/v1/cloud/transactions/async",
            ts.url()
        ))
        .bearer_auth(ts.key())
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.json::<Value>().await?["type"], "ErrorResponse");
    let (status, answer) = cybs.post_raw("/v2/unknown", "{}".into(), None).await?;
    assert_eq!((status, &answer["type"]), (404, &json!("ErrorResponse")));
    Ok(())
}

#[tokio::test]
async fn expired_or_tampered_tokens_get_401_error_responses() -> anyhow::Result<()> {
    let (ts, clock) = TestServer::start_with_manual_clock().await?;
    let cybs = Cybersource::new(&ts);
    let token = cybs.token().await?;
    let body = payment(serial(TERMINALS[0]), "ref-token", "1.00", "GBP").to_string();
    let (status, accepted) = cybs.post_raw(ASYNC, body.clone(), Some(&token)).await?;
    assert_eq!(status, 200, "{accepted}");
    let id = accepted["interactionId"].as_str().expect("id").to_string();

    let mut tampered = token.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (status, answer) = cybs.post_raw(ASYNC, body.clone(), Some(&tampered)).await?;
    assert_eq!((status, &answer["type"]), (401, &json!("ErrorResponse")));
    let (status, _) = cybs.events_as(&id, None, Some(&tampered)).await?;
    assert_eq!(status, 401);

    clock.advance(Duration::from_secs(901));
    let (status, answer) = cybs.post_raw(ASYNC, body, Some(&token)).await?;
    assert_eq!((status, &answer["type"]), (401, &json!("ErrorResponse")));
    let (status, _) = cybs.events_as(&id, None, Some(&token)).await?;
    assert_eq!(status, 401);
    // A fresh token works again.
    let (status, _) = cybs.events(&id, None).await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn synchronous_sale_decline_refunds_and_cancel() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cybs = Cybersource::new(&ts);
    let dev = serial(TERMINALS[1]);

    let (status, sale) = cybs
        .post(SYNC, &payment(dev, "sync-sale", "25.00", "EUR"))
        .await?;
    assert_eq!(status, 200, "{sale}");
    assert_eq!(sale["type"], "PaymentResponse");
    assert_eq!(sale["message"], "Payment approved");
    assert_eq!(sale["processingDetails"]["status"], "APPROVED");
    assert_eq!(sale["processingDetails"]["entryMode"], "ICC");
    assert_eq!(
        sale["processingDetails"]["verificationMethod"],
        "ONLINE_PIN"
    );
    assert_eq!(sale["transactionDetails"]["captured"], true);
    assert_eq!(
        sale["transactionDetails"]["amountDetails"]["refundableAmount"],
        "25.00"
    );
    snapshot!("cybersource_sync_payment_response", &sale);
    let txn = sale["transactionDetails"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    // A linked refund answers when it is complete: "Refund approved" (issue 14, item 6).
    let (status, refund) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "LinkedRefundRequest",
                "transactionId": txn, "amountDetails": {"amount": "10.00", "currency": "EUR"}}}),
        )
        .await?;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["type"], "LinkedRefundResponse");
    assert_eq!(refund["message"], "Refund approved");
    assert_eq!(refund["linkedOperations"][0]["type"], "REFUND");
    assert_eq!(refund["linkedOperations"][0]["amount"], "10.00");
    assert_eq!(refund["linkedOperations"][0]["status"], "APPROVED");
    assert_eq!(
        refund["transactionDetails"]["amountDetails"]["refundableAmount"],
        "15.00"
    );
    assert_eq!(
        refund["transactionDetails"]["amountDetails"]["capturedAmount"],
        "15.00"
    );
    let (_, done) = cybs.lookup(dev, "TRANSACTION_ID", &txn).await?;
    assert_eq!(done["linkedOperations"][0]["status"], "APPROVED");
    let (status, too_much) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "LinkedRefundRequest",
                "transactionId": txn, "amountDetails": {"amount": "16.00", "currency": "EUR"}}}),
        )
        .await?;
    assert_eq!((status, &too_much["type"]), (409, &json!("ErrorResponse")));
    let (status, wrong_currency) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "LinkedRefundRequest",
                "transactionId": txn, "amountDetails": {"amount": "1.00", "currency": "GBP"}}}),
        )
        .await?;
    assert_eq!(
        (status, &wrong_currency["type"]),
        (400, &json!("ErrorResponse"))
    );

    // A decline: a PaymentResponse with status DECLINED.
    let (_, declined) = cybs
        .post(SYNC, &payment(dev, "sync-decline", "11.24", "EUR"))
        .await?;
    assert_eq!(declined["message"], "Payment declined");
    assert_eq!(declined["processingDetails"]["status"], "DECLINED");
    assert_eq!(
        declined["transactionDetails"]["amountDetails"]["refundableAmount"],
        "0.00"
    );

    // A stand-alone (card-present) refund.
    let (_, standalone) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "StandaloneRefundRequest",
                "merchantReferenceCode": "sync-refund",
                "amountDetails": {"amount": "4.00", "currency": "EUR"}}}),
        )
        .await?;
    assert_eq!(standalone["type"], "StandaloneRefundResponse");
    assert_eq!(standalone["message"], "Refund approved");

    // A synchronous cancel answers as Cybersource does (issue 14, item 2): a PaymentResponse
    // "Payment aborted", status ABORTED, with a transaction id and receipts.
    ts.client().test_helper(TERMINALS[1], "hold", None).await?;
    let id = cybs
        .start(&payment(dev, "sync-cancelled", "7.00", "EUR"))
        .await?;
    let (status, cancelled) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "CancelRequest"}}),
        )
        .await?;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["type"], "PaymentResponse", "{cancelled}");
    assert_eq!(cancelled["message"], "Payment aborted");
    assert_eq!(cancelled["processingDetails"]["status"], "ABORTED");
    assert_eq!(cancelled["transactionDetails"]["captured"], false);
    assert_eq!(
        cancelled["transactionDetails"]["merchantReferenceCode"],
        "sync-cancelled"
    );
    assert_eq!(
        cancelled["transactionDetails"]["amountDetails"]["amount"],
        "7.00"
    );
    let aborted_id = cancelled["transactionDetails"]["id"]
        .as_str()
        .expect("a transaction id")
        .to_string();
    assert_eq!(aborted_id.len(), 32);
    let receipt = cancelled["receipts"]["customerReceipt"]["preformattedReceipt"]
        .as_str()
        .expect("a customer receipt");
    assert!(receipt.contains("ABORTED"), "{receipt}");
    assert!(
        cancelled["receipts"]["merchantReceipt"]["preformattedReceipt"].is_string(),
        "{cancelled}"
    );
    let last = cybs.latest(&id, "PaymentResponse").await?;
    assert_eq!(last["message"], "Payment aborted");
    assert_eq!(last["transactionId"], aborted_id.as_str());
    // The aborted sale is found by its id and by its reference code.
    let (status, by_id) = cybs.lookup(dev, "TRANSACTION_ID", &aborted_id).await?;
    assert_eq!(status, 200, "{by_id}");
    assert_eq!(by_id["type"], "TransactionLookupResponse");
    assert_eq!(by_id["processingDetails"]["status"], "ABORTED");
    let (status, by_code) = cybs
        .lookup(dev, "MERCHANT_REFERENCE_CODE", "sync-cancelled")
        .await?;
    assert_eq!(status, 200, "{by_code}");
    assert_eq!(by_code["transactionDetails"]["id"], aborted_id.as_str());
    assert_eq!(by_code["processingDetails"]["status"], "ABORTED");
    Ok(())
}

/// The end-to-end run of the issue: a sale, a decline, a cancel and a recovery after a lost
/// response, through Cybersource's endpoints only.
#[tokio::test]
async fn end_to_end_sale_decline_cancel_and_lost_response() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cybs = Cybersource::new(&ts);
    let dev = serial(TERMINALS[2]);

    // 1. A sale: interaction id at once, the outcome from the events, details by lookup.
    let id = cybs
        .start(&payment(dev, "e2e-sale", "12.50", "USD"))
        .await?;
    let done = cybs.latest(&id, "PaymentResponse").await?;
    assert_eq!(done["message"], "Payment approved");
    let txn = done["transactionId"].as_str().expect("transactionId");
    let (_, lookup) = cybs.lookup(dev, "TRANSACTION_ID", txn).await?;
    assert_eq!(lookup["processingDetails"]["status"], "APPROVED");
    assert_eq!(
        lookup["transactionDetails"]["amountDetails"]["amount"],
        "12.50"
    );

    // 2. A decline.
    let id = cybs
        .start(&payment(dev, "e2e-decline", "21.25", "USD"))
        .await?;
    let declined = cybs.latest(&id, "PaymentResponse").await?;
    assert_eq!(declined["message"], "Payment declined");
    let (_, lookup) = cybs
        .lookup(
            dev,
            "TRANSACTION_ID",
            declined["transactionId"].as_str().expect("id"),
        )
        .await?;
    assert_eq!(lookup["processingDetails"]["status"], "DECLINED");

    // 3. A cancel while the cardholder hesitates.
    ts.client().test_helper(TERMINALS[2], "hold", None).await?;
    let id = cybs
        .start(&payment(dev, "e2e-cancel", "30.00", "USD"))
        .await?;
    let cancel = cybs
        .start(&json!({"serialNumber": dev, "request": {"type": "CancelRequest"}}))
        .await?;
    assert_eq!(cancel, id, "the cancel names the interaction it cancels");
    let cancelled = cybs.latest(&id, "PaymentResponse").await?;
    assert_eq!(cancelled["message"], "Payment aborted");
    // After a lost response the POS can tell "aborted" from "never received".
    let (status, aborted) = cybs
        .lookup(dev, "MERCHANT_REFERENCE_CODE", "e2e-cancel")
        .await?;
    assert_eq!(status, 200, "the aborted sale is found: {aborted}");
    assert_eq!(aborted["processingDetails"]["status"], "ABORTED");
    assert_eq!(
        aborted["transactionDetails"]["id"],
        cancelled["transactionId"]
    );

    // 4. A lost response: the POS sends the same request again and gets the same interaction
    //    (never a second payment), and finds the transaction by its reference code.
    let request = payment(dev, "e2e-lost", "8.40", "USD");
    let (status, _lost) = cybs.post(ASYNC, &request).await?;
    assert_eq!(status, 200);
    let again = cybs.start(&request).await?;
    let third = cybs.start(&request).await?;
    assert_eq!(again, third);
    let found = eventually(WAIT, || async {
        let (status, l) = cybs
            .lookup(dev, "MERCHANT_REFERENCE_CODE", "e2e-lost")
            .await
            .ok()?;
        (status == 200).then_some(l)
    })
    .await?;
    assert_eq!(
        found["transactionDetails"]["merchantReferenceCode"],
        "e2e-lost"
    );
    assert_eq!(
        found["transactionDetails"]["amountDetails"]["amount"],
        "8.40"
    );
    let latest = cybs.latest(&again, "PaymentResponse").await?;
    assert_eq!(latest["transactionId"], found["transactionDetails"]["id"]);
    // The same code for a different request is refused.
    let (status, conflict) = cybs
        .post(ASYNC, &payment(dev, "e2e-lost", "9.99", "USD"))
        .await?;
    assert_eq!((status, &conflict["type"]), (409, &json!("ErrorResponse")));
    let native = ts.client().lookup(&Default::default()).await?;
    assert_eq!(
        native
            .data
            .iter()
            .filter(|i| i.reference.as_deref() == Some("e2e-lost"))
            .count(),
        1,
        "exactly one payment for the lost response"
    );
    Ok(())
}

/// Issue 14, item 3: the fields and request types Cybersource documents are accepted
/// (unknown ones ignored as the provider does): `capture`, `askForTip`, `paymentMode`, a
/// pre-authorisation captured later, an account verification; incremental authorisation and
/// tip adjustment are refused clearly. Item 6: linked refunds, captures and lookups on the
/// asynchronous endpoint too.
#[tokio::test]
async fn documented_fields_pre_auth_capture_verification_and_async_follow_ons() -> anyhow::Result<()>
{
    let ts = TestServer::start().await?;
    let cybs = Cybersource::new(&ts);
    let dev = serial(TERMINALS[0]);
    let native = |id: &str| format!("int_{}", id.replace('-', ""));

    // A POS that sends `capture: true`, a tip mode, a payment mode and fields of a newer
    // API version on every sale. `ON_DEVICE` asks for a tip on the terminal: the simulated
    // cardholder tips 15 %, so the 5.00 sale is 5.75.
    let (status, sale) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "posVersion": "9.1", "request": {
                "type": "PaymentRequest", "merchantReferenceCode": "doc-sale",
                "amountDetails": {"amount": "5.00", "currency": "GBP"},
                "capture": true, "askForTip": "ON_DEVICE", "paymentMode": "CARD",
                "futureField": {"x": 1}}}),
        )
        .await?;
    assert_eq!(status, 200, "{sale}");
    assert_eq!(sale["message"], "Payment approved");
    assert_eq!(sale["transactionDetails"]["captured"], true);
    assert_eq!(
        sale["transactionDetails"]["amountDetails"]["includedTipAmount"],
        "0.75"
    );
    let sale_txn = sale["transactionDetails"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    // A pre-authorisation: the engine's `auth`, nothing captured until the CaptureRequest.
    let (status, auth) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "PaymentRequest",
                "merchantReferenceCode": "doc-preauth", "capture": false,
                "amountDetails": {"amount": "1.00", "currency": "GBP"}}}),
        )
        .await?;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["type"], "PaymentResponse");
    assert_eq!(auth["message"], "Payment approved");
    assert_eq!(auth["transactionDetails"]["captured"], false);
    assert_eq!(
        auth["transactionDetails"]["amountDetails"]["capturedAmount"],
        "0.00"
    );
    let auth_txn = auth["transactionDetails"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let found = ts
        .client()
        .lookup(&Default::default())
        .await?
        .data
        .into_iter()
        .find(|i| i.reference.as_deref() == Some("doc-preauth"))
        .expect("the pre-authorisation");
    assert_eq!(found.kind, poigate_domain::InteractionType::Auth);
    let (status, captured) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "CaptureRequest",
                "transactionId": auth_txn,
                "amountDetails": {"amount": "0.60", "currency": "GBP"}}}),
        )
        .await?;
    assert_eq!(status, 200, "{captured}");
    assert_eq!(captured["type"], "CaptureResponse");
    assert_eq!(captured["message"], "Payment approved");
    assert_eq!(captured["transactionDetails"]["captured"], true);
    assert_eq!(
        captured["transactionDetails"]["amountDetails"]["capturedAmount"],
        "0.60"
    );
    assert_eq!(captured["linkedOperations"][0]["type"], "CAPTURE");

    // An account verification: the engine's zero-amount `validate`.
    let (status, verified) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "AccountVerificationRequest",
                "merchantReferenceCode": "doc-verify",
                "amountDetails": {"amount": "0.00", "currency": "GBP"}}}),
        )
        .await?;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["message"], "Card verified");
    assert_eq!(
        verified["transactionDetails"]["amountDetails"]["amount"],
        "0.00"
    );
    let found = ts
        .client()
        .lookup(&Default::default())
        .await?
        .data
        .into_iter()
        .find(|i| i.reference.as_deref() == Some("doc-verify"))
        .expect("the verification");
    assert_eq!(found.kind, poigate_domain::InteractionType::Validate);

    // Incremental authorisation and on-receipt tipping (Cybersource's documented shapes):
    // a pre-authorisation of 10.00 raised by 2.00, then a tip of 1.50 captured with it.
    let (status, pre) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "PaymentRequest",
                "merchantReferenceCode": "doc-tab", "capture": false,
                "amountDetails": {"amount": "10.00", "currency": "GBP"}}}),
        )
        .await?;
    assert_eq!(status, 200, "{pre}");
    assert_eq!(pre["tipAdjustStatus"], "ADJUSTABLE", "{pre}");
    let tab = pre["transactionDetails"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, raised) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "IncrementalAuthorizationRequest",
                "transactionId": tab,
                "amountDetails": {"amount": "2.00", "currency": "GBP"}}}),
        )
        .await?;
    assert_eq!(status, 200, "{raised}");
    assert_eq!(raised["type"], "IncrementalAuthorizationResponse");
    assert_eq!(raised["message"], "Payment approved");
    assert_eq!(raised["transactionDetails"]["captured"], false);
    assert_eq!(
        raised["transactionDetails"]["amountDetails"]["amount"],
        "12.00"
    );
    assert_eq!(raised["tipAdjustStatus"], "ADJUSTABLE");
    let (status, tipped) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "TipAdjustRequest",
                "transactionId": tab,
                "amountDetails": {"amount": "1.50", "currency": "GBP"}}}),
        )
        .await?;
    assert_eq!(status, 200, "{tipped}");
    assert_eq!(tipped["type"], "TipAdjustResponse");
    assert_eq!(tipped["message"], "Payment approved");
    assert_eq!(tipped["tipAdjustStatus"], "ADJUSTED");
    let amounts = &tipped["transactionDetails"]["amountDetails"];
    assert_eq!(tipped["transactionDetails"]["captured"], true);
    assert_eq!(
        (
            &amounts["amount"],
            &amounts["capturedAmount"],
            &amounts["includedTipAmount"]
        ),
        (&json!("13.50"), &json!("13.50"), &json!("1.50"))
    );
    // The engine agrees: authorised 10.00 + 2.00 + 1.50, all captured.
    let txn = ts.client().transaction(&format!("txn_{tab}")).await?;
    assert_eq!((txn.authorized_amount, txn.captured_amount), (1350, 1350));
    // Neither applies to a captured sale: refused in Cybersource's error shape, nothing
    // changed.
    for kind in ["IncrementalAuthorizationRequest", "TipAdjustRequest"] {
        let (status, refused) = cybs
            .post(
                SYNC,
                &json!({"serialNumber": dev, "request": {"type": kind,
                    "transactionId": sale_txn,
                    "amountDetails": {"amount": "1.00", "currency": "GBP"}}}),
            )
            .await?;
        assert!((400..500).contains(&status), "{kind}: {status} {refused}");
        assert_eq!(refused["type"], "ErrorResponse", "{kind}: {refused}");
    }
    let sale = ts.client().transaction(&format!("txn_{sale_txn}")).await?;
    assert_eq!(sale.authorized_amount, 575, "5.00 and the 0.75 tip");

    // Asynchronous follow-ons: a linked refund answers an id whose events end with the
    // documented LinkedRefundResponse "Refund approved".
    let refund_id = cybs
        .start(
            &json!({"serialNumber": dev, "request": {"type": "LinkedRefundRequest",
            "transactionId": sale_txn, "amountDetails": {"amount": "2.00", "currency": "GBP"}}}),
        )
        .await?;
    let refunded = cybs.latest(&refund_id, "LinkedRefundResponse").await?;
    assert_eq!(refunded["message"], "Refund approved");
    assert_eq!(refunded["transactionId"], sale_txn.as_str());
    let (_, lookup) = cybs.lookup(dev, "TRANSACTION_ID", &sale_txn).await?;
    assert_eq!(
        lookup["transactionDetails"]["amountDetails"]["refundableAmount"],
        "3.75"
    );
    // Without amountDetails, the rest: a full refund.
    let (status, rest) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "LinkedRefundRequest",
                "transactionId": sale_txn}}),
        )
        .await?;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["message"], "Refund approved");
    assert_eq!(
        rest["transactionDetails"]["amountDetails"]["refundableAmount"],
        "0.00"
    );

    // A capture of a second pre-authorisation, on the asynchronous endpoint, in full.
    let (_, auth2) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "PaymentRequest",
                "merchantReferenceCode": "doc-preauth-2", "capture": false,
                "amountDetails": {"amount": "3.00", "currency": "GBP"}}}),
        )
        .await?;
    let auth2_txn = auth2["transactionDetails"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let capture_id = cybs
        .start(
            &json!({"serialNumber": dev, "request": {"type": "CaptureRequest",
            "transactionId": auth2_txn}}),
        )
        .await?;
    let capture = cybs.latest(&capture_id, "CaptureResponse").await?;
    assert_eq!(capture["message"], "Payment approved");
    let (_, lookup) = cybs.lookup(dev, "TRANSACTION_ID", &auth2_txn).await?;
    assert_eq!(
        lookup["transactionDetails"]["amountDetails"]["capturedAmount"],
        "3.00"
    );

    // A lookup on the asynchronous endpoint: the interaction whose events carry the
    // transaction id.
    let (status, accepted) = cybs
        .post(
            ASYNC,
            &json!({"serialNumber": dev, "request": {"type": "TransactionLookupRequest",
                "idType": "MERCHANT_REFERENCE_CODE", "id": "doc-sale"}}),
        )
        .await?;
    assert_eq!(status, 200, "{accepted}");
    let id = accepted["interactionId"].as_str().expect("interactionId");
    let done = cybs.latest(id, "PaymentResponse").await?;
    assert_eq!(done["transactionId"], sale_txn.as_str());
    let view = ts.client().wait_final(&native(id), WAIT).await?;
    assert_eq!(view.reference.as_deref(), Some("doc-sale"));
    Ok(())
}

/// Issue 14: `askForTip: "ON_DEVICE"` asks the cardholder for a tip on the terminal (the
/// simulated cardholder tips 15 %, nothing on amounts ending in 140). The PaymentResponse
/// shows the total in `amountDetails.amount` and the tip in `includedTipAmount`; capture and
/// refunds work on the total. Other documented values ask nothing; an unknown one is refused.
#[tokio::test]
async fn tip_asked_on_the_device_sale_pre_auth_capture_and_refund() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let cybs = Cybersource::new(&ts);
    let dev = serial(TERMINALS[0]);
    let tipped = |code: &str, amount: &str, capture: bool, tip: &str| {
        json!({"serialNumber": dev, "request": {"type": "PaymentRequest",
            "merchantReferenceCode": code, "capture": capture, "askForTip": tip,
            "amountDetails": {"amount": amount, "currency": "USD"}}})
    };

    // A sale: 20.00 and a 3.00 tip, all captured.
    let (status, sale) = cybs
        .post(SYNC, &tipped("tip-sale", "20.00", true, "ON_DEVICE"))
        .await?;
    assert_eq!(status, 200, "{sale}");
    assert_eq!(sale["type"], "PaymentResponse");
    assert_eq!(sale["message"], "Payment approved");
    let amounts = &sale["transactionDetails"]["amountDetails"];
    assert_eq!(
        (
            &amounts["amount"],
            &amounts["includedTipAmount"],
            &amounts["capturedAmount"],
            &amounts["refundableAmount"]
        ),
        (
            &json!("23.00"),
            &json!("3.00"),
            &json!("23.00"),
            &json!("23.00")
        ),
        "{sale}"
    );
    let sale_txn = sale["transactionDetails"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let native = ts.client().transaction(&format!("txn_{sale_txn}")).await?;
    assert_eq!(
        (
            native.amount.value(),
            native.tip_amount,
            native.captured_amount
        ),
        (2300, Some(300), 2300)
    );
    // A full linked refund returns the total, tip included.
    let (status, refund) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "LinkedRefundRequest",
                "transactionId": sale_txn}}),
        )
        .await?;
    assert_eq!(status, 200, "{refund}");
    let native = ts.client().transaction(&format!("txn_{sale_txn}")).await?;
    assert_eq!(native.refunded_amount, 2300);

    // The cardholder declines the tip prompt (amount ending in 140): a tip of 0.00.
    let (_, no_tip) = cybs
        .post(SYNC, &tipped("tip-none", "11.40", true, "ON_DEVICE"))
        .await?;
    let amounts = &no_tip["transactionDetails"]["amountDetails"];
    assert_eq!(
        (&amounts["amount"], &amounts["includedTipAmount"]),
        (&json!("11.40"), &json!("0.00")),
        "{no_tip}"
    );

    // A pre-authorisation with the tip, then its capture without amountDetails: the total.
    let (_, auth) = cybs
        .post(SYNC, &tipped("tip-auth", "10.00", false, "ON_DEVICE"))
        .await?;
    let amounts = &auth["transactionDetails"]["amountDetails"];
    assert_eq!(
        (
            &amounts["amount"],
            &amounts["includedTipAmount"],
            &amounts["capturedAmount"]
        ),
        (&json!("11.50"), &json!("1.50"), &json!("0.00")),
        "{auth}"
    );
    let auth_txn = auth["transactionDetails"]["id"].as_str().expect("id");
    let (status, captured) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "CaptureRequest",
                "transactionId": auth_txn}}),
        )
        .await?;
    assert_eq!(status, 200, "{captured}");
    let (_, lookup) = cybs.lookup(dev, "TRANSACTION_ID", auth_txn).await?;
    assert_eq!(
        lookup["transactionDetails"]["amountDetails"]["capturedAmount"], "11.50",
        "{lookup}"
    );

    // On receipt (the tip follows in a TipAdjustRequest), NONE, OFF: no tip asked.
    for (code, mode) in [("tip-r", "ON_RECEIPT"), ("tip-n", "NONE"), ("tip-o", "OFF")] {
        let (status, plain) = cybs.post(SYNC, &tipped(code, "5.00", false, mode)).await?;
        assert_eq!(status, 200, "{mode}: {plain}");
        let amounts = &plain["transactionDetails"]["amountDetails"];
        assert_eq!(amounts["amount"], "5.00", "{mode}: {plain}");
        assert!(
            amounts.get("includedTipAmount").is_none(),
            "{mode}: {plain}"
        );
    }
    // A tip is for a payment: a standalone refund that asks for one is refused.
    let (status, refused) = cybs
        .post(
            SYNC,
            &json!({"serialNumber": dev, "request": {"type": "StandaloneRefundRequest",
                "merchantReferenceCode": "tip-refund", "askForTip": "ON_DEVICE",
                "amountDetails": {"amount": "5.00", "currency": "USD"}}}),
        )
        .await?;
    assert_eq!(
        (status, &refused["type"]),
        (400, &json!("ErrorResponse")),
        "{refused}"
    );
    // A value Cybersource does not define is refused, as other malformed fields are.
    let (status, refused) = cybs
        .post(SYNC, &tipped("tip-bad", "5.00", true, "SOMETIMES"))
        .await?;
    assert_eq!((status, &refused["type"]), (400, &json!("ErrorResponse")));
    assert!(
        refused["developerDescription"]
            .as_str()
            .is_some_and(|d| d.contains("askForTip")),
        "{refused}"
    );
    Ok(())
}
