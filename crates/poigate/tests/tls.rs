//! HTTPS end to end: the real binary with `--tls-self-signed` on port 0, a client that
//! trusts the certificate the gateway wrote into its data directory completes a sale (native
//! API and Adyen's Terminal API); a client that does not trust it is refused by its own TLS
//! check; the same files served as a given certificate (`--tls-cert`/`--tls-key`) work too.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{line_where, spawn};

const KEY: &str = "pg_test_tls0000000000000000000000000000000000000000";

/// Starts `serve --demo` over TLS with `tls_args`; returns it, its URL and the certificate
/// path it printed (if any).
fn start(
    data_dir: &std::path::Path,
    tls_args: &[&str],
) -> (support::Gateway, String, Option<String>) {
    let mut args = vec![
        "serve",
        "--demo",
        "--listen",
        "127.0.0.1:0",
        "--sim-speed",
        "0",
        "--log",
        "warn",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(tls_args);
    let (gateway, rx) = spawn(&args, Some(data_dir), KEY);
    let url = line_where(&rx, |l| {
        l.trim().strip_prefix("URL").map(|u| u.trim().to_string())
    });
    let cert = if tls_args.contains(&"--tls-self-signed") {
        Some(line_where(&rx, |l| {
            l.trim()
                .strip_prefix("TLS cert")
                .map(|u| u.trim().to_string())
        }))
    } else {
        None
    };
    (gateway, url, cert)
}

fn trusting(cert_pem: &[u8]) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem)?)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// A sale through the native API, then one through Adyen's Terminal API, both approved.
async fn sales(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let created: Value = http
        .post(format!("{url}/v1/interactions"))
        .bearer_auth(KEY)
        .json(&json!({"terminal": "V400m-324688179", "type": "sale",
            "amount": {"value": 1250, "currency": "EUR"}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_str().unwrap_or_default();
    let done: Value = http
        .get(format!("{url}/v1/interactions/{id}?wait=30"))
        .bearer_auth(KEY)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(done["status"], "approved", "{done}");

    let adyen: Value = http
        .post(format!("{url}/adyen/sync"))
        .header("x-api-key", KEY)
        .json(&json!({"SaleToPOIRequest": {
        "MessageHeader": {"ProtocolVersion": "3.0", "MessageClass": "Service",
            "MessageCategory": "Payment", "MessageType": "Request", "SaleID": "TLS1",
            "ServiceID": format!("t{}", &id[id.len() - 6..]), "POIID": "P400Plus-275039202"},
        "PaymentRequest": {
            "SaleData": {"SaleTransactionID": {"TransactionID": "tls-order",
                "TimeStamp": "2026-11-30T10:00:00Z"}},
            "PaymentTransaction": {"AmountsReq": {"Currency": "EUR", "RequestedAmount": 9.99}}
        }}}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        adyen["SaleToPOIResponse"]["PaymentResponse"]["Response"]["Result"], "Success",
        "{adyen}"
    );
    Ok(())
}

#[tokio::test]
async fn a_client_trusting_the_self_signed_certificate_completes_a_sale_over_https()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_gateway, url, cert) = start(dir.path(), &["--tls-self-signed"]);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let cert = cert.unwrap_or_default();
    let expected = dir.path().join("tls").join("self-signed-cert.pem");
    assert_eq!(std::path::Path::new(&cert), expected);
    let pem = std::fs::read(&cert)?;
    let http = trusting(&pem)?;
    sales(&http, &url).await?;

    // A client that does not trust the certificate refuses the connection itself.
    let untrusting = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let refused = untrusting.get(format!("{url}/healthz")).send().await;
    assert!(refused.is_err(), "{refused:?}");
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let plain = untrusting
        .get(format!(
            "{}/healthz",
            url.replacen("https://", "http://", 1)
        ))
        .send()
        .await;
    assert!(
        plain
            .as_ref()
            .map(|r| r.status().as_u16() != 200)
            .unwrap_or(true),
        "{plain:?}"
    );
    Ok(())
}

/// The dashboard's cookies carry `Secure` when the gateway itself serves TLS (no proxy
/// header needed), and not over plain HTTP.
#[tokio::test]
async fn dashboard_cookies_are_secure_over_the_gateways_own_tls() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_gateway, url, cert) = start(dir.path(), &["--tls-self-signed"]);
    let http = trusting(&std::fs::read(cert.unwrap_or_default())?)?;
    let page = http.get(format!("{url}/dashboard/sign-in")).send().await?;
    assert_eq!(page.status(), 200);
    let cookies: Vec<String> = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(!cookies.is_empty(), "the sign-in page sets its form cookie");
    for c in &cookies {
        assert!(c.contains("; Secure"), "{c}");
    }

    let plain_dir = tempfile::tempdir()?;
    let (_plain, plain_url, _) = start(plain_dir.path(), &[]);
    let page = reqwest::get(format!("{plain_url}/dashboard/sign-in")).await?;
    let cookie = page
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(!cookie.is_empty() && !cookie.contains("Secure"), "{cookie}");
    Ok(())
}

#[tokio::test]
async fn a_given_certificate_and_key_are_served() -> anyhow::Result<()> {
    // Make a certificate (with --tls-self-signed), then serve its files as a given one.
    let made = tempfile::tempdir()?;
    let (first, _, cert) = start(made.path(), &["--tls-self-signed"]);
    drop(first);
    let cert = cert.unwrap_or_default();
    let key = made.path().join("tls").join("self-signed-key.pem");
    let dir = tempfile::tempdir()?;
    let key_arg = key.display().to_string();
    let (_gateway, url, _) = start(dir.path(), &["--tls-cert", &cert, "--tls-key", &key_arg]);
    assert!(url.starts_with("https://"), "{url}");
    let http = trusting(&std::fs::read(&cert)?)?;
    sales(&http, &url).await?;
    Ok(())
}

#[test]
fn half_a_tls_configuration_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent.pem",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run poigate");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-key"), "{err}");
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_closed_within_the_header_timeout() -> anyhow::Result<()>
{
    use std::io::Read;
    let dir = tempfile::tempdir()?;
    let mut config = poigate::Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_path_buf(),
        ..poigate::Config::default()
    };
    config.simulator.speed = 0.0;
    config.connections.header_read_timeout_seconds = 1;
    config.tls.self_signed = true;
    let server = poigate::start(&config).await?;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let addr = server.addr;
    let closed = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        // Connected, never a byte: no TLS handshake starts.
        let mut silent = std::net::TcpStream::connect(addr)?;
        silent.set_read_timeout(Some(Duration::from_secs(6)))?;
        let mut buf = [0u8; 64];
        // EOF (or a reset) before the 6 s read timeout: the gateway closed it.
        Ok(match silent.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        })
    })
    .await??;
    assert!(closed, "a silent client held its TLS connection open");
    // The listener still serves a trusting client.
    let pem = std::fs::read(server.self_signed_cert.clone().unwrap_or_default())?;
    let health = trusting(&pem)?
        .get(format!("{}/healthz", server.url()))
        .send()
        .await?;
    assert_eq!(health.status(), 200);
    server.stop().await?;
    Ok(())
}
