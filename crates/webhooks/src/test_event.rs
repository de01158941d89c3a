//! "Send a test event": one signed `webhook.test` message to one endpoint, now, so a person
//! setting up a receiver sees at once whether it is reachable and verifies signatures.
//!
//! Why outside the outbox: a test event is not an event of the merchant's objects, must go to
//! exactly the endpoint asked for (the outbox fans every message out to every subscribed
//! endpoint), and its answer is wanted in the request that asked for it. So nothing is stored
//! and nothing is retried; everything else is a real delivery's: the SSRF policy (the URL
//! check and the guarded resolver), Standard Webhooks headers signed with the endpoint's
//! active secrets, the request timeout, no redirects.

use crate::signing::signature_header;
use crate::ssrf::{GuardedResolver, TargetPolicy};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the receiver did with a test event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TestEventOutcome {
    /// The `webhook-id` the test event was sent with.
    pub webhook_id: String,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Whether it answered 2xx.
    pub delivered: bool,
    /// Why not, in the delivery log's words (refused target, timeout, HTTP status …).
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Sends test events; one per gateway, sharing its connection pool.
pub struct TestEventSender {
    http: reqwest::Client,
    policy: TargetPolicy,
}

impl TestEventSender {
    pub fn new(policy: TargetPolicy, timeout: Duration) -> Result<TestEventSender, reqwest::Error> {
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .user_agent(concat!("poigate-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(TestEventSender { http, policy })
    }

    /// Sends `body` (the rendered test event) to `url`, signed with `secrets`, as
    /// `webhook_id` at `timestamp` (seconds).
    pub async fn send(
        &self,
        url: &str,
        secrets: &[String],
        webhook_id: &str,
        timestamp: i64,
        body: Vec<u8>,
    ) -> TestEventOutcome {
        let started = Instant::now();
        let outcome = |status: Option<u16>, error: Option<String>| TestEventOutcome {
            webhook_id: webhook_id.to_string(),
            delivered: status.is_some_and(|s| (200..300).contains(&s)),
            status,
            error,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(reason) = self.policy.check_url(url) {
            return outcome(None, Some(format!("refused: {reason}")));
        }
        let signature = match signature_header(secrets, webhook_id, timestamp, &body) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => return outcome(None, Some("refused: no signing secret".into())),
            Err(e) => return outcome(None, Some(format!("refused: {e}"))),
        };
        let response =
            crate::worker::signed_post(&self.http, url, webhook_id, timestamp, signature, body)
                .send()
                .await;
        match response {
            Err(e) => outcome(None, Some(crate::worker::describe(&e))),
            Ok(r) => {
                let status = r.status().as_u16();
                let error = (!(200..300).contains(&status)).then(|| format!("HTTP {status}"));
                outcome(Some(status), error)
            }
        }
    }
}
