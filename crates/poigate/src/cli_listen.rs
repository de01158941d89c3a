//! `poigate listen`: follow the merchant's events live and forward each one to a local URL,
//! signed exactly as a real webhook is — so a developer's app can be built against webhooks
//! without registering an endpoint or opening a port to the internet.
//!
//! Events come from the merchant-wide stream (`GET /v1/events/stream`, resumed by the SDK
//! with `Last-Event-ID` after a dropped connection). Each is forwarded as the webhook worker
//! would send it: the same body bytes, `webhook-id` (the message id: the same on a repeat),
//! `webhook-timestamp` and `webhook-signature` (Standard Webhooks, HMAC-SHA256) under a
//! secret made for this session and printed at start, or given with `--secret`.

use crate::cli_client::Connection;
use base64::Engine as _;
use clap::Args;
use poigate_client::SseMessage;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ListenArgs {
    /// Forward each event to this URL (e.g. http://localhost:3000/webhooks), signed like a
    /// webhook.
    #[arg(long, value_name = "URL")]
    forward_to: Option<String>,
    /// Only these event types (comma-separated), e.g.
    /// interaction.completed,transaction.updated [default: all].
    #[arg(long, value_delimiter = ',', value_name = "TYPES")]
    events: Vec<String>,
    /// Print each event's body as one line of JSON (and nothing else on standard output).
    #[arg(long)]
    print_json: bool,
    /// Sign with this secret (whsec_…) instead of a new one: your app keeps its setting
    /// from one session to the next.
    #[arg(long, value_name = "WHSEC")]
    secret: Option<String>,
    /// Seconds to wait for the local app's answer.
    #[arg(long, default_value_t = 10)]
    forward_timeout: u64,
    #[command(flatten)]
    conn: Connection,
}

/// A fresh session secret: `whsec_` + base64 of 32 random bytes, like an endpoint's.
fn session_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

pub async fn listen(args: ListenArgs) -> anyhow::Result<ExitCode> {
    let client = args.conn.client()?;
    let secret = match args.secret {
        Some(s) => {
            // Refused now rather than at the first event.
            poigate_webhooks::signing::sign(&s, "msg_check", 0, b"")
                .map_err(|e| crate::cli_output::UsageError(format!("--secret: {e}")))?;
            s
        }
        None => session_secret()?,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.forward_timeout.max(1)))
        .build()?;
    let types: Vec<&str> = args.events.iter().map(String::as_str).collect();
    let mut stream = client.merchant_events(&types, None);
    loop {
        let message = tokio::select! {
            m = stream.next() => m,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        let Some(message) = message else {
            return Ok(ExitCode::SUCCESS);
        };
        let message = message?;
        match message.event.as_str() {
            "ready" => {
                let target = args
                    .forward_to
                    .as_deref()
                    .map(|u| format!(", forwarding to {u}"))
                    .unwrap_or_default();
                errln!(
                    "Ready: following the events of {}{target}. Webhook signing secret for this session: {secret}  (Ctrl-C to stop)",
                    client.base_url()
                );
            }
            "gap" => errln!(
                "warning: the stream could not resume where it was; events may have been missed"
            ),
            _ => handle(&message, &args.forward_to, &http, &secret, args.print_json).await,
        }
        if crate::cli_output::stdout_closed() && args.forward_to.is_none() {
            // Nobody reads what this prints, and nothing is forwarded: done.
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// Prints (and forwards) one event.
async fn handle(
    message: &SseMessage,
    forward_to: &Option<String>,
    http: &reqwest::Client,
    secret: &str,
    print_json: bool,
) {
    let body: serde_json::Value = serde_json::from_str(&message.data).unwrap_or_default();
    let msg_id = body["id"].as_str().unwrap_or_default().to_string();
    // The object the event is about: the payload itself, or — for a capture, void or
    // refund — its operation (`{operation, transaction}`).
    let object = match body["data"].get("operation") {
        Some(operation) => operation,
        None => &body["data"],
    };
    let subject = object["id"].as_str().unwrap_or_default().to_string();
    let detail = match (object["status"].as_str(), object["object"].as_str()) {
        (Some(status), _) => status.to_string(),
        (None, Some(kind)) => kind.to_string(),
        (None, None) => String::new(),
    };
    let answer = match forward_to {
        Some(url) => Some(forward(http, url, secret, &msg_id, message.data.as_bytes()).await),
        None => None,
    };
    if print_json {
        outln!("{}", message.data);
        return;
    }
    let at = poigate_domain::Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    );
    let answer = answer.map(|a| format!("  --> {a}")).unwrap_or_default();
    outln!("{at}  {:<27} {subject}  {detail}{answer}", message.event);
}

/// Posts one event as a signed webhook; says how the local app answered.
async fn forward(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    msg_id: &str,
    body: &[u8],
) -> String {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let signature = match poigate_webhooks::signing::signature_header(
        &[secret.to_string()],
        msg_id,
        timestamp,
        body,
    ) {
        Ok(s) => s,
        Err(e) => return format!("not sent: {e}"),
    };
    let started = Instant::now();
    let sent = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            reqwest::header::USER_AGENT,
            concat!("poigate-listen/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await;
    let ms = started.elapsed().as_millis();
    match sent {
        Ok(r) => format!("{} [{ms} ms]", r.status()),
        Err(e) if e.is_connect() => {
            format!("error: nothing answers at {url} (is your app running?)")
        }
        Err(e) if e.is_timeout() => format!("error: no answer from {url} within the timeout"),
        Err(e) => format!("error: {e}"),
    }
}
