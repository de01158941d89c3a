//! `/readyz` over real HTTP: a healthy server answers 200 after a round trip through the
//! storage writer (the store's `ready()`), and keeps answering after writes.

use poigate_testkit::{Options, StoreFaults, TERMINALS, TestServer, sale};
use std::time::Duration;

#[tokio::test]
async fn readyz_answers_200_on_a_healthy_server() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let url = format!("{}/readyz", ts.url());
    let first = ts.http().get(&url).send().await?;
    assert_eq!(first.status(), 200);
    let body: serde_json::Value = first.json().await?;
    assert_eq!(body["status"], "ready");
    // A write through the same writer, then readiness again.
    let client = ts.client();
    let created = client
        .create_interaction(&sale(TERMINALS[0], 100, "GBP"), None)
        .await?;
    client
        .wait_final(&created.interaction.id.to_string(), Duration::from_secs(20))
        .await?;
    assert_eq!(ts.http().get(&url).send().await?.status(), 200);
    Ok(())
}

/// When storage cannot be written, `/readyz` says so (503 with `Retry-After`, so a load
/// balancer takes the node out), and says ready again once storage is back: it never answers
/// from a cache.
#[tokio::test]
async fn readyz_follows_the_storage() -> anyhow::Result<()> {
    let faults = StoreFaults::new();
    let ts = TestServer::start_with(Options {
        store_faults: Some(faults.clone()),
        ..Options::default()
    })
    .await?;
    let url = format!("{}/readyz", ts.url());
    assert_eq!(ts.http().get(&url).send().await?.status(), 200);
    faults.fail();
    let down = ts.http().get(&url).send().await?;
    assert_eq!(down.status(), 503);
    assert!(down.headers().contains_key("retry-after"), "{down:?}");
    assert_eq!(
        down.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    faults.heal();
    assert_eq!(ts.http().get(&url).send().await?.status(), 200);
    Ok(())
}
