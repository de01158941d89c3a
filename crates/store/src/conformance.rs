//! The conformance suite: the behaviour every [`Store`] backend must show.
//!
//! A backend runs the whole suite with one macro call in its tests:
//!
//! ```ignore
//! poigate_store::conformance_tests!(my_backend_factory);
//! ```
//!
//! where `my_backend_factory` is an `async fn() -> TestStore` giving a fresh, empty store.
//! Each case is a plain `async fn` here, so a failure points at the rule that broke.

use crate::*;
use poigate_domain::{
    ApiKeyId, ApiKeyMode, CardBrand, Currency, EntryMode, EventKind, Input, InteractionType,
    MaskedCard, Money, NewInteraction, ReceiptContext, Status, TerminalConnection, TerminalKind,
    TerminalOutcome, apply,
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
    ($factory:path) => {
        $crate::conformance_tests!(@cases $factory;
            merchants_and_api_keys,
            terminals_are_scoped_and_unique,
            interaction_round_trip,
            one_live_interaction_per_terminal,
            concurrent_creates_on_one_terminal_admit_one,
            transitions_append_events_and_check_versions,
            card_decision_stores_the_transaction,
            idempotency_keys_are_unique_and_atomic,
            expired_idempotency_keys_are_reusable,
            events_page_in_both_orders,
            lookups_filter_and_page,
            pairing_codes_are_single_use_and_replace_device_keys,
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let ts = $factory().await;
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
    };
    store.create_merchant(&m).await.expect("create merchant");
    m
}

async fn terminal(store: &Arc<dyn Store>, m: &Merchant, serial: &str) -> Terminal {
    let term = Terminal {
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
    assert_eq!(store.list_merchants().await.expect("list").len(), 2);
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
        })
        .await;
    assert!(matches!(res, Err(StoreError::VersionConflict(id)) if id == i.id));
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
