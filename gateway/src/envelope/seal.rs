//! Sealing: plaintext chunks of any size in, stored segments out, a few segments of memory.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures::Stream;

use super::cipher::GcmKey;
use super::format::{NONCE_LEN, SEGMENT_PLAINTEXT_LEN, TAG_LEN, segment_aad, segment_nonce};
use super::{DataKey, EnvelopeError};

/// Seals the segments of one stream (one PUT body or one multipart part), in order.
pub struct SegmentSealer {
    key: GcmKey,
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
            key: dek.cipher(),
            stream_id,
            part,
            next_index: 0,
        }
    }

    /// Seals the next segment: `nonce || ciphertext || tag`.
    pub fn seal(&mut self, plaintext: &[u8], is_final: bool) -> Result<Bytes, EnvelopeError> {
        let mut segment = BytesMut::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        segment.extend_from_slice(&[0; NONCE_LEN]);
        segment.extend_from_slice(plaintext);
        self.seal_filled(segment, is_final)
    }

    /// Seals, in place, a buffer that holds room for the nonce and then the plaintext.
    fn seal_filled(&mut self, mut segment: BytesMut, is_final: bool) -> Result<Bytes, EnvelopeError> {
        let index = self.next_index;
        self.next_index = index.checked_add(1).ok_or(EnvelopeError::TooManySegments)?;
        let nonce = segment_nonce(self.stream_id, index);
        let aad = segment_aad(self.part, index, is_final);
        segment[..NONCE_LEN].copy_from_slice(&nonce);
        let tag = self
            .key
            .seal(nonce, &aad, &mut segment[NONCE_LEN..])
            .ok_or(EnvelopeError::Internal("segment encryption failed"))?;
        segment.extend_from_slice(&tag);
        Ok(segment.freeze())
    }
}

/// A stream of stored segments made from a stream of plaintext chunks.
///
/// Each plaintext byte is copied once, into the buffer of the segment that holds it, and
/// encrypted there. When `expected_len` is set, the stream fails (rather than ending cleanly)
/// if the input is shorter or longer, so an upstream never stores a silently truncated object.
pub struct SealStream<S> {
    input: S,
    sealer: SegmentSealer,
    /// The segment being filled: room for its nonce, then plaintext. Empty between segments.
    segment: BytesMut,
    /// Input received and not yet copied into a segment.
    carry: Bytes,
    received: u64,
    sealed: u64,
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
            segment: BytesMut::new(),
            carry: Bytes::new(),
            received: 0,
            sealed: 0,
            expected_len,
            input_done: false,
            finished: false,
        }
    }

    fn fail(&mut self, error: EnvelopeError) -> Poll<Option<Result<Bytes, EnvelopeError>>> {
        self.finished = true;
        Poll::Ready(Some(Err(error)))
    }

    /// Plaintext bytes in the segment being filled.
    fn filled(&self) -> usize {
        self.segment.len().saturating_sub(NONCE_LEN)
    }

    /// Moves as much of `carry` as fits into the segment being filled.
    fn fill(&mut self) {
        if self.carry.is_empty() {
            return;
        }
        if self.segment.is_empty() {
            self.start_segment();
        }
        let take = (SEGMENT - self.filled()).min(self.carry.len());
        self.segment.extend_from_slice(&self.carry[..take]);
        self.carry.advance(take);
    }

    /// A buffer for the next segment, sized for what the declared length leaves (a small
    /// object does not hold a 64 KiB buffer while it is uploaded), so that it never grows.
    fn start_segment(&mut self) {
        let left = self
            .expected_len
            .map_or(SEGMENT as u64, |len| len.saturating_sub(self.sealed));
        let plain = left.min(SEGMENT as u64) as usize;
        self.segment = BytesMut::with_capacity(NONCE_LEN + plain + TAG_LEN);
        self.segment.extend_from_slice(&[0; NONCE_LEN]);
    }

    fn seal_segment(&mut self, is_final: bool) -> Result<Bytes, EnvelopeError> {
        if self.segment.is_empty() {
            self.start_segment();
        }
        self.sealed += self.filled() as u64;
        let segment = std::mem::take(&mut self.segment);
        self.sealer.seal_filled(segment, is_final)
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
            this.fill();
            // Seal a full segment only once more input is known to follow: the last one is final.
            if this.filled() == SEGMENT && !this.carry.is_empty() {
                return Poll::Ready(Some(this.seal_segment(false)));
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
                return Poll::Ready(Some(this.seal_segment(true)));
            }
            // `carry` is empty here: `fill` took all of it, or the segment is full and the
            // branch above sealed it.
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
                    this.carry = chunk;
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
