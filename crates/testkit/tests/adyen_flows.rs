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
    assert!(psp.starts_with("txn_"), "{poi_tx}");
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
        (11.24, "Refusal", "Not%20enough%20balance"),
        (1.25, "Refusal", "Blocked%20Card"),
        (21.26, "Refusal", "Expired%20Card"),
        (1.27, "Refusal", "Invalid%20Amount"),
        (1.28, "Refusal", "Invalid%20Card%20Number"),
        (101.34, "WrongPIN", "Invalid%20Pin"),
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
    assert_eq!((aborted.status, aborted.text.as_str()), (200, "ok"));

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
    assert_eq!(again.text, "ok");
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
