//! Rate limits over real HTTP: refused keys get `429` with `Retry-After` once over the limit
//! — in the native API and in the dialects' own error shapes — pairing-code guesses get
//! `429`, and a POS whose key is right is never limited by the defaults.

use poigate::config::{Rate, RateLimitConfig};
use poigate_api::PairRequest;
use poigate_testkit::calls::form;
use poigate_testkit::{Options, TERMINALS, TestServer, sale};
use serde_json::json;

const OFF: Rate = Rate {
    burst: 0,
    per_minute: 0,
};

/// Five refused credentials per client address, then one a minute.
fn five_per_address() -> Options {
    Options {
        rate_limits: RateLimitConfig {
            failed_auth_per_address: Rate {
                burst: 5,
                per_minute: 1,
            },
            ..RateLimitConfig::off()
        },
        ..Options::default()
    }
}

/// A distinct, wrong key each time (so only the per-address bucket can stop it).
fn bad_key(i: usize) -> String {
    format!("pg_test_{i:08}nope")
}

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: String,
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Ok(Answer {
        status,
        retry_after,
        body: response.text().await?,
    })
}

/// Sends `attempt(i)` for i = 0.. until the first 429; checks the first five were refused
/// with `refused_status`, and returns the 429.
async fn until_limited<F, Fut>(refused_status: u16, mut attempt: F) -> anyhow::Result<Answer>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Answer>>,
{
    for i in 0..5 {
        let a = attempt(i).await?;
        anyhow::ensure!(
            a.status == refused_status,
            "attempt {i}: {} {}",
            a.status,
            a.body
        );
    }
    let limited = attempt(5).await?;
    anyhow::ensure!(
        limited.status == 429,
        "the 6th refused key answered {} {}",
        limited.status,
        limited.body
    );
    let retry = limited.retry_after.unwrap_or(0);
    anyhow::ensure!((1..=60).contains(&retry), "Retry-After {retry}");
    Ok(limited)
}

#[tokio::test]
async fn bad_keys_get_429_after_the_limit_in_the_native_api() -> anyhow::Result<()> {
    let ts = TestServer::start_with(five_per_address()).await?;
    let http = ts.http();
    let url = format!("{}/v1/terminals", ts.url());
    let limited = until_limited(401, |i| send(http.get(&url).bearer_auth(bad_key(i)))).await?;
    let problem: serde_json::Value = serde_json::from_str(&limited.body)?;
    assert_eq!(problem["code"], "rate_limited", "{problem}");
    assert_eq!(problem["status"], 429);
    // While the address cools down even the right key waits: a guesser learns nothing.
    let right = send(http.get(&url).bearer_auth(ts.key())).await?;
    assert_eq!(right.status, 429, "{}", right.body);
    // The access-token endpoint shares the bucket.
    let token = send(
        http.post(format!("{}/oauth/token", ts.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "client_credentials"),
                ("client_secret", "x"),
            ])),
    )
    .await?;
    assert_eq!(token.status, 429, "{}", token.body);
    Ok(())
}

#[tokio::test]
async fn bad_keys_get_429_in_the_nmi_shape() -> anyhow::Result<()> {
    let ts = TestServer::start_with(five_per_address()).await?;
    let http = ts.http();
    let url = format!("{}/nmi/api/transact.php", ts.url());
    // transact.php refuses a bad key in the body (`response=3`) with HTTP 200, as NMI does.
    let limited = until_limited(200, |i| {
        let key = bad_key(i);
        send(
            http.post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("security_key", key.as_str()),
                    ("type", "sale"),
                    ("amount", "1.00"),
                    ("poi_device_id", TERMINALS[0]),
                ])),
        )
    })
    .await?;
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(limited.body.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(fields.get("response").map(String::as_str), Some("3"));
    assert!(
        fields
            .get("responsetext")
            .is_some_and(|t| t.contains("Too many")),
        "{fields:?}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_keys_get_429_in_the_cybersource_and_adyen_shapes() -> anyhow::Result<()> {
    let ts = TestServer::start_with(five_per_address()).await?;
    let http = ts.http();
    let cybersource = format!("{}/cybersource/v1/cloud/transactions/async", ts.url());
    let limited = until_limited(401, |i| {
        send(
            http.post(&cybersource)
                .bearer_auth(bad_key(i))
                .json(&json!({})),
        )
    })
    .await?;
    let body: serde_json::Value = serde_json::from_str(&limited.body)?;
    assert_eq!(body["type"], "ErrorResponse", "{body}");

    let ts = TestServer::start_with(five_per_address()).await?;
    let http = ts.http();
    let adyen = format!("{}/adyen/sync", ts.url());
    let limited = until_limited(401, |i| {
        send(
            http.post(&adyen)
                .header("x-api-key", bad_key(i))
                .json(&json!({})),
        )
    })
    .await?;
    let body: serde_json::Value = serde_json::from_str(&limited.body)?;
    assert_eq!(body["status"], 429, "{body}");
    assert_eq!(body["errorType"], "security", "{body}");
    Ok(())
}

#[tokio::test]
async fn one_stale_key_is_limited_by_its_prefix_not_the_others() -> anyhow::Result<()> {
    let ts = TestServer::start_with(Options {
        rate_limits: RateLimitConfig {
            failed_auth_per_key_prefix: Rate {
                burst: 3,
                per_minute: 1,
            },
            ..RateLimitConfig::off()
        },
        ..Options::default()
    })
    .await?;
    let http = ts.http();
    let url = format!("{}/v1/terminals", ts.url());
    let stale = "pg_test_0123456789abcdef0123456789abcdef";
    for _ in 0..3 {
        assert_eq!(send(http.get(&url).bearer_auth(stale)).await?.status, 401);
    }
    assert_eq!(send(http.get(&url).bearer_auth(stale)).await?.status, 429);
    // The same client with the right key is not affected.
    assert_eq!(
        send(http.get(&url).bearer_auth(ts.key())).await?.status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn pairing_code_guesses_get_429() -> anyhow::Result<()> {
    let ts = TestServer::start_with(Options {
        rate_limits: RateLimitConfig {
            pairing_attempts_per_terminal: Rate {
                burst: 3,
                per_minute: 1,
            },
            failed_auth_per_address: OFF,
            ..RateLimitConfig::default()
        },
        ..Options::default()
    })
    .await?;
    let client = ts.client();
    let mut codes = Vec::new();
    for serial in ["700000021", "700000022"] {
        let created = client
            .create_terminal(&poigate_api::CreateTerminalRequest {
                serial_number: serial.into(),
                model: "P400Plus".into(),
                label: None,
                kind: Some(poigate_domain::TerminalKind::Device),
                connection: None,
            })
            .await?;
        codes.push(created.pairing.expect("a pairing code").pairing_code);
    }
    let http = ts.http();
    let pair = |code: &str, serial: &str| {
        send(
            http.post(format!("{}/v1/terminal-link/pair", ts.url()))
                .json(&PairRequest {
                    pairing_code: code.into(),
                    serial_number: serial.into(),
                }),
        )
    };
    for guess in ["AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"] {
        let a = pair(guess, "700000021").await?;
        assert_eq!(a.status, 401, "{}", a.body);
    }
    let limited = pair("DDDD-DDDD", "700000021").await?;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.retry_after.is_some_and(|s| (1..=60).contains(&s)));
    let problem: serde_json::Value = serde_json::from_str(&limited.body)?;
    assert_eq!(problem["code"], "rate_limited");
    // While it cools down, not even the right code is checked for that terminal…
    assert_eq!(pair(&codes[0], "700000021").await?.status, 429);
    // …and another terminal pairs as usual.
    let other = pair(&codes[1], "700000022").await?;
    assert_eq!(other.status, 200, "{}", other.body);
    Ok(())
}

/// The defaults: a busy POS — sales, long-polls, lookups, a few typos in its key among them
/// — sends 600 requests as fast as it can and is never answered 429.
#[tokio::test]
async fn a_normal_pos_is_never_limited_by_the_defaults() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let http = ts.http();
    let client = ts.client();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..20 {
        let created = client
            .create_interaction(
                &sale(TERMINALS[round % 3], 1000 + round as i64, "EUR"),
                None,
            )
            .await?;
        let id = created.interaction.id.to_string();
        client
            .wait_final(&id, std::time::Duration::from_secs(10))
            .await?;
        for _ in 0..27 {
            let a = send(
                http.get(format!("{}/v1/interactions/{id}", ts.url()))
                    .bearer_auth(ts.key()),
            )
            .await?;
            *statuses.entry(a.status).or_default() += 1;
        }
        // A till with a typo in its configuration, now and then.
        if round % 7 == 0 {
            let a = send(
                http.get(format!("{}/v1/terminals", ts.url()))
                    .bearer_auth("pg_test_typo"),
            )
            .await?;
            assert_eq!(a.status, 401);
        }
    }
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [200],
        "{statuses:?}"
    );
    assert_eq!(statuses[&200], 540);
    Ok(())
}
