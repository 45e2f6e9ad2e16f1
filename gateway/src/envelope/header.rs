//! The object header: the per-object data key, wrapped by a keyring KEK and bound to the object.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::Sha256;

use super::EnvelopeError;
use super::cipher::GcmKey;
use super::format::{
    DEK_AAD_PREFIX, FLAG_SSE_C, FORMAT_VERSION, HEADER_MAGIC, KEY_LEN, MAX_KEY_ID_LEN, NONCE_LEN, TAG_LEN,
};
use crate::keyring::{Kek, Keyring};

/// The bucket and key an object is stored under; bound into its header so that stored bytes
/// moved to another name no longer open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectIdentity<'a> {
    /// Client-facing bucket name (not the upstream one, so both regions share one header).
    pub bucket: &'a str,
    /// Object key.
    pub key: &'a str,
}

/// A customer-provided key (SSE-C): mixed into the wrapping key, never stored.
#[derive(Clone, Copy)]
pub struct CustomerKey(pub [u8; KEY_LEN]);

impl fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomerKey(**REDACTED**)")
    }
}

/// A per-object data key (DEK). Encrypts the body segments and, through HKDF, the attributes.
#[derive(Clone)]
pub struct DataKey(pub(crate) [u8; KEY_LEN]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(**REDACTED**)")
    }
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    pub(crate) fn cipher(&self) -> GcmKey {
        GcmKey::new(&self.0)
    }
}

const WRAPPED_LEN: usize = KEY_LEN + TAG_LEN;

/// The parsed object header. See [`super::format`] for its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHeader {
    flags: u8,
    key_id: String,
    wrap_nonce: [u8; NONCE_LEN],
    wrapped_key: [u8; WRAPPED_LEN],
}

impl ObjectHeader {
    /// Generates a data key for a new object and wraps it under the keyring's current KEK.
    pub fn create(
        keyring: &Keyring,
        identity: ObjectIdentity<'_>,
        customer_key: Option<&CustomerKey>,
    ) -> Result<(Self, DataKey), EnvelopeError> {
        let dek = DataKey::generate();
        let header = Self::wrap(keyring.current(), &dek, identity, customer_key, rand::random())?;
        Ok((header, dek))
    }

    /// Wraps `dek` under `kek` with an explicit wrap nonce (tests use fixed nonces for vectors).
    pub fn wrap(
        kek: &Kek,
        dek: &DataKey,
        identity: ObjectIdentity<'_>,
        customer_key: Option<&CustomerKey>,
        wrap_nonce: [u8; NONCE_LEN],
    ) -> Result<Self, EnvelopeError> {
        let flags = if customer_key.is_some() { FLAG_SSE_C } else { 0 };
        let cipher = wrapping_cipher(kek, customer_key);
        let aad = dek_aad(flags, kek.id(), identity);
        let mut wrapped_key = [0u8; WRAPPED_LEN];
        wrapped_key[..KEY_LEN].copy_from_slice(&dek.0);
        let tag = cipher
            .seal(wrap_nonce, &aad, &mut wrapped_key[..KEY_LEN])
            .ok_or(EnvelopeError::Internal("data key wrap failed"))?;
        wrapped_key[KEY_LEN..].copy_from_slice(&tag);
        Ok(Self {
            flags,
            key_id: kek.id().to_owned(),
            wrap_nonce,
            wrapped_key,
        })
    }

    /// Unwraps the data key. Fails when the KEK is gone, the customer key is missing or wrong,
    /// the object was moved to another name, or the header was altered.
    pub fn unwrap(
        &self,
        keyring: &Keyring,
        identity: ObjectIdentity<'_>,
        customer_key: Option<&CustomerKey>,
    ) -> Result<DataKey, EnvelopeError> {
        let kek = keyring
            .get(&self.key_id)
            .ok_or_else(|| EnvelopeError::UnknownKeyId(self.key_id.clone()))?;
        match (self.requires_customer_key(), customer_key.is_some()) {
            (true, false) => return Err(EnvelopeError::CustomerKeyRequired),
            (false, true) => return Err(EnvelopeError::CustomerKeyNotExpected),
            _ => {}
        }
        let cipher = wrapping_cipher(kek, customer_key);
        let aad = dek_aad(self.flags, &self.key_id, identity);
        let mut unwrapped = self.wrapped_key;
        cipher
            .open(self.wrap_nonce, &aad, &mut unwrapped)
            .ok_or(EnvelopeError::KeyUnwrapFailed)?;
        let mut dek = [0u8; KEY_LEN];
        dek.copy_from_slice(&unwrapped[..KEY_LEN]);
        Ok(DataKey(dek))
    }

    /// The same data key wrapped under `keyring`'s current KEK for `to` (copy, rename, rotation).
    /// The body is not touched: that is what makes rotation and server-side copy cheap.
    pub fn rewrap(
        &self,
        keyring: &Keyring,
        from: ObjectIdentity<'_>,
        to: ObjectIdentity<'_>,
        customer_key_from: Option<&CustomerKey>,
        customer_key_to: Option<&CustomerKey>,
    ) -> Result<Self, EnvelopeError> {
        let dek = self.unwrap(keyring, from, customer_key_from)?;
        Self::wrap(keyring.current(), &dek, to, customer_key_to, rand::random())
    }

    /// Id of the KEK that wraps this object's data key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Whether reading needs the customer's SSE-C key.
    pub fn requires_customer_key(&self) -> bool {
        self.flags & FLAG_SSE_C != 0
    }

    /// The header's stored bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.key_id.len() + NONCE_LEN + WRAPPED_LEN);
        out.extend_from_slice(HEADER_MAGIC);
        out.push(FORMAT_VERSION);
        out.push(self.flags);
        out.push(self.key_id.len() as u8);
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(&self.wrap_nonce);
        out.extend_from_slice(&self.wrapped_key);
        out
    }

    /// Parses stored header bytes, checking magic, version, flags and lengths.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let rest = bytes
            .strip_prefix(HEADER_MAGIC)
            .ok_or(EnvelopeError::HeaderCorrupt("magic"))?;
        let (&version, rest) = rest.split_first().ok_or(EnvelopeError::HeaderCorrupt("too short"))?;
        if version != FORMAT_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let (&flags, rest) = rest.split_first().ok_or(EnvelopeError::HeaderCorrupt("too short"))?;
        if flags & !FLAG_SSE_C != 0 {
            return Err(EnvelopeError::HeaderCorrupt("unknown flags"));
        }
        let (&id_len, rest) = rest.split_first().ok_or(EnvelopeError::HeaderCorrupt("too short"))?;
        let id_len = usize::from(id_len);
        if id_len == 0 || id_len > MAX_KEY_ID_LEN || rest.len() != id_len + NONCE_LEN + WRAPPED_LEN {
            return Err(EnvelopeError::HeaderCorrupt("length"));
        }
        let (id, rest) = rest.split_at(id_len);
        let key_id = std::str::from_utf8(id).map_err(|_| EnvelopeError::HeaderCorrupt("key id"))?;
        let (nonce, wrapped) = rest.split_at(NONCE_LEN);
        let mut header = Self {
            flags,
            key_id: key_id.to_owned(),
            wrap_nonce: [0; NONCE_LEN],
            wrapped_key: [0; WRAPPED_LEN],
        };
        header.wrap_nonce.copy_from_slice(nonce);
        header.wrapped_key.copy_from_slice(wrapped);
        Ok(header)
    }

    /// The header as an upstream metadata value (base64url, no padding).
    pub fn to_metadata_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.to_bytes())
    }

    /// Parses a metadata value written by [`Self::to_metadata_value`].
    pub fn from_metadata_value(value: &str) -> Result<Self, EnvelopeError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(value.trim())
            .map_err(|_| EnvelopeError::HeaderCorrupt("base64"))?;
        Self::from_bytes(&bytes)
    }
}

/// The AES-256-GCM key that wraps data keys: the KEK itself, or for SSE-C objects a key derived
/// from both the KEK and the customer's key, so that neither alone can unwrap.
fn wrapping_cipher(kek: &Kek, customer_key: Option<&CustomerKey>) -> GcmKey {
    match customer_key {
        None => GcmKey::new(kek.key_bytes()),
        Some(ck) => {
            let hk = Hkdf::<Sha256>::new(Some(kek.key_bytes()), &ck.0);
            let mut derived = [0u8; KEY_LEN];
            // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
            let _ = hk.expand(b"twinvault/sse-c/v1", &mut derived);
            GcmKey::new(&derived)
        }
    }
}

fn dek_aad(flags: u8, key_id: &str, identity: ObjectIdentity<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + key_id.len() + identity.bucket.len() + identity.key.len());
    aad.extend_from_slice(DEK_AAD_PREFIX);
    aad.push(FORMAT_VERSION);
    aad.push(flags);
    for field in [key_id.as_bytes(), identity.bucket.as_bytes(), identity.key.as_bytes()] {
        aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
        aad.extend_from_slice(field);
    }
    aad
}
