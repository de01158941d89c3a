//! `/readyz` over real HTTP: a healthy server answers 200 after a round trip through the
//! storage writer (the store's `ready()`), and keeps answering after writes.

use poigate_testkit::{TERMINALS, TestServer, sale};
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
