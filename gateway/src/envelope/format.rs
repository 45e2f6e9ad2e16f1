//! The frozen byte layout of envelope version 1: constants, sizes and range arithmetic.
//!
//! Everything here is part of the stored format: **changing any constant or layout breaks every
//! object already written**. A new layout gets a new [`FORMAT_VERSION`].
//!
//! ```text
//! object header (stored base64url in upstream metadata `x-amz-meta-tv-header`)
//! +-------+---------+-------+--------+-------------+--------------+----------------------------+
//! | "TV"  | version | flags | id_len |   key id    |  wrap nonce  | wrapped DEK (32) + tag (16) |
//! | 2 B   | 1 B = 1 | 1 B   | 1 B    | id_len B    |  12 B        | 48 B                        |
//! +-------+---------+-------+--------+-------------+--------------+----------------------------+
//!
//! body: one stream per single PUT (part 0) or per multipart part (part 1..=10000)
//! +--------------------------------+--------------------------------+-----+--------------------+
//! | segment 0                      | segment 1                      | ... | final segment      |
//! | nonce 12 | ct 65536 | tag 16   | nonce 12 | ct 65536 | tag 16   |     | nonce | ct ≤ 65536 | tag |
//! +--------------------------------+--------------------------------+-----+--------------------+
//! segment nonce = stream id (8 B, one per stream) || segment index (u32 big-endian)
//! stream id     = part number (u16 BE) || 6 random bytes
//! segment AAD   = "twinvault/seg/v1" || part number (u32 BE) || segment index (u32 BE) || final (u8 0/1)
//! ```

/// Version byte written in every header. Readers refuse versions they do not know.
pub const FORMAT_VERSION: u8 = 1;

/// Header magic, so a stray metadata value is recognised as "not ours" before anything else.
pub const HEADER_MAGIC: &[u8; 2] = b"TV";

/// Plaintext bytes per segment. 64 KiB keeps per-request memory at a few segments and the
/// per-segment overhead (28 B) at 0.04 %. Changing this breaks existing data.
pub const SEGMENT_PLAINTEXT_LEN: u64 = 64 * 1024;

/// AES-GCM nonce length, stored in front of each segment.
pub const NONCE_LEN: usize = 12;

/// AES-GCM tag length, stored after each segment.
pub const TAG_LEN: usize = 16;

/// Bytes each segment adds to its plaintext.
pub const SEGMENT_OVERHEAD: u64 = (NONCE_LEN + TAG_LEN) as u64;

/// Stored length of a full (non-final) segment.
pub const SEGMENT_STORED_LEN: u64 = SEGMENT_PLAINTEXT_LEN + SEGMENT_OVERHEAD;

/// Length of a data key and of a key-encryption key.
pub const KEY_LEN: usize = 32;

/// Longest key id a header can carry (ids are short names like `k2026-01`).
pub const MAX_KEY_ID_LEN: usize = 64;

/// Domain separation prefix of the segment AAD.
pub const SEGMENT_AAD_PREFIX: &[u8; 16] = b"twinvault/seg/v1";

/// Domain separation prefix of the wrapped data key's AAD.
pub const DEK_AAD_PREFIX: &[u8; 16] = b"twinvault/dek/v1";

/// HKDF info used to derive the key that seals object attributes from the data key.
pub const ATTRS_KEY_INFO: &[u8] = b"twinvault/attrs/v1";

/// Header flag: the data key is additionally bound to a customer-provided (SSE-C) key.
pub const FLAG_SSE_C: u8 = 0b0000_0001;

/// Number of segments a stream of `plaintext_len` bytes is cut into (an empty stream still has
/// one, final, segment so that its end is authenticated).
pub fn segment_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(SEGMENT_PLAINTEXT_LEN).max(1)
}

/// Stored length of a stream holding `plaintext_len` bytes.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    plaintext_len + segment_count(plaintext_len) * SEGMENT_OVERHEAD
}

/// Inverse of [`ciphertext_len`]; `None` when no plaintext length maps to `stored_len`.
pub fn plaintext_len(stored_len: u64) -> Option<u64> {
    let full = stored_len / SEGMENT_STORED_LEN;
    let rest = stored_len % SEGMENT_STORED_LEN;
    match (full, rest) {
        (0, 0) => None,
        (_, 0) => Some(full * SEGMENT_PLAINTEXT_LEN),
        // A short final segment always holds at least one byte, except in the empty stream.
        (0, r) if r == SEGMENT_OVERHEAD => Some(0),
        (_, r) if r <= SEGMENT_OVERHEAD => None,
        (_, r) => Some(full * SEGMENT_PLAINTEXT_LEN + r - SEGMENT_OVERHEAD),
    }
}

/// The stored bytes and segments that cover a plaintext byte range of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSpan {
    /// Index of the first segment to fetch.
    pub first_segment: u64,
    /// Index of the last segment to fetch (inclusive).
    pub last_segment: u64,
    /// Offset of the first stored byte to fetch.
    pub stored_start: u64,
    /// Offset of the last stored byte to fetch (inclusive).
    pub stored_end: u64,
    /// Plaintext bytes to drop from the front of the first opened segment.
    pub skip: u64,
    /// Plaintext bytes to return.
    pub len: u64,
}

/// Maps the plaintext range `start..=end` of a stream of `plaintext_len` bytes onto the stored
/// segments to fetch. `None` when the range is empty or starts past the end; `end` is clamped.
pub fn span_for_range(plaintext_len: u64, start: u64, end: u64) -> Option<SegmentSpan> {
    if start >= plaintext_len || end < start {
        return None;
    }
    let end = end.min(plaintext_len - 1);
    let first_segment = start / SEGMENT_PLAINTEXT_LEN;
    let last_segment = end / SEGMENT_PLAINTEXT_LEN;
    let stored_total = ciphertext_len(plaintext_len);
    let stored_end = ((last_segment + 1) * SEGMENT_STORED_LEN).min(stored_total) - 1;
    Some(SegmentSpan {
        first_segment,
        last_segment,
        stored_start: first_segment * SEGMENT_STORED_LEN,
        stored_end,
        skip: start - first_segment * SEGMENT_PLAINTEXT_LEN,
        len: end - start + 1,
    })
}

/// The nonce of segment `index` in the stream `stream_id`.
pub fn segment_nonce(stream_id: [u8; 8], index: u32) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..8].copy_from_slice(&stream_id);
    nonce[8..].copy_from_slice(&index.to_be_bytes());
    nonce
}

/// The associated data of segment `index` of part `part`.
pub fn segment_aad(part: u32, index: u32, is_final: bool) -> [u8; 25] {
    let mut aad = [0u8; 25];
    aad[..16].copy_from_slice(SEGMENT_AAD_PREFIX);
    aad[16..20].copy_from_slice(&part.to_be_bytes());
    aad[20..24].copy_from_slice(&index.to_be_bytes());
    aad[24] = u8::from(is_final);
    aad
}
