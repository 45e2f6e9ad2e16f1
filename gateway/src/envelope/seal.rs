//! Sealing: plaintext chunks of any size in, stored segments out, a few segments of memory.

use std::pin::Pin;
use std::task::{Context, Poll};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Nonce};
use bytes::{Buf, Bytes, BytesMut};
use futures::Stream;

use super::format::{NONCE_LEN, SEGMENT_PLAINTEXT_LEN, TAG_LEN, segment_aad, segment_nonce};
use super::{DataKey, EnvelopeError};

/// Seals the segments of one stream (one PUT body or one multipart part), in order.
pub struct SegmentSealer {
    cipher: Aes256Gcm,
    stream_id: [u8; 8],
    part: u32,
    next_index: u32,
}

impl SegmentSealer {
    /// A sealer for part `part` (0 for a single PUT, 1..=10000 for multipart parts) with a
    /// fresh stream id: the part number (u16, big-endian) then 6 random bytes, so a reader of a
    /// multipart object learns each segment's part from its (authenticated) nonce.
    pub fn new(dek: &DataKey, part: u32) -> Self {
        Self::with_stream_id(dek, part, stream_id_for(part))
    }

    /// A sealer with a chosen stream id; only test vectors should need this.
    pub fn with_stream_id(dek: &DataKey, part: u32, stream_id: [u8; 8]) -> Self {
        Self {
            cipher: dek.cipher(),
            stream_id,
            part,
            next_index: 0,
        }
    }

    /// Seals the next segment: `nonce || ciphertext || tag`.
    pub fn seal(&mut self, plaintext: &[u8], is_final: bool) -> Result<Bytes, EnvelopeError> {
        let index = self.next_index;
        self.next_index = index.checked_add(1).ok_or(EnvelopeError::TooManySegments)?;
        let nonce = segment_nonce(self.stream_id, index);
        let aad = segment_aad(self.part, index, is_final);
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(nonce), &aad, (&mut out[NONCE_LEN..]).into())
            .map_err(|_| EnvelopeError::Internal("segment encryption failed"))?;
        out.extend_from_slice(&tag);
        Ok(Bytes::from(out))
    }
}

/// A stream of stored segments made from a stream of plaintext chunks.
///
/// When `expected_len` is set, the stream fails (rather than ending cleanly) if the input is
/// shorter or longer, so an upstream never stores a silently truncated object.
pub struct SealStream<S> {
    input: S,
    sealer: SegmentSealer,
    pending: BytesMut,
    received: u64,
    expected_len: Option<u64>,
    input_done: bool,
    finished: bool,
}

impl<S> SealStream<S> {
    /// Seals `input` with `sealer`.
    pub fn new(input: S, sealer: SegmentSealer, expected_len: Option<u64>) -> Self {
        Self {
            input,
            sealer,
            pending: BytesMut::new(),
            received: 0,
            expected_len,
            input_done: false,
            finished: false,
        }
    }

    fn fail(&mut self, error: EnvelopeError) -> Poll<Option<Result<Bytes, EnvelopeError>>> {
        self.finished = true;
        Poll::Ready(Some(Err(error)))
    }
}

const SEGMENT: usize = SEGMENT_PLAINTEXT_LEN as usize;

impl<S, E> Stream for SealStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, EnvelopeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            // Seal a full segment only once more input is known to follow: the last one is final.
            if this.pending.len() > SEGMENT {
                let sealed = this.sealer.seal(&this.pending[..SEGMENT], false);
                this.pending.advance(SEGMENT);
                return Poll::Ready(Some(sealed));
            }
            if this.input_done {
                if let Some(expected) = this.expected_len
                    && expected != this.received
                {
                    return this.fail(EnvelopeError::LengthMismatch {
                        expected,
                        actual: this.received,
                    });
                }
                this.finished = true;
                let sealed = this.sealer.seal(&this.pending, true);
                this.pending.clear();
                return Poll::Ready(Some(sealed));
            }
            match Pin::new(&mut this.input).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.received += chunk.len() as u64;
                    if let Some(expected) = this.expected_len
                        && this.received > expected
                    {
                        return this.fail(EnvelopeError::LengthMismatch {
                            expected,
                            actual: this.received,
                        });
                    }
                    this.pending.extend_from_slice(&chunk);
                }
                Poll::Ready(Some(Err(e))) => return this.fail(EnvelopeError::Input(e.into())),
                Poll::Ready(None) => this.input_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The stream id of a new stream of `part`: part number (2 bytes) || 6 random bytes.
pub fn stream_id_for(part: u32) -> [u8; 8] {
    let mut id: [u8; 8] = rand::random();
    let part16 = u16::try_from(part).unwrap_or(u16::MAX);
    id[..2].copy_from_slice(&part16.to_be_bytes());
    id
}
