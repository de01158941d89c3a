//! Bad input to the Adyen dialect gets Adyen's own error shapes with a 4xx (or, for what
//! Adyen answers in a message, its nexo answer), never a 5xx: credentials, JSON, message
//! format, unknown terminals, unsupported requests, and every field of a valid request
//! removed or given the wrong type.

mod adyen_support;

use adyen_support::{Answer, Pos, read};
use poigate_testkit::{TERMINALS, TestServer};
use serde_json::{Value, json};
use std::time::Duration;

fn pos(ts: &TestServer) -> Pos {
    Pos::new(&ts.url(), ts.key(), "POS1")
}

async fn post_raw(
    ts: &TestServer,
    auth: Option<(&str, &str)>,
    body: impl Into<reqwest::Body>,
) -> anyhow::Result<Answer> {
    let mut request = ts
        .http()
        .post(format!("{}/adyen/sync", ts.url()))
        .header("content-type", "application/json")
        .body(body);
    if let Some((name, value)) = auth {
        request = request.header(name, value);
    }
    read(request.send().await?).await
}

fn assert_unauthorized(answer: &Answer) {
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(
        answer.json,
        json!({"status": 401, "errorCode": "000",
               "message": "HTTP Status Response - Unauthorized", "errorType": "security"})
    );
}

async fn token(ts: &TestServer) -> anyhow::Result<String> {
    let answer = ts
        .http()
        .post(format!("{}/oauth/token", ts.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_secret={}",
            ts.key()
        ))
        .send()
        .await?;
    let body: Value = answer.json().await?;
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no token: {body}"))
}

#[tokio::test]
async fn credentials_are_checked_first_and_refused_in_adyens_shape() -> anyhow::Result<()> {
    let (ts, clock) = TestServer::start_with_manual_clock().await?;
    let pos = pos(&ts);
    let body = pos.payment("1", TERMINALS[0], 1.0, "EUR").to_string();

    assert_unauthorized(&post_raw(&ts, None, body.clone()).await?);
    assert_unauthorized(&post_raw(&ts, Some(("x-api-key", "pg_test_nope")), body.clone()).await?);
    // Credentials come before the body is looked at.
    assert_unauthorized(&post_raw(&ts, Some(("x-api-key", "wrong")), "{not json").await?);

    // A Bearer API key and a Bearer access token work like x-api-key.
    let bearer = format!("Bearer {}", ts.key());
    let ok = post_raw(&ts, Some(("authorization", &bearer)), body.clone()).await?;
    assert_eq!(ok.result("PaymentResponse").0, "Success", "{}", ok.text);
    let access = token(&ts).await?;
    let status = pos.status("st1", TERMINALS[0], Some("1")).to_string();
    let with_token = post_raw(&ts, Some(("x-api-key", &access)), status.clone()).await?;
    assert_eq!(with_token.status, 200, "{}", with_token.text);

    // A tampered token, and an expired one.
    let mut tampered = access.clone();
    let last = tampered.pop().unwrap_or('A');
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_unauthorized(&post_raw(&ts, Some(("x-api-key", &tampered)), status.clone()).await?);
    clock.advance(Duration::from_secs(16 * 60));
    let expired = format!("Bearer {access}");
    assert_unauthorized(&post_raw(&ts, Some(("authorization", &expired)), status).await?);
    Ok(())
}

#[tokio::test]
async fn malformed_requests_get_adyens_error_shapes_with_a_4xx() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let key = Some(("x-api-key", ts.key()));

    let bad_json = post_raw(&ts, key, "{\"SaleToPOIRequest\": ").await?;
    assert_eq!(bad_json.status, 400);
    let text = bad_json.json[0].as_str().unwrap_or_default();
    assert!(text.starts_with("Bad JSON:1: "), "{}", bad_json.text);

    let no_envelope = post_raw(&ts, key, "[1, 2]").await?;
    assert_eq!(no_envelope.status, 400);
    assert_eq!(
        no_envelope.result("PaymentResponse"),
        ("Failure", Some("MessageFormat"))
    );
    assert_eq!(
        no_envelope.additional("PaymentResponse"),
        "errors=At%20toplevel%2c%20field%20SaleToPOIRequest%3a%20Missing"
    );

    // Adyen's own example of a MessageFormat answer, word for word.
    let pos = pos(&ts);
    let mut no_currency = pos.payment("2", TERMINALS[0], 1.0, "EUR");
    if let Some(amounts) =
        no_currency["SaleToPOIRequest"]["PaymentRequest"]["PaymentTransaction"]["AmountsReq"]
            .as_object_mut()
    {
        amounts.remove("Currency");
    }
    let answer = pos.post("sync", &no_currency).await?;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.additional("PaymentResponse"),
        "errors=At%20SaleToPOIRequest.PaymentRequest.PaymentTransaction.AmountsReq%2c%20field%20Currency%3a%20Missing"
    );
    let header = &answer.json["SaleToPOIResponse"]["MessageHeader"];
    assert_eq!(header["ServiceID"], "2", "the header is echoed");

    // An abort has no response message: its format errors come as a Reject.
    let mut abort = pos.abort("3", TERMINALS[0], "2");
    abort["SaleToPOIRequest"]["AbortRequest"] = json!({"AbortReason": "MerchantAbort"});
    let answer = pos.post("sync", &abort).await?;
    assert_eq!(answer.status, 400);
    let event = &answer.json["SaleToPOIRequest"]["EventNotification"];
    assert_eq!(event["EventToNotify"], "Reject");
    assert!(
        event["EventDetails"]
            .as_str()
            .unwrap_or_default()
            .contains("MessageReference"),
        "{}",
        answer.text
    );

    let too_big = post_raw(&ts, key, vec![b' '; 70 * 1024]).await?;
    assert_eq!(too_big.status, 413);
    assert_eq!(too_big.json["errorType"], "validation");

    let get = ts
        .http()
        .get(format!("{}/adyen/sync", ts.url()))
        .send()
        .await?;
    assert_eq!(get.status(), 405);
    let unknown = ts
        .http()
        .post(format!("{}/adyen/nexo", ts.url()))
        .send()
        .await?;
    assert_eq!(unknown.status(), 404);
    let unknown: Value = unknown.json().await?;
    assert_eq!(unknown["status"], 404);
    Ok(())
}

#[tokio::test]
async fn unknown_terminals_and_unsupported_requests_answer_in_nexo() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let unknown = pos
        .post("sync", &pos.payment("1", "V400m-000000000", 1.0, "EUR"))
        .await?;
    assert_eq!(unknown.status, 200);
    let event = &unknown.json["SaleToPOIRequest"]["EventNotification"];
    assert_eq!(event["EventToNotify"], "Reject");
    assert_eq!(
        event["EventDetails"],
        "message=Unknown+POIID+V400m-000000000"
    );
    assert!(event["RejectedMessage"].is_string());
    let header = &unknown.json["SaleToPOIRequest"]["MessageHeader"];
    assert_eq!(header["MessageCategory"], "Event");
    assert_eq!(header["MessageType"], "Notification");

    let login = json!({"SaleToPOIRequest": {
        "MessageHeader": {"ProtocolVersion": "3.0", "MessageClass": "Service",
            "MessageCategory": "Login", "MessageType": "Request",
            "SaleID": "POS1", "ServiceID": "9", "POIID": TERMINALS[0]},
        "LoginRequest": {"OperatorLanguage": "en"}}});
    let answer = pos.post("sync", &login).await?;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.result("LoginResponse"),
        ("Failure", Some("UnavailableService"))
    );
    assert_eq!(
        answer.json["SaleToPOIResponse"]["MessageHeader"]["MessageCategory"],
        "Login"
    );

    let other_type = pos
        .post("sync", &{
            let mut p = pos.payment("10", TERMINALS[0], 1.0, "EUR");
            p["SaleToPOIRequest"]["PaymentRequest"]["PaymentData"] =
                json!({"PaymentType": "FirstReservation"});
            p
        })
        .await?;
    assert_eq!(
        other_type.result("PaymentResponse"),
        ("Failure", Some("UnavailableService"))
    );
    Ok(())
}

/// Every leaf path of `value`, as a list of keys and indices.
fn leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push(k.clone());
                out.push(path.clone());
                leaves(v, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(i.to_string());
                leaves(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn mutate(value: &mut Value, path: &[String], replacement: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = value;
    for key in parents {
        node = match node {
            Value::Object(m) => match m.get_mut(key) {
                Some(v) => v,
                None => return,
            },
            Value::Array(a) => match key.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(m) = node {
        match replacement {
            Some(r) => {
                m.insert(last.clone(), r);
            }
            None => {
                m.remove(last);
            }
        }
    }
}

#[tokio::test]
async fn no_field_removed_or_mistyped_gives_a_5xx() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let pos = pos(&ts);
    let valid = [
        pos.payment("11", TERMINALS[0], 1.0, "EUR"),
        pos.status("12", TERMINALS[0], Some("11")),
        pos.abort("13", TERMINALS[0], "11"),
        pos.reversal("14", TERMINALS[0], "int_x.txn_y", Some(1.0)),
    ];
    let replacements = [
        None,
        Some(Value::Null),
        Some(json!(7)),
        Some(json!("text")),
        Some(json!([])),
        Some(json!({})),
        Some(json!(-1.5)),
        Some(json!("")),
    ];
    let mut tried = 0;
    for (n, request) in valid.iter().enumerate() {
        let mut paths = Vec::new();
        leaves(request, &mut Vec::new(), &mut paths);
        for (p, path) in paths.iter().enumerate() {
            for (r, replacement) in replacements.iter().enumerate() {
                let mut body = request.clone();
                mutate(&mut body, path, replacement.clone());
                // A fresh ServiceID, so mutations that stay valid do not collide.
                if let Some(header) = body
                    .pointer_mut("/SaleToPOIRequest/MessageHeader")
                    .and_then(Value::as_object_mut)
                    && path.last().map(String::as_str) != Some("ServiceID")
                    && header.contains_key("ServiceID")
                {
                    header.insert("ServiceID".into(), json!(format!("m{n}x{p}x{r}")));
                }
                let answer = pos.post("sync", &body).await?;
                tried += 1;
                assert!(
                    answer.status == 200 || (400..500).contains(&answer.status),
                    "{path:?} = {replacement:?}: {} {}",
                    answer.status,
                    answer.text
                );
                // An abort on /sync answers an empty body, as Adyen's.
                let shaped = answer.text == "ok"
                    || (n == 2 && answer.text.is_empty())
                    || answer.json.get("SaleToPOIResponse").is_some()
                    || answer.json.get("SaleToPOIRequest").is_some()
                    || answer.json.is_array();
                assert!(shaped, "{path:?} = {replacement:?}: {}", answer.text);
            }
        }
    }
    assert!(tried > 200, "{tried} mutations");
    Ok(())
}
