//! The dashboard's security at the HTTP level, against a real server on port 0: no access
//! without a session, cookie flags, CSRF on every form, mode separation, escaping, sign-out
//! and revoked keys.

mod dashboard_support;

use anyhow::{Context, Result, ensure};
use dashboard_support::{Visitor, cookie_pair, csrf_of, redirects_to_sign_in, set_cookie};
use poigate_domain::ApiKeyMode;
use poigate_testkit::{TERMINALS, TestServer, sale};
use reqwest::header::{CONTENT_TYPE, COOKIE};

#[tokio::test]
async fn no_access_without_a_session() -> Result<()> {
    let server = TestServer::start().await?;
    let mut v = Visitor::new(&server);
    for path in [
        "/dashboard/terminals",
        &format!("/dashboard/terminals/{}", TERMINALS[0]),
        "/dashboard/interactions",
        "/dashboard/webhooks",
        "/dashboard/api-keys",
        "/dashboard/requests",
    ] {
        let r = v.get(path).await?;
        ensure!(
            redirects_to_sign_in(&r),
            "GET {path} without a session: {}",
            r.status()
        );
    }
    // A polled region is told plainly.
    let r = v
        .http
        .get(format!("{}/dashboard/terminals", v.base))
        .header("x-poigate-fragment", "1")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    // Actions too, and nothing happens.
    let r = v
        .post(
            &format!("/dashboard/terminals/{}/pos", TERMINALS[0]),
            &[("amount", "100")],
        )
        .await?;
    ensure!(
        redirects_to_sign_in(&r),
        "POST without a session: {}",
        r.status()
    );
    let r = v.post("/dashboard/api-keys", &[("label", "x")]).await?;
    ensure!(redirects_to_sign_in(&r));
    assert_eq!(
        server
            .engine()
            .admin()
            .list_api_keys(merchant(&server).await?)
            .await?
            .len(),
        1
    );
    // A made-up session is no session.
    v.cookie = Some("poigate_session=0123456789abcdef".into());
    ensure!(redirects_to_sign_in(&v.get("/dashboard/terminals").await?));
    // A wrong key is refused at sign-in, and so is a sign-in form without its token.
    let r = v
        .http
        .get(format!("{}/dashboard/sign-in", v.base))
        .send()
        .await?;
    let signin = set_cookie(&r, "poigate_signin").context("cookie")?;
    let token = csrf_of(&r.text().await?).context("token")?;
    let wrong = v
        .http
        .post(format!("{}/dashboard/sign-in", v.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(COOKIE, cookie_pair(&signin))
        .body(format!("_csrf={token}&api_key=pg_test_nope"))
        .send()
        .await?;
    assert_eq!(wrong.status(), 401);
    ensure!(set_cookie(&wrong, "poigate_session").is_none());
    // Only API keys sign in (an access token would outlive itself in a session).
    let token_like = v
        .http
        .post(format!("{}/dashboard/sign-in", v.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(COOKIE, cookie_pair(&signin))
        .body(format!("_csrf={token}&api_key=eyJhbGciOi.not.akey"))
        .send()
        .await?;
    assert_eq!(token_like.status(), 401);
    ensure!(set_cookie(&token_like, "poigate_session").is_none());
    let no_token = v
        .http
        .post(format!("{}/dashboard/sign-in", v.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(COOKIE, cookie_pair(&signin))
        .body(format!("api_key={}", server.key()))
        .send()
        .await?;
    assert_eq!(no_token.status(), 403);
    ensure!(set_cookie(&no_token, "poigate_session").is_none());
    server.stop().await
}

/// How many interactions Merchant A has (through the API).
async fn interactions(server: &TestServer) -> Result<usize> {
    let list: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/interactions?limit=100", server.url()))
        .bearer_auth(server.key())
        .send()
        .await?
        .json()
        .await?;
    Ok(list["data"].as_array().map(Vec::len).unwrap_or(0))
}

async fn merchant(server: &TestServer) -> Result<poigate_domain::MerchantId> {
    Ok(server
        .engine()
        .admin()
        .authenticate(server.key())
        .await?
        .context("key")?
        .merchant_id)
}

#[tokio::test]
async fn cookie_flags_sign_out_and_revoked_keys() -> Result<()> {
    let server = TestServer::start().await?;
    let mut v = Visitor::new(&server);
    let cookie = v.sign_in(server.key(), false).await?;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        ensure!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    ensure!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure flag ({cookie})"
    );
    let r = v.get("/dashboard/terminals").await?;
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    ensure!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "CSP: {csp}"
    );
    ensure!(r.text().await?.contains("TEST MODE"), "mode banner");
    // Under TLS (a proxy says so) the cookie is Secure.
    let mut tls = Visitor::new(&server);
    let cookie = tls.sign_in(server.key(), true).await?;
    ensure!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // Sign out ends the session (and needs the token too).
    let r = v.post("/dashboard/sign-out", &[]).await?;
    assert_eq!(r.status(), 403);
    let token = v.csrf().await?;
    let r = v.post("/dashboard/sign-out", &[("_csrf", &token)]).await?;
    assert_eq!(r.status(), 303);
    ensure!(redirects_to_sign_in(&v.get("/dashboard/terminals").await?));

    // A key revoked elsewhere ends its sessions at once.
    let admin = server.engine().admin();
    let m = merchant(&server).await?;
    let extra = admin.create_api_key(m, ApiKeyMode::Test, None).await?;
    let mut w = Visitor::new(&server);
    w.sign_in(&extra.secret, false).await?;
    w.page("/dashboard/terminals").await?;
    admin.revoke_api_key(m, extra.record.id).await?;
    ensure!(redirects_to_sign_in(&w.get("/dashboard/terminals").await?));

    // A merchant disabled by a platform admin: its sessions end too.
    let mut x = Visitor::new(&server);
    x.sign_in(server.key(), false).await?;
    x.page("/dashboard/terminals").await?;
    admin.disable_merchant(m).await?;
    ensure!(redirects_to_sign_in(&x.get("/dashboard/terminals").await?));
    server.stop().await
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() -> Result<()> {
    let server = TestServer::start().await?;
    let mut v = Visitor::new(&server);
    v.sign_in(server.key(), false).await?;
    let token = v.csrf().await?;
    let pos = format!("/dashboard/terminals/{}/pos", TERMINALS[0]);
    let sale = [("type", "sale"), ("amount", "1250"), ("currency", "EUR")];
    for form in [
        sale.to_vec(),
        [sale.as_slice(), &[("_csrf", "0000")]].concat(),
        [sale.as_slice(), &[("_csrf", "")]].concat(),
    ] {
        let r = v.post(&pos, &form).await?;
        assert_eq!(r.status(), 403, "form {form:?}");
        ensure!(r.text().await?.contains("CSRF"));
    }
    for path in [
        "/dashboard/api-keys",
        "/dashboard/webhooks",
        "/dashboard/terminals",
    ] {
        assert_eq!(
            v.post(path, &[("label", "x")]).await?.status(),
            403,
            "{path}"
        );
    }
    ensure!(
        interactions(&server).await? == 0,
        "a refused form created an interaction"
    );
    // With the token the same form works.
    let r = v
        .post(
            &pos,
            &[sale.as_slice(), &[("_csrf", token.as_str())]].concat(),
        )
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(interactions(&server).await?, 1);
    server.stop().await
}

#[tokio::test]
async fn merchant_text_is_escaped() -> Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    let mut request = sale(TERMINALS[0], 1250, "EUR");
    request.reference = Some("<script>alert('x')</script>".into());
    let created = client.create_interaction(&request, None).await?;
    let mut v = Visitor::new(&server);
    v.sign_in(server.key(), false).await?;
    for path in [
        "/dashboard/interactions".to_string(),
        format!("/dashboard/interactions/{}", created.interaction.id),
    ] {
        let html = v.page(&path).await?;
        ensure!(
            !html.contains("<script>alert"),
            "{path} carries the script as markup"
        );
        ensure!(
            html.contains("&lt;script&gt;alert('x')&lt;/script&gt;")
                || html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{path} does not show the reference as text"
        );
    }
    server.stop().await
}

#[tokio::test]
async fn a_test_session_never_shows_live_data() -> Result<()> {
    let server = TestServer::start().await?;
    let m = merchant(&server).await?;
    let live = server
        .engine()
        .admin()
        .create_api_key(m, ApiKeyMode::Live, Some("live".into()))
        .await?
        .secret;
    // Live objects, made through the API with the live key.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/terminals", server.url()))
        .bearer_auth(&live)
        .json(&serde_json::json!({"serial_number": "LIVE0001", "model": "LiveModel", "kind": "device"}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{}/v1/webhook-endpoints", server.url()))
        .bearer_auth(&live)
        .json(&serde_json::json!({"url": "https://live-only.example.com/hooks", "description": "live endpoint"}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);

    let mut test = Visitor::new(&server);
    test.sign_in(server.key(), false).await?;
    let mut livev = Visitor::new(&server);
    livev.sign_in(&live, false).await?;
    for (path, marker) in [
        ("/dashboard/terminals", "LIVE0001"),
        ("/dashboard/webhooks", "live-only.example.com"),
        ("/dashboard/requests", "/v1/webhook-endpoints"),
    ] {
        let seen_by_test = test.page(path).await?;
        ensure!(
            !seen_by_test.contains(marker),
            "test session sees live {marker} on {path}"
        );
        let seen_by_live = livev.page(path).await?;
        ensure!(
            seen_by_live.contains(marker),
            "live session misses {marker} on {path}"
        );
    }
    ensure!(
        livev
            .page("/dashboard/terminals")
            .await?
            .contains("LIVE MODE")
    );
    // The test session's own terminals are there, the live session does not see them.
    ensure!(
        test.page("/dashboard/terminals")
            .await?
            .contains(TERMINALS[0])
    );
    ensure!(
        !livev
            .page("/dashboard/terminals")
            .await?
            .contains(TERMINALS[0])
    );
    // A live object addressed directly from the test session is not found.
    let r = test.get("/dashboard/terminals/LiveModel-LIVE0001").await?;
    assert_eq!(r.status(), 404);
    ensure!(
        !r.text().await?.contains("LiveModel"),
        "test session opened a live terminal"
    );
    server.stop().await
}

/// Merchant B, signed in to the dashboard with its own key, aims every page and form that
/// takes an id at merchant A's objects: each is "not found" (never a page or an effect), no
/// answer carries A's ids, and A's objects are as before. A's own session reaches each page
/// (the control).
#[tokio::test]
async fn another_merchants_objects_are_not_found_in_the_dashboard() -> Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    let created = client
        .create_interaction(&sale(TERMINALS[0], 1_500, "EUR"), None)
        .await?;
    let interaction = created.interaction.id.to_string();
    let done = client
        .wait_final(&interaction, std::time::Duration::from_secs(20))
        .await?;
    let transaction = done
        .transaction
        .context("an approved sale has a transaction")?
        .id
        .to_string();
    let terminal_id = client.terminal(TERMINALS[0]).await?.id.to_string();
    let before = (
        client.get_interaction(&interaction, None, None).await?,
        client.transaction(&transaction).await?,
        client.terminal(TERMINALS[0]).await?.status,
    );

    let b_key = server
        .other_merchant("Merchant B")
        .await?
        .api_key()
        .to_string();
    let mut b = Visitor::new(&server);
    b.sign_in(&b_key, false).await?;
    let mut a = Visitor::new(&server);
    a.sign_in(server.key(), false).await?;
    let secrets = [
        interaction.clone(),
        transaction.clone(),
        terminal_id.clone(),
        TERMINALS[0].to_string(),
    ];

    let mut failures = Vec::new();
    for page in [
        format!("/dashboard/interactions/{interaction}"),
        format!("/dashboard/terminals/{}", TERMINALS[0]),
        format!("/dashboard/terminals/{terminal_id}"),
    ] {
        let r = b.get(&page).await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        if status != 404
            || secrets
                .iter()
                .any(|s| text.contains(s.as_str()) && !page.contains(s.as_str()))
        {
            failures.push(format!("B GET {page}: {status}"));
        }
        let control = a.get(&page).await?.status().as_u16();
        if control != 200 {
            failures.push(format!("control: A GET {page}: {control}"));
        }
    }
    for list in [
        "/dashboard/interactions",
        "/dashboard/terminals",
        "/dashboard/webhooks",
        "/dashboard/api-keys",
        "/dashboard/requests",
    ] {
        let text = b.page(list).await?;
        if let Some(s) = secrets.iter().find(|s| text.contains(s.as_str())) {
            failures.push(format!("B GET {list} carries A's {s}"));
        }
    }
    let token = b.csrf().await?;
    for (path, extra) in [
        (
            format!("/dashboard/interactions/{interaction}/cancel"),
            vec![],
        ),
        (
            format!("/dashboard/transactions/{transaction}/refund"),
            vec![("amount", "100")],
        ),
        (
            format!("/dashboard/transactions/{transaction}/void"),
            vec![],
        ),
        (
            format!("/dashboard/terminals/{}/revoke", TERMINALS[0]),
            vec![],
        ),
        (
            format!("/dashboard/terminals/{}/pairing-code", TERMINALS[0]),
            vec![],
        ),
        (
            format!("/dashboard/terminals/{}/helper/disconnect", TERMINALS[0]),
            vec![],
        ),
        (
            format!("/dashboard/terminals/{}/helper/hold", TERMINALS[0]),
            vec![],
        ),
        (
            format!("/dashboard/terminals/{}/pos", TERMINALS[0]),
            vec![("type", "sale"), ("amount", "100"), ("currency", "EUR")],
        ),
    ] {
        let mut form = vec![("_csrf", token.as_str())];
        form.extend(extra);
        let r = b.post(&path, &form).await?;
        let status = r.status().as_u16();
        // A form answers 404, or (post/redirect/get) a redirect whose page says what
        // went wrong: what that page shows B is checked too.
        let location = r
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let mut text = r.text().await?;
        if let (303, Some(to)) = (status, &location) {
            // Where the browser goes next; a page that cannot be shown (A's object: 404)
            // leaves the message for the next page that can.
            let next = b.get(to).await?;
            text = next.text().await?;
            if !text.contains("flash flash-error") {
                text.push_str(&b.page("/dashboard/terminals").await?);
            }
            if !text.contains("flash flash-error") {
                failures.push(format!(
                    "B POST {path}: redirected to {to} without a refusal"
                ));
            }
        } else if status != 404 {
            failures.push(format!("B POST {path}: {status}"));
        }
        if secrets
            .iter()
            .any(|s| text.contains(s.as_str()) && !path.contains(s.as_str()))
        {
            failures.push(format!("B POST {path}: the answer carries A's ids"));
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    let after = (
        client.get_interaction(&interaction, None, None).await?,
        client.transaction(&transaction).await?,
        client.terminal(TERMINALS[0]).await?.status,
    );
    assert_eq!(before, after, "A's objects changed after B's refused forms");
    Ok(())
}
