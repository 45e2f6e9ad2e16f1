//! ListObjects (v1) and ListObjectsV2: one region's listing, with plaintext sizes and client
//! ETags (both pure arithmetic on what the upstream lists, so a listing costs one request).

use std::time::SystemTime;

use super::etag::client_etag;
use super::object::system_time;
use super::{Store, list_merge};
use crate::envelope::format::plaintext_len;
use crate::error::ApiResult;
use crate::replication::ReadScope;
pub use crate::upstream::ListRequest;
use crate::upstream::{ListPage, Upstream, unquote};

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
    /// ListObjectsV2 from a region current for the bucket (merged from both when both are
    /// behind on it: [`super::list_merge`]).
    pub async fn list_objects_v2(&self, bucket: &str, request: &ListRequest) -> ApiResult<Listing> {
        let own_token = list_merge::upstream_request(request);
        let upstream = own_token.as_ref().unwrap_or(request);
        let (page, resume_after) = self.list_page(bucket, upstream, ListVersion::V2).await?;
        // The gateway's own token, whichever region answered: the next page may come from the
        // other region (hedged, failed over, or merged), and an upstream's token is its own.
        let resume_after = resume_after.or_else(|| {
            (page.is_truncated() == Some(true))
                .then(|| list_merge::last_entry(&page))
                .flatten()
        });
        let next_continuation_token = match resume_after {
            Some(after) => Some(list_merge::token_after(&after)),
            None => page.next_continuation_token().map(str::to_owned),
        };
        Ok(Listing {
            prefix: page.prefix().map(str::to_owned).or_else(|| request.prefix.clone()),
            delimiter: page
                .delimiter()
                .map(str::to_owned)
                .or_else(|| request.delimiter.clone()),
            max_keys: page.max_keys(),
            key_count: page.key_count(),
            is_truncated: page.is_truncated(),
            // The client's own token and start-after, whatever the upstreams were asked.
            continuation_token: request.continuation_token.clone(),
            next_continuation_token,
            start_after: request.start_after.clone(),
            objects: page.contents().iter().map(listed).collect(),
            common_prefixes: prefixes(page.common_prefixes()),
            ..Default::default()
        })
    }

    /// ListObjects (v1) from a region current for the bucket (merged from both when both are
    /// behind on it).
    pub async fn list_objects_v1(&self, bucket: &str, request: &ListRequest) -> ApiResult<Listing> {
        let (page, resume_after) = self.list_page(bucket, request, ListVersion::V1).await?;
        Ok(Listing {
            prefix: page.prefix().map(str::to_owned).or_else(|| request.prefix.clone()),
            delimiter: page
                .delimiter()
                .map(str::to_owned)
                .or_else(|| request.delimiter.clone()),
            max_keys: page.max_keys(),
            is_truncated: page.is_truncated(),
            marker: request.marker.clone(),
            next_marker: resume_after.or_else(|| page.next_marker().map(str::to_owned)),
            objects: page.contents().iter().map(listed).collect(),
            common_prefixes: prefixes(page.common_prefixes()),
            ..Default::default()
        })
    }

    /// One page from the region current for `bucket`, or, when both regions are behind on
    /// it, both regions' pages merged by the journal records (with the key the next page
    /// starts after).
    async fn list_page(
        &self,
        bucket: &str,
        request: &ListRequest,
        version: ListVersion,
    ) -> ApiResult<(ListPage, Option<String>)> {
        let list = |up| list_in(up, bucket, request, version);
        let Some(views) = self.regions.listing_views(bucket) else {
            let page = self.regions.read(ReadScope::Bucket(bucket), list).await?;
            return Ok((page, None));
        };
        let pages = self.regions.list_both(list).await?;
        let merged = list_merge::merge(pages, request.max_keys, views);
        Ok((merged.page, merged.resume_after))
    }
}

/// One listing request to one region.
async fn list_in(
    up: &Upstream,
    bucket: &str,
    request: &ListRequest,
    version: ListVersion,
) -> Result<ListPage, crate::upstream::UpstreamError> {
    match version {
        ListVersion::V1 => up.list_objects_v1(bucket, request).await,
        ListVersion::V2 => up.list_objects_v2(bucket, request).await,
    }
}

/// Which ListObjects.
#[derive(Clone, Copy, Debug)]
enum ListVersion {
    V1,
    V2,
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
