//! SSE-C key verification: what the gateway keeps to tell a wrong customer key from a tampered
//! header, without storing the key or anything that reveals it.
//!
//! Stored in upstream metadata `tv-ssec` as base64url(salt (16 B) || HKDF-SHA256(ikm = customer
//! key, salt, info = "twinvault/ssec-check/v1") (32 B)). A mismatch means "wrong key" (S3's 403);
//! a match followed by a header that fails to open means corruption or tampering.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::Sha256;

use super::CustomerKey;

const CHECK_INFO: &[u8] = b"twinvault/ssec-check/v1";
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 32;

fn derive(key: &CustomerKey, salt: &[u8]) -> [u8; CHECK_LEN] {
    let mut out = [0u8; CHECK_LEN];
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(salt), &key.0).expand(CHECK_INFO, &mut out);
    out
}

/// A fresh check value for `key`.
pub fn key_check(key: &CustomerKey) -> String {
    let salt: [u8; SALT_LEN] = rand::random();
    let mut bytes = salt.to_vec();
    bytes.extend_from_slice(&derive(key, &salt));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `key` is the one `check` was made for. A malformed check value matches nothing.
pub fn key_matches(key: &CustomerKey, check: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(check) else {
        return false;
    };
    if bytes.len() != SALT_LEN + CHECK_LEN {
        return false;
    }
    let (salt, expected) = bytes.split_at(SALT_LEN);
    let actual = derive(key, salt);
    // Constant-time comparison: no early exit on the first differing byte.
    actual.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_key_matches_and_others_do_not() {
        let key = CustomerKey([7u8; 32]);
        let check = key_check(&key);
        assert!(key_matches(&key, &check));
        assert!(!key_matches(&CustomerKey([8u8; 32]), &check));
        assert!(!key_matches(&key, "not base64 !"));
        assert!(!key_matches(&key, ""));
        assert_ne!(check, key_check(&key), "salted: two checks of one key differ");
    }
}
