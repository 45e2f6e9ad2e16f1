//! CopyObject: a server-side copy inside each region. The body never passes through the
//! gateway; only the header is rewrapped for the new bucket/key (and the attributes resealed
//! when the client replaces them), so the copy opens at its new name and nowhere else.

use std::collections::HashMap;

use s3s::S3Request;
use s3s::dto::{CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopySource};

use super::Gateway;
use super::etag::{ReadConditions, client_etag_dto};
use super::object::{META_ATTRS, META_HEADER, META_LAYOUT};
use super::put::{attributes, commit_put};
use super::sse_c::{META_SSE_C, SseC, request_sse_c};
use crate::envelope::{ObjectHeader, ObjectIdentity};
use crate::error::{ApiError, ApiResult};
use crate::stamp::META_STAMP;

pub async fn copy_object(gw: &Gateway, req: S3Request<CopyObjectInput>) -> ApiResult<CopyObjectOutput> {
    let input = &req.input;
    let source_sse_c = SseC::from_headers(
        input.copy_source_sse_customer_algorithm.as_deref(),
        input.copy_source_sse_customer_key.as_deref(),
        input.copy_source_sse_customer_key_md5.as_deref(),
    )?;
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
    if !replace && src_bucket.as_ref() == input.bucket && src_key.as_ref() == input.key {
        return Err(ApiError::InvalidRequest(
            "copying an object onto itself requires MetadataDirective REPLACE".into(),
        ));
    }
    let stored = gw.regions.read(|up| up.head_object(src_bucket, src_key)).await?;
    let source = gw.open_view(src_bucket, src_key, &stored, source_sse_c.as_ref())?;
    let conditions = ReadConditions {
        if_match: input.copy_source_if_match.as_ref(),
        if_none_match: input.copy_source_if_none_match.as_ref(),
        if_modified_since: input.copy_source_if_modified_since.as_ref(),
        if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
    };
    conditions
        .check(&source.etag, source.last_modified.as_ref())
        .map_err(|e| match e {
            // Copy preconditions answer 412 whichever header failed, as S3 does.
            ApiError::NotModified => ApiError::PreconditionFailed,
            other => other,
        })?;

    let header = ObjectHeader::from_metadata_value(stored.metadata.get(META_HEADER).ok_or(ApiError::NotAnEnvelope)?)?;
    let from = ObjectIdentity {
        bucket: src_bucket,
        key: src_key,
    };
    let to = ObjectIdentity {
        bucket: &input.bucket,
        key: &input.key,
    };
    let new_header = header.rewrap(
        &gw.keyring,
        from,
        to,
        source_sse_c.as_ref().map(|s| &s.key),
        target_sse_c.as_ref().map(|s| &s.key),
    )?;
    let attrs_value = if replace {
        attributes!(gw, input)?.seal(&source.dek)?
    } else {
        stored.metadata.get(META_ATTRS).cloned().unwrap_or_default()
    };
    let mut metadata = HashMap::new();
    metadata.insert(META_HEADER.to_owned(), new_header.to_metadata_value());
    metadata.insert(META_ATTRS.to_owned(), attrs_value);
    if let Some(layout) = stored.metadata.get(META_LAYOUT) {
        metadata.insert(META_LAYOUT.to_owned(), layout.clone());
    }
    let stamp = gw.regions.stamp();
    metadata.insert(META_STAMP.to_owned(), stamp.to_string());
    if let Some(sse_c) = &target_sse_c {
        metadata.insert(META_SSE_C.to_owned(), sse_c.check_value());
    }
    let results = gw
        .regions
        .on_both(|up| {
            up.copy_object(
                (src_bucket, src_key),
                (&input.bucket, &input.key),
                &metadata,
                &source.upstream_etag,
            )
        })
        .await;
    let result = commit_put(gw, results, &input.bucket, &input.key, stamp).await?;
    let (sse_customer_algorithm, sse_customer_key_md5) = SseC::echo(target_sse_c.as_ref());
    Ok(CopyObjectOutput {
        sse_customer_algorithm,
        sse_customer_key_md5,
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(client_etag_dto(&result.etag)),
            last_modified: result.last_modified.map(super::object::timestamp),
            ..Default::default()
        }),
        ..Default::default()
    })
}
