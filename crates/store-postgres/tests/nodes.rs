//! What the conformance suite cannot show with one store: several nodes (stores with their
//! own pools) on one database, and a database that goes away. Real PostgreSQL servers; skips
//! with one line when PostgreSQL is not installed, unless `POIGATE_REQUIRE_POSTGRES=1`.

use poigate_domain::webhook::terminal_message;
use poigate_domain::{
    Currency, EndpointKind, Interaction, InteractionId, InteractionType, Merchant, MerchantId,
    Money, NewInteraction, SigningSecret, Terminal, TerminalConnection, TerminalId, TerminalKind,
    TerminalStatus, Timestamp, WebhookEndpoint, WebhookEndpointId,
};
use poigate_store::{
    CreateInteraction, CredentialKind, DeviceCredential, IdempotencyKey, IdempotencyRecord, Store,
    StoreError,
};
use poigate_store_postgres::testing::{PgServer, fresh_database, print_skip_line, required};
use poigate_store_postgres::{MIGRATIONS, PostgresConfig, PostgresStore};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_750_000_000_000 + ms)
}

async fn node(url: &str) -> Arc<PostgresStore> {
    let mut config = PostgresConfig::new(url);
    config.pool_size = 8;
    Arc::new(PostgresStore::connect(&config).await.expect("connect"))
}

async fn merchant(store: &PostgresStore) -> Merchant {
    let m = Merchant {
        id: MerchantId::generate(t(0)),
        name: "M".into(),
        created_at: t(0),
        disabled_at: None,
    };
    store.create_merchant(&m).await.expect("merchant");
    m
}

async fn terminal(store: &PostgresStore, m: &Merchant, serial: &str) -> Terminal {
    let term = Terminal {
        id: TerminalId::generate(t(0)),
        merchant_id: m.id,
        livemode: false,
        serial_number: serial.into(),
        model: "V400m".into(),
        label: None,
        kind: TerminalKind::Simulated,
        connection: TerminalConnection::InProcess,
        created_at: t(0),
    };
    store.create_terminal(&term).await.expect("terminal");
    term
}

/// A sale on `term` whose natural key is (till-1, `service`), with that key's record.
fn sale(m: &Merchant, term: &Terminal, service: &str, at: i64) -> CreateInteraction {
    let new = NewInteraction {
        ask_for_tip: false,
        merchant_id: m.id,
        terminal_id: term.id,
        kind: InteractionType::Sale,
        amount: Money::new(100, Currency::from_code("EUR").expect("EUR")).expect("amount"),
        reference: None,
        sale_id: Some("till-1".into()),
        service_id: Some(service.into()),
        timeout_seconds: None,
        metadata: Default::default(),
        webhooks: vec![],
    };
    let (i, e): (Interaction, _) =
        Interaction::create(new, InteractionId::generate(t(at)), true, t(at)).expect("valid");
    CreateInteraction {
        idempotency: vec![IdempotencyRecord {
            merchant_id: m.id,
            key: IdempotencyKey::Natural {
                sale_id: "till-1".into(),
                service_id: service.into(),
            },
            fingerprint: [1; 32],
            interaction_id: i.id,
            response: i.clone(),
            created_at: t(at),
            expires_at: t(86_400_000),
        }],
        interaction: i,
        first_event: e,
        outbox: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_nodes_starting_together_migrate_once() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&PostgresConfig::new(url)).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.expect("task").expect("every node starts"));
    }
    let client = stores[0].pool().get().await.expect("client");
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("versions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, expected, "each migration applied exactly once");
    // A node started later finds nothing to do.
    node(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_create_racing_on_two_nodes_admits_one() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let (a, b) = (node(&url).await, node(&url).await);
    let m = merchant(&a).await;
    // Same terminal, different keys: the live-interaction rule admits one.
    let term = terminal(&a, &m, "1").await;
    // Same natural key, different terminals: the idempotency rule admits one.
    let mut others = Vec::new();
    for n in 0..8 {
        others.push(terminal(&b, &m, &format!("other-{n}")).await);
    }
    let mut tasks = Vec::new();
    for n in 0..8i64 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        let busy = sale(&m, &term, &format!("svc-{n}"), n);
        let same_key = sale(&m, &others[n as usize], "svc-shared", 100 + n);
        tasks.push(tokio::spawn(async move {
            (
                store.create_interaction(&busy).await,
                store.create_interaction(&same_key).await,
            )
        }));
    }
    let (mut busy_ok, mut key_ok) = (0, 0);
    for task in tasks {
        let (busy, same_key) = task.await.expect("task");
        match busy {
            Ok(()) => busy_ok += 1,
            Err(StoreError::TerminalBusy { .. }) => {}
            Err(e) => panic!("expected TerminalBusy, got {e:?}"),
        }
        match same_key {
            Ok(()) => key_ok += 1,
            Err(StoreError::IdempotencyConflict { existing }) => {
                assert_eq!(existing.merchant_id, m.id);
            }
            Err(e) => panic!("expected IdempotencyConflict, got {e:?}"),
        }
    }
    assert_eq!(busy_ok, 1, "one live interaction per terminal across nodes");
    assert_eq!(key_ok, 1, "one interaction per natural key across nodes");
    assert_eq!(a.live_interactions().await.expect("live").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_lease_each_delivery_once() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let (a, b) = (node(&url).await, node(&url).await);
    let m = merchant(&a).await;
    a.save_webhook_endpoint(&WebhookEndpoint {
        id: WebhookEndpointId::generate(t(0)),
        merchant_id: m.id,
        livemode: false,
        kind: EndpointKind::Endpoint,
        url: "https://hooks.example/in".into(),
        format: None,
        description: None,
        events: vec!["*".into()],
        enabled: true,
        disabled_reason: None,
        secrets: vec![SigningSecret {
            secret: "whsec_test".into(),
            created_at: t(0),
            expires_at: None,
        }],
        created_at: t(0),
        updated_at: t(0),
    })
    .await
    .expect("endpoint");
    let mut messages = Vec::new();
    for n in 0..40 {
        let term = terminal(&a, &m, &format!("{n}")).await;
        messages.push(terminal_message(&term, TerminalStatus::Online, t(1)));
    }
    a.append_outbox(&messages).await.expect("append");
    // Both nodes dispatch at once: every message fans out once.
    let (da, db) = tokio::join!(a.dispatch_outbox(25, t(1)), b.dispatch_outbox(25, t(1)));
    let dispatched = da.expect("dispatch a") + db.expect("dispatch b");
    let rest = a.dispatch_outbox(100, t(1)).await.expect("dispatch rest");
    assert_eq!(dispatched + rest, 40);
    // Both nodes lease in rounds at once: no delivery is handed out twice.
    let mut seen = HashSet::new();
    for _ in 0..10 {
        let (la, lb) = tokio::join!(
            a.lease_due_deliveries(t(2), t(60_000), 7, vec![]),
            b.lease_due_deliveries(t(2), t(60_000), 7, vec![])
        );
        for job in la.expect("lease a").into_iter().chain(lb.expect("lease b")) {
            assert!(
                seen.insert(job.delivery_id),
                "leased twice: {}",
                job.delivery_id
            );
        }
    }
    assert_eq!(seen.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut config = PostgresConfig::new(format!("postgres://postgres@127.0.0.1:{port}/x"));
    config.connect_timeout = Duration::from_secs(1);
    match PostgresStore::connect(&config).await {
        Err(StoreError::Unavailable(_)) => {}
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("connected to nothing"),
    }
    config.url = "postgres://app:s3cret@127.0.0.1:notaport/x".into();
    match PostgresStore::connect(&config).await {
        Err(StoreError::Unavailable(message)) => assert!(!message.contains("s3cret"), "{message}"),
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("connected with a bad URL"),
    }
}

/// A server of its own (this test stops it): the store answers `Unavailable` within its
/// bounds while the database is down, and recovers by itself once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_unavailable_and_the_store_recovers() {
    let server = match PgServer::start() {
        Ok(server) => server,
        Err(poigate_store_postgres::testing::HarnessError::NotFound) if !required() => {
            print_skip_line();
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let url = server.create_database().await.expect("database");
    let mut config = PostgresConfig::new(url);
    config.connect_timeout = Duration::from_secs(1);
    config.acquire_timeout = Duration::from_secs(1);
    let store = PostgresStore::connect(&config).await.expect("connect");
    let m = merchant(&store).await;
    store.ready().await.expect("ready");

    server.stop();
    // Calls fail within their bounds: a hang would trip this deadline.
    tokio::time::timeout(Duration::from_secs(15), async {
        for _ in 0..3 {
            match store.get_merchant(m.id).await {
                Err(StoreError::Unavailable(_)) => {}
                other => panic!("expected Unavailable while the database is down, got {other:?}"),
            }
        }
        assert!(matches!(
            store.ready().await,
            Err(StoreError::Unavailable(_))
        ));
    })
    .await
    .expect("calls must fail within their bounds while the database is down");

    server.restart().expect("restart");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.get_merchant(m.id).await {
            Ok(found) => {
                assert_eq!(found, Some(m.clone()));
                break;
            }
            Err(StoreError::Unavailable(e)) if Instant::now() < deadline => {
                eprintln!("still recovering: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("did not recover: {e:?}"),
        }
    }
    store.ready().await.expect("ready again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_codes_added_on_two_nodes_at_once_leave_one_valid() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let (a, b) = (node(&url).await, node(&url).await);
    let m = merchant(&a).await;
    let term = terminal(&a, &m, "1").await;
    let codes: Vec<DeviceCredential> = (0..16u8)
        .map(|n| DeviceCredential {
            secret_hash: [n; 32],
            terminal_id: term.id,
            kind: CredentialKind::PairingCode,
            created_at: t(i64::from(n)),
            expires_at: Some(t(600_000)),
            used_at: None,
            revoked_at: None,
        })
        .collect();
    let tasks: Vec<_> = codes
        .iter()
        .cloned()
        .enumerate()
        .map(|(n, code)| {
            let store = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { store.add_pairing_code(&code).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("add");
    }
    let mut usable = 0;
    for code in &codes {
        let stored = a
            .find_device_credential(&code.secret_hash)
            .await
            .expect("find")
            .expect("stored");
        usable += usize::from(stored.is_usable(t(100)));
    }
    assert_eq!(usable, 1, "only the newest pairing code stays valid");
}
