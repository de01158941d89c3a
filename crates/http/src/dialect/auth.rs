//! The one way every dialect authenticates: find the credential where the dialect says its
//! clients put it, ask the engine once (an API key and an access token from `/oauth/token`
//! are both accepted), and let the dialect render a refusal in its own shape.

use super::ErrorShape;
use axum::http::{HeaderMap, header};
use poigate_engine::{Caller, Engine};

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
    engine: &Engine,
    places: &[CredentialPlace],
    headers: &HeaderMap,
    form: Option<&(dyn FormFields + Sync)>,
) -> Result<Caller, E> {
    let secret = match credential(places, headers, form) {
        Some(s) if !s.is_empty() => s,
        _ => return Err(E::unauthenticated(Unauthenticated::Missing)),
    };
    match engine.admin().authenticate(&secret).await {
        Ok(Some(caller)) => {
            crate::observe::note_merchant(caller.merchant_id);
            Ok(caller)
        }
        Ok(None) => Err(E::unauthenticated(Unauthenticated::Invalid)),
        Err(e) => Err(E::from_engine(e)),
    }
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
