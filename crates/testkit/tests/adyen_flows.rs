//! End to end through the Adyen dialect only, as a POS built on Adyen's Terminal API would
//! drive poigate: a sale, declines, an abort, a recovery after a lost response, the busy
//! rule, ServiceID rules, refunds, and `/async` results delivered as event notifications.
//! The only native calls are the simulated cardholder's (test helpers) and the merchant's
//! one-time webhook configuration.

mod adyen_support;

use adyen_support::{Answer, Notifications, Pos, adyen_endpoint, cardholder, receipt_qualifiers};
use poigate_testkit::{TERMINALS, TestServer, eventually};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn pos(ts: &TestServer) -> Pos {
    Pos::new(&ts.url(), ts.key(), "POSSystemID12345")
}

/// Polls the status of `reference` until it is no longer `InProgress`.
async fn final_status(pos: &Pos, poiid: &str, reference: &str) -> anyhow::Result<Answer> {
    let mut n = 0;
    eventually(WAIT, || {
        n += 1;
        let body = pos.status(&format!("st{n}"), poiid, Some(reference));
        async move {
            let answer = pos.post("sync", &body).await.ok()?;
            let (_, condition) = answer.result("TransactionStatusResponse");
            (condition != Some("InProgress")).then_some(answer)
        }
    })
    .await
}

fn repeated_payment(answer: &Answer) -> &Value {
    &answer.body("TransactionStatusResponse")["RepeatedMessageResponse"]["RepeatedResponseMessageBody"]
        ["PaymentResponse"]
}

#[tokio::test]
async fn a_sale_answers_the_payment_response_with_receipts() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let answer = pos
        .post("sync", &pos.payment("1001", TERMINALS[0], 12.5, "EUR"))
        .await?;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let header = &answer.json["SaleToPOIResponse"]["MessageHeader"];
    assert_eq!(header["MessageCategory"], "Payment");
    assert_eq!(header["MessageType"], "Response");
    assert_eq!(header["MessageClass"], "Service");
    assert_eq!(header["SaleID"], "POSSystemID12345");
    assert_eq!(header["ServiceID"], "1001");
    assert_eq!(header["POIID"], TERMINALS[0]);
    assert_eq!(answer.result("PaymentResponse"), ("Success", None));
    let payment = answer.body("PaymentResponse");
    let amounts = &payment["PaymentResult"]["AmountsResp"];
    assert_eq!(amounts["AuthorizedAmount"], 12.5);
    assert_eq!(amounts["Currency"], "EUR");
    assert_eq!(
        payment["SaleData"]["SaleTransactionID"]["TransactionID"],
        "order-1001"
    );
    let poi_tx = payment["POIData"]["POITransactionID"]["TransactionID"]
        .as_str()
        .unwrap_or_default();
    let (_, psp) = poi_tx.split_once('.').unwrap_or_default();
    // Adyen's 16-character pspReference (upper case letters and digits).
    assert_eq!(psp.len(), 16, "{poi_tx}");
    assert!(
        psp.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        "{poi_tx}"
    );
    assert!(
        answer
            .additional("PaymentResponse")
            .contains(&format!("pspReference={psp}")),
        "{}",
        answer.additional("PaymentResponse")
    );
    assert_eq!(
        receipt_qualifiers(payment),
        ["CashierReceipt", "CustomerReceipt"]
    );
    let lines: Vec<&str> = payment["PaymentReceipt"][1]["OutputContent"]["OutputText"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["Text"].as_str()).collect())
        .unwrap_or_default();
    assert!(lines.contains(&"name=APPROVED&key=approved"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("name=TOTAL&value=EUR%2012.50")),
        "{lines:?}"
    );
    Ok(())
}

#[tokio::test]
async fn each_test_amount_declines_with_adyens_error_condition_and_refusal_reason()
-> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let table = [
        // As Adyen's terminals: the acquirer's code, then its text.
        (11.24, "Refusal", "210%20Not%20enough%20balance"),
        (1.25, "Refusal", "199%20Card%20blocked"),
        (21.26, "Refusal", "228%20Card%20expired"),
        (1.27, "Refusal", "214%20Declined%20online"),
        // The card itself is refused: InvalidCard, not Refusal.
        (1.28, "InvalidCard", "214%20Declined%20online"),
        (101.34, "WrongPIN", "129%20Invalid%20online%20PIN"),
    ];
    for (i, (amount, condition, reason)) in table.into_iter().enumerate() {
        let answer = pos
            .post(
                "sync",
                &pos.payment(&format!("d{i}"), TERMINALS[0], amount, "EUR"),
            )
            .await?;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.result("PaymentResponse"),
            ("Failure", Some(condition)),
            "{amount}"
        );
        let additional = answer.additional("PaymentResponse");
        assert!(
            additional.contains(&format!("refusalReason={reason}&")),
            "{amount}: {additional}"
        );
        let result = &answer.body("PaymentResponse")["PaymentResult"];
        assert_eq!(result["AmountsResp"]["AuthorizedAmount"], 0);
        assert!(result["PaymentAcquirerData"]["ApprovalCode"].is_null());
    }
    Ok(())
}

#[tokio::test]
async fn an_abort_cancels_the_payment_in_progress() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    cardholder(&ts, TERMINALS[0], "hold").await?;
    let payment = pos.payment("2001", TERMINALS[0], 30.0, "EUR");
    let waiting = {
        let pos = pos.clone();
        tokio::spawn(async move { pos.post("sync", &payment).await })
    };
    // In progress: the terminal waits for a card.
    let mut n = 0;
    eventually(WAIT, || {
        n += 1;
        let body = pos.status(&format!("s{n}"), TERMINALS[0], Some("2001"));
        let pos = pos.clone();
        async move {
            let a = pos.post("sync", &body).await.ok()?;
            (a.result("TransactionStatusResponse") == ("Failure", Some("InProgress"))).then_some(())
        }
    })
    .await?;
    let aborted = pos
        .post("sync", &pos.abort("2001abort", TERMINALS[0], "2001"))
        .await?;
    // As Adyen's cloud: 200 with an empty body on /sync.
    assert_eq!((aborted.status, aborted.text.as_str()), (200, ""));

    let answer = waiting.await??;
    assert_eq!(
        answer.result("PaymentResponse"),
        ("Failure", Some("Aborted")),
        "{}",
        answer.text
    );
    assert!(answer.body("PaymentResponse")["PaymentResult"].is_null());
    let status = final_status(&pos, TERMINALS[0], "2001").await?;
    assert_eq!(
        status.result("TransactionStatusResponse"),
        ("Success", None)
    );
    assert_eq!(
        repeated_payment(&status)["Response"]["ErrorCondition"],
        "Aborted"
    );
    // An abort of something finished (or unknown) changes nothing and still answers ok.
    let again = pos
        .post("sync", &pos.abort("2001again", TERMINALS[0], "2001"))
        .await?;
    assert_eq!((again.status, again.text.as_str()), (200, ""));
    Ok(())
}

#[tokio::test]
async fn a_lost_response_is_recovered_with_a_transaction_status_request() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    cardholder(&ts, TERMINALS[1], "hold").await?;
    let payment = pos.payment("3001", TERMINALS[1], 42.0, "EUR");
    let waiting = {
        let pos = pos.clone();
        let payment = payment.clone();
        tokio::spawn(async move { pos.post("sync", &payment).await })
    };
    let mut n = 0;
    let status = eventually(WAIT, || {
        n += 1;
        let body = pos.status(&format!("3001st{n}"), TERMINALS[1], Some("3001"));
        let pos = pos.clone();
        async move {
            let a = pos.post("sync", &body).await.ok()?;
            (a.result("TransactionStatusResponse").1 == Some("InProgress")).then_some(a)
        }
    })
    .await?;
    assert_eq!(
        status.additional("TransactionStatusResponse"),
        "Uncompleted transaction"
    );
    // The cash register's connection drops: the response is lost.
    waiting.abort();
    assert!(waiting.await.is_err(), "the response should have been lost");
    cardholder(&ts, TERMINALS[1], "present-card").await?;

    let status = final_status(&pos, TERMINALS[1], "3001").await?;
    assert_eq!(
        status.result("TransactionStatusResponse"),
        ("Success", None)
    );
    let reference = &status.body("TransactionStatusResponse")["MessageReference"];
    assert_eq!(reference["ServiceID"], "3001");
    assert_eq!(reference["MessageCategory"], "Payment");
    let original = repeated_payment(&status);
    assert_eq!(original["Response"]["Result"], "Success");
    assert_eq!(
        original["PaymentReceipt"].as_array().map(Vec::len),
        Some(2),
        "ReceiptReprintFlag with both qualifiers"
    );
    let repeated_header =
        &status.body("TransactionStatusResponse")["RepeatedMessageResponse"]["MessageHeader"];
    assert_eq!(repeated_header["MessageCategory"], "Payment");
    assert_eq!(repeated_header["ServiceID"], "3001");

    // Without MessageReference: the terminal's most recent transaction.
    let latest = pos
        .post("sync", &pos.status("3001st9", TERMINALS[1], None))
        .await?;
    assert_eq!(
        repeated_payment(&latest)["POIData"],
        original["POIData"],
        "{}",
        latest.text
    );

    // Retrying the very same request never pays twice: it answers the original result.
    let retried = pos.post("sync", &payment).await?;
    assert_eq!(
        retried.body("PaymentResponse")["POIData"],
        original["POIData"]
    );
    Ok(())
}

#[tokio::test]
async fn a_second_payment_on_a_busy_terminal_answers_busy() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    cardholder(&ts, TERMINALS[2], "hold").await?;
    let first = pos
        .post("async", &pos.payment("4001", TERMINALS[2], 10.0, "EUR"))
        .await?;
    assert_eq!(first.text, "ok");
    let second = pos
        .post("sync", &pos.payment("4002", TERMINALS[2], 11.0, "EUR"))
        .await?;
    assert_eq!(second.status, 200);
    assert_eq!(second.result("PaymentResponse"), ("Failure", Some("Busy")));
    let additional = second.additional("PaymentResponse");
    assert!(additional.contains("serviceId=4001"), "{additional}");
    assert!(additional.contains("is%20in%20Progress"), "{additional}");
    let aborted = pos
        .post("async", &pos.abort("4001ab", TERMINALS[2], "4001"))
        .await?;
    assert_eq!(aborted.text, "ok");
    Ok(())
}

#[tokio::test]
async fn service_ids_are_one_to_ten_letters_or_digits_and_unique_per_poiid() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let bad = pos
        .post(
            "sync",
            &pos.payment("12345678901", TERMINALS[0], 1.0, "EUR"),
        )
        .await?;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.result("PaymentResponse"),
        ("Failure", Some("MessageFormat"))
    );
    assert!(
        bad.additional("PaymentResponse")
            .contains("field%20ServiceID"),
        "{}",
        bad.text
    );

    let paid = pos
        .post("sync", &pos.payment("5001", TERMINALS[0], 1.0, "EUR"))
        .await?;
    assert_eq!(paid.result("PaymentResponse").0, "Success");
    // Another cash register reusing the ServiceID on the same terminal.
    let other = Pos::new(&ts.url(), ts.key(), "OtherRegister");
    let reused = other
        .post("sync", &other.payment("5001", TERMINALS[0], 1.0, "EUR"))
        .await?;
    assert_eq!(
        reused.result("PaymentResponse"),
        ("Failure", Some("NotAllowed")),
        "{}",
        reused.text
    );
    // The same SaleID and ServiceID for a different payment.
    let changed = pos
        .post("sync", &pos.payment("5001", TERMINALS[0], 2.0, "EUR"))
        .await?;
    assert_eq!(
        changed.result("PaymentResponse"),
        ("Failure", Some("NotAllowed"))
    );
    Ok(())
}

#[tokio::test]
async fn refunds_card_present_and_referenced() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let refund = pos
        .post("sync", &pos.refund("6001", TERMINALS[0], 5.0, "EUR"))
        .await?;
    assert_eq!(refund.result("PaymentResponse"), ("Success", None));
    assert_eq!(
        refund.body("PaymentResponse")["PaymentResult"]["PaymentType"],
        "Refund"
    );
    assert!(
        refund
            .additional("PaymentResponse")
            .contains("transactionType=REFUND")
    );

    let sale = pos
        .post("sync", &pos.payment("6002", TERMINALS[0], 20.0, "EUR"))
        .await?;
    let poi_tx = sale.body("PaymentResponse")["POIData"]["POITransactionID"]["TransactionID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reversed = pos
        .post(
            "sync",
            &pos.reversal("6003", TERMINALS[0], &poi_tx, Some(5.0)),
        )
        .await?;
    assert_eq!(reversed.status, 200, "{}", reversed.text);
    assert_eq!(
        reversed.result("ReversalResponse"),
        ("Success", None),
        "{}",
        reversed.text
    );
    assert_eq!(reversed.body("ReversalResponse")["ReversedAmount"], 5.0);
    assert_eq!(
        reversed.json["SaleToPOIResponse"]["MessageHeader"]["MessageCategory"],
        "Reversal"
    );

    // The reversal's status, by its own SaleID + ServiceID.
    let mut n = 0;
    let status = eventually(WAIT, || {
        n += 1;
        let mut body = pos.status(&format!("rs{n}"), TERMINALS[0], Some("6003"));
        body["SaleToPOIRequest"]["TransactionStatusRequest"]["MessageReference"]
            ["MessageCategory"] = "Reversal".into();
        let pos = pos.clone();
        async move {
            let a = pos.post("sync", &body).await.ok()?;
            (a.result("TransactionStatusResponse").0 == "Success").then_some(a)
        }
    })
    .await?;
    let repeated = &status.body("TransactionStatusResponse")["RepeatedMessageResponse"];
    assert_eq!(
        repeated["RepeatedResponseMessageBody"]["ReversalResponse"]["Response"]["Result"],
        "Success"
    );
    assert_eq!(repeated["MessageHeader"]["MessageCategory"], "Reversal");

    // More than is left is refused.
    let too_much = pos
        .post(
            "sync",
            &pos.reversal("6004", TERMINALS[0], &poi_tx, Some(50.0)),
        )
        .await?;
    assert_eq!(
        too_much.result("ReversalResponse"),
        ("Failure", Some("NotAllowed"))
    );
    // An unknown original transaction.
    let unknown = pos
        .post("sync", &pos.reversal("6005", TERMINALS[0], "no.such", None))
        .await?;
    assert_eq!(
        unknown.result("ReversalResponse"),
        ("Failure", Some("NotFound"))
    );
    Ok(())
}

#[tokio::test]
async fn async_results_arrive_as_event_notifications_acknowledged_with_accepted()
-> anyhow::Result<()> {
    let (ts, clock) = TestServer::start_with_manual_clock().await?;
    let pos = pos(&ts);
    let notifications = Notifications::start().await?;
    // A 200 without `[accepted]` is not Adyen's acknowledgement: the delivery is retried.
    notifications.answer_next(200, "");
    adyen_endpoint(&ts, &notifications.url).await?;

    let accepted = pos
        .post("async", &pos.payment("7001", TERMINALS[0], 12.5, "EUR"))
        .await?;
    assert_eq!((accepted.status, accepted.text.as_str()), (200, "ok"));
    eventually(WAIT, || async {
        (notifications.received().len() == 1).then_some(())
    })
    .await?;
    let client = ts.client();
    eventually(WAIT, || async {
        let d = client.deliveries(&Default::default()).await.ok()?;
        d.data
            .into_iter()
            .find(|d| d.attempts.len() == 1 && d.next_attempt_at.is_some())
    })
    .await?;
    clock.advance(Duration::from_secs(6));
    eventually(WAIT, || async {
        (notifications.received().len() == 2).then_some(())
    })
    .await?;
    let delivered = eventually(WAIT, || async {
        let d = client.deliveries(&Default::default()).await.ok()?;
        d.data.into_iter().find(|d| d.status == "succeeded")
    })
    .await?;
    assert_eq!(delivered.attempts.len(), 2);

    let received = notifications.received();
    assert_eq!(
        received[0], received[1],
        "every attempt sends the same body"
    );
    let message = &received[1]["SaleToPOIResponse"];
    assert_eq!(message["MessageHeader"]["ServiceID"], "7001");
    assert_eq!(message["MessageHeader"]["POIID"], TERMINALS[0]);
    assert_eq!(message["PaymentResponse"]["Response"]["Result"], "Success");
    assert_eq!(
        message["PaymentResponse"]["PaymentResult"]["AmountsResp"]["AuthorizedAmount"],
        12.5
    );
    Ok(())
}

/// The test server's merchant account, as it goes in a URL path and in a body.
const MERCHANT_PATH: &str = "Merchant%20A";
const MERCHANT: &str = "Merchant A";

/// The interaction id (Adyen's tender reference) of a `PaymentResponse`.
fn tender_reference(answer: &Answer) -> String {
    let poi_tx = answer.body("PaymentResponse")["POIData"]["POITransactionID"]["TransactionID"]
        .as_str()
        .unwrap_or_default();
    poi_tx.split('.').next().unwrap_or_default().to_string()
}

async fn interaction_type(ts: &TestServer, id: &str) -> anyhow::Result<String> {
    let v: Value = ts
        .http()
        .get(format!("{}/v1/interactions/{id}", ts.url()))
        .bearer_auth(ts.key())
        .send()
        .await?
        .json()
        .await?;
    Ok(v["type"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn a_pre_authorisation_is_authorised_only_and_captured_later_by_psp_reference()
-> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let answer = pos
        .post("sync", &pos.pre_auth("7001", TERMINALS[0], 80.0, "EUR"))
        .await?;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.result("PaymentResponse"), ("Success", None));
    assert_eq!(
        answer
            .additional_value("PaymentResponse", "authorisationType")
            .as_deref(),
        Some("PreAuth"),
        "{}",
        answer.additional("PaymentResponse")
    );
    assert_eq!(
        answer.body("PaymentResponse")["PaymentResult"]["AmountsResp"]["AuthorizedAmount"],
        80.0
    );
    // The engine's auth, not a sale: nothing is captured yet.
    assert_eq!(
        interaction_type(&ts, &tender_reference(&answer)).await?,
        "auth"
    );
    let psp = answer.psp_reference();

    // The hotel checks out: the final amount is captured through the Checkout API.
    let captured = pos
        .post_at(
            &format!("v71/payments/{psp}/captures"),
            &serde_json::json!({"merchantAccount": MERCHANT, "reference": "checkout-7001",
                "amount": {"value": 6550, "currency": "EUR"}}),
        )
        .await?;
    assert_eq!(captured.status, 201, "{}", captured.text);
    assert_eq!(captured.json["status"], "received");
    assert_eq!(captured.json["paymentPspReference"], psp.as_str());
    assert_eq!(captured.json["reference"], "checkout-7001");
    assert_eq!(captured.json["amount"]["value"], 6550);
    let modification = captured.json["pspReference"].as_str().unwrap_or_default();
    assert_eq!(modification.len(), 16, "{}", captured.text);
    assert_ne!(modification, psp);

    // A sale is captured already: a capture of it is refused.
    let sale = pos
        .post("sync", &pos.payment("7002", TERMINALS[0], 10.0, "EUR"))
        .await?;
    assert_eq!(
        interaction_type(&ts, &tender_reference(&sale)).await?,
        "sale"
    );
    let refused = pos
        .post_at(
            &format!("v71/payments/{}/captures", sale.psp_reference()),
            &serde_json::json!({"merchantAccount": MERCHANT,
                "amount": {"value": 1000, "currency": "EUR"}}),
        )
        .await?;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json["errorType"], "validation");

    // A pre-authorisation in a Base64 JSON SaleToAcquirerData, cancelled: nothing to
    // capture afterwards.
    let mut body = pos.payment("7003", TERMINALS[0], 30.0, "EUR");
    body["SaleToPOIRequest"]["PaymentRequest"]["SaleData"]["SaleToAcquirerData"] =
        serde_json::json!("eyJhdXRob3Jpc2F0aW9uVHlwZSI6IlByZUF1dGgifQ==");
    let pre = pos.post("sync", &body).await?;
    assert_eq!(
        interaction_type(&ts, &tender_reference(&pre)).await?,
        "auth"
    );
    let cancel = pos
        .post_at(
            &format!("v71/payments/{}/cancels", pre.psp_reference()),
            &serde_json::json!({"merchantAccount": MERCHANT, "reference": "no-show"}),
        )
        .await?;
    assert_eq!(cancel.status, 201, "{}", cancel.text);
    assert_eq!(cancel.json["status"], "received");
    assert!(cancel.json.get("amount").is_none());
    let late = pos
        .post_at(
            &format!("v71/payments/{}/captures", pre.psp_reference()),
            &serde_json::json!({"merchantAccount": MERCHANT,
                "amount": {"value": 100, "currency": "EUR"}}),
        )
        .await?;
    assert_eq!(late.status, 422, "{}", late.text);

    // An authorisation type Adyen does not define is refused, never run as a sale.
    let mut odd = pos.payment("7004", TERMINALS[0], 5.0, "EUR");
    odd["SaleToPOIRequest"]["PaymentRequest"]["SaleData"]["SaleToAcquirerData"] =
        serde_json::json!("authorisationType=Later");
    let odd = pos.post("sync", &odd).await?;
    assert_eq!(odd.status, 400, "{}", odd.text);
    assert_eq!(
        odd.result("PaymentResponse"),
        ("Failure", Some("MessageFormat"))
    );
    Ok(())
}

#[tokio::test]
async fn checkout_modifications_by_psp_reference_refund_reverse_and_refuse_clearly()
-> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let sale = pos
        .post("sync", &pos.payment("7101", TERMINALS[1], 20.0, "EUR"))
        .await?;
    let psp = sale.psp_reference();
    let refund_body = serde_json::json!({"merchantAccount": MERCHANT, "reference": "r1",
        "amount": {"value": 500, "currency": "EUR"}});
    let refund = pos
        .post_at(&format!("v71/payments/{psp}/refunds"), &refund_body)
        .await?;
    assert_eq!(refund.status, 201, "{}", refund.text);
    assert_eq!(refund.json["status"], "received");
    assert_eq!(refund.json["paymentPspReference"], psp.as_str());
    assert_eq!(refund.json["merchantAccount"], MERCHANT);

    // Adyen's Idempotency-Key: the same request answers the same modification.
    let keyed = || {
        pos.http
            .post(format!("{}/v70/payments/{psp}/refunds", pos.base))
            .header("x-api-key", &pos.key)
            .header("idempotency-key", "refund-7101-b")
            .json(&refund_body)
            .send()
    };
    let first = adyen_support::read(keyed().await?).await?;
    let again = adyen_support::read(keyed().await?).await?;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.json["pspReference"], again.json["pspReference"]);
    assert_ne!(first.json["pspReference"], refund.json["pspReference"]);

    // A reversal ("cancel or refund") of what is left.
    let reversal = pos
        .post_at(
            &format!("v71/payments/{psp}/reversals"),
            &serde_json::json!({"merchantAccount": MERCHANT, "reference": "rev"}),
        )
        .await?;
    assert_eq!(reversal.status, 201, "{}", reversal.text);
    assert_eq!(reversal.json["status"], "received");

    // Refusals, each with Adyen's error body and a stable code.
    let cases = [
        (
            format!("v71/payments/{psp}/refunds"),
            serde_json::json!({"merchantAccount": MERCHANT}),
            422,
            "100",
        ),
        (
            format!("v71/payments/{psp}/refunds"),
            serde_json::json!({"merchantAccount": MERCHANT, "amount": {"value": 1, "currency": "USD"}}),
            422,
            "137",
        ),
        (
            "v71/payments/ZZZZZZZZZZZZZZZZ/refunds".to_string(),
            serde_json::json!({"merchantAccount": MERCHANT, "amount": {"value": 1, "currency": "EUR"}}),
            422,
            "167",
        ),
        (
            format!("v71/payments/{psp}/refunds"),
            serde_json::json!({"amount": {"value": 1, "currency": "EUR"}}),
            422,
            "901",
        ),
        (
            format!("v71/payments/{psp}/refunds"),
            serde_json::json!({"merchantAccount": "SomeoneElse", "amount": {"value": 1, "currency": "EUR"}}),
            403,
            "901",
        ),
    ];
    for (path, body, status, code) in cases {
        let answer = pos.post_at(&path, &body).await?;
        assert_eq!(answer.status, status, "{path} {body}: {}", answer.text);
        assert_eq!(
            answer.json["errorCode"], code,
            "{path} {body}: {}",
            answer.text
        );
        assert_eq!(answer.json["status"], status);
    }
    let not_json = pos
        .http
        .post(format!("{}/v71/payments/{psp}/refunds", pos.base))
        .header("x-api-key", &pos.key)
        .body("{")
        .send()
        .await?;
    assert_eq!(not_json.status(), 422);
    let no_key = reqwest::Client::new()
        .post(format!("{}/v71/payments/{psp}/refunds", pos.base))
        .json(&refund_body)
        .send()
        .await?;
    assert_eq!(no_key.status(), 401);
    let unknown = pos
        .post_at(&format!("v71/payments/{psp}/adjustments"), &refund_body)
        .await?;
    assert_eq!(unknown.status, 404);
    Ok(())
}

#[tokio::test]
async fn the_cloud_device_api_takes_the_same_messages_and_lists_devices() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let base = format!("v1/merchants/{MERCHANT_PATH}");

    let connected = pos.get_at(&format!("{base}/connectedDevices")).await?;
    assert_eq!(connected.status, 200, "{}", connected.text);
    let ids: Vec<&str> = connected.json["uniqueDeviceIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for t in TERMINALS {
        assert!(ids.contains(&t), "{t} in {ids:?}");
    }
    let status = pos
        .get_at(&format!("{base}/devices/{}/status", TERMINALS[0]))
        .await?;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["deviceId"], TERMINALS[0]);
    assert_eq!(status.json["status"], "ONLINE");
    let unknown = pos
        .get_at(&format!("{base}/devices/V400m-000000000/status"))
        .await?;
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    // A payment through /devices/{deviceId}/sync: the Terminal API's answer.
    let paid = pos
        .post_at(
            &format!("{base}/devices/{}/sync", TERMINALS[0]),
            &pos.payment("7201", TERMINALS[0], 12.5, "EUR"),
        )
        .await?;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.result("PaymentResponse"), ("Success", None));
    assert_eq!(paid.psp_reference().len(), 16);

    // /async answers ok; its status is found by the Terminal API's status request.
    let accepted = pos
        .post_at(
            &format!("{base}/devices/{}/async", TERMINALS[0]),
            &pos.payment("7202", TERMINALS[0], 3.0, "EUR"),
        )
        .await?;
    assert_eq!((accepted.status, accepted.text.as_str()), (200, "ok"));
    let done = final_status(&pos, TERMINALS[0], "7202").await?;
    assert_eq!(
        repeated_payment(&done)["Response"]["Result"],
        "Success",
        "{}",
        done.text
    );

    // The URL's device must be the message's POIID; the merchant account the key's.
    let mismatch = pos
        .post_at(
            &format!("{base}/devices/{}/sync", TERMINALS[1]),
            &pos.payment("7203", TERMINALS[0], 1.0, "EUR"),
        )
        .await?;
    assert_eq!(mismatch.status, 422, "{}", mismatch.text);
    let other = pos
        .get_at("v1/merchants/SomeoneElse/connectedDevices")
        .await?;
    assert_eq!(other.status, 403, "{}", other.text);
    assert_eq!(other.json["errorCode"], "901");
    let v2 = pos
        .get_at(&format!("v2/merchants/{MERCHANT_PATH}/connectedDevices"))
        .await?;
    assert_eq!(v2.status, 404);
    let deleted = adyen_support::read(
        pos.http
            .delete(format!("{}/{base}/connectedDevices", pos.base))
            .header("x-api-key", &pos.key)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(deleted.status, 405);
    assert_eq!(deleted.json["errorType"], "validation", "{}", deleted.text);
    Ok(())
}

/// Issue 14: `tenderOption=AskGratuity` in `SaleToAcquirerData` makes the terminal ask the
/// shopper for a tip (the simulated shopper tips 15 %). The PaymentResponse shows the tip in
/// `PaymentResult.AmountsResp.TipAmount` and the total in `AuthorizedAmount`, in the answer
/// and in a TransactionStatus's repeated response; a pre-authorisation with a tip captures
/// the total. Without the option, or on a refund, no tip is asked and no `TipAmount` shown.
#[tokio::test]
async fn ask_gratuity_asks_for_a_tip_on_the_terminal() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let with_data = |body: &mut Value, data: &str| {
        body["SaleToPOIRequest"]["PaymentRequest"]["SaleData"]["SaleToAcquirerData"] =
            serde_json::json!(data);
    };

    let mut sale = pos.payment("8001", TERMINALS[0], 20.0, "EUR");
    with_data(&mut sale, "tenderOption=AskGratuity");
    let answer = pos.post("sync", &sale).await?;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.result("PaymentResponse"), ("Success", None));
    let amounts = &answer.body("PaymentResponse")["PaymentResult"]["AmountsResp"];
    assert_eq!(
        (&amounts["AuthorizedAmount"], &amounts["TipAmount"]),
        (&serde_json::json!(23.0), &serde_json::json!(3.0)),
        "{}",
        answer.text
    );
    // The same in the repeated response of a TransactionStatusRequest.
    let status = final_status(&pos, TERMINALS[0], "8001").await?;
    let repeated = &repeated_payment(&status)["PaymentResult"]["AmountsResp"];
    assert_eq!(
        (&repeated["AuthorizedAmount"], &repeated["TipAmount"]),
        (&serde_json::json!(23.0), &serde_json::json!(3.0)),
        "{}",
        status.text
    );

    // A pre-authorisation with a tip (both elements in one form string): the total is
    // authorised, and captured by the Checkout API.
    let mut pre = pos.payment("8002", TERMINALS[0], 10.0, "EUR");
    with_data(
        &mut pre,
        "authorisationType=PreAuth&tenderOption=AskGratuity",
    );
    let pre = pos.post("sync", &pre).await?;
    let amounts = &pre.body("PaymentResponse")["PaymentResult"]["AmountsResp"];
    assert_eq!(
        (&amounts["AuthorizedAmount"], &amounts["TipAmount"]),
        (&serde_json::json!(11.5), &serde_json::json!(1.5)),
        "{}",
        pre.text
    );
    assert_eq!(
        interaction_type(&ts, &tender_reference(&pre)).await?,
        "auth"
    );
    let captured = pos
        .post_at(
            &format!("v71/payments/{}/captures", pre.psp_reference()),
            &serde_json::json!({"merchantAccount": MERCHANT,
                "amount": {"value": 1150, "currency": "EUR"}}),
        )
        .await?;
    assert_eq!(captured.status, 201, "{}", captured.text);

    // No option: no tip asked, no TipAmount.
    let plain = pos
        .post("sync", &pos.payment("8003", TERMINALS[0], 20.0, "EUR"))
        .await?;
    let amounts = &plain.body("PaymentResponse")["PaymentResult"]["AmountsResp"];
    assert_eq!(amounts["AuthorizedAmount"], 20.0, "{}", plain.text);
    assert!(amounts.get("TipAmount").is_none(), "{}", plain.text);
    // A refund with the option: a tip is for a payment, none is asked.
    let mut refund = pos.refund("8004", TERMINALS[0], 7.0, "EUR");
    with_data(&mut refund, "tenderOption=AskGratuity");
    let refund = pos.post("sync", &refund).await?;
    assert_eq!(refund.result("PaymentResponse"), ("Success", None));
    let amounts = &refund.body("PaymentResponse")["PaymentResult"]["AmountsResp"];
    assert_eq!(amounts["AuthorizedAmount"], 7.0, "{}", refund.text);
    assert!(amounts.get("TipAmount").is_none(), "{}", refund.text);
    Ok(())
}
