//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).
//!
//! The secret is `whsec_` + base64 of the key bytes. During a rotation every active secret
//! signs, and the `webhook-signature` header carries the signatures separated by spaces.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the signing secret is not base64 after its whsec_ prefix")]
    BadSecret,
}

fn key_bytes(secret: &str) -> Result<Vec<u8>, SigningError> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| SigningError::BadSecret)
}

/// One signature, `v1,<base64>`.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    let key = key_bytes(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SigningError::BadSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    ))
}

/// The `webhook-signature` header value: one signature per secret, space separated.
pub fn signature_header(
    secrets: &[String],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    let signatures = secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verifies_with_the_independent_reference_implementation() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let body = br#"{"type":"interaction.updated"}"#;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let header = signature_header(&[other.to_string(), secret.to_string()], "msg_1", now, body)
            .expect("sign");
        assert_eq!(header.split(' ').count(), 2);
        let mut headers = http_headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &now.to_string()),
            ("webhook-signature", &header),
        ]);
        for s in [secret, other] {
            standardwebhooks::Webhook::new(s)
                .expect("secret")
                .verify(body, &headers)
                .expect("valid signature");
        }
        headers.insert("webhook-id", "msg_2".parse().expect("header"));
        assert!(
            standardwebhooks::Webhook::new(secret)
                .expect("secret")
                .verify(body, &headers)
                .is_err()
        );
        assert_eq!(sign("whsec_!!!", "m", 1, b""), Err(SigningError::BadSecret));
    }

    fn http_headers(pairs: &[(&'static str, &str)]) -> reqwest::header::HeaderMap {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().expect("header value"));
        }
        map
    }
}
