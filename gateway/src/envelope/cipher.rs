//! AES-256-GCM for every envelope operation, from AWS-LC (`aws-lc-rs`).
//!
//! In the envelope bench AWS-LC's AES-GCM seals and opens 2.5 to 3.3 times as fast as the
//! RustCrypto `aes-gcm` crate, and faster than this machine's OpenSSL (docs/BENCHMARKS.md,
//! "The envelope against OpenSSL"); rustls already links it. The `aes-gcm` crate stays as the
//! independent implementation the format tests check this one against (`reference.rs`).
//! AWS-LC keeps the expanded key in memory it allocates itself and clears before freeing it.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::format::{KEY_LEN, NONCE_LEN, TAG_LEN};

/// One AES-256-GCM key. Callers choose the nonces, which the envelope format fixes: random
/// for headers and attributes, stream id and segment index for segments.
pub(crate) struct GcmKey(LessSafeKey);

impl GcmKey {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        // AES-256-GCM takes every 32-byte key; the only other failure is AWS-LC failing to
        // allocate a few hundred bytes, where Rust's own allocations would abort the process.
        let key = UnboundKey::new(&AES_256_GCM, key).expect("AWS-LC accepts every 32-byte AES-256-GCM key");
        Self(LessSafeKey::new(key))
    }

    /// Encrypts `in_out` in place and returns the tag. Fails only for inputs over GCM's
    /// 64 GiB limit, far above a segment.
    pub(crate) fn seal(&self, nonce: [u8; NONCE_LEN], aad: &[u8], in_out: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .ok()?;
        tag.as_ref().try_into().ok()
    }

    /// Checks and decrypts `ciphertext || tag` in place, returning the plaintext's length.
    ///
    /// On failure AWS-LC clears the buffer, so a second attempt (another AAD) needs the
    /// ciphertext again from wherever it came.
    pub(crate) fn open(&self, nonce: [u8; NONCE_LEN], aad: &[u8], ciphertext_and_tag: &mut [u8]) -> Option<usize> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), ciphertext_and_tag)
            .ok()
            .map(|plain| plain.len())
    }
}
