//! GetObject and HeadObject: the read request into the object layer, its answer into s3s's
//! output, and the body handed to hyper with decryption running ahead of the client.

use bytes::Bytes;
use futures::Stream;
use s3s::S3Request;
use s3s::dto::{
    Checksum, ChecksumMode, GetObjectAttributesInput, GetObjectAttributesOutput, GetObjectAttributesParts,
    GetObjectInput, GetObjectOutput, HeadObjectInput, HeadObjectOutput, ObjectAttributes, ObjectPart, StorageClass,
    StreamingBlob,
};

use super::Gateway;
use super::dto;
use super::sse_c::{echo, request_sse_c};
use crate::envelope::EnvelopeError;
use crate::envelope::format::SEGMENT_PLAINTEXT_LEN;
use crate::error::ApiResult;
use crate::store::{Conditions, ObjectView, ReadRequest};

/// The [`ReadRequest`] of a GetObject or HeadObject input (same field names in both).
macro_rules! read_request {
    ($input:expr) => {
        ReadRequest {
            bucket: &$input.bucket,
            key: &$input.key,
            conditions: dto::conditions(
                $input.if_match.as_ref(),
                $input.if_none_match.as_ref(),
                $input.if_modified_since.as_ref(),
                $input.if_unmodified_since.as_ref(),
            ),
            sse_c: request_sse_c!($input)?,
            range: $input.range.map(dto::byte_range),
            part_number: $input.part_number,
        }
    };
}

pub async fn get_object(gw: &Gateway, req: S3Request<GetObjectInput>) -> ApiResult<GetObjectOutput> {
    let input = &req.input;
    let read = read_request!(input);
    let object = gw.store.get_object(&read).await?;
    let (view, content_length) = (&object.view, object.content_length);
    let attrs = &view.attrs;
    let (sse_customer_algorithm, sse_customer_key_md5) = echo(read.sse_c.as_ref());
    let whole = object.content_range.is_none();
    let checksum = answered_checksum(gw, &read, view, input.checksum_mode.as_ref(), whole).await;
    let mut out = GetObjectOutput {
        checksum_type: checksum.checksum_type.clone(),
        content_length: Some(content_length as i64),
        content_range: object.content_range.map(dto::content_range),
        parts_count: object.parts_count,
        accept_ranges: Some("bytes".into()),
        e_tag: Some(dto::etag(&view.etag)),
        last_modified: view.last_modified.map(dto::timestamp),
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
        expires: input.response_expires.clone().or_else(|| dto::expires(view)),
        sse_customer_algorithm,
        sse_customer_key_md5,
        body: Some(if content_length > SEGMENT_PLAINTEXT_LEN {
            StreamingBlob::wrap(read_ahead(object.body))
        } else {
            // One segment: nothing to overlap, so no task and channel per small GET.
            StreamingBlob::wrap(sync_wrapper::SyncStream::new(object.body))
        }),
        ..Default::default()
    };
    dto::set_checksum!(out, checksum);
    Ok(out)
}

pub async fn head_object(gw: &Gateway, req: S3Request<HeadObjectInput>) -> ApiResult<HeadObjectOutput> {
    let input = &req.input;
    let read = read_request!(input);
    let head = gw.store.head_object(&read).await?;
    let view = &head.view;
    let attrs = &view.attrs;
    let (sse_customer_algorithm, sse_customer_key_md5) = echo(read.sse_c.as_ref());
    let whole = head.content_range.is_none();
    let checksum = answered_checksum(gw, &read, view, input.checksum_mode.as_ref(), whole).await;
    let mut out = HeadObjectOutput {
        checksum_type: checksum.checksum_type.clone(),
        content_length: Some(head.content_length as i64),
        content_range: head.content_range.map(dto::content_range),
        parts_count: head.parts_count,
        accept_ranges: Some("bytes".into()),
        e_tag: Some(dto::etag(&view.etag)),
        last_modified: view.last_modified.map(dto::timestamp),
        metadata: view.user_metadata(),
        content_type: attrs.content_type.clone(),
        cache_control: attrs.cache_control.clone(),
        content_disposition: attrs.content_disposition.clone(),
        content_encoding: attrs.content_encoding.clone(),
        content_language: attrs.content_language.clone(),
        expires: dto::expires(view),
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    };
    dto::set_checksum!(out, checksum);
    Ok(out)
}

/// GetObjectAttributes: what a HEAD knows, as S3 lists it. `Checksum` is the object's kept
/// checksum; `ObjectParts` gives the part count of a multipart object, and its parts (size and
/// checksum, paged by `MaxParts` / `PartNumberMarker`) when it was uploaded with a checksum
/// algorithm, as S3 lists them only then.
pub async fn get_object_attributes(
    gw: &Gateway,
    req: S3Request<GetObjectAttributesInput>,
) -> ApiResult<GetObjectAttributesOutput> {
    let input = &req.input;
    // s3s gives one element per header line; clients send one line, comma-separated.
    let wanted = |name: &str| {
        input
            .object_attributes
            .iter()
            .flat_map(|line| line.as_str().split(','))
            .any(|a| a.trim().eq_ignore_ascii_case(name))
    };
    let want_parts = wanted(ObjectAttributes::OBJECT_PARTS);
    let read = ReadRequest {
        bucket: &input.bucket,
        key: &input.key,
        conditions: Conditions::default(),
        sse_c: request_sse_c!(input)?,
        range: None,
        // A part HEAD answers the object's part count (none for a single PUT).
        part_number: want_parts.then_some(1),
    };
    let head = gw.store.head_object(&read).await?;
    let view = &head.view;
    let kept = if wanted(ObjectAttributes::CHECKSUM) || want_parts {
        gw.store.object_checksum(read.bucket, read.key, view).await
    } else {
        None
    };
    let object_parts = match head.parts_count {
        Some(count) if want_parts => Some(object_parts(input, count, kept.as_ref())),
        _ => None,
    };
    Ok(GetObjectAttributesOutput {
        e_tag: wanted(ObjectAttributes::ETAG).then(|| dto::etag(&view.etag)),
        last_modified: view.last_modified.map(dto::timestamp),
        object_size: wanted(ObjectAttributes::OBJECT_SIZE).then_some(view.plaintext_len as i64),
        storage_class: wanted(ObjectAttributes::STORAGE_CLASS)
            .then(|| StorageClass::from_static(StorageClass::STANDARD)),
        checksum: kept
            .as_ref()
            .filter(|_| wanted(ObjectAttributes::CHECKSUM))
            .map(dto::checksum_of),
        object_parts,
        ..Default::default()
    })
}

/// GetObjectAttributes' `ObjectParts`: the part count, and one page of the parts the object's
/// checksum record lists (the client's parts: sizes and checksums).
fn object_parts(
    input: &GetObjectAttributesInput,
    count: i32,
    kept: Option<&crate::envelope::ObjectChecksum>,
) -> GetObjectAttributesParts {
    let mut out = GetObjectAttributesParts {
        total_parts_count: Some(count),
        ..Default::default()
    };
    let Some(kept) = kept.filter(|k| !k.parts.is_empty()) else {
        return out;
    };
    let marker = input.part_number_marker.unwrap_or(0).max(0);
    let max = input.max_parts.unwrap_or(1000).clamp(1, 1000);
    let first = usize::try_from(marker).unwrap_or(0);
    let page: Vec<ObjectPart> = kept
        .parts
        .iter()
        .enumerate()
        .skip(first)
        .take(usize::try_from(max).unwrap_or(1000))
        .map(|(i, (size, value))| {
            let mut part = ObjectPart {
                part_number: i32::try_from(i + 1).ok(),
                size: i64::try_from(*size).ok(),
                ..Default::default()
            };
            dto::set_checksum!(part, dto::checksum_value(&kept.algorithm, value.clone()));
            part
        })
        .collect();
    let truncated = first + page.len() < kept.parts.len();
    out.total_parts_count = i32::try_from(kept.parts.len()).ok();
    out.part_number_marker = Some(marker);
    out.next_part_number_marker = page.last().and_then(|p| p.part_number);
    out.max_parts = Some(max);
    out.is_truncated = Some(truncated);
    out.parts = Some(page);
    out
}

/// The checksum GetObject and HeadObject answer: the object's kept one, only with
/// `x-amz-checksum-mode: ENABLED` and for the whole object (`whole`: no range, no part), as S3.
async fn answered_checksum(
    gw: &Gateway,
    read: &ReadRequest<'_>,
    view: &ObjectView,
    mode: Option<&ChecksumMode>,
    whole: bool,
) -> Checksum {
    if !whole || !dto::checksum_enabled(mode) {
        return Checksum::default();
    }
    match gw.store.object_checksum(read.bucket, read.key, view).await {
        Some(kept) => dto::checksum_of(&kept),
        None => Checksum::default(),
    }
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
