//! Three gateway nodes on one real PostgreSQL (started by the harness of
//! `poigate-store-postgres`; skipped with one line where PostgreSQL is not installed,
//! mandatory in CI): terminals linked to node 1, sales created through node 2, long-polls,
//! SSE and cancels on node 3 — every sale completes, every waiter wakes.

use futures_util::StreamExt;
use poigate::RunningServer;
use poigate::config::Config;
use poigate_api::{CreateTerminalRequest, PairRequest, PairResponse};
use poigate_domain::{ApiKeyMode, Status, TerminalConnection, TerminalKind, TerminalStatus};
use poigate_link::{ClientConfig, LinkClient};
use poigate_store_postgres::testing::fresh_database;
use poigate_terminal::SimulatorConfig;
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{RawTerminal, eventually, sale};
use serde_json::json;
use std::time::Duration;

struct Node {
    server: RunningServer,
    _dir: tempfile::TempDir,
}

async fn node(url: &str, name: &str) -> anyhow::Result<Node> {
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_path_buf(),
        node_id: Some(name.to_string()),
        ..Config::default()
    };
    config.database.url = Some(url.to_string());
    config.database.pool_size = 4;
    config.simulator.speed = 0.0;
    let server = poigate::start(&config).await?;
    Ok(Node { server, _dir: dir })
}

/// Registers a link terminal through `api` and pairs it.
async fn paired_terminal(api: &Client, serial: &str) -> anyhow::Result<PairResponse> {
    let created = api
        .create_terminal(&CreateTerminalRequest {
            serial_number: serial.to_string(),
            model: "V400m".into(),
            label: None,
            kind: Some(TerminalKind::Simulated),
            connection: Some(TerminalConnection::Link),
        })
        .await?;
    let code = created
        .pairing
        .ok_or_else(|| anyhow::anyhow!("no pairing code"))?;
    Ok(api
        .pair(&PairRequest {
            pairing_code: code.pairing_code,
            serial_number: serial.to_string(),
        })
        .await?)
}

/// Registers a link terminal through `api`, pairs it, and runs the simulator on it as a
/// link client of `link_url`.
async fn linked_terminal(
    api: &Client,
    link_url: &str,
    serial: &str,
) -> anyhow::Result<(String, LinkClient)> {
    let paired = paired_terminal(api, serial).await?;
    let mut config = ClientConfig::new(link_url, &paired.device_key, serial);
    config.simulator = SimulatorConfig { speed: 0.0 };
    config.max_backoff = Duration::from_millis(200);
    let sim = LinkClient::spawn(config);
    anyhow::ensure!(
        sim.wait_connected(Duration::from_secs(10)).await,
        "terminal {serial} did not connect"
    );
    Ok((paired.poiid, sim))
}

#[tokio::test]
async fn terminals_on_one_node_sales_on_another_waiters_on_a_third() -> anyhow::Result<()> {
    let Some(url) = fresh_database().await else {
        return Ok(());
    };
    let n1 = node(&url, "node-1").await?;
    let n2 = node(&url, "node-2").await?;
    let n3 = node(&url, "node-3").await?;
    let merchant = n1
        .server
        .engine
        .admin()
        .create_merchant("Cluster shop")
        .await?;
    let key = n1
        .server
        .engine
        .admin()
        .create_api_key(merchant.id, ApiKeyMode::Test, None)
        .await?
        .secret;
    let c1 = Client::new(n1.server.url(), &key)?;
    let c2 = Client::new(n2.server.url(), &key)?;
    let c3 = Client::new(n3.server.url(), &key)?;

    let mut terminals = Vec::new();
    let mut sims = Vec::new();
    for serial in ["700000001", "700000002", "700000003"] {
        let (poiid, sim) = linked_terminal(&c1, &n1.server.link_url(), serial).await?;
        terminals.push(poiid);
        sims.push(sim);
    }
    // Node 2 learns that node 1 holds them.
    for poiid in &terminals {
        eventually(Duration::from_secs(5), || async {
            let t = c2.terminal(poiid).await.ok()?;
            (t.status == TerminalStatus::Online).then_some(())
        })
        .await?;
    }

    // A held terminal: the sale waits at "Present card" while node 3 streams and long-polls.
    c1.test_helper(&terminals[0], "hold", None).await?;
    let held = c2
        .create_interaction(&sale(&terminals[0], 4200, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    let in_progress = eventually(Duration::from_secs(10), || async {
        let i = c3.get_interaction(&held, None, None).await.ok()?;
        (i.status == Status::InProgress).then_some(i)
    })
    .await?;
    let stream = reqwest::Client::new()
        .get(format!(
            "{}/v1/interactions/{held}/events/stream",
            n3.server.url()
        ))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(stream.status(), 200);
    let long_poll = {
        let c3 = c3.clone();
        let held = held.clone();
        tokio::spawn(async move {
            c3.get_interaction(&held, Some(30), Some(in_progress.last_event_seq))
                .await
        })
    };
    let final_poll = {
        let c3 = c3.clone();
        let held = held.clone();
        tokio::spawn(async move { c3.wait_final(&held, Duration::from_secs(30)).await })
    };
    // Sales on the other terminals through node 2, waited for on node 3.
    let mut others = Vec::new();
    for (i, poiid) in terminals.iter().enumerate().skip(1) {
        let id = c2
            .create_interaction(&sale(poiid, 1000 + i as i64, "EUR"), None)
            .await?
            .interaction
            .id
            .to_string();
        others.push(id);
    }
    for id in &others {
        let done = c3.wait_final(id, Duration::from_secs(30)).await?;
        assert_eq!(done.status, Status::Approved, "{id}");
    }
    // The cardholder presents the card on node 1's terminal.
    c1.test_helper(&terminals[0], "present-card", None).await?;
    let woken = tokio::time::timeout(Duration::from_secs(30), long_poll).await???;
    assert!(
        woken.last_event_seq > in_progress.last_event_seq,
        "woken by a newer event"
    );
    let done = tokio::time::timeout(Duration::from_secs(30), final_poll).await???;
    assert_eq!(done.status, Status::Approved);
    let text = tokio::time::timeout(Duration::from_secs(30), async {
        let mut text = String::new();
        let mut body = stream.bytes_stream();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk?));
        }
        Ok::<_, anyhow::Error>(text)
    })
    .await??;
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    assert_eq!(
        seqs,
        (1..=done.last_event_seq).collect::<Vec<_>>(),
        "node 3's stream carries every event once, in order"
    );
    assert!(text.contains("event: completed"), "{text}");

    // A cancel accepted on node 3 reaches the terminal held on node 1.
    c1.test_helper(&terminals[1], "hold", None).await?;
    let to_cancel = c2
        .create_interaction(&sale(&terminals[1], 5100, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    eventually(Duration::from_secs(10), || async {
        let i = c3.get_interaction(&to_cancel, None, None).await.ok()?;
        (i.status == Status::InProgress).then_some(())
    })
    .await?;
    c3.cancel(&to_cancel, Some(10)).await?;
    let cancelled = c3.wait_final(&to_cancel, Duration::from_secs(20)).await?;
    assert_eq!(cancelled.status, Status::Cancelled);

    // A key revoked on node 1 is refused by nodes 2 and 3 within the bound (a notification;
    // the cache bound of 10 s if it were lost).
    let doomed = n1
        .server
        .engine
        .admin()
        .create_api_key(merchant.id, ApiKeyMode::Test, None)
        .await?;
    for c in [&c2, &c3] {
        c.with_key(&doomed.secret).terminals().await?;
    }
    n1.server
        .engine
        .admin()
        .revoke_api_key(merchant.id, doomed.record.id)
        .await?;
    for c in [&c2, &c3] {
        let c = c.with_key(&doomed.secret);
        eventually(Duration::from_secs(3), || async {
            match c.terminals().await {
                Err(e) if e.status().is_some_and(|s| s.as_u16() == 401) => Some(()),
                _ => None,
            }
        })
        .await?;
    }

    drop(sims);
    for n in [n1, n2, n3] {
        n.server.stop().await?;
    }
    Ok(())
}

/// A terminal reconnects to node 2 while node 1 still reads its old, half-open socket: a
/// report that arrives on the old socket is refused by epoch (the connection is closed with
/// `4000`, nothing acknowledged, nothing applied), and the same report on the new
/// connection is applied once.
#[tokio::test]
async fn a_replaced_connection_on_another_node_is_fenced_by_epoch() -> anyhow::Result<()> {
    let Some(url) = fresh_database().await else {
        return Ok(());
    };
    let n1 = node(&url, "node-1").await?;
    let n2 = node(&url, "node-2").await?;
    let admin = n1.server.engine.admin();
    let merchant = admin.create_merchant("Fenced shop").await?;
    let key = admin
        .create_api_key(merchant.id, ApiKeyMode::Test, None)
        .await?
        .secret;
    let c1 = Client::new(n1.server.url(), &key)?;
    let serial = "700000042";
    let paired = paired_terminal(&c1, serial).await?;

    let mut old =
        RawTerminal::connect(&n1.server.link_url(), &paired.device_key, serial, &[]).await?;
    let id = c1
        .create_interaction(&sale(&paired.poiid, 700, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    let start = old.next_frame().await?;
    assert_eq!(start["type"], "start", "{start}");

    // The terminal comes back through node 2 (node 1 never saw the old socket end).
    let mut new =
        RawTerminal::connect(&n2.server.link_url(), &paired.device_key, serial, &[]).await?;
    let resent = new.next_frame().await?;
    assert_eq!(
        (
            resent["type"].as_str(),
            resent["interaction"]["id"].as_str()
        ),
        (Some("start"), Some(id.as_str())),
        "the pending start is re-sent on the new connection"
    );

    // A late report on the old connection: refused by epoch, never applied.
    old.report("acknowledged", &id, 1, json!({})).await?;
    assert_eq!(old.closed().await?, Some(4000));
    let after_stale = c1.get_interaction(&id, None, None).await?;
    assert_eq!(
        (after_stale.status, after_stale.last_event_seq),
        (Status::Pending, 1),
        "the stale report changed nothing"
    );

    // The same report on the current connection is applied.
    new.report("acknowledged", &id, 1, json!({})).await?;
    let ack = new.next_answer().await?;
    assert_eq!(
        (ack["type"].as_str(), ack["status"].as_str()),
        (Some("ack"), Some("applied"))
    );
    let acknowledged = c1.get_interaction(&id, None, None).await?;
    assert_eq!(acknowledged.status, Status::InProgress);
    Ok(())
}

#[tokio::test]
async fn a_second_gateway_on_one_sqlite_directory_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.simulator.speed = 0.0;
    let first = poigate::start(&config).await?;
    let second = poigate::start(&config).await;
    let message = match second {
        Ok(_) => panic!("a second gateway started on the same SQLite directory"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        message.contains("another `poigate serve` is already running"),
        "{message}"
    );
    assert!(message.contains("PostgreSQL"), "{message}");
    first.stop().await?;
    // Once the first one stopped, the directory is free again.
    let again = poigate::start(&config).await?;
    again.stop().await?;
    Ok(())
}

/// `pg_ctl restart` under load: while the database is away every answer is a well-formed
/// `503` problem document with `Retry-After` (never a 500, never a hang past the client's
/// deadline), and the gateway recovers by itself: the same requests succeed afterwards.
#[tokio::test]
async fn a_database_restart_answers_503_then_recovers() -> anyhow::Result<()> {
    // A server of its own: restarting the shared one would disturb the other tests.
    let pg = match poigate_store_postgres::testing::PgServer::start() {
        Ok(pg) => pg,
        Err(e) if !poigate_store_postgres::testing::required() => {
            poigate_store_postgres::testing::print_skip_line();
            let _ = e;
            return Ok(());
        }
        Err(e) => anyhow::bail!("PostgreSQL is required here: {e}"),
    };
    let pg = std::sync::Arc::new(pg);
    let url = pg.create_database().await?;
    let n = node(&url, "node-r").await?;
    let merchant = n
        .server
        .engine
        .admin()
        .create_merchant("Outage shop")
        .await?;
    let key = n
        .server
        .engine
        .admin()
        .create_api_key(merchant.id, ApiKeyMode::Test, None)
        .await?
        .secret;
    n.server
        .engine
        .admin()
        .register_terminal(
            merchant.id,
            "710000001",
            "V400m",
            None,
            TerminalKind::Simulated,
            TerminalConnection::InProcess,
        )
        .await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let base = n.server.url();
    let restart = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.restart())
    };
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut i = 0u32;
    while !restart.is_finished() || i < 5 {
        i += 1;
        let created = http
            .post(format!("{base}/v1/interactions"))
            .bearer_auth(&key)
            .header("Idempotency-Key", format!("outage-{i}"))
            .json(&sale("V400m-710000001", 100 + i64::from(i), "EUR"))
            .send()
            .await?;
        let status = created.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        match status {
            202 | 409 => {}
            503 => {
                assert!(created.headers().contains_key("retry-after"), "{created:?}");
                let problem: serde_json::Value = created.json().await?;
                assert_eq!(problem["code"], "unavailable", "{problem}");
            }
            other => panic!("answer {other} during a database restart"),
        }
        if i > 2_000 {
            break;
        }
    }
    restart.await??;
    // Recovered by itself: a sale goes through once the database is back.
    let client = Client::new(&base, &key)?;
    let done = eventually(Duration::from_secs(30), || async {
        let created = client
            .create_interaction(&sale("V400m-710000001", 999, "EUR"), Some("after-outage"))
            .await
            .ok()?;
        Some(created.interaction.id.to_string())
    })
    .await?;
    let final_ = client.wait_final(&done, Duration::from_secs(30)).await?;
    assert_eq!(final_.status, Status::Approved, "{statuses:?}");
    n.server.stop().await?;
    Ok(())
}
