//! Webhook attempts in flight during a drain (finished within the bound, or left leased and
//! sent by the next process), and a second signal that ends a drain at once. Over a real
//! `poigate serve` process.

mod drain_support;
mod support;

use drain_support::{GatedTarget, Running, all_delivered, sale_with_webhook_in_flight, until};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_attempt_in_flight_finishes_within_the_bound() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut gw = Running::start(dir.path(), "info", 120);
    let (_, target) = sale_with_webhook_in_flight(&gw, GatedTarget::start()).await?;
    gw.signal("TERM");
    until(&gw, "the drain started", || {
        gw.lines_with(&["draining"]) >= 1
    })
    .await;
    // The drain waits for the attempt; the receiver answers now.
    target.release();
    let status = gw
        .exited_within(Duration::from_secs(120))
        .await
        .unwrap_or_else(|| panic!("still running; log:\n{}", gw.log_text()));
    assert!(status.success(), "{status:?}");
    assert_eq!(
        gw.lines_with(&["shutdown_timeout reached"]),
        0,
        "{}",
        gw.log_text()
    );
    assert!(
        gw.lines_with(&["drained; exiting"]) == 1,
        "{}",
        gw.log_text()
    );
    // Recorded as delivered by the process that sent it: one attempt, not sent again.
    let next = Running::start(dir.path(), "warn", 10);
    let log = all_delivered(&next.url).await?;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].attempts.len(), 1, "{log:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_attempt_cut_by_the_bound_is_sent_by_the_next_process() -> anyhow::Result<()> {
    const BOUND: u64 = 1;
    let dir = tempfile::tempdir()?;
    let mut gw = Running::start(dir.path(), "warn", BOUND);
    let (_, target) = sale_with_webhook_in_flight(&gw, GatedTarget::start()).await?;
    gw.signal("TERM");
    let status = gw
        .exited_within(Duration::from_secs(BOUND + 5))
        .await
        .unwrap_or_else(|| panic!("still running; log:\n{}", gw.log_text()));
    assert!(
        status.success(),
        "exit 0 also when the bound cut something: {status:?}"
    );
    assert_eq!(
        gw.lines_with(&[
            "shutdown_timeout reached",
            "webhooks_finished=false",
            "flushed=true"
        ]),
        1,
        "{}",
        gw.log_text()
    );
    // The delivery stayed leased; the next process releases and sends it.
    target.release();
    let next = Running::start(dir.path(), "warn", 10);
    let log = all_delivered(&next.url).await?;
    assert_eq!(log.len(), 1, "{log:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_the_drain_exits_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A long bound: only the second signal can end this drain early.
    let mut gw = Running::start(dir.path(), "info", 120);
    // A webhook attempt is in flight (the target never answers): the drain waits for it,
    // up to the bound.
    let (_client, _target) = sale_with_webhook_in_flight(&gw, GatedTarget::start()).await?;

    gw.signal("TERM");
    until(&gw, "the drain started", || {
        gw.lines_with(&["draining"]) >= 1
    })
    .await;
    assert!(
        gw.child().try_wait()?.is_none(),
        "the drain waits for the attempt in flight"
    );
    gw.signal("TERM");
    let status = gw
        .exited_within(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("still running after a second SIGTERM:\n{}", gw.log_text()));
    assert_eq!(status.code(), Some(143), "128 + SIGTERM");
    assert!(
        gw.lines_with(&["second SIGTERM during the drain: exiting at once"]) == 1,
        "{}",
        gw.log_text()
    );
    Ok(())
}
