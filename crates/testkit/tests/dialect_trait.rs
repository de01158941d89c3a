//! The `Dialect` trait is everything a dialect needs, and storage failures reach clients the
//! same way in every dialect.
//!
//! - A fifth dialect, defined here in a few lines (a prefix, two routes calling the engine,
//!   an exhaustive error mapping, a webhook format), is mounted through the registry next to
//!   the standard four and works end to end: authentication, engine calls, errors in its own
//!   shape, webhooks in its own format.
//! - With the real SQLite store wrapped in a `FaultyStore` switched to fail, every dialect
//!   (and the native API) answers `503` in its own error shape, with `Retry-After`: the one
//!   legitimate 5xx.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use poigate_api::CreateWebhookEndpointRequest;
use poigate_domain::{Currency, InteractionId, InteractionType, Money, OutboxMessage};
use poigate_engine::{CreateRequest, EngineError};
use poigate_http::AppState;
use poigate_http::dialect::{
    CredentialPlace, Dialect, DialectRegistry, ErrorShape, Unauthenticated, authenticate,
};
use poigate_testkit::calls::form;
use poigate_testkit::{Options, StoreFaults, TERMINALS, TestServer, WebhookReceiver, eventually};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

// --- the fifth dialect: "Toy" --------------------------------------------------------------

/// A provider whose POS sends `toy-key: <key>` and gets `{"toy_error": code}` back.
struct Toy;

struct ToyError(StatusCode, &'static str);

impl IntoResponse for ToyError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "toy_error": self.1 }))).into_response();
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            let retry = HeaderValue::from_static("2");
            response.headers_mut().insert(header::RETRY_AFTER, retry);
        }
        response
    }
}

impl ErrorShape for ToyError {
    #[deny(clippy::wildcard_enum_match_arm)]
    fn from_engine(e: EngineError) -> ToyError {
        use EngineError as E;
        match e {
            E::Store(_) | E::Randomness(_) => {
                ToyError(StatusCode::SERVICE_UNAVAILABLE, "try_later")
            }
            E::NotFound(_) | E::UnknownInteraction => ToyError(StatusCode::NOT_FOUND, "unknown"),
            E::TerminalBusy { .. } | E::TerminalOffline | E::IdempotencyInProgress => {
                ToyError(StatusCode::CONFLICT, "till_unavailable")
            }
            E::TerminalNotFound(_)
            | E::Validation(_)
            | E::IdempotencyMismatch
            | E::Duplicate(_)
            | E::WrongTerminal
            | E::InvalidReport(_)
            | E::WrongSeq { .. }
            | E::InvalidPairingCode
            | E::NotAllowed(_)
            | E::LivemodeMismatch
            | E::Transition(_)
            | E::MoneyRule(_) => ToyError(StatusCode::BAD_REQUEST, "refused"),
        }
    }

    fn unauthenticated(why: Unauthenticated) -> ToyError {
        match why {
            Unauthenticated::RateLimited { .. } => {
                ToyError(StatusCode::TOO_MANY_REQUESTS, "slow_down")
            }
            Unauthenticated::Missing | Unauthenticated::Invalid => {
                ToyError(StatusCode::UNAUTHORIZED, "who_are_you")
            }
        }
    }
}

impl Dialect for Toy {
    type Error = ToyError;
    const CREDENTIALS: &'static [CredentialPlace] = &[CredentialPlace::Header("toy-key")];

    fn name(&self) -> &'static str {
        "toy"
    }
    fn prefix(&self) -> &'static str {
        "/toy"
    }
    fn router(&self) -> Router<AppState> {
        Router::new()
            .route("/pay", post(toy_pay))
            .route("/pay/{id}", get(toy_status))
    }
    fn webhook_formats(&self) -> &'static [&'static str] {
        &["toy"]
    }
    fn render_webhook(&self, message: &OutboxMessage, _format: &str) -> Result<Vec<u8>, String> {
        Ok(json!({ "toy_event": message.event_type.as_str() })
            .to_string()
            .into_bytes())
    }
}

/// `POST /toy/pay {"till", "cents"}`: a sale in EUR.
async fn toy_pay(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ToyError> {
    let caller = authenticate::<ToyError>(&state, Toy::CREDENTIALS, &headers, None).await?;
    let bad = || ToyError(StatusCode::BAD_REQUEST, "bad_request");
    let request: Value = serde_json::from_slice(&body).map_err(|_| bad())?;
    let (Some(till), Some(cents)) = (request["till"].as_str(), request["cents"].as_i64()) else {
        return Err(bad());
    };
    let currency = Currency::from_code("EUR").ok_or_else(bad)?;
    let create = CreateRequest {
        ask_for_tip: false,
        terminal: till.to_string(),
        kind: InteractionType::Sale,
        amount: Money::new(cents, currency).map_err(|_| bad())?,
        reference: None,
        sale_id: None,
        service_id: None,
        timeout_seconds: None,
        metadata: Default::default(),
        webhooks: Vec::new(),
        idempotency_key: None,
    };
    let created = state
        .engine
        .interactions()
        .create(&caller, create)
        .await
        .map_err(ToyError::from_engine)?;
    let id = created.interaction.id.uuid().hyphenated().to_string();
    Ok((StatusCode::CREATED, Json(json!({ "payment": id }))))
}

/// `GET /toy/pay/{id}`: `{"state"}`.
async fn toy_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ToyError> {
    let caller = authenticate::<ToyError>(&state, Toy::CREDENTIALS, &headers, None).await?;
    let id = uuid::Uuid::try_parse(&id)
        .map(InteractionId::from_uuid)
        .map_err(|_| ToyError(StatusCode::NOT_FOUND, "unknown"))?;
    let interaction = state
        .engine
        .interactions()
        .get(&caller, id)
        .await
        .map_err(ToyError::from_engine)?;
    Ok(Json(json!({ "state": interaction.status })))
}

// --- tests -------------------------------------------------------------------------------

async fn with_toy(store_faults: Option<StoreFaults>) -> anyhow::Result<TestServer> {
    let dialects = DialectRegistry::standard().with(Toy)?;
    TestServer::start_with(Options {
        dialects: Some(dialects),
        store_faults,
        ..Options::default()
    })
    .await
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Option<String>, String)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER.as_str())
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((status, retry_after, response.text().await?))
}

#[tokio::test]
async fn a_fifth_dialect_needs_only_the_trait() -> anyhow::Result<()> {
    let ts = with_toy(None).await?;
    let http = ts.http();
    let url = ts.url();
    let receiver = WebhookReceiver::start().await?;
    ts.client()
        .create_webhook_endpoint(&CreateWebhookEndpointRequest {
            url: receiver.url("/toy-hooks"),
            format: Some("toy".into()),
            events: Some(vec!["interaction.completed".into()]),
            description: None,
            enabled: None,
        })
        .await?;

    // Its credential place, its error shape.
    let pay = json!({ "till": TERMINALS[0], "cents": 1250 });
    let (status, _, body) = send(http.post(format!("{url}/toy/pay")).json(&pay)).await?;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"toy_error":"who_are_you"}"#)
    );
    let (status, _, body) = send(
        http.post(format!("{url}/toy/pay"))
            .bearer_auth(ts.key())
            .json(&pay),
    )
    .await?;
    assert_eq!(
        status, 401,
        "a toy client sends toy-key, not Bearer: {body}"
    );
    let (status, _, body) = send(
        http.post(format!("{url}/toy/pay"))
            .header("toy-key", "pg_test_wrong")
            .json(&pay),
    )
    .await?;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"toy_error":"who_are_you"}"#)
    );

    // Engine errors in its shape.
    let (status, _, body) = send(
        http.post(format!("{url}/toy/pay"))
            .header("toy-key", ts.key())
            .json(&json!({ "till": "no-such-till", "cents": 1250 })),
    )
    .await?;
    assert_eq!((status, body.as_str()), (400, r#"{"toy_error":"refused"}"#));
    let (status, _, body) = send(
        http.get(format!("{url}/toy/pay/{}", uuid::Uuid::now_v7()))
            .header("toy-key", ts.key()),
    )
    .await?;
    assert_eq!((status, body.as_str()), (404, r#"{"toy_error":"unknown"}"#));

    // A sale through the engine, followed to its end.
    let (status, _, body) = send(
        http.post(format!("{url}/toy/pay"))
            .header("toy-key", ts.key())
            .json(&pay),
    )
    .await?;
    assert_eq!(status, 201, "{body}");
    let payment: Value = serde_json::from_str(&body)?;
    let id = payment["payment"].as_str().unwrap_or_default().to_string();
    let state = eventually(WAIT, || {
        let (http, url, key, id) = (http.clone(), url.clone(), ts.key().to_string(), id.clone());
        async move {
            let r = http
                .get(format!("{url}/toy/pay/{id}"))
                .header("toy-key", key)
                .send()
                .await
                .ok()?;
            let v: Value = r.json().await.ok()?;
            let state = v["state"].as_str()?.to_string();
            (state != "pending" && state != "in_progress").then_some(state)
        }
    })
    .await?;
    assert_eq!(state, "approved");
    // The native API sees the same interaction.
    let native_id = InteractionId::from_uuid(uuid::Uuid::try_parse(&id)?).to_string();
    let native = ts.client().get_interaction(&native_id, None, None).await?;
    assert_eq!(native.amount.value(), 1250);

    // Its webhook format, rendered by the registry's lookup.
    let got = receiver.wait_for(1, WAIT).await?;
    assert_eq!(
        got[0].json(),
        json!({ "toy_event": "interaction.completed" })
    );

    // The standard four are still mounted beside it.
    let (status, _, _) = send(http.post(format!("{url}/adyen/sync")).body("{}")).await?;
    assert_eq!(status, 401);
    ts.stop().await
}

#[tokio::test]
async fn a_registry_refuses_a_second_dialect_on_a_taken_prefix_or_format() -> anyhow::Result<()> {
    let registry = DialectRegistry::standard().with(Toy)?;
    assert!(registry.clone().with(Toy).is_err());
    assert_eq!(registry.for_format("toy").map(|d| d.name()), Some("toy"));
    assert_eq!(registry.dialects().count(), 5);
    Ok(())
}

/// Every dialect, the native API and the toy: with storage down, `503` in the dialect's own
/// shape, with `Retry-After`; with storage back, the same requests succeed or fail as usual.
#[tokio::test]
async fn storage_unavailable_is_a_503_with_retry_after_in_every_dialect() -> anyhow::Result<()> {
    let faults = StoreFaults::new();
    let ts = with_toy(Some(faults.clone())).await?;
    let http = ts.http();
    let url = ts.url();
    let key = ts.key().to_string();
    let unknown = uuid::Uuid::now_v7().hyphenated().to_string();
    let adyen_status = json!({"SaleToPOIRequest": {
        "MessageHeader": {"ProtocolVersion": "3.0", "MessageClass": "Service",
            "MessageCategory": "TransactionStatus", "MessageType": "Request",
            "SaleID": "POS1", "ServiceID": "st1", "POIID": TERMINALS[0]},
        "TransactionStatusRequest": {}}});
    // (name, request, a piece of the dialect's error shape the body must contain)
    let requests: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        (
            "native",
            http.get(format!("{url}/v1/interactions?limit=5"))
                .bearer_auth(&key),
            r#""code":"unavailable""#,
        ),
        (
            "cybersource",
            http.get(format!(
                "{url}/cybersource/v1/cloud/interactions/{unknown}/events"
            ))
            .bearer_auth(&key),
            r#""type":"ErrorResponse""#,
        ),
        (
            "nmi transact.php",
            http.post(format!("{url}/nmi/api/transact.php"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("security_key", key.as_str()),
                    ("type", "sale"),
                    ("poi_device_id", TERMINALS[0]),
                    ("amount", "1.00"),
                    ("response_method", "asynchronous"),
                ])),
            "response=3&",
        ),
        (
            "nmi asyncstatus",
            http.get(format!("{url}/nmi/api/asyncstatus/{unknown}"))
                .bearer_auth(&key),
            r#"{"error":{"code":503"#,
        ),
        (
            "nmi query.php",
            http.post(format!("{url}/nmi/api/query.php"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("security_key", key.as_str()),
                    ("transaction_id", "1"),
                ])),
            "<error_response>",
        ),
        (
            "adyen",
            http.post(format!("{url}/adyen/sync"))
                .header("x-api-key", &key)
                .json(&adyen_status),
            r#""errorType":"internal""#,
        ),
        (
            "cm",
            http.get(format!(
                "{url}/cm/api/v1/paymentmethods/creditcard/v1/transactions/{unknown}"
            ))
            .bearer_auth(&key),
            r#"{"message":"#,
        ),
        (
            "toy",
            http.get(format!("{url}/toy/pay/{unknown}"))
                .header("toy-key", &key),
            r#"{"toy_error":"try_later"}"#,
        ),
    ];
    let mut before = Vec::new();
    for (name, request, _) in &requests {
        let request = request
            .try_clone()
            .ok_or_else(|| anyhow::anyhow!("{name}: request not clonable"))?;
        let (status, _, body) = send(request).await?;
        assert!(
            status < 500,
            "{name}: storage up, answered {status}: {body}"
        );
        before.push(status);
    }

    faults.fail();
    for (name, request, shape) in &requests {
        let request = request
            .try_clone()
            .ok_or_else(|| anyhow::anyhow!("{name}: request not clonable"))?;
        let (status, retry_after, body) = send(request).await?;
        assert_eq!(status, 503, "{name}: {body}");
        assert!(retry_after.is_some(), "{name}: a 503 without Retry-After");
        assert!(body.contains(shape), "{name}: not in its shape: {body}");
    }

    faults.heal();
    for ((name, request, _), status_before) in requests.iter().zip(before) {
        let request = request
            .try_clone()
            .ok_or_else(|| anyhow::anyhow!("{name}: request not clonable"))?;
        let (status, _, body) = send(request).await?;
        assert!(
            status < 500,
            "{name}: storage back, answered {status}: {body}"
        );
        if *name != "nmi transact.php" {
            // (the second sale on the terminal may find it busy; the rest is read-only)
            assert_eq!(status, status_before, "{name}: {body}");
        }
    }
    ts.stop().await
}
