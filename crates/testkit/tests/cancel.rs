//! Cancel before delivery, in flight, after the end; delivery timeout; the cancel/approval
//! race.

use poigate_api::{CancelResultKind, InteractionView};
use poigate_domain::{CancelReason, Status};
use poigate_testkit::{ManualClock, Options, TERMINALS, TestServer, eventually, sale, within};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn cancel_before_delivery_cancels_at_once() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    client.test_helper(TERMINALS[0], "freeze", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    assert_eq!(
        client.get_interaction(&id, None, None).await?.status,
        Status::Pending
    );
    let answer = client.cancel(&id, None).await?;
    assert_eq!(answer.result, CancelResultKind::Cancelled);
    assert_eq!(answer.interaction.status, Status::Cancelled);
    assert_eq!(answer.interaction.cancel_reason, Some(CancelReason::Api));
    assert!(answer.interaction.is_final);
    // The terminal wakes up later: it must not run the interaction the POS cancelled.
    client.test_helper(TERMINALS[0], "unfreeze", None).await?;
    let next = client
        .create_interaction(&sale(TERMINALS[0], 1100, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&next.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status, Status::Approved);
    let after = client.get_interaction(&id, None, None).await?;
    assert_eq!(after.status, Status::Cancelled);
    assert_eq!(
        after.last_event_seq, answer.interaction.last_event_seq,
        "no event after the end"
    );
    Ok(())
}

#[tokio::test]
async fn cancel_in_flight_is_forwarded_and_the_terminal_decides() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    client.test_helper(TERMINALS[0], "hold", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    let waiting = client.get_interaction(&id, Some(10), Some(7)).await?;
    assert_eq!(waiting.status, Status::InProgress);
    let answer = client.cancel(&id, None).await?;
    assert!(
        matches!(
            answer.result,
            CancelResultKind::CancelRequested | CancelResultKind::Cancelled
        ),
        "{:?}",
        answer.result
    );
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Cancelled);
    assert_eq!(done.cancel_reason, Some(CancelReason::Api));
    let kinds: Vec<String> = client
        .list_events(&id, &Default::default())
        .await?
        .data
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"cancel_requested".to_string()));
    // With wait, the answer carries the terminal's decision.
    client.test_helper(TERMINALS[0], "hold", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    client.get_interaction(&id, Some(10), Some(7)).await?;
    let answer = client.cancel(&id, Some(10)).await?;
    assert_eq!(answer.result, CancelResultKind::Cancelled);
    Ok(())
}

#[tokio::test]
async fn cancel_after_the_end_is_too_late() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    client.wait_final(&id, WAIT).await?;
    let answer = client.cancel(&id, None).await?;
    assert_eq!(answer.result, CancelResultKind::TooLate);
    assert_eq!(answer.interaction.status, Status::Approved);
    Ok(())
}

#[tokio::test]
async fn an_unacknowledged_start_times_out_as_not_delivered() -> anyhow::Result<()> {
    let clock = ManualClock::new(poigate_domain::Timestamp::from_millis(1_800_000_000_000));
    let ts = TestServer::start_with(Options {
        delivery_timeout_seconds: 15,
        clock: Arc::new(clock.clone()),
        ..Options::default()
    })
    .await?;
    let client = ts.client();
    client.test_helper(TERMINALS[0], "freeze", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    clock.advance(Duration::from_secs(14));
    let still = client.get_interaction(&id, None, None).await?;
    assert_eq!(still.status, Status::Pending);
    clock.advance(Duration::from_secs(2));
    // The server's long-polls run on the manual clock: bounded in real time here, so a
    // delivery timer that never fires fails the test instead of hanging it.
    let done = within(WAIT, "the delivery timeout", client.wait_final(&id, WAIT)).await?;
    assert_eq!(done.status, Status::Cancelled);
    assert_eq!(done.cancel_reason, Some(CancelReason::NotDelivered));
    Ok(())
}

/// The final state seen through status, event list and long-poll must be one and the same.
async fn agree(
    client: &poigate_testkit::poigate_client::Client,
    id: &str,
) -> anyhow::Result<InteractionView> {
    let status = client.get_interaction(id, None, None).await?;
    let polled = client.get_interaction(id, Some(30), None).await?;
    let events = client
        .list_events(
            id,
            &poigate_api::ListEventsQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await?
        .data;
    assert!(status.is_final && polled.is_final, "{id} is final");
    assert_eq!(status.status, polled.status);
    assert_eq!(status.outcome, polled.outcome);
    let finals: Vec<_> = events.iter().filter(|e| e.is_final).collect();
    assert_eq!(finals.len(), 1, "exactly one final event for {id}");
    assert_eq!(
        events.last().map(|e| e.is_final),
        Some(true),
        "final event is last"
    );
    assert_eq!(finals[0].status, status.status);
    assert_eq!(finals[0].outcome, status.outcome);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    Ok(status)
}

#[tokio::test]
async fn cancel_racing_the_approval_always_leaves_one_agreed_final_state() -> anyhow::Result<()> {
    let ts = TestServer::start_with(Options {
        sim_speed: 0.0005,
        ..Options::default()
    })
    .await?;
    let client = ts.client();
    let mut seen = std::collections::BTreeMap::new();
    for round in 0..60u32 {
        let c = client
            .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
            .await?;
        let id = c.interaction.id.to_string();
        // Vary when the cancel lands: right away, or once event k exists — before the
        // acknowledgement, at each stage, while processing the card, after the result.
        let k = u64::from(round % 12);
        if k > 0 {
            client.get_interaction(&id, Some(10), Some(k)).await?;
        }
        let answer = client.cancel(&id, None).await?;
        let final_state = client.wait_final(&id, WAIT).await?;
        assert!(final_state.is_final, "round {round}: {id} ends");
        // What the cancel answered decides what the end may be.
        match answer.result {
            CancelResultKind::Cancelled => assert_eq!(final_state.status, Status::Cancelled),
            CancelResultKind::TooLate => {
                assert_eq!(final_state.status, Status::Approved);
                assert!(answer.interaction.is_final, "too late means already final");
                assert_eq!(
                    final_state.last_event_seq, answer.interaction.last_event_seq,
                    "round {round}: no event after the end"
                );
            }
            CancelResultKind::CancelRequested => {
                assert!(matches!(
                    final_state.status,
                    Status::Cancelled | Status::Approved
                ))
            }
        }
        let agreed = agree(&client, &id).await?;
        assert_eq!(agreed.status, final_state.status, "round {round}");
        // The end is consistent with itself: a cancelled sale was cancelled by this API call
        // and authorised nothing; an approved one has its transaction.
        match agreed.status {
            Status::Cancelled => {
                assert_eq!(agreed.cancel_reason, Some(CancelReason::Api), "{agreed:?}");
                assert!(agreed.transaction.is_none(), "{agreed:?}");
            }
            Status::Approved => {
                assert_eq!(agreed.cancel_reason, None, "{agreed:?}");
                assert!(agreed.transaction.is_some(), "{agreed:?}");
            }
            other => {
                panic!("round {round}: a 10.00 sale ends approved or cancelled, not {other:?}")
            }
        }
        if answer.result != CancelResultKind::TooLate {
            assert!(agreed.cancel_requested, "round {round}: {agreed:?}");
        }
        // And the terminal is free again for the next round.
        eventually(WAIT, || async {
            let t = client.terminal(TERMINALS[0]).await.ok()?;
            t.active_interaction.is_none().then_some(())
        })
        .await?;
        *seen.entry(agreed.status.as_str()).or_insert(0) += 1;
    }
    eprintln!("race outcomes: {seen:?}");
    assert!(
        seen.len() >= 2,
        "the race should produce both outcomes: {seen:?}"
    );
    Ok(())
}
