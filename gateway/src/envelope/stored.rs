//! Stored bytes as they arrive: input chunks queued and handed to openers uncopied.
//!
//! Opening copies each segment's ciphertext once, into the buffer that becomes its plaintext,
//! and decrypts there. Until then the bytes stay in the input's own chunks, which are shared
//! and never written, so an attempt that fails (AWS-LC clears its buffer) can start again.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::cipher::GcmKey;
use super::format::NONCE_LEN;

/// The stored bytes of one segment, in the pieces the input delivered them in.
#[derive(Default)]
pub struct StoredSegment {
    pieces: Vec<Bytes>,
    len: usize,
}

impl StoredSegment {
    /// Stored length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the segment holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The nonce at the front; `None` if the segment is shorter than one.
    pub(crate) fn nonce(&self) -> Option<[u8; NONCE_LEN]> {
        let mut nonce = [0u8; NONCE_LEN];
        (self.copy_front(&mut nonce) == NONCE_LEN).then_some(nonce)
    }

    /// Copies the ciphertext into a buffer of its own and opens it there under `aad`: the
    /// plaintext, or `None` if it does not authenticate. The segment itself is left as it was.
    pub(crate) fn open(&self, key: &GcmKey, nonce: [u8; NONCE_LEN], aad: &[u8]) -> Option<Bytes> {
        let mut body = self.body();
        let plain_len = key.open(nonce, aad, &mut body)?;
        body.truncate(plain_len);
        Some(body.freeze())
    }

    /// A copy of everything after the nonce (ciphertext and tag), in a buffer of exact size.
    fn body(&self) -> BytesMut {
        let mut body = BytesMut::with_capacity(self.len.saturating_sub(NONCE_LEN));
        let mut skip = NONCE_LEN;
        for piece in &self.pieces {
            let from = skip.min(piece.len());
            skip -= from;
            body.extend_from_slice(&piece[from..]);
        }
        body
    }

    /// Copies the first `out.len()` bytes (fewer if the segment is shorter); returns how many.
    fn copy_front(&self, out: &mut [u8]) -> usize {
        let mut copied = 0;
        for piece in &self.pieces {
            let take = piece.len().min(out.len() - copied);
            out[copied..copied + take].copy_from_slice(&piece[..take]);
            copied += take;
        }
        copied
    }

    /// Drops the pieces, so the input's buffers can be freed.
    pub(crate) fn clear(&mut self) {
        self.pieces.clear();
        self.len = 0;
    }

    fn push(&mut self, piece: Bytes) {
        self.len += piece.len();
        self.pieces.push(piece);
    }
}

impl From<Bytes> for StoredSegment {
    fn from(bytes: Bytes) -> Self {
        let mut segment = Self::default();
        segment.push(bytes);
        segment
    }
}

/// Input chunks received and not yet handed out, oldest first.
#[derive(Default)]
pub(crate) struct ChunkQueue {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl ChunkQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Moves the first `n` bytes (at most [`Self::len`]) into `segment`, splitting a chunk
    /// if need be (a reference count, not a copy).
    pub(crate) fn take_into(&mut self, n: usize, segment: &mut StoredSegment) {
        segment.clear();
        let mut left = n.min(self.len);
        self.len -= left;
        while left > 0 {
            let Some(mut chunk) = self.chunks.pop_front() else {
                break;
            };
            if chunk.len() > left {
                self.chunks.push_front(chunk.split_off(left));
            }
            left -= chunk.len();
            segment.push(chunk);
        }
    }
}
