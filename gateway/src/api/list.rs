//! ListObjects (v1) and ListObjectsV2 at the front door, with `encoding-type=url`.

use s3s::S3Request;
use s3s::dto::{CommonPrefix, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, Object};

use super::Gateway;
use super::dto;
use crate::error::ApiResult;
use crate::store::url_encode;
use crate::store::{ListRequest, ListedObject};

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
    let page = gw.store.list_objects_v2(&input.bucket, &request).await?;
    let enc = KeyEncoding::from(input.encoding_type.as_ref());
    Ok(ListObjectsV2Output {
        name: Some(input.bucket.clone()),
        prefix: enc.apply(page.prefix.as_deref()),
        delimiter: enc.apply(page.delimiter.as_deref()),
        max_keys: page.max_keys,
        key_count: page.key_count,
        is_truncated: page.is_truncated,
        continuation_token: page.continuation_token,
        next_continuation_token: page.next_continuation_token,
        start_after: enc.apply(page.start_after.as_deref()),
        encoding_type: input.encoding_type.clone(),
        contents: Some(
            page.objects
                .iter()
                .map(|o| object_entry(o, enc, input.fetch_owner == Some(true)))
                .collect(),
        ),
        common_prefixes: Some(common_prefixes(&page.common_prefixes, enc)),
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
    let page = gw.store.list_objects_v1(&input.bucket, &request).await?;
    let enc = KeyEncoding::from(input.encoding_type.as_ref());
    Ok(ListObjectsOutput {
        name: Some(input.bucket.clone()),
        prefix: enc.apply(page.prefix.as_deref()),
        delimiter: enc.apply(page.delimiter.as_deref()),
        max_keys: page.max_keys,
        is_truncated: page.is_truncated,
        marker: enc.apply(page.marker.as_deref()),
        next_marker: enc.apply(page.next_marker.as_deref()),
        encoding_type: input.encoding_type.clone(),
        // ListObjects (v1) names owners always; v2 on `fetch-owner=true`.
        contents: Some(page.objects.iter().map(|o| object_entry(o, enc, true)).collect()),
        common_prefixes: Some(common_prefixes(&page.common_prefixes, enc)),
        ..Default::default()
    })
}

fn object_entry(o: &ListedObject, enc: KeyEncoding, with_owner: bool) -> Object {
    Object {
        owner: with_owner.then(super::probes::owner),
        key: enc.apply(o.key.as_deref()),
        size: Some(o.size as i64),
        e_tag: Some(dto::etag(&o.etag)),
        last_modified: o.last_modified.map(dto::timestamp),
        storage_class: o.storage_class.clone().map(Into::into),
        ..Default::default()
    }
}

fn common_prefixes(prefixes: &[String], enc: KeyEncoding) -> Vec<CommonPrefix> {
    prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: enc.apply(Some(p)),
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
