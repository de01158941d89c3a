//! A POS speaking Adyen's Terminal API to a real poigate over HTTP, and a notification
//! receiver that acknowledges the way Adyen expects (`[accepted]`). Shared by the Adyen
//! tests; each test file uses the part it needs.
#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The terminal the seed's examples address.
pub const SEED_POIID: &str = "V400m-324688179";
pub const SEED_SALE_ID: &str = "POSSystemID12345";

/// A cash register: its `SaleID`, the server, the credential it sends as `x-api-key`.
#[derive(Clone)]
pub struct Pos {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub sale_id: String,
}

/// An HTTP answer: status, and the body as JSON (or the raw text when it is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub text: String,
}

impl Answer {
    /// A key of the `AdditionalResponse` form of `body` (percent-decoding `%20` only).
    pub fn additional_value(&self, body: &str, key: &str) -> Option<String> {
        self.additional(body)
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.replace("%20", " "))
    }

    /// The 16-character `pspReference` of a `PaymentResponse`.
    pub fn psp_reference(&self) -> String {
        self.additional_value("PaymentResponse", "pspReference")
            .unwrap_or_default()
    }

    /// The body of the `SaleToPOIResponse`, e.g. `PaymentResponse`.
    pub fn body(&self, key: &str) -> &Value {
        &self.json["SaleToPOIResponse"][key]
    }

    pub fn result(&self, key: &str) -> (&str, Option<&str>) {
        let r = &self.body(key)["Response"];
        (
            r["Result"].as_str().unwrap_or_default(),
            r["ErrorCondition"].as_str(),
        )
    }

    pub fn additional(&self, key: &str) -> String {
        self.body(key)["Response"]["AdditionalResponse"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Pos {
    pub fn new(base_url: &str, key: &str, sale_id: &str) -> Pos {
        Pos {
            http: reqwest::Client::new(),
            base: format!("{base_url}/adyen"),
            key: key.to_string(),
            sale_id: sale_id.to_string(),
        }
    }

    /// Posts `body` to `/adyen/{endpoint}` (`sync` or `async`).
    pub async fn post(&self, endpoint: &str, body: &Value) -> anyhow::Result<Answer> {
        let response = self
            .http
            .post(format!("{}/{endpoint}", self.base))
            .header("x-api-key", &self.key)
            .header("content-type", "application/json")
            .json(body)
            .send()
            .await?;
        read(response).await
    }

    /// Posts `body` to `/adyen/{path}` (the Checkout and Cloud Device APIs live under the
    /// same prefix as the Terminal API).
    pub async fn post_at(&self, path: &str, body: &Value) -> anyhow::Result<Answer> {
        let response = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("x-api-key", &self.key)
            .json(body)
            .send()
            .await?;
        read(response).await
    }

    /// `GET /adyen/{path}`.
    pub async fn get_at(&self, path: &str) -> anyhow::Result<Answer> {
        let response = self
            .http
            .get(format!("{}/{path}", self.base))
            .header("x-api-key", &self.key)
            .send()
            .await?;
        read(response).await
    }

    /// A pre-authorisation: a `PaymentRequest` with `authorisationType=PreAuth` in
    /// `SaleData.SaleToAcquirerData`.
    pub fn pre_auth(&self, service_id: &str, poiid: &str, amount: f64, currency: &str) -> Value {
        let mut body = self.payment(service_id, poiid, amount, currency);
        body["SaleToPOIRequest"]["PaymentRequest"]["SaleData"]["SaleToAcquirerData"] =
            json!("authorisationType=PreAuth");
        body
    }

    fn header(&self, category: &str, service_id: &str, poiid: &str) -> Value {
        json!({
            "ProtocolVersion": "3.0",
            "MessageClass": "Service",
            "MessageCategory": category,
            "MessageType": "Request",
            "SaleID": self.sale_id,
            "ServiceID": service_id,
            "POIID": poiid
        })
    }

    /// A `PaymentRequest` for `amount` (major units, as nexo carries it).
    pub fn payment(&self, service_id: &str, poiid: &str, amount: f64, currency: &str) -> Value {
        json!({"SaleToPOIRequest": {
            "MessageHeader": self.header("Payment", service_id, poiid),
            "PaymentRequest": {
                "SaleData": {"SaleTransactionID": {
                    "TransactionID": format!("order-{service_id}"),
                    "TimeStamp": "2024-05-28T13:11:30.000Z"
                }},
                "PaymentTransaction": {"AmountsReq": {"Currency": currency, "RequestedAmount": amount}}
            }
        }})
    }

    /// A card-present refund: a `PaymentRequest` with `PaymentType: Refund`.
    pub fn refund(&self, service_id: &str, poiid: &str, amount: f64, currency: &str) -> Value {
        let mut body = self.payment(service_id, poiid, amount, currency);
        body["SaleToPOIRequest"]["PaymentRequest"]["PaymentData"] =
            json!({"PaymentType": "Refund"});
        body
    }

    /// A `TransactionStatusRequest`, about `reference` (`ServiceID`) or the latest.
    pub fn status(&self, service_id: &str, poiid: &str, reference: Option<&str>) -> Value {
        let mut request = json!({
            "ReceiptReprintFlag": true,
            "DocumentQualifier": ["CashierReceipt", "CustomerReceipt"]
        });
        if let Some(r) = reference {
            request["MessageReference"] = json!({
                "SaleID": self.sale_id, "ServiceID": r, "MessageCategory": "Payment"
            });
        }
        json!({"SaleToPOIRequest": {
            "MessageHeader": self.header("TransactionStatus", service_id, poiid),
            "TransactionStatusRequest": request
        }})
    }

    pub fn abort(&self, service_id: &str, poiid: &str, reference: &str) -> Value {
        json!({"SaleToPOIRequest": {
            "MessageHeader": self.header("Abort", service_id, poiid),
            "AbortRequest": {
                "AbortReason": "MerchantAbort",
                "MessageReference": {"SaleID": self.sale_id, "ServiceID": reference, "MessageCategory": "Payment"}
            }
        }})
    }

    pub fn reversal(
        &self,
        service_id: &str,
        poiid: &str,
        poi_transaction_id: &str,
        amount: Option<f64>,
    ) -> Value {
        let mut request = json!({
            "OriginalPOITransaction": {"POITransactionID": {
                "TransactionID": poi_transaction_id, "TimeStamp": "2024-05-28T13:11:30.000Z"
            }},
            "ReversalReason": "MerchantCancel"
        });
        if let Some(a) = amount {
            request["ReversedAmount"] = json!(a);
        }
        json!({"SaleToPOIRequest": {
            "MessageHeader": self.header("Reversal", service_id, poiid),
            "ReversalRequest": request
        }})
    }
}

/// The `DocumentQualifier`s of a `PaymentResponse`'s receipts, in order.
pub fn receipt_qualifiers(payment: &Value) -> Vec<&str> {
    payment["PaymentReceipt"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["DocumentQualifier"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads any answer into an [`Answer`].
pub async fn read(response: reqwest::Response) -> anyhow::Result<Answer> {
    let status = response.status().as_u16();
    let text = response.text().await?;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, json, text })
}

/// Registers the seed's terminal (`V400m-324688179`) as a simulated terminal of the test
/// merchant, through the native API.
pub async fn register_seed_terminal(ts: &poigate_testkit::TestServer) -> anyhow::Result<()> {
    let answer = ts
        .http()
        .post(format!("{}/v1/terminals", ts.url()))
        .bearer_auth(ts.key())
        .json(&json!({"serial_number": "324688179", "model": "V400m"}))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status() == 201,
        "terminal not registered: {}",
        answer.status()
    );
    Ok(())
}

/// Calls a simulated terminal's test helper (`hold`, `present-card` …) through the native
/// API: what the cardholder does, not what the POS does.
pub async fn cardholder(
    ts: &poigate_testkit::TestServer,
    poiid: &str,
    action: &str,
) -> anyhow::Result<()> {
    let answer = ts
        .http()
        .post(format!(
            "{}/v1/test-helpers/terminals/{poiid}/{action}",
            ts.url()
        ))
        .bearer_auth(ts.key())
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "test helper {action}: {}",
        answer.status()
    );
    Ok(())
}

/// Registers a webhook endpoint in Adyen's format (what a merchant configures as its
/// event notification URL).
pub async fn adyen_endpoint(ts: &poigate_testkit::TestServer, url: &str) -> anyhow::Result<()> {
    let answer = ts
        .http()
        .post(format!("{}/v1/webhook-endpoints", ts.url()))
        .bearer_auth(ts.key())
        .json(&json!({"url": url, "events": ["interaction.completed"], "format": "adyen"}))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "endpoint not created: {}",
        answer.status()
    );
    Ok(())
}

/// A notification receiver on port 0: records every body and answers from a script
/// (default: `200 [accepted]`, Adyen's acknowledgement).
pub struct Notifications {
    pub url: String,
    received: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
}

async fn receive(State(shared): State<Shared>, body: Bytes) -> impl IntoResponse {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut r) = shared.received.lock() {
        r.push(value);
    }
    let (status, text) = shared
        .script
        .lock()
        .ok()
        .and_then(|mut s| s.pop_front())
        .unwrap_or((200, "[accepted]"));
    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), text)
}

impl Notifications {
    pub async fn start() -> anyhow::Result<Notifications> {
        let shared = Shared {
            received: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(VecDeque::new())),
        };
        let app = Router::new().fallback(receive).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/notifications", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Notifications {
            url,
            received: shared.received,
            script: shared.script,
            _task: task,
        })
    }

    /// The next answers, before falling back to `200 [accepted]`.
    pub fn answer_next(&self, status: u16, body: &'static str) {
        if let Ok(mut s) = self.script.lock() {
            s.push_back((status, body));
        }
    }

    pub fn received(&self) -> Vec<Value> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
