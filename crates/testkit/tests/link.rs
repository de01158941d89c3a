//! The terminal link over real sockets: a real gateway on port 0, simulated terminals run as
//! real link clients, and raw protocol connections for what a buggy or hostile terminal
//! could send.

use poigate_api::{EventView, ListEventsQuery, PairRequest};
use poigate_domain::{Status, TerminalStatus};
use poigate_terminal::{CardholderAction, HelperTarget, TestCard};
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{Handshake, Options, RawTerminal, TERMINALS, TestServer, eventually, sale};
use serde_json::json;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
/// How long a terminal silent past a 1 s heartbeat timeout may take to be shown offline:
/// ten times the timeout, a third of the 30 s default.
const HEARTBEAT_DEADLINE: Duration = Duration::from_secs(10);

async fn events(client: &Client, id: &str) -> anyhow::Result<Vec<EventView>> {
    Ok(client
        .list_events(
            id,
            &ListEventsQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await?
        .data)
}

/// (type, message, status) of every event: what must be the same in-process and on the link.
fn shape(events: &[EventView]) -> Vec<(String, Option<String>, Status)> {
    events
        .iter()
        .map(|e| (e.kind.clone(), e.message.clone(), e.status))
        .collect()
}

fn gap_free(events: &[EventView]) -> bool {
    events
        .iter()
        .enumerate()
        .all(|(i, e)| e.seq == i as u64 + 1)
}

#[tokio::test]
async fn a_sale_over_the_link_matches_the_same_sale_in_process() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000001", false).await?;
    let _sim = ts.run_link_sim(&link).await?;
    let t = client.terminal(&link.poiid).await?;
    assert_eq!(t.status, TerminalStatus::Online);
    assert_eq!(t.connection, poigate_domain::TerminalConnection::Link);

    let mut results = Vec::new();
    for terminal in [TERMINALS[0], link.poiid.as_str()] {
        let c = client
            .create_interaction(&sale(terminal, 1250, "EUR"), None)
            .await?;
        let id = c.interaction.id.to_string();
        let done = client.wait_final(&id, WAIT).await?;
        results.push((done, events(&client, &id).await?));
    }
    let (local, local_events) = &results[0];
    let (remote, remote_events) = &results[1];
    assert_eq!(remote.status, Status::Approved);
    assert_eq!(shape(local_events), shape(remote_events));
    assert!(gap_free(remote_events));
    let (lt, rt) = (
        local.transaction.as_ref().expect("transaction"),
        remote.transaction.as_ref().expect("transaction"),
    );
    assert_eq!(lt.masked_pan, rt.masked_pan);
    assert_eq!(lt.emv, rt.emv);
    assert!(rt.auth_code.is_some());
    // The same amount trigger declines the same way.
    let c = client
        .create_interaction(&sale(&link.poiid, 1124, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status, Status::Declined);
    Ok(())
}

#[tokio::test]
async fn a_link_terminal_that_drops_mid_interaction_completes_with_its_own_outcome()
-> anyhow::Result<()> {
    // No window to hit: the link is down before the card is presented, so the whole card
    // (processing, stages, result) happens while the terminal is offline, whatever the speed.
    let ts = TestServer::start_with(Options {
        sim_speed: 0.1,
        ..Options::default()
    })
    .await?;
    let client = ts.client();
    let link = ts.link_terminal("700000002", false).await?;
    let sim = ts.run_link_sim(&link).await?;
    client.test_helper(&link.poiid, "hold", None).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    // Wait for the third "Present card" (event 8), then drop the link.
    let waiting = eventually(WAIT, || async {
        let i = client.get_interaction(&id, Some(5), Some(7)).await.ok()?;
        (i.last_event_seq >= 8).then_some(i)
    })
    .await?;
    assert_eq!(waiting.status, Status::InProgress);
    let dropped = client.test_helper(&link.poiid, "disconnect", None).await?;
    assert_eq!(dropped.status, TerminalStatus::Offline);
    let offline = client.get_interaction(&id, None, None).await?;
    assert_eq!(
        offline.status,
        Status::InProgress,
        "poigate never invents an outcome"
    );
    assert!(!offline.terminal_connected);
    // The cardholder presents the card at the offline terminal; it reads and finishes it:
    // its result waits in its outbox.
    let presented = sim.act(CardholderAction::PresentCard(TestCard::default()));
    assert_eq!(presented, HelperTarget::Current(c.interaction.id));
    eventually(WAIT, || async { sim.running().is_none().then_some(()) }).await?;
    assert_eq!(
        client.get_interaction(&id, None, None).await?.status,
        Status::InProgress
    );
    let back = client.test_helper(&link.poiid, "connect", None).await?;
    assert_ne!(back.status, TerminalStatus::Offline);
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Approved);
    assert!(done.terminal_connected);
    let list = events(&client, &id).await?;
    assert!(gap_free(&list));
    let kinds: Vec<&str> = list.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "completed").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "acknowledged").count(), 1);
    assert!(kinds.contains(&"terminal_disconnected") && kinds.contains(&"terminal_reconnected"));
    let stages: Vec<&str> = list.iter().filter_map(|e| e.message.as_deref()).collect();
    assert_eq!(
        stages
            .iter()
            .filter(|m| **m == "Processing payment...")
            .count(),
        1,
        "no duplicate events: {stages:?}"
    );
    // One authorisation: exactly one transaction for the interaction.
    let txn = done.transaction.expect("transaction");
    assert_eq!(
        client.transaction(&txn.id.to_string()).await?.interaction,
        done.id
    );
    Ok(())
}

#[tokio::test]
async fn a_report_re_sent_after_a_lost_ack_is_stored_once() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000003", true).await?;
    let mut raw = ts.raw_terminal(&link).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 500, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    let start = raw.next_frame().await?;
    assert_eq!(start["type"], "start");
    assert_eq!(start["interaction"]["id"], id.as_str());
    assert_eq!(
        start["interaction"]["amount"],
        json!({"value": 500, "currency": "EUR"})
    );
    let ack_id = raw.report("acknowledged", &id, 1, json!({})).await?;
    let ack = raw.next_frame().await?;
    assert_eq!(
        (ack["type"].as_str(), ack["ref"].as_str()),
        (Some("ack"), Some(ack_id.as_str()))
    );
    assert_eq!(ack["status"], "applied");
    raw.report("stage", &id, 2, json!({"message": "Present card"}))
        .await?;
    // The stage is durable; its ack is "lost" with the connection.
    eventually(WAIT, || async {
        let i = client.get_interaction(&id, None, None).await.ok()?;
        (i.last_event_seq >= 3).then_some(())
    })
    .await?;
    raw.drop_connection();

    let mut raw =
        RawTerminal::connect(&ts.link_url(), &link.device_key, &link.serial, &[(&id, 2)]).await?;
    raw.report("stage", &id, 2, json!({"message": "Present card"}))
        .await?;
    let again = raw.next_answer().await?;
    assert_eq!(again["status"], "duplicate");
    raw.report(
        "result",
        &id,
        3,
        json!({"outcome": {"result": "approved", "auth_code": "A1B2C3",
        "card": {"bin": "476173", "last4": "0010", "brand": "visa", "entry_mode": "chip"}}}),
    )
    .await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Approved);
    let kinds: Vec<String> = events(&client, &id)
        .await?
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "acknowledged",
            "stage",
            "terminal_disconnected",
            "terminal_reconnected",
            "completed"
        ]
    );
    // A late re-send of the result is answered "already final" and changes nothing.
    raw.report(
        "result",
        &id,
        3,
        json!({"outcome": {"result": "declined", "reason": "refused", "message": "x"}}),
    )
    .await?;
    assert_eq!(raw.next_answer().await?["status"], "already_final");
    assert_eq!(
        client.get_interaction(&id, None, None).await?.status,
        Status::Approved
    );
    Ok(())
}

#[tokio::test]
async fn a_start_not_acknowledged_before_a_disconnect_is_re_sent_and_runs_once()
-> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000004", true).await?;
    let raw = ts.raw_terminal(&link).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 700, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    // The terminal loses its connection before it acknowledges the start.
    raw.drop_connection();
    let offline = eventually(WAIT, || async {
        let t = client.terminal(&link.poiid).await.ok()?;
        (t.status == TerminalStatus::Offline).then_some(t)
    })
    .await?;
    assert_eq!(
        offline.active_interaction.map(|i| i.to_string()),
        Some(id.clone())
    );
    assert_eq!(
        client.get_interaction(&id, None, None).await?.status,
        Status::Pending
    );

    let mut raw = ts.raw_terminal(&link).await?;
    let start = raw.next_frame().await?;
    assert_eq!(
        start["type"], "start",
        "the start is re-sent after the reconnect"
    );
    assert_eq!(start["interaction"]["id"], id.as_str());
    raw.report("acknowledged", &id, 1, json!({})).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    raw.report(
        "result",
        &id,
        2,
        json!({"outcome": {"result": "cancelled", "reason": "terminal"}}),
    )
    .await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Cancelled);
    let list = events(&client, &id).await?;
    assert_eq!(list.iter().filter(|e| e.kind == "acknowledged").count(), 1);
    Ok(())
}

#[tokio::test]
async fn a_frozen_link_simulator_keeps_a_re_sent_start_and_runs_it_once() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000005", false).await?;
    let _sim = ts.run_link_sim(&link).await?;
    client.test_helper(&link.poiid, "freeze", None).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 800, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    client.test_helper(&link.poiid, "disconnect", None).await?;
    client.test_helper(&link.poiid, "connect", None).await?;
    assert_eq!(
        client.get_interaction(&id, None, None).await?.status,
        Status::Pending
    );
    client.test_helper(&link.poiid, "unfreeze", None).await?;
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Approved);
    let list = events(&client, &id).await?;
    assert!(gap_free(&list));
    assert_eq!(list.iter().filter(|e| e.kind == "acknowledged").count(), 1);
    assert_eq!(list.iter().filter(|e| e.kind == "completed").count(), 1);
    Ok(())
}

#[tokio::test]
async fn a_silent_connection_is_offline_within_the_heartbeat_timeout() -> anyhow::Result<()> {
    let ts = TestServer::start_with(Options {
        heartbeat_timeout_seconds: 1,
        ..Options::default()
    })
    .await?;
    let client = ts.client();
    let link = ts.link_terminal("700000006", true).await?;
    let mut raw = ts.raw_terminal(&link).await?;
    assert_eq!(raw.welcome["heartbeat_seconds"], 1);
    assert_eq!(
        client.terminal(&link.poiid).await?.status,
        TerminalStatus::Online
    );
    // From now on the terminal reads nothing, so it answers no ping. Idle detection is real
    // time by design (socket silence): poll with a deadline generous for a loaded machine
    // yet well below the 30 s default, so a heartbeat timeout that is not applied fails.
    let silent_since = Instant::now();
    eventually(HEARTBEAT_DEADLINE, || async {
        let t = client.terminal(&link.poiid).await.ok()?;
        (t.status == TerminalStatus::Offline).then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("not offline with a 1 s heartbeat timeout: {e}"))?;
    eprintln!("offline after {:?}", silent_since.elapsed());
    let err = client
        .create_interaction(&sale(&link.poiid, 1000, "EUR"), None)
        .await
        .expect_err("offline");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409));
    assert_eq!(err.code(), Some("terminal_offline"));
    assert_eq!(raw.closed().await?, Some(4008));
    Ok(())
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_never_affect_another_terminal() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let bad = ts.link_terminal("700000007", true).await?;
    let good = ts.link_terminal("700000008", false).await?;
    let _sim = ts.run_link_sim(&good).await?;
    // Interactions of another terminal and of another merchant.
    client.test_helper(&good.poiid, "hold", None).await?;
    let other_terminal = client
        .create_interaction(&sale(&good.poiid, 900, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    let other_merchant = ts.other_merchant("Merchant B").await?;
    let foreign = other_merchant
        .create_interaction(&sale("V400m-900000001", 900, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();

    let mut raw = ts.raw_terminal(&bad).await?;
    let mine = client
        .create_interaction(&sale(&bad.poiid, 600, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    assert_eq!(raw.next_frame().await?["type"], "start");

    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "invalid_json"),
        ("[1, 2]".into(), "invalid_frame"),
        (json!({"type": "stage", "seq": 1}).to_string(), "invalid_frame"),
        (json!({"type": "teleport", "id": "x1"}).to_string(), "unknown_type"),
        (json!({"type": "stage", "id": "x2", "interaction": mine, "seq": "one", "message": "4761739001010010"}).to_string(), "invalid_frame"),
        (json!({"type": "hello", "id": "x3", "serial_number": bad.serial, "model": "V400m", "firmware": "1"}).to_string(), "unexpected_frame"),
        (json!({"type": "acknowledged", "id": "x4", "interaction": mine, "seq": 3}).to_string(), "wrong_seq"),
        (json!({"type": "stage", "id": "x5", "interaction": other_terminal, "seq": 1, "message": "hi"}).to_string(), "unknown_interaction"),
        (json!({"type": "acknowledged", "id": "x6", "interaction": foreign, "seq": 1}).to_string(), "unknown_interaction"),
        (json!({"type": "acknowledged", "id": "x7", "interaction": "int_00000000000000000000000000000000", "seq": 1}).to_string(), "unknown_interaction"),
        (json!({"type": "result", "id": "x8", "interaction": mine, "seq": 1, "outcome": {"result": "approved", "auth_code": "A1",
            "card": {"bin": "4761739001010010", "last4": "0010", "brand": "visa", "entry_mode": "chip"}}}).to_string(), "invalid_report"),
    ];
    for (text, code) in &cases {
        raw.send_text(text).await?;
        let answer = raw.next_answer().await?;
        assert_eq!(answer["type"], "error", "{text} → {answer}");
        assert_eq!(answer["code"], *code, "{text} → {answer}");
        assert!(
            !answer.to_string().contains("4761739001010010"),
            "never echo card data"
        );
    }
    raw.send_binary(vec![1, 2, 3]).await?;
    assert_eq!(raw.next_answer().await?["code"], "invalid_frame");
    // The wrong seq names the expected one; the refused result did not consume seq 1.
    raw.send_text(
        &json!({"type": "acknowledged", "id": "y1", "interaction": mine, "seq": 2}).to_string(),
    )
    .await?;
    assert_eq!(raw.next_answer().await?["expected_seq"], 1);
    raw.report("acknowledged", &mine, 1, json!({})).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    // An oversized frame closes this connection with 1009.
    raw.send_text(&"x".repeat(20 * 1024)).await?;
    assert_eq!(raw.closed().await?, Some(1009));

    // The other terminal was never affected, and the gateway still serves.
    client
        .test_helper(&good.poiid, "present-card", None)
        .await?;
    let done = client.wait_final(&other_terminal, WAIT).await?;
    assert_eq!(done.status, Status::Approved);
    assert_eq!(
        client.terminal(&good.poiid).await?.status,
        TerminalStatus::Online
    );
    let readyz = ts.http().get(format!("{}/readyz", ts.url())).send().await?;
    assert_eq!(readyz.status(), 200);
    // The bad terminal comes back and still reports its outcome.
    let mut raw =
        RawTerminal::connect(&ts.link_url(), &bad.device_key, &bad.serial, &[(&mine, 1)]).await?;
    raw.report(
        "result",
        &mine,
        2,
        json!({"outcome": {"result": "cancelled", "reason": "terminal"}}),
    )
    .await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    assert_eq!(
        client.wait_final(&mine, WAIT).await?.status,
        Status::Cancelled
    );
    Ok(())
}

#[tokio::test]
async fn too_many_protocol_errors_close_the_connection() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let link = ts.link_terminal("700000009", true).await?;
    let mut raw = ts.raw_terminal(&link).await?;
    for _ in 0..17 {
        raw.send_text("nonsense").await?;
    }
    assert_eq!(raw.closed().await?, Some(1008));
    Ok(())
}

#[tokio::test]
async fn the_handshake_and_hello_refuse_what_is_not_a_paired_terminal() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let link = ts.link_terminal("700000010", true).await?;
    let url = ts.link_url();
    let status = |h: Handshake| match h {
        Handshake::Open(_) => 101,
        Handshake::Refused(s, _) => s,
    };
    assert_eq!(
        status(RawTerminal::handshake(&url, None, Some("poigate.terminal.v1")).await?),
        401
    );
    let wrong_key = format!("pg_dev_{}", "0".repeat(48));
    assert_eq!(
        status(RawTerminal::handshake(&url, Some(&wrong_key), Some("poigate.terminal.v1")).await?),
        401
    );
    assert_eq!(
        status(RawTerminal::handshake(&url, Some(ts.key()), Some("poigate.terminal.v1")).await?),
        401,
        "an API key is no device key"
    );
    match RawTerminal::handshake(&url, Some(&link.device_key), Some("poigate.terminal.v9")).await? {
        Handshake::Refused(400, body) => assert!(body.contains("unsupported_protocol"), "{body}"),
        other => panic!("expected 400, got {}", status(other)),
    }
    let plain = ts
        .http()
        .get(format!("{}/v1/terminal-link", ts.url()))
        .send()
        .await?;
    assert_eq!(plain.status(), 426);
    // The first frame must be a hello, for this terminal's serial number.
    let mut raw = RawTerminal::open(&url, &link.device_key).await?;
    raw.send(json!({"type": "acknowledged", "interaction": "int_00000000000000000000000000000000", "seq": 1})).await?;
    assert_eq!(raw.next_frame().await?["code"], "unexpected_frame");
    assert_eq!(raw.closed().await?, Some(1008));
    let mut raw = RawTerminal::open(&url, &link.device_key).await?;
    raw.send(json!({"type": "hello", "serial_number": "999", "model": "V400m", "firmware": "1"}))
        .await?;
    assert_eq!(raw.next_frame().await?["code"], "invalid_frame");
    assert_eq!(raw.closed().await?, Some(4002));
    Ok(())
}

#[tokio::test]
async fn pairing_codes_work_once_and_revoking_closes_the_live_connection() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let created = client
        .create_terminal(&poigate_api::CreateTerminalRequest {
            serial_number: "700000011".into(),
            model: "P400Plus".into(),
            label: None,
            kind: Some(poigate_domain::TerminalKind::Device),
            connection: None,
        })
        .await?;
    assert_eq!(created.connection, poigate_domain::TerminalConnection::Link);
    assert_eq!(created.status, TerminalStatus::Offline);
    let code = created.pairing.expect("a pairing code").pairing_code;
    let wrong = client
        .pair(&PairRequest {
            pairing_code: code.clone(),
            serial_number: "1".into(),
        })
        .await
        .expect_err("wrong serial");
    assert_eq!(
        (wrong.status().map(|s| s.as_u16()), wrong.code()),
        (Some(401), Some("invalid_pairing_code"))
    );
    let paired = client
        .pair(&PairRequest {
            pairing_code: code.to_lowercase(),
            serial_number: "700000011".into(),
        })
        .await?;
    assert!(paired.device_key.starts_with("pg_dev_"));
    assert_eq!(paired.poiid, "P400Plus-700000011");
    let again = client
        .pair(&PairRequest {
            pairing_code: code,
            serial_number: "700000011".into(),
        })
        .await
        .expect_err("used");
    assert_eq!(again.code(), Some("invalid_pairing_code"));
    // The terminal's view never shows a pairing code again.
    assert!(client.terminal(&paired.poiid).await?.pairing.is_none());

    let mut raw =
        RawTerminal::connect(&ts.link_url(), &paired.device_key, "700000011", &[]).await?;
    assert_eq!(
        client.terminal(&paired.poiid).await?.status,
        TerminalStatus::Online
    );
    let revoked = client.revoke_terminal(&paired.poiid).await?;
    assert_eq!(revoked.status, TerminalStatus::Offline);
    assert_eq!(raw.closed().await?, Some(4003));
    match RawTerminal::handshake(
        &ts.link_url(),
        Some(&paired.device_key),
        Some("poigate.terminal.v1"),
    )
    .await?
    {
        Handshake::Refused(401, _) => {}
        _ => panic!("a revoked key must be refused"),
    }
    // Pair again with a new code.
    let fresh = client.pairing_code(&paired.poiid).await?;
    let repaired = client
        .pair(&PairRequest {
            pairing_code: fresh.pairing_code,
            serial_number: "700000011".into(),
        })
        .await?;
    RawTerminal::connect(&ts.link_url(), &repaired.device_key, "700000011", &[]).await?;
    // In-process terminals have nothing to pair; other merchants see nothing.
    let err = client
        .pairing_code(TERMINALS[0])
        .await
        .expect_err("in-process");
    assert_eq!(err.code(), Some("not_allowed"));
    let other = ts.other_merchant("Merchant C").await?;
    let err = other
        .revoke_terminal(&paired.poiid)
        .await
        .expect_err("scoped");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    Ok(())
}

#[tokio::test]
async fn test_helpers_drive_a_link_simulator_like_an_in_process_one() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000012", false).await?;
    let _sim = ts.run_link_sim(&link).await?;

    // Press cancel on the terminal.
    let armed = client.test_helper(&link.poiid, "cancel", None).await?;
    assert_eq!(armed.applied_to, "next");
    let c = client
        .create_interaction(&sale(&link.poiid, 1000, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(
        done.cancel_reason,
        Some(poigate_domain::CancelReason::Terminal)
    );

    // A declining test card presented to the interaction waiting for it.
    client.test_helper(&link.poiid, "hold", None).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    client.get_interaction(&id, Some(10), Some(7)).await?;
    let card = poigate_api::PresentCardRequest {
        outcome: Some("card_blocked".into()),
        ..Default::default()
    };
    let applied = client
        .test_helper(&link.poiid, "present-card", Some(&card))
        .await?;
    assert_eq!(
        (applied.applied_to.as_str(), applied.interaction),
        ("current", Some(c.interaction.id))
    );
    assert_eq!(client.wait_final(&id, WAIT).await?.status, Status::Declined);

    // Cancel before delivery: a frozen terminal never acknowledges; unfreezing reads no card.
    client.test_helper(&link.poiid, "freeze", None).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    let cancelled = client.cancel(&id, None).await?;
    assert_eq!(cancelled.interaction.status, Status::Cancelled);
    client.test_helper(&link.poiid, "unfreeze", None).await?;
    let kinds: Vec<String> = events(&client, &id)
        .await?
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["created", "cancel_requested", "completed"]);
    let next = client
        .create_interaction(&sale(&link.poiid, 1000, "EUR"), None)
        .await?;
    assert_eq!(
        client
            .wait_final(&next.interaction.id.to_string(), WAIT)
            .await?
            .status,
        Status::Approved
    );

    // A real device never gets test frames; an offline link simulator says so.
    let device = ts.link_terminal("700000013", true).await?;
    let err = client
        .test_helper(&device.poiid, "hold", None)
        .await
        .expect_err("device");
    assert_eq!(err.code(), Some("not_simulated"));
    let idle = ts.link_terminal("700000014", false).await?;
    let err = client
        .test_helper(&idle.poiid, "hold", None)
        .await
        .expect_err("offline");
    assert_eq!(err.code(), Some("terminal_offline"));
    Ok(())
}

#[tokio::test]
async fn a_reconnect_replaces_the_previous_connection() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000015", true).await?;
    let mut first = ts.raw_terminal(&link).await?;
    let _second = ts.raw_terminal(&link).await?;
    assert_eq!(first.closed().await?, Some(4000));
    // The replaced session's end does not take the terminal offline.
    let t = client.terminal(&link.poiid).await?;
    assert_eq!(t.status, TerminalStatus::Online);
    let c = client
        .create_interaction(&sale(&link.poiid, 100, "EUR"), None)
        .await?;
    assert_eq!(c.interaction.status, Status::Pending);
    Ok(())
}

#[tokio::test]
async fn a_cancel_is_forwarded_over_the_link_and_re_sent_after_a_reconnect() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();

    // In flight: the simulator at "Present card" agrees to cancel.
    let link = ts.link_terminal("700000016", false).await?;
    let _sim = ts.run_link_sim(&link).await?;
    client.test_helper(&link.poiid, "hold", None).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    client.get_interaction(&id, Some(10), Some(7)).await?;
    let answer = client.cancel(&id, Some(10)).await?;
    assert_eq!(answer.interaction.status, Status::Cancelled);
    assert_eq!(
        answer.interaction.cancel_reason,
        Some(poigate_domain::CancelReason::Api)
    );

    // Requested while the terminal is offline: sent when it is back.
    let device = ts.link_terminal("700000017", true).await?;
    let mut raw = ts.raw_terminal(&device).await?;
    let c = client
        .create_interaction(&sale(&device.poiid, 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    assert_eq!(raw.next_frame().await?["type"], "start");
    raw.report("acknowledged", &id, 1, json!({})).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    raw.drop_connection();
    eventually(WAIT, || async {
        let t = client.terminal(&device.poiid).await.ok()?;
        (t.status == TerminalStatus::Offline).then_some(())
    })
    .await?;
    let requested = client.cancel(&id, None).await?;
    assert_eq!(requested.interaction.status, Status::InProgress);
    assert!(requested.interaction.cancel_requested);
    let mut raw = RawTerminal::connect(
        &ts.link_url(),
        &device.device_key,
        &device.serial,
        &[(&id, 1)],
    )
    .await?;
    let cancel = raw.next_frame().await?;
    assert_eq!(cancel["type"], "cancel");
    assert_eq!(cancel["interaction"], id.as_str());
    raw.report(
        "result",
        &id,
        2,
        json!({"outcome": {"result": "cancelled", "reason": "api"}}),
    )
    .await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    assert_eq!(
        client.wait_final(&id, WAIT).await?.status,
        Status::Cancelled
    );
    Ok(())
}

/// A terminal sends its stage reports and its result without waiting for each ack; the
/// gateway stores them together (one write) and answers every one, in order, as it would
/// one by one: a re-sent report is a duplicate, a gap is refused and stores nothing.
#[tokio::test]
async fn a_burst_of_reports_is_answered_in_order_as_one_by_one() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000009", true).await?;
    let mut raw = ts.raw_terminal(&link).await?;
    let c = client
        .create_interaction(&sale(&link.poiid, 700, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    assert_eq!(raw.next_frame().await?["type"], "start");
    raw.report("acknowledged", &id, 1, json!({})).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");

    let stage = |m: &str| json!({ "message": m });
    let sent = raw
        .reports_together(&[
            ("stage", &id, 2, stage("Present card")),
            ("stage", &id, 3, stage("Card read")),
            ("stage", &id, 2, stage("Present card")),
            ("stage", &id, 5, stage("Skipping a number")),
            ("stage", &id, 4, stage("Processing")),
            (
                "result",
                &id,
                5,
                json!({"outcome": {"result": "approved", "auth_code": "B2C3D4",
                "card": {"bin": "476173", "last4": "0010", "brand": "visa", "entry_mode": "chip"}}}),
            ),
            ("stage", &id, 6, stage("Too late")),
        ])
        .await?;
    let mut answers = Vec::new();
    for _ in &sent {
        let a = raw.next_answer().await?;
        let what = match a["type"].as_str() {
            Some("ack") => a["status"].as_str().unwrap_or_default().to_string(),
            Some("error") => format!(
                "{}:{}",
                a["code"].as_str().unwrap_or_default(),
                a["expected_seq"]
            ),
            other => format!("{other:?}"),
        };
        answers.push((a["ref"].as_str().unwrap_or_default().to_string(), what));
    }
    let refs: Vec<&str> = answers.iter().map(|(r, _)| r.as_str()).collect();
    let want: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(refs, want, "answers come in the order of the reports");
    let statuses: Vec<&str> = answers.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "applied",
            "applied",
            "duplicate",
            "wrong_seq:4",
            "applied",
            "applied",
            "already_final"
        ]
    );
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Approved);
    let stored = events(&client, &id).await?;
    assert!(gap_free(&stored));
    let stages: Vec<String> = stored
        .iter()
        .filter(|e| e.kind == "stage")
        .filter_map(|e| e.message.clone())
        .collect();
    assert_eq!(stages, ["Present card", "Card read", "Processing"]);
    assert_eq!(stored.last().map(|e| e.kind.as_str()), Some("completed"));
    Ok(())
}
