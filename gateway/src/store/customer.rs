//! SSE-C: the customer's key from a request's headers, checked as S3 checks it, echoed back
//! (algorithm and key MD5) as S3 does, and the check value stored with an object to tell a
//! wrong key from tampering. The key itself wraps the object's data key (see the envelope) and
//! is never stored or logged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};

use crate::envelope::CustomerKey;
use crate::envelope::customer::{key_check, key_matches};
use crate::error::{ApiError, ApiResult};
use crate::upstream::StoredObject;

/// Upstream metadata name of the SSE-C key check value (`x-amz-meta-tv-ssec`).
pub const META_SSE_C: &str = "tv-ssec";

/// The only SSE-C algorithm S3 defines.
const ALGORITHM: &str = "AES256";

/// A customer key sent with a request, with the MD5 to echo.
pub struct SseC {
    /// The key.
    pub key: CustomerKey,
    /// Base64 MD5 of the key, as the client sent it.
    pub key_md5: String,
}

impl SseC {
    /// Parses the three SSE-C headers of one request (or of its copy source). All absent: no
    /// SSE-C. Anything else must be complete and consistent, as S3 requires.
    pub fn from_headers(algorithm: Option<&str>, key: Option<&str>, key_md5: Option<&str>) -> ApiResult<Option<Self>> {
        match (algorithm, key, key_md5) {
            (None, None, None) => return Ok(None),
            (Some(a), _, _) if a != ALGORITHM => {
                return Err(ApiError::InvalidEncryptionAlgorithm(format!(
                    "the SSE-C algorithm must be {ALGORITHM}"
                )));
            }
            (None, _, _) => {
                return Err(ApiError::InvalidArgument(
                    "requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm".into(),
                ));
            }
            (Some(_), None, _) => {
                return Err(ApiError::InvalidArgument(
                    "requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key".into(),
                ));
            }
            _ => {}
        }
        let encoded = key.unwrap_or_default();
        let bytes: [u8; 32] = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                ApiError::InvalidArgument("the secret key was invalid for the specified algorithm".into())
            })?;
        let actual_md5 = STANDARD.encode(Md5::digest(bytes));
        if let Some(sent) = key_md5
            && sent != actual_md5
        {
            return Err(ApiError::InvalidArgument(
                "the calculated MD5 hash of the key did not match the hash that was provided".into(),
            ));
        }
        Ok(Some(Self {
            key: CustomerKey(bytes),
            key_md5: actual_md5,
        }))
    }

    /// The metadata value that later tells this key from a wrong one.
    pub fn check_value(&self) -> String {
        key_check(&self.key)
    }

    /// The response headers' values: algorithm and key MD5.
    pub fn echo(sse_c: Option<&Self>) -> (Option<String>, Option<String>) {
        match sse_c {
            Some(s) => (Some(ALGORITHM.to_owned()), Some(s.key_md5.clone())),
            None => (None, None),
        }
    }
}

/// Refuses a read of `stored` with the wrong customer key (403, as S3) before the header is
/// opened, so that a wrong key is not mistaken for tampering. Missing or unexpected keys are
/// reported by the envelope itself.
pub fn check_key(stored: &StoredObject, sse_c: Option<&SseC>) -> ApiResult<()> {
    if let (Some(sse_c), Some(check)) = (sse_c, stored.metadata.get(META_SSE_C))
        && !key_matches(&sse_c.key, check)
    {
        return Err(ApiError::WrongCustomerKey);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_b64(byte: u8) -> (String, String) {
        let key = [byte; 32];
        (STANDARD.encode(key), STANDARD.encode(Md5::digest(key)))
    }

    #[test]
    fn headers_are_checked_like_s3() {
        let (key, md5) = key_b64(1);
        assert!(matches!(SseC::from_headers(None, None, None), Ok(None)));
        assert!(SseC::from_headers(Some("AES256"), Some(&key), Some(&md5)).is_ok_and(|s| s.is_some()));
        assert!(SseC::from_headers(Some("AES256"), Some(&key), None).is_ok_and(|s| s.is_some()));
        assert!(matches!(
            SseC::from_headers(Some("aws:kms"), Some(&key), Some(&md5)),
            Err(ApiError::InvalidEncryptionAlgorithm(_))
        ));
        assert!(SseC::from_headers(Some("AES256"), Some(&key), Some("AAAA")).is_err());
        assert!(SseC::from_headers(Some("AES256"), Some("c2hvcnQ="), None).is_err());
        assert!(SseC::from_headers(Some("AES256"), None, Some(&md5)).is_err());
        assert!(SseC::from_headers(None, Some(&key), Some(&md5)).is_err());
    }

    #[test]
    fn a_wrong_key_is_refused_before_the_header_is_opened() {
        let (key, md5) = key_b64(1);
        let (other, other_md5) = key_b64(2);
        let right = SseC::from_headers(Some("AES256"), Some(&key), Some(&md5))
            .ok()
            .flatten();
        let wrong = SseC::from_headers(Some("AES256"), Some(&other), Some(&other_md5))
            .ok()
            .flatten();
        let mut stored = StoredObject::default();
        if let Some(r) = &right {
            stored.metadata.insert(META_SSE_C.into(), r.check_value());
        }
        assert!(check_key(&stored, right.as_ref()).is_ok());
        assert!(matches!(
            check_key(&stored, wrong.as_ref()),
            Err(ApiError::WrongCustomerKey)
        ));
    }
}
