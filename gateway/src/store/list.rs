//! ListObjects (v1) and ListObjectsV2: one region's listing, with plaintext sizes and client
//! ETags (both pure arithmetic on what the upstream lists, so a listing costs one request).

use std::time::SystemTime;

use super::Store;
use super::etag::client_etag;
use super::object::system_time;
use crate::envelope::format::plaintext_len;
use crate::error::ApiResult;
use crate::replication::ReadScope;
pub use crate::upstream::ListRequest;
use crate::upstream::unquote;

/// One page of a listing, in client terms.
#[derive(Debug, Default)]
pub struct Listing {
    /// `Prefix` as the upstream echoed it.
    pub prefix: Option<String>,
    /// `Delimiter`.
    pub delimiter: Option<String>,
    /// `MaxKeys`.
    pub max_keys: Option<i32>,
    /// `KeyCount` (v2).
    pub key_count: Option<i32>,
    /// `IsTruncated`.
    pub is_truncated: Option<bool>,
    /// `ContinuationToken` (v2).
    pub continuation_token: Option<String>,
    /// `NextContinuationToken` (v2).
    pub next_continuation_token: Option<String>,
    /// `StartAfter` (v2).
    pub start_after: Option<String>,
    /// `Marker` (v1).
    pub marker: Option<String>,
    /// `NextMarker` (v1).
    pub next_marker: Option<String>,
    /// The objects.
    pub objects: Vec<ListedObject>,
    /// `CommonPrefixes`.
    pub common_prefixes: Vec<String>,
}

/// One listed object.
#[derive(Debug)]
pub struct ListedObject {
    /// Key.
    pub key: Option<String>,
    /// Plaintext size.
    pub size: u64,
    /// Client ETag (no quotes).
    pub etag: String,
    /// Modification time.
    pub last_modified: Option<SystemTime>,
    /// Storage class, as the upstream says.
    pub storage_class: Option<String>,
}

impl Store {
    /// ListObjectsV2 from the first region that answers.
    pub async fn list_objects_v2(&self, bucket: &str, request: &ListRequest) -> ApiResult<Listing> {
        let page = self
            .regions
            .read(ReadScope::Bucket(bucket), |up| up.list_objects_v2(bucket, request))
            .await?;
        Ok(Listing {
            prefix: page.prefix().map(str::to_owned),
            delimiter: page.delimiter().map(str::to_owned),
            max_keys: page.max_keys(),
            key_count: page.key_count(),
            is_truncated: page.is_truncated(),
            continuation_token: page.continuation_token().map(str::to_owned),
            next_continuation_token: page.next_continuation_token().map(str::to_owned),
            start_after: page.start_after().map(str::to_owned),
            objects: page.contents().iter().map(listed).collect(),
            common_prefixes: prefixes(page.common_prefixes()),
            ..Default::default()
        })
    }

    /// ListObjects (v1) from the first region that answers.
    pub async fn list_objects_v1(&self, bucket: &str, request: &ListRequest) -> ApiResult<Listing> {
        let page = self
            .regions
            .read(ReadScope::Bucket(bucket), |up| up.list_objects_v1(bucket, request))
            .await?;
        Ok(Listing {
            prefix: page.prefix().map(str::to_owned),
            delimiter: page.delimiter().map(str::to_owned),
            max_keys: page.max_keys(),
            is_truncated: page.is_truncated(),
            marker: page.marker().map(str::to_owned),
            next_marker: page.next_marker().map(str::to_owned),
            objects: page.contents().iter().map(listed).collect(),
            common_prefixes: prefixes(page.common_prefixes()),
            ..Default::default()
        })
    }
}

/// One listed object: the plaintext size is pure arithmetic on the stored size.
fn listed(o: &crate::upstream::ListedObject) -> ListedObject {
    let stored = o.size().unwrap_or(0).max(0) as u64;
    ListedObject {
        key: o.key().map(str::to_owned),
        size: plaintext_len(stored).unwrap_or(stored),
        etag: client_etag(&unquote(o.e_tag())),
        last_modified: o.last_modified().copied().map(system_time),
        storage_class: o.storage_class().map(|s| s.as_str().to_owned()),
    }
}

fn prefixes(prefixes: &[crate::upstream::ListedPrefix]) -> Vec<String> {
    prefixes.iter().filter_map(|p| p.prefix().map(str::to_owned)).collect()
}
