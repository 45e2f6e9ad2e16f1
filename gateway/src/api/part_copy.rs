//! UploadPartCopy at the front door: the copy source into the object layer's part copy.

use std::time::SystemTime;

use s3s::S3Request;
use s3s::dto::{CopyPartResult, CopySource, Timestamp, UploadPartCopyInput, UploadPartCopyOutput};

use super::Gateway;
use super::dto;
use super::sse_c::{copy_source_sse_c, echo, request_sse_c};
use crate::error::{ApiError, ApiResult};
use crate::store::PartCopyRequest;

pub async fn upload_part_copy(gw: &Gateway, req: S3Request<UploadPartCopyInput>) -> ApiResult<UploadPartCopyOutput> {
    let input = &req.input;
    let target_sse_c = request_sse_c!(input)?;
    let source_sse_c = copy_source_sse_c!(input)?;
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = &input.copy_source
    else {
        return Err(ApiError::NotImplemented("UploadPartCopy from an access point"));
    };
    if version_id.is_some() {
        return Err(ApiError::NotImplemented("UploadPartCopy of a specific version"));
    }
    let copy = PartCopyRequest {
        source: (bucket, key),
        target: (&input.bucket, &input.key),
        upload_id: &input.upload_id,
        part: input.part_number,
        source_sse_c: source_sse_c.as_ref(),
        target_sse_c: target_sse_c.as_ref(),
        conditions: dto::conditions(
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        ),
        range: input.copy_source_range.as_deref(),
    };
    let stored = gw.store.upload_part_copy(copy).await?;
    let (sse_customer_algorithm, sse_customer_key_md5) = echo(target_sse_c.as_ref());
    Ok(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(dto::upstream_etag(&stored.etag)),
            last_modified: Some(Timestamp::from(SystemTime::now())),
            ..Default::default()
        }),
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    })
}
