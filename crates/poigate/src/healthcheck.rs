//! `poigate healthcheck`: asks a running gateway's `/healthz` and exits 0 when it answers.
//!
//! The container image's `HEALTHCHECK` runs it, so the image needs no curl or wget (less
//! to patch, nothing that fetches arbitrary URLs). It speaks to the gateway on the same
//! machine: with no `--url`, the address comes from `POIGATE_LISTEN` (the variable `serve`
//! reads), an unspecified address (`0.0.0.0`, `[::]`) becoming the loopback one.

use clap::Args;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct HealthcheckArgs {
    /// URL to ask [default: /healthz at the --listen address].
    #[arg(long, env = "POIGATE_HEALTHCHECK_URL")]
    url: Option<String>,
    /// The gateway's listen address, when --url is not given [default: 127.0.0.1:8080].
    #[arg(long, env = "POIGATE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// `/healthz` of a gateway listening on `listen`, reached from the same machine.
pub fn url_for(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
}

/// Exit 0 when the gateway answers 200 with `"status": "ok"`, 1 otherwise, with one line
/// saying why on standard error (Docker keeps it in `docker inspect`).
pub async fn run(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let url = args.url.unwrap_or_else(|| {
        url_for(
            args.listen
                .unwrap_or_else(|| poigate::Config::default().listen),
        )
    });
    match check(&url, Duration::from_secs(args.timeout.max(1))).await {
        Ok(version) => {
            println!("healthy: {url} (poigate {version})");
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            eprintln!("unhealthy: {url}: {reason:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[derive(serde::Deserialize)]
struct Health {
    status: String,
    version: String,
}

/// The version the gateway reports, or why it is not healthy.
async fn check(url: &str, timeout: Duration) -> anyhow::Result<String> {
    let http = reqwest::Client::builder().timeout(timeout).build()?;
    let response = http.get(url).send().await?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "answered {status}");
    let health: Health = response
        .json()
        .await
        .map_err(|e| anyhow::anyhow!("not a health answer: {e}"))?;
    anyhow::ensure!(health.status == "ok", "status is {:?}", health.status);
    Ok(health.version)
}

#[cfg(test)]
mod tests {
    use super::url_for;

    #[test]
    fn unspecified_addresses_become_loopback() {
        let cases = [
            ("0.0.0.0:8080", "http://127.0.0.1:8080/healthz"),
            ("[::]:9000", "http://[::1]:9000/healthz"),
            ("127.0.0.1:8080", "http://127.0.0.1:8080/healthz"),
            ("10.1.2.3:80", "http://10.1.2.3:80/healthz"),
        ];
        for (listen, url) in cases {
            assert_eq!(url_for(listen.parse().expect("address")), url, "{listen}");
        }
    }
}
