//! Dashboard sessions: signed in with an API key, held in memory, named by a random cookie.
//!
//! Why in memory: a session is a convenience for a person at a browser, not a fact the
//! gateway must keep across restarts; losing them on a restart only asks people to sign in
//! again. Behind several nodes, route a browser to one node (sticky sessions).
//!
//! Why the key itself is not kept: the session keeps the [`Caller`] the key authenticated,
//! and every request checks with the engine that the key is still not revoked; the secret is
//! never stored, logged or put in a cookie.
//!
//! Cookies: `HttpOnly` (no script reads them), `SameSite=Strict` (never sent on a request
//! another site starts), `Path=/dashboard`, and `Secure` when the request came over TLS
//! (a TLS-terminating proxy says so with `X-Forwarded-Proto: https`). Every form carries the
//! session's CSRF token, compared in constant time; the sign-in form, before any session,
//! uses a double-submit token in its own cookie.

use axum::http::{HeaderMap, header};
use poigate_engine::Caller;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "poigate_session";
/// The sign-in form's double-submit CSRF cookie.
pub const SIGNIN_COOKIE: &str = "poigate_signin";
/// A session unused this long is gone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session is gone this long after sign-in, used or not.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);
/// Most sessions kept at once (oldest dropped first): memory stays bounded whatever
/// signs in.
const MAX_SESSIONS: usize = 10_000;

/// A message shown once on the next page (a created key's secret, an error).
#[derive(Clone, Debug)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
    /// A secret shown once (a new API key), rendered apart so it can be copied.
    pub secret: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashKind {
    Ok,
    Error,
}

#[derive(Clone, Debug)]
struct Session {
    caller: Caller,
    csrf: String,
    created: Instant,
    last_used: Instant,
    flash: Option<Flash>,
}

/// One signed-in browser, as a request sees it.
#[derive(Clone, Debug)]
pub struct Current {
    pub id: String,
    pub caller: Caller,
    pub csrf: String,
}

/// Every session of this process.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// Added to the clock: tests move time forward without waiting (adding never
    /// underflows, unlike moving `Instant`s back on a freshly booted machine).
    skew: Mutex<Duration>,
}

impl Sessions {
    /// Opens a session for `caller`; returns its id (the cookie value).
    pub fn open(&self, caller: Caller) -> Result<String, getrandom::Error> {
        let id = random_token()?;
        let csrf = random_token()?;
        let now = self.now();
        let mut map = self.lock();
        map.retain(|_, s| alive(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                caller,
                csrf,
                created: now,
                last_used: now,
                flash: None,
            },
        );
        Ok(id)
    }

    /// The live session named by `id`. A request of the person (`refresh`) restarts the idle
    /// timeout; the script's polling does not, so an open tab nobody uses still expires.
    pub fn touch(&self, id: &str, refresh: bool) -> Option<Current> {
        let now = self.now();
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if !alive(session, now) {
            map.remove(id);
            return None;
        }
        if refresh {
            session.last_used = now;
        }
        Some(Current {
            id: id.to_string(),
            caller: session.caller,
            csrf: session.csrf.clone(),
        })
    }

    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(flash);
        }
    }

    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id).and_then(|s| s.flash.take())
    }

    /// Moves this store's clock forward (tests of expiry, without waiting half an hour).
    #[doc(hidden)]
    pub fn advance(&self, by: Duration) {
        let mut skew = self.skew.lock().unwrap_or_else(|e| e.into_inner());
        *skew += by;
    }

    fn now(&self) -> Instant {
        let skew = *self.skew.lock().unwrap_or_else(|e| e.into_inner());
        Instant::now() + skew
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves only plain data behind: keep serving.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last_used) < IDLE_TIMEOUT
        && now.duration_since(s.created) < ABSOLUTE_TIMEOUT
}

/// 256 random bits, hex.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Constant-time comparison of two tokens.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name` in the request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the browser reached us over TLS: this server's own (`direct`, the connection's
/// [`crate::connections::OverTls`]) or a proxy's that says so.
pub fn over_tls(headers: &HeaderMap, direct: bool) -> bool {
    direct
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value with the dashboard's flags.
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/dashboard; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::{ApiKeyId, ApiKeyMode, MerchantId, Timestamp};

    fn caller() -> Caller {
        Caller {
            merchant_id: MerchantId::generate(Timestamp::from_millis(1)),
            mode: ApiKeyMode::Test,
            key_id: ApiKeyId::generate(Timestamp::from_millis(1)),
        }
    }

    #[test]
    fn sessions_expire_when_idle_and_close() {
        let sessions = Sessions::default();
        let id = sessions.open(caller()).expect("a session opens");
        assert!(sessions.touch(&id, true).is_some());
        sessions.advance(IDLE_TIMEOUT);
        assert!(
            sessions.touch(&id, true).is_none(),
            "idle session must be gone"
        );
        let id = sessions.open(caller()).expect("a session opens");
        sessions.close(&id);
        assert!(sessions.touch(&id, true).is_none());
        assert!(sessions.touch("nonsense", true).is_none());
    }

    #[test]
    fn polling_does_not_keep_a_session_alive() {
        let sessions = Sessions::default();
        let id = sessions.open(caller()).expect("a session opens");
        sessions.advance(IDLE_TIMEOUT / 2);
        assert!(sessions.touch(&id, false).is_some());
        sessions.advance(IDLE_TIMEOUT / 2);
        assert!(
            sessions.touch(&id, false).is_none(),
            "polling refreshed the idle timer"
        );
        // A person's request does refresh it.
        let id = sessions.open(caller()).expect("a session opens");
        sessions.advance(IDLE_TIMEOUT / 2);
        assert!(sessions.touch(&id, true).is_some());
        sessions.advance(IDLE_TIMEOUT / 2);
        assert!(sessions.touch(&id, true).is_some());
    }

    #[test]
    fn sessions_end_after_the_absolute_timeout_even_when_used() {
        let sessions = Sessions::default();
        let id = sessions.open(caller()).expect("a session opens");
        let step = IDLE_TIMEOUT / 2;
        let mut aged = std::time::Duration::ZERO;
        while aged < ABSOLUTE_TIMEOUT {
            assert!(sessions.touch(&id, true).is_some());
            sessions.advance(step);
            aged += step;
        }
        assert!(sessions.touch(&id, true).is_none());
    }

    #[test]
    fn cookies_and_tokens() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; poigate_session=abc; b=2"
                .parse()
                .expect("a header value"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(tokens_equal("abc", "abc"));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", "ab"));
        let c = set_cookie(SESSION_COOKIE, "x", None, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie(SESSION_COOKIE, "x", None, false).contains("Secure"));
    }
}
