use super::*;
use crate::card::{CardBrand, EntryMode, MaskedCard};
use crate::currency::Currency;
use crate::id::{InteractionId, MerchantId, TerminalId};
use crate::interaction::{DeclineReason, FailureReason, InteractionType, NewInteraction};
use crate::money::Money;
use proptest::prelude::*;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + ms)
}

fn new_interaction() -> (Interaction, Event) {
    let new = NewInteraction {
        ask_for_tip: false,
        merchant_id: MerchantId::generate(t(0)),
        terminal_id: TerminalId::generate(t(0)),
        kind: InteractionType::Sale,
        amount: Money::positive(100, Currency::from_code("GBP").expect("GBP")).expect("amount"),
        reference: Some("order-1".into()),
        sale_id: None,
        service_id: None,
        timeout_seconds: None,
        metadata: Default::default(),
        webhooks: vec![],
    };
    Interaction::create(new, InteractionId::generate(t(0)), true, t(0)).expect("valid")
}

fn ctx() -> ReceiptContext {
    ReceiptContext {
        merchant_name: "Demo".into(),
        terminal_poiid: "V400m-1".into(),
    }
}

fn approved() -> TerminalOutcome {
    TerminalOutcome::Approved {
        tip_amount: None,
        auth_code: "A1B2C3".into(),
        card: MaskedCard::new(Some("476173"), "0010", CardBrand::Visa, EntryMode::Chip)
            .expect("card"),
        emv: None,
    }
}

fn result(outcome: TerminalOutcome) -> Input {
    Input::TerminalResult {
        outcome: Box::new(outcome),
        transaction_id: TransactionId::generate(t(0)),
        receipt_context: ctx(),
    }
}

fn run(inputs: Vec<Input>) -> (Interaction, Vec<Event>) {
    let (mut i, first) = new_interaction();
    let mut events = vec![first];
    for (n, input) in inputs.into_iter().enumerate() {
        if let Ok(tr) = apply(&i, input, t(n as i64 + 1)) {
            events.extend(tr.events);
            i = tr.interaction;
        }
    }
    (i, events)
}

#[test]
fn happy_path_sale() {
    let (i, events) = run(vec![
        Input::TerminalAcknowledged,
        Input::TerminalStage {
            message: "Connecting to card reader".into(),
        },
        Input::TerminalStage {
            message: "1.00 GBP - Present card".into(),
        },
        result(approved()),
    ]);
    assert_eq!(i.status, Status::Approved);
    assert!(i.transaction_id.is_some());
    let names: Vec<_> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(
        names,
        ["created", "acknowledged", "stage", "stage", "completed"]
    );
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(i.last_seq, 5);
}

#[test]
fn result_produces_a_transaction_with_receipts() {
    let (i, _) = new_interaction();
    let tr = apply(&i, result(approved()), t(1)).expect("applies");
    let txn = tr.transaction.expect("card decision creates a transaction");
    assert_eq!(txn.auth_code.as_deref(), Some("A1B2C3"));
    assert!(txn.receipts.customer.is_some() && txn.receipts.merchant.is_some());
    assert_eq!(tr.interaction.transaction_id, Some(txn.id));
    assert_eq!(tr.effects, vec![Effect::Completed]);
}

#[test]
fn cancel_before_delivery_is_immediate() {
    let (i, _) = new_interaction();
    let tr = apply(&i, Input::CancelRequested, t(1)).expect("applies");
    assert_eq!(tr.interaction.status, Status::Cancelled);
    assert_eq!(tr.interaction.cancel_reason(), Some(CancelReason::Api));
    assert!(tr.effects.contains(&Effect::ForwardCancelToTerminal));
}

#[test]
fn cancel_in_flight_is_forwarded_and_the_terminal_decides() {
    let (i, _) = new_interaction();
    let i = apply(&i, Input::TerminalAcknowledged, t(1))
        .expect("ack")
        .interaction;
    let tr = apply(&i, Input::CancelRequested, t(2)).expect("cancel");
    assert_eq!(tr.interaction.status, Status::InProgress);
    assert!(tr.interaction.cancel_requested);
    assert_eq!(tr.effects, vec![Effect::ForwardCancelToTerminal]);
    // A second cancel request changes nothing.
    let again = apply(&tr.interaction, Input::CancelRequested, t(3)).expect("idempotent");
    assert!(again.is_noop(&tr.interaction));
    // Too late: the real outcome follows.
    let late = apply(&tr.interaction, Input::TerminalCancelTooLate, t(4)).expect("too late");
    let done = apply(&late.interaction, result(approved()), t(5)).expect("result");
    assert_eq!(done.interaction.status, Status::Approved);
}

#[test]
fn delivery_timeout_cancels_only_undelivered_interactions() {
    let (i, _) = new_interaction();
    let tr = apply(&i, Input::DeliveryTimedOut, t(1)).expect("applies");
    assert_eq!(
        tr.interaction.cancel_reason(),
        Some(CancelReason::NotDelivered)
    );
    let acked = apply(&i, Input::TerminalAcknowledged, t(1))
        .expect("ack")
        .interaction;
    let tr = apply(&acked, Input::DeliveryTimedOut, t(2)).expect("applies");
    assert!(
        tr.is_noop(&acked),
        "an acknowledged interaction is never cancelled by the gateway"
    );
}

#[test]
fn overdue_is_a_flag_not_an_outcome() {
    let (i, _) = new_interaction();
    let acked = apply(&i, Input::TerminalAcknowledged, t(1))
        .expect("ack")
        .interaction;
    let tr = apply(&acked, Input::DeadlinePassed, t(2)).expect("applies");
    assert!(tr.interaction.overdue);
    assert_eq!(tr.interaction.status, Status::InProgress);
    assert_eq!(tr.events.len(), 1);
}

#[test]
fn final_states_refuse_everything() {
    let (i, _) = new_interaction();
    let done = apply(&i, result(approved()), t(1))
        .expect("result")
        .interaction;
    for input in [
        Input::CancelRequested,
        Input::TerminalAcknowledged,
        Input::DeliveryTimedOut,
        result(TerminalOutcome::Cancelled {
            reason: CancelReason::Terminal,
        }),
    ] {
        assert_eq!(
            apply(&done, input, t(2)),
            Err(DomainError::AlreadyFinal(Status::Approved))
        );
    }
}

#[test]
fn disconnect_and_reconnect_are_recorded_in_flight() {
    let (i, _) = new_interaction();
    let acked = apply(&i, Input::TerminalAcknowledged, t(1))
        .expect("ack")
        .interaction;
    let off = apply(&acked, Input::TerminalConnection { connected: false }, t(2)).expect("off");
    assert!(!off.interaction.terminal_connected);
    assert_eq!(off.events[0].kind, EventKind::TerminalDisconnected);
    let on = apply(
        &off.interaction,
        Input::TerminalConnection { connected: true },
        t(3),
    )
    .expect("on");
    assert_eq!(on.events[0].kind, EventKind::TerminalReconnected);
}

#[test]
fn invalid_card_data_from_a_terminal_is_refused() {
    let (i, _) = new_interaction();
    let bad = TerminalOutcome::Approved {
        tip_amount: None,
        auth_code: "not an auth code!".into(),
        card: MaskedCard::new(None, "0010", CardBrand::Visa, EntryMode::Chip).expect("card"),
        emv: None,
    };
    assert!(matches!(
        apply(&i, result(bad), t(1)),
        Err(DomainError::InvalidCardData(_))
    ));
}

fn arb_outcome() -> impl Strategy<Value = TerminalOutcome> {
    prop_oneof![
        Just(approved()),
        Just(TerminalOutcome::Declined {
            reason: DeclineReason::InsufficientFunds,
            message: "Not enough balance".into(),
            card: None,
            emv: None
        }),
        Just(TerminalOutcome::Cancelled {
            reason: CancelReason::Terminal
        }),
        Just(TerminalOutcome::Cancelled {
            reason: CancelReason::Timeout
        }),
        Just(TerminalOutcome::Failed {
            reason: FailureReason::TerminalError,
            message: "boom".into()
        }),
    ]
}

fn arb_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        Just(Input::TerminalAcknowledged),
        "[a-z ]{0,12}".prop_map(|message| Input::TerminalStage { message }),
        arb_outcome().prop_map(result),
        Just(Input::TerminalCancelTooLate),
        any::<bool>().prop_map(|connected| Input::TerminalConnection { connected }),
        Just(Input::CancelRequested),
        Just(Input::DeliveryTimedOut),
        Just(Input::DeadlinePassed),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_sequence_breaks_the_rules(inputs in proptest::collection::vec(arb_input(), 0..30)) {
        let (mut i, first) = new_interaction();
        let mut events = vec![first];
        let mut final_status: Option<Status> = None;
        for (n, input) in inputs.into_iter().enumerate() {
            let before = i.clone();
            match apply(&i, input, t(n as i64 + 1)) {
                Ok(tr) => {
                    prop_assert!(final_status.is_none(), "a final interaction accepted an input");
                    // Events continue the sequence without gaps.
                    for (k, e) in tr.events.iter().enumerate() {
                        prop_assert_eq!(e.seq, before.last_seq + 1 + k as u64);
                    }
                    prop_assert_eq!(tr.interaction.last_seq, before.last_seq + tr.events.len() as u64);
                    events.extend(tr.events);
                    i = tr.interaction;
                    if i.is_final() {
                        final_status = Some(i.status);
                    }
                }
                Err(_) => prop_assert_eq!(&i, &before),
            }
            if let Some(s) = final_status {
                prop_assert_eq!(i.status, s, "a final state changed");
            }
        }
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        let expected: Vec<u64> = (1..=events.len() as u64).collect();
        prop_assert_eq!(seqs, expected);
        let finals = events.iter().filter(|e| e.kind.is_final()).count();
        prop_assert!(finals <= 1, "two final events");
        if finals == 1 {
            prop_assert!(events.last().is_some_and(|e| e.kind.is_final()), "final event is not last");
            prop_assert!(i.is_final());
        } else {
            prop_assert!(!i.is_final());
        }
        // The gateway never cancels on its own what the terminal acknowledged.
        let acked = events.iter().any(|e| e.kind == EventKind::Acknowledged);
        if acked {
            prop_assert_ne!(i.cancel_reason(), Some(CancelReason::NotDelivered));
        }
    }
}

#[test]
fn card_data_in_any_report_text_is_refused_without_echoing_it() {
    let (i, _) = new_interaction();
    let pan = "4111 1111 1111 1111";
    let stage = apply(
        &i,
        Input::TerminalStage {
            message: format!("Card {pan} read"),
        },
        t(1),
    );
    let Err(DomainError::InvalidCardData(why)) = stage else {
        panic!("a stage message with a card number must be refused: {stage:?}");
    };
    assert!(why.contains("message") && !why.contains("4111"), "{why}");

    let with_label = TerminalOutcome::Approved {
        tip_amount: None,
        auth_code: "A1B2C3".into(),
        card: MaskedCard::new(Some("411111"), "1111", CardBrand::Visa, EntryMode::Chip)
            .expect("card"),
        emv: Some(crate::card::EmvData {
            application_id: "A0000000031010".into(),
            application_label: "４１１１１１１１１１１１１１１１".into(),
            application_preferred_name: None,
            cvm: crate::card::Cvm::Signature,
            tsi: "E800".into(),
            tvr: "0000008000".into(),
            pan_sequence_number: None,
        }),
    };
    let refused = apply(&i, result(with_label), t(1));
    let Err(DomainError::InvalidCardData(why)) = refused else {
        panic!("an application label with a card number must be refused: {refused:?}");
    };
    assert!(why.contains("emv.application_label"), "{why}");

    let failed = TerminalOutcome::Failed {
        reason: FailureReason::TerminalError,
        message: ";4111111111111111=2512101?".into(),
    };
    assert!(matches!(
        apply(&i, result(failed), t(1)),
        Err(DomainError::InvalidCardData(_))
    ));
}

#[test]
fn a_card_with_more_than_bin_and_last4_does_not_parse() {
    let extra = r#"{"result":"approved","auth_code":"A1","card":{"last4":"1111","brand":"visa","entry_mode":"chip","pan":"4111111111111111"}}"#;
    assert!(serde_json::from_str::<TerminalOutcome>(extra).is_err());
    let track = r#"{"result":"approved","auth_code":"A1","card":{"last4":"1111","brand":"visa","entry_mode":"chip","track2":"x"}}"#;
    assert!(serde_json::from_str::<TerminalOutcome>(track).is_err());
    let plain = r#"{"result":"approved","auth_code":"A1","card":{"last4":"1111","brand":"visa","entry_mode":"chip"}}"#;
    assert!(serde_json::from_str::<TerminalOutcome>(plain).is_ok());
}

fn with_tip(tip: Option<i64>) -> TerminalOutcome {
    approved().with_tip(tip)
}

#[test]
fn a_tip_asked_on_the_terminal_is_added_to_the_transaction() {
    let (mut i, _) = new_interaction();
    i.ask_for_tip = true;
    let tr = apply(&i, result(with_tip(Some(15))), t(1)).expect("applied");
    let txn = tr.transaction.expect("a card decision");
    assert_eq!(txn.amount.value(), 115, "amount plus tip");
    assert_eq!(txn.tip_amount, Some(15));
    assert_eq!(txn.captured_amount, 115, "a sale captures the total");
    assert_eq!(
        tr.interaction.outcome,
        Some(Outcome::Approved {
            auth_code: "A1B2C3".into(),
            tip_amount: Some(15)
        })
    );
    // A terminal that predates tipping reports none: no tip, recorded as 0.
    let tr = apply(&i, result(with_tip(None)), t(1)).expect("applied");
    assert_eq!(tr.transaction.expect("txn").tip_amount, Some(0));
}

#[test]
fn a_bad_tip_from_a_terminal_is_refused() {
    let (plain, _) = new_interaction();
    assert_eq!(
        apply(&plain, result(with_tip(Some(0))), t(1)).err(),
        Some(DomainError::InvalidTip(
            crate::interaction::TipError::NotAsked
        ))
    );
    let mut asked = plain.clone();
    asked.ask_for_tip = true;
    for tip in [-1, 1001, i64::MAX, i64::MIN] {
        assert_eq!(
            apply(&asked, result(with_tip(Some(tip))), t(1)).err(),
            Some(DomainError::InvalidTip(
                crate::interaction::TipError::OutOfRange
            )),
            "tip {tip}"
        );
    }
    assert!(apply(&asked, result(with_tip(Some(1000))), t(1)).is_ok());
}

#[test]
fn a_tip_is_asked_only_for_a_sale_or_an_auth() {
    let (i, _) = new_interaction();
    for kind in [InteractionType::Refund, InteractionType::Validate] {
        let new = NewInteraction {
            ask_for_tip: true,
            merchant_id: i.merchant_id,
            terminal_id: i.terminal_id,
            kind,
            amount: if kind == InteractionType::Validate {
                Money::zero(i.amount.currency())
            } else {
                i.amount
            },
            reference: None,
            sale_id: None,
            service_id: None,
            timeout_seconds: None,
            metadata: Default::default(),
            webhooks: vec![],
        };
        let errors = new.validate().expect_err("refused");
        assert_eq!(errors.errors()[0].code, "tip_not_allowed");
    }
}
