//! ListObjects (v1) and ListObjectsV2: one region's listing, with plaintext sizes and client ETags.

use s3s::S3Request;
use s3s::dto::{CommonPrefix, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, Object};

use super::Gateway;
use super::etag::client_etag_dto;
use super::object::timestamp;
use crate::envelope::format::plaintext_len;
use crate::error::ApiResult;
use crate::upstream::{ListRequest, unquote};

pub async fn list_objects_v2(gw: &Gateway, req: S3Request<ListObjectsV2Input>) -> ApiResult<ListObjectsV2Output> {
    let input = &req.input;
    let request = ListRequest {
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_keys: input.max_keys,
        continuation_token: input.continuation_token.clone(),
        start_after: input.start_after.clone(),
        encoding_type: input.encoding_type.as_ref().map(|e| e.as_str().to_owned()),
        ..Default::default()
    };
    let page = gw
        .regions
        .read(|up| up.list_objects_v2(&input.bucket, &request))
        .await?;
    Ok(ListObjectsV2Output {
        name: Some(input.bucket.clone()),
        prefix: page.prefix().map(str::to_owned),
        delimiter: page.delimiter().map(str::to_owned),
        max_keys: page.max_keys(),
        key_count: page.key_count(),
        is_truncated: page.is_truncated(),
        continuation_token: page.continuation_token().map(str::to_owned),
        next_continuation_token: page.next_continuation_token().map(str::to_owned),
        start_after: page.start_after().map(str::to_owned),
        encoding_type: input.encoding_type.clone(),
        contents: Some(page.contents().iter().map(object_entry).collect()),
        common_prefixes: Some(common_prefixes(page.common_prefixes())),
        ..Default::default()
    })
}

pub async fn list_objects(gw: &Gateway, req: S3Request<ListObjectsInput>) -> ApiResult<ListObjectsOutput> {
    let input = &req.input;
    let request = ListRequest {
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_keys: input.max_keys,
        marker: input.marker.clone(),
        encoding_type: input.encoding_type.as_ref().map(|e| e.as_str().to_owned()),
        ..Default::default()
    };
    let page = gw
        .regions
        .read(|up| up.list_objects_v1(&input.bucket, &request))
        .await?;
    Ok(ListObjectsOutput {
        name: Some(input.bucket.clone()),
        prefix: page.prefix().map(str::to_owned),
        delimiter: page.delimiter().map(str::to_owned),
        max_keys: page.max_keys(),
        is_truncated: page.is_truncated(),
        marker: page.marker().map(str::to_owned),
        next_marker: page.next_marker().map(str::to_owned),
        encoding_type: input.encoding_type.clone(),
        contents: Some(page.contents().iter().map(object_entry).collect()),
        common_prefixes: Some(common_prefixes(page.common_prefixes())),
        ..Default::default()
    })
}

/// One listed object: the plaintext size is pure arithmetic on the stored size.
fn object_entry(o: &aws_sdk_s3::types::Object) -> Object {
    let stored = o.size().unwrap_or(0).max(0) as u64;
    let size = plaintext_len(stored).unwrap_or(stored);
    Object {
        key: o.key().map(str::to_owned),
        size: Some(size as i64),
        e_tag: Some(client_etag_dto(&unquote(o.e_tag()))),
        last_modified: o.last_modified().copied().map(timestamp),
        storage_class: o.storage_class().map(|s| s.as_str().to_owned().into()),
        ..Default::default()
    }
}

fn common_prefixes(prefixes: &[aws_sdk_s3::types::CommonPrefix]) -> Vec<CommonPrefix> {
    prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: p.prefix().map(str::to_owned),
        })
        .collect()
}
