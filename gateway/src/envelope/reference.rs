//! A second implementation of `docs/FORMAT.md`, on the RustCrypto `aes-gcm` crate, that every
//! format test checks the gateway's envelope code against: each opens what the other seals,
//! and both must produce the same bytes, so neither the cipher nor the format can drift
//! unnoticed.
//!
//! Written from the document, not from `seal.rs` or `open.rs`: whole buffers, no streaming, and
//! none of the production helpers (it spells out nonces, AADs and sizes itself).

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

const SEGMENT: usize = 65536;
const STORED_SEGMENT: usize = SEGMENT + 12 + 16;

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&(*key).into())
}

/// `nonce || ciphertext || tag`.
fn seal(key: &[u8; 32], nonce: [u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut body = plaintext.to_vec();
    let tag = cipher(key)
        .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(nonce), aad, (&mut body[..]).into())
        .expect("a short message seals");
    [&nonce[..], &body, &tag[..]].concat()
}

/// Opens `nonce || ciphertext || tag`.
fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 28 {
        return None;
    }
    let (nonce, rest) = sealed.split_at(12);
    let (body, tag) = rest.split_at(rest.len() - 16);
    let nonce = Nonce::<Aes256Gcm>::try_from(nonce).ok()?;
    let tag = Tag::<Aes256Gcm>::try_from(tag).ok()?;
    let mut plain = body.to_vec();
    cipher(key)
        .decrypt_inout_detached(&nonce, aad, (&mut plain[..]).into(), &tag)
        .ok()?;
    Some(plain)
}

/// Section 5: `"twinvault/seg/v1" || be32(part) || be32(i) || u8(final)`.
fn segment_aad(part: u32, index: u32, last: bool) -> Vec<u8> {
    let mut aad = b"twinvault/seg/v1".to_vec();
    aad.extend_from_slice(&part.to_be_bytes());
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

fn segment_nonce(stream_id: [u8; 8], index: u32) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&stream_id);
    nonce[8..].copy_from_slice(&index.to_be_bytes());
    nonce
}

/// Section 5: one stream.
pub(super) fn seal_stream(dek: &[u8; 32], part: u32, stream_id: [u8; 8], plaintext: &[u8]) -> Vec<u8> {
    let count = plaintext.len().div_ceil(SEGMENT).max(1);
    let mut stored = Vec::new();
    for i in 0..count {
        let piece = &plaintext[i * SEGMENT..((i + 1) * SEGMENT).min(plaintext.len())];
        let index = u32::try_from(i).expect("test streams are short");
        let aad = segment_aad(part, index, i == count - 1);
        stored.extend_from_slice(&seal(dek, segment_nonce(stream_id, index), &aad, piece));
    }
    stored
}

/// Section 7: the plaintext length of a stored length, if any.
fn plaintext_len(stored: usize) -> Option<usize> {
    let (full, rest) = (stored / STORED_SEGMENT, stored % STORED_SEGMENT);
    match (full, rest) {
        (0, 0) => None,
        (_, 0) => Some(full * SEGMENT),
        (0, 28) => Some(0),
        (_, r) if r <= 28 => None,
        (_, r) => Some(full * SEGMENT + r - 28),
    }
}

/// Section 5.1: opens a whole stream of part `part`.
pub(super) fn open_stream(dek: &[u8; 32], part: u32, stored: &[u8]) -> Option<Vec<u8>> {
    let count = plaintext_len(stored.len())?.div_ceil(SEGMENT).max(1);
    let mut plain = Vec::new();
    let mut stream_id = None;
    for (i, segment) in stored.chunks(STORED_SEGMENT).enumerate() {
        let index = u32::try_from(i).ok()?;
        let sid = *stream_id.get_or_insert(&segment[..8]);
        if segment[..8] != *sid || segment[8..12] != index.to_be_bytes() {
            return None;
        }
        plain.extend_from_slice(&open(dek, &segment_aad(part, index, i == count - 1), segment)?);
    }
    Some(plain)
}

/// Section 6.1: opens a whole multipart object, learning each part from its segments' nonces.
pub(super) fn open_parts(dek: &[u8; 32], stored: &[u8]) -> Option<Vec<u8>> {
    plaintext_len(stored.len())?;
    let segments: Vec<&[u8]> = stored.chunks(STORED_SEGMENT).collect();
    let mut plain = Vec::new();
    let mut previous: Option<(u32, &[u8], u32, bool)> = None;
    for (k, segment) in segments.iter().enumerate() {
        let part = u32::from(u16::from_be_bytes([segment[0], segment[1]]));
        let index = u32::from_be_bytes([segment[8], segment[9], segment[10], segment[11]]);
        let continues = match previous {
            None => part == 1 && index == 0,
            Some((prev_part, _, _, true)) => part == prev_part + 1 && index == 0,
            Some((prev_part, prev_sid, prev_index, false)) => {
                part == prev_part && segment[..8] == *prev_sid && index == prev_index + 1
            }
        };
        if !continues {
            return None;
        }
        let object_end = k == segments.len() - 1;
        let (opened, last) = if object_end {
            (open(dek, &segment_aad(part, index, true), segment)?, true)
        } else if let Some(p) = open(dek, &segment_aad(part, index, false), segment) {
            (p, false)
        } else {
            (open(dek, &segment_aad(part, index, true), segment)?, true)
        };
        if segment.len() < STORED_SEGMENT && !object_end {
            return None;
        }
        plain.extend_from_slice(&opened);
        previous = Some((part, &segment[..8], index, last));
    }
    Some(plain)
}

/// Section 4.1: the key that wraps the data key.
fn wrapping_key(kek: &[u8; 32], customer_key: Option<&[u8; 32]>) -> [u8; 32] {
    let Some(ck) = customer_key else {
        return *kek;
    };
    let mut derived = [0u8; 32];
    Hkdf::<Sha256>::new(Some(kek), ck)
        .expand(b"twinvault/sse-c/v1", &mut derived)
        .expect("32 bytes of HKDF output");
    derived
}

/// Section 4.1: the DEK-wrap AAD.
fn wrap_aad(flags: u8, kek_id: &str, bucket: &str, key: &str) -> Vec<u8> {
    let mut aad = b"twinvault/dek/v1".to_vec();
    aad.extend_from_slice(&[1, flags]);
    for field in [kek_id, bucket, key] {
        aad.extend_from_slice(&u32::try_from(field.len()).expect("short name").to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    aad
}

/// What section 4 needs to wrap or unwrap a data key.
pub(super) struct Wrap<'a> {
    pub kek_id: &'a str,
    pub kek: &'a [u8; 32],
    pub customer_key: Option<&'a [u8; 32]>,
    pub bucket: &'a str,
    pub key: &'a str,
}

impl Wrap<'_> {
    fn flags(&self) -> u8 {
        u8::from(self.customer_key.is_some())
    }

    /// Section 4: the header bytes.
    pub(super) fn header(&self, dek: &[u8; 32], wrap_nonce: [u8; 12]) -> Vec<u8> {
        let aad = wrap_aad(self.flags(), self.kek_id, self.bucket, self.key);
        let wrapped = seal(&wrapping_key(self.kek, self.customer_key), wrap_nonce, &aad, dek);
        let id_len = u8::try_from(self.kek_id.len()).expect("short id");
        [&b"TV"[..], &[1, self.flags(), id_len], self.kek_id.as_bytes(), &wrapped].concat()
    }

    /// Section 4: the data key in `header`, if it authenticates.
    pub(super) fn unwrap(&self, header: &[u8]) -> Option<[u8; 32]> {
        let id_len = usize::from(*header.get(4)?);
        if header.get(..4)? != [b'T', b'V', 1, self.flags()] || header.get(5..5 + id_len)? != self.kek_id.as_bytes() {
            return None;
        }
        let aad = wrap_aad(self.flags(), self.kek_id, self.bucket, self.key);
        open(&wrapping_key(self.kek, self.customer_key), &aad, &header[5 + id_len..])?
            .try_into()
            .ok()
    }
}

/// Section 10: the attributes key.
fn attrs_key(dek: &[u8; 32]) -> [u8; 32] {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, dek)
        .expand(b"twinvault/attrs/v1", &mut key)
        .expect("32 bytes of HKDF output");
    key
}

/// Section 10: `nonce || ciphertext || tag` of the attributes' JSON (before base64url).
pub(super) fn seal_attrs(dek: &[u8; 32], nonce: [u8; 12], json: &[u8]) -> Vec<u8> {
    seal(&attrs_key(dek), nonce, b"twinvault/attrs/v1", json)
}

/// Section 10: the attributes' JSON, if they authenticate.
pub(super) fn open_attrs(dek: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    open(&attrs_key(dek), b"twinvault/attrs/v1", sealed)
}
