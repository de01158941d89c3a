//! Long-poll timing, lookup after a lost response, idempotency, tenant isolation, restart.

use poigate_api::{ListEventsQuery, ListInteractionsQuery};
use poigate_domain::Status;
use poigate_testkit::{TERMINALS, TestServer, sale};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn long_poll_returns_promptly_after_the_final_state_and_at_once_when_final()
-> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    client.test_helper(TERMINALS[0], "hold", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    client.get_interaction(&id, Some(10), Some(7)).await?;
    let poller = {
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let state = client.get_interaction(&id, Some(30), None).await;
            (started.elapsed(), state)
        })
    };
    // The long-poll is parked: it has not answered while the terminal holds.
    let parked = client.get_interaction(&id, None, None).await?;
    assert!(!parked.is_final);
    assert!(!poller.is_finished());
    client
        .test_helper(TERMINALS[0], "present-card", None)
        .await?;
    let (elapsed, state) = poller.await?;
    let state = state?;
    assert!(
        state.is_final,
        "the long-poll answered with the final state"
    );
    assert!(
        elapsed < Duration::from_secs(15),
        "answered after {elapsed:?}, well before 30 s"
    );
    let started = Instant::now();
    let again = client.get_interaction(&id, Some(30), None).await?;
    assert!(again.is_final);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a final interaction answers at once"
    );
    // wait above the maximum is refused clearly.
    let err = client
        .get_interaction(&id, Some(61), None)
        .await
        .expect_err("max 60");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    Ok(())
}

#[tokio::test]
async fn a_pos_that_lost_the_response_finds_its_interaction() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let mut body = sale(TERMINALS[0], 4200, "EUR");
    body.sale_id = Some("till-7".into());
    body.service_id = Some("svc-00042".into());
    body.reference = Some("order-42".into());
    let created = client.create_interaction(&body, None).await?;
    // ... the response is "lost"; the POS looks up by its own references.
    let by_service = client
        .lookup(&ListInteractionsQuery {
            sale_id: Some("till-7".into()),
            service_id: Some("svc-00042".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(by_service.data.len(), 1);
    assert_eq!(by_service.data[0].id, created.interaction.id);
    let by_reference = client
        .lookup(&ListInteractionsQuery {
            reference: Some("order-42".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(by_reference.data[0].id, created.interaction.id);
    let none = client
        .lookup(&ListInteractionsQuery {
            reference: Some("order-43".into()),
            ..Default::default()
        })
        .await?;
    assert!(none.data.is_empty());
    // Sending the same request again is safe: the natural key replays the original answer.
    let replay = client.create_interaction(&body, None).await?;
    assert!(replay.replayed);
    assert_eq!(replay.interaction.id, created.interaction.id);
    // Paging by terminal, newest first.
    for v in [100, 200, 300] {
        let c = client
            .create_interaction(&sale(TERMINALS[1], v, "EUR"), None)
            .await?;
        client
            .wait_final(&c.interaction.id.to_string(), WAIT)
            .await?;
    }
    let page1 = client
        .lookup(&ListInteractionsQuery {
            terminal: Some(TERMINALS[1].into()),
            limit: Some(2),
            ..Default::default()
        })
        .await?;
    assert_eq!(page1.data.len(), 2);
    assert!(page1.has_more);
    assert_eq!(page1.data[0].amount.value(), 300);
    let page2 = client
        .lookup(&ListInteractionsQuery {
            terminal: Some(TERMINALS[1].into()),
            limit: Some(2),
            cursor: page1.next_cursor.clone(),
            ..Default::default()
        })
        .await?;
    assert_eq!(page2.data.len(), 1);
    assert_eq!(page2.data[0].amount.value(), 100);
    assert!(!page2.has_more);
    let approved = client
        .lookup(&ListInteractionsQuery {
            status: Some("approved".into()),
            terminal: Some(TERMINALS[1].into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(approved.data.len(), 3);
    Ok(())
}

#[tokio::test]
async fn idempotency_key_replays_refuses_mismatch_and_never_creates_twice() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let body = sale(TERMINALS[0], 1500, "EUR");
    let first = client
        .create_interaction(&body, Some("order-1-attempt"))
        .await?;
    assert!(!first.replayed);
    client
        .wait_final(&first.interaction.id.to_string(), WAIT)
        .await?;
    let again = client
        .create_interaction(&body, Some("order-1-attempt"))
        .await?;
    assert!(again.replayed);
    assert_eq!(
        again.interaction, first.interaction,
        "the original answer, byte for byte"
    );
    let mut other = body.clone();
    other.amount.value = 1600;
    let err = client
        .create_interaction(&other, Some("order-1-attempt"))
        .await
        .expect_err("same key, different body");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(422));
    assert_eq!(err.code(), Some("idempotency_mismatch"));

    // Many concurrent retries of one request: one interaction, the rest replays or 409.
    let body = sale(TERMINALS[1], 2500, "EUR");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = client.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            client.create_interaction(&body, Some("burst-key")).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        match t.await? {
            Ok(r) => {
                ids.insert(r.interaction.id);
            }
            Err(e) => assert_eq!(e.code(), Some("idempotency_in_progress"), "{e}"),
        }
    }
    assert_eq!(ids.len(), 1, "one interaction for one idempotency key");
    let all = client
        .lookup(&ListInteractionsQuery {
            terminal: Some(TERMINALS[1].into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(all.data.len(), 1);
    Ok(())
}

#[tokio::test]
async fn another_merchant_sees_nothing_of_merchant_a() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let a = ts.client();
    let b = ts.other_merchant("Merchant B").await?;
    let mut body = sale(TERMINALS[0], 1000, "EUR");
    body.sale_id = Some("till-1".into());
    body.service_id = Some("s1".into());
    body.reference = Some("shared-ref".into());
    let c = a.create_interaction(&body, None).await?;
    let id = c.interaction.id.to_string();
    let done = a.wait_final(&id, WAIT).await?;
    let txn = done.transaction.expect("transaction").id.to_string();

    let not_found = |r: Result<(), poigate_testkit::poigate_client::ClientError>| {
        let e = r.expect_err("must not be visible");
        assert_eq!(e.status().map(|s| s.as_u16()), Some(404), "{e}");
        assert_eq!(e.code(), Some("not_found"));
    };
    not_found(b.get_interaction(&id, None, None).await.map(|_| ()));
    not_found(b.get_interaction(&id, Some(5), None).await.map(|_| ()));
    not_found(
        b.list_events(&id, &ListEventsQuery::default())
            .await
            .map(|_| ()),
    );
    not_found(b.cancel(&id, None).await.map(|_| ()));
    not_found(b.transaction(&txn).await.map(|_| ()));
    not_found(b.terminal(TERMINALS[0]).await.map(|_| ()));
    let stream = ts
        .http()
        .get(format!("{}/v1/interactions/{id}/events/stream", ts.url()))
        .bearer_auth(b.api_key())
        .send()
        .await?;
    assert_eq!(stream.status(), 404);
    for q in [
        ListInteractionsQuery {
            sale_id: Some("till-1".into()),
            service_id: Some("s1".into()),
            ..Default::default()
        },
        ListInteractionsQuery {
            reference: Some("shared-ref".into()),
            ..Default::default()
        },
        ListInteractionsQuery::default(),
    ] {
        assert!(b.lookup(&q).await?.data.is_empty(), "lookup {q:?} leaks");
    }
    // B using A's terminal reference gets "no such terminal", not A's terminal.
    let err = b
        .create_interaction(&sale(TERMINALS[0], 100, "EUR"), None)
        .await
        .expect_err("not B's");
    assert_eq!(err.code(), Some("terminal_not_found"));
    // A still sees everything.
    assert_eq!(
        a.get_interaction(&id, None, None).await?.status,
        Status::Approved
    );
    Ok(())
}

#[tokio::test]
async fn unknown_and_revoked_keys_get_the_same_401() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let url = format!("{}/v1/terminals", ts.url());
    let http = ts.http();
    let missing = http.get(&url).send().await?;
    assert_eq!(missing.status(), 401);
    assert!(missing.headers().contains_key("www-authenticate"));
    // One request id for both, so that their bodies (which carry it) can be compared whole.
    let unknown = http
        .get(&url)
        .bearer_auth("pg_test_0000000000000000000000000000000000000000")
        .header("x-request-id", "same-401")
        .send()
        .await?;
    let unknown_body = unknown.text().await?;
    let caller = ts
        .engine()
        .admin()
        .authenticate(ts.key())
        .await?
        .expect("valid key");
    assert!(
        ts.engine()
            .admin()
            .revoke_api_key(caller.merchant_id, caller.key_id)
            .await?
    );
    let revoked = http
        .get(&url)
        .bearer_auth(ts.key())
        .header("x-request-id", "same-401")
        .send()
        .await?;
    assert_eq!(revoked.status(), 401);
    assert_eq!(
        revoked.text().await?,
        unknown_body,
        "revoked and unknown keys are indistinguishable"
    );
    Ok(())
}

#[tokio::test]
async fn a_restarted_server_serves_every_interaction_and_event() -> anyhow::Result<()> {
    let mut ts = TestServer::start().await?;
    let client = ts.client();
    let mut before = Vec::new();
    for value in [1000, 1124, 1500] {
        let c = client
            .create_interaction(&sale(TERMINALS[0], value, "EUR"), None)
            .await?;
        let id = c.interaction.id.to_string();
        let done = client.wait_final(&id, WAIT).await?;
        let events = client
            .list_events(
                &id,
                &ListEventsQuery {
                    limit: Some(1000),
                    ..Default::default()
                },
            )
            .await?;
        before.push((id, done, events.data));
    }
    // One still live on a held terminal: it survives the restart too.
    client.test_helper(TERMINALS[1], "hold", None).await?;
    let live = client
        .create_interaction(&sale(TERMINALS[1], 777, "EUR"), None)
        .await?;
    let live_id = live.interaction.id.to_string();
    client.get_interaction(&live_id, Some(10), Some(7)).await?;

    ts.restart().await?;
    let client = ts.client();
    for (id, done, events) in &before {
        assert_eq!(&client.get_interaction(id, None, None).await?, done);
        let after = client
            .list_events(
                id,
                &ListEventsQuery {
                    limit: Some(1000),
                    ..Default::default()
                },
            )
            .await?;
        assert_eq!(&after.data, events);
    }
    // The live interaction resumes on its (simulated) terminal and completes.
    let resumed = client.wait_final(&live_id, WAIT).await?;
    assert_eq!(resumed.status, Status::Approved);
    let events = client
        .list_events(
            &live_id,
            &ListEventsQuery {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await?
        .data;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    Ok(())
}

/// `created_after` / `created_before` on the interaction list: a time range, alone or with
/// the other filters and a cursor; a malformed time is a 400 naming the parameter.
#[tokio::test]
async fn the_list_takes_a_creation_time_range() -> anyhow::Result<()> {
    let (ts, clock) = TestServer::start_with_manual_clock().await?;
    let client = ts.client();
    let mut ids = Vec::new();
    let mut times = Vec::new();
    for terminal in TERMINALS {
        times.push(ts.engine().now());
        let c = client
            .create_interaction(&sale(terminal, 700, "EUR"), None)
            .await?;
        ids.push(c.interaction.id.to_string());
        clock.advance(Duration::from_secs(86_400));
    }
    let list = |after: Option<String>, before: Option<String>| {
        let client = client.clone();
        async move {
            let found = client
                .lookup(&ListInteractionsQuery {
                    created_after: after,
                    created_before: before,
                    ..Default::default()
                })
                .await?;
            anyhow::Ok(
                found
                    .data
                    .into_iter()
                    .map(|i| i.id.to_string())
                    .collect::<Vec<_>>(),
            )
        }
    };
    let day = |n: usize| times[n].to_rfc3339();
    assert_eq!(
        list(Some(day(1)), None).await?,
        vec![ids[2].clone(), ids[1].clone()]
    );
    assert_eq!(list(None, Some(day(1))).await?, vec![ids[0].clone()]);
    assert_eq!(
        list(Some(day(1)), Some(day(2))).await?,
        vec![ids[1].clone()]
    );
    assert!(
        list(Some(day(2)), Some(day(1))).await?.is_empty(),
        "an empty range"
    );
    // With a cursor, the lower bound of both applies.
    let page = client
        .lookup(&ListInteractionsQuery {
            created_before: Some(day(2)),
            cursor: Some(ids[1].clone()),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        page.data
            .iter()
            .map(|i| i.id.to_string())
            .collect::<Vec<_>>(),
        vec![ids[0].clone()]
    );
    let err = client
        .lookup(&ListInteractionsQuery {
            created_after: Some("yesterday".into()),
            ..Default::default()
        })
        .await
        .expect_err("a malformed time");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    match &err {
        poigate_testkit::poigate_client::ClientError::Api { problem, .. } => {
            assert!(
                problem.errors.iter().any(|e| e.field == "created_after"),
                "{problem:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}
