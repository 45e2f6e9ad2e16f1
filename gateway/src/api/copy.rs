//! CopyObject at the front door: the copy source and directive into the object layer's copy.

use s3s::S3Request;
use s3s::dto::{CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopySource};

use super::Gateway;
use super::dto;
use super::put::{attributes, refuse_unimplemented};
use super::sse_c::{copy_source_sse_c, echo, request_sse_c};
use crate::error::{ApiError, ApiResult};
use crate::store::{CopyRequest, parse_tagging_header};

/// The copy's tags: the source's (`x-amz-tagging-directive: COPY`, the default, returns
/// `None`) or `x-amz-tagging`'s (`REPLACE`; none if it is absent).
fn copied_tags(input: &CopyObjectInput) -> ApiResult<Option<Vec<(String, String)>>> {
    let replace = input
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str().eq_ignore_ascii_case("REPLACE"));
    if !replace {
        return Ok(None);
    }
    Ok(Some(parse_tagging_header(
        input.tagging.as_deref().unwrap_or_default(),
    )?))
}

pub async fn copy_object(gw: &Gateway, req: S3Request<CopyObjectInput>) -> ApiResult<CopyObjectOutput> {
    let input = &req.input;
    refuse_unimplemented!(input)?;
    let source_sse_c = copy_source_sse_c!(input)?;
    let target_sse_c = request_sse_c!(input)?;
    let CopySource::Bucket {
        bucket: src_bucket,
        key: src_key,
        version_id,
    } = &input.copy_source
    else {
        return Err(ApiError::NotImplemented("CopyObject from an access point"));
    };
    if version_id.is_some() {
        return Err(ApiError::NotImplemented("CopyObject of a specific version"));
    }
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str().eq_ignore_ascii_case("REPLACE"));
    // s3s 0.14 does not parse the target's conditions on CopyObject: read from the headers.
    let condition = dto::write_condition(
        dto::etag_condition_header(&req.headers, http::header::IF_MATCH)?.as_ref(),
        dto::etag_condition_header(&req.headers, http::header::IF_NONE_MATCH)?.as_ref(),
        "CopyObject",
    )?;
    let copy = CopyRequest {
        source: (src_bucket, src_key),
        target: (&input.bucket, &input.key),
        source_sse_c: source_sse_c.as_ref(),
        target_sse_c: target_sse_c.as_ref(),
        conditions: dto::conditions(
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        ),
        replace: replace.then(|| attributes!(input)),
        tags: copied_tags(input)?,
        condition,
    };
    let result = gw.store.copy_object(copy).await?;
    let (sse_customer_algorithm, sse_customer_key_md5) = echo(target_sse_c.as_ref());
    Ok(CopyObjectOutput {
        sse_customer_algorithm,
        sse_customer_key_md5,
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(dto::upstream_etag(&result.etag)),
            last_modified: result
                .last_modified
                .map(crate::store::object::system_time)
                .map(dto::timestamp),
            ..Default::default()
        }),
        ..Default::default()
    })
}
