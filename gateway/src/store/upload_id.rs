//! Multipart upload ids: the gateway is stateless, so what it must remember between calls (both
//! regions' upstream upload ids and the object header with the wrapped data key) travels inside
//! the upload id, sealed under a key derived from the keyring so clients can neither read nor
//! forge it. A foreign, altered or re-targeted (other bucket/key) id opens as `NoSuchUpload`, and
//! so does one older than `multipart.upload_ttl_secs` (it carries its creation time).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;
use crate::keyring::{Kek, Keyring};

const PREFIX: &str = "tv1.";
const INFO: &[u8] = b"twinvault/upload-id/v1";

/// What an upload id carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// Upstream upload id in each region, in configuration order.
    #[serde(rename = "u")]
    pub upstream_ids: [String; 2],
    /// The object header (metadata value form) holding the wrapped data key.
    #[serde(rename = "h")]
    pub header: String,
    /// The object's version stamp (for the journal, should a region miss the completion).
    #[serde(rename = "s", default)]
    pub stamp: String,
    /// The SSE-C key check value, when the upload was started with a customer key.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub sse_c_check: Option<String>,
    /// When CreateMultipartUpload sealed it, in seconds since the Unix epoch. `None` in ids
    /// sealed before ids carried it: they cannot be dated and never expire here.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub created_unix_secs: Option<u64>,
    /// The checksum algorithm and type of CreateMultipartUpload (no value), when it named one:
    /// every part's checksum is then kept, and the object's computed at completion.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<crate::envelope::ObjectChecksum>,
}

/// `time` in whole seconds since the Unix epoch (0 for a clock set before 1970).
pub fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn cipher(kek: &Kek) -> Aes256Gcm {
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, kek.key_bytes()).expand(INFO, &mut key);
    Aes256Gcm::new(&key.into())
}

fn aad(bucket: &str, key: &str) -> Vec<u8> {
    let mut aad = INFO.to_vec();
    for field in [bucket, key] {
        aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    aad
}

impl UploadState {
    /// The upload id for this state, sealed under the keyring's current key.
    pub fn seal(&self, keyring: &Keyring, bucket: &str, key: &str) -> Result<String, ApiError> {
        let kek = keyring.current();
        let json = serde_json::to_vec(self).map_err(|_| ApiError::InvalidArgument("upload state".into()))?;
        let nonce: [u8; 12] = rand::random();
        let mut out = vec![kek.id().len() as u8];
        out.extend_from_slice(kek.id().as_bytes());
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(&json);
        let tag = cipher(kek)
            .encrypt_inout_detached(
                &Nonce::<Aes256Gcm>::from(nonce),
                &aad(bucket, key),
                (&mut out[start..]).into(),
            )
            .map_err(|_| ApiError::InvalidArgument("upload id sealing failed".into()))?;
        out.extend_from_slice(&tag);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens an upload id for `bucket`/`key` at `now`, as [`Self::open`] does, and refuses it
    /// as `NoSuchUpload` once it is older than `ttl`, as S3 answers for an upload its
    /// abort-incomplete rule has reaped.
    pub fn open_live(
        keyring: &Keyring,
        (bucket, key): (&str, &str),
        upload_id: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<Self, ApiError> {
        let state = Self::open(keyring, bucket, key, upload_id)?;
        if state.expired(ttl, now) {
            return Err(ApiError::NoSuchUpload);
        }
        Ok(state)
    }

    /// Whether the upload is older than `ttl` at `now`; an undated id never is.
    pub fn expired(&self, ttl: Duration, now: SystemTime) -> bool {
        self.created_unix_secs
            .is_some_and(|created| unix_secs(now).saturating_sub(created) > ttl.as_secs())
    }

    /// Opens an upload id for `bucket`/`key`; anything not sealed by us for them is `NoSuchUpload`.
    pub fn open(keyring: &Keyring, bucket: &str, key: &str, upload_id: &str) -> Result<Self, ApiError> {
        Self::try_open(keyring, bucket, key, upload_id).ok_or(ApiError::NoSuchUpload)
    }

    fn try_open(keyring: &Keyring, bucket: &str, key: &str, upload_id: &str) -> Option<Self> {
        let mut bytes = URL_SAFE_NO_PAD.decode(upload_id.strip_prefix(PREFIX)?).ok()?;
        let (&id_len, rest) = bytes.split_first()?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + 12 + 16 {
            return None;
        }
        let kek = keyring.get(std::str::from_utf8(&rest[..id_len]).ok()?)?;
        let body = &mut bytes[1 + id_len..];
        let (nonce, rest) = body.split_at_mut(12);
        let nonce = Nonce::<Aes256Gcm>::try_from(&nonce[..]).ok()?;
        let split = rest.len() - 16;
        let (json, tag) = rest.split_at_mut(split);
        let tag = Tag::<Aes256Gcm>::try_from(&tag[..]).ok()?;
        cipher(kek)
            .decrypt_inout_detached(&nonce, &aad(bucket, key), (&mut *json).into(), &tag)
            .ok()?;
        serde_json::from_slice(json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new("k1", vec![Kek::new("k1", [3u8; 32]).expect("id")]).expect("ring")
    }

    #[test]
    fn upload_ids_round_trip_and_reject_forgeries() {
        let state = UploadState {
            upstream_ids: ["up-a".into(), "up-b".into()],
            header: "hdr".into(),
            stamp: "0000000000000001.0000000000000002".into(),
            sse_c_check: None,
            created_unix_secs: Some(1_796_623_200),
            checksum: Some(crate::envelope::ObjectChecksum {
                algorithm: "CRC32".into(),
                kind: "COMPOSITE".into(),
                ..Default::default()
            }),
        };
        let id = state.seal(&ring(), "bkt", "obj").expect("seal");
        assert!(
            !id.contains("up-a") && !id.contains("hdr"),
            "upload id leaks its content: {id}"
        );
        assert_eq!(UploadState::open(&ring(), "bkt", "obj", &id).expect("opens"), state);
        assert!(
            UploadState::open(&ring(), "bkt", "other", &id).is_err(),
            "moved to another key"
        );
        assert!(UploadState::open(&ring(), "bkt", "obj", "2~abc").is_err(), "foreign id");
        let mut chars: Vec<char> = id.chars().collect();
        let last = chars.len() - 3;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let forged: String = chars.into_iter().collect();
        assert!(UploadState::open(&ring(), "bkt", "obj", &forged).is_err(), "altered id");
        let other = Keyring::new("k1", vec![Kek::new("k1", [4u8; 32]).expect("id")]).expect("ring");
        assert!(UploadState::open(&other, "bkt", "obj", &id).is_err(), "other keyring");
    }

    #[test]
    fn upload_ids_expire_after_their_ttl_and_undated_ones_never_do() {
        let created = 1_796_623_200;
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        let ttl = Duration::from_secs(7 * 24 * 3600);
        let mut state = UploadState {
            upstream_ids: ["up-a".into(), "up-b".into()],
            header: "hdr".into(),
            stamp: "0000000000000001.0000000000000002".into(),
            sse_c_check: None,
            created_unix_secs: Some(created),
            checksum: None,
        };
        let id = state.seal(&ring(), "bkt", "obj").expect("seal");
        let open = |now: u64| UploadState::open_live(&ring(), ("bkt", "obj"), &id, ttl, at(now));
        assert_eq!(open(created).expect("fresh"), state);
        assert!(open(created + ttl.as_secs()).is_ok(), "exactly the TTL old");
        assert!(matches!(open(created + ttl.as_secs() + 1), Err(ApiError::NoSuchUpload)));
        // A clock behind the creation time (another replica's) does not expire it.
        assert!(open(created - 60).is_ok());

        state.created_unix_secs = None;
        let undated = state.seal(&ring(), "bkt", "obj").expect("seal");
        let far = at(created + 100 * ttl.as_secs());
        assert!(UploadState::open_live(&ring(), ("bkt", "obj"), &undated, ttl, far).is_ok());
    }
}
