//! Test data: random payloads and credentials, unique bucket names, digests.

use md5::{Digest, Md5};
use rand::RngCore;
use rand::distr::{Alphanumeric, SampleString};

/// `len` random bytes.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// A random alphanumeric string (credentials, key names).
pub fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// A bucket name unique to this test run: `<prefix>-<12 hex chars>`, lower-case, at most 63 chars.
pub fn unique_bucket(prefix: &str) -> String {
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(50)
        .collect();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &suffix[..12])
}

/// Lower-case hex MD5 (the ETag of a single-part upload).
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_bucket_is_a_valid_s3_name() {
        let name = unique_bucket("Put_Get Test");
        assert!(name.starts_with("put-get-test-"));
        assert!(name.len() <= 63);
        assert_ne!(name, unique_bucket("Put_Get Test"));
    }

    #[test]
    fn md5_of_empty_is_the_empty_etag() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
