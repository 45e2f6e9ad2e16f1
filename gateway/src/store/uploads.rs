//! Multipart upload records and ListMultipartUploads, for a gateway that keeps no state. An upstream listing cannot give a
//! client its upload id back (the sealed id holds both regions' upstream ids and the object
//! header), so CreateMultipartUpload leaves a small record with the sealed id in the reserved
//! journal bucket of each region that created the upload, and Complete and Abort remove it
//! (docs/ARCHITECTURE.md, "Multipart upload records"). A listing reads the records of both
//! regions in name order, which is client-key order, and checks each upload still exists
//! upstream: a record left behind (a removal that failed, an upload reaped upstream) is never
//! listed, and is removed on the way.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::Store;
use super::upload_id::UploadState;
use crate::error::{ApiError, ApiResult};
use crate::replication::ReadScope;
use crate::reserved::layout::{
    SPELLED_KEY_BYTES, upload_key_name as key_name, upload_record as record_name, uploads_prefix as bucket_prefix,
};
use crate::stamp::VersionStamp;
use crate::upstream::{ListRequest, Upstream, UpstreamError};

/// Format version of a record.
const RECORD_VERSION: u8 = 1;
/// Largest record a reader accepts (a sealed upload id plus a 1 KiB key, with room to spare).
const MAX_RECORD_BYTES: usize = 64 * 1024;
/// S3's page-size limit (and default) for ListMultipartUploads.
const MAX_UPLOADS: i32 = 1000;
/// Records read and checked upstream at once.
const CHECK_CONCURRENCY: usize = 16;

/// What an upload record holds, as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct UploadRecord {
    /// Record format version.
    v: u8,
    /// The client's object key.
    pub(super) key: String,
    /// The sealed client upload id.
    pub(super) id: String,
}

// === create, complete, abort ===

/// Records a new upload in each region that created it. Fails only if no region took the
/// record (then the upload could never be listed).
pub(super) async fn remember(
    store: &Store,
    bucket: &str,
    key: &str,
    state: &UploadState,
    upload_id: &str,
) -> ApiResult<()> {
    let record = UploadRecord {
        v: RECORD_VERSION,
        key: key.to_owned(),
        id: upload_id.to_owned(),
    };
    let body = Bytes::from(serde_json::to_vec(&record).map_err(|_| ApiError::Internal("upload record encoding"))?);
    let name = record_name(bucket, key, &state.stamp);
    put_where_uploaded(store, state, &name, body, "multipart upload record").await
}

/// Stores a small record of an upload in the reserved bucket of each region that holds the
/// upload. Fails only if no region took it; one that failed is logged (`what` names it).
pub(super) async fn put_where_uploaded(
    store: &Store,
    state: &UploadState,
    name: &str,
    body: Bytes,
    what: &str,
) -> ApiResult<()> {
    let journal = store.regions.journal();
    let results = store
        .regions
        .on_both(|up| {
            let created = !state.upstream_ids[store.regions.index_of(up)].is_empty();
            let body = body.clone();
            async move {
                if !created {
                    return Ok(false);
                }
                journal.put(up, name, body).await.map(|()| true)
            }
        })
        .await;
    let mut stored = false;
    let mut failure = None;
    for result in results {
        match result {
            Ok(put) => stored |= put,
            Err(e) => {
                tracing::warn!(error = %e, record = what, "record not written in one region");
                failure = Some(e);
            }
        }
    }
    match (stored, failure) {
        (true, _) => Ok(()),
        (false, Some(e)) => Err(e.into()),
        (false, None) => Err(ApiError::Internal("upload created in no region")),
    }
}

/// Removes a finished upload's records (best effort: a record left behind is never listed,
/// because listings check the upload upstream, and is removed by the next listing that sees it).
pub(super) async fn forget(store: &Store, bucket: &str, key: &str, state: &UploadState) {
    if state.stamp.is_empty() {
        return; // an upload id from before records existed
    }
    let name = record_name(bucket, key, &state.stamp);
    let journal_bucket = store.regions.journal().bucket();
    let results = store
        .regions
        .on_both(|up| up.delete_object(journal_bucket, &name))
        .await;
    for result in results {
        match result {
            Err(e) if !e.kind.is_not_found() => {
                tracing::warn!(error = %e, "multipart upload record not removed; listings skip it");
            }
            _ => {}
        }
    }
}

// === listing ===

/// A ListMultipartUploads request.
#[derive(Clone, Debug, Default)]
pub struct UploadsQuery<'a> {
    /// Client bucket.
    pub bucket: &'a str,
    /// `prefix`.
    pub prefix: Option<&'a str>,
    /// `delimiter`.
    pub delimiter: Option<&'a str>,
    /// `max-uploads`.
    pub max_uploads: Option<i32>,
    /// `key-marker`.
    pub key_marker: Option<&'a str>,
    /// `upload-id-marker`.
    pub upload_id_marker: Option<&'a str>,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Default)]
pub struct UploadsPage {
    /// The uploads, in key order, then creation order.
    pub uploads: Vec<ListedUpload>,
    /// Common prefixes, in order.
    pub prefixes: Vec<String>,
    /// Whether more follow.
    pub truncated: bool,
    /// Where the next page starts: key and (for an upload) upload id.
    pub next_marker: Option<(String, Option<String>)>,
    /// The page size used.
    pub max_uploads: usize,
}

/// One listed upload.
#[derive(Debug)]
pub struct ListedUpload {
    /// Client key.
    pub key: String,
    /// Client upload id.
    pub id: String,
    /// When it was created (from its version stamp).
    pub initiated: Option<SystemTime>,
}

/// One listing request, in record-name terms.
struct Query<'a> {
    bucket: &'a str,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    max: usize,
    /// Names to list start with this.
    names_prefix: String,
    /// List names after this one.
    start_after: Option<String>,
}

impl<'a> Query<'a> {
    fn new(store: &Store, input: &UploadsQuery<'a>) -> ApiResult<Self> {
        let bucket = input.bucket;
        let prefix = input.prefix.unwrap_or_default();
        let delimiter = input.delimiter.filter(|d| !d.is_empty());
        let spelled = &prefix.as_bytes()[..prefix.len().min(SPELLED_KEY_BYTES)];
        let max = input.max_uploads.unwrap_or(MAX_UPLOADS).clamp(1, MAX_UPLOADS);
        Ok(Self {
            bucket,
            prefix,
            delimiter,
            max: usize::try_from(max).unwrap_or(1000),
            names_prefix: format!("{}{}", bucket_prefix(bucket), hex::encode(spelled)),
            start_after: Self::start_after(store, input, delimiter)?,
        })
    }

    /// Where a page starts: after `key-marker`'s upload `upload-id-marker`; without an upload
    /// id, after every upload of `key-marker` (and of every key under it, when it is a common
    /// prefix of the previous page).
    fn start_after(store: &Store, input: &UploadsQuery<'_>, delimiter: Option<&str>) -> ApiResult<Option<String>> {
        let bucket = input.bucket;
        let Some(marker) = input.key_marker.filter(|m| !m.is_empty()) else {
            return Ok(None); // S3 ignores upload-id-marker without key-marker
        };
        if let Some(id) = input.upload_id_marker.filter(|m| !m.is_empty()) {
            let state = UploadState::open(&*store.keyring()?, bucket, marker, id)
                .map_err(|_| ApiError::InvalidArgument("upload-id-marker is not an upload of key-marker".into()))?;
            return Ok(Some(record_name(bucket, marker, &state.stamp)));
        }
        let name = key_name(marker);
        // Hex digits, `/` and `~` are all a name can continue with, and all sort below "~~".
        let under_marker = delimiter.is_some_and(|d| marker.ends_with(d)) && marker.len() <= SPELLED_KEY_BYTES;
        let after = if under_marker { "~~" } else { "/~" };
        Ok(Some(format!("{}{name}{after}", bucket_prefix(bucket))))
    }
}

/// One page of the answer.
#[derive(Default)]
struct Page {
    uploads: Vec<ListedUpload>,
    prefixes: Vec<String>,
    /// The last entry (upload or common prefix), for the next-markers.
    last: Option<(String, Option<String>)>,
    truncated: bool,
}

impl Page {
    fn len(&self) -> usize {
        self.uploads.len() + self.prefixes.len()
    }

    /// Adds an upload (or the common prefix it rolls up into); false once the page is full.
    fn offer(&mut self, query: &Query<'_>, found: ListedUpload) -> bool {
        let rolled = query.delimiter.and_then(|d| {
            let rest = found.key.get(query.prefix.len()..)?;
            let at = rest.find(d)?;
            Some(format!("{}{}", query.prefix, &rest[..at + d.len()]))
        });
        if let Some(prefix) = &rolled
            && self.prefixes.last() == Some(prefix)
        {
            return true;
        }
        if self.len() >= query.max {
            self.truncated = true;
            return false;
        }
        match rolled {
            Some(prefix) => {
                self.last = Some((prefix.clone(), None));
                self.prefixes.push(prefix);
            }
            None => {
                self.last = Some((found.key.clone(), Some(found.id.clone())));
                self.uploads.push(found);
            }
        }
        true
    }
}

impl Store {
    /// One page of ListMultipartUploads: the uploads whose records are in either region and
    /// that still exist upstream.
    pub async fn list_uploads(&self, input: &UploadsQuery<'_>) -> ApiResult<UploadsPage> {
        self.regions
            .read(ReadScope::BucketExists(input.bucket), |up| up.head_bucket(input.bucket))
            .await?;
        let query = Query::new(self, input)?;
        let page = collect(self, &query).await?;
        Ok(UploadsPage {
            next_marker: page.last.filter(|_| page.truncated),
            uploads: page.uploads,
            prefixes: page.prefixes,
            truncated: page.truncated,
            max_uploads: query.max,
        })
    }
}

/// Walks both regions' record names in order (merged: a record is in each region that created
/// its upload) and fills one page with the uploads that still exist. A region whose listing
/// fails is left out (a degraded answer beats none); both failing fails the request.
async fn collect(store: &Store, query: &Query<'_>) -> ApiResult<Page> {
    let mut page = Page::default();
    let mut after = query.start_after.clone();
    let mut failed = [false; 2];
    loop {
        let listings = store
            .regions
            .on_both(|up| {
                let skip = failed[store.regions.index_of(up)];
                let after = after.clone();
                async move {
                    if skip {
                        return Ok((Vec::new(), false));
                    }
                    list_names(store, up, &query.names_prefix, after).await
                }
            })
            .await;
        let mut names: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        let mut truncated = [false; 2];
        let mut first_error = None;
        for (i, listing) in listings.into_iter().enumerate() {
            match listing {
                Ok((n, t)) => (names[i], truncated[i]) = (n, t),
                Err(e) => {
                    tracing::warn!(error = %e, "upload records of one region could not be listed");
                    failed[i] = true;
                    first_error.get_or_insert(e);
                }
            }
        }
        if failed == [true, true] {
            return Err(first_error.map_or(ApiError::Internal("listing results"), ApiError::from));
        }
        // A truncated page only vouches for names up to its last one.
        let limit = (0..2)
            .filter(|&i| truncated[i])
            .filter_map(|i| names[i].last().cloned())
            .min();
        let mut merged: BTreeMap<String, [bool; 2]> = BTreeMap::new();
        for (i, region_names) in names.into_iter().enumerate() {
            for name in region_names {
                if limit.as_ref().is_none_or(|l| name <= *l) {
                    merged.entry(name).or_default()[i] = true;
                }
            }
        }
        after = merged.keys().next_back().cloned().or(after);
        let candidates: Vec<(String, [bool; 2])> = merged.into_iter().collect();
        if !fill(store, query, &mut page, candidates).await? {
            return Ok(page);
        }
        if limit.is_none() {
            return Ok(page);
        }
    }
}

/// Checks `candidates` (name, the regions holding it) a few at a time, in order, adding what
/// still exists to `page`; false once the page is full.
async fn fill(
    store: &Store,
    query: &Query<'_>,
    page: &mut Page,
    candidates: Vec<(String, [bool; 2])>,
) -> ApiResult<bool> {
    let checks = candidates
        .into_iter()
        .map(|(name, holders)| async move { check(store, query, &name, holders).await });
    let mut checks = futures::stream::iter(checks).buffered(CHECK_CONCURRENCY);
    while let Some(checked) = checks.next().await {
        if let Some(found) = checked? {
            if !found.key.starts_with(query.prefix) {
                continue; // a long prefix only narrows the names to its first 400 bytes
            }
            if !page.offer(query, found) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// One page of record names (and whether more follow) in `up`; none when the journal bucket
/// does not exist there yet.
async fn list_names(
    store: &Store,
    up: &Upstream,
    prefix: &str,
    after: Option<String>,
) -> Result<(Vec<String>, bool), UpstreamError> {
    let request = ListRequest {
        prefix: Some(prefix.to_owned()),
        max_keys: Some(1000),
        start_after: after,
        ..Default::default()
    };
    let page = match up.list_objects_v2(store.regions.journal().bucket(), &request).await {
        Err(e) if e.kind.is_not_found() => return Ok((Vec::new(), false)),
        other => other?,
    };
    let names = page
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    Ok((names, page.is_truncated() == Some(true)))
}

/// Reads one record and checks that its upload still exists in a region holding the record.
/// `None` for a record gone meanwhile, unreadable, or of an id that no longer opens or has
/// expired (`multipart.upload_ttl_secs`), and for a finished upload (whose records are then
/// removed).
async fn check(store: &Store, query: &Query<'_>, name: &str, holders: [bool; 2]) -> ApiResult<Option<ListedUpload>> {
    let Some(record) = read_record(store, name, holders).await? else {
        return Ok(None);
    };
    let Ok(state) = UploadState::open(&*store.keyring()?, query.bucket, &record.key, &record.id) else {
        tracing::warn!(record = name, "multipart upload record whose id does not open; skipped");
        return Ok(None);
    };
    if state.expired(store.upload_ttl, std::time::SystemTime::now()) {
        // Refused by every other call (NoSuchUpload), as S3 lists no upload it has reaped.
        return Ok(None);
    }
    let journal_bucket = store.regions.journal().bucket();
    let mut unknown = None;
    let mut exists = false;
    for (region, up) in store.regions.all().iter().enumerate() {
        if !holders[region] {
            continue;
        }
        let upstream_id = &state.upstream_ids[region];
        let answer = if upstream_id.is_empty() {
            Ok(false)
        } else {
            up.upload_exists(query.bucket, &record.key, upstream_id).await
        };
        match answer {
            Ok(true) => {
                exists = true;
                break;
            }
            Ok(false) => {
                tracing::debug!(
                    record = name,
                    region = up.name(),
                    "record of a finished multipart upload; removed"
                );
                let _ = up.delete_object(journal_bucket, name).await;
            }
            Err(e) => unknown = Some(e),
        }
    }
    match (exists, unknown) {
        (true, _) => {}
        (false, None) => return Ok(None),
        // Neither shown nor hidden on a guess: the region that could tell did not answer.
        (false, Some(e)) => return Err(e.into()),
    }
    let initiated = state
        .stamp
        .parse::<VersionStamp>()
        .ok()
        .map(|stamp| SystemTime::UNIX_EPOCH + Duration::from_millis(stamp.millis()));
    Ok(Some(ListedUpload {
        key: record.key,
        id: record.id,
        initiated,
    }))
}

/// The record `name` from the first region of `holders` that still has it.
pub(super) async fn read_record(store: &Store, name: &str, holders: [bool; 2]) -> ApiResult<Option<UploadRecord>> {
    let journal_bucket = store.regions.journal().bucket();
    for (region, up) in store.regions.all().iter().enumerate() {
        if !holders[region] {
            continue;
        }
        let bytes = match up.get_small(journal_bucket, name, MAX_RECORD_BYTES).await {
            Err(e) if e.kind.is_not_found() => continue,
            other => other?,
        };
        return match serde_json::from_slice::<UploadRecord>(&bytes) {
            Ok(record) if record.v == RECORD_VERSION => Ok(Some(record)),
            Ok(record) => {
                tracing::warn!(
                    record = name,
                    version = record.v,
                    "multipart upload record of an unknown version; skipped"
                );
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(record = name, error = %e, "unreadable multipart upload record; skipped");
                Ok(None)
            }
        };
    }
    Ok(None)
}
