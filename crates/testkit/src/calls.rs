//! Plain HTTP calls as a provider's SDK makes them, for the dialect tests: any status is an
//! answer (a 4xx is what those tests look at), with an optional Bearer credential.

use anyhow::Context;
use serde_json::Value;

/// `GET url`: the status and the JSON body.
pub async fn get_json(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = http.get(url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    let body =
        serde_json::from_str(&text).with_context(|| format!("not JSON ({status}): {text}"))?;
    Ok((status, body))
}

/// `POST url` with `body` of `content_type`: the status and the body as text.
pub async fn post_text(
    http: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: String,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut req = http
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await?;
    Ok((r.status().as_u16(), r.text().await?))
}

/// A form-encoded body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An access token for `key` from `POST {base}/oauth/token` (client credentials).
pub async fn access_token(http: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<String> {
    let body = form(&[("grant_type", "client_credentials"), ("client_secret", key)]);
    let (status, text) = post_text(
        http,
        &format!("{base}/oauth/token"),
        "application/x-www-form-urlencoded",
        body,
        None,
    )
    .await?;
    let answer: Value = serde_json::from_str(&text)?;
    anyhow::ensure!(status == 200, "no token ({status}): {answer}");
    answer["access_token"]
        .as_str()
        .map(str::to_string)
        .context("no access_token")
}
