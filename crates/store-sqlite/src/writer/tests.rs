//! The writer survives a panicking job and bounds its queue.

use super::*;
use poigate_store::Store;
use std::time::Instant;

fn memory_writer(limits: WriterLimits) -> Writer {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)")
        .expect("schema");
    Writer::spawn(conn, limits).expect("spawn")
}

async fn count(writer: &Writer) -> i64 {
    writer
        .write(|conn| {
            conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .map_err(crate::db)
        })
        .await
        .expect("count")
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_is_rolled_back() {
    let writer = memory_writer(WriterLimits::default());
    let failed = writer
        .write(|conn| -> StoreResult<()> {
            conn.execute("INSERT INTO t (v) VALUES (1)", [])
                .map_err(crate::db)?;
            panic!("boom in a write job");
        })
        .await;
    match failed {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("boom in a write job"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // The writer still serves, and the panicking job's insert did not survive.
    writer
        .write(|conn| {
            conn.execute("INSERT INTO t (v) VALUES (2)", [])
                .map_err(crate::db)
        })
        .await
        .expect("the next write succeeds");
    assert_eq!(count(&writer).await, 1);
}

#[tokio::test]
async fn a_full_queue_answers_unavailable_within_the_bound() {
    let limits = WriterLimits {
        max_batch: 1,
        queue_capacity: 2,
        enqueue_timeout: Duration::from_millis(200),
    };
    let writer = memory_writer(limits);
    // Block the writer thread inside a job until the test releases it.
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let blocker = tokio::spawn({
        let writer = writer.clone();
        async move {
            writer
                .write(move |_| {
                    let _ = started_tx.send(());
                    release_rx
                        .recv_timeout(Duration::from_secs(30))
                        .map_err(|e| StoreError::Unavailable(format!("never released: {e}")))
                })
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(10), started_rx)
        .await
        .expect("the blocking job starts")
        .expect("started");
    // Fill the queue behind it.
    let queued: Vec<_> = (0..limits.queue_capacity)
        .map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |conn| {
                        conn.execute("INSERT INTO t (v) VALUES (?1)", [i as i64])
                            .map_err(crate::db)
                    })
                    .await
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.jobs.capacity() > 0 {
        assert!(Instant::now() < deadline, "the queue never filled");
        tokio::task::yield_now().await;
    }
    // The next caller waits for room, then gets a clear error, within the bound.
    let started = Instant::now();
    let refused = writer.write(|_| Ok(())).await;
    let waited = started.elapsed();
    match refused {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("write queue full"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        waited >= limits.enqueue_timeout,
        "gave up early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "waited too long: {waited:?}"
    );
    // Released, the writer serves everything that was queued.
    release_tx.send(()).expect("release");
    blocker.await.expect("join").expect("blocker");
    for q in queued {
        q.await.expect("join").expect("queued write");
    }
    assert_eq!(count(&writer).await, 2);
}

#[tokio::test]
async fn the_store_is_ready_after_a_panicking_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        crate::SqliteStore::open(&crate::SqliteConfig::new(dir.path().join("p.db"))).expect("open");
    store.ready().await.expect("ready at start");
    let failed = store
        .writer
        .write(|_| -> StoreResult<()> { panic!("a bug in a write job") })
        .await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    let m = poigate_domain::Merchant {
        id: poigate_domain::MerchantId::generate(poigate_domain::Timestamp::from_millis(1)),
        name: "After the panic".into(),
        created_at: poigate_domain::Timestamp::from_millis(1),
        disabled_at: None,
    };
    store
        .create_merchant(&m)
        .await
        .expect("the next write succeeds");
    assert_eq!(store.get_merchant(m.id).await.expect("read"), Some(m));
    store.ready().await.expect("still ready");
}

#[tokio::test]
async fn a_read_only_database_is_not_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        crate::SqliteStore::open(&crate::SqliteConfig::new(dir.path().join("p.db"))).expect("open");
    store
        .writer
        .write(|conn| {
            conn.execute_batch("PRAGMA query_only = ON")
                .map_err(crate::db)
        })
        .await
        .expect("switch to read-only");
    match store.ready().await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("write"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// The `synchronous` level a job runs under.
fn level_of(conn: &Connection) -> StoreResult<i64> {
    conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(crate::db)
}

/// A relaxed write commits without an fsync (NORMAL) and is visible at once; the writes
/// after it are committed at the configured level again (FULL), whether they come alone or
/// in the same batch as relaxed ones.
#[tokio::test]
async fn relaxed_writes_skip_the_fsync_and_durable_ones_keep_it() {
    let dir = tempfile::tempdir().expect("dir");
    let conn = Connection::open(dir.path().join("w.db")).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (v INTEGER NOT NULL)",
    )
    .expect("schema");
    let writer = Writer::spawn(conn, WriterLimits::default()).expect("spawn");

    let relaxed = writer
        .write_relaxed(|conn| {
            conn.execute("INSERT INTO t (v) VALUES (1)", [])
                .map_err(crate::db)?;
            level_of(conn)
        })
        .await
        .expect("relaxed write");
    assert_eq!(relaxed, 1, "a relaxed write runs at NORMAL");
    assert_eq!(count(&writer).await, 1, "and is committed");
    let durable = writer.write(level_of).await.expect("durable write");
    assert_eq!(durable, 2, "the next durable write runs at FULL again");

    // Both kinds queued together: each runs at its own level.
    let mut relaxed = Vec::new();
    let mut durable = Vec::new();
    for _ in 0..20 {
        let w = writer.clone();
        relaxed.push(tokio::spawn(async move { w.write_relaxed(level_of).await }));
        let w = writer.clone();
        durable.push(tokio::spawn(async move { w.write(level_of).await }));
    }
    for r in relaxed {
        assert_eq!(r.await.expect("join").expect("relaxed"), 1);
    }
    for d in durable {
        assert_eq!(d.await.expect("join").expect("durable"), 2);
    }
}
