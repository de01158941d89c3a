//! The Rust SDK (`poigate-client` built with `Client::builder`) against a real server behind
//! a proxy that loses answers: pay-and-recover ends with exactly one interaction and the
//! right outcome; the event stream resumes after a cut without losing or repeating events.

use poigate_api::{EventView, ListEventsQuery, ListInteractionsQuery};
use poigate_client::{Client, PaymentOutcome};
use poigate_domain::{DeclineReason, Status};
use poigate_testkit::proxy::{Fault, Proxy};
use poigate_testkit::{TestServer, eventually, sale};
use std::time::Duration;

async fn interactions_on(ts: &TestServer, terminal: &str) -> anyhow::Result<usize> {
    let list = ts
        .client()
        .lookup(&ListInteractionsQuery {
            terminal: Some(terminal.into()),
            limit: Some(100),
            ..ListInteractionsQuery::default()
        })
        .await?;
    Ok(list.data.len())
}

#[tokio::test]
async fn a_lost_create_answer_is_recovered_by_replaying_the_same_key() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let terminal = ts.add_terminal("V400m", "700000001").await?;
    let proxy = Proxy::start(&ts.url(), Fault::DropFirstCreateAnswer).await?;
    let sdk = Client::builder(proxy.url(), ts.key()).build()?;

    let payment = sdk.pay_and_wait(&sale(&terminal, 1250, "EUR")).await?;

    assert!(proxy.fired(), "the proxy dropped the create's answer");
    assert!(payment.recovered, "the SDK knows it recovered");
    assert!(
        matches!(payment.outcome, PaymentOutcome::Approved { .. }),
        "{:?}",
        payment.outcome
    );
    assert_eq!(payment.interaction.status, Status::Approved);
    assert!(payment.idempotency_key.starts_with("idem_"));
    assert_eq!(
        interactions_on(&ts, &terminal).await?,
        1,
        "exactly one interaction"
    );
    Ok(())
}

#[tokio::test]
async fn a_lost_create_answer_is_recovered_by_lookup_with_the_natural_key() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let terminal = ts.add_terminal("V400m", "700000002").await?;
    let proxy = Proxy::start(&ts.url(), Fault::DropFirstCreateAnswer).await?;
    let sdk = Client::builder(proxy.url(), ts.key()).build()?;
    // An amount ending in 124: declined for insufficient funds by the simulator.
    let mut request = sale(&terminal, 1124, "EUR");
    request.sale_id = Some("till-9".into());
    request.service_id = Some("0001".into());

    let payment = sdk.pay_and_wait(&request).await?;

    assert!(proxy.fired());
    assert!(payment.recovered);
    match &payment.outcome {
        PaymentOutcome::Declined { reason, .. } => {
            assert_eq!(*reason, DeclineReason::InsufficientFunds)
        }
        other => panic!("expected a decline, got {other:?}"),
    }
    assert_eq!(
        interactions_on(&ts, &terminal).await?,
        1,
        "exactly one interaction"
    );
    Ok(())
}

#[tokio::test]
async fn refusals_are_not_retried_and_come_back_typed() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let sdk = Client::builder(ts.url(), ts.key()).build()?;
    let e = sdk
        .pay_and_wait(&sale("no-such-terminal", 1250, "EUR"))
        .await
        .expect_err("unknown terminal");
    assert_eq!(e.code(), Some("terminal_not_found"));
    // Nothing listens on a port that was just released: unreachable, reported as such.
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let down = Client::builder(format!("http://{free}"), ts.key())
        .retry(poigate_client::RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        })
        .build()?;
    let e = down.terminals().await.expect_err("nothing listens");
    assert!(e.is_unreachable(), "{e}");
    Ok(())
}

#[tokio::test]
async fn the_event_stream_resumes_after_a_cut_without_loss_or_repeat() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let terminal = ts.add_terminal("V400m", "700000003").await?;
    let plain = ts.client();
    // The cardholder waits at "Present card" until the test presents one: events come in
    // two bursts, before and after the cut.
    plain.test_helper(&terminal, "hold", None).await?;
    let created = plain
        .create_interaction(&sale(&terminal, 990, "EUR"), None)
        .await?;
    let id = created.interaction.id.to_string();
    eventually(Duration::from_secs(10), || async {
        let i = plain.get_interaction(&id, None, None).await.ok()?;
        (i.last_event_seq >= 4).then_some(())
    })
    .await?;

    let proxy = Proxy::start(&ts.url(), Fault::CutFirstStreamAfter(700)).await?;
    let sdk = Client::builder(proxy.url(), ts.key()).build()?;
    let mut stream = sdk.interaction_events(&id, None);
    let reader = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while let Some(message) = stream.next().await {
            let event: EventView = message?.json()?;
            seqs.push(event.seq);
        }
        anyhow::Ok((seqs, stream.reconnects()))
    });
    // Once the stream was cut and opened again, the card comes.
    eventually(Duration::from_secs(10), || async {
        (proxy.fired() && proxy.connections() >= 2).then_some(())
    })
    .await?;
    plain.test_helper(&terminal, "present-card", None).await?;

    let (seqs, reconnects) = tokio::time::timeout(Duration::from_secs(30), reader).await???;
    let all = plain
        .list_events(
            &id,
            &ListEventsQuery {
                limit: Some(1000),
                ..ListEventsQuery::default()
            },
        )
        .await?;
    let expected: Vec<u64> = all.data.iter().map(|e| e.seq).collect();
    assert!(reconnects >= 1, "the stream reconnected");
    assert_eq!(seqs, expected, "every event once, in order");
    assert_eq!(all.data.last().map(|e| e.kind.as_str()), Some("completed"));
    Ok(())
}
