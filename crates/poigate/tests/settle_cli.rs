//! `poigate settle` on the data directory of a running gateway.

use poigate_domain::Condition;
use poigate_testkit::{TERMINALS, TestServer, sale};
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_moves_pendingsettlement_to_complete() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1200, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), Duration::from_secs(20))
        .await?;
    let txn = done.transaction.expect("transaction").id.to_string();
    assert_eq!(
        client.transaction(&txn).await?.condition,
        Condition::Pendingsettlement
    );
    let output = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .arg("settle")
        .arg("--data-dir")
        .arg(ts.data_dir())
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("settled 1 transaction"));
    let settled = client.transaction(&txn).await?;
    assert_eq!(settled.condition, Condition::Complete);
    assert!(settled.settled_at.is_some());
    let events = client.transaction_events(&txn).await?.data;
    assert_eq!(events.last().map(|e| e.kind.as_str()), Some("settled"));
    // Nothing left: a second run settles nothing.
    let again = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .arg("settle")
        .arg("--data-dir")
        .arg(ts.data_dir())
        .output()?;
    assert!(String::from_utf8_lossy(&again.stdout).contains("settled 0 transaction"));
    Ok(())
}
