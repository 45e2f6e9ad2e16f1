//! Multipart uploads: every part sealed as it streams and written to both regions' upstream
//! uploads at once; the upload id carries the state (see [`super::upload_id`]).
//!
//! Completion requires parts numbered 1..=N without gaps. The stored object must be a uniform
//! run of segments, so that its plaintext size and ranges are pure arithmetic, exactly as for a
//! single PUT: when every non-final part is a whole number of 64 KiB segments (every common
//! client's default part size is) the upload completes as it is; otherwise the parts from the
//! first unaligned one on are cut again at completion ([`super::realign`]).

use std::collections::HashMap;

use bytes::Bytes;
use futures::Stream;
use s3s::S3Request;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput, CompleteMultipartUploadOutput,
    CreateMultipartUploadInput, CreateMultipartUploadOutput, ListPartsInput, ListPartsOutput, Part, UploadPartInput,
    UploadPartOutput,
};

use super::Gateway;
use super::etag::client_etag_dto;
use super::object::{LAYOUT_PARTS, META_ATTRS, META_HEADER, META_LAYOUT};
use super::put::{attributes, body_results, client_checksums, commit_put, seal_body};
use super::realign;
use super::sse_c::{META_SSE_C, SseC, request_sse_c};
use super::upload_id::UploadState;
use super::uploads;
use crate::config::WritePolicy;
use crate::envelope::format::{ciphertext_len, plaintext_len};
use crate::envelope::{DataKey, EnvelopeError, ObjectHeader, ObjectIdentity};
use crate::error::{ApiError, ApiResult};
use crate::replication::{FanoutOutcome, both_ok, fan_out, tee};
use crate::stamp::META_STAMP;
use crate::upstream::{StoredObject, UploadedPart, UpstreamError, UpstreamErrorKind};

/// S3's part-number range.
pub(super) const MAX_PART_NUMBER: i32 = 10_000;
/// S3's smallest non-final part.
pub(super) const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

pub async fn create(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> ApiResult<CreateMultipartUploadOutput> {
    let input = &req.input;
    let sse_c = request_sse_c!(input)?;
    let attrs = attributes!(gw, input)?;
    let identity = ObjectIdentity {
        bucket: &input.bucket,
        key: &input.key,
    };
    let (header, dek) = ObjectHeader::create(&gw.keyring, identity, sse_c.as_ref().map(|s| &s.key))?;
    gw.metrics.envelope_objects.with_label_values(&["seal"]).inc();
    let header_value = header.to_metadata_value();
    let mut metadata = HashMap::new();
    if let Some(sse_c) = &sse_c {
        metadata.insert(META_SSE_C.to_owned(), sse_c.check_value());
    }
    metadata.insert(META_HEADER.to_owned(), header_value.clone());
    metadata.insert(META_ATTRS.to_owned(), attrs.seal(&dek)?);
    metadata.insert(META_LAYOUT.to_owned(), LAYOUT_PARTS.to_owned());
    let stamp = gw.regions.stamp();
    metadata.insert(META_STAMP.to_owned(), stamp.to_string());
    let results = gw
        .regions
        .on_both(|up| up.create_multipart_upload(&input.bucket, &input.key, &metadata))
        .await;
    let one = gw.regions.write_policy() == WritePolicy::One;
    let ids = match results {
        [Ok(a), Ok(b)] => [a, b],
        // Policy "one": the upload goes on in the region that has it; completion journals the
        // other (an empty upstream id marks the region without an upload).
        [Ok(id), Err(e)] if one && e.kind == UpstreamErrorKind::Unavailable => [id, String::new()],
        [Err(e), Ok(id)] if one && e.kind == UpstreamErrorKind::Unavailable => [String::new(), id],
        [Ok(id), Err(e)] | [Err(e), Ok(id)] => {
            // Do not leave the other region's upload dangling.
            let created = if gw.regions.all()[0].name() == e.region { 1 } else { 0 };
            let _ = gw.regions.all()[created]
                .abort_multipart_upload(&input.bucket, &input.key, &id)
                .await;
            return Err(e.into());
        }
        [Err(e), Err(_)] => return Err(e.into()),
    };
    let state = UploadState {
        upstream_ids: ids,
        header: header_value,
        stamp: stamp.to_string(),
        sse_c_check: sse_c.as_ref().map(SseC::check_value),
    };
    let upload_id = state.seal(&gw.keyring, &input.bucket, &input.key)?;
    // ListMultipartUploads can only list what is recorded; an upload it could never list
    // would be a leak, so no record means no upload.
    if let Err(e) = uploads::remember(gw, &input.bucket, &input.key, &state, &upload_id).await {
        let _ = abort_upstream(gw, &input.bucket, &input.key, &state).await;
        return Err(e);
    }
    let (sse_customer_algorithm, sse_customer_key_md5) = SseC::echo(sse_c.as_ref());
    Ok(CreateMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        upload_id: Some(upload_id),
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    })
}

/// The state and data key of an upload id for `bucket`/`key` (`NoSuchUpload` if not ours),
/// opened with the SSE-C key the request carries: an upload started with SSE-C needs the same
/// key on every part, as S3 requires, and one started without refuses a key.
pub(super) fn open_upload(
    gw: &Gateway,
    (bucket, key): (&str, &str),
    upload_id: &str,
    sse_c: Option<&SseC>,
) -> ApiResult<(UploadState, DataKey)> {
    let state = UploadState::open(&gw.keyring, bucket, key, upload_id)?;
    check_upload_key(&state, sse_c)?;
    let dek = upload_data_key(gw, &state, (bucket, key), sse_c)?;
    Ok((state, dek))
}

/// The data key an upload's parts are sealed under, unwrapped from its header.
fn upload_data_key(
    gw: &Gateway,
    state: &UploadState,
    (bucket, key): (&str, &str),
    sse_c: Option<&SseC>,
) -> ApiResult<DataKey> {
    let header = ObjectHeader::from_metadata_value(&state.header)?;
    Ok(header.unwrap(&gw.keyring, ObjectIdentity { bucket, key }, sse_c.map(|s| &s.key))?)
}

/// Checks a request's SSE-C key against the one the upload was started with, before the
/// header is opened (so a wrong key is AccessDenied, not an integrity failure).
fn check_upload_key(state: &UploadState, sse_c: Option<&SseC>) -> ApiResult<()> {
    match (&state.sse_c_check, sse_c) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(ApiError::InvalidRequest(
            "the multipart upload was started with SSE-C; every part request must carry the same customer key".into(),
        )),
        (None, Some(_)) => Err(ApiError::InvalidRequest(
            "the multipart upload was started without SSE-C; part requests may not carry a customer key".into(),
        )),
        (Some(check), Some(sse_c)) if !crate::envelope::customer::key_matches(&sse_c.key, check) => {
            Err(ApiError::WrongCustomerKey)
        }
        (Some(_), Some(_)) => Ok(()),
    }
}

pub async fn upload_part(gw: &Gateway, mut req: S3Request<UploadPartInput>) -> ApiResult<UploadPartOutput> {
    let input = &mut req.input;
    let sse_c = request_sse_c!(input)?;
    let (state, dek) = open_upload(gw, (&input.bucket, &input.key), &input.upload_id, sse_c.as_ref())?;
    let part = check_part_number(input.part_number)?;
    let plain_len = super::put::body_length(input.content_length, &req.headers)?;
    if plain_len > MAX_PART_SIZE {
        return Err(ApiError::EntityTooLarge);
    }
    let checks = client_checksums!(input, req)?;
    let (sealed, verdict) = seal_body(input.body.take(), checks, &dek, part as u32, plain_len);
    let target = (input.bucket.as_str(), input.key.as_str());
    let outcome = store_part(gw, &state, target, part, plain_len, sealed).await;
    let stored = settle_part(gw, body_results(&verdict, outcome)?)?;
    gw.metrics
        .s3_payload_bytes
        .with_label_values(&["UploadPart", "in"])
        .inc_by(plain_len);
    let (sse_customer_algorithm, sse_customer_key_md5) = SseC::echo(sse_c.as_ref());
    Ok(UploadPartOutput {
        e_tag: Some(client_etag_dto(&stored.etag)),
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    })
}

/// A part number in S3's range.
pub(super) fn check_part_number(part: i32) -> ApiResult<i32> {
    if !(1..=MAX_PART_NUMBER).contains(&part) {
        return Err(ApiError::InvalidArgument(format!(
            "part number must be 1 to {MAX_PART_NUMBER}, got {part}"
        )));
    }
    Ok(part)
}

/// Streams one sealed part of `plain_len` plaintext bytes into both regions' upstream uploads
/// at once (UploadPart and UploadPartCopy), staging a copy when it may have to move.
pub(super) async fn store_part<S>(
    gw: &Gateway,
    state: &UploadState,
    target: (&str, &str),
    part: i32,
    plain_len: u64,
    sealed: S,
) -> FanoutOutcome
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    let staging = realign::needs_staging(plain_len).then(|| realign::staging_key(state, part));
    upload_sealed_part(gw, state, target, part, (ciphertext_len(plain_len), staging), sealed).await
}

/// Streams `sealed` (exactly `stored_len` bytes) as upstream part `number` into both regions'
/// uploads, and also to the journal bucket's `staging` key when one is given.
pub(super) async fn upload_sealed_part<S>(
    gw: &Gateway,
    state: &UploadState,
    (bucket, key): (&str, &str),
    number: i32,
    (stored_len, staging): (u64, Option<String>),
    sealed: S,
) -> FanoutOutcome
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    let journal = gw.regions.journal().bucket();
    let staging = staging.as_deref();
    fan_out(
        gw.regions.all(),
        sealed,
        gw.regions.fanout_policy(),
        |i, region, body| {
            let id = state.upstream_ids[i].as_str();
            async move {
                if id.is_empty() {
                    // This region has no upload (it was down at creation); drain nothing, fail soft.
                    drop(body);
                    return Err(missing_upload(region.name()));
                }
                let Some(staging) = staging else {
                    return region.upload_part((bucket, key, id), number, stored_len, body).await;
                };
                let (part_body, staged_body) = tee(body);
                let no_metadata = HashMap::new();
                let (uploaded, staged) = tokio::join!(
                    region.upload_part((bucket, key, id), number, stored_len, part_body),
                    region.put_object(journal, staging, stored_len, &no_metadata, None, staged_body),
                );
                staged?;
                uploaded
            }
        },
    )
    .await
}

/// A part's two upstream results under the write policy, as the one the client hears about.
pub(super) fn settle_part(gw: &Gateway, results: [Result<StoredObject, UpstreamError>; 2]) -> ApiResult<StoredObject> {
    let stored = gw.regions.settle_part(results)?;
    gw.regions.pick(stored).ok_or(ApiError::Internal("no region result"))
}

pub async fn complete(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> ApiResult<CompleteMultipartUploadOutput> {
    let input = &req.input;
    // S3 does not require the SSE-C key on Complete; when one is sent it must be the upload's.
    let state = UploadState::open(&gw.keyring, &input.bucket, &input.key, &input.upload_id)?;
    let sse_c = request_sse_c!(input)?;
    if let Some(sse_c) = &sse_c {
        check_upload_key(&state, Some(sse_c))?;
    }
    let requested: Vec<(i32, String)> = input
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_ref())
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p.part_number.unwrap_or(0),
                p.e_tag
                    .as_ref()
                    .map(|e| e.value().trim_matches('"').to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    if requested.is_empty() {
        return Err(ApiError::InvalidArgument(
            "CompleteMultipartUpload needs at least one part".into(),
        ));
    }
    if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(ApiError::InvalidPartOrder);
    }
    let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
    let listings = gw
        .regions
        .on_both(|up| {
            let id = &state.upstream_ids[gw.regions.index_of(up)];
            async move {
                if id.is_empty() {
                    return Err(missing_upload(up.name()));
                }
                let listed = up.list_part_uploads(bucket, key, id).await?;
                Ok(listed.into_iter().map(|l| l.part).collect::<Vec<_>>())
            }
        })
        .await;
    let one = gw.regions.write_policy() == WritePolicy::One;
    let [listing_a, listing_b] = listings;
    let upstream_parts: [Option<Vec<MatchedPart>>; 2] = match (listing_a, listing_b) {
        (Ok(a), Ok(b)) => match (match_parts(&requested, &a), match_parts(&requested, &b)) {
            (Ok(pa), Ok(pb)) => {
                if pa != pb {
                    return Err(ApiError::InvalidPart(
                        "a part differs between regions; upload it again".into(),
                    ));
                }
                [Some(pa.clone()), Some(pb)]
            }
            // Policy "one": a region that missed parts is journaled; the other completes.
            (Ok(pa), Err(_)) if one => [Some(pa), None],
            (Err(_), Ok(pb)) if one => [None, Some(pb)],
            (Err(e), _) | (_, Err(e)) => return Err(e),
        },
        (Ok(a), Err(e)) if one && (e.kind == UpstreamErrorKind::Unavailable || e.kind.is_not_found()) => {
            [Some(match_parts(&requested, &a)?), None]
        }
        (Err(e), Ok(b)) if one && (e.kind == UpstreamErrorKind::Unavailable || e.kind.is_not_found()) => {
            [None, Some(match_parts(&requested, &b)?)]
        }
        (a, b) => {
            both_ok([a, b])?;
            return Err(ApiError::Internal("listing results"));
        }
    };
    let upstream_parts = realign_if_needed(gw, &state, (bucket, key), sse_c.as_ref(), upstream_parts).await?;
    let results = gw
        .regions
        .on_both(|up| {
            let i = gw.regions.index_of(up);
            let parts = &upstream_parts[i];
            let id = &state.upstream_ids[i];
            async move {
                match parts {
                    Some(parts) => up.complete_multipart_upload(bucket, key, id, parts).await,
                    None => {
                        if !id.is_empty() {
                            let _ = up.abort_multipart_upload(bucket, key, id).await;
                        }
                        Err(missing_upload(up.name()))
                    }
                }
            }
        })
        .await;
    let stamp = state.stamp.parse().unwrap_or_else(|_| gw.regions.stamp());
    let stored = commit_put(gw, results, bucket, key, stamp).await?;
    uploads::forget(gw, bucket, key, &state).await;
    realign::discard_staged(gw, &state);
    Ok(CompleteMultipartUploadOutput {
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        e_tag: Some(client_etag_dto(&stored.etag)),
        location: Some(format!("/{bucket}/{key}")),
        ..Default::default()
    })
}

/// Each region's upstream part list to complete with: the matched parts as they are, or, when
/// some non-final part is not whole segments, with the parts from that one on cut again.
async fn realign_if_needed(
    gw: &Gateway,
    state: &UploadState,
    target: (&str, &str),
    sse_c: Option<&SseC>,
    matched: [Option<Vec<MatchedPart>>; 2],
) -> ApiResult<[Option<Vec<(i32, String)>>; 2]> {
    let as_listed = |parts: &Option<Vec<MatchedPart>>| {
        parts
            .as_ref()
            .map(|parts| parts.iter().map(|p| (p.number, p.etag.clone())).collect::<Vec<_>>())
    };
    let Some(reference) = matched.iter().flatten().next() else {
        return Ok([as_listed(&matched[0]), as_listed(&matched[1])]);
    };
    let lens: Vec<u64> = reference
        .iter()
        .map(|p| plaintext_len(p.stored_len).unwrap_or(0))
        .collect();
    let Some(plan) = realign::plan(&lens)? else {
        return Ok([as_listed(&matched[0]), as_listed(&matched[1])]);
    };
    if state.sse_c_check.is_some() && sse_c.is_none() {
        return Err(ApiError::InvalidRequest(
            "this upload has parts that are not multiples of 64 KiB, which twinvault re-encrypts on completion: \
             send the upload's SSE-C key with CompleteMultipartUpload"
                .into(),
        ));
    }
    let dek = upload_data_key(gw, state, target, sse_c)?;
    let holds = [matched[0].is_some(), matched[1].is_some()];
    let added = realign::rewrite(gw, state, &dek, target, (reference, holds), &plan).await?;
    let mut lists = [as_listed(&matched[0]), as_listed(&matched[1])];
    for (list, added) in lists.iter_mut().zip(added) {
        *list = match (list.take(), added) {
            (Some(mut parts), Some(added)) => {
                parts.truncate(plan.first);
                parts.extend(added);
                Some(parts)
            }
            _ => None,
        };
    }
    Ok(lists)
}

/// The failure of a region that holds no upload (or not all parts) for a multipart upload:
/// "unavailable", so that policy "one" journals it.
fn missing_upload(region: &str) -> UpstreamError {
    UpstreamError::new(
        region,
        "CompleteMultipartUpload",
        UpstreamErrorKind::Unavailable,
        "the region missed parts of this upload while it was unavailable",
    )
}

/// Non-final parts: at least 5 MiB; the last part is not empty.
fn check_part_size(number: i32, stored_len: u64, is_last: bool, count: usize) -> ApiResult<()> {
    let plain = plaintext_len(stored_len)
        .ok_or_else(|| ApiError::InvalidPart(format!("part {number} has an invalid stored size")))?;
    if !is_last && plain < MIN_PART_SIZE {
        return Err(ApiError::EntityTooSmall(number));
    }
    if is_last && plain == 0 && count > 1 {
        return Err(ApiError::InvalidPart(
            "the last part of a multipart upload may not be empty".into(),
        ));
    }
    Ok(())
}

/// One part the upload completes with, as one region holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MatchedPart {
    /// Part number (the client's and the upstream's).
    pub number: i32,
    /// Upstream ETag.
    pub etag: String,
    /// Stored (ciphertext) size.
    pub stored_len: u64,
}

/// Checks the client's part list against what one region holds (every upload of every part)
/// and returns the upstream part list to complete with. Of a part uploaded more than once,
/// the upload whose ETag the client sent is the one used: the listing's timestamps may not
/// tell which is newest (SeaweedFS lists both, to the second), but the ETags differ, because
/// every upload is sealed under a fresh stream id.
fn match_parts(requested: &[(i32, String)], listed: &[UploadedPart]) -> ApiResult<Vec<MatchedPart>> {
    let mut upstream = Vec::with_capacity(requested.len());
    for (position, (number, etag)) in requested.iter().enumerate() {
        let expected = i32::try_from(position + 1).unwrap_or(i32::MAX);
        if *number != expected {
            return Err(ApiError::InvalidPart(format!(
                "twinvault requires parts numbered 1, 2, 3... without gaps; part {expected} is missing"
            )));
        }
        let mut uploads = listed.iter().filter(|p| p.number == *number).peekable();
        if uploads.peek().is_none() {
            return Err(ApiError::InvalidPart(format!("part {number} was not uploaded")));
        }
        let Some(part) = uploads.find(|p| super::etag::client_etag(&p.etag) == *etag) else {
            return Err(ApiError::InvalidPart(format!(
                "part {number}: ETag {etag:?} does not match the uploaded part"
            )));
        };
        upstream.push(MatchedPart {
            number: *number,
            etag: part.etag.clone(),
            stored_len: part.stored_len,
        });
    }
    // Sizes are checked once every listed part is known to exist, as S3 does.
    let count = upstream.len();
    for (position, part) in upstream.iter().enumerate() {
        let is_last = position + 1 == count;
        check_part_size(part.number, part.stored_len, is_last, count)?;
    }
    Ok(upstream)
}

pub async fn abort(gw: &Gateway, req: S3Request<AbortMultipartUploadInput>) -> ApiResult<AbortMultipartUploadOutput> {
    let input = &req.input;
    let state = UploadState::open(&gw.keyring, &input.bucket, &input.key, &input.upload_id)?;
    let results = abort_upstream(gw, &input.bucket, &input.key, &state).await;
    // An upload left behind in a failing region is harmless (no object, and upstream lifecycle
    // rules reap it); with policy "one" the abort succeeds once one region has aborted.
    gw.regions.settle_part(results)?;
    uploads::forget(gw, &input.bucket, &input.key, &state).await;
    realign::discard_staged(gw, &state);
    Ok(AbortMultipartUploadOutput::default())
}

/// Aborts the upstream upload in each region that has one (already gone counts as done).
async fn abort_upstream(gw: &Gateway, bucket: &str, key: &str, state: &UploadState) -> [Result<(), UpstreamError>; 2] {
    gw.regions
        .on_both(|up| {
            let id = &state.upstream_ids[gw.regions.index_of(up)];
            async move {
                if id.is_empty() {
                    return Ok(());
                }
                up.abort_multipart_upload(bucket, key, id).await
            }
        })
        .await
}

pub async fn list_parts(gw: &Gateway, req: S3Request<ListPartsInput>) -> ApiResult<ListPartsOutput> {
    let input = &req.input;
    let state = UploadState::open(&gw.keyring, &input.bucket, &input.key, &input.upload_id)?;
    let [mut first, second] = gw.regions.read_order();
    if state.upstream_ids[gw.regions.index_of(first)].is_empty() {
        first = second;
    }
    let i = gw.regions.index_of(first);
    let all = first
        .list_parts(&input.bucket, &input.key, &state.upstream_ids[i])
        .await?;
    let marker = input.part_number_marker.unwrap_or(0);
    let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
    let after: Vec<&UploadedPart> = all.iter().filter(|p| p.number > marker).collect();
    let page: Vec<Part> = after
        .iter()
        .take(max)
        .map(|p| Part {
            part_number: Some(p.number),
            e_tag: Some(client_etag_dto(&p.etag)),
            size: plaintext_len(p.stored_len).map(|n| n as i64),
            ..Default::default()
        })
        .collect();
    let truncated = after.len() > max;
    Ok(ListPartsOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        upload_id: Some(input.upload_id.clone()),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: page.last().and_then(|p| p.part_number).filter(|_| truncated),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(page),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploaded(number: i32, etag: &str, plain: u64) -> UploadedPart {
        UploadedPart {
            number,
            etag: etag.to_owned(),
            stored_len: ciphertext_len(plain),
        }
    }

    // See: issue #5 (a part re-uploaded within the same second).
    #[test]
    fn completion_takes_the_upload_whose_etag_the_client_sent_whatever_the_listing_order() {
        let listed = vec![
            uploaded(1, "aaa", MIN_PART_SIZE),
            uploaded(2, "old", MIN_PART_SIZE),
            uploaded(2, "new", 1000),
            uploaded(2, "older", 7),
        ];
        let requested = vec![(1, "aaa-1".to_owned()), (2, "new-1".to_owned())];
        let expected = vec![(1, "aaa".to_owned()), (2, "new".to_owned())];
        let numbers_and_etags =
            |parts: Vec<MatchedPart>| parts.into_iter().map(|p| (p.number, p.etag)).collect::<Vec<_>>();
        assert_eq!(
            match_parts(&requested, &listed).ok().map(numbers_and_etags),
            Some(expected.clone())
        );
        let reversed: Vec<UploadedPart> = listed.iter().rev().cloned().collect();
        assert_eq!(
            match_parts(&requested, &reversed).ok().map(numbers_and_etags),
            Some(expected)
        );
        let unknown = vec![(1, "aaa-1".to_owned()), (2, "zzz-1".to_owned())];
        assert!(matches!(match_parts(&unknown, &listed), Err(ApiError::InvalidPart(_))));
    }
}
