//! Parts of multipart uploads: S3's part limits, and one sealed part streamed into both
//! regions' upstream uploads (by UploadPart, UploadPartCopy and the re-sealing at completion).

use std::collections::HashMap;

use bytes::Bytes;
use futures::Stream;

use super::Store;
use super::upload_id::UploadState;
use crate::envelope::EnvelopeError;
use crate::envelope::format::{SEGMENT_PLAINTEXT_LEN, ciphertext_len};
use crate::error::{ApiError, ApiResult};
use crate::replication::{FanoutOutcome, fan_out, tee};
use crate::upstream::{PutCondition, StoredObject, UpstreamError, UpstreamErrorKind};

/// S3's part-number range.
pub const MAX_PART_NUMBER: i32 = 10_000;
/// S3's smallest non-final part.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// A part number in S3's range.
pub fn check_part_number(part: i32) -> ApiResult<i32> {
    if !(1..=MAX_PART_NUMBER).contains(&part) {
        return Err(ApiError::InvalidArgument(format!(
            "part number must be 1 to {MAX_PART_NUMBER}, got {part}"
        )));
    }
    Ok(part)
}

/// Whether a part of `plain_len` bytes is also written to staging: it may have to move.
pub(super) fn needs_staging(plain_len: u64) -> bool {
    !plain_len.is_multiple_of(SEGMENT_PLAINTEXT_LEN) || plain_len < MIN_PART_SIZE
}

/// Where part `part` of the upload is staged (the newest upload of that part number).
pub(super) fn staging_key(state: &UploadState, part: i32) -> String {
    crate::reserved::layout::staging_part(&state.header, part)
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

/// Streams one sealed part of `plain_len` plaintext bytes into both regions' upstream uploads
/// at once (UploadPart and UploadPartCopy), staging a copy when it may have to move.
pub(super) async fn store_part<S>(
    store: &Store,
    state: &UploadState,
    target: (&str, &str),
    part: i32,
    plain_len: u64,
    sealed: S,
) -> FanoutOutcome
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    let staging = needs_staging(plain_len).then(|| staging_key(state, part));
    upload_sealed_part(store, state, target, part, (ciphertext_len(plain_len), staging), sealed).await
}

/// Streams `sealed` (exactly `stored_len` bytes) as upstream part `number` into both regions'
/// uploads, and also to the reserved bucket's `staging` key when one is given.
pub(super) async fn upload_sealed_part<S>(
    store: &Store,
    state: &UploadState,
    (bucket, key): (&str, &str),
    number: i32,
    (stored_len, staging): (u64, Option<String>),
    sealed: S,
) -> FanoutOutcome
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    let journal = store.regions.journal().bucket();
    let staging = staging.as_deref();
    fan_out(
        store.regions.all(),
        sealed,
        store.regions.fanout_policy(),
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
                    region.put_object(
                        journal,
                        staging,
                        stored_len,
                        &no_metadata,
                        PutCondition::Always,
                        staged_body
                    ),
                );
                staged?;
                uploaded
            }
        },
    )
    .await
}

/// A part's two upstream results under the write policy, as the one the client hears about.
pub(super) fn settle_part(store: &Store, results: [Result<StoredObject, UpstreamError>; 2]) -> ApiResult<StoredObject> {
    let stored = store.regions.settle_part(results)?;
    store.regions.pick(stored).ok_or(ApiError::Internal("no region result"))
}

/// The failure of a region that holds no upload (or not all parts) for a multipart upload:
/// "unavailable", so that policy "one" journals it.
pub(super) fn missing_upload(region: &str) -> UpstreamError {
    UpstreamError::new(
        region,
        "CompleteMultipartUpload",
        UpstreamErrorKind::Unavailable,
        "the region missed parts of this upload while it was unavailable",
    )
}
