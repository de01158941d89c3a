//! Engine rules driven directly, with a real SQLite store, a manual clock and a terminal
//! played by the test (the link records what the engine sends; the test reports back as
//! the terminal would).

use async_trait::async_trait;
use poigate_domain::*;
use poigate_engine::*;
use poigate_store_sqlite::{SqliteConfig, SqliteStore};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct RecordingLink {
    starts: Mutex<Vec<InteractionId>>,
    cancels: Mutex<Vec<InteractionId>>,
    revoked: Mutex<Vec<TerminalId>>,
}

#[async_trait]
impl TerminalLink for RecordingLink {
    async fn start(&self, _t: &Terminal, i: &Interaction) -> Result<(), LinkError> {
        self.starts.lock().expect("lock").push(i.id);
        Ok(())
    }
    async fn cancel(&self, _t: &Terminal, id: InteractionId) -> Result<(), LinkError> {
        self.cancels.lock().expect("lock").push(id);
        Ok(())
    }
    async fn credentials_revoked(&self, t: &Terminal) {
        self.revoked.lock().expect("lock").push(t.id);
    }
}

/// Real time a wait on the manual clock may take before the test fails.
const REAL_DEADLINE: Duration = Duration::from_secs(20);

/// Awaits `wait` (a long-poll or timer measured on the [`ManualClock`], which ends only when
/// the clock moves) for at most [`REAL_DEADLINE`] of real time: a timer that never fires
/// fails the test with `what` instead of hanging it.
async fn within<T>(what: &str, wait: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(REAL_DEADLINE, wait).await {
        Ok(done) => done,
        Err(_) => panic!("{what} did not happen within {REAL_DEADLINE:?} of real time"),
    }
}

struct Harness {
    engine: Engine,
    clock: ManualClock,
    link: Arc<RecordingLink>,
    caller: Caller,
    terminal: Terminal,
    _dir: tempfile::TempDir,
}

/// A merchant "M" with a test key (its caller) and one connected link terminal.
async fn connected_terminal(engine: &Engine) -> (Caller, Terminal) {
    let merchant = engine.admin().create_merchant("M").await.expect("merchant");
    let key = engine
        .admin()
        .create_api_key(merchant.id, ApiKeyMode::Test, None)
        .await
        .expect("key");
    let caller = engine
        .admin()
        .authenticate(&key.secret)
        .await
        .expect("auth")
        .expect("caller");
    let terminal = engine
        .admin()
        .register_terminal(
            merchant.id,
            "1",
            "V400m",
            None,
            TerminalKind::Device,
            TerminalConnection::Link,
        )
        .await
        .expect("terminal");
    engine.devices().terminal_connected(terminal.id, true).await;
    (caller, terminal)
}

/// Allows every webhook URL (these tests register none that is called).
struct AnyTarget;

impl TargetGuard for AnyTarget {
    fn check(&self, _url: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Approves every operation at once.
struct ApprovingProcessor;

#[async_trait]
impl Processor for ApprovingProcessor {
    async fn execute(
        &self,
        _transaction: &Transaction,
        operation: &Operation,
    ) -> Result<ProcessorAnswer, ProcessorError> {
        Ok(ProcessorAnswer {
            approved: true,
            reference: operation.id.to_string(),
            reason: None,
        })
    }
}

/// An engine over `store` with every port, and the link it made.
async fn build(
    store: SqliteStore,
    clock: &ManualClock,
    config: EngineConfig,
) -> (Engine, Arc<RecordingLink>) {
    let store: Arc<dyn poigate_store::Store> = Arc::new(store);
    let ports = Ports {
        token_key: TokenKey::load_or_create(store.as_ref())
            .await
            .expect("token key"),
        store,
        clock: Arc::new(clock.clone()),
        coordinator: Arc::new(LocalCoordinator::new()),
        processor: Arc::new(ApprovingProcessor),
        target_guard: Arc::new(AnyTarget),
    };
    Engine::builder(ports, config).build(|_| Arc::new(RecordingLink::default()))
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("p.db"))).expect("store");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let config = EngineConfig {
        delivery_timeout: Duration::from_secs(10),
        overdue_grace: Duration::from_secs(30),
        ..EngineConfig::default()
    };
    let (engine, link) = build(store, &clock, config).await;
    engine.start().await.expect("start");
    let (caller, terminal) = connected_terminal(&engine).await;
    Harness {
        engine,
        clock,
        link,
        caller,
        terminal,
        _dir: dir,
    }
}

fn sale(h: &Harness, value: i64) -> CreateRequest {
    sale_on(&h.terminal, value)
}

fn sale_on(t: &Terminal, value: i64) -> CreateRequest {
    CreateRequest {
        ask_for_tip: false,
        terminal: t.poiid(),
        kind: InteractionType::Sale,
        amount: Money::new(value, Currency::from_code("EUR").expect("EUR")).expect("money"),
        reference: None,
        sale_id: None,
        service_id: None,
        timeout_seconds: Some(60),
        metadata: Default::default(),
        webhooks: vec![],
        idempotency_key: None,
    }
}

fn report(id: InteractionId, seq: u64, kind: ReportKind) -> TerminalReport {
    TerminalReport {
        interaction_id: id,
        terminal_seq: seq,
        kind,
    }
}

fn approved() -> ReportKind {
    ReportKind::Result(Box::new(TerminalOutcome::Approved {
        tip_amount: None,
        auth_code: "ABC123".into(),
        card: MaskedCard::new(Some("476173"), "0010", CardBrand::Visa, EntryMode::Chip)
            .expect("card"),
        emv: None,
    }))
}

async fn until_started(h: &Harness, id: InteractionId) {
    for _ in 0..1000 {
        if h.link.starts.lock().expect("lock").contains(&id) {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the start of {id} was never sent");
}

#[tokio::test]
async fn re_sent_reports_are_stored_once() {
    let h = harness().await;
    let i = h
        .engine
        .interactions()
        .create(&h.caller, sale(&h, 100))
        .await
        .expect("create")
        .interaction;
    until_started(&h, i.id).await;
    let ack = report(i.id, 1, ReportKind::Acknowledged);
    assert_eq!(
        h.engine
            .devices()
            .report(h.terminal.id, ack.clone())
            .await
            .expect("ack"),
        ReportOutcome::Applied
    );
    assert_eq!(
        h.engine
            .devices()
            .report(h.terminal.id, ack)
            .await
            .expect("again"),
        ReportOutcome::Duplicate
    );
    let stage = report(
        i.id,
        2,
        ReportKind::Stage {
            message: "Present card".into(),
        },
    );
    h.engine
        .devices()
        .report(h.terminal.id, stage.clone())
        .await
        .expect("stage");
    h.engine
        .devices()
        .report(h.terminal.id, stage)
        .await
        .expect("stage again");
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 3, approved()))
        .await
        .expect("result");
    assert_eq!(
        h.engine
            .devices()
            .report(h.terminal.id, report(i.id, 3, approved()))
            .await
            .expect("result again"),
        ReportOutcome::AlreadyFinal
    );
    let events = h
        .engine
        .interactions()
        .events(&h.caller, i.id, 0, 100, EventOrder::Asc)
        .await
        .expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["created", "acknowledged", "stage", "completed"]);
}

#[tokio::test]
async fn reports_from_another_terminal_or_for_unknown_interactions_are_refused() {
    let h = harness().await;
    let i = h
        .engine
        .interactions()
        .create(&h.caller, sale(&h, 100))
        .await
        .expect("create")
        .interaction;
    let other = h
        .engine
        .admin()
        .register_terminal(
            h.caller.merchant_id,
            "2",
            "V400m",
            None,
            TerminalKind::Device,
            TerminalConnection::Link,
        )
        .await
        .expect("terminal");
    let err = h
        .engine
        .devices()
        .report(other.id, report(i.id, 1, ReportKind::Acknowledged))
        .await;
    assert!(matches!(err, Err(EngineError::WrongTerminal)), "{err:?}");
    let unknown = InteractionId::generate(h.engine.now());
    let err = h
        .engine
        .devices()
        .report(h.terminal.id, report(unknown, 1, ReportKind::Acknowledged))
        .await;
    assert!(
        matches!(err, Err(EngineError::UnknownInteraction)),
        "{err:?}"
    );
    // A too-late answer nobody asked for is refused and changes nothing.
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 1, ReportKind::Acknowledged))
        .await
        .expect("ack");
    let err = h
        .engine
        .devices()
        .report(h.terminal.id, report(i.id, 2, ReportKind::CancelTooLate))
        .await;
    assert!(matches!(err, Err(EngineError::InvalidReport(_))), "{err:?}");
}

#[tokio::test]
async fn delivery_timeout_then_a_late_ack_cannot_revive_the_interaction() {
    let h = harness().await;
    let i = h
        .engine
        .interactions()
        .create(&h.caller, sale(&h, 100))
        .await
        .expect("create")
        .interaction;
    h.clock.advance(Duration::from_secs(9));
    let still = h
        .engine
        .interactions()
        .wait(&h.caller, i.id, Some(1), Duration::ZERO)
        .await
        .expect("get");
    assert_eq!(still.status, Status::Pending);
    h.clock.advance(Duration::from_secs(2));
    let done = within(
        "the delivery timeout",
        h.engine
            .interactions()
            .wait(&h.caller, i.id, None, Duration::from_secs(60)),
    )
    .await
    .expect("wait");
    assert_eq!(done.cancel_reason(), Some(CancelReason::NotDelivered));
    // The engine told the terminal to abort, and a late acknowledgement is answered
    // "already final": the terminal must not start the cardholder interaction.
    assert!(h.link.cancels.lock().expect("lock").contains(&i.id));
    let late = h
        .engine
        .devices()
        .report(h.terminal.id, report(i.id, 1, ReportKind::Acknowledged))
        .await;
    assert_eq!(late.expect("answered"), ReportOutcome::AlreadyFinal);
}

#[tokio::test]
async fn a_silent_terminal_makes_the_interaction_overdue_never_final() {
    let h = harness().await;
    let i = h
        .engine
        .interactions()
        .create(&h.caller, sale(&h, 100))
        .await
        .expect("create")
        .interaction;
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 1, ReportKind::Acknowledged))
        .await
        .expect("ack");
    h.engine
        .devices()
        .terminal_connected(h.terminal.id, false)
        .await;
    // Card timeout 60 s + grace 30 s.
    h.clock.advance(Duration::from_secs(89));
    let before = h
        .engine
        .interactions()
        .get(&h.caller, i.id)
        .await
        .expect("get");
    assert!(!before.overdue);
    assert!(!before.terminal_connected);
    h.clock.advance(Duration::from_secs(2));
    let flagged = within(
        "the overdue flag",
        h.engine.interactions().wait(
            &h.caller,
            i.id,
            Some(before.last_seq),
            Duration::from_secs(60),
        ),
    )
    .await
    .expect("wait");
    assert!(flagged.overdue);
    assert_eq!(
        flagged.status,
        Status::InProgress,
        "poigate never invents an outcome"
    );
    // The terminal comes back with its real outcome.
    h.engine
        .devices()
        .terminal_connected(h.terminal.id, true)
        .await;
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 2, approved()))
        .await
        .expect("result");
    let done = h
        .engine
        .interactions()
        .get(&h.caller, i.id)
        .await
        .expect("get");
    assert_eq!(done.status, Status::Approved);
}

/// A drain ends every wait at once with the state as it is, and later waits do not park.
/// The harness's clock is manual: no wait could end by its timeout here.
#[tokio::test]
async fn a_drain_ends_every_wait_with_the_current_state() {
    let h = harness().await;
    let i = h
        .engine
        .interactions()
        .create(&h.caller, sale(&h, 100))
        .await
        .expect("create")
        .interaction;
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 1, ReportKind::Acknowledged))
        .await
        .expect("ack");
    let mut waiters = Vec::new();
    for after in [None, Some(1)] {
        let engine = h.engine.clone();
        let caller = h.caller;
        waiters.push(tokio::spawn(async move {
            engine
                .interactions()
                .wait(&caller, i.id, after, Duration::from_secs(60))
                .await
        }));
    }
    let drained = h.engine.drained();
    assert!(!h.engine.is_draining());
    h.engine.begin_drain();
    assert!(h.engine.is_draining());
    within("drained()", drained).await;
    for w in waiters {
        let state = within("a parked wait", w)
            .await
            .expect("joined")
            .expect("state");
        assert_eq!(state.status, Status::InProgress);
        assert!(!state.is_final());
    }
    let later = within(
        "a wait while draining",
        h.engine
            .interactions()
            .wait(&h.caller, i.id, None, Duration::from_secs(60)),
    )
    .await
    .expect("state");
    assert_eq!(later.status, Status::InProgress);
    // The engine still works: the terminal's result is applied during the drain.
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 2, approved()))
        .await
        .expect("result");
    let done = h
        .engine
        .interactions()
        .get(&h.caller, i.id)
        .await
        .expect("get");
    assert_eq!(done.status, Status::Approved);
}

#[tokio::test]
async fn many_waiters_all_wake_on_the_final_state() {
    let h = harness().await;
    let i = h
        .engine
        .interactions()
        .create(&h.caller, sale(&h, 100))
        .await
        .expect("create")
        .interaction;
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 1, ReportKind::Acknowledged))
        .await
        .expect("ack");
    let mut waiters = Vec::new();
    for _ in 0..200 {
        let engine = h.engine.clone();
        let caller = h.caller;
        waiters.push(tokio::spawn(async move {
            engine
                .interactions()
                .wait(&caller, i.id, None, Duration::from_secs(60))
                .await
        }));
    }
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 2, approved()))
        .await
        .expect("result");
    for w in waiters {
        let state = tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("woken")
            .expect("joined")
            .expect("state");
        assert_eq!(state.status, Status::Approved);
    }
}

#[tokio::test]
async fn restart_reloads_live_interactions_and_their_timers() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let open = || async {
        let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("p.db"))).expect("store");
        let config = EngineConfig {
            delivery_timeout: Duration::from_secs(10),
            ..EngineConfig::default()
        };
        build(store, &clock, config).await
    };
    let (engine, _) = open().await;
    engine.start().await.expect("start");
    let (caller, t) = connected_terminal(&engine).await;
    let i = engine
        .interactions()
        .create(&caller, sale_on(&t, 100))
        .await
        .expect("create")
        .interaction;
    drop(engine);

    let (engine, link) = open().await;
    engine.start().await.expect("restart");
    // The pending start is delivered again, and the busy rule still holds.
    assert!(link.starts.lock().expect("lock").contains(&i.id));
    engine.devices().terminal_connected(t.id, true).await;
    let busy = engine
        .interactions()
        .create(&caller, sale_on(&t, 500))
        .await;
    assert!(
        matches!(busy, Err(EngineError::TerminalBusy { blocking }) if blocking == i.id),
        "{busy:?}"
    );
    // Its delivery timer runs again too.
    clock.advance(Duration::from_secs(11));
    let done = within(
        "the reloaded delivery timeout",
        engine
            .interactions()
            .wait(&caller, i.id, None, Duration::from_secs(60)),
    )
    .await
    .expect("wait");
    assert_eq!(done.cancel_reason(), Some(CancelReason::NotDelivered));
}

#[test]
fn the_in_flight_guard_admits_one_claim_per_key() {
    let guard = poigate_engine::idempotency::InFlight::default();
    let m = MerchantId::generate(Timestamp::from_millis(0));
    let first = guard.claim(m, vec!["h:k".into()]).expect("first claim");
    assert!(
        guard
            .claim(m, vec!["h:k".into(), "h:other".into()])
            .is_none()
    );
    let other_merchant = MerchantId::generate(Timestamp::from_millis(1));
    assert!(guard.claim(other_merchant, vec!["h:k".into()]).is_some());
    drop(first);
    assert!(guard.claim(m, vec!["h:k".into()]).is_some());
}

#[tokio::test]
async fn reports_must_follow_each_other_without_gaps() {
    let h = harness().await;
    let i = h
        .engine
        .interactions()
        .create(&h.caller, sale(&h, 100))
        .await
        .expect("create")
        .interaction;
    until_started(&h, i.id).await;
    for seq in [0, 2] {
        let err = h
            .engine
            .devices()
            .report(h.terminal.id, report(i.id, seq, ReportKind::Acknowledged))
            .await
            .expect_err("out of sequence");
        assert!(
            matches!(err, EngineError::WrongSeq { expected: 1 }),
            "{err:?}"
        );
    }
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 1, ReportKind::Acknowledged))
        .await
        .expect("ack");
    let err = h
        .engine
        .devices()
        .report(h.terminal.id, report(i.id, 3, approved()))
        .await
        .expect_err("gap");
    assert!(matches!(err, EngineError::WrongSeq { expected: 2 }));
    assert_eq!(
        h.engine
            .devices()
            .report(h.terminal.id, report(i.id, 2, approved()))
            .await
            .expect("next"),
        ReportOutcome::Applied
    );
    assert!(
        h.engine
            .devices()
            .live_interaction_of(h.terminal.id)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_pairing_code_gives_one_device_key_and_revoking_closes_the_link() {
    let h = harness().await;
    let code = h
        .engine
        .admin()
        .issue_pairing_code(h.caller.merchant_id, &h.terminal)
        .await
        .expect("code");
    assert_eq!(code.code.len(), 11);
    assert!(matches!(
        h.engine.devices().pair_device(&code.code, "999").await,
        Err(EngineError::InvalidPairingCode)
    ));
    let paired = h
        .engine
        .devices()
        .pair_device(&code.code.to_lowercase(), "1")
        .await
        .expect("pair");
    assert_eq!(paired.terminal.id, h.terminal.id);
    assert!(paired.device_key.starts_with("pg_dev_"));
    assert!(matches!(
        h.engine.devices().pair_device(&code.code, "1").await,
        Err(EngineError::InvalidPairingCode)
    ));
    let found = h
        .engine
        .devices()
        .authenticate_device(&paired.device_key)
        .await
        .expect("auth")
        .expect("known key");
    assert_eq!(found.id, h.terminal.id);
    assert_eq!(
        h.engine
            .devices()
            .authenticate_device(&h.caller.key_id.to_string())
            .await
            .expect("auth"),
        None
    );

    // An expired code is refused.
    let late = h
        .engine
        .admin()
        .issue_pairing_code(h.caller.merchant_id, &h.terminal)
        .await
        .expect("code");
    h.clock.advance(Duration::from_secs(11 * 60));
    assert!(matches!(
        h.engine.devices().pair_device(&late.code, "1").await,
        Err(EngineError::InvalidPairingCode)
    ));

    h.engine
        .admin()
        .revoke_terminal(h.caller.merchant_id, &h.terminal)
        .await
        .expect("revoke");
    assert!(
        h.link
            .revoked
            .lock()
            .expect("lock")
            .contains(&h.terminal.id)
    );
    assert_eq!(
        h.engine
            .devices()
            .authenticate_device(&paired.device_key)
            .await
            .expect("auth"),
        None
    );
    let other = h
        .engine
        .admin()
        .create_merchant("Other")
        .await
        .expect("merchant");
    assert!(matches!(
        h.engine
            .admin()
            .issue_pairing_code(other.id, &h.terminal)
            .await,
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test]
async fn in_process_terminals_have_nothing_to_pair() {
    let h = harness().await;
    let sim = h
        .engine
        .admin()
        .register_terminal(
            h.caller.merchant_id,
            "77",
            "V400m",
            None,
            TerminalKind::Simulated,
            TerminalConnection::InProcess,
        )
        .await
        .expect("sim");
    assert!(matches!(
        h.engine
            .admin()
            .issue_pairing_code(h.caller.merchant_id, &sim)
            .await,
        Err(EngineError::NotAllowed(_))
    ));
    assert!(matches!(
        h.engine
            .admin()
            .register_terminal(
                h.caller.merchant_id,
                "78",
                "V400m",
                None,
                TerminalKind::Device,
                TerminalConnection::InProcess,
            )
            .await,
        Err(EngineError::Validation(_))
    ));
}

/// The engine's metrics, read from a Prometheus recorder local to this test's thread (the
/// test runtime is single-threaded, so every task of the engine records into it): the
/// origin a dialect sets is the `dialect` label of creation and completion, a parked
/// long-poll is counted while it waits, and an overdue interaction is counted once.
#[tokio::test]
async fn metrics_count_by_origin_parked_waits_and_overdue() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = ::metrics::set_default_local_recorder(&recorder);
    let h = harness().await;
    let i = poigate_engine::metrics::with_origin(
        "nmi",
        h.engine.interactions().create(&h.caller, sale(&h, 100)),
    )
    .await
    .expect("create")
    .interaction;
    assert!(
        handle
            .render()
            .contains(r#"poigate_interactions_created_total{type="sale",dialect="nmi"} 1"#)
    );
    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 1, ReportKind::Acknowledged))
        .await
        .expect("ack");

    // Just before the overdue deadline (card timeout 60 s + grace 30 s), a long-poll parks
    // until the clock passes it.
    h.clock.advance(Duration::from_secs(89));
    let before = h
        .engine
        .interactions()
        .get(&h.caller, i.id)
        .await
        .expect("get");
    let interactions = h.engine.interactions();
    let mut wait = Box::pin(interactions.wait(
        &h.caller,
        i.id,
        Some(before.last_seq),
        Duration::from_secs(60),
    ));
    assert!(
        futures_poll_once(&mut wait).await.is_none(),
        "the long-poll parks"
    );
    assert!(
        handle.render().contains("poigate_long_polls_parked 1"),
        "{}",
        handle.render()
    );
    h.clock.advance(Duration::from_secs(2));
    let flagged = within("the overdue flag", wait).await.expect("wait");
    assert!(flagged.overdue);
    let text = handle.render();
    assert!(text.contains("poigate_long_polls_parked 0"), "{text}");
    assert!(
        text.contains(r#"poigate_interactions_overdue_total{type="sale"} 1"#),
        "{text}"
    );

    h.engine
        .devices()
        .report(h.terminal.id, report(i.id, 2, approved()))
        .await
        .expect("result");
    let text = handle.render();
    assert!(
        text.contains(
            r#"poigate_interactions_completed_total{type="sale",outcome="approved",dialect="nmi"} 1"#
        ),
        "{text}"
    );
    // 91 s on the manual clock from creation to the result.
    assert!(
        text.contains(
            r#"poigate_interaction_time_to_final_seconds_sum{type="sale",outcome="approved"} 91"#
        ),
        "{text}"
    );
}

/// Polls `future` once: `Some` when it finished at once.
async fn futures_poll_once<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
