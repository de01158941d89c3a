//! The one way every dialect authenticates: find the credential where the dialect says its
//! clients put it, ask the engine once (an API key and an access token from `/oauth/token`
//! are both accepted), and let the dialect render a refusal in its own shape. The rate
//! limits of [`crate::limits`] apply here too: a client cooling down after too many refused
//! credentials, or a key over its request rate, is refused with
//! [`Unauthenticated::RateLimited`] (a `429` with `Retry-After` in every shape).

use super::ErrorShape;
use crate::AppState;
use crate::limits::Limited;
use axum::http::{HeaderMap, header};
use poigate_engine::{Caller, EngineError};

/// A place a credential can be in a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialPlace {
    /// `Authorization: Bearer <key or token>` (scheme case-insensitive).
    Bearer,
    /// A header carrying the bare credential (Adyen's `x-api-key`).
    Header(&'static str),
    /// A form field of the body (NMI's `security_key`). Only dialects that parse a form
    /// body pass one to [`credential`]; without it this place is skipped.
    FormField(&'static str),
}

/// Why a request has no caller (deliberately no more precise than this: an unknown key and
/// an expired or tampered token look the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No credential at all (some providers answer this differently from a bad one).
    Missing,
    /// Unknown, revoked or malformed key; expired or tampered access token.
    Invalid,
    /// Too many refused credentials from this client or for this key prefix, or too many
    /// requests for this key: answer `429` with `Retry-After`.
    RateLimited { retry_after_seconds: u64 },
}

impl Unauthenticated {
    /// The `Retry-After` of a [`RateLimited`](Self::RateLimited) refusal, which every
    /// shape answers `429` with this header.
    pub fn retry_after_seconds(self) -> Option<u64> {
        match self {
            Unauthenticated::RateLimited {
                retry_after_seconds,
            } => Some(retry_after_seconds),
            Unauthenticated::Missing | Unauthenticated::Invalid => None,
        }
    }
}

impl From<Limited> for Unauthenticated {
    fn from(l: Limited) -> Self {
        Unauthenticated::RateLimited {
            retry_after_seconds: l.retry_after_seconds,
        }
    }
}

/// Why [`check`] refused: a refusal of the credential, or an engine failure.
pub(crate) enum Refusal {
    Unauthenticated(Unauthenticated),
    Engine(EngineError),
}

/// Checks `secret` (the credential found, if any) under the rate limits: the one path of the
/// native API and of every dialect.
pub(crate) async fn check(
    state: &AppState,
    headers: &HeaderMap,
    secret: Option<&str>,
) -> Result<Caller, Refusal> {
    let limits = &state.limits;
    let secret = secret.filter(|s| !s.is_empty());
    let address = limits.client_address(headers);
    let refused = |u: Unauthenticated| Refusal::Unauthenticated(u);
    limits
        .before_auth(address, secret)
        .map_err(|l| refused(l.into()))?;
    // No credential is no guess: it costs no failure token.
    let secret = secret.ok_or(refused(Unauthenticated::Missing))?;
    match state.engine.admin().authenticate(secret).await {
        Ok(Some(caller)) => {
            // The access line and every log line of this request name the merchant.
            crate::observe::note_caller(&caller);
            limits
                .request(&caller.key_id.to_string())
                .map_err(|l| refused(l.into()))?;
            Ok(caller)
        }
        Ok(None) => Err(refused(match limits.auth_failed(address, Some(secret)) {
            Ok(()) => Unauthenticated::Invalid,
            Err(l) => l.into(),
        })),
        Err(e) => Err(Refusal::Engine(e)),
    }
}

/// `response` with `Retry-After: seconds`: how every shape carries a
/// [`Unauthenticated::RateLimited`] refusal.
pub fn with_retry_after(
    mut response: axum::response::Response,
    seconds: u64,
) -> axum::response::Response {
    if let Ok(v) = header::HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// A parsed form body, for credentials sent as a form field.
pub trait FormFields {
    /// The value of the field `name`, if present.
    fn field(&self, name: &str) -> Option<&str>;
}

/// The credential of a request: the value at the first of `places` the request has.
pub fn credential(
    places: &[CredentialPlace],
    headers: &HeaderMap,
    form: Option<&(dyn FormFields + Sync)>,
) -> Option<String> {
    places.iter().find_map(|place| match place {
        CredentialPlace::Bearer => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_string())
            }),
        CredentialPlace::Header(name) => headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string()),
        CredentialPlace::FormField(name) => form
            .and_then(|f| f.field(name))
            .map(|v| v.trim().to_string()),
    })
}

/// The caller the request's credential authenticates, or the answer `E` gives a refusal
/// (or a storage failure, through [`ErrorShape::from_engine`]).
pub async fn authenticate<E: ErrorShape>(
    state: &AppState,
    places: &[CredentialPlace],
    headers: &HeaderMap,
    form: Option<&(dyn FormFields + Sync)>,
) -> Result<Caller, E> {
    let secret = credential(places, headers, form);
    check(state, headers, secret.as_deref())
        .await
        .map_err(|refusal| match refusal {
            Refusal::Unauthenticated(why) => E::unauthenticated(why),
            Refusal::Engine(e) => E::from_engine(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    struct Form;
    impl FormFields for Form {
        fn field(&self, name: &str) -> Option<&str> {
            (name == "security_key").then_some("from-form")
        }
    }

    #[test]
    fn the_first_place_present_wins() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static(" k1 "));
        let places = [
            CredentialPlace::Bearer,
            CredentialPlace::Header("x-api-key"),
        ];
        assert_eq!(credential(&places, &headers, None).as_deref(), Some("k1"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer tok"),
        );
        assert_eq!(credential(&places, &headers, None).as_deref(), Some("tok"));
        let nmi = [
            CredentialPlace::FormField("security_key"),
            CredentialPlace::Bearer,
        ];
        assert_eq!(
            credential(&nmi, &headers, Some(&Form)).as_deref(),
            Some("from-form")
        );
        assert_eq!(credential(&nmi, &headers, None).as_deref(), Some("tok"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(credential(&nmi[1..], &headers, None), None);
    }
}
