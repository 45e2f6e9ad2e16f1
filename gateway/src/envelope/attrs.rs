//! Sealed object attributes: the client's metadata and content headers, unreadable upstream.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::cipher::GcmKey;
use super::format::{ATTRS_KEY_INFO, KEY_LEN, NONCE_LEN, TAG_LEN};
use super::{DataKey, EnvelopeError};

/// What a client said about its object besides the bytes. Content type and user metadata can be
/// as revealing as the data (file names, authors), so they travel sealed under the data key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAttributes {
    /// `Content-Type`.
    #[serde(rename = "ct", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Cache-Control`.
    #[serde(rename = "cc", default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    #[serde(rename = "cd", default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// `Content-Encoding`.
    #[serde(rename = "ce", default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    #[serde(rename = "cl", default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `Expires`, as the client sent it (RFC 7231 date).
    #[serde(rename = "ex", default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*` pairs, names lower-cased without the prefix.
    #[serde(rename = "m", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_metadata: BTreeMap<String, String>,
    /// The client's checksum of the whole object, as S3 answers it with
    /// `x-amz-checksum-mode: ENABLED` (a checksum of known plaintext would confirm a guess).
    #[serde(rename = "ck", default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ObjectChecksum>,
    /// Object tags (`x-amz-tagging`, PutObjectTagging), in the client's order: tag names and
    /// values say as much as metadata.
    #[serde(rename = "tg", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

/// A checksum of the object's plaintext as S3 names it. Plain strings, not enums, so that an
/// algorithm a later gateway adds never makes this one fail to open an object's attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    /// S3's algorithm name: `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`.
    #[serde(rename = "a")]
    pub algorithm: String,
    /// `FULL_OBJECT` or `COMPOSITE` (a checksum of the parts' checksums, multipart only).
    #[serde(rename = "t")]
    pub kind: String,
    /// The value as S3 answers it (base64; a composite one ends in `-N`). Empty for a
    /// multipart upload's attributes, where only the algorithm and type are known at creation.
    #[serde(rename = "v", default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// A multipart object's parts as the client uploaded them: plaintext size and checksum,
    /// for GetObjectAttributes' `ObjectParts`.
    #[serde(rename = "p", default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<(u64, String)>,
    /// Where a multipart object's value is kept: the version stamp of its upload, which names
    /// its record in the reserved bucket. Copies keep it (same bytes, same data key).
    #[serde(rename = "r", default, skip_serializing_if = "String::is_empty")]
    pub record: String,
}

fn attrs_cipher(dek: &DataKey) -> GcmKey {
    let hk = Hkdf::<Sha256>::new(None, &dek.0);
    let mut key = [0u8; KEY_LEN];
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = hk.expand(ATTRS_KEY_INFO, &mut key);
    GcmKey::new(&key)
}

impl ObjectAttributes {
    /// Seals the attributes: base64url(`nonce || ciphertext || tag`) for upstream metadata.
    pub fn seal(&self, dek: &DataKey) -> Result<String, EnvelopeError> {
        let json = serde_json::to_vec(self).map_err(|_| EnvelopeError::Internal("attributes encode"))?;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = Vec::with_capacity(NONCE_LEN + json.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&json);
        let tag = attrs_cipher(dek)
            .seal(nonce, ATTRS_KEY_INFO, &mut out[NONCE_LEN..])
            .ok_or(EnvelopeError::Internal("attributes encryption failed"))?;
        out.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens attributes sealed by [`Self::seal`] under the same data key.
    pub fn open(dek: &DataKey, value: &str) -> Result<Self, EnvelopeError> {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(value.trim())
            .map_err(|_| EnvelopeError::AttributesCorrupt)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(EnvelopeError::AttributesCorrupt);
        }
        let (nonce, rest) = bytes.split_at_mut(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = (&*nonce).try_into().map_err(|_| EnvelopeError::AttributesCorrupt)?;
        let json_len = attrs_cipher(dek)
            .open(nonce, ATTRS_KEY_INFO, rest)
            .ok_or(EnvelopeError::AttributesCorrupt)?;
        serde_json::from_slice(&rest[..json_len]).map_err(|_| EnvelopeError::AttributesCorrupt)
    }
}
