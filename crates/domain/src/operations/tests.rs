use super::*;
use crate::interaction::{DeclineReason, InteractionType, TerminalOutcome};
use crate::receipt::ReceiptContext;
use proptest::prelude::*;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000 + ms)
}

fn txn(kind: InteractionType, value: i64, approved: bool) -> Transaction {
    let i = crate::fixtures::new_interaction(kind, value, "EUR", t(0));
    let card = crate::fixtures::visa_chip();
    let outcome = if approved {
        TerminalOutcome::Approved {
            tip_amount: None,
            auth_code: "ABC123".into(),
            card,
            emv: None,
        }
    } else {
        TerminalOutcome::Declined {
            reason: DeclineReason::Refused,
            message: "Refused".into(),
            card: Some(card),
            emv: None,
        }
    };
    let ctx = ReceiptContext {
        merchant_name: "M".into(),
        terminal_poiid: "V400m-1".into(),
    };
    Transaction::from_terminal_outcome(TransactionId::generate(t(0)), &i, &outcome, &ctx, t(0))
        .expect("txn")
}

fn op(t0: &Transaction, kind: OperationKind, amount: Money) -> Operation {
    Operation {
        id: OperationId::generate(t(1)),
        transaction_id: t0.id,
        merchant_id: t0.merchant_id,
        kind,
        amount,
        status: OperationStatus::Pending,
        reference: None,
        failure_reason: None,
        processor_reference: None,
        receipts: None,
        idempotency_key: None,
        created_at: t(1),
        updated_at: t(1),
    }
}

fn run(t0: &mut Transaction, kind: OperationKind, amount: Money, ok: bool) {
    let mut o = op(t0, kind, amount);
    t0.begin(&o, t(1));
    o.status = if ok {
        OperationStatus::Succeeded
    } else {
        OperationStatus::Failed
    };
    t0.complete(&o, t(2));
}

#[test]
fn increment_rules() {
    let sale = txn(InteractionType::Sale, 1000, true);
    assert!(matches!(
        sale.check_increment(Some(100)),
        Err(MoneyRuleError::NotIncrementable(_))
    ));
    let declined = txn(InteractionType::Auth, 1000, false);
    assert!(matches!(
        declined.check_increment(Some(100)),
        Err(MoneyRuleError::NotIncrementable(_))
    ));
    let mut auth = txn(InteractionType::Auth, 1000, true);
    assert_eq!(
        auth.check_increment(None),
        Err(MoneyRuleError::AmountNotPositive),
        "an increment names its amount"
    );
    let amount = auth.check_increment(Some(300)).expect("raise");
    run(&mut auth, OperationKind::Increment, amount, false);
    assert_eq!(
        auth.authorized_amount(),
        1000,
        "a declined increment adds nothing"
    );
    run(&mut auth, OperationKind::Increment, amount, true);
    assert_eq!(auth.authorized_amount(), 1300);
    assert!(auth.invariants_hold());
    // The raised amount can be captured in full, and then nothing more is raised.
    let all = auth.check_capture(None).expect("capture all");
    assert_eq!(all.value(), 1300);
    run(&mut auth, OperationKind::Capture, all, true);
    assert_eq!(auth.captured_amount, 1300);
    assert!(auth.invariants_hold());
    assert!(matches!(
        auth.check_increment(Some(1)),
        Err(MoneyRuleError::NotIncrementable(_))
    ));
}

#[test]
fn capture_rules() {
    let sale = txn(InteractionType::Sale, 1000, true);
    assert_eq!(
        sale.check_capture(None),
        Err(MoneyRuleError::NotCapturable),
        "capture a sale"
    );
    let declined = txn(InteractionType::Auth, 1000, false);
    assert_eq!(
        declined.check_capture(None),
        Err(MoneyRuleError::NotCapturable)
    );
    let mut auth = txn(InteractionType::Auth, 1000, true);
    assert_eq!(auth.condition, Condition::Pending);
    assert_eq!(auth.captured_amount, 0);
    assert_eq!(
        auth.check_capture(Some(1001)),
        Err(MoneyRuleError::CaptureExceedsAuthorized {
            requested: 1001,
            authorized: 1000
        })
    );
    assert_eq!(
        auth.check_capture(Some(0)),
        Err(MoneyRuleError::AmountNotPositive)
    );
    let amount = auth.check_capture(Some(800)).expect("partial capture");
    run(&mut auth, OperationKind::Capture, amount, true);
    assert_eq!(auth.captured_amount, 800);
    assert_eq!(auth.condition, Condition::Pendingsettlement);
    assert_eq!(
        auth.check_capture(None),
        Err(MoneyRuleError::AlreadyCaptured),
        "capture twice"
    );
    assert_eq!(
        auth.check_void(),
        Err(MoneyRuleError::NotVoidable(
            "it was captured; refund it instead"
        ))
    );
}

#[test]
fn a_pending_capture_blocks_a_second_one_and_a_failed_capture_frees_the_auth() {
    let mut auth = txn(InteractionType::Auth, 1000, true);
    let amount = auth.check_capture(None).expect("capture");
    let mut o = op(&auth, OperationKind::Capture, amount);
    auth.begin(&o, t(1));
    assert!(matches!(
        auth.check_capture(None),
        Err(MoneyRuleError::OperationInProgress(_))
    ));
    assert!(matches!(
        auth.check_void(),
        Err(MoneyRuleError::OperationInProgress(_))
    ));
    o.status = OperationStatus::Failed;
    auth.complete(&o, t(2));
    assert_eq!(auth.captured_amount, 0);
    assert!(auth.check_capture(None).is_ok());
}

#[test]
fn void_rules() {
    let mut sale = txn(InteractionType::Sale, 1000, true);
    assert_eq!(sale.check_void(), Ok(sale.amount));
    let all = sale.amount;
    run(&mut sale, OperationKind::Void, all, true);
    assert_eq!(sale.condition, Condition::Canceled);
    assert_eq!(sale.check_void(), Err(MoneyRuleError::AlreadyVoided));
    assert_eq!(
        sale.check_refund(None),
        Err(MoneyRuleError::NotRefundable("it was voided"))
    );
    let mut settled = txn(InteractionType::Sale, 1000, true);
    assert!(settled.settle(t(5)));
    assert_eq!(settled.condition, Condition::Complete);
    assert!(matches!(
        settled.check_void(),
        Err(MoneyRuleError::NotVoidable(_))
    ));
    let mut refunded = txn(InteractionType::Sale, 1000, true);
    let hundred = Money::new(100, refunded.amount.currency()).expect("m");
    run(&mut refunded, OperationKind::Refund, hundred, true);
    assert!(matches!(
        refunded.check_void(),
        Err(MoneyRuleError::NotVoidable(_))
    ));
    let auth = txn(InteractionType::Auth, 1000, true);
    assert!(
        auth.check_void().is_ok(),
        "an uncaptured auth can be voided"
    );
    assert!(matches!(
        txn(InteractionType::Sale, 1000, false).check_void(),
        Err(MoneyRuleError::NotVoidable(_))
    ));
}

#[test]
fn refund_rules() {
    let declined = txn(InteractionType::Sale, 1000, false);
    assert_eq!(
        declined.check_refund(None),
        Err(MoneyRuleError::NotRefundable("it was declined"))
    );
    let auth = txn(InteractionType::Auth, 1000, true);
    assert_eq!(
        auth.check_refund(None),
        Err(MoneyRuleError::NotRefundable("nothing was captured"))
    );
    let mut sale = txn(InteractionType::Sale, 1000, true);
    assert_eq!(
        sale.check_refund(Some(1001)),
        Err(MoneyRuleError::RefundExceedsCaptured {
            requested: 1001,
            refundable: 1000
        })
    );
    let part = sale.check_refund(Some(400)).expect("partial");
    let mut pending = op(&sale, OperationKind::Refund, part);
    sale.begin(&pending, t(1));
    assert_eq!(sale.refund_pending_amount, 400);
    assert_eq!(
        sale.refundable_amount(),
        600,
        "pending refunds are reserved"
    );
    assert_eq!(
        sale.check_refund(Some(700)),
        Err(MoneyRuleError::RefundExceedsCaptured {
            requested: 700,
            refundable: 600
        })
    );
    pending.status = OperationStatus::Succeeded;
    sale.complete(&pending, t(2));
    assert_eq!((sale.refunded_amount, sale.refund_pending_amount), (400, 0));
    assert_eq!(
        sale.check_refund(None).map(|m| m.value()),
        Ok(600),
        "default: the rest"
    );
    let card_present_refund = txn(InteractionType::Refund, 500, true);
    assert!(matches!(
        card_present_refund.check_refund(None),
        Err(MoneyRuleError::NotRefundable(_))
    ));
}

#[test]
fn settlement_moves_only_what_waits_for_it() {
    let mut sale = txn(InteractionType::Sale, 1000, true);
    assert!(sale.settle(t(1)));
    assert!(!sale.settle(t(2)), "once");
    let mut auth = txn(InteractionType::Auth, 1000, true);
    assert!(
        !auth.settle(t(1)),
        "an uncaptured auth waits for its capture"
    );
    let validate = txn(InteractionType::Validate, 0, true);
    assert_eq!(validate.condition, Condition::Complete);
    let mut declined = txn(InteractionType::Sale, 1000, false);
    assert_eq!(declined.condition, Condition::Failed);
    assert!(!declined.settle(t(1)));
    let amount = auth.check_capture(None).expect("capture");
    run(&mut auth, OperationKind::Capture, amount, true);
    assert!(auth.settle(t(3)));
}

#[derive(Clone, Debug)]
enum Step {
    Capture(Option<i64>),
    Void,
    Refund(Option<i64>),
    /// Completes the n-th pending operation (modulo), succeeded or failed.
    Complete(usize, bool),
    Settle,
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        proptest::option::of(-5i64..1500).prop_map(Step::Capture),
        Just(Step::Void),
        proptest::option::of(-5i64..1500).prop_map(Step::Refund),
        (0usize..8, any::<bool>()).prop_map(|(i, ok)| Step::Complete(i, ok)),
        Just(Step::Settle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_sequence_of_operations_breaks_the_money_invariants(
        kind in prop_oneof![Just(InteractionType::Sale), Just(InteractionType::Auth)],
        steps in proptest::collection::vec(arb_step(), 0..40),
    ) {
        let mut t0 = txn(kind, 1000, true);
        let mut pending: Vec<Operation> = Vec::new();
        prop_assert!(t0.invariants_hold());
        for step in steps {
            let requested = match step {
                Step::Capture(a) => t0.check_capture(a).ok().map(|m| (OperationKind::Capture, m)),
                Step::Void => t0.check_void().ok().map(|m| (OperationKind::Void, m)),
                Step::Refund(a) => t0.check_refund(a).ok().map(|m| (OperationKind::Refund, m)),
                Step::Complete(i, ok) => {
                    if !pending.is_empty() {
                        let mut o = pending.remove(i % pending.len());
                        o.status = if ok { OperationStatus::Succeeded } else { OperationStatus::Failed };
                        t0.complete(&o, t(2));
                    }
                    None
                }
                Step::Settle => {
                    t0.settle(t(3));
                    None
                }
            };
            if let Some((k, amount)) = requested {
                let o = op(&t0, k, amount);
                t0.begin(&o, t(1));
                pending.push(o);
            }
            prop_assert!(t0.invariants_hold(), "{:?}", t0);
            prop_assert!(t0.captured_amount <= t0.authorized_amount());
            prop_assert!(t0.refunded_amount <= t0.captured_amount);
        }
    }
}
