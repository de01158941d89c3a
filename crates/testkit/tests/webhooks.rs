//! Webhooks end to end, against a real local receiver: order, signatures (checked with the
//! independent `standardwebhooks` implementation), retries on an injected clock, 410,
//! Retry-After, the SSRF guard, callbacks, rotation, redelivery.

use poigate_api::{
    CreateWebhookEndpointRequest, ListDeliveriesQuery, UpdateWebhookEndpointRequest,
};
use poigate_domain::CallbackSubscription;
use poigate_testkit::{
    Options, Received, Reply, TERMINALS, TestServer, WebhookReceiver, eventually, sale, within,
};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn endpoint(url: String, events: &[&str]) -> CreateWebhookEndpointRequest {
    CreateWebhookEndpointRequest {
        url,
        format: None,
        events: Some(events.iter().map(|e| e.to_string()).collect()),
        description: Some("tests".into()),
        enabled: None,
    }
}

/// Verifies a request with the reference implementation of the Standard Webhooks spec.
fn verify(request: &Received, secret: &str) -> Result<(), String> {
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let value = request.header(name).ok_or(format!("missing {name}"))?;
        headers.insert(name, value.parse().map_err(|_| "bad header".to_string())?);
    }
    standardwebhooks::Webhook::new(secret)
        .map_err(|e| e.to_string())?
        .verify(&request.body, &headers)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn every_status_change_arrives_in_order_and_signed() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let receiver = WebhookReceiver::start().await?;
    let created = client
        .create_webhook_endpoint(&endpoint(
            receiver.url("/hooks"),
            &["interaction.updated", "interaction.completed"],
        ))
        .await?;
    let secret = created
        .secret
        .clone()
        .expect("the secret is shown at creation");
    assert!(secret.starts_with("whsec_"));
    assert!(
        client
            .webhook_endpoint(&created.id.to_string())
            .await?
            .secret
            .is_none(),
        "shown once"
    );

    let mut ids = Vec::new();
    for value in [1000, 1124] {
        let c = client
            .create_interaction(&sale(TERMINALS[0], value, "EUR"), None)
            .await?;
        client
            .wait_final(&c.interaction.id.to_string(), WAIT)
            .await?;
        ids.push(c.interaction.id.to_string());
    }
    // Per interaction: updated (pending), updated (in_progress), updated (final), completed.
    let got = receiver.wait_for(8, WAIT).await?;
    for (id, final_status) in ids.iter().zip(["approved", "declined"]) {
        let mine: Vec<&Received> = got
            .iter()
            .filter(|r| r.json()["data"]["id"] == id.as_str())
            .collect();
        let seen: Vec<(String, String)> = mine
            .iter()
            .map(|r| {
                (
                    r.event_type(),
                    r.json()["data"]["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("interaction.updated".to_string(), "pending".to_string()),
                ("interaction.updated".to_string(), "in_progress".to_string()),
                ("interaction.updated".to_string(), final_status.to_string()),
                (
                    "interaction.completed".to_string(),
                    final_status.to_string()
                ),
            ],
            "{id}"
        );
        for r in &mine {
            verify(r, &secret)
                .map_err(|e| anyhow::anyhow!("signature of {:?}: {e}", r.header("webhook-id")))?;
            let body = r.json();
            assert_eq!(
                body["id"].as_str(),
                r.header("webhook-id"),
                "envelope id = webhook-id"
            );
            assert!(body["created_at"].is_string());
            assert_eq!(r.path, "/hooks");
        }
        let completed = mine.last().expect("completed").json();
        assert!(
            completed["data"]["transaction"]["id"].is_string(),
            "the final state carries the transaction"
        );
    }
    // A wrong secret does not verify.
    assert!(verify(&got[0], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
    // The delivery log shows one successful attempt each (once the last one is recorded).
    let log = eventually(WAIT, || async {
        let log = client
            .deliveries(&ListDeliveriesQuery {
                limit: Some(100),
                ..Default::default()
            })
            .await
            .ok()?;
        log.data
            .iter()
            .all(|d| d.status == "succeeded")
            .then_some(log)
    })
    .await?;
    assert_eq!(log.data.len(), 8);
    assert!(
        log.data
            .iter()
            .all(|d| d.status == "succeeded" && d.attempts.len() == 1)
    );
    assert!(
        log.data
            .iter()
            .all(|d| d.attempts[0].status_code == Some(200))
    );
    let completed_only = client
        .deliveries(&ListDeliveriesQuery {
            event: Some("interaction.completed".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(completed_only.data.len(), 2);
    Ok(())
}

#[tokio::test]
async fn failed_attempts_are_retried_on_schedule_with_the_same_webhook_id() -> anyhow::Result<()> {
    let (ts, clock) = TestServer::start_with_manual_clock().await?;
    let client = ts.client();
    let receiver = WebhookReceiver::start().await?;
    receiver.script([Reply::Status(500), Reply::Status(500)]);
    client
        .create_webhook_endpoint(&endpoint(
            receiver.url("/retry"),
            &["interaction.completed"],
        ))
        .await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    within(
        WAIT,
        "the sale's end (long-poll on the manual clock)",
        client.wait_final(&c.interaction.id.to_string(), WAIT),
    )
    .await?;

    let first = receiver.wait_for(1, WAIT).await?;
    let log = eventually(WAIT, || async {
        let d = client.deliveries(&Default::default()).await.ok()?;
        d.data
            .into_iter()
            .find(|d| d.attempts.len() == 1 && d.next_attempt_at.is_some())
    })
    .await?;
    assert_eq!(log.status, "pending");
    // Nothing happens until the clock moves: the schedule is 5 s (±10 %), then 5 min.
    assert_eq!(receiver.received().len(), 1);
    clock.advance(Duration::from_secs(6));
    receiver.wait_for(2, WAIT).await?;
    // Advance only once the second attempt is recorded (its retry time is computed from the
    // clock at that moment).
    eventually(WAIT, || async {
        let d = client.delivery(&log.id.to_string()).await.ok()?;
        (d.attempts.len() == 2).then_some(())
    })
    .await?;
    clock.advance(Duration::from_secs(331));
    let all = receiver.wait_for(3, WAIT).await?;
    let ids: Vec<Option<&str>> = all.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|id| *id == first[0].header("webhook-id")),
        "{ids:?}"
    );
    let done = eventually(WAIT, || async {
        let d = client.delivery(&log.id.to_string()).await.ok()?;
        (d.status == "succeeded").then_some(d)
    })
    .await?;
    let codes: Vec<Option<u16>> = done.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, vec![Some(500), Some(500), Some(200)]);
    assert_eq!(done.attempts[0].error.as_deref(), Some("HTTP 500"));
    assert!(
        done.attempts
            .windows(2)
            .all(|w| w[0].started_at < w[1].started_at)
    );
    Ok(())
}

#[tokio::test]
async fn retry_after_is_honoured_and_410_disables_the_endpoint() -> anyhow::Result<()> {
    let (ts, clock) = TestServer::start_with_manual_clock().await?;
    let client = ts.client();
    let receiver = WebhookReceiver::start().await?;
    receiver.script([Reply::RetryAfter(503, 120), Reply::Status(410)]);
    let e = client
        .create_webhook_endpoint(&endpoint(receiver.url("/busy"), &["interaction.completed"]))
        .await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    within(
        WAIT,
        "the sale's end (long-poll on the manual clock)",
        client.wait_final(&c.interaction.id.to_string(), WAIT),
    )
    .await?;
    receiver.wait_for(1, WAIT).await?;
    let pending = eventually(WAIT, || async {
        let d = client.deliveries(&Default::default()).await.ok()?;
        d.data.into_iter().find(|d| d.attempts.len() == 1)
    })
    .await?;
    let due = pending.next_attempt_at.expect("scheduled");
    assert!(
        due.millis_since(pending.attempts[0].started_at) >= 120_000,
        "Retry-After: 120 beats the 5 s schedule: {pending:?}"
    );
    clock.advance(Duration::from_secs(60));
    let early = receiver.received();
    assert_eq!(
        early.len(),
        1,
        "{:?}",
        early
            .iter()
            .map(|r| (r.event_type(), r.header("webhook-id").map(String::from)))
            .collect::<Vec<_>>()
    );
    clock.advance(Duration::from_secs(61));
    receiver.wait_for(2, WAIT).await?;
    let disabled = eventually(WAIT, || async {
        let e = client.webhook_endpoint(&e.id.to_string()).await.ok()?;
        (!e.enabled).then_some(e)
    })
    .await?;
    assert!(disabled.disabled_reason.is_some_and(|r| r.contains("410")));
    // Disabled: a new event is not sent.
    let c = client
        .create_interaction(&sale(TERMINALS[0], 2000, "EUR"), None)
        .await?;
    within(
        WAIT,
        "the sale's end (long-poll on the manual clock)",
        client.wait_final(&c.interaction.id.to_string(), WAIT),
    )
    .await?;
    clock.advance(Duration::from_secs(3600));
    let gone = client
        .deliveries(&ListDeliveriesQuery {
            endpoint: Some(e.id.to_string()),
            ..Default::default()
        })
        .await?;
    assert_eq!(gone.data.len(), 1, "nothing new for a disabled endpoint");
    assert_eq!(gone.data[0].status, "failed");
    // Re-enabled, it receives again.
    client
        .update_webhook_endpoint(
            &e.id.to_string(),
            &UpdateWebhookEndpointRequest {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 3000, "EUR"), None)
        .await?;
    within(
        WAIT,
        "the sale's end (long-poll on the manual clock)",
        client.wait_final(&c.interaction.id.to_string(), WAIT),
    )
    .await?;
    receiver.wait_for(3, WAIT).await?;
    Ok(())
}

#[tokio::test]
async fn the_ssrf_guard_refuses_private_targets_unless_allowed() -> anyhow::Result<()> {
    let ts = TestServer::start_with(Options {
        webhooks_allow_private: false,
        ..Options::default()
    })
    .await?;
    let client = ts.client();
    let receiver = WebhookReceiver::start().await?;
    for url in [
        receiver.url("/x"),
        "http://localhost:9/x".to_string(),
        "http://169.254.169.254/latest".to_string(),
        "http://[::1]:9/".to_string(),
    ] {
        let err = client
            .create_webhook_endpoint(&endpoint(url.clone(), &["*"]))
            .await
            .expect_err("refused");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{url}");
        match &err {
            poigate_testkit::poigate_client::ClientError::Api { problem, .. } => {
                assert!(
                    problem
                        .errors
                        .iter()
                        .any(|e| e.code == "target_not_allowed"),
                    "{url}: {problem:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    let mut body = sale(TERMINALS[0], 1000, "EUR");
    body.webhooks = Some(vec![CallbackSubscription {
        url: receiver.url("/cb"),
        events: vec!["*".into()],
        format: None,
    }]);
    let err = client
        .create_interaction(&body, None)
        .await
        .expect_err("refused callback");
    assert_eq!(err.code(), Some("invalid_request"));
    // A public URL is accepted (it is not called in this test).
    client
        .create_webhook_endpoint(&endpoint(
            "https://hooks.example.com/poigate".into(),
            &["*"],
        ))
        .await?;
    Ok(())
}

#[tokio::test]
async fn callbacks_terminal_events_rotation_and_redelivery() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let receiver = WebhookReceiver::start().await?;
    // Per-interaction callbacks, signed with the merchant's callback secret.
    let mut body = sale(TERMINALS[1], 1500, "EUR");
    body.webhooks = Some(vec![CallbackSubscription {
        url: receiver.url("/cb"),
        events: vec!["interaction.completed".into()],
        format: None,
    }]);
    let c = client.create_interaction(&body, None).await?;
    client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    let got = receiver.wait_for(1, WAIT).await?;
    assert_eq!(got[0].path, "/cb");
    assert_eq!(got[0].event_type(), "interaction.completed");
    let callback_secret = client
        .callback_secret()
        .await?
        .secrets
        .pop()
        .expect("secret")
        .secret;
    verify(&got[0], &callback_secret).map_err(|e| anyhow::anyhow!(e))?;

    // Terminal online/offline.
    let e = client
        .create_webhook_endpoint(&endpoint(
            receiver.url("/terminals"),
            &["terminal.online", "terminal.offline"],
        ))
        .await?;
    client.test_helper(TERMINALS[2], "disconnect", None).await?;
    client.test_helper(TERMINALS[2], "connect", None).await?;
    let got = receiver.wait_for(3, WAIT).await?;
    let kinds: Vec<String> = got[1..].iter().map(Received::event_type).collect();
    assert_eq!(kinds, ["terminal.offline", "terminal.online"]);
    assert_eq!(got[1].json()["data"]["status"], "offline");
    assert_eq!(got[1].json()["data"]["poiid"], TERMINALS[2]);

    // Rotation: both secrets sign during the overlap.
    let old = e.secret.clone().expect("secret");
    let rotated = client
        .rotate_webhook_secret(&e.id.to_string(), Some(3600))
        .await?;
    let new = rotated.secret.expect("new secret");
    assert_ne!(old, new);
    assert_eq!(
        client
            .webhook_secret(&e.id.to_string())
            .await?
            .secrets
            .len(),
        2
    );
    client.test_helper(TERMINALS[2], "disconnect", None).await?;
    let got = receiver.wait_for(4, WAIT).await?;
    let last = got.last().expect("request");
    assert_eq!(
        last.header("webhook-signature")
            .map(|s| s.split(' ').count()),
        Some(2)
    );
    verify(last, &old).map_err(|e| anyhow::anyhow!("old secret: {e}"))?;
    verify(last, &new).map_err(|e| anyhow::anyhow!("new secret: {e}"))?;

    // Redelivery: the same message again, same webhook-id (once the first attempt is recorded).
    let log = eventually(WAIT, || async {
        let log = client
            .deliveries(&ListDeliveriesQuery {
                endpoint: Some(e.id.to_string()),
                limit: Some(1),
                ..Default::default()
            })
            .await
            .ok()?;
        (log.data.first()?.status == "succeeded").then_some(log)
    })
    .await?;
    let again = client.redeliver(&log.data[0].id.to_string()).await?;
    assert_eq!(again.status, "pending");
    let got = receiver.wait_for(5, WAIT).await?;
    assert_eq!(got[4].header("webhook-id"), got[3].header("webhook-id"));
    let done = eventually(WAIT, || async {
        let d = client.delivery(&log.data[0].id.to_string()).await.ok()?;
        (d.status == "succeeded" && d.attempts.len() == 2).then_some(d)
    })
    .await?;
    assert_eq!(done.attempts.len(), 2);
    // Deleting the endpoint: it is gone, other merchants never saw it.
    client.delete_webhook_endpoint(&e.id.to_string()).await?;
    assert_eq!(
        client
            .webhook_endpoint(&e.id.to_string())
            .await
            .expect_err("deleted")
            .code(),
        Some("not_found")
    );
    let other = ts.other_merchant("Other").await?;
    assert!(other.deliveries(&Default::default()).await?.data.is_empty());
    assert_eq!(
        other
            .delivery(&log.data[0].id.to_string())
            .await
            .expect_err("scoped")
            .code(),
        Some("not_found")
    );
    Ok(())
}

#[tokio::test]
async fn a_slow_endpoint_never_delays_the_others() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let slow = WebhookReceiver::start().await?;
    let fast = WebhookReceiver::start().await?;
    slow.stall(true);
    client
        .create_webhook_endpoint(&endpoint(slow.url("/slow"), &["*"]))
        .await?;
    client
        .create_webhook_endpoint(&endpoint(
            fast.url("/fast"),
            &["interaction.updated", "interaction.completed"],
        ))
        .await?;
    for (i, value) in [1000, 2000, 3000].into_iter().enumerate() {
        let c = client
            .create_interaction(&sale(TERMINALS[i], value, "EUR"), None)
            .await?;
        client
            .wait_final(&c.interaction.id.to_string(), WAIT)
            .await?;
    }
    // Three interactions x four events reach the fast endpoint while the slow one hangs.
    let got = fast.wait_for(12, WAIT).await?;
    assert_eq!(got.len(), 12);
    assert!(slow.received().is_empty());
    slow.stall(false);
    slow.wait_for(12, WAIT).await?;
    Ok(())
}

/// An endpoint receives the events committed after it exists; what happened before it was
/// created (when nobody listened, so nothing was kept to send) never arrives.
#[tokio::test]
async fn an_endpoint_receives_the_events_after_it_exists() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let receiver = WebhookReceiver::start().await?;
    let before = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let before = before.interaction.id.to_string();
    client.wait_final(&before, WAIT).await?;
    client
        .create_webhook_endpoint(&endpoint(
            receiver.url("/after"),
            &["interaction.completed"],
        ))
        .await?;
    let after = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let after = after.interaction.id.to_string();
    client.wait_final(&after, WAIT).await?;
    let got = receiver.wait_for(1, WAIT).await?;
    assert_eq!(got[0].json()["data"]["id"], after.as_str());
    // The completed event of the first sale was not kept: the delivery log has one entry.
    let log = client.deliveries(&ListDeliveriesQuery::default()).await?;
    let subjects: Vec<String> = log.data.iter().map(|d| d.subject.clone()).collect();
    assert_eq!(subjects, [after]);
    Ok(())
}

/// "Send a test event": one signed `webhook.test` message to the endpoint asked for, now,
/// answered with what the receiver did; nothing in the delivery log, nothing to other
/// endpoints, refused targets refused like deliveries.
#[tokio::test]
async fn a_test_event_reaches_only_its_endpoint_signed_and_says_what_the_receiver_did()
-> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let receiver = WebhookReceiver::start().await?;
    let other = WebhookReceiver::start().await?;
    let created = client
        .create_webhook_endpoint(&endpoint(receiver.url("/hooks"), &["*"]))
        .await?;
    client
        .create_webhook_endpoint(&endpoint(other.url("/other"), &["*"]))
        .await?;
    let secret = created.secret.clone().expect("the secret at creation");
    let id = created.id.to_string();
    let test = |id: String| {
        let http = ts.http();
        let url = format!("{}/v1/webhook-endpoints/{id}/test", ts.url());
        let key = ts.key().to_string();
        async move {
            let r = http.post(url).bearer_auth(key).send().await?;
            let status = r.status().as_u16();
            anyhow::Ok((status, r.json::<serde_json::Value>().await?))
        }
    };

    let (status, answer) = test(id.clone()).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["delivered"], &answer["status"], &answer["endpoint"]),
        (
            &serde_json::json!(true),
            &serde_json::json!(200),
            &serde_json::json!(id)
        )
    );
    let got = receiver.wait_for(1, WAIT).await?;
    let request = &got[0];
    verify(request, &secret).map_err(anyhow::Error::msg)?;
    assert_eq!(request.event_type(), "webhook.test");
    assert_eq!(request.header("webhook-id"), answer["webhook_id"].as_str());
    assert_eq!(request.json()["data"]["endpoint"], id.as_str());
    assert!(other.received().is_empty(), "only the endpoint asked for");
    let log = client.deliveries(&ListDeliveriesQuery::default()).await?;
    assert!(
        log.data.is_empty(),
        "a test event is not a delivery: {:?}",
        log.data
    );

    // The receiver's failure is the answer, not an error of the request.
    receiver.script([Reply::Status(500)]);
    let (status, answer) = test(id.clone()).await?;
    assert_eq!(status, 200);
    assert_eq!(
        (&answer["delivered"], &answer["status"], &answer["error"]),
        (
            &serde_json::json!(false),
            &serde_json::json!(500),
            &serde_json::json!("HTTP 500")
        )
    );
    // Unknown endpoints are not found.
    let (status, _) = test("whe_01a229da20757ce094f0e8de832de258".into()).await?;
    assert_eq!(status, 404);
    Ok(())
}

/// A test event obeys the SSRF guard like a delivery: a private target is refused without a
/// request when private targets are not allowed.
#[tokio::test]
async fn a_test_event_to_a_refused_target_is_refused() -> anyhow::Result<()> {
    let ts = TestServer::start_with(Options {
        webhooks_allow_private: true,
        ..Options::default()
    })
    .await?;
    let receiver = WebhookReceiver::start().await?;
    let created = ts
        .client()
        .create_webhook_endpoint(&endpoint(receiver.url("/hooks"), &["*"]))
        .await?;
    // The same database served by a gateway that refuses private targets.
    let mut strict = ts;
    strict.set_webhooks_allow_private(false);
    strict.restart().await?;
    let r = strict
        .http()
        .post(format!(
            "{}/v1/webhook-endpoints/{}/test",
            strict.url(),
            created.id
        ))
        .bearer_auth(strict.key())
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await?;
    assert_eq!(answer["delivered"], false);
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("refused"),
        "{answer}"
    );
    assert!(receiver.received().is_empty() && receiver.arrived().is_empty());
    Ok(())
}
