//! GetObject and HeadObject: read from the first region that answers, open the envelope on
//! the way out, fetch only the segments a range needs.

use std::sync::Arc;

use futures::TryStreamExt;
use s3s::S3Request;
use s3s::dto::{GetObjectInput, GetObjectOutput, HeadObjectInput, HeadObjectOutput, Range, StreamingBlob, Timestamp};

use super::Gateway;
use super::etag::ReadConditions;
use super::object::ObjectView;
use super::sse_c::SseC;
use bytes::Bytes;
use futures::Stream;

use crate::envelope::format::{SEGMENT_PLAINTEXT_LEN, SEGMENT_STORED_LEN, plaintext_len};
use crate::envelope::{EnvelopeError, StreamLayout};
use crate::error::{ApiError, ApiResult};
use crate::replication::{BodySource, Regions, resumable};
use crate::upstream::{StoredBody, Upstream};

/// The parts of GetObject's and HeadObject's inputs that shape the read.
struct ReadRequest<'a> {
    bucket: &'a str,
    key: &'a str,
    conditions: ReadConditions<'a>,
    sse_c: Option<SseC>,
}

/// The [`ReadRequest`] of a GetObject or HeadObject input (same field names in both).
macro_rules! read_request {
    ($input:expr) => {
        ReadRequest {
            bucket: &$input.bucket,
            key: &$input.key,
            conditions: ReadConditions {
                if_match: $input.if_match.as_ref(),
                if_none_match: $input.if_none_match.as_ref(),
                if_modified_since: $input.if_modified_since.as_ref(),
                if_unmodified_since: $input.if_unmodified_since.as_ref(),
            },
            sse_c: super::sse_c::request_sse_c!($input)?,
        }
    };
}

pub async fn get_object(gw: &Gateway, req: S3Request<GetObjectInput>) -> ApiResult<GetObjectOutput> {
    let input = &req.input;
    let read = read_request!(input);
    let (range, parts_count) = requested_range(gw, &read, input.range, input.part_number).await?;
    let (view, body, range, served_by) = match &range {
        None => full_read(gw, &read).await?,
        Some(range) => ranged_read(gw, &read, range).await?,
    };

    // `window`: the inclusive plaintext range served, where a healed body resumes from.
    let (layout, content_range, window) = match range {
        None => (
            StreamLayout::whole(0, view.plaintext_len),
            None,
            (0, view.plaintext_len.saturating_sub(1)),
        ),
        Some((layout, start, end)) => (
            layout,
            Some(format!("bytes {start}-{end}/{}", view.plaintext_len)),
            (start, end),
        ),
    };
    let content_length = layout.len;
    let plain = open_body(gw, &view, layout, (&input.bucket, &input.key), served_by, body);
    let plain = super::heal::healing(
        plain,
        super::heal::Heal {
            keyring: Arc::clone(&gw.keyring),
            regions: Arc::clone(&gw.regions),
            metrics: Arc::clone(&gw.metrics),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            customer_key: read.sse_c.as_ref().map(|s| s.key),
            header: view.header.clone(),
            plaintext_len: view.plaintext_len,
            window,
            served_by,
        },
    );
    gw.metrics
        .s3_payload_bytes
        .with_label_values(&["GetObject", "out"])
        .inc_by(content_length);
    let attrs = &view.attrs;
    Ok(GetObjectOutput {
        body: Some(if content_length > SEGMENT_PLAINTEXT_LEN {
            StreamingBlob::wrap(read_ahead(plain))
        } else {
            // One segment: nothing to overlap, so no task and channel per small GET.
            StreamingBlob::wrap(sync_wrapper::SyncStream::new(plain))
        }),
        content_length: Some(content_length as i64),
        content_range,
        parts_count,
        accept_ranges: Some("bytes".into()),
        e_tag: Some(s3s::dto::ETag::Strong(view.etag.clone())),
        last_modified: view.last_modified.clone(),
        metadata: view.user_metadata(),
        content_type: input
            .response_content_type
            .clone()
            .or_else(|| attrs.content_type.clone()),
        cache_control: input
            .response_cache_control
            .clone()
            .or_else(|| attrs.cache_control.clone()),
        content_disposition: input
            .response_content_disposition
            .clone()
            .or_else(|| attrs.content_disposition.clone()),
        content_encoding: input
            .response_content_encoding
            .clone()
            .or_else(|| attrs.content_encoding.clone()),
        content_language: input
            .response_content_language
            .clone()
            .or_else(|| attrs.content_language.clone()),
        expires: input.response_expires.clone().or_else(|| view.expires()),
        sse_customer_algorithm: SseC::echo(read.sse_c.as_ref()).0,
        sse_customer_key_md5: SseC::echo(read.sse_c.as_ref()).1,
        ..Default::default()
    })
}

pub async fn head_object(gw: &Gateway, req: S3Request<HeadObjectInput>) -> ApiResult<HeadObjectOutput> {
    let input = &req.input;
    let read = read_request!(input);
    let (range, parts_count) = requested_range(gw, &read, input.range, input.part_number).await?;
    let read = &read;
    let view = gw
        .regions
        .read(|up: &Upstream| async move {
            let stored = up.head_object(read.bucket, read.key).await?;
            opened_or_failover(gw, up, read, &stored)
        })
        .await??;
    check_conditions(&read.conditions, &view)?;
    let (content_length, content_range) = match &range {
        None => (view.plaintext_len, None),
        Some(range) => {
            let r = range.check(view.plaintext_len).map_err(|_| ApiError::InvalidRange)?;
            (
                r.end - r.start,
                Some(format!("bytes {}-{}/{}", r.start, r.end - 1, view.plaintext_len)),
            )
        }
    };
    let attrs = &view.attrs;
    Ok(HeadObjectOutput {
        content_length: Some(content_length as i64),
        content_range,
        parts_count,
        accept_ranges: Some("bytes".into()),
        e_tag: Some(s3s::dto::ETag::Strong(view.etag.clone())),
        last_modified: view.last_modified.clone(),
        metadata: view.user_metadata(),
        content_type: attrs.content_type.clone(),
        cache_control: attrs.cache_control.clone(),
        content_disposition: attrs.content_disposition.clone(),
        content_encoding: attrs.content_encoding.clone(),
        content_language: attrs.content_language.clone(),
        expires: view.expires(),
        sse_customer_algorithm: SseC::echo(read.sse_c.as_ref()).0,
        sse_customer_key_md5: SseC::echo(read.sse_c.as_ref()).1,
        ..Default::default()
    })
}

/// The plaintext range a read asks for, and the object's part count when it names a part.
///
/// `partNumber` of a multipart object is the range of that stored part: parts are whole
/// segments but the last, so part N's first stored byte maps onto a plaintext offset, and its
/// stored length onto its plaintext length. Part 1 of a single PUT is the whole object. For an
/// upload whose parts were cut again at completion these are the stored parts, not the client's.
async fn requested_range(
    gw: &Gateway,
    read: &ReadRequest<'_>,
    range: Option<Range>,
    part_number: Option<i32>,
) -> ApiResult<(Option<Range>, Option<i32>)> {
    let Some(part) = part_number else {
        return Ok((range, None));
    };
    if range.is_some() {
        return Err(ApiError::InvalidRequest(
            "Range and partNumber cannot both be given".into(),
        ));
    }
    super::multipart::check_part_number(part)?;
    let stored = gw
        .regions
        .read(|up: &Upstream| async move { up.head_object(read.bucket, read.key).await })
        .await?;
    let multipart =
        stored.metadata.get(super::object::META_LAYOUT).map(String::as_str) == Some(super::object::LAYOUT_PARTS);
    if !multipart {
        return if part == 1 {
            Ok((None, None))
        } else {
            Err(ApiError::InvalidRange)
        };
    }
    let stored_part = gw
        .regions
        .read(|up: &Upstream| async move { up.head_object_part(read.bucket, read.key, part).await })
        .await?;
    let range =
        part_plaintext_range(stored_part.range).ok_or(ApiError::Internal("a stored part off the segment grid"))?;
    Ok((range, stored_part.parts_count))
}

/// The plaintext bytes of a stored part (inclusive stored range), as a client range; `None`
/// inside means an empty part (the only part of an empty object: the whole object).
fn part_plaintext_range((first, last): (u64, u64)) -> Option<Option<Range>> {
    if !first.is_multiple_of(SEGMENT_STORED_LEN) {
        return None;
    }
    let start = first / SEGMENT_STORED_LEN * SEGMENT_PLAINTEXT_LEN;
    let len = plaintext_len(last - first + 1)?;
    Some((len > 0).then(|| Range::Int {
        first: start,
        last: Some(start + len - 1),
    }))
}

/// The opened object, its body, the range served (if any), and the index of the serving region.
type Opened = (ObjectView, StoredBody, Option<(StreamLayout, u64, u64)>, usize);

/// One upstream GET of the whole object; headers are checked before any body byte is used.
async fn full_read(gw: &Gateway, read: &ReadRequest<'_>) -> ApiResult<Opened> {
    let (upstream, body, view) = gw
        .regions
        .read(|up: &Upstream| async move {
            let body = up.get_object(read.bucket, read.key, None, None).await?;
            let view = opened_or_failover(gw, up, read, &body.object)?;
            Ok((up, body, view))
        })
        .await?;
    let view = view?;
    check_conditions(&read.conditions, &view)?;
    Ok((view, body, None, gw.regions.index_of(upstream)))
}

/// Opens a copy's envelope. A copy that fails authentication (corruption, tampering) is an
/// upstream failure, so the read fails over to the other region's copy; other failures (a
/// missing or wrong SSE-C key) are the client's answer.
fn opened_or_failover(
    gw: &Gateway,
    up: &Upstream,
    read: &ReadRequest<'_>,
    stored: &crate::upstream::StoredObject,
) -> Result<ApiResult<ObjectView>, crate::upstream::UpstreamError> {
    match gw.open_view(read.bucket, read.key, stored, read.sse_c.as_ref()) {
        Err(ApiError::Envelope(e)) if e.is_integrity_failure() => {
            report_damaged(&gw.regions, gw.regions.index_of(up), read.bucket, read.key);
            Err(crate::upstream::UpstreamError::new(
                up.name(),
                "GetObject",
                crate::upstream::UpstreamErrorKind::Corrupt,
                format!("stored copy failed authentication: {e}"),
            ))
        }
        other => Ok(other),
    }
}

/// HEAD for the size, then a GET of just the covering segments, pinned to the same version.
async fn ranged_read(gw: &Gateway, read: &ReadRequest<'_>, range: &Range) -> ApiResult<Opened> {
    let (upstream, view) = gw
        .regions
        .read(|up: &Upstream| async move {
            let stored = up.head_object(read.bucket, read.key).await?;
            Ok((up, opened_or_failover(gw, up, read, &stored)?))
        })
        .await?;
    let view = view?;
    check_conditions(&read.conditions, &view)?;
    let wanted = range.check(view.plaintext_len).map_err(|_| ApiError::InvalidRange)?;
    let (start, end) = (wanted.start, wanted.end - 1);
    let (layout, span) = StreamLayout::for_range(0, view.plaintext_len, start, end).ok_or(ApiError::InvalidRange)?;
    let body = upstream
        .get_object(
            read.bucket,
            read.key,
            Some((span.stored_start, span.stored_end)),
            Some(&view.upstream_etag),
        )
        .await?;
    Ok((view, body, Some((layout, start, end)), gw.regions.index_of(upstream)))
}

fn check_conditions(conditions: &ReadConditions<'_>, view: &ObjectView) -> ApiResult<()> {
    let last_modified: Option<&Timestamp> = view.last_modified.as_ref();
    conditions.check(&view.etag, last_modified)
}

/// Segments opened ahead of the client: enough to keep both cores busy, few enough to bound memory.
const READ_AHEAD_SEGMENTS: usize = 4;

/// Runs the upstream read and decryption in their own task, so they overlap with writing to
/// the client (hyper's task) instead of alternating with it. When the client goes away the
/// channel closes, the task ends and the upstream request is dropped (its connection released).
fn read_ahead<S>(mut opened: S) -> impl Stream<Item = Result<Bytes, EnvelopeError>> + Send + Sync + 'static
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Send + Unpin + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(READ_AHEAD_SEGMENTS);
    tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(item) = opened.next().await {
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The plaintext of `body` (the stored bytes of `layout`'s segments, served by region
/// `served_by`): continued from the other region if the stream fails mid-way, opened through
/// the envelope, with authentication failures counted and logged.
fn open_body(
    gw: &Gateway,
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
    let stored = resumable(Arc::clone(&gw.regions), source, body, gw.regions.read_stall_timeout());
    let opened = view.open_stream(stored, layout);
    let metrics = Arc::clone(&gw.metrics);
    let regions = Arc::clone(&gw.regions);
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    Box::new(opened.inspect_err(move |e| {
        if e.is_integrity_failure() {
            metrics
                .envelope_integrity_failures
                .with_label_values(&["segment"])
                .inc();
            tracing::error!(error = %e, "stored object failed authentication while streaming");
            report_damaged(&regions, served_by, &bucket, &key);
        }
    }))
}

/// Queues region `damaged`'s copy of `bucket`/`key`, which failed authentication when
/// read, for repair: a journal record in the other region makes the repair loop verify both
/// copies and replace the damaged one. In the background: the reader does not wait for it.
fn report_damaged(regions: &Arc<Regions>, damaged: usize, bucket: &str, key: &str) {
    let regions = Arc::clone(regions);
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    tokio::spawn(async move {
        let all = regions.all();
        let record = crate::journal::MissRecord::new(
            all[damaged].name(),
            crate::journal::ChangeKind::Damaged,
            &bucket,
            std::slice::from_ref(&key),
            regions.stamp(),
        );
        if let Err(e) = regions.journal().append(&all[1 - damaged], &record).await {
            tracing::warn!(error = %e, "could not queue a damaged copy for repair");
        }
    });
}

// === plaintext reads for other operations ===

pub(super) use super::object::PlainStream;

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
    gw: &Gateway,
    (bucket, key): (&str, &str),
    sse_c: Option<&SseC>,
    choose: impl FnOnce(&ObjectView) -> ApiResult<Option<(u64, u64)>>,
) -> ApiResult<PlainRead> {
    let (upstream, stored) = gw.regions.read(|up: &Upstream| head_at(up, bucket, key)).await?;
    let view = gw.open_view(bucket, key, &stored, sse_c)?;
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
    let served_by = gw.regions.index_of(upstream);
    let counted = open_body(gw, &view, layout, (bucket, key), served_by, body);
    Ok(PlainRead {
        len: layout.len,
        body: counted,
    })
}

/// HEAD on `up`, answering which region answered (to read the body from the same one).
async fn head_at<'a>(
    up: &'a Upstream,
    bucket: &str,
    key: &str,
) -> Result<(&'a Upstream, crate::upstream::StoredObject), crate::upstream::UpstreamError> {
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
            Some(Some(Range::Int {
                first: 80 * SEGMENT_PLAINTEXT_LEN,
                last: Some(81 * SEGMENT_PLAINTEXT_LEN + 99),
            }))
        );
        assert_eq!(part_plaintext_range((0, 27)), Some(None), "the empty only part");
        assert_eq!(part_plaintext_range((5, 100)), None, "off the segment grid");
        assert_eq!(part_plaintext_range((0, 10)), None, "no valid stored length");
    }
}
