//! A sale end to end over real HTTP: stages, events, transaction, receipts, SSE.

use futures_util::StreamExt;
use poigate_api::{ListEventsQuery, Order};
use poigate_domain::{Outcome, Status};
use poigate_testkit::{TERMINALS, TestServer, sale};
use std::time::Duration;

#[tokio::test]
async fn sale_runs_pending_in_progress_approved_with_stages_and_receipts() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let created = client
        .create_interaction(&sale(TERMINALS[0], 100, "GBP"), None)
        .await?;
    assert_eq!(created.interaction.status, Status::Pending);
    assert!(!created.interaction.is_final);
    assert_eq!(created.interaction.last_event_seq, 1);
    let id = created.interaction.id.to_string();

    let done = client.wait_final(&id, Duration::from_secs(20)).await?;
    assert_eq!(done.status, Status::Approved);
    assert!(done.is_final);
    let Some(Outcome::Approved { auth_code, .. }) = &done.outcome else {
        panic!("expected an approval, got {:?}", done.outcome);
    };

    let events = client
        .list_events(
            &id,
            &ListEventsQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await?
        .data;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "gap-free seq"
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"created"));
    assert_eq!(kinds.get(1), Some(&"acknowledged"));
    assert_eq!(kinds.last(), Some(&"completed"));
    let stages: Vec<&str> = events.iter().filter_map(|e| e.message.as_deref()).collect();
    assert_eq!(
        stages,
        [
            "Connecting to card reader",
            "Registering transaction",
            "Registering transaction",
            "1.00 GBP - Present card",
            "1.00 GBP - Present card",
            "1.00 GBP - Present card",
            "Processing payment...",
            "Payment approved",
        ]
    );
    // pending → in_progress → approved, as each event recorded it.
    assert_eq!(events[0].status, Status::Pending);
    assert!(
        events[1..events.len() - 1]
            .iter()
            .all(|e| e.status == Status::InProgress)
    );
    assert_eq!(events.last().map(|e| e.status), Some(Status::Approved));
    assert_eq!(done.last_event_seq, events.len() as u64);

    let txn = done
        .transaction
        .expect("an approved sale has a transaction");
    assert_eq!(&txn.auth_code.clone().unwrap_or_default(), auth_code);
    let card = txn.card.clone().expect("masked card");
    assert_eq!(card.last4().len(), 4);
    assert_eq!(txn.masked_pan.as_deref(), Some("476173******0010"));
    let emv = txn.emv.clone().expect("EMV metadata");
    assert_eq!(emv.application_id, "A0000000031010");
    let customer = txn.receipts.customer.clone().expect("customer receipt");
    let merchant = txn.receipts.merchant.clone().expect("merchant receipt");
    assert!(customer.text.contains("APPROVED") && customer.text.contains(auth_code));
    assert!(merchant.text.contains("MERCHANT COPY"));
    for line in customer.text.lines().chain(merchant.text.lines()) {
        assert!(
            line.chars().count() <= 40,
            "receipt line too wide: {line:?}"
        );
    }
    // The transaction is also served on its own.
    let same = client.transaction(&txn.id.to_string()).await?;
    assert_eq!(same, txn);
    // Newest first, limit 1: the final event.
    let latest = client
        .list_events(
            &id,
            &ListEventsQuery {
                limit: Some(1),
                order: Some(Order::Desc),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(latest.data.len(), 1);
    assert_eq!(latest.data[0].kind, "completed");
    assert!(latest.has_more);
    Ok(())
}

#[tokio::test]
async fn sse_streams_every_event_in_order_and_resumes_with_last_event_id() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    client.test_helper(TERMINALS[0], "hold", None).await?;
    let created = client
        .create_interaction(&sale(TERMINALS[0], 2500, "EUR"), None)
        .await?;
    let id = created.interaction.id.to_string();
    let url = format!("{}/v1/interactions/{id}/events/stream", ts.url());
    let response = ts.http().get(&url).bearer_auth(ts.key()).send().await?;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    // Let the cardholder present the card while the stream is open.
    client
        .test_helper(TERMINALS[0], "present-card", None)
        .await?;
    let body = tokio::time::timeout(Duration::from_secs(20), async {
        let mut text = String::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk?));
        }
        Ok::<_, anyhow::Error>(text)
    })
    .await??;
    let ids: Vec<u64> = body
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let events = client
        .list_events(
            &id,
            &ListEventsQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await?
        .data;
    assert_eq!(
        ids,
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        "stream = event list"
    );
    assert!(body.contains("event: completed"));

    // Resume after seq 5: exactly the rest, then the stream ends.
    let resumed = ts
        .http()
        .get(&url)
        .bearer_auth(ts.key())
        .header("Last-Event-ID", "5")
        .send()
        .await?
        .text()
        .await?;
    let resumed_ids: Vec<u64> = resumed
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    assert_eq!(resumed_ids, (6..=events.len() as u64).collect::<Vec<_>>());
    Ok(())
}
