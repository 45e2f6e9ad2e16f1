//! Reading objects (GetObject, HeadObject, and the plaintext other operations consume): from
//! the first region that answers, the envelope opened on the way out, only the segments a
//! range needs fetched, and a body continued from the other region when one breaks.

use std::sync::Arc;

use futures::TryStreamExt;

use super::Store;
use super::customer::SseC;
use super::etag::Conditions;
use super::heal::{Heal, HealingStream, healing};
use super::object::{ObjectView, PlainStream, is_multipart};
use super::parts::check_part_number;
use crate::envelope::StreamLayout;
use crate::envelope::format::{SEGMENT_PLAINTEXT_LEN, SEGMENT_STORED_LEN, plaintext_len};
use crate::error::{ApiError, ApiResult};
use crate::replication::{BodySource, ReadScope, resumable};
use crate::upstream::{StoredBody, StoredObject, Upstream, UpstreamError, UpstreamErrorKind};

/// A `Range` header's byte range of the plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-` or `bytes=first-last` (inclusive).
    From {
        /// First byte.
        first: u64,
        /// Last byte, inclusive (clamped to the object).
        last: Option<u64>,
    },
    /// `bytes=-length`: the last `length` bytes.
    Suffix {
        /// How many.
        length: u64,
    },
}

impl ByteRange {
    /// The inclusive byte range of an object of `len` bytes, as S3 resolves it; `None` when
    /// it is not satisfiable (which includes every range of an empty object).
    pub fn resolve(self, len: u64) -> Option<(u64, u64)> {
        match self {
            Self::From { first, last } => {
                let last = last.unwrap_or(u64::MAX).min(len.checked_sub(1)?);
                (first <= last).then_some((first, last))
            }
            Self::Suffix { length } => {
                let length = length.min(len);
                (length > 0).then(|| (len - length, len - 1))
            }
        }
    }
}

/// What shapes a GetObject or HeadObject.
pub struct ReadRequest<'a> {
    /// Client bucket.
    pub bucket: &'a str,
    /// Object key.
    pub key: &'a str,
    /// Conditional headers.
    pub conditions: Conditions,
    /// The request's SSE-C key.
    pub sse_c: Option<SseC>,
    /// `Range`.
    pub range: Option<ByteRange>,
    /// `partNumber`.
    pub part_number: Option<i32>,
}

impl ReadRequest<'_> {
    /// What the read is about, for choosing a region that is current for it.
    fn scope(&self) -> ReadScope<'_> {
        ReadScope::Key {
            bucket: self.bucket,
            key: self.key,
        }
    }
}

/// An object being read: what the response headers say, and the plaintext.
pub struct ObjectRead {
    /// The opened object.
    pub view: ObjectView,
    /// Bytes the body yields.
    pub content_length: u64,
    /// The inclusive range served and the object's length, for a ranged or part read.
    pub content_range: Option<(u64, u64, u64)>,
    /// The object's part count, for a part read.
    pub parts_count: Option<i32>,
    /// The plaintext; it fails (never ends early) on tampering, truncation or upstream errors.
    pub body: HealingStream,
}

/// An object's response headers, as HeadObject answers them.
pub struct ObjectHead {
    /// The opened object.
    pub view: ObjectView,
    /// Bytes a GET of the same request would yield.
    pub content_length: u64,
    /// The inclusive range and the object's length, for a ranged or part HEAD.
    pub content_range: Option<(u64, u64, u64)>,
    /// The object's part count, for a part HEAD.
    pub parts_count: Option<i32>,
}

impl Store {
    /// GetObject: the object's view and its plaintext, for the whole object, a range or a part.
    pub async fn get_object(&self, read: &ReadRequest<'_>) -> ApiResult<ObjectRead> {
        get_object(self, read).await
    }

    /// NoSuchKey unless the key holds an object; opens nothing, so needs no SSE-C key (for
    /// the probes that only ask whether an object is there).
    pub async fn object_exists(&self, bucket: &str, key: &str) -> ApiResult<()> {
        self.regions
            .read(ReadScope::Key { bucket, key }, |up| up.head_object(bucket, key))
            .await?;
        Ok(())
    }

    /// HeadObject: what a GET of the same request would answer, without its body.
    pub async fn head_object(&self, read: &ReadRequest<'_>) -> ApiResult<ObjectHead> {
        head_object(self, read).await
    }
}

async fn get_object(store: &Store, read: &ReadRequest<'_>) -> ApiResult<ObjectRead> {
    let (range, parts_count) = requested_range(store, read).await?;
    let (view, body, range, served_by) = match &range {
        None => full_read(store, read).await?,
        Some(range) => ranged_read(store, read, range).await?,
    };

    // `window`: the inclusive plaintext range served, where a healed body resumes from.
    let (layout, content_range, window) = match range {
        None => (
            StreamLayout::whole(0, view.plaintext_len),
            None,
            (0, view.plaintext_len.saturating_sub(1)),
        ),
        Some((layout, start, end)) => (layout, Some((start, end, view.plaintext_len)), (start, end)),
    };
    let content_length = layout.len;
    let plain = open_body(store, &view, layout, (read.bucket, read.key), served_by, body);
    let body = healing(
        plain,
        Heal {
            keyring: store.keyring()?,
            regions: Arc::clone(&store.regions),
            metrics: Arc::clone(&store.metrics),
            bucket: read.bucket.to_owned(),
            key: read.key.to_owned(),
            customer_key: read.sse_c.as_ref().map(|s| s.key),
            header: view.header.clone(),
            plaintext_len: view.plaintext_len,
            window,
            served_by,
        },
    );
    store
        .metrics
        .s3_payload_bytes
        .with_label_values(&["GetObject", "out"])
        .inc_by(content_length);
    Ok(ObjectRead {
        view,
        content_length,
        content_range,
        parts_count,
        body,
    })
}

async fn head_object(store: &Store, read: &ReadRequest<'_>) -> ApiResult<ObjectHead> {
    let (range, parts_count) = requested_range(store, read).await?;
    let view = store
        .regions
        .read(read.scope(), |up: &Upstream| async move {
            let stored = up.head_object(read.bucket, read.key).await?;
            opened_or_failover(store, up, read, &stored)
        })
        .await??;
    check_conditions(&read.conditions, &view)?;
    let (content_length, content_range) = match range {
        None => (view.plaintext_len, None),
        Some(range) => {
            let (start, end) = range.resolve(view.plaintext_len).ok_or(ApiError::InvalidRange)?;
            (end - start + 1, Some((start, end, view.plaintext_len)))
        }
    };
    Ok(ObjectHead {
        view,
        content_length,
        content_range,
        parts_count,
    })
}

/// The plaintext range a read asks for, and the object's part count when it names a part.
///
/// `partNumber` of a multipart object is the range of that stored part: parts are whole
/// segments but the last, so part N's first stored byte maps onto a plaintext offset, and its
/// stored length onto its plaintext length. Part 1 of a single PUT is the whole object. For an
/// upload whose parts were cut again at completion these are the stored parts, not the client's.
async fn requested_range(store: &Store, read: &ReadRequest<'_>) -> ApiResult<(Option<ByteRange>, Option<i32>)> {
    let Some(part) = read.part_number else {
        return Ok((read.range, None));
    };
    if read.range.is_some() {
        return Err(ApiError::InvalidRequest(
            "Range and partNumber cannot both be given".into(),
        ));
    }
    check_part_number(part)?;
    let stored = store
        .regions
        .read(read.scope(), |up: &Upstream| async move {
            up.head_object(read.bucket, read.key).await
        })
        .await?;
    if !is_multipart(&stored) {
        return if part == 1 {
            Ok((None, None))
        } else {
            Err(ApiError::InvalidPartNumber(part))
        };
    }
    let stored_part = store
        .regions
        .read(read.scope(), |up: &Upstream| async move {
            up.head_object_part(read.bucket, read.key, part).await
        })
        .await
        .map_err(|e| match e.kind {
            UpstreamErrorKind::InvalidRange => ApiError::InvalidPartNumber(part),
            _ => e.into(),
        })?;
    let range =
        part_plaintext_range(stored_part.range).ok_or(ApiError::Internal("a stored part off the segment grid"))?;
    Ok((range, stored_part.parts_count))
}

/// The plaintext bytes of a stored part (inclusive stored range), as a client range; `None`
/// inside means an empty part (the only part of an empty object: the whole object).
fn part_plaintext_range((first, last): (u64, u64)) -> Option<Option<ByteRange>> {
    if !first.is_multiple_of(SEGMENT_STORED_LEN) {
        return None;
    }
    let start = first / SEGMENT_STORED_LEN * SEGMENT_PLAINTEXT_LEN;
    let len = plaintext_len(last - first + 1)?;
    Some((len > 0).then(|| ByteRange::From {
        first: start,
        last: Some(start + len - 1),
    }))
}

/// The opened object, its body, the range served (if any), and the index of the serving region.
type Opened = (ObjectView, StoredBody, Option<(StreamLayout, u64, u64)>, usize);

/// One upstream GET of the whole object; headers are checked before any body byte is used.
async fn full_read(store: &Store, read: &ReadRequest<'_>) -> ApiResult<Opened> {
    let (upstream, body, view) = store
        .regions
        .read(read.scope(), |up: &Upstream| async move {
            let body = up.get_object(read.bucket, read.key, None, None).await?;
            let view = opened_or_failover(store, up, read, &body.object)?;
            Ok((up, body, view))
        })
        .await?;
    let view = view?;
    check_conditions(&read.conditions, &view)?;
    Ok((view, body, None, store.regions.index_of(upstream)))
}

/// Opens a copy's envelope. A copy that fails authentication (corruption, tampering) is an
/// upstream failure, so the read fails over to the other region's copy; other failures (a
/// missing or wrong SSE-C key) are the client's answer.
fn opened_or_failover(
    store: &Store,
    up: &Upstream,
    read: &ReadRequest<'_>,
    stored: &StoredObject,
) -> Result<ApiResult<ObjectView>, UpstreamError> {
    match store.open_view(read.bucket, read.key, stored, read.sse_c.as_ref()) {
        Err(ApiError::Envelope(e)) if e.is_integrity_failure() => {
            store
                .regions
                .report_damaged(store.regions.index_of(up), read.bucket, read.key);
            Err(UpstreamError::new(
                up.name(),
                "GetObject",
                UpstreamErrorKind::Corrupt,
                format!("stored copy failed authentication: {e}"),
            ))
        }
        other => Ok(other),
    }
}

/// HEAD for the size, then a GET of just the covering segments, pinned to the same version.
async fn ranged_read(store: &Store, read: &ReadRequest<'_>, range: &ByteRange) -> ApiResult<Opened> {
    let (upstream, view) = store
        .regions
        .read(read.scope(), |up: &Upstream| async move {
            let stored = up.head_object(read.bucket, read.key).await?;
            Ok((up, opened_or_failover(store, up, read, &stored)?))
        })
        .await?;
    let view = view?;
    check_conditions(&read.conditions, &view)?;
    let (start, end) = range.resolve(view.plaintext_len).ok_or(ApiError::InvalidRange)?;
    let (layout, span) = StreamLayout::for_range(0, view.plaintext_len, start, end).ok_or(ApiError::InvalidRange)?;
    let body = upstream
        .get_object(
            read.bucket,
            read.key,
            Some((span.stored_start, span.stored_end)),
            Some(&view.upstream_etag),
        )
        .await?;
    Ok((view, body, Some((layout, start, end)), store.regions.index_of(upstream)))
}

fn check_conditions(conditions: &Conditions, view: &ObjectView) -> ApiResult<()> {
    conditions.check(&view.etag, view.last_modified)
}

/// The plaintext of `body` (the stored bytes of `layout`'s segments, served by region
/// `served_by`): continued from the other region if the stream fails mid-way, opened through
/// the envelope, with authentication failures counted and logged.
fn open_body(
    store: &Store,
    view: &ObjectView,
    layout: StreamLayout,
    (bucket, key): (&str, &str),
    served_by: usize,
    body: StoredBody,
) -> PlainStream {
    let source = BodySource {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        etag: view.upstream_etag.clone(),
        region: served_by,
        start: layout.first_segment * SEGMENT_STORED_LEN,
        end: layout.last_segment * SEGMENT_STORED_LEN + layout.last_stored_len,
    };
    let stored = resumable(
        Arc::clone(&store.regions),
        source,
        body,
        store.regions.read_stall_timeout(),
    );
    let opened = view.open_stream(stored, layout);
    let metrics = Arc::clone(&store.metrics);
    let regions = Arc::clone(&store.regions);
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    Box::new(opened.inspect_err(move |e| {
        if e.is_integrity_failure() {
            metrics
                .envelope_integrity_failures
                .with_label_values(&["segment"])
                .inc();
            tracing::error!(error = %e, "stored object failed authentication while streaming");
            regions.report_damaged(served_by, &bucket, &key);
        }
    }))
}

// === plaintext reads for other operations ===

/// A stored object opened for reading through the envelope.
pub(super) struct PlainRead {
    /// Plaintext bytes `body` yields.
    pub len: u64,
    /// The plaintext; it fails (never ends early) on tampering, truncation or upstream errors.
    pub body: PlainStream,
}

/// Reads a stored object's plaintext the way a ranged GET does, for operations that consume
/// an object rather than serve it (UploadPartCopy): HEAD through `Regions::read`, then `choose`
/// checks the opened object and picks the inclusive plaintext range to read (`None`: all of
/// it), then one GET of just the covering segments on the region that answered the HEAD,
/// pinned to that version by an upstream `If-Match`. The body streams: memory stays at a few
/// segments whatever the size. An SSE-C object opens only with its customer key.
pub(super) async fn read_plaintext(
    store: &Store,
    (bucket, key): (&str, &str),
    sse_c: Option<&SseC>,
    choose: impl FnOnce(&ObjectView) -> ApiResult<Option<(u64, u64)>>,
) -> ApiResult<PlainRead> {
    let (upstream, stored) = store
        .regions
        .read(ReadScope::Key { bucket, key }, |up: &Upstream| head_at(up, bucket, key))
        .await?;
    let view = store.open_view(bucket, key, &stored, sse_c)?;
    let (layout, stored_range) = match choose(&view)? {
        None => (StreamLayout::whole(0, view.plaintext_len), None),
        Some((start, end)) => {
            let (layout, span) =
                StreamLayout::for_range(0, view.plaintext_len, start, end).ok_or(ApiError::InvalidRange)?;
            (layout, Some((span.stored_start, span.stored_end)))
        }
    };
    let body = upstream
        .get_object(bucket, key, stored_range, Some(&view.upstream_etag))
        .await?;
    let served_by = store.regions.index_of(upstream);
    let counted = open_body(store, &view, layout, (bucket, key), served_by, body);
    Ok(PlainRead {
        len: layout.len,
        body: counted,
    })
}

/// HEAD on `up`, answering which region answered (to read the body from the same one).
async fn head_at<'a>(up: &'a Upstream, bucket: &str, key: &str) -> Result<(&'a Upstream, StoredObject), UpstreamError> {
    Ok((up, up.head_object(bucket, key).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_part_maps_onto_its_plaintext_bytes() {
        let part_two = part_plaintext_range((80 * SEGMENT_STORED_LEN, 81 * SEGMENT_STORED_LEN + 28 + 99));
        assert_eq!(
            part_two,
            Some(Some(ByteRange::From {
                first: 80 * SEGMENT_PLAINTEXT_LEN,
                last: Some(81 * SEGMENT_PLAINTEXT_LEN + 99),
            }))
        );
        assert_eq!(part_plaintext_range((0, 27)), Some(None), "the empty only part");
        assert_eq!(part_plaintext_range((5, 100)), None, "off the segment grid");
        assert_eq!(part_plaintext_range((0, 10)), None, "no valid stored length");
    }
}
