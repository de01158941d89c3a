//! OAuth 2.0 client-credentials tokens: issued for an API key, accepted where a key is,
//! refused when expired, tampered with, or when the key is revoked.

use poigate_testkit::TestServer;
use std::time::Duration;

async fn token(
    ts: &TestServer,
    body: String,
    basic: Option<&str>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut req = ts
        .http()
        .post(format!("{}/oauth/token", ts.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(secret) = basic {
        req = req.basic_auth("any-client", Some(secret));
    }
    let r = req.send().await?;
    Ok((r.status().as_u16(), r.json().await?))
}

#[tokio::test]
async fn tokens_work_like_keys_until_they_expire_or_the_key_is_revoked() -> anyhow::Result<()> {
    let (ts, clock) = TestServer::start_with_manual_clock().await?;
    let (status, body) = token(
        &ts,
        format!("grant_type=client_credentials&client_secret={}", ts.key()),
        None,
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let access = body["access_token"].as_str().expect("token").to_string();
    assert!(access.starts_with("pgat_"));
    let client = ts.client().with_key(&access);
    assert_eq!(
        client.terminals().await?.data.len(),
        3,
        "a token works like the key"
    );
    // HTTP Basic works too.
    let (status, basic) =
        token(&ts, "grant_type=client_credentials".into(), Some(ts.key())).await?;
    assert_eq!(status, 200, "{basic}");

    // Tampered: one character of the signature changed.
    let mut tampered = access.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let err = ts
        .client()
        .with_key(&tampered)
        .terminals()
        .await
        .expect_err("tampered");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));

    // Bad requests follow RFC 6749.
    let (status, body) = token(&ts, "grant_type=password&client_secret=x".into(), None).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = token(
        &ts,
        "grant_type=client_credentials&client_secret=pg_test_nope".into(),
        None,
    )
    .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = token(
        &ts,
        format!("grant_type=client_credentials&client_secret={access}"),
        None,
    )
    .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a token buys no token"
    );

    // Expired after 15 minutes.
    clock.advance(Duration::from_secs(901));
    let err = client.terminals().await.expect_err("expired");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));

    // Revoking the key revokes its tokens.
    let (_, fresh) = token(
        &ts,
        format!("grant_type=client_credentials&client_secret={}", ts.key()),
        None,
    )
    .await?;
    let fresh_client = ts
        .client()
        .with_key(fresh["access_token"].as_str().expect("token"));
    fresh_client.terminals().await?;
    let caller = ts
        .engine()
        .admin()
        .authenticate(ts.key())
        .await?
        .expect("caller");
    ts.engine()
        .admin()
        .revoke_api_key(caller.merchant_id, caller.key_id)
        .await?;
    let err = fresh_client.terminals().await.expect_err("revoked");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    Ok(())
}
