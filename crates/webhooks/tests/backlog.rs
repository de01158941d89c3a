//! A backlog larger than one dispatch chunk: the worker fans it out a chunk per pass, between
//! leases, and every message still arrives once acknowledged, in order per subject, against
//! a real SQLite store and a real local receiver.

use poigate_domain::webhook::terminal_message;
use poigate_domain::{
    EndpointKind, Merchant, MerchantId, SigningSecret, Terminal, TerminalConnection, TerminalId,
    TerminalKind, TerminalStatus, Timestamp, WebhookEndpoint, WebhookEndpointId,
};
use poigate_engine::{Clock, SystemClock};
use poigate_store::Store;
use poigate_store_sqlite::{SqliteConfig, SqliteStore};
use poigate_webhooks::{TargetPolicy, WebhookConfig, WebhookWorker};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Several times the worker's dispatch chunk (128), over a few subjects.
const MESSAGES: usize = 600;
const SUBJECTS: usize = 5;

#[tokio::test]
async fn a_backlog_of_many_chunks_arrives_whole_and_in_order_per_subject() -> anyhow::Result<()> {
    poigate_webhooks::install_tls_provider();
    // The receiver keeps the webhook-ids in arrival order and publishes how many it has.
    let arrived: Arc<Mutex<Vec<String>>> = Arc::default();
    let (count_tx, mut count) = tokio::sync::watch::channel(0usize);
    let log = arrived.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let (log, count_tx) = (log.clone(), count_tx.clone());
        async move {
            if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                let mut log = log.lock().expect("log");
                log.push(id.to_string());
                count_tx.send_replace(log.len());
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&SqliteConfig::new(
        dir.path().join("backlog.db"),
    ))?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let merchant = Merchant {
        id: MerchantId::generate(now),
        name: "backlog".into(),
        created_at: now,
        disabled_at: None,
    };
    store.create_merchant(&merchant).await?;
    store
        .save_webhook_endpoint(&WebhookEndpoint {
            id: WebhookEndpointId::generate(now),
            merchant_id: merchant.id,
            livemode: false,
            kind: EndpointKind::Endpoint,
            url,
            format: None,
            description: None,
            events: vec!["*".into()],
            enabled: true,
            disabled_reason: None,
            secrets: vec![SigningSecret {
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                created_at: now,
                expires_at: None,
            }],
            created_at: now,
            updated_at: now,
        })
        .await?;
    let terminals: Vec<Terminal> = (0..SUBJECTS)
        .map(|i| Terminal {
            id: TerminalId::generate(now),
            merchant_id: merchant.id,
            livemode: false,
            serial_number: format!("backlog-{i}"),
            model: "V400m".into(),
            label: None,
            kind: TerminalKind::Simulated,
            connection: TerminalConnection::InProcess,
            created_at: now,
        })
        .collect();
    // Message i is about terminal i % SUBJECTS; its position in the outbox is i.
    let messages: Vec<_> = (0..MESSAGES)
        .map(|i| {
            let status = if i % 2 == 0 {
                TerminalStatus::Online
            } else {
                TerminalStatus::Offline
            };
            terminal_message(
                &terminals[i % SUBJECTS],
                status,
                Timestamp::from_millis(now.as_millis() + i as i64),
            )
        })
        .collect();
    store.append_outbox(&messages).await?;
    let position: HashMap<String, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.to_string(), i))
        .collect();

    let signal = Arc::new(tokio::sync::Notify::new());
    let worker = WebhookWorker::new(
        store.clone(),
        clock,
        signal.clone(),
        WebhookConfig {
            policy: TargetPolicy {
                allow_private: true,
            },
            max_concurrency: 16,
            max_per_target: 16,
            ..WebhookConfig::default()
        },
    )?;
    let handle = worker.spawn();
    signal.notify_one();
    let all_in =
        tokio::time::timeout(Duration::from_secs(60), count.wait_for(|n| *n >= MESSAGES)).await;
    anyhow::ensure!(
        matches!(all_in, Ok(Ok(_))),
        "{} of {MESSAGES} delivered within 60 s",
        arrived.lock().expect("log").len()
    );
    assert!(handle.stop_within(Duration::from_secs(5)).await, "drained");
    // Every attempt's record is durable: nothing is left to deliver.
    assert!(
        store.next_delivery_due().await?.is_none(),
        "nothing pending"
    );

    let arrived = arrived.lock().expect("log").clone();
    assert_eq!(arrived.len(), MESSAGES, "each acknowledged message once");
    let mut last: HashMap<usize, usize> = HashMap::new();
    for id in &arrived {
        let i = *position.get(id).expect("a message of this test");
        let subject = i % SUBJECTS;
        if let Some(before) = last.insert(subject, i) {
            assert!(
                before < i,
                "subject {subject}: message {i} arrived after {before}"
            );
        }
    }
    Ok(())
}
