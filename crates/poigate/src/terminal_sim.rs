//! `poigate terminal-sim`: a fleet of simulated terminals as real clients of a gateway's
//! terminal link, in their own process — for demos, load tests and POS developers' CI.
//!
//! With a merchant's test API key the fleet provisions itself through the native API:
//! registers `--count` link-connected simulated terminals (or reuses them), asks for a
//! pairing code for each and pairs it, exactly as an installer would. With a device key
//! (`pg_dev_…`) it runs that one terminal. Either way each terminal then runs the same
//! simulator as the in-process terminals and answers the same test helpers.

use anyhow::Context;
use clap::Args;
use poigate_api::{CreateTerminalRequest, PairRequest};
use poigate_client::Client;
use poigate_domain::{TerminalConnection, TerminalKind};
use poigate_link::{ClientConfig, ClientState, LinkClient};
use poigate_terminal::SimulatorConfig;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct TerminalSimArgs {
    /// The gateway: `ws://host:port` (the link path is added) or the full link URL; the
    /// native API is reached on the first one's host and port. Repeat it (or separate with
    /// commas) for the nodes of a cluster: a terminal that cannot reach its node fails over
    /// to the next.
    #[arg(
        long,
        env = "POIGATE_LINK_URL",
        default_value = "ws://127.0.0.1:8080",
        value_delimiter = ','
    )]
    url: Vec<String>,
    /// A test API key (`pg_test_…`: register and pair `--count` terminals) or a device key
    /// (`pg_dev_…`: run that one terminal; needs `--serial`).
    #[arg(long, env = "POIGATE_API_KEY")]
    key: String,
    /// How many terminals to run (with an API key).
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Serial numbers are this prefix and a four-digit number (with an API key), or the
    /// serial number itself (with a device key).
    #[arg(long, default_value = "SIM")]
    serial: String,
    #[arg(long, default_value = "V400m")]
    model: String,
    /// Speed factor of the simulated cardholder: 1 realistic, 0 instant.
    #[arg(long, default_value_t = 1.0)]
    sim_speed: f64,
}

/// `ws://host:port[/…]` → (link URL, HTTP base URL).
fn urls(given: &str) -> anyhow::Result<(String, String)> {
    let rest = given.strip_prefix("ws://").context(
        "--url must start with ws:// (terminal-sim speaks plain WebSocket; put TLS in front of the gateway for real devices)",
    )?;
    let host = rest.split('/').next().unwrap_or(rest);
    anyhow::ensure!(!host.is_empty(), "--url has no host");
    Ok((
        format!("ws://{host}{}", poigate_link::protocol::LINK_PATH),
        format!("http://{host}"),
    ))
}

/// Registers (or finds) a link-connected simulated terminal and pairs it.
async fn provision(
    api: &Client,
    serial: &str,
    model: &str,
) -> anyhow::Result<(String, String, String)> {
    let request = CreateTerminalRequest {
        serial_number: serial.to_string(),
        model: model.to_string(),
        label: Some("terminal-sim".into()),
        kind: Some(TerminalKind::Simulated),
        connection: Some(TerminalConnection::Link),
    };
    let code = match api.create_terminal(&request).await {
        Ok(t) => t.pairing.context("the gateway sent no pairing code")?,
        Err(e) if e.code() == Some("already_exists") => {
            let t = api.terminal(serial).await?;
            anyhow::ensure!(
                t.kind == TerminalKind::Simulated && t.connection == TerminalConnection::Link,
                "terminal {} exists but is not a link-connected simulated terminal",
                t.poiid
            );
            api.pairing_code(&t.id.to_string()).await?
        }
        Err(e) => return Err(e).context("cannot register the terminal"),
    };
    let paired = api
        .pair(&PairRequest {
            pairing_code: code.pairing_code,
            serial_number: serial.to_string(),
        })
        .await
        .context("cannot pair the terminal")?;
    Ok((paired.device_key, paired.model, paired.poiid))
}

pub async fn run(args: TerminalSimArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.sim_speed.is_finite() && args.sim_speed >= 0.0,
        "--sim-speed must be a number >= 0"
    );
    let mut nodes = Vec::new();
    for given in &args.url {
        nodes.push(urls(given)?);
    }
    let Some((link_url, http_url)) = nodes.first().cloned() else {
        anyhow::bail!("--url names no gateway");
    };
    let other_links: Vec<String> = nodes.iter().skip(1).map(|(link, _)| link.clone()).collect();
    let simulator = SimulatorConfig {
        speed: args.sim_speed,
    };
    let mut terminals = Vec::new();
    if args
        .key
        .starts_with(poigate_engine::auth::DEVICE_KEY_PREFIX)
    {
        anyhow::ensure!(args.count == 1, "a device key runs exactly one terminal");
        terminals.push((
            args.key.clone(),
            args.serial.clone(),
            args.model.clone(),
            format!("{}-{}", args.model, args.serial),
        ));
    } else {
        anyhow::ensure!(
            (1..=10_000).contains(&args.count),
            "--count must be 1 to 10000"
        );
        let api = Client::new(&http_url, &args.key)?;
        for i in 1..=args.count {
            let serial = format!("{}{i:04}", args.serial);
            let (key, model, poiid) = provision(&api, &serial, &args.model)
                .await
                .with_context(|| format!("terminal {serial}"))?;
            terminals.push((key, serial, model, poiid));
        }
    }
    let mut clients = Vec::new();
    for (key, serial, model, poiid) in terminals {
        let mut config = ClientConfig::new(&link_url, key, &serial);
        config.other_urls = other_links.clone();
        config.model = model;
        config.simulator = simulator;
        clients.push((poiid, LinkClient::spawn(config)));
    }
    for (poiid, client) in &clients {
        match client
            .wait_for(Duration::from_secs(15), |s| *s != ClientState::Connecting)
            .await
        {
            Some(ClientState::Connected) => println!("{poiid}\tconnected"),
            Some(ClientState::Stopped(why)) => anyhow::bail!("{poiid}: {why}"),
            _ => anyhow::bail!("{poiid}: could not connect to {link_url}"),
        }
    }
    println!(
        "{} simulated terminal(s) on {link_url}; Ctrl-C stops them",
        clients.len()
    );
    let stopped = async {
        loop {
            for (poiid, client) in &clients {
                if let ClientState::Stopped(why) = client.state() {
                    return format!("{poiid}: {why}");
                }
            }
            // The fleet's health is only printed: a coarse check is enough.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(ExitCode::SUCCESS),
        why = stopped => {
            eprintln!("error: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_and_api_urls_come_from_one_address() {
        let (link, http) = urls("ws://127.0.0.1:8080").expect("valid");
        assert_eq!(link, "ws://127.0.0.1:8080/v1/terminal-link");
        assert_eq!(http, "http://127.0.0.1:8080");
        let (link, http) = urls("ws://gw.example/v1/terminal-link").expect("valid");
        assert_eq!(link, "ws://gw.example/v1/terminal-link");
        assert_eq!(http, "http://gw.example");
        assert!(urls("http://x").is_err());
        assert!(urls("wss://x").is_err());
    }
}
