//! UploadPartCopy: a part made from (a range of) another stored object. The source is sealed
//! under its own data key and the target upload under another, so the bytes cannot be copied
//! server-side: the source's covering segments are read and opened as a ranged GET does, and
//! the plaintext is sealed again as part N of the target upload and fanned out to both
//! regions exactly like an UploadPart. Everything streams; memory stays at a few segments.

use super::Store;
use super::customer::SseC;
use super::etag::Conditions;
use super::multipart::open_upload;
use super::object::ObjectView;
use super::parts::{check_part_number, settle_part, store_part};
use super::read::read_plaintext;
use crate::envelope::{EnvelopeError, SealStream, SegmentSealer};
use crate::error::{ApiError, ApiResult};
use crate::upstream::StoredObject;

/// S3's largest copy source for one part.
const MAX_COPY_PART: u64 = 5 * 1024 * 1024 * 1024;

/// An UploadPartCopy request.
pub struct PartCopyRequest<'a> {
    /// Source bucket and key.
    pub source: (&'a str, &'a str),
    /// Target bucket and key.
    pub target: (&'a str, &'a str),
    /// The target upload.
    pub upload_id: &'a str,
    /// The part number.
    pub part: i32,
    /// The source's SSE-C key.
    pub source_sse_c: Option<&'a SseC>,
    /// The target upload's SSE-C key.
    pub target_sse_c: Option<&'a SseC>,
    /// Conditions on the source.
    pub conditions: Conditions,
    /// `x-amz-copy-source-range` as sent (`bytes=first-last`), else all of the source.
    pub range: Option<&'a str>,
}

impl Store {
    /// Reads the source's plaintext and stores it as a part of the target upload.
    pub async fn upload_part_copy(&self, copy: PartCopyRequest<'_>) -> ApiResult<StoredObject> {
        if copy.source.0 == self.regions.journal().bucket() {
            return Err(ApiError::ReservedBucket(copy.source.0.to_owned()));
        }
        let (state, dek) = open_upload(self, copy.target, copy.upload_id, copy.target_sse_c)?;
        let part = check_part_number(copy.part)?;
        let range = copy.range.map(parse_copy_range).transpose()?;
        let source = read_plaintext(self, copy.source, copy.source_sse_c, |view| {
            choose(view, &copy.conditions, range)
        })
        .await?;
        let plain_len = source.len;
        let sealed = SealStream::new(source.body, SegmentSealer::new(&dek, part as u32), Some(plain_len));
        let outcome = store_part(self, &state, copy.target, part, plain_len, sealed).await;
        if let Some(e) = outcome.input_error {
            return Err(source_failure(e));
        }
        settle_part(self, outcome.results)
    }
}

/// Checks the copy conditions against the opened source and picks the range to read.
fn choose(view: &ObjectView, conditions: &Conditions, range: Option<(u64, u64)>) -> ApiResult<Option<(u64, u64)>> {
    conditions.check_copy_source(&view.etag, view.last_modified)?;
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
pub fn parse_copy_range(value: &str) -> ApiResult<(u64, u64)> {
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
