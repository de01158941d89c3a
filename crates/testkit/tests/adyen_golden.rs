//! Golden tests built from the Adyen examples of the seed (`seeds/examples/adyen-*.json`):
//! the request example is sent as published; poigate is driven into the state of each
//! response example, and its answer must have every field of the example, with the same
//! names, nesting and values (ids and timestamps aside), and nothing else but the documented
//! additions. The answers are also kept as snapshots (`snapshots/`, ids and timestamps
//! redacted), beside snapshots of the other messages the dialect sends.

mod adyen_support;

use adyen_support::{
    Answer, Notifications, Pos, SEED_POIID, SEED_SALE_ID, adyen_endpoint, cardholder,
    receipt_qualifiers, register_seed_terminal,
};
use insta::internals::Content;
use poigate_testkit::{TERMINALS, TestServer, eventually};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn seed(name: &str) -> anyhow::Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../seeds/examples")
        .join(format!("adyen-{name}.json"));
    Ok(serde_json::from_str(&std::fs::read_to_string(&path)?)?)
}

/// What may differ between the seed's example and poigate's answer.
struct Leeway<'a> {
    /// Leaves whose values are ids or times: only their presence (as strings) is checked.
    volatile: &'a [&'a str],
    /// Paths (prefixes) poigate adds to the example.
    additions: &'a [&'a str],
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks that `ours` has every field of `example`, equal unless volatile.
fn has_all_of(ours: &Value, example: &Value, path: &str, leeway: &Leeway<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    match (example, ours) {
        (Value::Object(e), Value::Object(o)) => {
            for (k, ev) in e {
                let p = join(path, k);
                match o.get(k) {
                    Some(ov) => problems.extend(has_all_of(ov, ev, &p, leeway)),
                    None => problems.push(format!("missing {p}")),
                }
            }
        }
        // An elided list (`[...]` in the published example): any list will do. (An elided
        // object, `{...}`, is an empty object: the arm above accepts any object for it.)
        (Value::Array(e), Value::Array(_)) if e.is_empty() => {}
        (e, o) if leeway.volatile.iter().any(|v| path.ends_with(v)) => {
            let alike = e.is_string() && o.is_string();
            problems.extend((!alike).then(|| format!("{path}: {o} is not like {e}")));
        }
        (e, o) if e != o => problems.push(format!("{path}: {o} instead of {e}")),
        _ => {}
    }
    problems
}

/// Fields of `ours` the example does not have, that are not documented additions.
fn extras(ours: &Value, example: &Value, path: &str, leeway: &Leeway<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let (Value::Object(o), Value::Object(e)) = (ours, example) {
        for (k, ov) in o {
            let p = join(path, k);
            if leeway.additions.iter().any(|a| p.starts_with(a)) {
                continue;
            }
            match e.get(k) {
                Some(ev) => out.extend(extras(ov, ev, &p, leeway)),
                None => out.push(p),
            }
        }
    }
    out
}

fn assert_conforms(ours: &Value, example: &Value, leeway: &Leeway<'_>) {
    let missing = has_all_of(ours, example, "", leeway);
    assert!(missing.is_empty(), "{missing:#?}\nours: {ours:#}");
    let added = extras(ours, example, "", leeway);
    assert!(
        added.is_empty(),
        "not in the example: {added:#?}\nours: {ours:#}"
    );
}

/// Replaces the values of form keys that carry ids or times.
fn redact_form(text: &str) -> String {
    const VOLATILE: [&str; 6] = [
        "pspReference",
        "authCode",
        "iso8601TxDate",
        "txdate",
        "txtime",
        "originalReference",
    ];
    let pairs: Vec<(&str, &str)> = text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let key = pairs
        .iter()
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| *v)
        .unwrap_or_default();
    let receipt_volatile = matches!(key, "txdate" | "txRef" | "authCode" | "originalTxRef");
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if VOLATILE.contains(&k) => format!("{k}=[redacted]"),
            Some(("value", _)) if receipt_volatile => "value=[redacted]".to_string(),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn redacted_text(value: Content, _path: insta::internals::ContentPath<'_>) -> Content {
    match value.as_str() {
        Some(s) => Content::from(redact_form(s)),
        None => value,
    }
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::assert_json_snapshot!($name, $value, {
            ".**.TimeStamp" => "[timestamp]",
            ".**.POITransactionID.TransactionID" => "[poi-transaction-id]",
            ".**.AcquirerTransactionID.TransactionID" => "[psp-reference]",
            ".**.ApprovalCode" => "[auth-code]",
            ".**.MerchantID" => "[merchant]",
            ".**.RejectedMessage" => "[request]",
            ".**.AdditionalResponse" => insta::dynamic_redaction(redacted_text),
            ".**.Text" => insta::dynamic_redaction(redacted_text),
        })
    };
}

/// The seed's status request, with `ServiceID` in its header replaced.
fn status_request(service_id: &str) -> anyhow::Result<Value> {
    let mut request = seed("transaction-status-request")?;
    request["SaleToPOIRequest"]["MessageHeader"]["ServiceID"] = json!(service_id);
    Ok(request)
}

async fn send(pos: &Pos, body: &Value) -> anyhow::Result<Answer> {
    let answer = pos.post("sync", body).await?;
    anyhow::ensure!(answer.status == 200, "{} {}", answer.status, answer.text);
    Ok(answer)
}

#[tokio::test]
async fn transaction_status_answers_match_the_seed_examples() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    register_seed_terminal(&ts).await?;
    let pos = Pos::new(&ts.url(), ts.key(), SEED_SALE_ID);
    let exact = Leeway {
        volatile: &[],
        additions: &[],
    };

    // The published request, as it is: nothing is known on the terminal yet.
    let request = seed("transaction-status-request")?;
    let answer = send(&pos, &request).await?;
    let header = &answer.json["SaleToPOIResponse"]["MessageHeader"];
    assert_eq!(header["ServiceID"], "29235status");
    assert_eq!(header["SaleID"], SEED_SALE_ID);
    assert_eq!(header["POIID"], SEED_POIID);
    assert_eq!(header["MessageCategory"], "TransactionStatus");
    assert_eq!(
        answer.result("TransactionStatusResponse"),
        ("Failure", Some("NotFound"))
    );

    // Not found, with the terminal's last payment named (the example's ServiceID 29234).
    let earlier = pos.payment("29234", SEED_POIID, 10.0, "EUR");
    send(&pos, &earlier).await?;
    let answer = send(&pos, &status_request("29235-status")?).await?;
    assert_conforms(
        &answer.json,
        &seed("transaction-status-response-not-found")?,
        &exact,
    );
    snapshot!("status_not_found", &answer.json);

    // In progress: payment 29235 waits for the card.
    cardholder(&ts, SEED_POIID, "hold").await?;
    let mut payment = pos.payment("29235", SEED_POIID, 12.5, "EUR");
    payment["SaleToPOIRequest"]["PaymentRequest"]["SaleData"]["SaleTransactionID"] =
        json!({"TransactionID": "29235", "TimeStamp": "2019-03-07T10:11:04+00:00"});
    assert_eq!(pos.post("async", &payment).await?.text, "ok");
    let answer = send(&pos, &request).await?;
    assert_conforms(
        &answer.json,
        &seed("transaction-status-response-in-progress")?,
        &exact,
    );
    snapshot!("status_in_progress", &answer.json);

    // Processed: the original PaymentResponse repeated, with both receipts.
    cardholder(&ts, SEED_POIID, "present-card").await?;
    let answer = eventually(WAIT, || {
        let pos = pos.clone();
        let request = request.clone();
        async move {
            let a = pos.post("sync", &request).await.ok()?;
            (a.result("TransactionStatusResponse").0 == "Success").then_some(a)
        }
    })
    .await?;
    let body = "SaleToPOIResponse.TransactionStatusResponse.RepeatedMessageResponse";
    let payment_response = format!("{body}.RepeatedResponseMessageBody.PaymentResponse");
    let additions = [
        "SaleToPOIResponse.MessageHeader.ProtocolVersion".to_string(),
        format!("{body}.MessageHeader.ProtocolVersion"),
        format!("{payment_response}.PaymentReceipt"),
        format!("{payment_response}.PaymentResult"),
    ];
    let additions: Vec<&str> = additions.iter().map(String::as_str).collect();
    assert_conforms(
        &answer.json,
        &seed("transaction-status-response-processed")?,
        &Leeway {
            volatile: &[
                "POITransactionID.TimeStamp",
                "POITransactionID.TransactionID",
                "Response.AdditionalResponse",
            ],
            additions: &additions,
        },
    );
    let repeated = &answer.body("TransactionStatusResponse")["RepeatedMessageResponse"]["RepeatedResponseMessageBody"]
        ["PaymentResponse"];
    let additional = repeated["Response"]["AdditionalResponse"]
        .as_str()
        .unwrap_or_default();
    assert!(additional.contains("pspReference="), "{additional}");
    assert_eq!(
        receipt_qualifiers(repeated),
        ["CashierReceipt", "CustomerReceipt"]
    );
    snapshot!("status_processed", &answer.json);

    // Receipts only for the qualifiers asked for, and none without ReceiptReprintFlag.
    let mut customer_only = request.clone();
    customer_only["SaleToPOIRequest"]["TransactionStatusRequest"]["DocumentQualifier"] =
        json!(["CustomerReceipt"]);
    let answer = send(&pos, &customer_only).await?;
    let receipt = &answer.body("TransactionStatusResponse")["RepeatedMessageResponse"]["RepeatedResponseMessageBody"]
        ["PaymentResponse"]["PaymentReceipt"];
    assert_eq!(receipt.as_array().map(Vec::len), Some(1));
    assert_eq!(receipt[0]["DocumentQualifier"], "CustomerReceipt");
    let mut no_reprint = request.clone();
    no_reprint["SaleToPOIRequest"]["TransactionStatusRequest"]["ReceiptReprintFlag"] = json!(false);
    let answer = send(&pos, &no_reprint).await?;
    assert!(
        answer.body("TransactionStatusResponse")["RepeatedMessageResponse"]
            ["RepeatedResponseMessageBody"]["PaymentResponse"]["PaymentReceipt"]
            .is_null()
    );
    Ok(())
}

#[tokio::test]
async fn the_other_messages_keep_their_shape() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = Pos::new(&ts.url(), ts.key(), "POS1");
    let notifications = Notifications::start().await?;
    adyen_endpoint(&ts, &notifications.url).await?;

    let approved = send(&pos, &pos.payment("1", TERMINALS[0], 12.5, "EUR")).await?;
    snapshot!("payment_approved", &approved.json);
    let declined = send(&pos, &pos.payment("2", TERMINALS[0], 11.24, "EUR")).await?;
    snapshot!("payment_declined_insufficient_funds", &declined.json);
    let refund = send(&pos, &pos.refund("3", TERMINALS[0], 5.0, "EUR")).await?;
    snapshot!("payment_refund", &refund.json);

    let poi_tx = approved.body("PaymentResponse")["POIData"]["POITransactionID"]["TransactionID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reversal = send(&pos, &pos.reversal("4", TERMINALS[0], &poi_tx, Some(2.5))).await?;
    snapshot!("reversal", &reversal.json);

    cardholder(&ts, TERMINALS[1], "hold").await?;
    assert_eq!(
        pos.post("async", &pos.payment("5", TERMINALS[1], 1.0, "EUR"))
            .await?
            .text,
        "ok"
    );
    let busy = send(&pos, &pos.payment("6", TERMINALS[1], 1.0, "EUR")).await?;
    snapshot!("payment_busy", &busy.json);
    assert_eq!(
        pos.post("async", &pos.abort("7", TERMINALS[1], "5"))
            .await?
            .text,
        "ok"
    );

    let unknown = send(&pos, &pos.payment("8", "V400m-000000000", 1.0, "EUR")).await?;
    snapshot!("reject_unknown_poiid", &unknown.json);
    let mut no_currency = pos.payment("9", TERMINALS[0], 1.0, "EUR");
    no_currency["SaleToPOIRequest"]["PaymentRequest"]["PaymentTransaction"]["AmountsReq"] =
        json!({"RequestedAmount": 1.0});
    let format = pos.post("sync", &no_currency).await?;
    assert_eq!(format.status, 400);
    snapshot!("message_format", &format.json);

    // The event notifications of the payments above, approved first.
    let received = eventually(WAIT, || async {
        let r = notifications.received();
        (r.len() >= 4).then_some(r)
    })
    .await?;
    let notification = received
        .iter()
        .find(|n| n["SaleToPOIResponse"]["MessageHeader"]["ServiceID"] == "1")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        notification["SaleToPOIResponse"]["PaymentResponse"]["Response"],
        approved.body("PaymentResponse")["Response"],
        "the notification carries what /sync answered"
    );
    snapshot!("notification_payment_approved", &notification);
    let aborted = eventually(WAIT, || async {
        notifications
            .received()
            .into_iter()
            .find(|n| n["SaleToPOIResponse"]["MessageHeader"]["ServiceID"] == "5")
    })
    .await?;
    snapshot!("notification_payment_aborted", &aborted);
    Ok(())
}
