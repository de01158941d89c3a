//! `poigate listen --forward-to` against a real gateway: the events of a sale reach a local
//! receiver signed exactly like webhooks, verified with the independent `standardwebhooks`
//! crate under the session secret `listen` printed; one line per event with the answer.

mod support;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A local app receiving webhooks on POST /hook (204).
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().expect("lock").push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

/// Lines of a child's pipe, read on a thread.
fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

#[tokio::test]
async fn listen_forwards_a_sales_events_signed_like_webhooks() {
    let dir = tempfile::tempdir().expect("dir");
    let key = format!("pg_test_{}", "d".repeat(48));
    let (_gateway, url) = support::start_demo(dir.path(), &key, "0");
    let (hook, received) = receiver().await;

    let mut listen = support::Gateway(
        Command::new(env!("CARGO_BIN_EXE_poigate"))
            .args([
                "listen",
                "--forward-to",
                &hook,
                "--url",
                &url,
                "--key",
                &key,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start listen"),
    );
    let out = lines(listen.0.stdout.take().expect("stdout"));
    let err = lines(listen.0.stderr.take().expect("stderr"));
    let secret = tokio::task::spawn_blocking(move || {
        support::line_where(&err, |l| {
            l.split_whitespace()
                .find(|w| w.starts_with("whsec_"))
                .map(String::from)
        })
    })
    .await
    .expect("secret printed");

    let pay = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args([
            "pay",
            "12.50",
            "EUR",
            "--terminal",
            "V400m-324688179",
            "--url",
            &url,
            "--key",
            &key,
        ])
        .output()
        .expect("pay");
    assert_eq!(pay.status.code(), Some(0));

    // Wait (bounded) until the final event arrived at the receiver.
    poigate_testkit::eventually(Duration::from_secs(20), || async {
        received
            .lock()
            .expect("lock")
            .iter()
            .any(|(_, body)| {
                serde_json::from_slice::<serde_json::Value>(body)
                    .is_ok_and(|v| v["type"] == "interaction.completed")
            })
            .then_some(())
    })
    .await
    .expect("no completed event forwarded");

    let got = received.lock().expect("lock").clone();
    let verifier = standardwebhooks::Webhook::new(&secret).expect("whsec secret");
    let mut types = Vec::new();
    for (headers, body) in &got {
        verifier
            .verify(body, headers)
            .expect("signed like a webhook, under the printed secret");
        let v: serde_json::Value = serde_json::from_slice(body).expect("json");
        assert_eq!(
            headers.get("webhook-id").and_then(|h| h.to_str().ok()),
            v["id"].as_str(),
            "webhook-id is the message id"
        );
        types.push(v["type"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        types.first().map(String::as_str),
        Some("interaction.updated")
    );
    assert_eq!(
        types.last().map(String::as_str),
        Some("interaction.completed")
    );
    // A wrong secret does not verify.
    let other =
        standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("s");
    assert!(other.verify(&got[0].1, &got[0].0).is_err());

    // One line per event, with the local answer.
    let n = got.len();
    let printed = tokio::task::spawn_blocking(move || {
        (0..n)
            .map(|_| out.recv_timeout(Duration::from_secs(10)).expect("a line"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("lines");
    assert!(
        printed.iter().all(|l| l.contains("--> 204")),
        "{printed:#?}"
    );
    assert!(
        printed
            .last()
            .is_some_and(|l| l.contains("interaction.completed"))
    );
}
