//! Opening a multipart object: consecutive part streams, each sealed on its own, read as one.
//!
//! Completion guarantees every non-final part is a whole number of segments (see
//! `docs/FORMAT.md`), so the object is a uniform run of full segments with a short last one,
//! and ranges map onto it exactly as for a single stream. Which part a segment belongs to comes
//! from its nonce (the part number is the stream id's first two bytes, and the AAD
//! authenticates it); where a part ends is learned by the final flag, tried when the
//! non-final reading fails to authenticate.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Nonce, Tag};
use bytes::{Bytes, BytesMut};

use super::format::{NONCE_LEN, SEGMENT_OVERHEAD, SEGMENT_STORED_LEN, TAG_LEN, segment_aad};
use super::open::{Opener, StreamLayout};
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
    cipher: Aes256Gcm,
    layout: StreamLayout,
    next: u64,
    previous: Option<Position>,
}

impl PartsOpener {
    /// An opener for `layout`'s segments of a multipart object under `dek` (`layout.part` is
    /// ignored: parts are read from the nonces).
    pub fn new(dek: &DataKey, layout: StreamLayout) -> Self {
        Self {
            cipher: dek.cipher(),
            layout,
            next: layout.first_segment,
            previous: None,
        }
    }

    fn try_open(
        &self,
        part: u32,
        index: u32,
        is_final: bool,
        nonce: &Nonce<Aes256Gcm>,
        body: &mut [u8],
        tag: &Tag<Aes256Gcm>,
    ) -> bool {
        // aes-gcm checks the tag before decrypting, so a failed attempt leaves `body` untouched.
        let aad = segment_aad(part, index, is_final);
        self.cipher
            .decrypt_inout_detached(nonce, &aad, body.into(), tag)
            .is_ok()
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
        if self.next > self.layout.last_segment {
            None
        } else if self.next == self.layout.last_segment {
            Some(self.layout.last_stored_len as usize)
        } else {
            Some(SEGMENT_STORED_LEN as usize)
        }
    }

    fn open(&mut self, mut segment: BytesMut) -> Result<Bytes, EnvelopeError> {
        let at = self.next;
        let auth = EnvelopeError::SegmentAuth { segment: at };
        if (segment.len() as u64) < SEGMENT_OVERHEAD {
            return Err(EnvelopeError::Truncated { segment: at });
        }
        let mut stream_id = [0u8; 8];
        stream_id.copy_from_slice(&segment[..8]);
        let part = u32::from(u16::from_be_bytes([segment[0], segment[1]]));
        let index = u32::from_be_bytes([segment[8], segment[9], segment[10], segment[11]]);
        if !self.continues(part, stream_id, index) {
            return Err(auth);
        }
        let (nonce, rest) = segment.split_at_mut(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(&nonce[..]).map_err(|_| EnvelopeError::SegmentAuth { segment: at })?;
        let body_len = rest.len() - TAG_LEN;
        let (body, tag) = rest.split_at_mut(body_len);
        let tag = Tag::<Aes256Gcm>::try_from(&tag[..]).map_err(|_| EnvelopeError::SegmentAuth { segment: at })?;
        let is_last = at == self.layout.last_segment;
        let object_ends_here = is_last && self.layout.last_is_final;
        let was_final = if !object_ends_here && self.try_open(part, index, false, &nonce, body, &tag) {
            false
        } else if self.try_open(part, index, true, &nonce, body, &tag) {
            true
        } else if object_ends_here && self.try_open(part, index, false, &nonce, body, &tag) {
            // The object's last segment was sealed as a middle one: whole segments are missing.
            return Err(EnvelopeError::Truncated { segment: at + 1 });
        } else {
            return Err(auth);
        };
        // Only the object's final segment may be short; a part ends in a full segment.
        if (segment.len() as u64) < SEGMENT_STORED_LEN && !object_ends_here {
            return Err(EnvelopeError::SegmentAuth { segment: at });
        }
        self.previous = Some(Position {
            part,
            stream_id,
            index,
            was_final,
        });
        self.next += 1;
        let mut plain = segment.split_off(NONCE_LEN);
        plain.truncate(body_len);
        Ok(plain.freeze())
    }

    fn next_index(&self) -> u64 {
        self.next
    }
}
