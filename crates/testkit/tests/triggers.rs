//! Test triggers, test helpers, and the busy and offline rules, over real HTTP.

use poigate_api::PresentCardRequest;
use poigate_domain::{CancelReason, DeclineReason, Outcome, Status};
use poigate_testkit::{TERMINALS, TestServer, eventually, sale};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn each_amount_trigger_declines_with_its_reason() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let table = [
        (1124, DeclineReason::InsufficientFunds),
        (125, DeclineReason::CardBlocked),
        (2126, DeclineReason::CardExpired),
        (127, DeclineReason::InvalidAmount),
        (128, DeclineReason::InvalidCard),
        (10134, DeclineReason::PinIncorrect),
    ];
    for (value, expected) in table {
        let created = client
            .create_interaction(&sale(TERMINALS[0], value, "EUR"), None)
            .await?;
        let done = client
            .wait_final(&created.interaction.id.to_string(), WAIT)
            .await?;
        assert_eq!(done.status, Status::Declined, "amount {value}");
        match &done.outcome {
            Some(Outcome::Declined { reason, message }) => {
                assert_eq!(*reason, expected, "amount {value}");
                assert!(!message.is_empty());
            }
            other => panic!("amount {value}: expected a decline, got {other:?}"),
        }
        let txn = done
            .transaction
            .expect("a decline has a transaction record");
        assert_eq!(txn.decline_reason, Some(expected));
        assert!(txn.auth_code.is_none());
        assert!(
            txn.receipts
                .customer
                .expect("receipt")
                .text
                .contains("DECLINED")
        );
    }
    Ok(())
}

#[tokio::test]
async fn test_helpers_give_terminal_cancel_timeout_and_card_declines() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();

    // Armed while idle: applies to the next interaction.
    let armed = client.test_helper(TERMINALS[0], "cancel", None).await?;
    assert_eq!(armed.applied_to, "next");
    let c = client
        .create_interaction(&sale(TERMINALS[0], 500, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.cancel_reason, Some(CancelReason::Terminal));
    assert!(done.transaction.is_none());

    client.test_helper(TERMINALS[0], "timeout", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 500, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.cancel_reason, Some(CancelReason::Timeout));

    let card = PresentCardRequest {
        outcome: Some("decline".into()),
        brand: Some(poigate_domain::CardBrand::Mastercard),
        entry_mode: Some(poigate_domain::EntryMode::Contactless),
        cvm: Some(poigate_domain::Cvm::None),
    };
    client
        .test_helper(TERMINALS[0], "present-card", Some(&card))
        .await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 500, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert!(matches!(
        done.outcome,
        Some(Outcome::Declined {
            reason: DeclineReason::Refused,
            ..
        })
    ));
    let txn = done.transaction.expect("transaction");
    assert_eq!(
        txn.card.expect("card").brand(),
        poigate_domain::CardBrand::Mastercard
    );

    // Applied to the interaction in progress: hold at "Present card", then act.
    client.test_helper(TERMINALS[1], "hold", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[1], 700, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    let waiting = client.get_interaction(&id, Some(10), Some(7)).await?;
    assert_eq!(waiting.status, Status::InProgress);
    let now = client.test_helper(TERMINALS[1], "timeout", None).await?;
    assert_eq!(now.applied_to, "current");
    assert_eq!(now.interaction, Some(c.interaction.id));
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.cancel_reason, Some(CancelReason::Timeout));
    Ok(())
}

#[tokio::test]
async fn a_busy_terminal_refuses_a_second_request_naming_the_first() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    client.test_helper(TERMINALS[0], "hold", None).await?;
    let first = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let err = client
        .create_interaction(&sale(TERMINALS[0], 2000, "EUR"), None)
        .await
        .expect_err("the terminal is busy");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409));
    assert_eq!(err.code(), Some("terminal_busy"));
    match &err {
        poigate_testkit::poigate_client::ClientError::Api { problem, .. } => {
            assert_eq!(problem.blocking_interaction, Some(first.interaction.id));
        }
        other => panic!("expected a problem, got {other:?}"),
    }
    // The terminal shows busy with that interaction; another terminal is free.
    let t = client.terminal(TERMINALS[0]).await?;
    assert_eq!(t.status, poigate_domain::TerminalStatus::Busy);
    assert_eq!(t.active_interaction, Some(first.interaction.id));
    client
        .create_interaction(&sale(TERMINALS[1], 2000, "EUR"), None)
        .await?;
    // Once the first is final the terminal takes work again.
    client
        .test_helper(TERMINALS[0], "present-card", None)
        .await?;
    client
        .wait_final(&first.interaction.id.to_string(), WAIT)
        .await?;
    let again = client
        .create_interaction(&sale(TERMINALS[0], 3000, "EUR"), None)
        .await?;
    assert_eq!(again.interaction.status, Status::Pending);
    Ok(())
}

#[tokio::test]
async fn an_offline_terminal_refuses_at_once_and_comes_back() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    client.test_helper(TERMINALS[2], "disconnect", None).await?;
    let t = client.terminal(TERMINALS[2]).await?;
    assert_eq!(t.status, poigate_domain::TerminalStatus::Offline);
    let err = client
        .create_interaction(&sale(TERMINALS[2], 1000, "EUR"), None)
        .await
        .expect_err("offline");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409));
    assert_eq!(err.code(), Some("terminal_offline"));
    client.test_helper(TERMINALS[2], "connect", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[2], 1000, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status, Status::Approved);
    Ok(())
}

#[tokio::test]
async fn a_terminal_that_drops_mid_interaction_completes_with_its_own_outcome() -> anyhow::Result<()>
{
    let ts = TestServer::start().await?;
    let client = ts.client();
    client.test_helper(TERMINALS[0], "hold", None).await?;
    let c = client
        .create_interaction(&sale(TERMINALS[0], 1000, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    client.get_interaction(&id, Some(10), Some(7)).await?;
    client.test_helper(TERMINALS[0], "disconnect", None).await?;
    // The cardholder presents the card while the terminal is offline.
    client
        .test_helper(TERMINALS[0], "present-card", None)
        .await?;
    let offline = client.get_interaction(&id, None, None).await?;
    assert_eq!(
        offline.status,
        Status::InProgress,
        "poigate never invents an outcome"
    );
    assert!(!offline.terminal_connected);
    client.test_helper(TERMINALS[0], "connect", None).await?;
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Approved);
    assert!(done.terminal_connected);
    let kinds: Vec<String> = eventually(WAIT, || {
        let client = client.clone();
        let id = id.clone();
        async move {
            let events = client.list_events(&id, &Default::default()).await.ok()?;
            Some(events.data.into_iter().map(|e| e.kind).collect())
        }
    })
    .await?;
    assert!(kinds.contains(&"terminal_disconnected".to_string()));
    assert!(kinds.contains(&"terminal_reconnected".to_string()));
    assert_eq!(kinds.iter().filter(|k| *k == "completed").count(), 1);
    Ok(())
}
