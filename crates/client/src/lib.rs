//! # poigate-client
//!
//! The Rust SDK of poigate's native API. Types are the API's own ([`poigate_api`]), so the
//! client and the server cannot disagree about a field.
//!
//! Two ways to build it:
//!
//! - [`Client::builder`] — what an integration should use: an `Idempotency-Key` is generated
//!   for every create (interactions, captures, voids, refunds) that has none, and requests
//!   are retried with backoff and jitter on network failures and on `429`/`503` (never on
//!   other 4xx; see [`RetryPolicy`]).
//! - [`Client::new`] — one HTTP call per method, nothing added: what the server's own tests
//!   use to see every answer as it is.
//!
//! On top of the calls:
//!
//! - [`Client::pay_and_wait`] creates a payment and follows it to its final state. A lost
//!   answer to the create (the server committed it, the answer never came) is recovered by
//!   looking the interaction up (by `sale_id` + `service_id`, else by replaying the create
//!   with the same `Idempotency-Key`), never by paying twice. It returns a typed
//!   [`PaymentOutcome`].
//! - [`Client::interaction_events`] and [`Client::merchant_events`] are Server-Sent Events
//!   streams that reconnect by themselves with `Last-Event-ID`: no event lost, none twice.
//! - [`webhook::verify`] checks a Standard Webhooks signature on a webhook you received.
//!
//! ```no_run
//! # async fn demo() -> Result<(), poigate_client::ClientError> {
//! use poigate_client::{Client, PaymentOutcome};
//! use poigate_api::CreateInteractionRequest;
//! use poigate_domain::InteractionType;
//!
//! let client = Client::builder("http://127.0.0.1:8080", "pg_test_…").build()?;
//! let sale = CreateInteractionRequest::new("V400m-324688179", InteractionType::Sale, 1250, "EUR");
//! let payment = client.pay_and_wait(&sale).await?;
//! match payment.outcome {
//!     PaymentOutcome::Approved { auth_code } => println!("approved {auth_code}"),
//!     other => println!("not approved: {other:?}"),
//! }
//! # Ok(()) }
//! ```
//!
//! **Owns:** URLs, headers and decoding of the native API, retries, recovery, SSE parsing.
//! **Must not know about:** how the server works inside.

mod pay;
mod retry;
pub mod sse;
pub mod webhook;

pub use pay::{PayOptions, Payment, PaymentOutcome};
pub use retry::RetryPolicy;
pub use sse::{EventStream, SseMessage};

use poigate_api::*;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error (problem document).
    #[error("{} {}: {}", .status.as_u16(), .problem.code, .problem.detail)]
    Api {
        status: StatusCode,
        problem: Box<Problem>,
    },
    /// The request did not complete (connection refused, timeout …).
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with something this client does not understand.
    #[error("unexpected answer ({status}): {body}")]
    Decode { status: StatusCode, body: String },
    /// A payment did not reach a final state within the time it was given (it may still:
    /// look it up by its id).
    #[error("interaction {id} was not final after {waited:?}")]
    NotFinal { id: String, waited: Duration },
    /// The client was given something it cannot send (a base URL, a header value).
    #[error("invalid client setting: {0}")]
    Invalid(String),
}

impl ClientError {
    /// The problem `code` when the server answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { problem, .. } => Some(&problem.code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            ClientError::Http(e) => e.status(),
            ClientError::NotFinal { .. } | ClientError::Invalid(_) => None,
        }
    }

    /// True when the server could not be reached at all (nothing was sent).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Http(e) if e.is_connect())
    }

    /// True when the request failed on the network: it may or may not have been carried out.
    pub fn is_network(&self) -> bool {
        matches!(self, ClientError::Http(_))
    }
}

/// The answer to a capture, void or refund.
#[derive(Clone, Debug)]
pub struct CreateOperationResponse {
    pub status: StatusCode,
    pub response: OperationResponse,
    pub replayed: bool,
}

/// A created interaction and whether the server replayed an earlier answer.
#[derive(Clone, Debug)]
pub struct CreateResponse {
    pub interaction: InteractionView,
    pub replayed: bool,
}

/// Settings of a [`Client`]; [`Client::builder`] starts with the SDK defaults.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    base: String,
    key: String,
    retry: RetryPolicy,
    auto_idempotency_keys: bool,
    timeout: Duration,
}

impl ClientBuilder {
    /// How requests are retried ([`RetryPolicy::none`] to send each once).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Whether creates without an `Idempotency-Key` get a generated one (default: yes).
    pub fn auto_idempotency_keys(mut self, on: bool) -> Self {
        self.auto_idempotency_keys = on;
        self
    }

    /// The longest a single HTTP call may take (default 90 s: a long-poll waits up to 60).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        // HTTPS support: reqwest is built without a default crypto provider; install ring's
        // (a no-op when the process already has one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(self.timeout).build()?;
        if !(self.base.starts_with("http://") || self.base.starts_with("https://")) {
            return Err(ClientError::Invalid(format!(
                "the base URL must start with http:// or https://, got {:?}",
                self.base
            )));
        }
        Ok(Client {
            http,
            base: self.base.trim_end_matches('/').to_string(),
            key: self.key,
            retry: self.retry,
            auto_keys: self.auto_idempotency_keys,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    retry: RetryPolicy,
    auto_keys: bool,
}

/// A fresh idempotency key: 128 random bits in hex, prefixed (`idem_…`).
pub fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: time and a process-wide counter still make a unique key.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return format!("idem_{t:x}{:x}{n:x}", std::process::id());
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("idem_{hex}")
}

impl Client {
    /// The plain client: one HTTP call per method, no retries, no generated keys.
    /// `base` like `http://127.0.0.1:8080`, `key` like `pg_test_…`.
    pub fn new(base: impl Into<String>, key: impl Into<String>) -> Result<Client, ClientError> {
        Client::builder(base, key)
            .retry(RetryPolicy::none())
            .auto_idempotency_keys(false)
            .build()
    }

    /// The SDK: generated idempotency keys and retries ([`RetryPolicy::default`]).
    pub fn builder(base: impl Into<String>, key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base.into(),
            key: key.into(),
            retry: RetryPolicy::default(),
            auto_idempotency_keys: true,
            timeout: Duration::from_secs(90),
        }
    }

    /// The same server with another key.
    pub fn with_key(&self, key: impl Into<String>) -> Client {
        Client {
            key: key.into(),
            ..self.clone()
        }
    }

    /// The same client with another retry policy.
    pub fn with_retry(&self, retry: RetryPolicy) -> Client {
        Client {
            retry,
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn api_key(&self) -> &str {
        &self.key
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.key)
    }

    /// The key a create sends: the caller's, else a generated one when the client makes
    /// them.
    fn create_key(&self, given: Option<&str>) -> Option<String> {
        match given {
            Some(k) => Some(k.to_string()),
            None if self.auto_keys => Some(new_idempotency_key()),
            None => None,
        }
    }

    /// Sends `req`, retrying what [`RetryPolicy`] allows, and decodes the answer.
    async fn send<T: DeserializeOwned>(
        &self,
        req: RequestBuilder,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, T), ClientError> {
        let mut attempt = 1;
        loop {
            let built = req
                .try_clone()
                .ok_or_else(|| ClientError::Invalid("a streaming body cannot be retried".into()))?
                .build()?;
            let method = built.method().clone();
            let keyed = built.headers().contains_key("idempotency-key");
            let result = self.http.execute(built).await;
            let may_retry = attempt < self.retry.max_attempts;
            let wait = match &result {
                Err(e) if may_retry && retry::retryable_network(e, &method, keyed) => {
                    Some(self.retry.backoff(attempt))
                }
                Ok(r) if may_retry && retry::retryable_status(r.status()) => Some(
                    retry::retry_after(r.headers())
                        .map(|d| d.min(self.retry.max_delay))
                        .unwrap_or_else(|| self.retry.backoff(attempt)),
                ),
                _ => None,
            };
            match wait {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return decode(result?).await,
            }
        }
    }

    async fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        self.send(req).await.map(|(_, _, v)| v)
    }

    /// `POST /v1/interactions`. With [`Client::builder`] a missing `idempotency_key` is
    /// generated, so the retries of this call can never create a second interaction.
    pub async fn create_interaction(
        &self,
        body: &CreateInteractionRequest,
        idempotency_key: Option<&str>,
    ) -> Result<CreateResponse, ClientError> {
        let mut req = self.request(Method::POST, "/v1/interactions").json(body);
        if let Some(k) = self.create_key(idempotency_key) {
            req = req.header("Idempotency-Key", k);
        }
        let (_, headers, interaction) = self.send(req).await?;
        Ok(CreateResponse {
            interaction,
            replayed: headers.get("idempotent-replayed").is_some(),
        })
    }

    /// `GET /v1/interactions/{id}`, long-polling with `wait` seconds when given.
    pub async fn get_interaction(
        &self,
        id: &str,
        wait: Option<u64>,
        after_seq: Option<u64>,
    ) -> Result<InteractionView, ClientError> {
        let mut query = Vec::new();
        if let Some(w) = wait {
            query.push(("wait", w.to_string()));
        }
        if let Some(s) = after_seq {
            query.push(("after_seq", s.to_string()));
        }
        self.call(
            self.request(Method::GET, &format!("/v1/interactions/{id}"))
                .query(&query),
        )
        .await
    }

    pub async fn list_events(
        &self,
        id: &str,
        query: &ListEventsQuery,
    ) -> Result<ListOf<EventView>, ClientError> {
        self.call(
            self.request(Method::GET, &format!("/v1/interactions/{id}/events"))
                .query(query),
        )
        .await
    }

    pub async fn cancel(&self, id: &str, wait: Option<u64>) -> Result<CancelResponse, ClientError> {
        let mut req = self.request(Method::POST, &format!("/v1/interactions/{id}/cancel"));
        if let Some(w) = wait {
            req = req.query(&[("wait", w)]);
        }
        self.call(req).await
    }

    pub async fn lookup(
        &self,
        query: &ListInteractionsQuery,
    ) -> Result<ListOf<InteractionView>, ClientError> {
        self.call(self.request(Method::GET, "/v1/interactions").query(query))
            .await
    }

    pub async fn transaction(&self, id: &str) -> Result<TransactionView, ClientError> {
        self.call(self.request(Method::GET, &format!("/v1/transactions/{id}")))
            .await
    }

    pub async fn terminals(&self) -> Result<ListOf<TerminalView>, ClientError> {
        self.call(self.request(Method::GET, "/v1/terminals")).await
    }

    pub async fn terminal(&self, id: &str) -> Result<TerminalView, ClientError> {
        self.call(self.request(Method::GET, &format!("/v1/terminals/{id}")))
            .await
    }

    pub async fn create_terminal(
        &self,
        body: &CreateTerminalRequest,
    ) -> Result<TerminalView, ClientError> {
        self.call(self.request(Method::POST, "/v1/terminals").json(body))
            .await
    }

    /// `GET /v1/api-keys`: the merchant's keys, with `last_used_at`.
    pub async fn api_keys(&self) -> Result<ListOf<poigate_api::ApiKeyView>, ClientError> {
        self.call(self.request(Method::GET, "/v1/api-keys")).await
    }

    /// `POST /v1/api-keys`: a new key of the caller's mode (the secret is in this answer).
    pub async fn create_api_key(
        &self,
        body: &poigate_api::CreateApiKeyRequest,
    ) -> Result<poigate_api::ApiKeyView, ClientError> {
        self.call(self.request(Method::POST, "/v1/api-keys").json(body))
            .await
    }

    /// `POST /v1/api-keys/{id}/revoke`.
    pub async fn revoke_api_key(&self, id: &str) -> Result<poigate_api::ApiKeyView, ClientError> {
        self.call(self.request(Method::POST, &format!("/v1/api-keys/{id}/revoke")))
            .await
    }

    /// `POST /v1/admin/merchants` (with a platform admin key).
    pub async fn admin_create_merchant(
        &self,
        name: &str,
    ) -> Result<poigate_api::MerchantView, ClientError> {
        let body = poigate_api::CreateMerchantRequest { name: name.into() };
        self.call(
            self.request(Method::POST, "/v1/admin/merchants")
                .json(&body),
        )
        .await
    }

    /// `GET /v1/admin/merchants` (with a platform admin key).
    pub async fn admin_merchants(&self) -> Result<ListOf<poigate_api::MerchantView>, ClientError> {
        self.call(self.request(Method::GET, "/v1/admin/merchants"))
            .await
    }

    /// `POST /v1/admin/merchants/{id}/disable` (with a platform admin key).
    pub async fn admin_disable_merchant(
        &self,
        id: &str,
    ) -> Result<poigate_api::MerchantView, ClientError> {
        self.call(self.request(Method::POST, &format!("/v1/admin/merchants/{id}/disable")))
            .await
    }

    /// `POST /v1/admin/merchants/{id}/api-keys` (with a platform admin key).
    pub async fn admin_create_api_key(
        &self,
        merchant: &str,
        body: &poigate_api::AdminCreateApiKeyRequest,
    ) -> Result<poigate_api::ApiKeyView, ClientError> {
        self.call(
            self.request(
                Method::POST,
                &format!("/v1/admin/merchants/{merchant}/api-keys"),
            )
            .json(body),
        )
        .await
    }

    /// `POST /v1/terminals/{id}/pairing-code`: a fresh one-time code for a link terminal.
    pub async fn pairing_code(&self, terminal: &str) -> Result<PairingCodeView, ClientError> {
        self.call(self.request(
            Method::POST,
            &format!("/v1/terminals/{terminal}/pairing-code"),
        ))
        .await
    }

    /// `POST /v1/terminals/{id}/revoke`.
    pub async fn revoke_terminal(&self, terminal: &str) -> Result<TerminalView, ClientError> {
        self.call(self.request(Method::POST, &format!("/v1/terminals/{terminal}/revoke")))
            .await
    }

    /// `POST /v1/terminal-link/pair` (device-facing: no API key is sent).
    pub async fn pair(&self, body: &PairRequest) -> Result<PairResponse, ClientError> {
        let req = self
            .http
            .post(format!("{}/v1/terminal-link/pair", self.base))
            .json(body);
        self.call(req).await
    }

    /// `POST /v1/test-helpers/terminals/{terminal}/{action}` (`present-card`, `cancel`,
    /// `timeout`, `hold`, `disconnect`, `connect`).
    pub async fn test_helper(
        &self,
        terminal: &str,
        action: &str,
        card: Option<&PresentCardRequest>,
    ) -> Result<TestHelperResponse, ClientError> {
        let mut req = self.request(
            Method::POST,
            &format!("/v1/test-helpers/terminals/{terminal}/{action}"),
        );
        if let Some(card) = card {
            req = req.json(card);
        }
        self.call(req).await
    }

    pub async fn create_webhook_endpoint(
        &self,
        body: &CreateWebhookEndpointRequest,
    ) -> Result<WebhookEndpointView, ClientError> {
        self.call(
            self.request(Method::POST, "/v1/webhook-endpoints")
                .json(body),
        )
        .await
    }

    pub async fn webhook_endpoints(&self) -> Result<ListOf<WebhookEndpointView>, ClientError> {
        self.call(self.request(Method::GET, "/v1/webhook-endpoints"))
            .await
    }

    pub async fn webhook_endpoint(&self, id: &str) -> Result<WebhookEndpointView, ClientError> {
        self.call(self.request(Method::GET, &format!("/v1/webhook-endpoints/{id}")))
            .await
    }

    pub async fn update_webhook_endpoint(
        &self,
        id: &str,
        body: &UpdateWebhookEndpointRequest,
    ) -> Result<WebhookEndpointView, ClientError> {
        self.call(
            self.request(Method::PATCH, &format!("/v1/webhook-endpoints/{id}"))
                .json(body),
        )
        .await
    }

    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<(), ClientError> {
        let _: (StatusCode, _, serde::de::IgnoredAny) = self
            .send(self.request(Method::DELETE, &format!("/v1/webhook-endpoints/{id}")))
            .await?;
        Ok(())
    }

    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        overlap_seconds: Option<u64>,
    ) -> Result<WebhookEndpointView, ClientError> {
        self.call(
            self.request(
                Method::POST,
                &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            )
            .json(&RotateSecretRequest { overlap_seconds }),
        )
        .await
    }

    pub async fn webhook_secret(&self, id: &str) -> Result<SecretsView, ClientError> {
        self.call(self.request(Method::GET, &format!("/v1/webhook-endpoints/{id}/secret")))
            .await
    }

    pub async fn callback_secret(&self) -> Result<SecretsView, ClientError> {
        self.call(self.request(Method::GET, "/v1/webhook-callback-secret"))
            .await
    }

    pub async fn deliveries(
        &self,
        query: &ListDeliveriesQuery,
    ) -> Result<ListOf<DeliveryView>, ClientError> {
        self.call(
            self.request(Method::GET, "/v1/webhook-deliveries")
                .query(query),
        )
        .await
    }

    pub async fn delivery(&self, id: &str) -> Result<DeliveryView, ClientError> {
        self.call(self.request(Method::GET, &format!("/v1/webhook-deliveries/{id}")))
            .await
    }

    pub async fn redeliver(&self, id: &str) -> Result<DeliveryView, ClientError> {
        self.call(self.request(
            Method::POST,
            &format!("/v1/webhook-deliveries/{id}/redeliver"),
        ))
        .await
    }

    async fn operation(
        &self,
        path: String,
        body: serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Result<CreateOperationResponse, ClientError> {
        let mut req = self.request(Method::POST, &path).json(&body);
        if let Some(k) = self.create_key(idempotency_key) {
            req = req.header("Idempotency-Key", k);
        }
        let (status, headers, response) = self.send(req).await?;
        Ok(CreateOperationResponse {
            status,
            response,
            replayed: headers.get("idempotent-replayed").is_some(),
        })
    }

    pub async fn capture(
        &self,
        transaction: &str,
        amount: Option<i64>,
        idempotency_key: Option<&str>,
    ) -> Result<CreateOperationResponse, ClientError> {
        let body = serde_json::to_value(CaptureRequest { amount }).unwrap_or_default();
        self.operation(
            format!("/v1/transactions/{transaction}/capture"),
            body,
            idempotency_key,
        )
        .await
    }

    pub async fn void(
        &self,
        transaction: &str,
        idempotency_key: Option<&str>,
    ) -> Result<CreateOperationResponse, ClientError> {
        self.operation(
            format!("/v1/transactions/{transaction}/void"),
            serde_json::json!({}),
            idempotency_key,
        )
        .await
    }

    pub async fn refund(
        &self,
        transaction: &str,
        body: &RefundRequest,
        idempotency_key: Option<&str>,
    ) -> Result<CreateOperationResponse, ClientError> {
        let body = serde_json::to_value(body).unwrap_or_default();
        self.operation(
            format!("/v1/transactions/{transaction}/refunds"),
            body,
            idempotency_key,
        )
        .await
    }

    pub async fn refunds(&self, transaction: &str) -> Result<ListOf<OperationView>, ClientError> {
        self.call(self.request(
            Method::GET,
            &format!("/v1/transactions/{transaction}/refunds"),
        ))
        .await
    }

    pub async fn get_refund(
        &self,
        transaction: &str,
        refund: &str,
    ) -> Result<OperationView, ClientError> {
        self.call(self.request(
            Method::GET,
            &format!("/v1/transactions/{transaction}/refunds/{refund}"),
        ))
        .await
    }

    pub async fn transaction_events(
        &self,
        transaction: &str,
    ) -> Result<ListOf<TransactionEventView>, ClientError> {
        self.call(self.request(
            Method::GET,
            &format!("/v1/transactions/{transaction}/events"),
        ))
        .await
    }

    /// Waits (long-polling) until the interaction is final or `max` passes.
    pub async fn wait_final(
        &self,
        id: &str,
        max: Duration,
    ) -> Result<InteractionView, ClientError> {
        let deadline = std::time::Instant::now() + max;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let wait = left.as_secs().clamp(1, 60);
            let i = self.get_interaction(id, Some(wait), None).await?;
            if i.is_final || std::time::Instant::now() >= deadline {
                return Ok(i);
            }
        }
    }
}

/// Decodes an answer: the body on success, the problem document otherwise.
async fn decode<T: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<(StatusCode, reqwest::header::HeaderMap, T), ClientError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    if status.is_success() {
        // An empty success (204) decodes as JSON null for callers that ignore it.
        let text: &[u8] = if body.is_empty() { b"null" } else { &body };
        serde_json::from_slice(text)
            .map(|v| (status, headers, v))
            .map_err(|_| ClientError::Decode {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
    } else {
        match serde_json::from_slice::<Problem>(&body) {
            Ok(problem) => Err(ClientError::Api {
                status,
                problem: Box::new(problem),
            }),
            Err(_) => Err(ClientError::Decode {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
        }
    }
}
