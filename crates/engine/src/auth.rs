//! Secrets: API keys, device keys and pairing codes — generation, hashing, and the
//! constant-time check.
//!
//! An API key is `pg_test_` or `pg_live_` followed by 48 hex digits (192 random bits from the
//! OS); a device key is `pg_dev_` followed by 48 hex digits. Only their SHA-256 is stored.
//! Lookup is by hash (an index hit leaks nothing useful: finding a hash does not help find a
//! preimage), and the hash found is compared again in constant time. Unknown and revoked keys
//! get the same answer.
//!
//! A pairing code is typed by a person on a terminal's keypad, so it is short: 10 characters
//! of Crockford base32 (50 bits), shown as `ABCDE-FGHJK`. It lives minutes, works once and is
//! stored hashed like the keys; guessing one over HTTP within its lifetime is hopeless.

use poigate_domain::ApiKeyMode;
use sha2::{Digest, Sha256};

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh random secret for `mode`.
pub fn generate_secret(mode: ApiKeyMode) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}{hex}", mode.secret_prefix()))
}

/// Prefix of device keys.
pub const DEVICE_KEY_PREFIX: &str = "pg_dev_";

fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh random device key (192 bits).
pub fn generate_device_key() -> Result<String, getrandom::Error> {
    Ok(format!("{DEVICE_KEY_PREFIX}{}", random_hex(24)?))
}

/// Whether `secret` has the shape of a device key (cheap rejection before any lookup).
pub fn device_key_well_formed(secret: &str) -> bool {
    secret.len() == DEVICE_KEY_PREFIX.len() + 48
        && secret.starts_with(DEVICE_KEY_PREFIX)
        && secret[DEVICE_KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

/// Crockford base32: no I, L, O or U, so nothing reads as another character.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh pairing code, `ABCDE-FGHJK`.
pub fn generate_pairing_code() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)?;
    let chars: String = bytes
        .iter()
        .map(|b| CROCKFORD[usize::from(b & 31)] as char)
        .collect();
    Ok(format!("{}-{}", &chars[..5], &chars[5..]))
}

/// The canonical form of a typed pairing code (case, dashes, spaces and the look-alikes
/// I, L → 1 and O → 0 do not matter), or `None` when it cannot be one.
pub fn normalize_pairing_code(typed: &str) -> Option<String> {
    if typed.len() > 32 {
        return None;
    }
    let mut out = String::with_capacity(10);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !CROCKFORD.contains(&(c as u8)) || !c.is_ascii() {
            return None;
        }
        out.push(c);
    }
    (out.len() == 10).then_some(out)
}

/// Whether `secret` has the shape of a poigate key (cheap rejection before any lookup).
pub fn well_formed(secret: &str) -> bool {
    ApiKeyMode::of_secret(secret).is_some() && secret.len() <= 128 && secret.is_ascii()
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_long() {
        let a = generate_secret(ApiKeyMode::Test).expect("random");
        let b = generate_secret(ApiKeyMode::Test).expect("random");
        assert!(a.starts_with("pg_test_"));
        assert_eq!(a.len(), 8 + 48);
        assert_ne!(a, b);
        assert!(well_formed(&a));
        assert!(!well_formed("Bearer nonsense"));
    }

    #[test]
    fn device_keys_and_pairing_codes() {
        let key = generate_device_key().expect("random");
        assert!(key.starts_with("pg_dev_") && device_key_well_formed(&key));
        assert!(!device_key_well_formed("pg_dev_short"));
        assert!(!well_formed(&key), "a device key is no API key");
        let code = generate_pairing_code().expect("random");
        assert_eq!(code.len(), 11);
        let canonical = normalize_pairing_code(&code).expect("valid");
        assert_eq!(canonical, code.replace('-', ""));
        assert_eq!(
            normalize_pairing_code(&code.to_lowercase()).as_deref(),
            Some(canonical.as_str())
        );
        assert_eq!(
            normalize_pairing_code("o1iL2-34567").as_deref(),
            Some("0111234567")
        );
        assert_eq!(normalize_pairing_code("ABCDE-FGHJ"), None);
        assert_eq!(normalize_pairing_code("ABCDE-FGHJU"), None);
    }

    #[test]
    fn constant_time_compare_is_correct() {
        let h = hash_secret("pg_test_x");
        assert!(hashes_equal(&h, &hash_secret("pg_test_x")));
        assert!(!hashes_equal(&h, &hash_secret("pg_test_y")));
    }
}
