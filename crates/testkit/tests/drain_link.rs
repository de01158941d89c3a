//! A drain over the terminal link: the gateway tells each connected terminal to reconnect
//! (a `reconnect` frame, then close 1001), the link client honours it, finds the next
//! gateway process on the same address and finishes the interaction it was holding.

use poigate_domain::Status;
use poigate_link::ClientState;
use poigate_testkit::{TestServer, eventually, sale};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const BOUND: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_sends_reconnect_then_going_away() -> anyhow::Result<()> {
    let mut ts = TestServer::start().await?;
    let terminal = ts.link_terminal("800000001", false).await?;
    let mut raw = ts.raw_terminal(&terminal).await?;
    let (drained, frame) = tokio::join!(ts.drain(BOUND), async {
        let frame = raw.next_frame().await?;
        let code = raw.closed().await?;
        anyhow::Ok((frame, code))
    });
    let drained = drained?;
    let (frame, code) = frame?;
    assert_eq!(frame["type"], "reconnect", "{frame}");
    assert_eq!(frame["reason"], "draining", "{frame}");
    assert_eq!(frame["retry_after_ms"], 500, "{frame}");
    assert!(frame["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(code, Some(1001), "closed with going away");
    assert!(drained.requests_finished && drained.webhooks_finished && drained.flushed);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_client_reconnects_to_the_next_process_and_finishes_its_interaction()
-> anyhow::Result<()> {
    let mut ts = TestServer::start().await?;
    let terminal = ts.link_terminal("800000002", false).await?;
    let sim = ts.run_link_sim(&terminal).await?;
    let client = ts.client();
    client.test_helper(&terminal.poiid, "hold", None).await?;
    let created = client
        .create_interaction(&sale(&terminal.poiid, 1250, "EUR"), None)
        .await?;
    let id = created.interaction.id.to_string();
    eventually(WAIT, || async {
        let i = client.get_interaction(&id, None, None).await.ok()?;
        (i.status == Status::InProgress).then_some(())
    })
    .await?;

    let drained = ts.drain(BOUND).await?;
    assert!(drained.requests_finished && drained.flushed, "{drained:?}");
    // Told to reconnect, the client keeps trying (it does not stop as after a revocation).
    let state = sim
        .wait_for(WAIT, |s| matches!(s, ClientState::Connecting))
        .await;
    assert_eq!(state, Some(ClientState::Connecting));

    ts.restart_same_port().await?;
    assert!(
        sim.wait_connected(WAIT).await,
        "the link client did not find the next process: {:?}",
        sim.state()
    );
    let client = ts.client();
    // The terminal still holds the interaction; the cardholder now presents the card.
    eventually(WAIT, || async {
        client
            .test_helper(&terminal.poiid, "present-card", None)
            .await
            .ok()
    })
    .await?;
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Approved, "{done:?}");
    Ok(())
}
