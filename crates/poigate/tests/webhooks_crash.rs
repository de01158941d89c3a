//! With webhook deliveries pending, `kill -9` the gateway and start it again on the same data
//! directory: every event is still delivered at least once.

use poigate_api::{CreateWebhookEndpointRequest, ListDeliveriesQuery};
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{WebhookReceiver, eventually, sale};
use std::collections::{BTreeMap, BTreeSet};
mod support;

use std::process::Command;
use std::time::Duration;

const KEY: &str = "pg_test_crash_recovery_0123456789abcdef0123";
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_deliveries_survive_kill_9() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let receiver = WebhookReceiver::start().await?;
    // The receiver hangs: deliveries stay in flight or pending when the gateway dies.
    receiver.stall(true);
    let (mut gateway, url) = support::start_demo(dir.path(), KEY, "0");
    let client = Client::new(&url, KEY)?;
    client
        .create_webhook_endpoint(&CreateWebhookEndpointRequest {
            url: receiver.url("/crash"),
            format: None,
            events: Some(vec![
                "interaction.updated".into(),
                "interaction.completed".into(),
            ]),
            description: None,
            enabled: None,
        })
        .await?;
    let mut interactions = Vec::new();
    for (i, value) in [1000, 1124, 1500, 2000, 2500].into_iter().enumerate() {
        let terminal = ["V400m-324688179", "P400Plus-275039202", "S1F2-1850000000"][i % 3];
        let c = client
            .create_interaction(&sale(terminal, value, "EUR"), None)
            .await?;
        client
            .wait_final(&c.interaction.id.to_string(), WAIT)
            .await?;
        interactions.push(c.interaction.id.to_string());
    }
    // Before the crash nothing could be delivered (the receiver hangs).
    let before = client
        .deliveries(&ListDeliveriesQuery {
            limit: Some(100),
            ..Default::default()
        })
        .await?;
    assert!(
        before.data.iter().all(|d| d.status == "pending"),
        "{:?}",
        before.data
    );
    // kill -9 (SIGKILL): no shutdown, no flush, nothing but what is durable.
    gateway.0.kill()?;
    gateway.0.wait()?;
    receiver.stall(false);

    let (_gateway, url) = support::start_demo(dir.path(), KEY, "0");
    let client = Client::new(&url, KEY)?;
    let log = eventually(WAIT, || async {
        let log = client
            .deliveries(&ListDeliveriesQuery {
                limit: Some(100),
                ..Default::default()
            })
            .await
            .ok()?;
        (log.data.len() == 20 && log.data.iter().all(|d| d.status == "succeeded")).then_some(log)
    })
    .await?;
    assert_eq!(
        log.data.len(),
        20,
        "5 sales x (3 status changes + completed)"
    );
    // Every event reached the receiver at least once.
    let received = receiver.received();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &received {
        let body = r.json();
        let id = body["data"]["id"].as_str().unwrap_or_default().to_string();
        let what = format!(
            "{} {}",
            r.event_type(),
            body["data"]["status"].as_str().unwrap_or_default()
        );
        seen.entry(id).or_default().insert(what);
    }
    for id in &interactions {
        let events = seen.get(id).cloned().unwrap_or_default();
        assert!(
            events.contains("interaction.updated pending"),
            "{id}: {events:?}"
        );
        assert!(
            events.contains("interaction.updated in_progress"),
            "{id}: {events:?}"
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| e.starts_with("interaction.completed"))
                .count(),
            1,
            "{id}: {events:?}"
        );
        assert_eq!(events.len(), 4, "{id}: {events:?}");
    }
    let distinct: BTreeSet<&str> = received
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(distinct.len(), 20);
    // The delivery log is readable from the command line too.
    let cli = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args([
            "webhooks",
            "deliveries",
            "--status",
            "succeeded",
            "--limit",
            "100",
            "--url",
            &url,
            "--key",
            KEY,
        ])
        .output()?;
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let text = String::from_utf8_lossy(&cli.stdout);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("whd_")).count(),
        20,
        "{text}"
    );
    assert!(
        text.contains("interaction.completed") && text.contains(" 200 "),
        "{text}"
    );
    Ok(())
}
