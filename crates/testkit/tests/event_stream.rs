//! The merchant-wide event stream (`GET /v1/events/stream`) over a real server: every
//! webhook event of the merchant, the body exactly a webhook's, resumable by
//! `Last-Event-ID`, a gap announced when it cannot resume, other merchants' events never
//! seen; the SDK's stream resumes after a cut without loss or repeats.

use poigate_api::WebhookEvent;
use poigate_client::{Client, EventStream, SseMessage};
use poigate_testkit::proxy::{Fault, Proxy};
use poigate_testkit::{TestServer, sale};
use std::time::Duration;

async fn next(stream: &mut EventStream) -> anyhow::Result<SseMessage> {
    Ok(tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("stream ended"))??)
}

/// Opens a stream and waits for its `ready` message.
async fn open(client: &Client, types: &[&str], last: Option<&str>) -> anyhow::Result<EventStream> {
    let mut stream = client.merchant_events(types, last);
    let first = next(&mut stream).await?;
    anyhow::ensure!(first.event == "ready", "{first:?}");
    Ok(stream)
}

/// Reads messages until `interaction.completed`, returning them all.
async fn until_completed(stream: &mut EventStream) -> anyhow::Result<Vec<SseMessage>> {
    let mut seen = Vec::new();
    loop {
        let m = next(stream).await?;
        let done = m.event == "interaction.completed";
        seen.push(m);
        if done {
            return Ok(seen);
        }
    }
}

#[tokio::test]
async fn a_sale_streams_its_webhook_events_and_a_stream_resumes_by_last_event_id()
-> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let sdk = Client::builder(ts.url(), ts.key()).build()?;
    let other = ts.other_merchant("Merchant B").await?;
    let mut stream = open(&sdk, &[], None).await?;
    let mut theirs = open(&other, &[], None).await?;

    let created = sdk
        .create_interaction(&sale("V400m-100000001", 1250, "EUR"), None)
        .await?;
    let seen = until_completed(&mut stream).await?;
    let types: Vec<&str> = seen.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(
        types.first().copied(),
        Some("interaction.updated"),
        "{types:?}"
    );
    assert_eq!(types.last().copied(), Some("interaction.completed"));
    for m in &seen {
        let body: WebhookEvent = m.json()?;
        assert_eq!(body.event_type, m.event);
        assert_eq!(body.data["id"], created.interaction.id.to_string());
        assert!(m.id.as_deref().is_some_and(|id| id.contains('-')), "{m:?}");
    }

    // Resume after the first message: the rest, exactly.
    let mut resumed = open(&sdk, &[], seen[0].id.as_deref()).await?;
    let again = until_completed(&mut resumed).await?;
    assert_eq!(again, seen[1..].to_vec());

    // A filter by type.
    let mut completed_only = open(&sdk, &["interaction.completed"], seen[0].id.as_deref()).await?;
    let m = next(&mut completed_only).await?;
    assert_eq!(m.event, "interaction.completed");

    // A position from another process: a gap, then live.
    let mut stale = open(&sdk, &[], Some("00000000-5")).await?;
    assert_eq!(next(&mut stale).await?.event, "gap");

    // Merchant B saw nothing of A's sale: its next message is its own.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), theirs.next())
            .await
            .is_err(),
        "no event of merchant A reached merchant B"
    );
    Ok(())
}

#[tokio::test]
async fn bad_positions_and_types_are_refused() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let http = ts.http();
    let r = http
        .get(format!("{}/v1/events/stream", ts.url()))
        .bearer_auth(ts.key())
        .header("Last-Event-ID", "nonsense")
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!(
            "{}/v1/events/stream?types=interaction.nope",
            ts.url()
        ))
        .bearer_auth(ts.key())
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!("{}/v1/events/stream", ts.url()))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    Ok(())
}

#[tokio::test]
async fn the_sdk_merchant_stream_resumes_after_a_cut() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    // Cut once the first event's bytes have started to flow (the ready message and the
    // headers come first).
    let proxy = Proxy::start(&ts.url(), Fault::CutFirstStreamAfter(900)).await?;
    let sdk = Client::builder(proxy.url(), ts.key()).build()?;
    let mut stream = open(&sdk, &[], None).await?;
    let direct = Client::builder(ts.url(), ts.key()).build()?;
    let mut reference = open(&direct, &[], None).await?;
    sdk.create_interaction(&sale("V400m-100000001", 1250, "EUR"), None)
        .await?;
    let expected = until_completed(&mut reference).await?;
    let mut got = Vec::new();
    loop {
        let m = next(&mut stream).await?;
        if m.event == "ready" {
            continue;
        }
        let done = m.event == "interaction.completed";
        got.push(m);
        if done {
            break;
        }
    }
    assert!(proxy.fired(), "the stream was cut");
    assert!(stream.reconnects() >= 1);
    assert_eq!(got, expected, "every event once, in order, after the cut");
    Ok(())
}
