//! The terminal link from the command line, as separate processes: `serve --demo` with its
//! demo terminals as link clients, and a `terminal-sim` fleet in its own process, driven by
//! the test helpers across both processes.

use poigate_api::{CreateInteractionRequest, PresentCardRequest};
use poigate_client::Client;
use poigate_domain::{InteractionType, Status, TerminalConnection, TerminalStatus};
mod support;

use std::time::Duration;

const KEY: &str = "pg_test_terminal_sim_cli_0123456789abcdef";
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_link_terminals_and_a_terminal_sim_fleet_take_payments() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, out) = support::spawn(
        &[
            "serve",
            "--demo",
            "--demo-terminals",
            "link",
            "--listen",
            "127.0.0.1:0",
            "--sim-speed",
            "0",
            "--log",
            "warn",
        ],
        Some(&dir.path().join("data")),
        KEY,
    );
    let url = support::line_where(&out, |l| {
        l.trim().strip_prefix("URL").map(|u| u.trim().to_string())
    });
    let client = Client::new(&url, KEY)?;

    // The demo's terminals run as link clients of the same gateway.
    let demo = client.terminal("V400m-324688179").await?;
    assert_eq!(demo.connection, TerminalConnection::Link);
    assert_eq!(demo.status, TerminalStatus::Online);
    let sale = CreateInteractionRequest::new("V400m-324688179", InteractionType::Sale, 1250, "EUR");
    let created = client.create_interaction(&sale, None).await?;
    let done = client
        .wait_final(&created.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status, Status::Approved);

    // A fleet of two in its own process, provisioned with the API key.
    let ws = url.replace("http://", "ws://");
    let (sim, sim_out) = support::spawn(
        &[
            "terminal-sim",
            "--url",
            &ws,
            "--key",
            KEY,
            "--count",
            "2",
            "--sim-speed",
            "0",
        ],
        None,
        KEY,
    );
    support::line_where(&sim_out, |l| {
        l.contains("2 simulated terminal(s)").then_some(())
    });
    let fleet = client.terminal("V400m-SIM0002").await?;
    assert_eq!(fleet.status, TerminalStatus::Online);
    // A test helper crosses both processes: armed on the fleet's terminal, over the link.
    let card = PresentCardRequest {
        outcome: Some("insufficient_funds".into()),
        ..Default::default()
    };
    let armed = client
        .test_helper("V400m-SIM0002", "present-card", Some(&card))
        .await?;
    assert_eq!(armed.applied_to, "next");
    let created = client
        .create_interaction(
            &CreateInteractionRequest::new("V400m-SIM0002", InteractionType::Sale, 1000, "EUR"),
            None,
        )
        .await?;
    let done = client
        .wait_final(&created.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status, Status::Declined);

    // The fleet's process ends: its terminals are offline at once (the socket closed).
    drop(sim);
    poigate_testkit::eventually(WAIT, || async {
        let t = client.terminal("V400m-SIM0001").await.ok()?;
        (t.status == TerminalStatus::Offline).then_some(())
    })
    .await?;
    Ok(())
}
