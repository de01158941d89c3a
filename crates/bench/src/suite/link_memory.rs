//! The other half of S5: what an idle terminal-link connection costs the gateway.
//!
//! A fresh gateway (so that the long-poll rows' allocations do not blur this one), `count`
//! device terminals registered and paired through the native API, then connected from a
//! `poigate-bench link-clients` process on the load core: half, a measurement, the other half, a
//! measurement. The headline is over all connections; the second half alone is the marginal
//! cost, without one-off growth such as the session map's.

use super::http::Conn;
use super::procs::{Placement, Proc, quiesce, rss_kib};
use super::system::Gateway;
use crate::exes::Exes;
use anyhow::Context;
use bytes::Bytes;
use poigate_api::{CreateTerminalRequest, PairRequest, PairResponse, TerminalView};
use poigate_domain::{TerminalConnection, TerminalKind};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct LinkMemory {
    pub connections: usize,
    pub rss_before_kib: u64,
    pub rss_half_kib: u64,
    pub rss_all_kib: u64,
    pub kib_per_connection: f64,
    pub kib_per_connection_second_half: f64,
}

/// Registers and pairs `count` device terminals, `at_once` at a time; a
/// `device_key<TAB>serial` file for `poigate-bench link-clients`.
async fn provision(
    gateway: &Gateway,
    count: usize,
    at_once: usize,
    keys: &Path,
) -> anyhow::Result<()> {
    let mut lines = String::new();
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < count || !set.is_empty() {
        while next < count && set.len() < at_once {
            let endpoint = gateway.endpoint.clone();
            let serial = format!("L{next:07}");
            next += 1;
            set.spawn(async move {
                let mut conn = Conn::open(&endpoint).await?;
                let request = CreateTerminalRequest {
                    serial_number: serial.clone(),
                    model: "V400m".into(),
                    label: None,
                    kind: Some(TerminalKind::Device),
                    connection: Some(TerminalConnection::Link),
                };
                let body = Bytes::from(serde_json::to_vec(&request)?);
                let terminal: TerminalView = conn
                    .post_json("/v1/terminals", Some(body))
                    .await?
                    .ok()?
                    .json()?;
                let code = terminal.pairing.context("no pairing code")?;
                let pair = PairRequest {
                    pairing_code: code.pairing_code,
                    serial_number: serial.clone(),
                };
                let body = Bytes::from(serde_json::to_vec(&pair)?);
                let paired: PairResponse = conn
                    .post_json("/v1/terminal-link/pair", Some(body))
                    .await?
                    .ok()?
                    .json()?;
                Ok::<_, anyhow::Error>(format!("{}\t{serial}\n", paired.device_key))
            });
        }
        if let Some(done) = set.join_next().await {
            lines.push_str(&done??);
        }
    }
    std::fs::write(keys, lines)?;
    Ok(())
}

pub async fn idle_link_connections(
    placement: &Placement,
    exes: &Exes,
    scratch: &Path,
    count: usize,
) -> anyhow::Result<LinkMemory> {
    let gateway = Gateway::start(placement, &exes.poigate, &scratch.join("link-memory")).await?;
    let pid = gateway.proc.pid()?;
    let keys = scratch.join("device-keys.tsv");
    provision(&gateway, count, 32, &keys).await?;
    quiesce(pid, Duration::from_millis(500), Duration::from_secs(60)).await?;
    let rss_before_kib = rss_kib(pid)?;

    let mut command = placement.load_command(&exes.me);
    command
        .args(["link-clients", "--url"])
        .arg(format!(
            "{}{}",
            gateway.link_url(),
            poigate_link::protocol::LINK_PATH
        ))
        .arg("--keys")
        .arg(&keys);
    let mut clients = Proc::spawn("link clients", command)?;
    let connected = |l: &str| {
        l.strip_prefix("connected ")
            .and_then(|n| n.parse::<usize>().ok())
    };
    let half = clients
        .line(Duration::from_secs(300), |_| {}, connected)
        .await?;
    quiesce(pid, Duration::from_millis(500), Duration::from_secs(60)).await?;
    let rss_half_kib = rss_kib(pid)?;
    clients.say("go").await?;
    let all = clients
        .line(Duration::from_secs(300), |_| {}, connected)
        .await?;
    anyhow::ensure!(all == count, "only {all} of {count} terminals connected");
    quiesce(pid, Duration::from_millis(500), Duration::from_secs(60)).await?;
    let rss_all_kib = rss_kib(pid)?;
    clients.stop().await;
    gateway.proc.stop().await;
    Ok(LinkMemory {
        connections: count,
        rss_before_kib,
        rss_half_kib,
        rss_all_kib,
        kib_per_connection: rss_all_kib.saturating_sub(rss_before_kib) as f64 / count as f64,
        kib_per_connection_second_half: rss_all_kib.saturating_sub(rss_half_kib) as f64
            / (count - half).max(1) as f64,
    })
}
