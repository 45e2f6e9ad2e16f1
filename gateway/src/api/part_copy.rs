//! UploadPartCopy: a part made from (a range of) another stored object. The source is sealed
//! under its own data key and the target upload under another, so the bytes cannot be copied
//! server-side: the source's covering segments are read and opened as a ranged GET does, and
//! the plaintext is sealed again as part N of the target upload and fanned out to both
//! regions exactly like an UploadPart. Everything streams; memory stays at a few segments.

use std::time::SystemTime;

use s3s::S3Request;
use s3s::dto::{CopyPartResult, CopySource, Timestamp, UploadPartCopyInput, UploadPartCopyOutput};

use super::Gateway;
use super::etag::{ReadConditions, client_etag_dto};
use super::get::read_plaintext;
use super::multipart::{check_part_number, open_upload, settle_part, store_part};
use super::object::ObjectView;
use super::sse_c::{SseC, request_sse_c};
use crate::envelope::{EnvelopeError, SealStream, SegmentSealer};
use crate::error::{ApiError, ApiResult};

/// S3's largest copy source for one part.
const MAX_COPY_PART: u64 = 5 * 1024 * 1024 * 1024;

pub async fn upload_part_copy(gw: &Gateway, req: S3Request<UploadPartCopyInput>) -> ApiResult<UploadPartCopyOutput> {
    let input = &req.input;
    let target_sse_c = request_sse_c!(input)?;
    let source_sse_c = SseC::from_headers(
        input.copy_source_sse_customer_algorithm.as_deref(),
        input.copy_source_sse_customer_key.as_deref(),
        input.copy_source_sse_customer_key_md5.as_deref(),
    )?;
    let (src_bucket, src_key) = copy_source(gw, &input.copy_source)?;
    let target = (input.bucket.as_str(), input.key.as_str());
    let (state, dek) = open_upload(gw, target, &input.upload_id, target_sse_c.as_ref())?;
    let part = check_part_number(input.part_number)?;
    let range = input.copy_source_range.as_deref().map(parse_copy_range).transpose()?;
    let conditions = ReadConditions {
        if_match: input.copy_source_if_match.as_ref(),
        if_none_match: input.copy_source_if_none_match.as_ref(),
        if_modified_since: input.copy_source_if_modified_since.as_ref(),
        if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
    };
    let source = read_plaintext(gw, (src_bucket, src_key), source_sse_c.as_ref(), |view| {
        choose(view, &conditions, range)
    })
    .await?;
    let plain_len = source.len;
    let sealed = SealStream::new(source.body, SegmentSealer::new(&dek, part as u32), Some(plain_len));
    let outcome = store_part(gw, &state, target, part, plain_len, sealed).await;
    if let Some(e) = outcome.input_error {
        return Err(source_failure(e));
    }
    let stored = settle_part(gw, outcome.results)?;
    let (sse_customer_algorithm, sse_customer_key_md5) = SseC::echo(target_sse_c.as_ref());
    Ok(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(client_etag_dto(&stored.etag)),
            last_modified: Some(Timestamp::from(SystemTime::now())),
            ..Default::default()
        }),
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    })
}

/// The source bucket and key; not a version, an access point or a bucket twinvault reserves.
fn copy_source<'a>(gw: &Gateway, source: &'a CopySource) -> ApiResult<(&'a str, &'a str)> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(ApiError::NotImplemented("UploadPartCopy from an access point"));
    };
    if version_id.is_some() {
        return Err(ApiError::NotImplemented("UploadPartCopy of a specific version"));
    }
    if bucket.as_ref() == gw.regions.journal().bucket() {
        return Err(ApiError::ReservedBucket(bucket.to_string()));
    }
    Ok((bucket, key))
}

/// Checks the copy conditions against the opened source and picks the range to read.
fn choose(
    view: &ObjectView,
    conditions: &ReadConditions<'_>,
    range: Option<(u64, u64)>,
) -> ApiResult<Option<(u64, u64)>> {
    conditions
        .check(&view.etag, view.last_modified.as_ref())
        .map_err(|e| match e {
            // Copy preconditions answer 412 whichever header failed, as S3 does.
            ApiError::NotModified => ApiError::PreconditionFailed,
            other => other,
        })?;
    let len = match range {
        Some((first, last)) => {
            if last >= view.plaintext_len {
                return Err(ApiError::InvalidArgument(format!(
                    "range specified is not valid for source object of size: {}",
                    view.plaintext_len
                )));
            }
            last - first + 1
        }
        None => view.plaintext_len,
    };
    if len > MAX_COPY_PART {
        return Err(ApiError::InvalidRequest(format!(
            "the specified copy source is larger than the maximum allowable size for a copy source: {MAX_COPY_PART}"
        )));
    }
    Ok(range)
}

/// `x-amz-copy-source-range`: `bytes=first-last`, both given, inclusive, `first <= last`.
pub(super) fn parse_copy_range(value: &str) -> ApiResult<(u64, u64)> {
    let invalid = || {
        ApiError::InvalidArgument(format!(
            "the x-amz-copy-source-range value must be of the form bytes=first-last, got {value:?}"
        ))
    };
    let (first, last) = value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.trim().parse().map_err(|_| invalid())?;
    let last: u64 = last.trim().parse().map_err(|_| invalid())?;
    if first > last {
        return Err(invalid());
    }
    Ok((first, last))
}

/// A failure of the source side of the copy (reading or opening it), after the part upload
/// began; the integrity metric was counted where the segment failed to open.
fn source_failure(error: EnvelopeError) -> ApiError {
    tracing::warn!(error = %error, "UploadPartCopy: reading the source failed");
    ApiError::Envelope(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_need_both_ends_in_order() {
        assert_eq!(parse_copy_range("bytes=0-9").ok(), Some((0, 9)));
        assert_eq!(parse_copy_range("bytes=65530-131080").ok(), Some((65530, 131080)));
        assert_eq!(parse_copy_range("bytes=7-7").ok(), Some((7, 7)));
        for bad in ["bytes=9-0", "bytes=-5", "bytes=5-", "0-9", "bytes=a-b", "bytes=1-2,4-5"] {
            assert!(
                matches!(parse_copy_range(bad), Err(ApiError::InvalidArgument(_))),
                "{bad} accepted"
            );
        }
    }
}
