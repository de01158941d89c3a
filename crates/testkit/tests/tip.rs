//! A tip asked on the terminal (issue 14), through the native API and over the terminal
//! link: the start says `ask_for_tip`, the result reports `tip_amount`, the transaction's
//! amount is the total. A terminal's tip that was not asked for, negative, absurd or beyond
//! an integer is refused as a protocol error, and the terminal can still report its result.
//!
//! The simulated cardholder tips 15 % of the amount, rounded down, and nothing on amounts
//! ending in 140 (`poigate_terminal::simulated_tip`).

use poigate_api::{RefundRequest, TipRequest};
use poigate_domain::{Outcome, Status};
use poigate_testkit::calls::post_text;
use poigate_testkit::{TERMINALS, TestServer, eventually, sale};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn tipped(terminal: &str, value: i64) -> poigate_api::CreateInteractionRequest {
    let mut request = sale(terminal, value, "EUR");
    request.tip = Some(TipRequest::OnTerminal);
    request
}

fn tip_of(outcome: &Option<Outcome>) -> Option<i64> {
    match outcome {
        Some(Outcome::Approved { tip_amount, .. }) => *tip_amount,
        _ => None,
    }
}

/// `POST /v1/interactions` with a raw JSON body: the status and the answer.
async fn create_raw(ts: &TestServer, body: Value) -> anyhow::Result<(u16, Value)> {
    let (status, text) = post_text(
        &ts.http(),
        &format!("{}/v1/interactions", ts.url()),
        "application/json",
        body.to_string(),
        Some(ts.key()),
    )
    .await?;
    Ok((status, serde_json::from_str(&text)?))
}

#[tokio::test]
async fn native_api_asks_for_a_tip_and_charges_refunds_the_total() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();

    // `"tip": "on_terminal"` in the body; the document says so and shows the tip.
    let (status, created) = create_raw(
        &ts,
        json!({"terminal": TERMINALS[0], "type": "sale",
            "amount": {"value": 2000, "currency": "EUR"}, "tip": "on_terminal"}),
    )
    .await?;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["tip"], "on_terminal");
    let id = created["id"].as_str().expect("id").to_string();
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(done.status, Status::Approved);
    assert_eq!(tip_of(&done.outcome), Some(300), "15 % of 20.00");
    assert_eq!(
        done.amount.value(),
        2000,
        "the interaction keeps the amount asked"
    );
    let txn = done.transaction.as_ref().expect("transaction");
    assert_eq!(
        (
            txn.amount.value(),
            txn.tip_amount,
            txn.authorized_amount,
            txn.captured_amount,
            txn.refundable_amount
        ),
        (2300, Some(300), 2300, 2300, 2300)
    );
    // The terminal asked first, then showed the total.
    let events = client.list_events(&id, &Default::default()).await?.data;
    let messages: Vec<&str> = events.iter().filter_map(|e| e.message.as_deref()).collect();
    assert!(messages.contains(&"Add a tip?"), "{messages:?}");
    assert!(
        messages.contains(&"23.00 EUR - Present card"),
        "{messages:?}"
    );
    // A full refund returns the total, tip included.
    let txn_id = txn.id.to_string();
    client
        .refund(&txn_id, &RefundRequest::default(), None)
        .await?;
    let refunded = eventually(WAIT, || async {
        let t = client.transaction(&txn_id).await.ok()?;
        (t.refunded_amount > 0).then_some(t)
    })
    .await?;
    assert_eq!(refunded.refunded_amount, 2300);

    // A pre-authorisation with a tip, captured in full: the total.
    let auth = client
        .create_interaction(
            &{
                let mut r = tipped(TERMINALS[0], 1000);
                r.kind = poigate_domain::InteractionType::Auth;
                r
            },
            None,
        )
        .await?;
    let done = client
        .wait_final(&auth.interaction.id.to_string(), WAIT)
        .await?;
    let txn = done.transaction.as_ref().expect("transaction");
    assert_eq!((txn.amount.value(), txn.captured_amount), (1150, 0));
    let auth_txn = txn.id.to_string();
    client.capture(&auth_txn, None, None).await?;
    let captured = eventually(WAIT, || async {
        let t = client.transaction(&auth_txn).await.ok()?;
        (t.captured_amount > 0).then_some(t)
    })
    .await?;
    assert_eq!(captured.captured_amount, 1150);

    // The cardholder declines the tip (amount ending in 140): tip 0, shown as 0.
    let c = client
        .create_interaction(&tipped(TERMINALS[0], 1140), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(tip_of(&done.outcome), Some(0));
    let txn = done.transaction.as_ref().expect("transaction");
    assert_eq!((txn.amount.value(), txn.tip_amount), (1140, Some(0)));

    // Without `tip`, nothing about tips in the documents.
    let (_, plain) = create_raw(
        &ts,
        json!({"terminal": TERMINALS[0], "type": "sale",
            "amount": {"value": 1000, "currency": "EUR"}}),
    )
    .await?;
    assert!(plain.get("tip").is_none(), "{plain}");
    let id = plain["id"].as_str().expect("id").to_string();
    client.wait_final(&id, WAIT).await?;
    let (_, body) = poigate_testkit::calls::get_json(
        &ts.http(),
        &format!("{}/v1/interactions/{id}", ts.url()),
        Some(ts.key()),
    )
    .await?;
    assert!(body["outcome"].get("tip_amount").is_none(), "{body}");
    assert!(body["transaction"].get("tip_amount").is_none(), "{body}");
    assert_eq!(body["transaction"]["amount"]["value"], 1000);

    // A tip only for a sale or an auth; an unknown tip mode is refused.
    let (status, refused) = create_raw(
        &ts,
        json!({"terminal": TERMINALS[0], "type": "refund",
            "amount": {"value": 1000, "currency": "EUR"}, "tip": "on_terminal"}),
    )
    .await?;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["code"], "tip_not_allowed", "{refused}");
    let (status, refused) = create_raw(
        &ts,
        json!({"terminal": TERMINALS[0], "type": "sale",
            "amount": {"value": 1000, "currency": "EUR"}, "tip": "on_receipt"}),
    )
    .await?;
    assert_eq!(status, 400, "{refused}");
    Ok(())
}

#[tokio::test]
async fn a_link_simulator_asks_for_the_tip_like_an_in_process_one() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000101", false).await?;
    let _sim = ts.run_link_sim(&link).await?;
    let c = client
        .create_interaction(&tipped(&link.poiid, 1250), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status, Status::Approved);
    assert_eq!(
        tip_of(&done.outcome),
        Some(187),
        "15 % of 12.50, rounded down"
    );
    let txn = done.transaction.as_ref().expect("transaction");
    assert_eq!((txn.amount.value(), txn.tip_amount), (1437, Some(187)));
    Ok(())
}

#[tokio::test]
async fn a_terminal_tip_is_checked_and_a_bad_one_is_an_invalid_report() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let client = ts.client();
    let link = ts.link_terminal("700000102", true).await?;
    let mut raw = ts.raw_terminal(&link).await?;
    let approved = |tip: Option<Value>| {
        let mut outcome = json!({"result": "approved", "auth_code": "A1B2C3",
            "card": {"bin": "476173", "last4": "0010", "brand": "visa", "entry_mode": "chip"}});
        if let Some(t) = tip {
            outcome["tip_amount"] = t;
        }
        json!({ "outcome": outcome })
    };

    // Asked: the start says so.
    let c = client
        .create_interaction(&tipped(&link.poiid, 2000), None)
        .await?;
    let id = c.interaction.id.to_string();
    let start = raw.next_frame().await?;
    assert_eq!(start["type"], "start");
    assert_eq!(start["interaction"]["ask_for_tip"], true, "{start}");
    raw.report("acknowledged", &id, 1, json!({})).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    // Negative, more than ten times the amount, a total beyond any amount: refused, and
    // the refused report does not use up its seq.
    for tip in [json!(-1), json!(20_001), json!(i64::MAX)] {
        raw.report("result", &id, 2, approved(Some(tip.clone())))
            .await?;
        let answer = raw.next_answer().await?;
        assert_eq!(
            (&answer["type"], &answer["code"]),
            (&json!("error"), &json!("invalid_report")),
            "tip {tip}: {answer}"
        );
    }
    // Beyond a 64-bit integer, or not a number: not even a well-formed frame.
    for tip in [json!(18_446_744_073_709_551_616_f64), json!("3.00")] {
        raw.report("result", &id, 2, approved(Some(tip.clone())))
            .await?;
        let answer = raw.next_answer().await?;
        assert_eq!(answer["type"], "error", "tip {tip}: {answer}");
        assert!(
            answer["code"] == "invalid_frame" || answer["code"] == "invalid_report",
            "tip {tip}: {answer}"
        );
    }
    assert_eq!(
        client.get_interaction(&id, None, None).await?.status,
        Status::InProgress,
        "nothing applied"
    );
    // Ten times the amount is the most a tip may be.
    raw.report("result", &id, 2, approved(Some(json!(20_000))))
        .await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(tip_of(&done.outcome), Some(20_000));
    assert_eq!(
        done.transaction.as_ref().expect("txn").amount.value(),
        22_000
    );

    // Not asked: the start does not mention it, and a reported tip (even 0) is refused.
    let c = client
        .create_interaction(&sale(&link.poiid, 900, "EUR"), None)
        .await?;
    let id = c.interaction.id.to_string();
    let start = raw.next_frame().await?;
    assert!(start["interaction"].get("ask_for_tip").is_none(), "{start}");
    raw.report("acknowledged", &id, 1, json!({})).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    raw.report("result", &id, 2, approved(Some(json!(0))))
        .await?;
    let answer = raw.next_answer().await?;
    assert_eq!(answer["code"], "invalid_report", "{answer}");
    raw.report("result", &id, 2, approved(None)).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(tip_of(&done.outcome), None);
    let txn = done.transaction.as_ref().expect("txn");
    assert_eq!((txn.amount.value(), txn.tip_amount), (900, None));

    // Asked, and the terminal (one that predates tipping) reports none: a tip of 0.
    let c = client
        .create_interaction(&tipped(&link.poiid, 700), None)
        .await?;
    let id = c.interaction.id.to_string();
    raw.next_frame().await?;
    raw.report("acknowledged", &id, 1, json!({})).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    raw.report("result", &id, 2, approved(None)).await?;
    assert_eq!(raw.next_answer().await?["status"], "applied");
    let done = client.wait_final(&id, WAIT).await?;
    assert_eq!(tip_of(&done.outcome), Some(0));
    assert_eq!(done.transaction.as_ref().expect("txn").amount.value(), 700);
    Ok(())
}
