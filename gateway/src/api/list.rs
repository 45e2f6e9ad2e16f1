//! ListObjects (v1) and ListObjectsV2: one region's listing, with plaintext sizes and client ETags.

use s3s::S3Request;
use s3s::dto::{CommonPrefix, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, Object};

use super::Gateway;
use super::etag::client_etag_dto;
use super::object::timestamp;
use crate::envelope::format::plaintext_len;
use crate::error::ApiResult;
use crate::upstream::{ListRequest, unquote, url_encode};

pub async fn list_objects_v2(gw: &Gateway, req: S3Request<ListObjectsV2Input>) -> ApiResult<ListObjectsV2Output> {
    let input = &req.input;
    let request = ListRequest {
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_keys: input.max_keys,
        continuation_token: input.continuation_token.clone(),
        start_after: input.start_after.clone(),
        ..Default::default()
    };
    let page = gw
        .regions
        .read(|up| up.list_objects_v2(&input.bucket, &request))
        .await?;
    let enc = KeyEncoding::from(input.encoding_type.as_ref());
    Ok(ListObjectsV2Output {
        name: Some(input.bucket.clone()),
        prefix: enc.apply(page.prefix()),
        delimiter: enc.apply(page.delimiter()),
        max_keys: page.max_keys(),
        key_count: page.key_count(),
        is_truncated: page.is_truncated(),
        continuation_token: page.continuation_token().map(str::to_owned),
        next_continuation_token: page.next_continuation_token().map(str::to_owned),
        start_after: enc.apply(page.start_after()),
        encoding_type: input.encoding_type.clone(),
        contents: Some(page.contents().iter().map(|o| object_entry(o, enc)).collect()),
        common_prefixes: Some(common_prefixes(page.common_prefixes(), enc)),
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
        ..Default::default()
    };
    let page = gw
        .regions
        .read(|up| up.list_objects_v1(&input.bucket, &request))
        .await?;
    let enc = KeyEncoding::from(input.encoding_type.as_ref());
    Ok(ListObjectsOutput {
        name: Some(input.bucket.clone()),
        prefix: enc.apply(page.prefix()),
        delimiter: enc.apply(page.delimiter()),
        max_keys: page.max_keys(),
        is_truncated: page.is_truncated(),
        marker: enc.apply(page.marker()),
        next_marker: enc.apply(page.next_marker()),
        encoding_type: input.encoding_type.clone(),
        contents: Some(page.contents().iter().map(|o| object_entry(o, enc)).collect()),
        common_prefixes: Some(common_prefixes(page.common_prefixes(), enc)),
        ..Default::default()
    })
}

/// One listed object: the plaintext size is pure arithmetic on the stored size.
fn object_entry(o: &crate::upstream::ListedObject, enc: KeyEncoding) -> Object {
    let stored = o.size().unwrap_or(0).max(0) as u64;
    let size = plaintext_len(stored).unwrap_or(stored);
    Object {
        key: enc.apply(o.key()),
        size: Some(size as i64),
        e_tag: Some(client_etag_dto(&unquote(o.e_tag()))),
        last_modified: o.last_modified().copied().map(timestamp),
        storage_class: o.storage_class().map(|s| s.as_str().to_owned().into()),
        ..Default::default()
    }
}

fn common_prefixes(prefixes: &[crate::upstream::ListedPrefix], enc: KeyEncoding) -> Vec<CommonPrefix> {
    prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: enc.apply(p.prefix()),
        })
        .collect()
}

/// `encoding-type=url`, applied here rather than upstream: upstreams differ in how they encode
/// (some write spaces as `+`), and the client must see one consistent encoding.
#[derive(Clone, Copy)]
enum KeyEncoding {
    None,
    Url,
}

impl From<Option<&s3s::dto::EncodingType>> for KeyEncoding {
    fn from(value: Option<&s3s::dto::EncodingType>) -> Self {
        match value {
            Some(e) if e.as_str().eq_ignore_ascii_case("url") => Self::Url,
            _ => Self::None,
        }
    }
}

impl KeyEncoding {
    fn apply(self, value: Option<&str>) -> Option<String> {
        let value = value?;
        Some(match self {
            Self::None => value.to_owned(),
            Self::Url => url_encode(value),
        })
    }
}
