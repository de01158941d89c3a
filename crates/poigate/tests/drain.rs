//! Graceful drain of a real `poigate serve` process on SIGTERM: every waiting client gets a
//! well-formed answer at once (a parked long-poll, an SSE stream, an Adyen `/sync` payment,
//! an NMI synchronous poll, a Cybersource synchronous payment), the process exits 0 within `shutdown_timeout`, and the next
//! process on the same data directory completes the interactions that were in flight.
//! A second signal during a drain exits at once.

mod support;

use poigate_domain::Status;
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{eventually, sale};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::Gateway;

const KEY: &str = "pg_test_drain_on_sigterm_0123456789abcdef01";
const WAIT: Duration = Duration::from_secs(30);
/// The demo's terminals.
const T_NATIVE: &str = "V400m-324688179";
const T_ADYEN: &str = "P400Plus-275039202";
const T_NMI: &str = "S1F2-1850000000";
const SALE_ID: &str = "DrainPOS";

/// A `poigate serve --demo` process with its URL and every line it wrote (log and banner).
struct Running {
    gateway: Gateway,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// `line` without ANSI colour sequences (`ESC [ … m`), so fields read `name=value`.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Running {
    fn start(dir: &std::path::Path, log_filter: &str, shutdown_timeout: u64) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_poigate"))
            .args([
                "serve",
                "--demo",
                "--listen",
                "127.0.0.1:0",
                "--sim-speed",
                "0",
            ])
            .args(["--log", log_filter])
            .args(["--shutdown-timeout", &shutdown_timeout.to_string()])
            .arg("--data-dir")
            .arg(dir)
            .env("POIGATE_DEMO_API_KEY", KEY)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start poigate");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push(plain(&line));
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        // The log goes to standard output (tracing's default), beside the banner.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push(plain(&line));
                }
                let _ = tx.send(line);
            }
        });
        let url = support::line_where(&rx, |l| {
            l.trim().strip_prefix("URL").map(|u| u.trim().to_string())
        });
        Running {
            gateway: Gateway(child),
            url,
            log,
        }
    }

    fn child(&mut self) -> &mut Child {
        &mut self.gateway.0
    }

    /// Lines of the log containing every one of `needles`.
    fn lines_with(&self, needles: &[&str]) -> usize {
        let log = match self.log.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        log.iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    fn log_text(&self) -> String {
        match self.log.lock() {
            Ok(l) => l.join("\n"),
            Err(p) => p.into_inner().join("\n"),
        }
    }

    /// Sends SIGTERM or SIGINT (`name` `TERM`, `INT`) with the shell's built-in `kill`
    /// (present wherever `sh` is, unlike `/bin/kill`; no unsafe FFI in the test).
    fn signal(&mut self, name: &str) {
        let pid = self.child().id().to_string();
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{name} {pid}")])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Waits for the process to exit, at most `max`.
    async fn exited_within(&mut self, max: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + max;
        loop {
            if let Ok(Some(status)) = self.child().try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Polls `ready` until it holds, failing after `WAIT` with the gateway's log.
async fn until(gateway: &Running, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WAIT:?}; log:\n{}",
            gateway.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn adyen_header(category: &str, service_id: &str, poiid: &str) -> Value {
    json!({
        "ProtocolVersion": "3.0", "MessageClass": "Service", "MessageCategory": category,
        "MessageType": "Request", "SaleID": SALE_ID, "ServiceID": service_id, "POIID": poiid
    })
}

fn adyen_payment(service_id: &str, poiid: &str) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": adyen_header("Payment", service_id, poiid),
        "PaymentRequest": {
            "SaleData": {"SaleTransactionID": {
                "TransactionID": format!("order-{service_id}"),
                "TimeStamp": "2026-11-29T13:11:30.000Z"
            }},
            "PaymentTransaction": {"AmountsReq": {"Currency": "EUR", "RequestedAmount": 10.0}}
        }
    }})
}

fn adyen_status(service_id: &str, poiid: &str, reference: &str) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": adyen_header("TransactionStatus", service_id, poiid),
        "TransactionStatusRequest": {
            "MessageReference": {"SaleID": SALE_ID, "ServiceID": reference, "MessageCategory": "Payment"}
        }
    }})
}

async fn post_adyen(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let r = http
        .post(format!("{url}/adyen/sync"))
        .header("x-api-key", KEY)
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "adyen answered {}", r.status());
    Ok(r.json().await?)
}

/// `/nmi/api/asyncstatus/{guid}?responseMethod=synchronous`: status and JSON body.
async fn nmi_sync_status(
    http: &reqwest::Client,
    url: &str,
    guid: &str,
) -> anyhow::Result<(u16, Value)> {
    let r = http
        .get(format!(
            "{url}/nmi/api/asyncstatus/{guid}?responseMethod=synchronous"
        ))
        .bearer_auth(KEY)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await?))
}

/// Makes sure the interaction completes on the restarted gateway: presents the card if
/// the resumed terminal is still waiting for one, then waits for the final state.
async fn complete(client: &Client, terminal: &str, id: &str) -> anyhow::Result<Status> {
    let done = eventually(WAIT, || async {
        let i = client.get_interaction(id, Some(1), None).await.ok()?;
        if i.is_final {
            return Some(i.status);
        }
        let _ = client.test_helper(terminal, "present-card", None).await;
        None
    })
    .await?;
    Ok(done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_every_waiting_client_and_the_next_process_finishes_the_work()
-> anyhow::Result<()> {
    const BOUND: u64 = 5;
    let dir = tempfile::tempdir()?;
    let mut gw = Running::start(dir.path(), "warn,poigate_http=debug", BOUND);
    let url = gw.url.clone();
    let client = Client::new(&url, KEY)?;
    let http = reqwest::Client::new();
    for t in [T_NATIVE, T_ADYEN, T_NMI] {
        client.test_helper(t, "hold", None).await?;
    }

    // (1) and (2): a long-poll and an SSE stream on a native sale held at "Present card".
    let native = client
        .create_interaction(&sale(T_NATIVE, 1000, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    eventually(WAIT, || async {
        let i = client.get_interaction(&native, None, None).await.ok()?;
        (i.status == Status::InProgress).then_some(())
    })
    .await?;
    let long_poll = tokio::spawn({
        let (http, url, id) = (http.clone(), url.clone(), native.clone());
        async move {
            let r = http
                .get(format!("{url}/v1/interactions/{id}?wait=60"))
                .bearer_auth(KEY)
                .send()
                .await?;
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body: Value = r.json().await?;
            anyhow::Ok((status, retry_after, body))
        }
    });
    let (streaming_tx, streaming) = tokio::sync::oneshot::channel::<()>();
    let sse = tokio::spawn({
        let (http, url, id) = (http.clone(), url.clone(), native.clone());
        async move {
            let mut r = http
                .get(format!("{url}/v1/interactions/{id}/events/stream"))
                .bearer_auth(KEY)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "stream answered {}", r.status());
            let mut text = String::new();
            let mut streaming_tx = Some(streaming_tx);
            while let Some(chunk) = r.chunk().await? {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if text.contains("id:")
                    && let Some(tx) = streaming_tx.take()
                {
                    let _ = tx.send(());
                }
            }
            anyhow::Ok(text)
        }
    });

    // (3) an Adyen `/sync` payment waiting for its result.
    let adyen = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move { post_adyen(&http, &url, &adyen_payment("7001", T_ADYEN)).await }
    });

    // (4) an NMI synchronous poll of an asynchronous sale.
    let started = http
        .post(format!("{url}/nmi/api/transact.php"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "security_key={KEY}&response_method=asynchronous&type=sale&amount=10.00&poi_device_id={T_NMI}"
        ))
        .send()
        .await?
        .text()
        .await?;
    let guid = started
        .split('&')
        .find_map(|kv| kv.strip_prefix("async_status_guid="))
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| panic!("no async_status_guid in {started}"))
        .to_string();
    let nmi = tokio::spawn({
        let (http, url, guid) = (http.clone(), url.clone(), guid.clone());
        async move { nmi_sync_status(&http, &url, &guid).await }
    });

    // (5) a Cybersource synchronous payment, on a fourth terminal.
    let cs_serial = "900000004";
    let cs_terminal = client
        .create_terminal(&poigate_api::CreateTerminalRequest {
            serial_number: cs_serial.into(),
            model: "V400m".into(),
            label: None,
            kind: Some(poigate_domain::TerminalKind::Simulated),
            connection: Some(poigate_domain::TerminalConnection::InProcess),
        })
        .await?
        .poiid;
    eventually(WAIT, || async {
        client.test_helper(&cs_terminal, "hold", None).await.ok()
    })
    .await?;
    let token = poigate_testkit::calls::access_token(&http, &url, KEY).await?;
    let cybersource = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(format!("{url}/cybersource/v1/cloud/transactions"))
                .bearer_auth(token)
                .json(
                    &json!({"serialNumber": cs_serial, "request": {"type": "PaymentRequest",
                    "merchantReferenceCode": "drain-cs-1",
                    "amountDetails": {"amount": "10.00", "currency": "EUR"}}}),
                )
                .send()
                .await?;
            let status = r.status().as_u16();
            anyhow::Ok((status, r.json::<Value>().await?))
        }
    });

    // Every client is waiting inside the gateway: the stream has sent its first event, the
    // long-poll and both synchronous calls are parked (the gateway says so at debug level).
    streaming.await?;
    until(&gw, "the long-poll parked", || {
        gw.lines_with(&["long-poll parked", &native]) == 1
    })
    .await;
    until(&gw, "the three synchronous calls parked", || {
        gw.lines_with(&["synchronous wait parked"]) == 3
    })
    .await;

    gw.signal("TERM");
    let status = gw
        .exited_within(Duration::from_secs(BOUND + 5))
        .await
        .unwrap_or_else(|| panic!("still running; log:\n{}", gw.log_text()));
    assert!(status.success(), "{status:?}; log:\n{}", gw.log_text());

    let answer_in = Duration::from_secs(BOUND);
    // (1) the current state, not final, and when to come back.
    let (code, retry_after, body) = tokio::time::timeout(answer_in, long_poll).await???;
    assert_eq!(code, 200);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["id"], native.as_str());
    assert_eq!(body["status"], "in_progress", "{body}");
    assert_eq!(body["final"], false, "{body}");

    // (2) the events so far, then a `reconnect` event with a `retry:` hint and no `id:` (the
    // client's Last-Event-ID stays the last event it got), then the end of the stream.
    let text = tokio::time::timeout(answer_in, sse).await???;
    let messages: Vec<&str> = text
        .split("\n\n")
        .filter(|m| !m.trim().is_empty())
        .collect();
    let last = messages.last().copied().unwrap_or_default();
    assert!(last.contains("event: reconnect"), "{text}");
    assert!(last.contains("retry: 1000"), "{text}");
    assert!(last.contains(r#"data: {"reason":"draining"}"#), "{text}");
    assert!(!last.contains("id:"), "{text}");
    assert!(
        messages.iter().any(|m| m.contains("event: stage")),
        "{text}"
    );

    // (3) Adyen's own answer for a payment not finished yet.
    let answer = tokio::time::timeout(answer_in, adyen).await???;
    let payment = &answer["SaleToPOIResponse"]["PaymentResponse"];
    assert_eq!(payment["Response"]["Result"], "Failure", "{answer}");
    assert_eq!(
        payment["Response"]["ErrorCondition"], "InProgress",
        "{answer}"
    );
    assert!(
        payment["Response"]["AdditionalResponse"]
            .as_str()
            .is_some_and(|a| a.contains("Uncompleted")),
        "{answer}"
    );
    let header = &answer["SaleToPOIResponse"]["MessageHeader"];
    assert_eq!(header["ServiceID"], "7001", "{answer}");
    assert_eq!(header["SaleID"], SALE_ID, "{answer}");

    // (4) NMI's `inFlight`.
    let (code, body) = tokio::time::timeout(answer_in, nmi).await???;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["asyncStatus"], "inFlight", "{body}");

    // (5) Cybersource's answer for a transaction still running: 202 naming the interaction.
    let (code, body) = tokio::time::timeout(answer_in, cybersource).await???;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["type"], "ErrorResponse", "{body}");
    assert!(
        body.to_string().contains("/v1/cloud/interactions/"),
        "names the interaction to follow: {body}"
    );

    // The next process on the same data directory finishes all four.
    let next = Running::start(dir.path(), "warn", BOUND);
    let client = Client::new(&next.url, KEY)?;
    assert_eq!(
        complete(&client, T_NATIVE, &native).await?,
        Status::Approved
    );
    let found = client
        .lookup(&poigate_api::ListInteractionsQuery {
            sale_id: Some(SALE_ID.into()),
            service_id: Some("7001".into()),
            ..Default::default()
        })
        .await?;
    let adyen_id = found
        .data
        .first()
        .expect("the Adyen payment")
        .id
        .to_string();
    assert_eq!(
        complete(&client, T_ADYEN, &adyen_id).await?,
        Status::Approved
    );
    let status = post_adyen(&http, &next.url, &adyen_status("7001st", T_ADYEN, "7001")).await?;
    let result = &status["SaleToPOIResponse"]["TransactionStatusResponse"]["RepeatedMessageResponse"]
        ["RepeatedResponseMessageBody"]["PaymentResponse"]["Response"]["Result"];
    assert_eq!(result, "Success", "{status}");
    let found = client
        .lookup(&poigate_api::ListInteractionsQuery {
            reference: Some("drain-cs-1".into()),
            ..Default::default()
        })
        .await?;
    let cs_id = found
        .data
        .first()
        .expect("the Cybersource payment")
        .id
        .to_string();
    assert_eq!(
        complete(&client, &cs_terminal, &cs_id).await?,
        Status::Approved
    );
    let (code, body) = eventually(WAIT, || async {
        let _ = client.test_helper(T_NMI, "present-card", None).await;
        let (code, body) = nmi_sync_status(&http, &next.url, &guid).await.ok()?;
        (body["asyncStatus"] == "interactionComplete").then_some((code, body))
    })
    .await?;
    assert_eq!(code, 200);
    assert_eq!(body["transaction"]["success"], true, "{body}");
    Ok(())
}

/// A webhook target that reads each request and answers `200` only once released: until
/// then an attempt stays in flight. `accepted` gets a message for every request read.
struct GatedTarget {
    url: String,
    accepted: std::sync::mpsc::Receiver<()>,
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl GatedTarget {
    fn start() -> GatedTarget {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, accepted) = std::sync::mpsc::channel();
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let shared = gate.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (tx, gate) = (tx.clone(), shared.clone());
                std::thread::spawn(move || answer_when_released(stream, &tx, &gate));
            }
        });
        GatedTarget {
            url: format!("http://{addr}/hooks"),
            accepted,
            gate,
        }
    }

    fn release(&self) {
        let (open, changed) = &*self.gate;
        if let Ok(mut o) = open.lock() {
            *o = true;
        }
        changed.notify_all();
    }

    /// Waits until a request arrived (an attempt is in flight).
    async fn wait_accepted(self) -> anyhow::Result<GatedTarget> {
        tokio::task::spawn_blocking(move || {
            self.accepted.recv_timeout(WAIT)?;
            anyhow::Ok(self)
        })
        .await?
    }
}

/// Reads one HTTP request (head and `content-length` body), waits for the gate, answers 200.
fn answer_when_released(
    mut stream: std::net::TcpStream,
    accepted: &std::sync::mpsc::Sender<()>,
    gate: &(Mutex<bool>, std::sync::Condvar),
) {
    use std::io::{Read, Write};
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut chunk) else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&chunk[..n]);
        let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if request.len() >= head_end + 4 + length {
            break;
        }
    }
    let _ = accepted.send(());
    let (open, changed) = gate;
    let Ok(mut is_open) = open.lock() else { return };
    while !*is_open {
        match changed.wait(is_open) {
            Ok(g) => is_open = g,
            Err(_) => return,
        }
    }
    drop(is_open);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}

/// A gateway with one webhook endpoint (`interaction.completed`) on `target`, after one
/// approved sale whose delivery is in flight.
async fn sale_with_webhook_in_flight(
    gw: &Running,
    target: GatedTarget,
) -> anyhow::Result<(Client, GatedTarget)> {
    let client = Client::new(&gw.url, KEY)?;
    client
        .create_webhook_endpoint(&poigate_api::CreateWebhookEndpointRequest {
            url: target.url.clone(),
            format: None,
            events: Some(vec!["interaction.completed".into()]),
            description: None,
            enabled: None,
        })
        .await?;
    let c = client
        .create_interaction(&sale(T_NATIVE, 1000, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&c.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status, Status::Approved);
    let target = target.wait_accepted().await?;
    Ok((client, target))
}

/// The delivery log of the next process once every delivery succeeded.
async fn all_delivered(url: &str) -> anyhow::Result<Vec<poigate_api::DeliveryView>> {
    let client = Client::new(url, KEY)?;
    eventually(WAIT, || async {
        let log = client
            .deliveries(&poigate_api::ListDeliveriesQuery {
                limit: Some(100),
                ..Default::default()
            })
            .await
            .ok()?;
        (!log.data.is_empty() && log.data.iter().all(|d| d.status == "succeeded"))
            .then_some(log.data)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_attempt_in_flight_finishes_within_the_bound() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut gw = Running::start(dir.path(), "info", 120);
    let (_, target) = sale_with_webhook_in_flight(&gw, GatedTarget::start()).await?;
    gw.signal("TERM");
    until(&gw, "the drain started", || {
        gw.lines_with(&["draining"]) >= 1
    })
    .await;
    // The drain waits for the attempt; the receiver answers now.
    target.release();
    let status = gw
        .exited_within(Duration::from_secs(120))
        .await
        .unwrap_or_else(|| panic!("still running; log:\n{}", gw.log_text()));
    assert!(status.success(), "{status:?}");
    assert_eq!(
        gw.lines_with(&["shutdown_timeout reached"]),
        0,
        "{}",
        gw.log_text()
    );
    assert!(
        gw.lines_with(&["drained; exiting"]) == 1,
        "{}",
        gw.log_text()
    );
    // Recorded as delivered by the process that sent it: one attempt, not sent again.
    let next = Running::start(dir.path(), "warn", 10);
    let log = all_delivered(&next.url).await?;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].attempts.len(), 1, "{log:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_attempt_cut_by_the_bound_is_sent_by_the_next_process() -> anyhow::Result<()> {
    const BOUND: u64 = 1;
    let dir = tempfile::tempdir()?;
    let mut gw = Running::start(dir.path(), "warn", BOUND);
    let (_, target) = sale_with_webhook_in_flight(&gw, GatedTarget::start()).await?;
    gw.signal("TERM");
    let status = gw
        .exited_within(Duration::from_secs(BOUND + 5))
        .await
        .unwrap_or_else(|| panic!("still running; log:\n{}", gw.log_text()));
    assert!(
        status.success(),
        "exit 0 also when the bound cut something: {status:?}"
    );
    assert_eq!(
        gw.lines_with(&[
            "shutdown_timeout reached",
            "webhooks_finished=false",
            "flushed=true"
        ]),
        1,
        "{}",
        gw.log_text()
    );
    // The delivery stayed leased; the next process releases and sends it.
    target.release();
    let next = Running::start(dir.path(), "warn", 10);
    let log = all_delivered(&next.url).await?;
    assert_eq!(log.len(), 1, "{log:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_the_drain_exits_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A long bound: only the second signal can end this drain early.
    let mut gw = Running::start(dir.path(), "info", 120);
    // A webhook attempt is in flight (the target never answers): the drain waits for it,
    // up to the bound.
    let (_client, _target) = sale_with_webhook_in_flight(&gw, GatedTarget::start()).await?;

    gw.signal("TERM");
    until(&gw, "the drain started", || {
        gw.lines_with(&["draining"]) >= 1
    })
    .await;
    assert!(
        gw.child().try_wait()?.is_none(),
        "the drain waits for the attempt in flight"
    );
    gw.signal("TERM");
    let status = gw
        .exited_within(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("still running after a second SIGTERM:\n{}", gw.log_text()));
    assert_eq!(status.code(), Some(143), "128 + SIGTERM");
    assert!(
        gw.lines_with(&["second SIGTERM during the drain: exiting at once"]) == 1,
        "{}",
        gw.log_text()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_drains_like_sigterm() -> anyhow::Result<()> {
    const BOUND: u64 = 5;
    let dir = tempfile::tempdir()?;
    let mut gw = Running::start(dir.path(), "warn,poigate_http=debug", BOUND);
    let client = Client::new(&gw.url, KEY)?;
    client.test_helper(T_NATIVE, "hold", None).await?;
    let id = client
        .create_interaction(&sale(T_NATIVE, 1000, "EUR"), None)
        .await?
        .interaction
        .id
        .to_string();
    let long_poll = tokio::spawn({
        let (url, id) = (gw.url.clone(), id.clone());
        async move {
            let r = reqwest::Client::new()
                .get(format!("{url}/v1/interactions/{id}?wait=60"))
                .bearer_auth(KEY)
                .send()
                .await?;
            let retry_after = r.headers().get("retry-after").cloned();
            anyhow::Ok((r.status().as_u16(), retry_after, r.json::<Value>().await?))
        }
    });
    until(&gw, "the long-poll parked", || {
        gw.lines_with(&["long-poll parked", &id]) == 1
    })
    .await;
    gw.signal("INT");
    let status = gw
        .exited_within(Duration::from_secs(BOUND + 5))
        .await
        .unwrap_or_else(|| panic!("still running; log:\n{}", gw.log_text()));
    assert!(status.success(), "{status:?}");
    let (code, retry_after, body) =
        tokio::time::timeout(Duration::from_secs(BOUND), long_poll).await???;
    assert_eq!(code, 200);
    assert!(retry_after.is_some(), "{body}");
    assert_eq!(body["final"], false, "{body}");
    Ok(())
}
