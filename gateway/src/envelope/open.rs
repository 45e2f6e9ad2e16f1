//! Opening: stored segments in (whole stream or a fetched span), authenticated plaintext out.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;

use super::cipher::GcmKey;
use super::format::{
    NONCE_LEN, SEGMENT_OVERHEAD, SEGMENT_STORED_LEN, SegmentSpan, ciphertext_len, plaintext_len, segment_aad,
    segment_count, span_for_range,
};
use super::stored::{ChunkQueue, StoredSegment};
use super::{DataKey, EnvelopeError};

/// Which segments of one stream a reader receives, and how long the last one is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLayout {
    /// Part number the stream was sealed as (0 for a single PUT).
    pub part: u32,
    /// Index of the first segment received.
    pub first_segment: u64,
    /// Index of the last segment received (inclusive).
    pub last_segment: u64,
    /// Whether the last received segment is the stream's final one.
    pub last_is_final: bool,
    /// Stored length of the last received segment.
    pub last_stored_len: u64,
    /// Plaintext bytes to drop from the front (range reads).
    pub skip: u64,
    /// Plaintext bytes to deliver in total.
    pub len: u64,
}

impl StreamLayout {
    /// The whole stream of `plaintext_len` bytes.
    pub fn whole(part: u32, plaintext_len: u64) -> Self {
        let last = segment_count(plaintext_len) - 1;
        Self {
            part,
            first_segment: 0,
            last_segment: last,
            last_is_final: true,
            last_stored_len: ciphertext_len(plaintext_len) - last * SEGMENT_STORED_LEN,
            skip: 0,
            len: plaintext_len,
        }
    }

    /// The whole stream, judged from its stored length (offline decryption).
    pub fn from_stored_len(part: u32, stored_len: u64) -> Result<Self, EnvelopeError> {
        let plain = plaintext_len(stored_len).ok_or(EnvelopeError::BadStoredLength(stored_len))?;
        Ok(Self::whole(part, plain))
    }

    /// The segments covering plaintext bytes `start..=end`; `None` if unsatisfiable.
    pub fn for_range(part: u32, plaintext_len: u64, start: u64, end: u64) -> Option<(Self, SegmentSpan)> {
        let span = span_for_range(plaintext_len, start, end)?;
        let final_index = segment_count(plaintext_len) - 1;
        let layout = Self {
            part,
            first_segment: span.first_segment,
            last_segment: span.last_segment,
            last_is_final: span.last_segment == final_index,
            last_stored_len: span.stored_end + 1 - span.last_segment * SEGMENT_STORED_LEN,
            skip: span.skip,
            len: span.len,
        };
        Some((layout, span))
    }
}

/// Opens segments one by one, checking order, stream identity and the final marker.
pub struct SegmentOpener {
    key: GcmKey,
    layout: StreamLayout,
    next_index: u64,
    stream_id: Option<[u8; 8]>,
}

impl SegmentOpener {
    /// An opener for `layout` under `dek`.
    pub fn new(dek: &DataKey, layout: StreamLayout) -> Self {
        Self {
            key: dek.cipher(),
            layout,
            next_index: layout.first_segment,
            stream_id: None,
        }
    }

    /// A segment that was meant to be the last but was sealed as a middle one means the stream
    /// was cut at a segment boundary; say so instead of a bare authentication failure.
    fn diagnose(&self, segment: &StoredSegment, nonce: [u8; NONCE_LEN], index: u32, is_final: bool) -> EnvelopeError {
        let aad = segment_aad(self.layout.part, index, false);
        if is_final && segment.open(&self.key, nonce, &aad).is_some() {
            return EnvelopeError::Truncated {
                segment: u64::from(index) + 1,
            };
        }
        EnvelopeError::SegmentAuth {
            segment: u64::from(index),
        }
    }

    /// Whether every segment of the layout was opened.
    pub fn is_complete(&self) -> bool {
        self.next_index > self.layout.last_segment
    }
}

/// Opens stored segments one at a time, in order (one stream, or the parts of a multipart object).
pub trait Opener {
    /// Stored length of the next expected segment, or `None` when all were opened.
    fn next_stored_len(&self) -> Option<usize>;
    /// Opens the next segment as it arrived, in pieces, returning its plaintext. The pieces
    /// are not written to, so nothing is lost when an attempt fails.
    fn open_stored(&mut self, segment: &StoredSegment) -> Result<Bytes, EnvelopeError>;
    /// Index (within the fetched span's object) of the next expected segment, for errors.
    fn next_index(&self) -> u64;

    /// Opens the next segment, returning its plaintext.
    fn open(&mut self, segment: BytesMut) -> Result<Bytes, EnvelopeError> {
        self.open_stored(&StoredSegment::from(segment.freeze()))
    }
}

/// Stored length of segment `index` of `layout`, or `None` past its last one.
pub(crate) fn stored_len_at(layout: &StreamLayout, index: u64) -> Option<usize> {
    if index > layout.last_segment {
        None
    } else if index == layout.last_segment {
        Some(layout.last_stored_len as usize)
    } else {
        Some(SEGMENT_STORED_LEN as usize)
    }
}

impl Opener for SegmentOpener {
    fn next_stored_len(&self) -> Option<usize> {
        stored_len_at(&self.layout, self.next_index)
    }

    fn open_stored(&mut self, segment: &StoredSegment) -> Result<Bytes, EnvelopeError> {
        let index = self.next_index;
        let is_final = index == self.layout.last_segment && self.layout.last_is_final;
        let nonce = match segment.nonce() {
            Some(nonce) if segment.len() as u64 >= SEGMENT_OVERHEAD => nonce,
            _ => return Err(EnvelopeError::Truncated { segment: index }),
        };
        let index32 = u32::try_from(index).map_err(|_| EnvelopeError::TooManySegments)?;
        let mut stream_id = [0u8; 8];
        stream_id.copy_from_slice(&nonce[..8]);
        // Every segment of a stream carries the same stream id and its own index: this catches
        // segments spliced from another upload of the same part, and reordered segments.
        let expected_id = *self.stream_id.get_or_insert(stream_id);
        if stream_id != expected_id || nonce[8..] != index32.to_be_bytes() {
            return Err(EnvelopeError::SegmentAuth { segment: index });
        }
        let aad = segment_aad(self.layout.part, index32, is_final);
        let plain = segment
            .open(&self.key, nonce, &aad)
            .ok_or_else(|| self.diagnose(segment, nonce, index32, is_final))?;
        self.next_index += 1;
        Ok(plain)
    }

    fn next_index(&self) -> u64 {
        self.next_index
    }
}

/// A stream of plaintext made from a stream of stored segments, trimmed to the layout's window.
///
/// It never ends cleanly unless every expected segment authenticated and nothing followed.
pub struct OpenStream<S, O = SegmentOpener> {
    input: S,
    opener: O,
    /// Input not yet handed to the opener, kept as the input's own chunks (no staging copy).
    pending: ChunkQueue,
    /// The segment being opened; its piece list is reused from one segment to the next.
    segment: StoredSegment,
    skip: u64,
    remaining: u64,
    input_done: bool,
    finished: bool,
}

impl<S> OpenStream<S> {
    /// Opens `input` (exactly the stored bytes of `layout`'s segments) under `dek`.
    pub fn new(input: S, dek: &DataKey, layout: StreamLayout) -> Self {
        Self::with_opener(input, SegmentOpener::new(dek, layout), layout)
    }
}

impl<S, O> OpenStream<S, O> {
    /// Opens `input` with `opener`, delivering `layout`'s plaintext window.
    pub fn with_opener(input: S, opener: O, layout: StreamLayout) -> Self {
        Self {
            input,
            opener,
            pending: ChunkQueue::default(),
            segment: StoredSegment::default(),
            skip: layout.skip,
            remaining: layout.len,
            input_done: false,
            finished: false,
        }
    }

    fn fail(&mut self, error: EnvelopeError) -> Poll<Option<Result<Bytes, EnvelopeError>>> {
        self.finished = true;
        Poll::Ready(Some(Err(error)))
    }

    /// Trims one opened segment to the requested window; `None` when nothing of it is wanted.
    fn window(&mut self, mut plain: Bytes) -> Option<Bytes> {
        let skip = self.skip.min(plain.len() as u64);
        self.skip -= skip;
        plain = plain.slice(skip as usize..);
        let take = self.remaining.min(plain.len() as u64);
        self.remaining -= take;
        plain.truncate(take as usize);
        (!plain.is_empty()).then_some(plain)
    }
}

impl<S, E, O> Stream for OpenStream<S, O>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    O: Opener + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, EnvelopeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.opener.next_stored_len() {
                Some(need) if this.pending.len() >= need => {
                    this.pending.take_into(need, &mut this.segment);
                    let opened = this.opener.open_stored(&this.segment);
                    this.segment.clear();
                    match opened {
                        Ok(plain) => {
                            if let Some(out) = this.window(plain) {
                                return Poll::Ready(Some(Ok(out)));
                            }
                            continue;
                        }
                        Err(e) => return this.fail(e),
                    }
                }
                None if !this.pending.is_empty() => return this.fail(EnvelopeError::TrailingData),
                None if this.input_done => {
                    this.finished = true;
                    return Poll::Ready(None);
                }
                Some(_) if this.input_done => {
                    let segment = this.opener.next_index();
                    return this.fail(EnvelopeError::Truncated { segment });
                }
                _ => {}
            }
            match Pin::new(&mut this.input).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.pending.push(chunk),
                Poll::Ready(Some(Err(e))) => return this.fail(EnvelopeError::Input(e.into())),
                Poll::Ready(None) => this.input_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
