//! Money after the sale over HTTP: capture, void, referenced refunds, settlement, each
//! invariant violation, idempotent replays, webhooks, and racing refunds.

use poigate_api::{CreateWebhookEndpointRequest, RefundRequest, TransactionView};
use poigate_domain::{Condition, InteractionType, OperationStatus, Status};
use poigate_testkit::poigate_client::{Client, ClientError};
use poigate_testkit::{
    ManualClock, Options, TERMINALS, TestServer, WebhookReceiver, eventually, request, within,
};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

async fn approved(
    client: &Client,
    kind: InteractionType,
    value: i64,
    terminal: &str,
) -> anyhow::Result<TransactionView> {
    let c = client
        .create_interaction(&request(terminal, kind, value, "EUR"), None)
        .await?;
    // Bounded in real time: one test runs this server on a manual clock.
    let done = within(
        WAIT,
        "the interaction's end",
        client.wait_final(&c.interaction.id.to_string(), WAIT),
    )
    .await?;
    done.transaction
        .ok_or_else(|| anyhow::anyhow!("no transaction: {:?}", done.outcome))
}

fn code(e: &ClientError) -> (Option<u16>, Option<&str>) {
    (e.status().map(|s| s.as_u16()), e.code())
}

async fn refund_done(
    client: &Client,
    txn: &str,
    refund: &str,
) -> anyhow::Result<poigate_api::OperationView> {
    eventually(WAIT, || async {
        let r = client.get_refund(txn, refund).await.ok()?;
        (r.status != OperationStatus::Pending).then_some(r)
    })
    .await
}

#[tokio::test]
async fn an_auth_is_captured_once_then_refunded() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let auth = approved(&client, InteractionType::Auth, 1000, TERMINALS[0]).await?;
    let id = auth.id.to_string();
    assert_eq!(auth.condition, Condition::Pending);
    assert_eq!((auth.authorized_amount, auth.captured_amount), (1000, 0));

    let err = client
        .capture(&id, Some(1001), None)
        .await
        .expect_err("more than authorized");
    assert_eq!(code(&err), (Some(422), Some("capture_exceeds_authorized")));
    let captured = client.capture(&id, Some(800), None).await?;
    assert_eq!(captured.status.as_u16(), 200);
    assert_eq!(
        captured.response.operation.status,
        OperationStatus::Succeeded
    );
    let txn = &captured.response.transaction;
    assert_eq!(
        (txn.captured_amount, txn.condition),
        (800, Condition::Pendingsettlement)
    );
    assert!(txn.captured_at.is_some());
    let err = client
        .capture(&id, None, None)
        .await
        .expect_err("capture twice");
    assert_eq!(code(&err), (Some(409), Some("already_captured")));
    let err = client
        .void(&id, None)
        .await
        .expect_err("void after capture");
    assert_eq!(code(&err), (Some(409), Some("not_voidable")));
    let err = client
        .refund(
            &id,
            &RefundRequest {
                amount: Some(801),
                reference: None,
            },
            None,
        )
        .await
        .expect_err("more than captured");
    assert_eq!(code(&err), (Some(422), Some("refund_exceeds_captured")));

    let pending = client
        .refund(
            &id,
            &RefundRequest {
                amount: Some(300),
                reference: Some("return-1".into()),
            },
            None,
        )
        .await?;
    assert_eq!(pending.status.as_u16(), 202);
    assert_eq!(pending.response.operation.status, OperationStatus::Pending);
    assert_eq!(pending.response.transaction.refund_pending_amount, 300);
    assert_eq!(pending.response.transaction.refundable_amount, 500);
    let done = refund_done(&client, &id, &pending.response.operation.id.to_string()).await?;
    assert_eq!(done.status, OperationStatus::Succeeded);
    let receipt = done
        .receipts
        .and_then(|r| r.customer)
        .expect("a refund has a receipt");
    assert!(
        receipt.text.contains("REFUND") && receipt.text.contains("EUR 3.00"),
        "{}",
        receipt.text
    );
    let after = client.transaction(&id).await?;
    assert_eq!(
        (
            after.refunded_amount,
            after.refund_pending_amount,
            after.refundable_amount
        ),
        (300, 0, 500)
    );
    // The rest, by default.
    let rest = client.refund(&id, &RefundRequest::default(), None).await?;
    assert_eq!(rest.response.operation.amount.value(), 500);
    refund_done(&client, &id, &rest.response.operation.id.to_string()).await?;
    assert_eq!(client.refunds(&id).await?.data.len(), 2);
    let events = client.transaction_events(&id).await?.data;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "operation_requested",
            "operation_succeeded",
            "operation_requested",
            "operation_succeeded",
            "operation_requested",
            "operation_succeeded"
        ]
    );
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<u64>>()
    );
    Ok(())
}

#[tokio::test]
async fn every_invariant_violation_is_a_4xx_with_a_stable_code() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let sale_txn = approved(&client, InteractionType::Sale, 1000, TERMINALS[0]).await?;
    let err = client
        .capture(&sale_txn.id.to_string(), None, None)
        .await
        .expect_err("capture a sale");
    assert_eq!(code(&err), (Some(409), Some("not_capturable")));
    let declined = approved(&client, InteractionType::Sale, 1124, TERMINALS[0]).await?;
    let err = client
        .refund(&declined.id.to_string(), &RefundRequest::default(), None)
        .await
        .expect_err("refund a decline");
    assert_eq!(code(&err), (Some(409), Some("not_refundable")));
    let err = client
        .void(&declined.id.to_string(), None)
        .await
        .expect_err("void a decline");
    assert_eq!(code(&err), (Some(409), Some("not_voidable")));
    let auth = approved(&client, InteractionType::Auth, 1000, TERMINALS[0]).await?;
    let err = client
        .refund(&auth.id.to_string(), &RefundRequest::default(), None)
        .await
        .expect_err("refund an uncaptured auth");
    assert_eq!(code(&err), (Some(409), Some("not_refundable")));
    let err = client
        .capture(&auth.id.to_string(), Some(0), None)
        .await
        .expect_err("zero");
    assert_eq!(code(&err), (Some(422), Some("amount_not_positive")));
    let validate = approved(&client, InteractionType::Validate, 0, TERMINALS[0]).await?;
    assert_eq!(validate.condition, Condition::Complete);
    let err = client
        .refund(&validate.id.to_string(), &RefundRequest::default(), None)
        .await
        .expect_err("validate");
    assert_eq!(code(&err), (Some(409), Some("not_refundable")));
    // Card-present refunds are transactions of kind refund, with receipts.
    let cp_refund = approved(&client, InteractionType::Refund, 700, TERMINALS[0]).await?;
    assert_eq!(cp_refund.kind, poigate_domain::TransactionKind::Refund);
    assert_eq!(cp_refund.condition, Condition::Pendingsettlement);
    assert!(
        cp_refund
            .receipts
            .customer
            .as_ref()
            .is_some_and(|r| r.text.contains("REFUND"))
    );
    let err = client
        .refund(&cp_refund.id.to_string(), &RefundRequest::default(), None)
        .await
        .expect_err("refund a refund");
    assert_eq!(code(&err), (Some(409), Some("not_refundable")));
    // Another merchant's transaction does not exist.
    let other = ts.other_merchant("Other").await?;
    let err = other
        .capture(&auth.id.to_string(), None, None)
        .await
        .expect_err("scoped");
    assert_eq!(code(&err), (Some(404), Some("not_found")));
    Ok(())
}

#[tokio::test]
async fn void_then_nothing_and_failed_refunds_release_their_reservation() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let sale_txn = approved(&client, InteractionType::Sale, 2000, TERMINALS[1]).await?;
    let id = sale_txn.id.to_string();
    let voided = client.void(&id, None).await?;
    assert_eq!(voided.response.transaction.condition, Condition::Canceled);
    let receipt = voided
        .response
        .operation
        .receipts
        .clone()
        .and_then(|r| r.merchant)
        .expect("void receipt");
    assert!(receipt.text.contains("VOID"));
    assert_eq!(
        code(&client.void(&id, None).await.expect_err("twice")),
        (Some(409), Some("already_voided"))
    );
    assert_eq!(
        code(
            &client
                .refund(&id, &RefundRequest::default(), None)
                .await
                .expect_err("voided")
        ),
        (Some(409), Some("not_refundable"))
    );

    let sale2 = approved(&client, InteractionType::Sale, 5000, TERMINALS[1]).await?;
    let id2 = sale2.id.to_string();
    let failing = client
        .refund(
            &id2,
            &RefundRequest {
                amount: Some(1124),
                reference: None,
            },
            None,
        )
        .await?;
    let done = refund_done(&client, &id2, &failing.response.operation.id.to_string()).await?;
    assert_eq!(done.status, OperationStatus::Failed);
    assert!(done.failure_reason.is_some_and(|r| r.contains("declined")));
    let txn = client.transaction(&id2).await?;
    assert_eq!(
        (
            txn.refunded_amount,
            txn.refund_pending_amount,
            txn.refundable_amount
        ),
        (0, 0, 5000)
    );
    // A sale with a refund cannot be voided.
    let ok = client
        .refund(
            &id2,
            &RefundRequest {
                amount: Some(100),
                reference: None,
            },
            None,
        )
        .await?;
    refund_done(&client, &id2, &ok.response.operation.id.to_string()).await?;
    assert_eq!(
        code(&client.void(&id2, None).await.expect_err("refunded")),
        (Some(409), Some("not_voidable"))
    );
    Ok(())
}

#[tokio::test]
async fn racing_partial_refunds_never_overdraw() -> anyhow::Result<()> {
    let ts = TestServer::start_with(Options {
        sim_speed: 0.002,
        ..Options::default()
    })
    .await?;
    let client = ts.client();
    let txn = approved(&client, InteractionType::Sale, 1000, TERMINALS[2]).await?;
    let id = txn.id.to_string();
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let client = client.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            client
                .refund(
                    &id,
                    &RefundRequest {
                        amount: Some(100),
                        reference: None,
                    },
                    None,
                )
                .await
        }));
    }
    let mut accepted = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(r) => accepted.push(r.response.operation.id.to_string()),
            Err(e) => assert_eq!(
                code(&e),
                (Some(422), Some("refund_exceeds_captured")),
                "{e}"
            ),
        }
    }
    assert_eq!(
        accepted.len(),
        10,
        "exactly the captured amount is refundable"
    );
    for r in &accepted {
        refund_done(&client, &id, r).await?;
    }
    let after = client.transaction(&id).await?;
    assert_eq!(
        (after.refunded_amount, after.refund_pending_amount),
        (1000, 0)
    );
    assert!(after.refunded_amount <= after.captured_amount);
    Ok(())
}

#[tokio::test]
async fn replays_return_the_original_result() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let auth = approved(&client, InteractionType::Auth, 1500, TERMINALS[0]).await?;
    let id = auth.id.to_string();
    let first = client.capture(&id, Some(1500), Some("cap-1")).await?;
    assert!(!first.replayed);
    let again = client.capture(&id, Some(1500), Some("cap-1")).await?;
    assert!(again.replayed);
    assert_eq!(again.response, first.response);
    let err = client
        .capture(&id, Some(1000), Some("cap-1"))
        .await
        .expect_err("other body");
    assert_eq!(code(&err), (Some(422), Some("idempotency_mismatch")));
    let refund = client
        .refund(
            &id,
            &RefundRequest {
                amount: Some(500),
                reference: None,
            },
            Some("ref-1"),
        )
        .await?;
    refund_done(&client, &id, &refund.response.operation.id.to_string()).await?;
    let replayed = client
        .refund(
            &id,
            &RefundRequest {
                amount: Some(500),
                reference: None,
            },
            Some("ref-1"),
        )
        .await?;
    assert!(replayed.replayed);
    assert_eq!(replayed.response.operation.id, refund.response.operation.id);
    assert_eq!(
        replayed.response.operation.status,
        OperationStatus::Pending,
        "the original answer"
    );
    assert_eq!(client.refunds(&id).await?.data.len(), 1, "no second refund");
    Ok(())
}

#[tokio::test]
async fn webhooks_follow_every_step_and_settlement_completes_at_the_cutoff() -> anyhow::Result<()> {
    // 2027-01-15T10:00:00Z; the daily cut-off is 23:00 UTC.
    let clock = ManualClock::new(
        poigate_domain::Timestamp::parse_rfc3339("2027-01-15T10:00:00Z").expect("time"),
    );
    let ts = TestServer::start_with(Options {
        clock: Arc::new(clock.clone()),
        ..Options::default()
    })
    .await?;
    let client = ts.client();
    let receiver = WebhookReceiver::start().await?;
    client
        .create_webhook_endpoint(&CreateWebhookEndpointRequest {
            url: receiver.url("/money"),
            format: None,
            events: Some(vec![
                "transaction.updated".into(),
                "transaction.refund.updated".into(),
            ]),
            description: None,
            enabled: None,
        })
        .await?;
    let auth = approved(&client, InteractionType::Auth, 1000, TERMINALS[0]).await?;
    let sale_txn = approved(&client, InteractionType::Sale, 2000, TERMINALS[1]).await?;
    client.capture(&auth.id.to_string(), None, None).await?;
    let r = client
        .refund(
            &sale_txn.id.to_string(),
            &RefundRequest {
                amount: Some(500),
                reference: None,
            },
            None,
        )
        .await?;
    refund_done(
        &client,
        &sale_txn.id.to_string(),
        &r.response.operation.id.to_string(),
    )
    .await?;
    // capture → transaction.updated; refund → refund.updated (pending) + (succeeded).
    let got = receiver.wait_for(3, WAIT).await?;
    let kinds: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            let body = r.json();
            let status = body["data"]["operation"]["status"]
                .as_str()
                .or(body["data"]["condition"].as_str())
                .unwrap_or_default()
                .to_string();
            (r.event_type(), status)
        })
        .collect();
    assert!(
        kinds.contains(&("transaction.updated".into(), "pendingsettlement".into())),
        "{kinds:?}"
    );
    let refund_steps: Vec<&str> = kinds
        .iter()
        .filter(|(k, _)| k == "transaction.refund.updated")
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(refund_steps, ["pending", "succeeded"]);

    // The cut-off passes: both captured transactions settle.
    assert_eq!(
        client
            .transaction(&sale_txn.id.to_string())
            .await?
            .condition,
        Condition::Pendingsettlement
    );
    clock.advance(Duration::from_secs(13 * 3600 + 60));
    for id in [auth.id.to_string(), sale_txn.id.to_string()] {
        let settled = eventually(WAIT, || async {
            let t = client.transaction(&id).await.ok()?;
            (t.condition == Condition::Complete).then_some(t)
        })
        .await?;
        assert!(settled.settled_at.is_some());
    }
    let got = receiver.wait_for(5, WAIT).await?;
    assert_eq!(
        got.iter()
            .filter(|r| r.json()["data"]["condition"] == "complete")
            .count(),
        2
    );
    // A settled sale can still be refunded, not voided.
    let err = client
        .void(&sale_txn.id.to_string(), None)
        .await
        .expect_err("settled");
    assert_eq!(code(&err), (Some(409), Some("not_voidable")));
    let status = client
        .get_interaction(&auth.interaction.to_string(), None, None)
        .await?;
    assert_eq!(status.status, Status::Approved);
    Ok(())
}

/// Incremental authorisation over the native API: an auth raised, then captured in full;
/// refused on a sale; a processor decline leaves the authorisation as it was.
#[tokio::test]
async fn an_auth_is_raised_then_captured_in_full() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let auth = approved(&client, InteractionType::Auth, 1000, TERMINALS[0]).await?;
    let id = auth.id.to_string();
    let increment = |txn: String, amount: i64| {
        let http = ts.http();
        let url = format!("{}/v1/transactions/{txn}/increment", ts.url());
        let key = ts.key().to_string();
        async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .json(&serde_json::json!({ "amount": amount }))
                .send()
                .await?;
            let status = r.status().as_u16();
            anyhow::Ok((status, r.json::<serde_json::Value>().await?))
        }
    };
    let (status, raised) = increment(id.clone(), 250).await?;
    assert_eq!(status, 200, "{raised}");
    assert_eq!(raised["operation"]["kind"], "increment");
    assert_eq!(raised["operation"]["status"], "succeeded");
    assert_eq!(raised["transaction"]["authorized_amount"], 1250);
    // The processor declines amounts ending in 124: nothing is added.
    let (status, declined) = increment(id.clone(), 1124).await?;
    assert_eq!(status, 200, "{declined}");
    assert_eq!(declined["operation"]["status"], "failed");
    assert_eq!(declined["transaction"]["authorized_amount"], 1250);
    let captured = client.capture(&id, None, None).await?;
    assert_eq!(captured.response.transaction.captured_amount, 1250);
    // Captured: no more increments; a sale never takes one.
    let (status, refused) = increment(id.clone(), 10).await?;
    assert_eq!(
        (status, &refused["code"]),
        (409, &serde_json::json!("not_incrementable"))
    );
    let sale = approved(&client, InteractionType::Sale, 700, TERMINALS[1]).await?;
    let (status, refused) = increment(sale.id.to_string(), 10).await?;
    assert_eq!(
        (status, &refused["code"]),
        (409, &serde_json::json!("not_incrementable"))
    );
    let (status, refused) = increment(id, 0).await?;
    assert_eq!(status, 409, "{refused}");
    Ok(())
}
