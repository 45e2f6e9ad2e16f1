//! Opening a multipart object: consecutive part streams, each sealed on its own, read as one.
//!
//! Completion guarantees every non-final part is a whole number of segments (see
//! `docs/FORMAT.md`), so the object is a uniform run of full segments with a short last one,
//! and ranges map onto it exactly as for a single stream. Which part a segment belongs to comes
//! from its nonce (the part number is the stream id's first two bytes, and the AAD
//! authenticates it); where a part ends is learned by the final flag, tried when the
//! non-final reading fails to authenticate.

use bytes::Bytes;

use super::cipher::GcmKey;
use super::format::{NONCE_LEN, SEGMENT_OVERHEAD, SEGMENT_STORED_LEN, segment_aad};
use super::open::{Opener, StreamLayout, stored_len_at};
use super::stored::StoredSegment;
use super::{DataKey, EnvelopeError};

/// Where the previous segment left the reader.
#[derive(Clone, Copy)]
struct Position {
    part: u32,
    stream_id: [u8; 8],
    index: u32,
    was_final: bool,
}

/// Opens the segments of a multipart object (or a span of them) in order.
pub struct PartsOpener {
    key: GcmKey,
    layout: StreamLayout,
    next: u64,
    previous: Option<Position>,
}

impl PartsOpener {
    /// An opener for `layout`'s segments of a multipart object under `dek` (`layout.part` is
    /// ignored: parts are read from the nonces).
    pub fn new(dek: &DataKey, layout: StreamLayout) -> Self {
        Self {
            key: dek.cipher(),
            layout,
            next: layout.first_segment,
            previous: None,
        }
    }

    /// Opens `segment` as segment `index` of part `part`, final in its part or not. The segment
    /// is left as it was, so a failed attempt can be followed by the other reading.
    fn try_open(
        &self,
        segment: &StoredSegment,
        nonce: [u8; NONCE_LEN],
        part: u32,
        index: u32,
        is_final: bool,
    ) -> Option<Bytes> {
        segment.open(&self.key, nonce, &segment_aad(part, index, is_final))
    }

    /// Checks that `part`/`index`/`stream_id` continue from the previous segment.
    fn continues(&self, part: u32, stream_id: [u8; 8], index: u32) -> bool {
        match self.previous {
            None if self.layout.first_segment == 0 => part == 1 && index == 0,
            None => part >= 1,
            Some(prev) if prev.was_final => index == 0 && part == prev.part + 1,
            Some(prev) => part == prev.part && stream_id == prev.stream_id && index == prev.index.wrapping_add(1),
        }
    }
}

impl Opener for PartsOpener {
    fn next_stored_len(&self) -> Option<usize> {
        stored_len_at(&self.layout, self.next)
    }

    fn open_stored(&mut self, segment: &StoredSegment) -> Result<Bytes, EnvelopeError> {
        let at = self.next;
        let auth = EnvelopeError::SegmentAuth { segment: at };
        let nonce = match segment.nonce() {
            Some(nonce) if segment.len() as u64 >= SEGMENT_OVERHEAD => nonce,
            _ => return Err(EnvelopeError::Truncated { segment: at }),
        };
        let mut stream_id = [0u8; 8];
        stream_id.copy_from_slice(&nonce[..8]);
        let part = u32::from(u16::from_be_bytes([nonce[0], nonce[1]]));
        let index = u32::from_be_bytes([nonce[8], nonce[9], nonce[10], nonce[11]]);
        if !self.continues(part, stream_id, index) {
            return Err(auth);
        }
        let is_last = at == self.layout.last_segment;
        let object_ends_here = is_last && self.layout.last_is_final;
        // A middle segment is tried as such first: only a part's last one needs the second try.
        let middle = || self.try_open(segment, nonce, part, index, false);
        let (plain, was_final) = if !object_ends_here && let Some(plain) = middle() {
            (plain, false)
        } else if let Some(plain) = self.try_open(segment, nonce, part, index, true) {
            (plain, true)
        } else if object_ends_here && middle().is_some() {
            // The object's last segment was sealed as a middle one: whole segments are missing.
            return Err(EnvelopeError::Truncated { segment: at + 1 });
        } else {
            return Err(auth);
        };
        // Only the object's final segment may be short; a part ends in a full segment.
        if (segment.len() as u64) < SEGMENT_STORED_LEN && !object_ends_here {
            return Err(auth);
        }
        self.previous = Some(Position {
            part,
            stream_id,
            index,
            was_final,
        });
        self.next += 1;
        Ok(plain)
    }

    fn next_index(&self) -> u64 {
        self.next
    }
}
