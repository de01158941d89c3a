//! Node loss under load, over real processes and a real PostgreSQL (skipped with one line
//! where PostgreSQL is not installed, mandatory in CI): two `poigate serve` nodes, three
//! simulated terminals (`poigate terminal-sim`, failing over between both nodes) linked to
//! node A, sales created through node B. `kill -9` node A in the middle: the terminals
//! reconnect to node B; every acknowledged interaction ends with the terminal's real outcome
//! (or an explicit `not_delivered` when its start never reached the terminal, or stays in
//! progress); nothing acknowledged is lost; no duplicate per natural key; each interaction's
//! events are gap-free with exactly one final event and at most one acknowledgement.

mod support;

use poigate_api::ListEventsQuery;
use poigate_domain::{CancelReason, InteractionType, Status};
use poigate_store_postgres::testing::fresh_database;
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{eventually, request};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{Gateway, line_where, spawn};

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts a node of the cluster and waits until it is ready.
async fn node(url: &str, name: &str, dir: &std::path::Path) -> anyhow::Result<(Gateway, String)> {
    node_with(url, name, dir, &[]).await
}

/// [`node`] with more `serve` arguments.
async fn node_with(
    url: &str,
    name: &str,
    dir: &std::path::Path,
    extra: &[&str],
) -> anyhow::Result<(Gateway, String)> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "serve",
        "--database",
        url,
        "--node-id",
        name,
        "--listen",
        &listen,
        "--log",
        "warn",
    ];
    args.extend_from_slice(extra);
    let (gateway, _out) = spawn(&args, Some(dir), "unused");
    let base = format!("http://{listen}");
    // The project's client (it sets up TLS the way the project does).
    let probe = Client::new(&base, "unused")?;
    eventually(Duration::from_secs(30), || async {
        let ok = probe
            .request(reqwest::Method::GET, "/readyz")
            .send()
            .await
            .ok()?;
        (ok.status() == 200).then_some(())
    })
    .await?;
    Ok((gateway, base))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_node_that_holds_the_terminals_loses_nothing() -> anyhow::Result<()> {
    let Some(url) = fresh_database().await else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let (mut a, base_a) = node(&url, "node-a", &dir.path().join("a")).await?;
    let (_b, base_b) = node(&url, "node-b", &dir.path().join("b")).await?;
    let key_out = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args(["keys", "create", "--database", &url, "--merchant", "Fleet"])
        .stderr(Stdio::null())
        .output()?;
    anyhow::ensure!(key_out.status.success(), "keys create failed");
    let key = String::from_utf8(key_out.stdout)?.trim().to_string();
    let link_a = base_a.replace("http://", "ws://");
    let link_b = base_b.replace("http://", "ws://");
    let (_sims, sim_out) = spawn(
        &[
            "terminal-sim",
            "--url",
            &format!("{link_a},{link_b}"),
            "--key",
            &key,
            "--count",
            "3",
            "--sim-speed",
            "0.02",
        ],
        None,
        "unused",
    );
    let terminals = ["V400m-SIM0001", "V400m-SIM0002", "V400m-SIM0003"];
    line_where(&sim_out, |l| {
        l.contains("simulated terminal(s) on").then_some(())
    });
    let client = Client::new(&base_b, &key)?;

    // Sales through node B on all three terminals at once, with natural keys; node A dies
    // while sales are in flight.
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut lanes = Vec::new();
    for (lane, terminal) in terminals.iter().enumerate() {
        let client = client.clone();
        let acknowledged = acknowledged.clone();
        let terminal = terminal.to_string();
        lanes.push(tokio::spawn(async move {
            let mut created = Vec::new();
            let mut given_up = 0u32;
            for n in 0..10u32 {
                let service_id = format!("{lane}{n:04}");
                let mut body =
                    request(&terminal, InteractionType::Sale, 1000 + i64::from(n), "EUR");
                body.sale_id = Some("till-1".into());
                body.service_id = Some(service_id.clone());
                // Retried with the same natural key until accepted: a terminal that is offline
                // for the moment (its node just died) or still busy is refused and tried again;
                // a retry after a lost answer replays the original.
                let accepted = eventually(Duration::from_secs(30), || async {
                    match client.create_interaction(&body, None).await {
                        Ok(c) => Some(Some(c.interaction.id.to_string())),
                        Err(e) if e.status().is_some_and(|s| s.as_u16() == 409) => None,
                        Err(e) if e.status().is_some_and(|s| s.as_u16() == 503) => None,
                        Err(_) => Some(None),
                    }
                })
                .await;
                match accepted {
                    Ok(Some(id)) => {
                        acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        created.push((service_id, id.clone()));
                        // The terminal's next sale waits for this one.
                        let _ = client.wait_final(&id, Duration::from_secs(20)).await;
                    }
                    _ => given_up += 1,
                }
            }
            (created, given_up)
        }));
    }
    eventually(Duration::from_secs(60), || async {
        (acknowledged.load(std::sync::atomic::Ordering::SeqCst) >= 10).then_some(())
    })
    .await?;
    // kill -9: no shutdown, no goodbye to PostgreSQL, terminals cut mid-sale.
    a.0.kill()?;
    let _ = a.0.wait();
    let killed_after = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    let mut created: BTreeMap<String, String> = BTreeMap::new();
    let mut refused = 0u32;
    for lane in lanes {
        let (lane_created, given_up) = lane.await?;
        created.extend(lane_created);
        refused += given_up;
    }
    assert!(
        created.len() >= killed_after + 10,
        "sales went on after the loss: {} acknowledged, {killed_after} before it ({refused} given up)",
        created.len()
    );

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for (service_id, id) in &created {
        // Nothing acknowledged is lost, and the natural key names exactly one interaction.
        let found = client
            .lookup(&poigate_api::ListInteractionsQuery {
                sale_id: Some("till-1".into()),
                service_id: Some(service_id.clone()),
                ..Default::default()
            })
            .await?
            .data;
        assert_eq!(
            found.len(),
            1,
            "one interaction per natural key {service_id}"
        );
        assert_eq!(found[0].id.to_string(), *id);
        let state = client.wait_final(id, Duration::from_secs(30)).await?;
        match (state.status, state.cancel_reason) {
            (Status::Approved | Status::Declined, _) => {}
            (Status::Cancelled, Some(CancelReason::NotDelivered)) => {}
            (Status::InProgress, _) => {}
            other => panic!("{id}: unexpected end {other:?}"),
        }
        *outcomes.entry(format!("{:?}", state.status)).or_default() += 1;
        let events = client
            .list_events(
                id,
                &ListEventsQuery {
                    limit: Some(1000),
                    ..Default::default()
                },
            )
            .await?
            .data;
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "{id}: gap-free"
        );
        let finals = events.iter().filter(|e| e.kind == "completed").count();
        let acks = events.iter().filter(|e| e.kind == "acknowledged").count();
        assert_eq!(finals, usize::from(state.is_final), "{id}: one final event");
        assert!(acks <= 1, "{id}: started once");
    }
    eprintln!(
        "node loss: {} sales acknowledged ({killed_after} before the kill), outcomes {outcomes:?}, {refused} given up",
        created.len()
    );
    assert!(
        outcomes.get("Approved").copied().unwrap_or(0) >= 20,
        "most sales approved: {outcomes:?}"
    );
    // The terminals are online again, through node B.
    for t in terminals {
        eventually(Duration::from_secs(30), || async {
            let view = client.terminal(t).await.ok()?;
            (view.status != poigate_domain::TerminalStatus::Offline).then_some(())
        })
        .await?;
    }
    Ok(())
}

/// A webhook delivery whose node dies mid-request is sent by another node once the dead
/// node's lease ends (`[webhooks] lease_seconds`), with the same `webhook-id`; the live
/// node never took it while the lease ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_by_its_nodes_death_is_sent_by_another_node() -> anyhow::Result<()> {
    let Some(url) = fresh_database().await else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("poigate.toml");
    std::fs::write(
        &config,
        "[webhooks]\nallow_private_targets = true\nrequest_timeout_seconds = 4\nlease_seconds = 5\n",
    )?;
    let config = config.to_string_lossy().to_string();
    let receiver = poigate_testkit::WebhookReceiver::start().await?;
    receiver.stall(true);

    let (mut a, base_a) = node_with(
        &url,
        "node-a",
        &dir.path().join("a"),
        &["--config", &config],
    )
    .await?;
    let key_out = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args(["keys", "create", "--database", &url, "--merchant", "Hooks"])
        .stderr(Stdio::null())
        .output()?;
    anyhow::ensure!(key_out.status.success(), "keys create failed");
    let key = String::from_utf8(key_out.stdout)?.trim().to_string();
    let client_a = Client::new(&base_a, &key)?;
    client_a
        .create_webhook_endpoint(&poigate_api::CreateWebhookEndpointRequest {
            url: receiver.url("/hooks"),
            events: Some(vec!["terminal.online".into()]),
            description: None,
            enabled: None,
            format: None,
        })
        .await?;
    // A terminal coming online makes a `terminal.online` message; node A sends it and the
    // receiver holds the request.
    client_a
        .create_terminal(&poigate_api::CreateTerminalRequest {
            serial_number: "800000001".into(),
            model: "V400m".into(),
            label: None,
            kind: None,
            connection: None,
        })
        .await?;
    let arrived = receiver.wait_arrived(1, Duration::from_secs(30)).await?;
    let cut = arrived[0]
        .header("webhook-id")
        .ok_or_else(|| anyhow::anyhow!("no webhook-id"))?
        .to_string();
    // kill -9 in the middle of the request: the lease stays in the database.
    a.0.kill()?;
    let _ = a.0.wait();
    assert!(
        receiver.received().is_empty(),
        "nothing was answered before the kill"
    );
    receiver.stall(false);

    let (_b, base_b) = node_with(
        &url,
        "node-b",
        &dir.path().join("b"),
        &["--config", &config],
    )
    .await?;
    let delivered = eventually(Duration::from_secs(60), || async {
        receiver
            .received()
            .iter()
            .any(|r| r.header("webhook-id") == Some(cut.as_str()))
            .then_some(())
    })
    .await;
    assert!(
        delivered.is_ok(),
        "message {cut} was never delivered after node A died"
    );
    // The delivery log on node B says so.
    let client_b = Client::new(&base_b, &key)?;
    let log = client_b.deliveries(&Default::default()).await?.data;
    let entry = log
        .iter()
        .find(|d| d.webhook_id.to_string() == cut)
        .ok_or_else(|| anyhow::anyhow!("{cut} is in the delivery log"))?;
    let settled = eventually(Duration::from_secs(10), || async {
        let d = client_b.delivery(&entry.id.to_string()).await.ok()?;
        (d.status == "succeeded").then_some(d)
    })
    .await?;
    assert_eq!(settled.status, "succeeded");
    Ok(())
}
