//! The tenant-isolation matrix: merchant B, with its own valid key, tries every route of the
//! native API (read from the OpenAPI document the server serves, so a new route is in the
//! matrix the day it is added) and the dialects' lookups, aimed at merchant A's objects.
//!
//! For each attempt: B is refused (the route's "not found" — never a 2xx on A's object), and
//! no answer B gets carries any of A's identifiers or references. A control proves each
//! attempt aims at something real: the same read with A's key finds it. At the end, A's
//! objects are exactly as before (a refused mutation changed nothing).

#[path = "adyen_support/mod.rs"]
mod adyen_support;

use adyen_support::Pos;
use poigate_api::{CreateInteractionRequest, CreateWebhookEndpointRequest, RefundRequest};
use poigate_domain::InteractionType;
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{TERMINALS, TestServer, WebhookReceiver, eventually, request, within};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const A_REFERENCE: &str = "tenant-a-order-5521";
const A_SALE_ID: &str = "POS-TENANT-A";
const A_SERVICE_ID: &str = "svcA0001";

/// Merchant A's objects, in every spelling a route or a dialect might use.
struct TenantA {
    interaction: String,
    auth_interaction: String,
    transaction: String,
    auth_transaction: String,
    refund: String,
    terminal: String,
    /// The terminal's own id (`tml_…`): NMI's device GUID is its UUID.
    terminal_id: String,
    endpoint: String,
    delivery: String,
    api_key: String,
    merchant: String,
}

impl TenantA {
    /// Every string that must never reach merchant B: ids with and without prefixes, UUIDs
    /// both ways, A's references.
    fn secrets(&self) -> Vec<String> {
        let mut all = vec![
            A_REFERENCE.to_string(),
            A_SERVICE_ID.to_string(),
            self.endpoint.clone(),
            self.delivery.clone(),
            self.api_key.clone(),
            self.merchant.clone(),
            self.refund.clone(),
        ];
        for id in [
            &self.terminal_id,
            &self.interaction,
            &self.auth_interaction,
            &self.transaction,
            &self.auth_transaction,
        ] {
            all.push(id.clone());
            let hex = id.split_once('_').map(|(_, h)| h).unwrap_or(id);
            all.push(hex.to_string());
            if let Ok(u) = uuid::Uuid::try_parse(hex) {
                all.push(u.hyphenated().to_string());
            }
        }
        all
    }

    /// The path with A's object for each `{parameter}`.
    fn fill(&self, path: &str) -> String {
        let id = if path.starts_with("/v1/interactions/") {
            &self.interaction
        } else if path.starts_with("/v1/transactions/") {
            &self.transaction
        } else if path.starts_with("/v1/terminals/") || path.starts_with("/v1/test-helpers/") {
            &self.terminal
        } else if path.starts_with("/v1/webhook-endpoints/") {
            &self.endpoint
        } else if path.starts_with("/v1/webhook-deliveries/") {
            &self.delivery
        } else if path.starts_with("/v1/api-keys/") {
            &self.api_key
        } else {
            &self.merchant
        };
        path.replace("{id}", id).replace("{refund}", &self.refund)
    }
}

/// A body that passes validation for the routes that take one, so a refusal is about whose
/// object it is, not about the body.
fn body_for(method: &Method, path: &str, a_terminal: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/v1/interactions") => Some(json!({"terminal": a_terminal, "type": "sale",
            "amount": {"value": 100, "currency": "EUR"}})),
        ("POST", "/v1/transactions/{id}/capture") => Some(json!({"amount": 100})),
        ("POST", "/v1/transactions/{id}/increment") => Some(json!({"amount": 100})),
        ("POST", "/v1/transactions/{id}/refunds") => Some(json!({"amount": 100})),
        ("PATCH", "/v1/webhook-endpoints/{id}") => Some(json!({"enabled": false})),
        ("PUT", "/v1/api-keys/{id}/default-terminal") => Some(json!({"terminal": a_terminal})),
        ("POST", _) => Some(json!({})),
        _ => None,
    }
}

async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, String)> {
    let mut req = http
        .request(method, url)
        .bearer_auth(key)
        .timeout(Duration::from_secs(10));
    if let Some(b) = body {
        req = req.json(b);
    }
    let mut r = req.send().await?;
    let status = r.status().as_u16();
    let live_stream = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if live_stream {
        // The merchant-wide stream never ends by itself: its first message (`ready`, sent at
        // once) is read whole and checked like any answer.
        let mut text = Vec::new();
        within(
            Duration::from_secs(10),
            "the stream's first message",
            async {
                while !text.windows(2).any(|w| w == b"\n\n") {
                    match r.chunk().await? {
                        Some(chunk) => text.extend_from_slice(&chunk),
                        None => break,
                    }
                }
                anyhow::Ok(())
            },
        )
        .await?;
        return Ok((status, String::from_utf8_lossy(&text).into_owned()));
    }
    Ok((status, r.text().await.unwrap_or_default()))
}

fn leaks(text: &str, secrets: &[String]) -> Vec<String> {
    secrets
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .cloned()
        .collect()
}

/// A's objects as A sees them, without what changes by itself (terminal liveness).
async fn snapshot(ts: &TestServer, a: &TenantA) -> anyhow::Result<Value> {
    let http = ts.http();
    let base = ts.url();
    let mut all = serde_json::Map::new();
    for path in [
        format!("/v1/interactions/{}", a.interaction),
        format!("/v1/interactions/{}/events", a.interaction),
        format!("/v1/interactions/{}", a.auth_interaction),
        format!("/v1/transactions/{}", a.transaction),
        format!("/v1/transactions/{}", a.auth_transaction),
        format!("/v1/transactions/{}/refunds", a.transaction),
        format!("/v1/terminals/{}", a.terminal),
        format!("/v1/webhook-endpoints/{}", a.endpoint),
        format!("/v1/webhook-endpoints/{}/secret", a.endpoint),
        format!("/v1/webhook-deliveries/{}", a.delivery),
        "/v1/webhook-callback-secret".to_string(),
        "/v1/api-keys".to_string(),
        "/v1/terminals".to_string(),
    ] {
        let (status, text) =
            send(&http, Method::GET, &format!("{base}{path}"), ts.key(), None).await?;
        anyhow::ensure!(status == 200, "A reads its own {path}: {status} {text}");
        let mut value: Value = serde_json::from_str(&text)?;
        strip_volatile(&mut value);
        all.insert(path, value);
    }
    Ok(Value::Object(all))
}

fn strip_volatile(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with("last_seen") && k != "last_used_at");
            map.values_mut().for_each(strip_volatile);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

async fn set_up_tenant_a(ts: &TestServer, receiver: &WebhookReceiver) -> anyhow::Result<TenantA> {
    let client = ts.client();
    let endpoint = client
        .create_webhook_endpoint(&CreateWebhookEndpointRequest {
            url: receiver.url("/tenant-a"),
            format: None,
            events: None,
            description: Some("tenant A".into()),
            enabled: None,
        })
        .await?;
    let mut sale: CreateInteractionRequest =
        request(TERMINALS[0], InteractionType::Sale, 2_000, "EUR");
    sale.reference = Some(A_REFERENCE.into());
    sale.sale_id = Some(A_SALE_ID.into());
    sale.service_id = Some(A_SERVICE_ID.into());
    let sale = final_transaction(&client, &sale).await?;
    let auth = final_transaction(
        &client,
        &request(TERMINALS[1], InteractionType::Auth, 1_000, "EUR"),
    )
    .await?;
    let refund = client
        .refund(
            &sale.1,
            &RefundRequest {
                amount: Some(500),
                reference: None,
            },
            None,
        )
        .await?;
    let refund_id = refund.response.operation.id.to_string();
    // Quiet before the matrix: the refund done and every delivery so far delivered, so the
    // snapshots before and after differ only if a refused request changed something.
    eventually(WAIT, || async {
        let r = client.get_refund(&sale.1, &refund_id).await.ok()?;
        (r.status != poigate_domain::OperationStatus::Pending).then_some(())
    })
    .await?;
    let delivery = eventually(WAIT, || async {
        let list = client.deliveries(&Default::default()).await.ok()?;
        let pending = list.data.iter().any(|d| d.status != "succeeded");
        (!list.data.is_empty() && !pending).then(|| list.data[0].id.to_string())
    })
    .await?;
    let api_key = client
        .api_keys()
        .await?
        .data
        .first()
        .map(|k| k.id.to_string())
        .ok_or_else(|| anyhow::anyhow!("A has a key"))?;
    let engine = ts.engine();
    let caller = engine
        .admin()
        .authenticate(ts.key())
        .await?
        .ok_or_else(|| anyhow::anyhow!("A's key authenticates"))?;
    Ok(TenantA {
        interaction: sale.0,
        auth_interaction: auth.0,
        transaction: sale.1,
        auth_transaction: auth.1,
        refund: refund_id,
        terminal: TERMINALS[0].to_string(),
        terminal_id: client.terminal(TERMINALS[0]).await?.id.to_string(),
        endpoint: endpoint.id.to_string(),
        delivery,
        api_key,
        merchant: caller.merchant_id.to_string(),
    })
}

/// Runs an interaction to its end: (interaction id, transaction id).
async fn final_transaction(
    client: &Client,
    body: &CreateInteractionRequest,
) -> anyhow::Result<(String, String)> {
    let created = client.create_interaction(body, None).await?;
    let id = created.interaction.id.to_string();
    let done = within(WAIT, "the interaction's end", client.wait_final(&id, WAIT)).await?;
    let txn = done
        .transaction
        .ok_or_else(|| anyhow::anyhow!("no transaction: {:?}", done.outcome))?;
    Ok((id, txn.id.to_string()))
}

/// Merchant B: its own key and one terminal of its own.
async fn tenant_b(ts: &TestServer) -> anyhow::Result<String> {
    Ok(ts.other_merchant("Merchant B").await?.api_key().to_string())
}

#[tokio::test]
async fn merchant_b_reaches_nothing_of_merchant_a_on_any_native_route() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let receiver = WebhookReceiver::start().await?;
    let a = set_up_tenant_a(&ts, &receiver).await?;
    let b_key = tenant_b(&ts).await?;
    let secrets = a.secrets();
    let http = ts.http();
    let base = ts.url();
    let before = snapshot(&ts, &a).await?;

    let (status, text) = send(
        &http,
        Method::GET,
        &format!("{base}/openapi.json"),
        &b_key,
        None,
    )
    .await?;
    anyhow::ensure!(status == 200, "openapi.json: {status}");
    let document: Value = serde_json::from_str(&text)?;
    let paths = document["paths"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("paths in the document"))?;

    let mut tried = 0usize;
    let mut failures = Vec::new();
    for (path, item) in paths {
        let Some(operations) = item.as_object() else {
            continue;
        };
        for method in operations.keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            tried += 1;
            let url = format!("{base}{}", a.fill(path));
            let body = body_for(&method, path, &a.terminal);
            let (status, text) = send(&http, method.clone(), &url, &b_key, body.as_ref()).await?;
            let leaked = leaks(&text, &secrets);
            if !leaked.is_empty() {
                failures.push(format!("{method} {path}: {status} carries A's {leaked:?}"));
            }
            let aims_at_a =
                path.contains('{') || (method == Method::POST && path == "/v1/interactions");
            if aims_at_a && (200..300).contains(&status) {
                failures.push(format!(
                    "{method} {path}: B got {status} on A's object: {text}"
                ));
            }
            // The control: A's own read finds what B was refused.
            if aims_at_a && method == Method::GET && !path.ends_with("/stream") {
                let (a_status, _) = send(&http, Method::GET, &url, ts.key(), None).await?;
                let admin = path.starts_with("/v1/admin/");
                if !admin && a_status != 200 {
                    failures.push(format!(
                        "control {method} {path}: A's own read got {a_status}"
                    ));
                }
            }
        }
    }
    // Lists filtered by A's references find nothing for B.
    for query in [
        format!("/v1/interactions?reference={A_REFERENCE}"),
        format!("/v1/interactions?sale_id={A_SALE_ID}&service_id={A_SERVICE_ID}"),
        format!("/v1/webhook-deliveries?endpoint={}", a.endpoint),
    ] {
        let (status, text) =
            send(&http, Method::GET, &format!("{base}{query}"), &b_key, None).await?;
        tried += 1;
        let leaked = leaks(&text, &secrets);
        if !leaked.is_empty() {
            failures.push(format!("GET {query}: {status} carries A's {leaked:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} attempts:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        tried >= 50,
        "the matrix covers every documented operation ({tried})"
    );

    let after = snapshot(&ts, &a).await?;
    assert_eq!(
        before, after,
        "A's objects changed after B's refused requests"
    );
    // A's terminal was not frozen, held or disconnected by B: it still runs A's sales.
    final_transaction(
        &ts.client(),
        &request(TERMINALS[0], InteractionType::Sale, 300, "EUR"),
    )
    .await?;
    Ok(())
}

/// A dialect read, and how to tell that it found A's object.
struct DialectCase {
    name: &'static str,
    /// What A's answer contains when the request finds A's object.
    found_marker: String,
}

#[tokio::test]
async fn merchant_b_reaches_nothing_of_merchant_a_through_any_dialect() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let receiver = WebhookReceiver::start().await?;
    let a = set_up_tenant_a(&ts, &receiver).await?;
    let b_key = tenant_b(&ts).await?;
    let secrets = a.secrets();
    let http = ts.http();
    let base = ts.url();
    let a_serial = TERMINALS[0]
        .split_once('-')
        .map(|(_, s)| s)
        .unwrap_or(TERMINALS[0]);
    let interaction_uuid = uuid_of(&a.interaction)?;
    let transaction_hex = a
        .transaction
        .split_once('_')
        .map(|(_, h)| h)
        .unwrap_or(&a.transaction);
    let before = snapshot(&ts, &a).await?;

    let mut failures = Vec::new();
    let mut tried = 0usize;
    // Reads: A finds its object (the control), B finds nothing and learns nothing.
    let reads: Vec<(DialectCase, Method, String, Option<Value>, &str)> = vec![
        (
            DialectCase {
                name: "Cybersource events",
                found_marker: "transactionEvents".into(),
            },
            Method::GET,
            format!("{base}/cybersource/v1/cloud/interactions/{interaction_uuid}/events"),
            None,
            "bearer",
        ),
        (
            DialectCase {
                name: "Cybersource lookup by merchant reference",
                found_marker: transaction_hex.to_string(),
            },
            Method::POST,
            format!("{base}/cybersource/v1/cloud/transactions"),
            Some(
                json!({"serialNumber": a_serial, "request": {"type": "TransactionLookupRequest",
                "idType": "MERCHANT_REFERENCE_CODE", "id": A_REFERENCE}}),
            ),
            "bearer",
        ),
        (
            DialectCase {
                name: "Cybersource lookup by transaction id",
                found_marker: transaction_hex.to_string(),
            },
            Method::POST,
            format!("{base}/cybersource/v1/cloud/transactions"),
            Some(
                json!({"serialNumber": a_serial, "request": {"type": "TransactionLookupRequest",
                "idType": "TRANSACTION_ID", "id": transaction_hex}}),
            ),
            "bearer",
        ),
        (
            DialectCase {
                name: "CM.com transaction",
                found_marker: interaction_uuid.clone(),
            },
            Method::GET,
            format!(
                "{base}/cm/api/v1/paymentmethods/creditcard/v1/transactions/{interaction_uuid}"
            ),
            None,
            "bearer",
        ),
        (
            DialectCase {
                name: "NMI query by order id",
                found_marker: "<transaction>".into(),
            },
            Method::POST,
            format!("{base}/nmi/api/query.php"),
            None,
            "nmi-order",
        ),
        (
            DialectCase {
                name: "Adyen TransactionStatus",
                found_marker: "\"Success\"".into(),
            },
            Method::POST,
            format!("{base}/adyen/sync"),
            None,
            "adyen-status",
        ),
    ];
    for (case, method, url, body, how) in &reads {
        tried += 1;
        let a_answer = dialect_call(&http, method, url, body.as_ref(), how, ts.key()).await?;
        if !a_answer.1.contains(&case.found_marker) {
            failures.push(format!(
                "control {}: A's own request did not find it: {} {}",
                case.name, a_answer.0, a_answer.1
            ));
        }
        let b_answer = dialect_call(&http, method, url, body.as_ref(), how, &b_key).await?;
        if b_answer.1.contains(&case.found_marker) {
            failures.push(format!(
                "{}: B found A's object: {} {}",
                case.name, b_answer.0, b_answer.1
            ));
        }
        let leaked = leaks(&b_answer.1, &secrets);
        if !leaked.is_empty() {
            failures.push(format!("{}: B's answer carries A's {leaked:?}", case.name));
        }
    }
    // NMI's device estate: A's device by its GUID, and the list.
    let device_guid = uuid_of(&a.terminal_id)?;
    for (url, marker) in [
        (
            format!("{base}/nmi/api/v2/devices/list"),
            device_guid.clone(),
        ),
        (
            format!("{base}/nmi/api/v2/devices/list/{device_guid}"),
            device_guid.clone(),
        ),
    ] {
        tried += 1;
        let (a_status, a_text) =
            dialect_call(&http, &Method::GET, &url, None, "bearer", ts.key()).await?;
        if !a_text.contains(&marker) {
            failures.push(format!(
                "control GET {url}: A's own request did not find it: {a_status} {a_text}"
            ));
        }
        let (status, text) =
            dialect_call(&http, &Method::GET, &url, None, "bearer", &b_key).await?;
        let leaked: Vec<String> = leaks(&text, &secrets)
            .into_iter()
            .filter(|s| !url.contains(s.as_str()))
            .collect();
        if text.contains(&marker) && !url.ends_with(&marker) || !leaked.is_empty() {
            failures.push(format!("GET {url}: B sees A's device: {status} {text}"));
        }
        if url.ends_with(&device_guid) && (200..300).contains(&status) {
            failures.push(format!("GET {url}: B got {status} for A's device: {text}"));
        }
    }
    // CM.com's lists: nothing of A's in B's.
    for url in [
        format!("{base}/cm/api/v1/paymentmethods/creditcard/v1/transactions"),
        format!(
            "{base}/cm/api/v1/paymentmethods/creditcard/v1/transactions/{interaction_uuid}/refunds"
        ),
    ] {
        tried += 1;
        let (status, text) =
            dialect_call(&http, &Method::GET, &url, None, "bearer", &b_key).await?;
        let leaked: Vec<String> = leaks(&text, &secrets)
            .into_iter()
            .filter(|s| !url.contains(s.as_str()))
            .collect();
        if !leaked.is_empty() {
            failures.push(format!(
                "GET {url}: B's answer carries A's {leaked:?}: {status} {text}"
            ));
        }
    }

    // A's pspReference, as A's own status request reports it (the Checkout API's handle).
    let a_status = dialect_call(
        &http,
        &Method::POST,
        &format!("{base}/adyen/sync"),
        None,
        "adyen-status",
        ts.key(),
    )
    .await?;
    let psp = a_status
        .1
        .split(['&', '"'])
        .find_map(|part| part.strip_prefix("pspReference="))
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("A's pspReference in {}", a_status.1))?;
    let mut secrets = secrets;
    secrets.push(psp.clone());
    let checkout_body = json!({"merchantAccount": "Merchant B", "reference": "b-on-a",
        "amount": {"value": 100, "currency": "EUR"}});
    // The Cloud Device API, read side: B names A's device under its own account and under A's.
    for url in [
        format!(
            "{base}/adyen/v1/merchants/Merchant%20B/devices/{}/status",
            TERMINALS[0]
        ),
        format!(
            "{base}/adyen/v1/merchants/Merchant%20A/devices/{}/status",
            TERMINALS[0]
        ),
        format!("{base}/adyen/v1/merchants/Merchant%20A/connectedDevices"),
        format!("{base}/adyen/v1/merchants/{}/connectedDevices", a.merchant),
    ] {
        tried += 1;
        let (status, text) = dialect_call(&http, &Method::GET, &url, None, "adyen", &b_key).await?;
        if (200..300).contains(&status) || text.contains(TERMINALS[0]) {
            failures.push(format!("GET {url}: B sees A's device: {status} {text}"));
        }
    }

    // Mutations: refused for B, and nothing of A's changes (checked by the snapshot).
    let mutations: Vec<(&str, String, Value, &str)> = vec![
        (
            "Adyen Checkout refund of A's payment",
            format!("{base}/adyen/v71/payments/{psp}/refunds"),
            checkout_body.clone(),
            "adyen",
        ),
        (
            "Adyen Checkout reversal of A's payment",
            format!("{base}/adyen/v71/payments/{psp}/reversals"),
            checkout_body.clone(),
            "adyen",
        ),
        (
            "Adyen Cloud Device payment on A's device",
            format!(
                "{base}/adyen/v1/merchants/Merchant%20B/devices/{}/sync",
                TERMINALS[0]
            ),
            Pos::new(&base, "", "POS-B").payment("svcB0002", TERMINALS[0], 1.0, "EUR"),
            "adyen",
        ),
        (
            "Cybersource capture of A's pre-auth",
            format!("{base}/cybersource/v1/cloud/transactions"),
            json!({"serialNumber": a_serial, "request": {"type": "CaptureRequest",
                "transactionId": a.auth_transaction.split_once('_').map(|(_, h)| h).unwrap_or(&a.auth_transaction),
                "amountDetails": {"amount": "1.00", "currency": "EUR"}}}),
            "bearer",
        ),
        (
            "Cybersource linked refund",
            format!("{base}/cybersource/v1/cloud/transactions"),
            json!({"serialNumber": a_serial, "request": {"type": "LinkedRefundRequest",
                "transactionId": transaction_hex, "amountDetails": {"amount": "1.00", "currency": "EUR"}}}),
            "bearer",
        ),
        (
            "Cybersource payment on A's terminal",
            format!("{base}/cybersource/v1/cloud/transactions/async"),
            json!({"serialNumber": a_serial, "request": {"type": "PaymentRequest",
                "merchantReferenceCode": "b-on-a", "amountDetails": {"amount": "1.00", "currency": "EUR"}}}),
            "bearer",
        ),
        (
            "CM.com refund",
            format!(
                "{base}/cm/api/v1/paymentmethods/creditcard/v1/transactions/{interaction_uuid}/refunds"
            ),
            json!({"amount": 100, "currency": "EUR"}),
            "bearer",
        ),
        (
            "CM.com cancel",
            format!(
                "{base}/cm/api/v1/paymentmethods/creditcard/v1/transactions/{interaction_uuid}/cancel"
            ),
            json!({}),
            "bearer",
        ),
        (
            "Adyen payment on A's terminal",
            format!("{base}/adyen/sync"),
            Pos::new(&base, "", "POS-B").payment("svcB0001", TERMINALS[0], 1.0, "EUR"),
            "adyen",
        ),
        (
            "NMI sale on A's terminal",
            format!("{base}/nmi/api/transact.php"),
            Value::Null,
            "nmi-sale",
        ),
    ];
    for (name, url, body, how) in &mutations {
        tried += 1;
        let (status, text) =
            dialect_call(&http, &Method::POST, url, Some(body), how, &b_key).await?;
        // What B sent itself (A's id in its own request) is no news to B when echoed.
        let sent = format!("{url} {body}");
        let leaked: Vec<String> = leaks(&text, &secrets)
            .into_iter()
            .filter(|s| !sent.contains(s.as_str()))
            .collect();
        if !leaked.is_empty() {
            failures.push(format!(
                "{name}: B's answer carries A's {leaked:?}: {status} {text}"
            ));
        }
        if (200..300).contains(&status) && name.contains("Checkout")
            || text.contains("APPROVED")
            || text.contains("\"Success\"")
            || text.contains("response=1")
        {
            failures.push(format!(
                "{name}: B's request was carried out: {status} {text}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} attempts:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let after = snapshot(&ts, &a).await?;
    assert_eq!(
        before, after,
        "A's objects changed after B's refused dialect requests"
    );
    // The control for the Checkout attempts: the same refund with A's key is carried out.
    let mut a_body = checkout_body;
    a_body["merchantAccount"] = json!("Merchant A");
    let (status, text) = dialect_call(
        &http,
        &Method::POST,
        &format!("{base}/adyen/v71/payments/{psp}/refunds"),
        Some(&a_body),
        "adyen",
        ts.key(),
    )
    .await?;
    assert_eq!(status, 201, "A's own Checkout refund: {text}");
    Ok(())
}

fn uuid_of(id: &str) -> anyhow::Result<String> {
    let hex = id.split_once('_').map(|(_, h)| h).unwrap_or(id);
    Ok(uuid::Uuid::try_parse(hex)?.hyphenated().to_string())
}

/// Sends a dialect request with `key` where that dialect carries its credential.
async fn dialect_call(
    http: &reqwest::Client,
    method: &Method,
    url: &str,
    body: Option<&Value>,
    how: &str,
    key: &str,
) -> anyhow::Result<(u16, String)> {
    let req = match how {
        "bearer" => {
            let mut r = http.request(method.clone(), url).bearer_auth(key);
            if let Some(b) = body {
                r = r.json(b);
            }
            r
        }
        "nmi-order" => http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(poigate_testkit::calls::form(&[
                ("security_key", key),
                ("order_id", A_REFERENCE),
            ])),
        "nmi-sale" => http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(poigate_testkit::calls::form(&[
                ("security_key", key),
                ("type", "sale"),
                ("amount", "1.00"),
                ("poi_device_id", TERMINALS[0]),
            ])),
        "adyen-status" => {
            let pos = Pos::new(url.trim_end_matches("/adyen/sync"), key, A_SALE_ID);
            http.post(url).header("x-api-key", key).json(&pos.status(
                "svcStatus01",
                TERMINALS[0],
                Some(A_SERVICE_ID),
            ))
        }
        "adyen" => {
            let mut r = http.post(url).header("x-api-key", key);
            if let Some(b) = body {
                r = r.json(b);
            }
            r
        }
        other => anyhow::bail!("no such way to call a dialect: {other}"),
    };
    let r = req.timeout(Duration::from_secs(10)).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.text().await.unwrap_or_default()))
}
