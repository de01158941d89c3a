//! Two coordinators — two nodes — on one real PostgreSQL database (started by the test
//! harness of `poigate-store-postgres`; skipped with one line where PostgreSQL is not
//! installed, mandatory in CI).

use poigate_coordinator_postgres::{NODE_LEASE, PostgresCoordinator, PostgresCoordinatorConfig};
use poigate_domain::{ApiKeyId, ApiKeyMode, InteractionId, MerchantId, TerminalId, Timestamp};
use poigate_engine::{Clock, Coordinator, ManualClock, NodeId, Route, TerminalCommand, TimerKey};
use poigate_store::{ApiKeyRecord, Store};
use poigate_store_postgres::testing::fresh_database;
use poigate_store_postgres::{PostgresConfig, PostgresStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

const START: i64 = 1_800_000_000_000;

struct Cluster {
    a: PostgresCoordinator,
    b: PostgresCoordinator,
    clock: ManualClock,
}

async fn node(url: &str, name: &str, clock: &ManualClock) -> anyhow::Result<PostgresCoordinator> {
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(&PostgresConfig::new(url)).await?);
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    Ok(PostgresCoordinator::start(
        &PostgresCoordinatorConfig {
            url: url.to_string(),
            node_id: NodeId(name.to_string()),
            pool_size: 2,
        },
        store,
        clock,
    )
    .await?)
}

/// Two nodes on a fresh database, or `None` when PostgreSQL is not available here.
async fn cluster() -> anyhow::Result<Option<Cluster>> {
    let Some(url) = fresh_database().await else {
        return Ok(None);
    };
    let clock = ManualClock::new(Timestamp::from_millis(START));
    // Started together: the coordinator's tables are created once, under the advisory lock.
    let (a, b) = tokio::try_join!(node(&url, "node-a", &clock), node(&url, "node-b", &clock))?;
    Ok(Some(Cluster { a, b, clock }))
}

/// Polls `condition` until it holds or `within` passes.
async fn eventually(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ids() -> (TerminalId, InteractionId) {
    let at = Timestamp::from_millis(START);
    (TerminalId::generate(at), InteractionId::generate(at))
}

#[tokio::test]
async fn a_terminal_is_routed_to_the_node_that_holds_it_and_follows_a_reconnect()
-> anyhow::Result<()> {
    let Some(c) = cluster().await? else {
        return Ok(());
    };
    let (terminal, _) = ids();
    let now = c.clock.now();
    assert_eq!(c.b.route(terminal), Route::Nowhere);
    let first_connect = c.a.set_connected(terminal, true, now).await?;
    assert!(first_connect.changed, "a change");
    assert_eq!(c.a.route(terminal), Route::Here);
    eventually(
        "node b sees node a holding it",
        Duration::from_secs(3),
        || c.b.route(terminal) == Route::Node(NodeId("node-a".into())),
    )
    .await;
    let first = c.a.epoch_of(terminal).expect("a owns it");
    assert_eq!(first_connect.epoch, u64::try_from(first).ok());
    assert!(c.a.is_current_session(terminal, first as u64).await?);
    // The terminal reconnects to node b: b owns it with a newer epoch (the fencing token).
    let second = c.b.set_connected(terminal, true, now).await?;
    assert_eq!(c.b.route(terminal), Route::Here);
    assert!(c.b.epoch_of(terminal).expect("b owns it") > first);
    // Node a's old session is fenced off, at once (the database answers, not a cache).
    assert!(!c.a.is_current_session(terminal, first as u64).await?);
    assert!(
        c.b.is_current_session(terminal, second.epoch.expect("an epoch"))
            .await?
    );
    eventually(
        "node a sees node b holding it",
        Duration::from_secs(3),
        || c.a.route(terminal) == Route::Node(NodeId("node-b".into())),
    )
    .await;
    // Node a's late "disconnected" for the old connection changes nothing.
    assert!(!c.a.set_connected(terminal, false, now).await?.changed);
    assert!(c.b.is_connected(terminal));
    Ok(())
}

#[tokio::test]
async fn a_command_forwarded_to_a_node_reaches_it() -> anyhow::Result<()> {
    let Some(c) = cluster().await? else {
        return Ok(());
    };
    let (terminal, interaction) = ids();
    c.a.forward(
        &NodeId("node-b".into()),
        TerminalCommand::Cancel {
            terminal,
            interaction,
        },
    )
    .await?;
    let got = tokio::time::timeout(Duration::from_secs(5), c.b.next_command())
        .await?
        .expect("a command");
    match got {
        TerminalCommand::Cancel {
            terminal: t,
            interaction: i,
        } => assert_eq!((t, i), (terminal, interaction)),
        other => panic!("unexpected {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_timer_fires_once_in_the_cluster_even_when_its_node_is_gone() -> anyhow::Result<()> {
    let Some(c) = cluster().await? else {
        return Ok(());
    };
    let (_, interaction) = ids();
    let timer = TimerKey::Delivery(interaction);
    // Node a set it and died before it was due: node b finds it once it is late.
    c.a.set_timer(timer, c.clock.now()).await?;
    drop(c.a);
    c.clock.advance(Duration::from_secs(10));
    let orphan = tokio::time::timeout(Duration::from_secs(5), c.b.next_orphaned_timer())
        .await?
        .expect("an orphaned timer");
    assert_eq!(orphan, timer);
    assert!(c.b.claim_timer(timer).await?, "the first claim wins");
    assert!(!c.b.claim_timer(timer).await?, "a timer fires once");
    Ok(())
}

#[tokio::test]
async fn racing_claims_have_one_winner() -> anyhow::Result<()> {
    let Some(c) = cluster().await? else {
        return Ok(());
    };
    let timer = TimerKey::Settlement(c.clock.now());
    let (x, y) = tokio::join!(c.a.claim_timer(timer), c.b.claim_timer(timer));
    let (x, y) = (x?, y?);
    assert!(x ^ y, "exactly one node claims it: {x} {y}");
    Ok(())
}

#[tokio::test]
async fn a_revoked_key_is_forgotten_on_every_node() -> anyhow::Result<()> {
    let Some(c) = cluster().await? else {
        return Ok(());
    };
    let at = c.clock.now();
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(at),
        merchant_id: MerchantId::generate(at),
        mode: ApiKeyMode::Test,
        secret_hash: [7; 32],
        display_prefix: "pg_test_0000".into(),
        label: None,
        created_at: at,
        revoked_at: None,
        last_used_at: None,
    };
    c.a.remember_key(Some(record.secret_hash), &record);
    c.b.remember_key(Some(record.secret_hash), &record);
    c.a.forget_key(record.id);
    assert!(c.a.cached_key(&record.secret_hash).is_none());
    eventually("node b forgets the key", Duration::from_secs(3), || {
        c.b.cached_key(&record.secret_hash).is_none()
    })
    .await;
    Ok(())
}

#[tokio::test]
async fn a_dead_nodes_terminals_are_offline_once_its_lease_ends() -> anyhow::Result<()> {
    let Some(c) = cluster().await? else {
        return Ok(());
    };
    let (terminal, _) = ids();
    c.a.set_connected(terminal, true, c.clock.now()).await?;
    eventually("node b sees the terminal", Duration::from_secs(3), || {
        c.b.is_connected(terminal)
    })
    .await;
    // Node a dies without leaving (its tasks stop; no heartbeat any more).
    drop(c.a);
    eventually(
        "the terminal is offline for node b",
        NODE_LEASE + Duration::from_secs(5),
        || !c.b.is_connected(terminal),
    )
    .await;
    assert_eq!(c.b.route(terminal), Route::Nowhere);
    Ok(())
}
