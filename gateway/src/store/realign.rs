//! Multipart uploads whose parts are not whole 64 KiB segments.
//!
//! The stored format wants every part but the last to be whole segments (docs/FORMAT.md §6):
//! then sizes and ranges are arithmetic on the stored length alone, in listings too. Clients
//! pick other sizes (rclone `5000k`, boto3 decimal megabytes, aws-cli and the Go SDK near
//! 10,000 parts), and an upstream part cannot be read back before its upload completes. So every
//! part that might have to move (not whole segments, or under 5 MiB: then it can only be the
//! last) is also written, as it streams, to a staging object in the journal bucket. At
//! completion, an upload whose non-final parts are whole segments completes as it is. Otherwise
//! the staged parts from the first unaligned one on are read back, opened, and sealed again as
//! whole-segment parts of the same upstream upload, which then completes with them: the object
//! gets the usual layout, and nothing else in the gateway needs to know.

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::Store;
use super::parts::{MAX_PART_NUMBER, MatchedPart, needs_staging, staging_key, upload_sealed_part};
use super::upload_id::UploadState;
use crate::envelope::format::{SEGMENT_PLAINTEXT_LEN, ciphertext_len};
use crate::envelope::{DataKey, EnvelopeError, OpenStream, SealStream, SegmentSealer, StreamLayout};
use crate::error::{ApiError, ApiResult};
use crate::replication::Regions;
use crate::upstream::{ListRequest, RegionsUsed, Upstream, UpstreamError, UpstreamErrorKind};

/// Plaintext chunks read back ahead of the sealer.
const READ_AHEAD_CHUNKS: usize = 4;

/// How an upload with unaligned parts is cut again.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Plan {
    /// Position in the part list of the first part that moves.
    pub first: usize,
    /// Plaintext bytes that move (the parts from `first` on).
    pub moved: u64,
    /// Plaintext bytes of each new part but the last: whole segments, at least 5 MiB.
    pub piece_len: u64,
    /// Number of new parts.
    pub pieces: u64,
    /// Upstream part number of the first new part.
    pub first_upstream_number: i32,
}

/// The re-cut for parts of plaintext lengths `lens` (in order); `None` when every non-final
/// part is already whole segments.
pub(super) fn plan(lens: &[u64]) -> ApiResult<Option<Plan>> {
    let count = lens.len();
    let non_final = &lens[..count.saturating_sub(1)];
    let Some(first) = non_final.iter().position(|l| !l.is_multiple_of(SEGMENT_PLAINTEXT_LEN)) else {
        return Ok(None);
    };
    // Everything from `first` on is read back from staging, so it must have been staged.
    if let Some(offset) = lens[first..].iter().position(|&l| !needs_staging(l)) {
        return Err(ApiError::InvalidPart(format!(
            "part {} is a multiple of 64 KiB but follows part {}, which is not; twinvault completes \
             uploads whose parts after the first one that is not a multiple of 64 KiB are not multiples \
             either (upload with one part size)",
            first + offset + 1,
            first + 1
        )));
    }
    let moved: u64 = lens[first..].iter().sum();
    let largest = non_final[first..].iter().copied().max().unwrap_or(0);
    // New parts continue the part count from `first`, so at most this many fit.
    let room = MAX_PART_NUMBER as u64 - first as u64;
    let piece_len = largest
        .max(moved.div_ceil(room))
        .next_multiple_of(SEGMENT_PLAINTEXT_LEN);
    let pieces = moved.div_ceil(piece_len).max(1);
    // New parts take the numbers of the parts they replace, so the stored object's parts are
    // numbered 1..=count and `partNumber` reads address them.
    let first_upstream_number = first + 1;
    Ok(Some(Plan {
        first,
        moved,
        piece_len,
        pieces,
        first_upstream_number: i32::try_from(first_upstream_number).unwrap_or(i32::MAX),
    }))
}

/// Reads the staged parts `parts[plan.first..]` back, seals their plaintext again as
/// `plan.pieces` whole-segment parts (numbered on from `plan.first + 1` inside the ciphertext)
/// and uploads them to each region that `holds` the upload. Returns each region's new parts
/// (upstream number, ETag), `None` for a region that has none (policy "one" lets it miss).
pub(super) async fn rewrite(
    store: &Store,
    state: &UploadState,
    dek: &DataKey,
    target: (&str, &str),
    (parts, holds): (&[MatchedPart], [bool; 2]),
    plan: &Plan,
) -> ApiResult<[Option<Vec<(i32, String)>>; 2]> {
    let readers: Vec<usize> = store
        .regions
        .read_order()
        .iter()
        .map(|up| store.regions.index_of(up))
        .filter(|&i| holds[i])
        .collect();
    let staged = parts[plan.first..]
        .iter()
        .map(|p| Staged {
            key: staging_key(state, p.number),
            part: u32::try_from(p.number).unwrap_or(0),
            etag: p.etag.clone(),
            stored_len: p.stored_len,
        })
        .collect();
    let started = std::time::Instant::now();
    let source = read_back(Arc::clone(&store.regions), readers, staged, dek.clone());
    let mut pieces = Pieces {
        source,
        leftover: Bytes::new(),
    };
    let mut added: [Option<Vec<(i32, String)>>; 2] = holds.map(|h| h.then(Vec::new));
    for k in 0..plan.pieces {
        let len = if k + 1 == plan.pieces {
            plan.moved - k * plan.piece_len
        } else {
            plan.piece_len
        };
        let sealed_number = u32::try_from(plan.first as u64 + 1 + k).unwrap_or(u32::MAX);
        let upstream_number = plan.first_upstream_number + i32::try_from(k).unwrap_or(i32::MAX);
        let piece = Box::pin(pieces.take(len));
        let sealed = SealStream::new(piece, SegmentSealer::new(dek, sealed_number), Some(len));
        let outcome = upload_sealed_part(
            store,
            state,
            target,
            upstream_number,
            (ciphertext_len(len), None),
            sealed,
        )
        .await;
        if let Some(e) = outcome.input_error {
            return Err(read_back_failure(e));
        }
        let settled = store.regions.settle_part(outcome.results)?;
        for (slot, stored) in added.iter_mut().zip(settled) {
            match (slot.as_mut(), stored) {
                (Some(list), Some(stored)) => list.push((upstream_number, stored.etag)),
                (Some(_), None) => *slot = None,
                (None, _) => {}
            }
        }
        if added.iter().all(Option::is_none) {
            return Err(ApiError::Internal("no region took the realigned parts"));
        }
    }
    tracing::info!(
        bucket = target.0,
        moved_bytes = plan.moved,
        parts = plan.pieces,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "multipart upload with parts that are not whole 64 KiB segments realigned"
    );
    Ok(added)
}

/// The error a failed read-back becomes: the upstream's (503, retry) or the envelope's.
fn read_back_failure(error: EnvelopeError) -> ApiError {
    let EnvelopeError::Input(inner) = error else {
        return ApiError::Envelope(error);
    };
    match inner.downcast::<EnvelopeError>() {
        Ok(envelope) => match *envelope {
            EnvelopeError::Input(inner) => match inner.downcast::<UpstreamError>() {
                Ok(upstream) => ApiError::Upstream(*upstream),
                Err(_) => ApiError::Internal("reading back a staged part failed"),
            },
            other => ApiError::Envelope(other),
        },
        Err(_) => ApiError::Internal("reading back a staged part failed"),
    }
}

/// One staged part to read back.
struct Staged {
    key: String,
    part: u32,
    etag: String,
    stored_len: u64,
}

/// The plaintext of `staged`, in order, read from the first of `readers` that has each part
/// as it was uploaded (same ETag and size as the part the upload completes with).
fn read_back(
    regions: Arc<Regions>,
    readers: Vec<usize>,
    staged: Vec<Staged>,
    dek: DataKey,
) -> mpsc::Receiver<Result<Bytes, EnvelopeError>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD_CHUNKS);
    // The regions parts are read back from count for the request's audit line.
    let used = RegionsUsed::current();
    tokio::spawn(RegionsUsed::within(used, async move {
        for part in staged {
            let body = match fetch(&regions, &readers, &part).await {
                Ok(body) => body,
                Err(e) => {
                    let _ = tx.send(Err(EnvelopeError::Input(Box::new(e)))).await;
                    return;
                }
            };
            let Some(plain_len) = crate::envelope::format::plaintext_len(part.stored_len) else {
                let _ = tx.send(Err(EnvelopeError::BadStoredLength(part.stored_len))).await;
                return;
            };
            let mut opened = OpenStream::new(body, &dek, StreamLayout::whole(part.part, plain_len));
            while let Some(item) = opened.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        }
    }));
    rx
}

type StoredChunks = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The stored bytes of one staged part, from the first reader that has the right copy.
async fn fetch(regions: &Regions, readers: &[usize], part: &Staged) -> Result<StoredChunks, UpstreamError> {
    let journal = regions.journal().bucket();
    let mut last = None;
    for &i in readers {
        let up = &regions.all()[i];
        match up.get_object(journal, &part.key, None, None).await {
            Ok(stored) if stored.object.etag == part.etag && stored.object.stored_len == part.stored_len => {
                let body = futures::stream::unfold(stored.body, |mut body| async move {
                    body.next()
                        .await
                        .map(|chunk| (chunk.map_err(std::io::Error::other), body))
                });
                return Ok(Box::pin(body));
            }
            Ok(_) => {
                last = Some(UpstreamError::new(
                    up.name(),
                    "GetObject",
                    UpstreamErrorKind::Other,
                    format!(
                        "the staged copy of part {} is not the upload being completed (re-uploaded meanwhile?)",
                        part.part
                    ),
                ));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        UpstreamError::new(
            "none",
            "GetObject",
            UpstreamErrorKind::Unavailable,
            "no region holds the upload",
        )
    }))
}

/// Cuts one plaintext stream into consecutive pieces of given lengths.
struct Pieces {
    source: mpsc::Receiver<Result<Bytes, EnvelopeError>>,
    leftover: Bytes,
}

impl Pieces {
    /// The next `len` bytes (fewer only if the source ends: the sealer then reports it).
    fn take(&mut self, len: u64) -> impl Stream<Item = Result<Bytes, EnvelopeError>> + Send + '_ {
        futures::stream::unfold((self, len), |(this, remaining)| async move {
            if remaining == 0 {
                return None;
            }
            if this.leftover.is_empty() {
                match this.source.recv().await {
                    Some(Ok(chunk)) => this.leftover = chunk,
                    Some(Err(e)) => return Some((Err(e), (this, 0))),
                    None => return None,
                }
            }
            let take = remaining.min(this.leftover.len() as u64) as usize;
            let chunk = this.leftover.split_to(take);
            Some((Ok(chunk), (this, remaining - take as u64)))
        })
    }
}

/// Deletes an upload's staged parts in both regions, in the background. Best effort: a
/// leftover costs only storage (docs/OPERATIONS.md suggests a lifecycle rule for `staging/`).
pub(super) fn discard_staged(store: &Store, state: &UploadState) {
    let regions = Arc::clone(&store.regions);
    let prefix = crate::reserved::layout::staging_prefix(&state.header);
    tokio::spawn(async move {
        for up in regions.all() {
            if let Err(e) = discard_in(up, regions.journal().bucket(), &prefix).await
                && !e.kind.is_not_found()
            {
                tracing::warn!(error = %e, "staged multipart parts not removed; a lifecycle rule on staging/ reaps them");
            }
        }
    });
}

async fn discard_in(up: &Upstream, journal: &str, prefix: &str) -> Result<(), UpstreamError> {
    let request = ListRequest {
        prefix: Some(prefix.to_owned()),
        max_keys: Some(1000),
        ..Default::default()
    };
    loop {
        let page = up.list_objects_v2(journal, &request).await?;
        let keys: Vec<String> = page
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        up.delete_objects(journal, &keys).await?;
        if !page.is_truncated().unwrap_or(false) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::parts::MIN_PART_SIZE;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn aligned_uploads_are_left_as_they_are() {
        assert_eq!(plan(&[8 * MIB, 8 * MIB, 3]).ok(), Some(None));
        assert_eq!(plan(&[5 * MIB + 1]).ok(), Some(None), "a single part is always fine");
        assert_eq!(plan(&[]).ok(), Some(None));
    }

    #[test]
    fn unaligned_parts_are_cut_again_into_whole_segments_in_their_place() {
        let lens = [8 * MIB, 5 * MIB + 1, 5 * MIB + 1, 12345];
        let plan = plan(&lens).ok().flatten().expect("a plan");
        assert_eq!(plan.first, 1);
        assert_eq!(plan.moved, 10 * MIB + 2 + 12345);
        assert_eq!(plan.piece_len, 5 * MIB + SEGMENT_PLAINTEXT_LEN);
        assert!(plan.piece_len.is_multiple_of(SEGMENT_PLAINTEXT_LEN) && plan.piece_len >= MIN_PART_SIZE);
        assert_eq!(plan.pieces, 2);
        assert_eq!(plan.first_upstream_number, 2);
    }

    #[test]
    fn ten_thousand_parts_still_fit() {
        let mut lens = vec![5 * MIB + 1; 9_999];
        lens.push(7);
        let plan = plan(&lens).ok().flatten().expect("a plan");
        assert!(plan.pieces <= MAX_PART_NUMBER as u64);
        assert_eq!(plan.first_upstream_number, 1);
        assert!(plan.moved.div_ceil(plan.piece_len) == plan.pieces);
    }

    #[test]
    fn a_large_final_part_does_not_push_the_count_past_ten_thousand() {
        let mut lens = vec![5 * MIB + 1; 9_998];
        lens.push(5 * 1024 * MIB - 1);
        let plan = plan(&lens).ok().flatten().expect("a plan");
        assert!(plan.pieces <= MAX_PART_NUMBER as u64);
        assert!(plan.piece_len <= 5 * 1024 * MIB);
    }

    #[test]
    fn an_unstaged_part_after_an_unaligned_one_is_refused() {
        let lens = [5 * MIB + 1, 8 * MIB, 3];
        assert!(matches!(plan(&lens), Err(ApiError::InvalidPart(m)) if m.contains("part 2")));
        let final_aligned = [5 * MIB + 1, 6 * MIB];
        assert!(matches!(plan(&final_aligned), Err(ApiError::InvalidPart(_))));
        // A small aligned final part was staged (under 5 MiB), so it can move.
        assert!(matches!(plan(&[5 * MIB + 1, MIB]), Ok(Some(_))));
    }

    #[test]
    fn staging_is_for_parts_that_may_move() {
        assert!(needs_staging(5 * MIB + 1));
        assert!(
            needs_staging(4 * MIB),
            "a small part can only be the last, which may move"
        );
        assert!(needs_staging(0));
        assert!(!needs_staging(5 * MIB));
        assert!(!needs_staging(8 * MIB));
    }

    #[test]
    fn pieces_are_cut_at_exact_lengths_across_chunk_boundaries() {
        let (tx, rx) = mpsc::channel(8);
        for chunk in [&b"abc"[..], b"defgh", b"i"] {
            tx.try_send(Ok(Bytes::from_static(chunk))).expect("room");
        }
        drop(tx);
        let mut pieces = Pieces {
            source: rx,
            leftover: Bytes::new(),
        };
        let collect = |s: &mut Pieces, n| {
            futures::executor::block_on(s.take(n).map(|c| c.map(|b| b.to_vec()).unwrap_or_default()).concat())
        };
        assert_eq!(collect(&mut pieces, 4), b"abcd");
        assert_eq!(collect(&mut pieces, 4), b"efgh");
        assert_eq!(
            collect(&mut pieces, 4),
            b"i",
            "the source ended: the sealer sees it short"
        );
    }
}
