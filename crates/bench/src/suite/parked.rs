//! S4 and half of S5: thousands of POS long-polls parked on interactions that wait for a
//! card, what they cost the gateway in memory, and how quickly a long-poll answers once the
//! outcome is committed.
//!
//! The wake latency comes from the gateway itself: a long-poll woken by a change carries
//! `poigate-committed-at` (µs since the epoch, taken right after the commit), and the load
//! generator reads the wall clock when the answer is in — same machine, same clock. A sample
//! whose long-poll was answered without being woken (the outcome came first) has no header
//! and is discarded, and counted.

use super::http::{Conn, Endpoint, Reply};
use super::procs::{quiesce, rss_kib};
use super::stats::{Samples, Summary};
use super::system::{Brief, Gateway, create_sale, sale_body};
use anyhow::Context;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Parked {
    pub parked: usize,
    pub held_interactions: usize,
    pub rss_before_kib: u64,
    pub rss_parked_kib: u64,
    pub kib_per_long_poll: f64,
    /// Sequential sales on other terminals while the long-polls are parked.
    pub wake: Option<Summary>,
    pub wake_discarded: u64,
    /// The parked long-polls themselves, when their interactions complete together.
    pub fanout_wake: Option<Summary>,
    pub fanout_woken: usize,
}

/// Now, in µs since the epoch (the clock of `poigate-committed-at`).
fn wall_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// How long after its commit this answer arrived, if it was a woken long-poll.
fn wake_latency(reply: &Reply, received_micros: i64) -> Option<u64> {
    let committed: i64 = reply
        .headers
        .get("poigate-committed-at")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    u64::try_from(received_micros - committed).ok()
}

/// Long-polls `id` until it is final; the wake latency of the final answer when it was woken.
async fn park(conn: &mut Conn, id: &str, wait: u32) -> anyhow::Result<Option<u64>> {
    let path = format!("/v1/interactions/{id}?wait={wait}");
    loop {
        let reply = conn.get(&path).await?.ok()?;
        let received = wall_micros();
        if reply.json::<Brief>()?.is_final {
            return Ok(wake_latency(&reply, received));
        }
    }
}

/// Opens `n` connections, `at_once` at a time (a burst of thousands of handshakes would
/// overflow the listen backlog and stall on SYN retransmits).
pub async fn open_many(
    endpoint: &Arc<Endpoint>,
    n: usize,
    at_once: usize,
) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let batch = (n - conns.len()).min(at_once);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let endpoint = endpoint.clone();
            set.spawn(async move { Conn::open(&endpoint).await });
        }
        while let Some(c) = set.join_next().await {
            conns.push(c??);
        }
    }
    Ok(conns)
}

async fn helper(conn: &mut Conn, terminal: &str, action: &str) -> anyhow::Result<()> {
    conn.post_json(
        &format!("/v1/test-helpers/terminals/{terminal}/{action}"),
        None,
    )
    .await?
    .ok()
    .with_context(|| format!("test helper {action} on {terminal}"))?;
    Ok(())
}

pub async fn long_polls(
    gateway: &Gateway,
    holders: &[String],
    samplers: &[String],
    parked: usize,
    samples: usize,
) -> anyhow::Result<Parked> {
    let endpoint = &gateway.endpoint;
    let pid = gateway.proc.pid()?;
    let mut control = Conn::open(endpoint).await?;

    // Interactions that wait for a card until told otherwise.
    let mut held = Vec::with_capacity(holders.len());
    for (i, terminal) in holders.iter().enumerate() {
        helper(&mut control, terminal, "hold").await?;
        let body = sale_body(terminal, &format!("s4-held-{i}"), Some(600));
        held.push(create_sale(&mut control, body).await?);
    }

    // Each parked long-poll costs its connection and its waiting request: measured from
    // before the connections are opened.
    quiesce(pid, Duration::from_millis(300), Duration::from_secs(60)).await?;
    let rss_before_kib = rss_kib(pid)?;
    let conns = open_many(endpoint, parked, 200).await?;
    let held = Arc::new(held);
    let mut pollers = tokio::task::JoinSet::new();
    for (j, mut conn) in conns.into_iter().enumerate() {
        let held = held.clone();
        pollers.spawn(async move {
            let id = &held[j % held.len()];
            park(&mut conn, id, 60).await
        });
    }
    // Parked once the gateway has read every request and gone idle.
    quiesce(pid, Duration::from_millis(500), Duration::from_secs(120)).await?;
    let rss_parked_kib = rss_kib(pid)?;

    let mut wake = Samples::with_capacity(samples);
    let mut wake_discarded = 0;
    // A fresh control connection: the first one sat idle while the long-polls were parked,
    // which can take longer than the gateway's keep-alive limit (10 s, the header read
    // timeout); reusing it then raced the gateway closing it (`channel closed`, one full run
    // in seven).
    control = Conn::open(endpoint).await?;
    let mut poller = Conn::open(endpoint).await?;
    for k in 0..samples {
        let terminal = &samplers[k % samplers.len()];
        helper(&mut control, terminal, "hold").await?;
        let id = create_sale(
            &mut control,
            sale_body(terminal, &format!("s4-{k}"), Some(60)),
        )
        .await?;
        let mut conn = poller;
        let waiting = tokio::spawn(async move {
            let latency = park(&mut conn, &id, 30).await;
            (conn, latency)
        });
        // Give the long-poll a moment to reach the gateway; if the outcome still comes
        // first, the sample has no header and is discarded below.
        tokio::time::sleep(Duration::from_millis(2)).await;
        helper(&mut control, terminal, "present-card").await?;
        let (conn, latency) = waiting.await?;
        poller = conn;
        match latency? {
            Some(micros) => wake.push(micros),
            None => wake_discarded += 1,
        }
    }

    // Release the parked long-polls: each interaction's outcome wakes its share of them.
    for terminal in holders {
        helper(&mut control, terminal, "present-card").await?;
    }
    let mut fanout = Samples::with_capacity(parked);
    while let Some(done) = pollers.join_next().await {
        if let Some(micros) = done?? {
            fanout.push(micros);
        }
    }
    let fanout_woken = fanout.len();
    Ok(Parked {
        parked,
        held_interactions: holders.len(),
        rss_before_kib,
        rss_parked_kib,
        kib_per_long_poll: rss_parked_kib.saturating_sub(rss_before_kib) as f64 / parked as f64,
        wake: wake.summary(),
        wake_discarded,
        fanout_wake: fanout.summary(),
        fanout_woken,
    })
}
