//! A browser without a browser, for the dashboard's HTTP-level tests: keeps the session
//! cookie and reads CSRF tokens from the pages.
#![allow(dead_code)]

use anyhow::{Context, Result, ensure};
use poigate_testkit::TestServer;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

/// A browser without a browser: keeps the session cookie, reads CSRF tokens from pages.
pub struct Visitor {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
}

impl Visitor {
    pub fn new(server: &TestServer) -> Visitor {
        Visitor {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            base: server.url(),
            cookie: None,
        }
    }

    pub async fn get(&self, path: &str) -> Result<reqwest::Response> {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        Ok(r.send().await?)
    }

    pub async fn page(&self, path: &str) -> Result<String> {
        let r = self.get(path).await?;
        ensure!(r.status() == 200, "GET {path}: {}", r.status());
        Ok(r.text().await?)
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<reqwest::Response> {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        Ok(r.send().await?)
    }

    /// Signs in with `key` through the form; returns the session cookie's `Set-Cookie`.
    pub async fn sign_in(&mut self, key: &str, tls: bool) -> Result<String> {
        let mut r = self.http.get(format!("{}/dashboard/sign-in", self.base));
        if tls {
            r = r.header("x-forwarded-proto", "https");
        }
        let r = r.send().await?;
        let signin_cookie = set_cookie(&r, "poigate_signin").context("sign-in cookie")?;
        let html = r.text().await?;
        let token = csrf_of(&html).context("sign-in token")?;
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("_csrf", token.as_str()), ("api_key", key)])
            .finish();
        let mut r = self
            .http
            .post(format!("{}/dashboard/sign-in", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(COOKIE, cookie_pair(&signin_cookie))
            .body(body);
        if tls {
            r = r.header("x-forwarded-proto", "https");
        }
        let r = r.send().await?;
        ensure!(r.status() == 303, "sign-in answered {}", r.status());
        let session = set_cookie(&r, "poigate_session").context("session cookie")?;
        self.cookie = Some(cookie_pair(&session));
        Ok(session)
    }

    pub async fn csrf(&self) -> Result<String> {
        csrf_of(&self.page("/dashboard/terminals").await?).context("csrf token")
    }
}

pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_string()
}

pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

pub fn redirects_to_sign_in(r: &reqwest::Response) -> bool {
    r.status() == 303
        && r.headers()
            .get(LOCATION)
            .is_some_and(|l| l == "/dashboard/sign-in")
}
