//! The conformance suite: the behaviour every [`Store`] backend must show.
//!
//! A backend runs the whole suite with one macro call in its tests:
//!
//! ```ignore
//! poigate_store::conformance_tests!(my_backend_factory);
//! ```
//!
//! where `my_backend_factory` is an `async fn() -> TestStore` giving a fresh, empty store.
//! A backend whose server may be missing on a developer machine (PostgreSQL) uses
//! `conformance_tests!(optional factory)` with an `async fn() -> Option<TestStore>`: `None`
//! means the factory printed why it skipped, and the case passes without running.
//! Each case is a plain `async fn` here, so a failure points at the rule that broke.

use crate::*;
use poigate_domain::webhook::{interaction_messages, terminal_message, transaction_message};
use poigate_domain::{
    ApiKeyId, ApiKeyMode, AttemptResult, CallbackSubscription, CardBrand, Currency, EndpointKind,
    EntryMode, EventKind, Input, InteractionType, MaskedCard, Money, NewInteraction, NextStep,
    ReceiptContext, RetryPolicy, SigningSecret, Status, TerminalConnection, TerminalKind,
    TerminalOutcome, TerminalStatus, WebhookEndpoint, WebhookEndpointId, WebhookEventType, apply,
};
use poigate_domain::{
    Operation, OperationId, OperationKind, OperationStatus, Outcome, TransactionEventKind,
};
use std::any::Any;
use std::sync::Arc;

/// A fresh store plus whatever keeps it alive (a temporary directory, a server process).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub guard: Box<dyn Any + Send>,
}

/// Generates one `#[tokio::test]` per conformance case for a backend.
#[macro_export]
macro_rules! conformance_tests {
    (optional $factory:path) => {
        $crate::conformance_tests!(@list optional $factory);
    };
    ($factory:path) => {
        $crate::conformance_tests!(@list required $factory);
    };
    (@list $mode:ident $factory:path) => {
        $crate::conformance_tests!(@cases $mode $factory;
            merchants_and_api_keys,
            terminals_are_scoped_and_unique,
            merchants_disable_keys_record_use_and_admin_keys,
            interaction_round_trip,
            one_live_interaction_per_terminal,
            concurrent_creates_on_one_terminal_admit_one,
            transitions_append_events_and_check_versions,
            card_decision_stores_the_transaction,
            a_tip_is_stored_with_the_interaction_and_transaction,
            idempotency_keys_are_unique_and_atomic,
            expired_idempotency_keys_are_reusable,
            events_page_in_both_orders,
            lookups_filter_and_page,
            modes_never_mix,
            outbox_fans_out_to_matching_endpoints_and_retries,
            deliveries_are_ordered_per_target_and_subject,
            gone_disables_the_endpoint_and_fails_its_backlog,
            leases_survive_a_crash_and_targets_can_be_skipped,
            callbacks_and_redelivery,
            outbox_rows_share_the_fate_of_their_state_change,
            outbox_keeps_only_messages_someone_receives,
            transaction_writes_are_versioned_and_atomic,
            settlement_finds_what_waits,
            pairing_codes_are_single_use_and_replace_device_keys,
            ready_proves_writes_and_leaves_nothing_behind,
        );
    };
    (@cases required $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let ts = $factory().await;
                $crate::conformance::$case(ts.store.clone()).await;
                drop(ts);
            }
        )*
    };
    (@cases optional $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(ts) = $factory().await else {
                    return;
                };
                $crate::conformance::$case(ts.store.clone()).await;
                drop(ts);
            }
        )*
    };
}

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_750_000_000_000 + ms)
}

fn eur(value: i64) -> Money {
    Money::new(value, Currency::from_code("EUR").expect("EUR")).expect("amount")
}

async fn merchant(store: &Arc<dyn Store>, name: &str) -> Merchant {
    let m = Merchant {
        id: MerchantId::generate(t(0)),
        name: name.to_string(),
        created_at: t(0),
        disabled_at: None,
    };
    store.create_merchant(&m).await.expect("create merchant");
    m
}

async fn terminal(store: &Arc<dyn Store>, m: &Merchant, serial: &str) -> Terminal {
    let term = Terminal {
        livemode: false,
        id: TerminalId::generate(t(0)),
        merchant_id: m.id,
        serial_number: serial.to_string(),
        model: "V400m".to_string(),
        label: Some("Till 1".to_string()),
        kind: TerminalKind::Simulated,
        connection: TerminalConnection::InProcess,
        created_at: t(0),
    };
    store.create_terminal(&term).await.expect("create terminal");
    term
}

fn new_interaction(m: &Merchant, term: &Terminal, value: i64, at: i64) -> (Interaction, Event) {
    let new = NewInteraction {
        ask_for_tip: false,
        merchant_id: m.id,
        terminal_id: term.id,
        kind: InteractionType::Sale,
        amount: eur(value),
        reference: Some(format!("ref-{value}")),
        sale_id: Some("till-1".to_string()),
        service_id: Some(format!("svc{value}")),
        timeout_seconds: None,
        metadata: Default::default(),
        webhooks: vec![],
    };
    Interaction::create(new, InteractionId::generate(t(at)), true, t(at)).expect("valid")
}

fn create(i: &Interaction, e: &Event) -> CreateInteraction {
    CreateInteraction {
        interaction: i.clone(),
        first_event: e.clone(),
        idempotency: vec![],
        outbox: interaction_messages(None, i, None, i.created_at),
    }
}

fn idem(i: &Interaction, key: &str, fp: u8, expires: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        merchant_id: i.merchant_id,
        key: IdempotencyKey::Header(key.to_string()),
        fingerprint: [fp; 32],
        interaction_id: i.id,
        response: i.clone(),
        created_at: i.created_at,
        expires_at: t(expires),
    }
}

async fn step(store: &Arc<dyn Store>, i: &Interaction, input: Input, at: i64) -> Interaction {
    let tr = apply(i, input, t(at)).expect("valid transition");
    store
        .apply_transition(&TransitionWrite {
            interaction: tr.interaction.clone(),
            expected_last_seq: i.last_seq,
            outbox: interaction_messages(Some(i), &tr.interaction, tr.transaction.as_ref(), t(at)),
            events: tr.events,
            transaction: tr.transaction,
        })
        .await
        .expect("apply transition");
    tr.interaction
}

fn approved_input() -> Input {
    Input::TerminalResult {
        outcome: Box::new(TerminalOutcome::Approved {
            tip_amount: None,
            auth_code: "A1B2C3".into(),
            card: MaskedCard::new(Some("476173"), "0010", CardBrand::Visa, EntryMode::Chip)
                .expect("card"),
            emv: None,
        }),
        transaction_id: TransactionId::generate(t(0)),
        receipt_context: ReceiptContext {
            merchant_name: "Conformance".into(),
            terminal_poiid: "V400m-1".into(),
        },
    }
}

pub async fn merchants_and_api_keys(store: Arc<dyn Store>) {
    let m = merchant(&store, "Coffee Bar").await;
    assert_eq!(
        store.get_merchant(m.id).await.expect("get"),
        Some(m.clone())
    );
    assert_eq!(
        store
            .find_merchant_by_name("Coffee Bar")
            .await
            .expect("find"),
        Some(m.clone())
    );
    assert_eq!(
        store.find_merchant_by_name("Nobody").await.expect("find"),
        None
    );
    let key = ApiKeyRecord {
        id: ApiKeyId::generate(t(1)),
        merchant_id: m.id,
        mode: ApiKeyMode::Test,
        secret_hash: [7; 32],
        display_prefix: "pg_test_abcd".into(),
        label: Some("ci".into()),
        created_at: t(1),
        revoked_at: None,
        last_used_at: None,
    };
    store.create_api_key(&key).await.expect("create key");
    assert_eq!(
        store.find_api_key_by_hash(&[7; 32]).await.expect("find"),
        Some(key.clone())
    );
    assert_eq!(
        store.find_api_key_by_hash(&[8; 32]).await.expect("find"),
        None
    );
    let dup = ApiKeyRecord {
        id: ApiKeyId::generate(t(2)),
        ..key.clone()
    };
    assert!(matches!(
        store.create_api_key(&dup).await,
        Err(StoreError::Duplicate(_))
    ));
    // A key's default terminal: set, read, cleared; another merchant cannot set it.
    assert_eq!(
        store.api_key_default_terminal(key.id).await.expect("none"),
        None
    );
    let lane = TerminalId::generate(t(3));
    assert!(
        store
            .set_api_key_default_terminal(m.id, key.id, Some(lane))
            .await
            .expect("set")
    );
    assert_eq!(
        store.api_key_default_terminal(key.id).await.expect("read"),
        Some(lane)
    );
    assert!(
        store
            .set_api_key_default_terminal(m.id, key.id, None)
            .await
            .expect("clear")
    );
    assert_eq!(
        store.api_key_default_terminal(key.id).await.expect("read"),
        None
    );
    let stranger = merchant(&store, "Stranger").await;
    assert!(
        !store
            .set_api_key_default_terminal(stranger.id, key.id, Some(lane))
            .await
            .expect("scoped")
    );
    assert!(
        store
            .revoke_api_key(m.id, key.id, t(5))
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_api_key(m.id, key.id, t(6))
            .await
            .expect("revoke twice")
    );
    let stored = store
        .find_api_key_by_hash(&[7; 32])
        .await
        .expect("find")
        .expect("still there");
    assert_eq!(stored.revoked_at, Some(t(5)));
    assert_eq!(store.list_api_keys(m.id).await.expect("list").len(), 1);
    let other = merchant(&store, "Other").await;
    assert!(
        !store
            .revoke_api_key(other.id, key.id, t(7))
            .await
            .expect("scoped")
    );
    assert_eq!(store.list_merchants().await.expect("list").len(), 3);
}

pub async fn merchants_disable_keys_record_use_and_admin_keys(store: Arc<dyn Store>) {
    let m = merchant(&store, "To disable").await;
    assert!(store.disable_merchant(m.id, t(3)).await.expect("disable"));
    assert!(
        !store.disable_merchant(m.id, t(4)).await.expect("twice"),
        "disabling twice changes nothing"
    );
    let stored = store.get_merchant(m.id).await.expect("get").expect("there");
    assert_eq!(stored.disabled_at, Some(t(3)));
    let unknown = MerchantId::generate(t(9));
    assert!(
        !store
            .disable_merchant(unknown, t(4))
            .await
            .expect("unknown")
    );

    let key = ApiKeyRecord {
        id: ApiKeyId::generate(t(1)),
        merchant_id: m.id,
        mode: ApiKeyMode::Live,
        secret_hash: [42; 32],
        display_prefix: "pg_live_abcd".into(),
        label: None,
        created_at: t(1),
        revoked_at: None,
        last_used_at: None,
    };
    store.create_api_key(&key).await.expect("create key");
    store.touch_api_key(key.id, t(60)).await.expect("touch");
    store
        .touch_api_key(key.id, t(120))
        .await
        .expect("touch again");
    let used = store
        .get_api_key(key.id)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(used.last_used_at, Some(t(120)));
    assert_eq!(used.mode, ApiKeyMode::Live);

    let admin = AdminKeyRecord {
        id: "ak_1".into(),
        secret_hash: [43; 32],
        display_prefix: "pg_admin_abc".into(),
        created_at: t(2),
        revoked_at: None,
    };
    store
        .create_admin_key(&admin)
        .await
        .expect("create admin key");
    assert_eq!(
        store.find_admin_key_by_hash(&[43; 32]).await.expect("find"),
        Some(admin.clone())
    );
    assert_eq!(
        store.find_admin_key_by_hash(&[42; 32]).await.expect("find"),
        None,
        "an API key is no admin key"
    );
    assert!(matches!(
        store
            .create_admin_key(&AdminKeyRecord {
                id: "ak_2".into(),
                ..admin
            })
            .await,
        Err(StoreError::Duplicate(_))
    ));
}

pub async fn terminals_are_scoped_and_unique(store: Arc<dyn Store>) {
    let a = merchant(&store, "A").await;
    let b = merchant(&store, "B").await;
    let ta = terminal(&store, &a, "1850000000").await;
    assert_eq!(
        store.get_terminal(ta.id).await.expect("get"),
        Some(ta.clone())
    );
    for reference in [ta.id.to_string(), ta.poiid(), ta.serial_number.clone()] {
        assert_eq!(
            store.find_terminal(a.id, &reference).await.expect("find"),
            Some(ta.clone()),
            "by {reference}"
        );
        assert_eq!(
            store.find_terminal(b.id, &reference).await.expect("find"),
            None,
            "merchant B must not see A's terminal by {reference}"
        );
    }
    let dup = Terminal {
        id: TerminalId::generate(t(1)),
        ..ta.clone()
    };
    assert!(matches!(
        store.create_terminal(&dup).await,
        Err(StoreError::Duplicate(_))
    ));
    let tb = terminal(&store, &b, "1850000000").await;
    assert_ne!(ta.id, tb.id);
    assert_eq!(store.list_terminals(a.id).await.expect("list"), vec![ta]);
    assert_eq!(store.list_all_terminals().await.expect("list all").len(), 2);
}

pub async fn interaction_round_trip(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let (i, e) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &e))
        .await
        .expect("create");
    assert_eq!(
        store.get_interaction(i.id).await.expect("get"),
        Some(i.clone())
    );
    assert_eq!(
        store
            .list_events(i.id, 0, 100, EventOrder::Asc)
            .await
            .expect("events"),
        vec![e]
    );
    assert_eq!(
        store.live_interactions().await.expect("live"),
        vec![i.clone()]
    );
    let missing = InteractionId::generate(t(9));
    assert_eq!(store.get_interaction(missing).await.expect("get"), None);
}

pub async fn one_live_interaction_per_terminal(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let (first, e1) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&first, &e1))
        .await
        .expect("first");
    let (second, e2) = new_interaction(&m, &term, 200, 2);
    match store.create_interaction(&create(&second, &e2)).await {
        Err(StoreError::TerminalBusy { blocking }) => assert_eq!(blocking, first.id),
        other => panic!("expected TerminalBusy, got {other:?}"),
    }
    assert_eq!(store.get_interaction(second.id).await.expect("get"), None);
    // Another terminal is not affected.
    let other = terminal(&store, &m, "2").await;
    let (third, e3) = new_interaction(&m, &other, 300, 3);
    store
        .create_interaction(&create(&third, &e3))
        .await
        .expect("other terminal");
    // Once the first is final, the terminal is free again.
    step(&store, &first, Input::CancelRequested, 4).await;
    store
        .create_interaction(&create(&second, &e2))
        .await
        .expect("free again");
}

pub async fn concurrent_creates_on_one_terminal_admit_one(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = store.clone();
        let (i, e) = new_interaction(&m, &term, 100 + n, n);
        tasks.push(tokio::spawn(async move {
            store.create_interaction(&create(&i, &e)).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(()) => ok += 1,
            Err(StoreError::TerminalBusy { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(store.live_interactions().await.expect("live").len(), 1);
}

pub async fn transitions_append_events_and_check_versions(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let (i, e) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &e))
        .await
        .expect("create");
    let i2 = step(&store, &i, Input::TerminalAcknowledged, 2).await;
    let i3 = step(
        &store,
        &i2,
        Input::TerminalStage {
            message: "Present card".into(),
        },
        3,
    )
    .await;
    // A writer that read the old version loses.
    let stale = apply(&i2, Input::CancelRequested, t(4)).expect("valid");
    let res = store
        .apply_transition(&TransitionWrite {
            interaction: stale.interaction,
            expected_last_seq: i2.last_seq,
            events: stale.events,
            transaction: None,
            outbox: vec![],
        })
        .await;
    assert!(
        matches!(&res, Err(StoreError::VersionConflict { entity: "interaction", id }) if *id == i.id.to_string()),
        "{res:?}"
    );
    assert_eq!(
        store.get_interaction(i.id).await.expect("get"),
        Some(i3.clone())
    );
    let events = store
        .list_events(i.id, 0, 100, EventOrder::Asc)
        .await
        .expect("events");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(
        events[2].kind,
        EventKind::Stage {
            message: "Present card".into()
        }
    );
}

pub async fn card_decision_stores_the_transaction(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let (i, e) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &e))
        .await
        .expect("create");
    let done = step(&store, &i, approved_input(), 2).await;
    assert_eq!(done.status, Status::Approved);
    let txn_id = done.transaction_id.expect("transaction id");
    let txn = store
        .get_transaction(txn_id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(txn.interaction_id, i.id);
    assert_eq!(txn.auth_code.as_deref(), Some("A1B2C3"));
    assert!(txn.receipts.customer.is_some());
    assert!(store.live_interactions().await.expect("live").is_empty());

    // The read a GET makes: the interaction with its transaction, in one go.
    let (both_i, both_t) = store
        .get_interaction_with_transaction(i.id)
        .await
        .expect("get both")
        .expect("stored");
    assert_eq!(both_i, done);
    assert_eq!(both_t.as_ref(), Some(&txn));
    // Before a card decision there is no transaction; an unknown id is nothing at all.
    let (j, f) = new_interaction(&m, &term, 101, 3);
    store
        .create_interaction(&create(&j, &f))
        .await
        .expect("create");
    let (pending, none) = store
        .get_interaction_with_transaction(j.id)
        .await
        .expect("get pending")
        .expect("stored");
    assert_eq!((pending.id, none), (j.id, None));
    // The read a lookup makes: the list, each with its transaction (the newest first).
    let listed = store
        .find_interactions_with_transactions(
            m.id,
            &InteractionFilter {
                limit: 10,
                ..InteractionFilter::default()
            },
        )
        .await
        .expect("find both");
    let listed: Vec<_> = listed
        .iter()
        .map(|(i, t)| (i.id, t.as_ref().map(|t| t.id)))
        .collect();
    assert_eq!(listed, vec![(j.id, None), (i.id, Some(txn.id))]);
    let (unknown, _) = new_interaction(&m, &term, 102, 4);
    assert!(
        store
            .get_interaction_with_transaction(unknown.id)
            .await
            .expect("get unknown")
            .is_none()
    );
}

/// A tip asked on the terminal lives in the JSON bodies (no column): the flag on the
/// interaction, the tip on its outcome and transaction, the total as the amount.
pub async fn a_tip_is_stored_with_the_interaction_and_transaction(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let (mut i, e) = new_interaction(&m, &term, 1000, 1);
    i.ask_for_tip = true;
    store
        .create_interaction(&create(&i, &e))
        .await
        .expect("create");
    let read = store
        .get_interaction(i.id)
        .await
        .expect("get")
        .expect("stored");
    assert!(read.ask_for_tip);
    let Input::TerminalResult {
        outcome,
        transaction_id,
        receipt_context,
    } = approved_input()
    else {
        unreachable!("approved_input is a result");
    };
    let tipped = Input::TerminalResult {
        outcome: Box::new(outcome.with_tip(Some(150))),
        transaction_id,
        receipt_context,
    };
    let done = step(&store, &read, tipped, 2).await;
    let read = store
        .get_interaction(i.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(read, done);
    assert!(matches!(
        read.outcome,
        Some(Outcome::Approved {
            tip_amount: Some(150),
            ..
        })
    ));
    let txn = store
        .get_transaction(done.transaction_id.expect("transaction id"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!((txn.amount.value(), txn.tip_amount), (1150, Some(150)));
    assert_eq!(txn.captured_amount, 1150);
}

pub async fn idempotency_keys_are_unique_and_atomic(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let other_term = terminal(&store, &m, "2").await;
    let (i, e) = new_interaction(&m, &term, 100, 1);
    let record = idem(&i, "key-1", 1, 100_000);
    let mut c = create(&i, &e);
    c.idempotency = vec![record.clone()];
    store.create_interaction(&c).await.expect("create");
    let key = IdempotencyKey::Header("key-1".into());
    assert_eq!(
        store
            .find_idempotency(m.id, &key, t(2))
            .await
            .expect("find"),
        Some(record.clone())
    );
    // The same key again: refused, and nothing of the second create is written.
    let (j, f) = new_interaction(&m, &other_term, 200, 2);
    let mut c2 = create(&j, &f);
    c2.idempotency = vec![idem(&j, "key-1", 2, 100_000)];
    match store.create_interaction(&c2).await {
        Err(StoreError::IdempotencyConflict { existing }) => {
            assert_eq!(*existing, record)
        }
        other => panic!("expected IdempotencyConflict, got {other:?}"),
    }
    assert_eq!(store.get_interaction(j.id).await.expect("get"), None);
    assert!(
        store
            .list_events(j.id, 0, 10, EventOrder::Asc)
            .await
            .expect("events")
            .is_empty()
    );
    // Keys are per merchant.
    let other = merchant(&store, "Other").await;
    assert_eq!(
        store
            .find_idempotency(other.id, &key, t(2))
            .await
            .expect("find"),
        None
    );
    // A natural key and a header key with the same text do not collide.
    let natural = IdempotencyKey::Natural {
        sale_id: "h".into(),
        service_id: "key-1".into(),
    };
    assert_eq!(
        store
            .find_idempotency(m.id, &natural, t(2))
            .await
            .expect("find"),
        None
    );
}

pub async fn expired_idempotency_keys_are_reusable(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let (i, e) = new_interaction(&m, &term, 100, 1);
    let mut c = create(&i, &e);
    c.idempotency = vec![idem(&i, "key-2", 1, 10)];
    store.create_interaction(&c).await.expect("create");
    step(&store, &i, Input::CancelRequested, 2).await;
    let key = IdempotencyKey::Header("key-2".into());
    assert!(
        store
            .find_idempotency(m.id, &key, t(5))
            .await
            .expect("find")
            .is_some()
    );
    assert_eq!(
        store
            .find_idempotency(m.id, &key, t(11))
            .await
            .expect("find"),
        None
    );
    let (j, f) = new_interaction(&m, &term, 200, 20);
    let mut c2 = create(&j, &f);
    let mut rec = idem(&j, "key-2", 2, 1_000);
    rec.created_at = t(20);
    c2.idempotency = vec![rec.clone()];
    store
        .create_interaction(&c2)
        .await
        .expect("expired key is reusable");
    assert_eq!(
        store
            .find_idempotency(m.id, &key, t(21))
            .await
            .expect("find"),
        Some(rec)
    );
    assert_eq!(
        store
            .purge_expired_idempotency(t(2_000))
            .await
            .expect("purge"),
        1
    );
    assert_eq!(
        store
            .find_idempotency(m.id, &key, t(21))
            .await
            .expect("find"),
        None
    );
}

pub async fn events_page_in_both_orders(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let (mut i, e) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &e))
        .await
        .expect("create");
    i = step(&store, &i, Input::TerminalAcknowledged, 2).await;
    for n in 0..5 {
        i = step(
            &store,
            &i,
            Input::TerminalStage {
                message: format!("stage {n}"),
            },
            3 + n,
        )
        .await;
    }
    let seqs = |events: Vec<Event>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    let all = store
        .list_events(i.id, 0, 100, EventOrder::Asc)
        .await
        .expect("asc");
    assert_eq!(seqs(all), vec![1, 2, 3, 4, 5, 6, 7]);
    let after = store
        .list_events(i.id, 3, 2, EventOrder::Asc)
        .await
        .expect("after");
    assert_eq!(seqs(after), vec![4, 5]);
    let desc = store
        .list_events(i.id, 0, 3, EventOrder::Desc)
        .await
        .expect("desc");
    assert_eq!(seqs(desc), vec![7, 6, 5]);
    let desc_after = store
        .list_events(i.id, 5, 10, EventOrder::Desc)
        .await
        .expect("desc");
    assert_eq!(seqs(desc_after), vec![7, 6]);
}

pub async fn lookups_filter_and_page(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let other = merchant(&store, "Other").await;
    let term = terminal(&store, &m, "1").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let (i, e) = new_interaction(&m, &term, 100 + n, 10 * n);
        store
            .create_interaction(&create(&i, &e))
            .await
            .expect("create");
        step(&store, &i, Input::CancelRequested, 10 * n + 1).await;
        ids.push(i.id);
    }
    let by_service = store
        .find_interactions(
            m.id,
            &InteractionFilter {
                sale_id: Some("till-1".into()),
                service_id: Some("svc102".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("find");
    assert_eq!(
        by_service.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );
    let by_reference = store
        .find_interactions(
            m.id,
            &InteractionFilter {
                reference: Some("ref-103".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("find");
    assert_eq!(by_reference.len(), 1);
    assert_eq!(by_reference[0].id, ids[3]);
    let page1 = store
        .find_interactions(
            m.id,
            &InteractionFilter {
                terminal_id: Some(term.id),
                status: Some(Status::Cancelled),
                limit: 2,
                ..Default::default()
            },
        )
        .await
        .expect("page 1");
    assert_eq!(
        page1.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    let page2 = store
        .find_interactions(
            m.id,
            &InteractionFilter {
                before: Some(ids[3]),
                limit: 2,
                ..Default::default()
            },
        )
        .await
        .expect("page 2");
    assert_eq!(
        page2.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    // A time range: ids are time-ordered, so "created at or after 20, before 40" is
    // `since` / `before` at the first ids of those instants.
    let range = store
        .find_interactions(
            m.id,
            &InteractionFilter {
                since: Some(InteractionId::first_at(t(20))),
                before: Some(InteractionId::first_at(t(40))),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("range");
    assert_eq!(
        range.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![ids[3], ids[2]]
    );
    let scoped = store
        .find_interactions(
            other.id,
            &InteractionFilter {
                sale_id: Some("till-1".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("scoped");
    assert!(scoped.is_empty(), "another merchant's lookup finds nothing");
}

/// Live and test objects of one merchant never mix: the mode is stored on terminals,
/// interactions, endpoints and deliveries; lookups and delivery lists filter by it in the
/// query; the outbox sends a message only to endpoints of its own mode.
pub async fn modes_never_mix(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let test_term = terminal(&store, &m, "1").await;
    let live_term = Terminal {
        livemode: true,
        id: TerminalId::generate(t(0)),
        kind: TerminalKind::Device,
        connection: TerminalConnection::Link,
        serial_number: "2".to_string(),
        ..test_term.clone()
    };
    store
        .create_terminal(&live_term)
        .await
        .expect("live terminal");
    assert_eq!(
        store.get_terminal(live_term.id).await.expect("get"),
        Some(live_term.clone())
    );
    assert_eq!(
        store
            .list_terminals(m.id)
            .await
            .expect("list")
            .iter()
            .map(|t| (t.id, t.livemode))
            .collect::<std::collections::HashSet<_>>(),
        [(test_term.id, false), (live_term.id, true)].into()
    );
    let test_hook = endpoint(&m, "https://test.example/hook", &["*"], true);
    let live_hook = WebhookEndpoint {
        livemode: true,
        id: WebhookEndpointId::generate(t(0)),
        url: "https://live.example/hook".to_string(),
        ..test_hook.clone()
    };
    for e in [&test_hook, &live_hook] {
        store.save_webhook_endpoint(e).await.expect("save endpoint");
    }
    assert_eq!(
        store
            .get_webhook_endpoint(m.id, live_hook.id)
            .await
            .expect("get"),
        Some(live_hook.clone())
    );
    let (test_i, e1) = new_interaction(&m, &test_term, 100, 1);
    let (mut live_i, e2) = new_interaction(&m, &live_term, 200, 2);
    live_i.livemode = true;
    for (i, e) in [(&test_i, &e1), (&live_i, &e2)] {
        store
            .create_interaction(&create(i, e))
            .await
            .expect("create");
    }
    assert_eq!(
        store.get_interaction(live_i.id).await.expect("get"),
        Some(live_i.clone())
    );
    for (mode, want) in [
        (Some(true), vec![live_i.id]),
        (Some(false), vec![test_i.id]),
    ] {
        let found = store
            .find_interactions(
                m.id,
                &InteractionFilter {
                    sale_id: Some("till-1".into()),
                    livemode: mode,
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("find");
        assert_eq!(found.iter().map(|i| i.id).collect::<Vec<_>>(), want);
    }
    // Each interaction's message goes to its own mode's endpoint only: two deliveries.
    assert_eq!(store.dispatch_outbox(100, t(3)).await.expect("dispatch"), 2);
    for (mode, hook) in [(true, &live_hook), (false, &test_hook)] {
        let found = store
            .list_deliveries(
                m.id,
                &DeliveryFilter {
                    livemode: Some(mode),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("deliveries");
        assert_eq!(found.len(), 1, "one delivery of mode {mode}");
        assert_eq!(found[0].endpoint_id, Some(hook.id));
        assert_eq!(found[0].livemode, mode);
    }
    let jobs = store
        .lease_due_deliveries(t(3), t(60_000), 10, vec![])
        .await
        .expect("lease");
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        let want = if job.message.livemode {
            &live_hook
        } else {
            &test_hook
        };
        assert_eq!(
            job.url, want.url,
            "a message reaches its own mode's endpoint"
        );
    }
}

fn endpoint(m: &Merchant, url: &str, events: &[&str], enabled: bool) -> WebhookEndpoint {
    WebhookEndpoint {
        livemode: false,
        id: WebhookEndpointId::generate(t(0)),
        merchant_id: m.id,
        kind: EndpointKind::Endpoint,
        url: url.to_string(),
        format: None,
        description: None,
        events: events.iter().map(|e| e.to_string()).collect(),
        enabled,
        disabled_reason: None,
        secrets: vec![SigningSecret {
            secret: format!("whsec_{}", url.len()),
            created_at: t(0),
            expires_at: None,
        }],
        created_at: t(0),
        updated_at: t(0),
    }
}

fn attempt(job: &DeliveryJob, at: i64, result: AttemptResult) -> AttemptRecord {
    let next = RetryPolicy::default().next_step(job.schedule_attempt, result, t(at), 0.0);
    let status_code = match result {
        AttemptResult::Delivered => Some(200),
        AttemptResult::Gone => Some(410),
        AttemptResult::Failed { status, .. } => status,
    };
    AttemptRecord {
        delivery_id: job.delivery_id,
        attempt: job.attempt,
        started_at: t(at),
        status_code,
        latency_ms: 3,
        error: None,
        next,
    }
}

const FAIL: AttemptResult = AttemptResult::Failed {
    status: Some(500),
    retry_after_seconds: None,
};

pub async fn outbox_fans_out_to_matching_endpoints_and_retries(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let all = endpoint(&m, "https://all.example/hook", &["*"], true);
    let done_only = endpoint(
        &m,
        "https://done.example/hook",
        &["interaction.completed"],
        true,
    );
    let disabled = endpoint(&m, "https://off.example/hook", &["*"], false);
    for e in [&all, &done_only, &disabled] {
        store.save_webhook_endpoint(e).await.expect("save endpoint");
    }
    assert_eq!(
        store
            .list_webhook_endpoints(m.id)
            .await
            .expect("list")
            .len(),
        3
    );
    assert_eq!(
        store.get_webhook_endpoint(m.id, all.id).await.expect("get"),
        Some(all.clone())
    );
    let term = terminal(&store, &m, "1").await;
    let (i, e) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &e))
        .await
        .expect("create");
    // One interaction.updated message: only the catch-all endpoint wants it.
    assert_eq!(store.dispatch_outbox(100, t(2)).await.expect("dispatch"), 1);
    assert_eq!(
        store
            .dispatch_outbox(100, t(2))
            .await
            .expect("dispatch again"),
        0
    );
    let jobs = store
        .lease_due_deliveries(t(2), t(60_000), 10, vec![])
        .await
        .expect("lease");
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.url, all.url);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.secrets, vec![all.secrets[0].secret.clone()]);
    assert_eq!(job.message.event_type, WebhookEventType::InteractionUpdated);
    // Leased: not handed out twice.
    assert!(
        store
            .lease_due_deliveries(t(3), t(60_000), 10, vec![])
            .await
            .expect("lease")
            .is_empty()
    );
    store
        .record_attempt(&attempt(job, 3, FAIL))
        .await
        .expect("record");
    assert_eq!(
        store.next_delivery_due().await.expect("next"),
        Some(t(5_003))
    );
    assert!(
        store
            .lease_due_deliveries(t(5_002), t(60_000), 10, vec![])
            .await
            .expect("early")
            .is_empty()
    );
    let retry = store
        .lease_due_deliveries(t(5_003), t(60_000), 10, vec![])
        .await
        .expect("due");
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempt, 2);
    assert_eq!(
        retry[0].message.id, job.message.id,
        "the same message, so the same webhook-id"
    );
    store
        .record_attempt(&attempt(&retry[0], 5_010, AttemptResult::Delivered))
        .await
        .expect("record");
    assert_eq!(store.next_delivery_due().await.expect("next"), None);
    let log = store
        .list_deliveries(
            m.id,
            &DeliveryFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, DeliveryStatus::Succeeded);
    assert_eq!(
        log[0]
            .attempts
            .iter()
            .map(|a| a.status_code)
            .collect::<Vec<_>>(),
        vec![Some(500), Some(200)]
    );
    assert_eq!(
        store.get_delivery(m.id, log[0].id).await.expect("get"),
        Some(log[0].clone())
    );
    // The final state reaches both enabled endpoints.
    step(&store, &i, Input::CancelRequested, 6_000).await;
    assert_eq!(
        store
            .dispatch_outbox(100, t(6_001))
            .await
            .expect("dispatch"),
        2
    );
    let jobs = store
        .lease_due_deliveries(t(6_001), t(60_000), 10, vec![])
        .await
        .expect("lease");
    let mut targets: Vec<(&str, WebhookEventType)> = jobs
        .iter()
        .map(|j| (j.url.as_str(), j.message.event_type))
        .collect();
    targets.sort_by_key(|(u, e)| (u.to_string(), e.as_str()));
    assert_eq!(
        targets,
        vec![
            (
                "https://all.example/hook",
                WebhookEventType::InteractionUpdated
            ),
            (
                "https://done.example/hook",
                WebhookEventType::InteractionCompleted
            ),
        ],
        "interaction.completed waits behind interaction.updated on the catch-all endpoint"
    );
    let filtered = store
        .list_deliveries(
            m.id,
            &DeliveryFilter {
                endpoint_id: Some(done_only.id),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("filtered");
    assert_eq!(filtered.len(), 1);
    let other = merchant(&store, "Other").await;
    assert!(
        store
            .list_deliveries(
                other.id,
                &DeliveryFilter {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .expect("scoped")
            .is_empty()
    );
    assert_eq!(
        store
            .get_delivery(other.id, log[0].id)
            .await
            .expect("scoped get"),
        None
    );
}

pub async fn deliveries_are_ordered_per_target_and_subject(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let e = endpoint(&m, "https://all.example/hook", &["*"], true);
    store.save_webhook_endpoint(&e).await.expect("save");
    let term = terminal(&store, &m, "1").await;
    let other_term = terminal(&store, &m, "2").await;
    let (i, ev) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &ev))
        .await
        .expect("create");
    let i2 = step(&store, &i, Input::TerminalAcknowledged, 2).await;
    step(&store, &i2, approved_input(), 3).await;
    let (j, jv) = new_interaction(&m, &other_term, 200, 4);
    store
        .create_interaction(&create(&j, &jv))
        .await
        .expect("create other");
    store.dispatch_outbox(100, t(5)).await.expect("dispatch");
    // Four messages for i (updated, updated, updated, completed), one for j: the first of
    // each subject is handed out, the rest wait for their predecessor.
    let mut order = Vec::new();
    for round in 0..10 {
        let jobs = store
            .lease_due_deliveries(t(10 + round), t(60_000), 10, vec![])
            .await
            .expect("lease");
        if jobs.is_empty() {
            break;
        }
        let subjects: std::collections::HashSet<&str> =
            jobs.iter().map(|j| j.message.subject_id.as_str()).collect();
        assert_eq!(
            subjects.len(),
            jobs.len(),
            "at most one delivery per subject at a time"
        );
        for job in &jobs {
            order.push((
                job.message.subject_id.clone(),
                job.message.event_type,
                job.message.created_at,
            ));
            store
                .record_attempt(&attempt(job, 10 + round, AttemptResult::Delivered))
                .await
                .expect("record");
        }
    }
    let of_i: Vec<_> = order
        .iter()
        .filter(|(s, _, _)| *s == i.id.to_string())
        .collect();
    assert_eq!(of_i.len(), 4);
    assert!(
        of_i.windows(2).all(|w| w[0].2 <= w[1].2),
        "in creation order: {of_i:?}"
    );
    assert_eq!(of_i[3].1, WebhookEventType::InteractionCompleted);
    assert_eq!(
        order
            .iter()
            .filter(|(s, _, _)| *s == j.id.to_string())
            .count(),
        1
    );
}

pub async fn gone_disables_the_endpoint_and_fails_its_backlog(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let e = endpoint(&m, "https://gone.example/hook", &["*"], true);
    store.save_webhook_endpoint(&e).await.expect("save");
    let term = terminal(&store, &m, "1").await;
    let (i, ev) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &ev))
        .await
        .expect("create");
    step(&store, &i, Input::CancelRequested, 2).await;
    store.dispatch_outbox(100, t(3)).await.expect("dispatch");
    let jobs = store
        .lease_due_deliveries(t(3), t(60_000), 10, vec![])
        .await
        .expect("lease");
    assert_eq!(jobs.len(), 1);
    store
        .record_attempt(&attempt(&jobs[0], 4, AttemptResult::Gone))
        .await
        .expect("record");
    let stored = store
        .get_webhook_endpoint(m.id, e.id)
        .await
        .expect("get")
        .expect("exists");
    assert!(!stored.enabled);
    assert!(stored.disabled_reason.is_some());
    let log = store
        .list_deliveries(
            m.id,
            &DeliveryFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("log");
    assert_eq!(log.len(), 3);
    assert!(
        log.iter().all(|d| d.status == DeliveryStatus::Failed),
        "{log:?}"
    );
    assert!(
        store
            .lease_due_deliveries(t(10), t(60_000), 10, vec![])
            .await
            .expect("lease")
            .is_empty()
    );
    // A disabled endpoint gets nothing new.
    store
        .append_outbox(&[terminal_message(&term, TerminalStatus::Offline, t(11))])
        .await
        .expect("append");
    store.dispatch_outbox(100, t(11)).await.expect("dispatch");
    assert_eq!(
        store
            .list_deliveries(
                m.id,
                &DeliveryFilter {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .expect("log")
            .len(),
        3
    );
    // Deleting fails what is pending and removes the endpoint.
    let e2 = endpoint(&m, "https://second.example/hook", &["*"], true);
    store.save_webhook_endpoint(&e2).await.expect("save");
    store
        .append_outbox(&[terminal_message(&term, TerminalStatus::Online, t(12))])
        .await
        .expect("append");
    store.dispatch_outbox(100, t(12)).await.expect("dispatch");
    assert!(
        store
            .delete_webhook_endpoint(m.id, e2.id, t(13))
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_webhook_endpoint(m.id, e2.id, t(13))
            .await
            .expect("delete twice")
    );
    assert_eq!(
        store.get_webhook_endpoint(m.id, e2.id).await.expect("get"),
        None
    );
    let pending = store
        .list_deliveries(
            m.id,
            &DeliveryFilter {
                status: Some(DeliveryStatus::Pending),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("pending");
    assert!(pending.is_empty());
}

pub async fn leases_survive_a_crash_and_targets_can_be_skipped(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let a = endpoint(&m, "https://a.example/hook", &["*"], true);
    let b = endpoint(&m, "https://b.example/hook", &["*"], true);
    store.save_webhook_endpoint(&a).await.expect("save");
    store.save_webhook_endpoint(&b).await.expect("save");
    let term = terminal(&store, &m, "1").await;
    store
        .append_outbox(&[terminal_message(&term, TerminalStatus::Online, t(1))])
        .await
        .expect("append");
    store.dispatch_outbox(100, t(1)).await.expect("dispatch");
    let only_b = store
        .lease_due_deliveries(t(2), t(60_000), 10, vec![a.id.to_string()])
        .await
        .expect("lease");
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].url, b.url);
    // The process "dies" with b in flight: after the lease is released it is due again.
    assert_eq!(store.release_delivery_leases().await.expect("release"), 1);
    let all = store
        .lease_due_deliveries(t(3), t(60_000), 10, vec![])
        .await
        .expect("lease");
    assert_eq!(all.len(), 2);
    // A lease also simply expires.
    let again = store
        .lease_due_deliveries(t(60_001), t(120_000), 10, vec![])
        .await
        .expect("lease");
    assert_eq!(again.len(), 2);
}

pub async fn callbacks_and_redelivery(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let callbacks = WebhookEndpoint {
        kind: EndpointKind::Callbacks,
        url: String::new(),
        ..endpoint(&m, "", &["*"], true)
    };
    store.save_webhook_endpoint(&callbacks).await.expect("save");
    let term = terminal(&store, &m, "1").await;
    let (mut i, ev) = new_interaction(&m, &term, 100, 1);
    i.webhooks = vec![CallbackSubscription {
        url: "https://pos.example/cb".into(),
        events: vec!["interaction.updated".into()],
        format: Some("cm".into()),
    }];
    store
        .create_interaction(&create(&i, &ev))
        .await
        .expect("create");
    store.dispatch_outbox(100, t(2)).await.expect("dispatch");
    let jobs = store
        .lease_due_deliveries(t(2), t(60_000), 10, vec![])
        .await
        .expect("lease");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].url, "https://pos.example/cb");
    assert_eq!(jobs[0].target_key, "cb:https://pos.example/cb");
    assert_eq!(jobs[0].secrets, vec![callbacks.secrets[0].secret.clone()]);
    assert_eq!(
        jobs[0].format.as_deref(),
        Some("cm"),
        "the callback's payload format travels with it"
    );
    // Eight failures exhaust the schedule.
    let mut job = jobs[0].clone();
    let mut now = 2;
    loop {
        let record = attempt(&job, now, FAIL);
        store.record_attempt(&record).await.expect("record");
        match record.next {
            NextStep::RetryAt(at) => {
                now = at.millis_since(t(0));
                job = store
                    .lease_due_deliveries(at, at.plus_millis(60_000), 10, vec![])
                    .await
                    .expect("lease")
                    .remove(0);
            }
            NextStep::GiveUp => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(job.attempt, 8);
    let failed = store
        .get_delivery(m.id, job.delivery_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.attempts.len(), 8);
    assert!(
        store
            .redeliver(m.id, job.delivery_id, t(now + 1))
            .await
            .expect("redeliver")
    );
    let fresh = store
        .lease_due_deliveries(t(now + 1), t(now + 60_000), 10, vec![])
        .await
        .expect("lease");
    assert_eq!(fresh[0].attempt, 9);
    assert_eq!(
        fresh[0].schedule_attempt, 1,
        "a redelivery starts a fresh schedule"
    );
    let other = merchant(&store, "Other").await;
    assert!(
        !store
            .redeliver(other.id, job.delivery_id, t(now + 2))
            .await
            .expect("scoped")
    );
}

pub async fn outbox_rows_share_the_fate_of_their_state_change(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    store
        .save_webhook_endpoint(&endpoint(&m, "https://all.example/hook", &["*"], true))
        .await
        .expect("save");
    let term = terminal(&store, &m, "1").await;
    let (i, ev) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &ev))
        .await
        .expect("create");
    // A refused create (busy terminal) writes no message.
    let (j, jv) = new_interaction(&m, &term, 200, 2);
    assert!(store.create_interaction(&create(&j, &jv)).await.is_err());
    // A refused transition (stale version) writes no message either.
    let stale = apply(&i, Input::CancelRequested, t(3)).expect("valid");
    let fresh = step(&store, &i, Input::TerminalAcknowledged, 3).await;
    assert_ne!(fresh.last_seq, i.last_seq);
    let refused = store
        .apply_transition(&TransitionWrite {
            outbox: interaction_messages(Some(&i), &stale.interaction, None, t(4)),
            interaction: stale.interaction,
            expected_last_seq: i.last_seq,
            events: stale.events,
            transaction: None,
        })
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::VersionConflict {
            entity: "interaction",
            ..
        })
    ));
    // Created + acknowledged: exactly two messages.
    assert_eq!(store.dispatch_outbox(100, t(5)).await.expect("dispatch"), 2);
}

/// A message no enabled endpoint subscribes to and no callback wants is not kept: a
/// merchant without webhooks pays nothing for them, and an endpoint receives what is
/// committed after it exists.
pub async fn outbox_keeps_only_messages_someone_receives(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let term = terminal(&store, &m, "1").await;
    let (i, ev) = new_interaction(&m, &term, 100, 1);
    store
        .create_interaction(&create(&i, &ev))
        .await
        .expect("create");
    assert_eq!(store.dispatch_outbox(100, t(2)).await.expect("dispatch"), 0);
    // Subscribed to completions only (and a disabled catch-all): the acknowledgement's
    // `interaction.updated` is still nobody's.
    for e in [
        endpoint(
            &m,
            "https://done.example/hook",
            &["interaction.completed"],
            true,
        ),
        endpoint(&m, "https://off.example/hook", &["*"], false),
    ] {
        store.save_webhook_endpoint(&e).await.expect("save");
    }
    let acked = step(&store, &i, Input::TerminalAcknowledged, 3).await;
    assert_eq!(store.dispatch_outbox(100, t(4)).await.expect("dispatch"), 0);
    // The outcome is wanted: its messages are kept and dispatched.
    step(&store, &acked, approved_input(), 5).await;
    assert!(store.dispatch_outbox(100, t(6)).await.expect("dispatch") >= 1);
    // Per-interaction callbacks are always kept, endpoints or not.
    let other = merchant(&store, "N").await;
    let term2 = terminal(&store, &other, "2").await;
    let (mut j, jv) = new_interaction(&other, &term2, 200, 7);
    j.webhooks = vec![CallbackSubscription {
        url: "https://pos.example/cb".into(),
        events: vec!["*".into()],
        format: None,
    }];
    let mut create_j = create(&j, &jv);
    create_j.outbox = interaction_messages(None, &j, None, j.created_at);
    store.create_interaction(&create_j).await.expect("create");
    assert_eq!(store.dispatch_outbox(100, t(8)).await.expect("dispatch"), 1);
}

async fn approved_transaction(
    store: &Arc<dyn Store>,
    m: &Merchant,
    serial: &str,
    at: i64,
) -> Transaction {
    let term = terminal(store, m, serial).await;
    let (i, e) = new_interaction(m, &term, 1000, at);
    store
        .create_interaction(&create(&i, &e))
        .await
        .expect("create");
    let done = step(store, &i, approved_input(), at + 1).await;
    store
        .get_transaction(done.transaction_id.expect("txn"))
        .await
        .expect("get")
        .expect("stored")
}

fn refund_op(txn: &Transaction, value: i64, at: i64) -> Operation {
    Operation {
        id: OperationId::generate(t(at)),
        transaction_id: txn.id,
        merchant_id: txn.merchant_id,
        kind: OperationKind::Refund,
        amount: eur(value),
        status: OperationStatus::Pending,
        reference: Some("r-1".into()),
        failure_reason: None,
        processor_reference: None,
        receipts: None,
        idempotency_key: Some("refund-key".into()),
        created_at: t(at),
        updated_at: t(at),
    }
}

pub async fn transaction_writes_are_versioned_and_atomic(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let original = approved_transaction(&store, &m, "1", 1).await;
    assert_eq!(original.last_seq, 0);
    let mut txn = original.clone();
    let op = refund_op(&txn, 400, 10);
    txn.begin(&op, t(10));
    let event = txn.event(
        TransactionEventKind::OperationRequested {
            operation: op.id,
            operation_kind: op.kind,
            amount: 400,
        },
        t(10),
    );
    let idem = OperationIdempotency {
        merchant_id: m.id,
        key: "refund-key".into(),
        fingerprint: [3; 32],
        operation_id: op.id,
        response: Some(OperationSnapshot {
            operation: op.clone(),
            transaction: txn.clone(),
        }),
        created_at: t(10),
        expires_at: t(100_000),
    };
    let write = TransactionWrite {
        transaction: txn.clone(),
        expected_last_seq: 0,
        events: vec![event.clone()],
        operation: Some(op.clone()),
        outbox: vec![transaction_message(&txn, &[], t(10))],
        idempotency: Some(idem.clone()),
        idempotency_response: None,
    };
    store.apply_transaction_write(&write).await.expect("write");
    assert_eq!(
        store.get_transaction(txn.id).await.expect("get"),
        Some(txn.clone())
    );
    assert_eq!(
        store.get_operation(op.id).await.expect("get op"),
        Some(op.clone())
    );
    assert_eq!(
        store
            .list_operations(txn.id, Some(OperationKind::Refund))
            .await
            .expect("list"),
        vec![op.clone()]
    );
    assert!(
        store
            .list_operations(txn.id, Some(OperationKind::Capture))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store.pending_operations().await.expect("pending"),
        vec![op.clone()]
    );
    // By id range (ids are time-ordered): inclusive bounds, the merchant's only.
    assert_eq!(
        store
            .operations_between(m.id, op.id, op.id, 10)
            .await
            .expect("between"),
        vec![op.clone()]
    );
    // The operation was created at t(10): ids of t(9) sort below it, of t(11) above.
    let below = OperationId::generate(t(9));
    let above = OperationId::generate(t(11));
    assert!(
        store
            .operations_between(m.id, above, above, 10)
            .await
            .expect("between")
            .is_empty()
    );
    assert_eq!(
        store
            .operations_between(m.id, below, above, 10)
            .await
            .expect("between"),
        vec![op.clone()]
    );
    let other = merchant(&store, "Other").await;
    assert!(
        store
            .operations_between(other.id, below, above, 10)
            .await
            .expect("between")
            .is_empty()
    );
    assert_eq!(
        store
            .list_transaction_events(txn.id, 0, 10)
            .await
            .expect("events"),
        vec![event]
    );
    assert_eq!(
        store
            .find_operation_idempotency(m.id, "refund-key", t(11))
            .await
            .expect("idem"),
        Some(idem.clone())
    );
    assert_eq!(
        store
            .find_operation_idempotency(m.id, "refund-key", t(100_001))
            .await
            .expect("expired"),
        None
    );
    // A writer that read the old version loses, and writes nothing.
    // The refusal names what happened: a version conflict on this transaction (not a
    // duplicate, which callers must not retry).
    let mut stale = original.clone();
    let other = refund_op(&stale, 700, 11);
    stale.begin(&other, t(11));
    let refused = store
        .apply_transaction_write(&TransactionWrite {
            transaction: stale,
            expected_last_seq: 0,
            events: vec![],
            operation: Some(other.clone()),
            outbox: vec![],
            idempotency: None,
            idempotency_response: None,
        })
        .await;
    assert!(
        matches!(
            &refused,
            Err(StoreError::VersionConflict { entity: "transaction", id }) if *id == txn.id.to_string()
        ),
        "{refused:?}"
    );
    assert_eq!(store.get_operation(other.id).await.expect("get"), None);
    // The same idempotency key again: refused with the existing record, nothing written.
    let mut again = txn.clone();
    let third = refund_op(&again, 100, 12);
    again.begin(&third, t(12));
    match store
        .apply_transaction_write(&TransactionWrite {
            transaction: again,
            expected_last_seq: txn.last_seq,
            events: vec![],
            operation: Some(third.clone()),
            outbox: vec![],
            idempotency: Some(OperationIdempotency {
                operation_id: third.id,
                ..idem.clone()
            }),
            idempotency_response: None,
        })
        .await
    {
        Err(StoreError::OperationIdempotencyConflict { existing }) => {
            assert_eq!(existing.operation_id, op.id)
        }
        other => panic!("expected an idempotency conflict, got {other:?}"),
    }
    assert_eq!(store.get_operation(third.id).await.expect("get"), None);
    // Completion: the operation succeeds, the answer is recorded for the key.
    let mut done_txn = txn.clone();
    let mut done_op = op.clone();
    done_op.status = OperationStatus::Succeeded;
    done_txn.complete(&done_op, t(20));
    let snapshot = OperationSnapshot {
        operation: done_op.clone(),
        transaction: done_txn.clone(),
    };
    store
        .apply_transaction_write(&TransactionWrite {
            transaction: done_txn.clone(),
            expected_last_seq: txn.last_seq,
            events: vec![],
            operation: Some(done_op.clone()),
            outbox: vec![],
            idempotency: None,
            idempotency_response: Some((m.id, "refund-key".into(), snapshot.clone())),
        })
        .await
        .expect("complete");
    assert!(
        store
            .pending_operations()
            .await
            .expect("pending")
            .is_empty()
    );
    assert_eq!(
        store
            .find_operation_idempotency(m.id, "refund-key", t(21))
            .await
            .expect("idem")
            .and_then(|r| r.response),
        Some(snapshot)
    );
    assert_eq!(
        store
            .get_transaction(txn.id)
            .await
            .expect("get")
            .map(|t| t.refunded_amount),
        Some(400)
    );
}

pub async fn settlement_finds_what_waits(store: Arc<dyn Store>) {
    let m = merchant(&store, "M").await;
    let sale = approved_transaction(&store, &m, "1", 1_000).await;
    let later = approved_transaction(&store, &m, "2", 50_000).await;
    let found = store
        .transactions_to_settle(t(10_000), 100)
        .await
        .expect("to settle");
    assert_eq!(
        found.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![sale.id]
    );
    let mut settled = sale.clone();
    assert!(settled.settle(t(10_001)));
    let event = settled.event(TransactionEventKind::Settled, t(10_001));
    store
        .apply_transaction_write(&TransactionWrite {
            transaction: settled,
            expected_last_seq: 0,
            events: vec![event],
            operation: None,
            outbox: vec![],
            idempotency: None,
            idempotency_response: None,
        })
        .await
        .expect("settle");
    assert!(
        store
            .transactions_to_settle(t(10_000), 100)
            .await
            .expect("again")
            .is_empty()
    );
    assert_eq!(
        store
            .transactions_to_settle(t(60_000), 100)
            .await
            .expect("later")
            .len(),
        1
    );
    assert_eq!(
        store
            .transactions_to_settle(t(60_000), 100)
            .await
            .expect("later")[0]
            .id,
        later.id
    );
}

fn credential(
    terminal: &Terminal,
    kind: CredentialKind,
    hash: u8,
    at: i64,
    expires: Option<i64>,
) -> DeviceCredential {
    DeviceCredential {
        secret_hash: [hash; 32],
        terminal_id: terminal.id,
        kind,
        created_at: t(at),
        expires_at: expires.map(t),
        used_at: None,
        revoked_at: None,
    }
}

pub async fn pairing_codes_are_single_use_and_replace_device_keys(store: Arc<dyn Store>) {
    let m = merchant(&store, "Link Shop").await;
    let device = Terminal {
        id: TerminalId::generate(t(0)),
        kind: TerminalKind::Device,
        connection: TerminalConnection::Link,
        ..terminal(&store, &m, "11").await
    };
    let device = Terminal {
        serial_number: "22".into(),
        ..device
    };
    store.create_terminal(&device).await.expect("device");
    assert_eq!(
        store
            .get_terminal(device.id)
            .await
            .expect("get")
            .map(|t| t.connection),
        Some(TerminalConnection::Link)
    );

    // A newer code replaces an unused older one.
    let old_code = credential(&device, CredentialKind::PairingCode, 1, 1, Some(600));
    store.add_pairing_code(&old_code).await.expect("code 1");
    let code = credential(&device, CredentialKind::PairingCode, 2, 2, Some(600));
    store.add_pairing_code(&code).await.expect("code 2");
    let old = store
        .find_device_credential(&[1; 32])
        .await
        .expect("find")
        .expect("kept");
    assert_eq!(old.revoked_at, Some(t(2)));
    assert!(!old.is_usable(t(3)));
    let key = credential(&device, CredentialKind::DeviceKey, 10, 3, None);
    assert!(matches!(
        store.redeem_pairing_code(&[1; 32], &key).await,
        Err(StoreError::NotFound(_))
    ));

    // Redeemed once; a second redemption fails.
    store
        .redeem_pairing_code(&[2; 32], &key)
        .await
        .expect("redeem");
    let again = credential(&device, CredentialKind::DeviceKey, 11, 4, None);
    assert!(matches!(
        store.redeem_pairing_code(&[2; 32], &again).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .find_device_credential(&[2; 32])
            .await
            .expect("find")
            .and_then(|c| c.used_at),
        Some(t(3))
    );
    let stored = store
        .find_device_credential(&[10; 32])
        .await
        .expect("find")
        .expect("device key");
    assert_eq!(stored, key);
    assert!(stored.is_usable(t(1_000_000)));

    // An expired code is refused.
    let late = credential(&device, CredentialKind::PairingCode, 3, 5, Some(10));
    store.add_pairing_code(&late).await.expect("code 3");
    let key2 = credential(&device, CredentialKind::DeviceKey, 12, 10, None);
    assert!(matches!(
        store.redeem_pairing_code(&[3; 32], &key2).await,
        Err(StoreError::NotFound(_))
    ));

    // Re-pairing revokes the earlier device key.
    let code4 = credential(&device, CredentialKind::PairingCode, 4, 20, Some(600));
    store.add_pairing_code(&code4).await.expect("code 4");
    let key3 = credential(&device, CredentialKind::DeviceKey, 13, 21, None);
    store
        .redeem_pairing_code(&[4; 32], &key3)
        .await
        .expect("re-pair");
    let first = store
        .find_device_credential(&[10; 32])
        .await
        .expect("find")
        .expect("kept");
    assert_eq!(first.revoked_at, Some(t(21)));

    // Revoking the terminal revokes what is left.
    assert_eq!(
        store
            .revoke_device_credentials(device.id, t(30))
            .await
            .expect("revoke"),
        1
    );
    assert!(
        !store
            .find_device_credential(&[13; 32])
            .await
            .expect("find")
            .expect("kept")
            .is_usable(t(31))
    );
    assert_eq!(
        store.find_device_credential(&[99; 32]).await.expect("find"),
        None
    );
}

/// `ready()` answers on a fresh store, again after a refused write, and leaves no trace a
/// reader could see.
pub async fn ready_proves_writes_and_leaves_nothing_behind(store: Arc<dyn Store>) {
    store.ready().await.expect("a fresh store is ready");
    let m = merchant(&store, "Ready").await;
    assert!(matches!(
        store.create_merchant(&m).await,
        Err(StoreError::Duplicate(_))
    ));
    store
        .ready()
        .await
        .expect("still ready after a refused write");
    store.ready().await.expect("ready twice");
    assert_eq!(store.list_merchants().await.expect("list"), vec![m]);
}
