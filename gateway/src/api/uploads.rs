//! ListMultipartUploads for a gateway that keeps no state. An upstream listing cannot give a
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
use s3s::S3Request;
use s3s::dto::{CommonPrefix, ListMultipartUploadsInput, ListMultipartUploadsOutput, MultipartUpload, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Gateway;
use super::upload_id::UploadState;
use crate::error::{ApiError, ApiResult};
use crate::journal::Journal;
use crate::stamp::VersionStamp;
use crate::upstream::{ListRequest, Upstream, UpstreamError, UpstreamErrorKind, url_encode};

/// Key prefix of upload records inside the journal bucket.
const RECORD_PREFIX: &str = "uploads/";
/// Format version of a record.
const RECORD_VERSION: u8 = 1;
/// Bytes of a client key spelled out (in hex) in a record's name. Longer keys are cut there
/// and end in `~` + the SHA-256 of the whole key, so a name stays under S3's 1024-byte key
/// limit; such keys sort by hash among those sharing their first 400 bytes.
const SPELLED_KEY_BYTES: usize = 400;
/// Largest record a reader accepts (a sealed upload id plus a 1 KiB key, with room to spare).
const MAX_RECORD_BYTES: usize = 64 * 1024;
/// S3's page-size limit (and default) for ListMultipartUploads.
const MAX_UPLOADS: i32 = 1000;
/// Records read and checked upstream at once.
const CHECK_CONCURRENCY: usize = 16;

/// What an upload record holds, as JSON.
#[derive(Debug, Serialize, Deserialize)]
struct UploadRecord {
    /// Record format version.
    v: u8,
    /// The client's object key.
    key: String,
    /// The sealed client upload id.
    id: String,
}

// === names ===

/// Where one bucket's records are kept.
fn bucket_prefix(bucket: &str) -> String {
    format!("{RECORD_PREFIX}{bucket}/")
}

/// A client key as it appears in record names: its bytes in hex, which sorts like the key
/// itself (byte order) and is safe in any store's key syntax.
fn key_name(key: &str) -> String {
    let bytes = key.as_bytes();
    if bytes.len() <= SPELLED_KEY_BYTES {
        hex::encode(bytes)
    } else {
        format!(
            "{}~{}",
            hex::encode(&bytes[..SPELLED_KEY_BYTES]),
            hex::encode(Sha256::digest(bytes))
        )
    }
}

/// `uploads/<bucket>/<key_name>/<stamp>`: uploads of one key in the order they were created.
fn record_name(bucket: &str, key: &str, stamp: &str) -> String {
    format!("{}{}/{stamp}", bucket_prefix(bucket), key_name(key))
}

// === create, complete, abort ===

/// Records a new upload in each region that created it. Fails only if no region took the
/// record (then the upload could never be listed).
pub(super) async fn remember(
    gw: &Gateway,
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
    let journal = gw.regions.journal();
    let results = gw
        .regions
        .on_both(|up| {
            let created = !state.upstream_ids[gw.regions.index_of(up)].is_empty();
            let (name, body) = (name.as_str(), body.clone());
            async move {
                if !created {
                    return Ok(false);
                }
                put_record(journal, up, name, body).await.map(|()| true)
            }
        })
        .await;
    let mut stored = false;
    let mut failure = None;
    for result in results {
        match result {
            Ok(put) => stored |= put,
            Err(e) => {
                tracing::warn!(error = %e, "multipart upload record not written in one region");
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

/// Stores one record, creating the journal bucket on first use.
async fn put_record(journal: &Journal, up: &Upstream, name: &str, body: Bytes) -> Result<(), UpstreamError> {
    match up.put_small(journal.bucket(), name, body.clone()).await {
        Err(e) if e.kind == UpstreamErrorKind::NoSuchBucket => {
            journal.ensure_bucket(up).await?;
            up.put_small(journal.bucket(), name, body).await
        }
        other => other,
    }
}

/// Removes a finished upload's records (best effort: a record left behind is never listed,
/// because listings check the upload upstream, and is removed by the next listing that sees it).
pub(super) async fn forget(gw: &Gateway, bucket: &str, key: &str, state: &UploadState) {
    if state.stamp.is_empty() {
        return; // an upload id from before records existed
    }
    let name = record_name(bucket, key, &state.stamp);
    let journal_bucket = gw.regions.journal().bucket();
    let results = gw.regions.on_both(|up| up.delete_object(journal_bucket, &name)).await;
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
    fn new(gw: &Gateway, input: &'a ListMultipartUploadsInput) -> ApiResult<Self> {
        let bucket = input.bucket.as_str();
        let prefix = input.prefix.as_deref().unwrap_or_default();
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let spelled = &prefix.as_bytes()[..prefix.len().min(SPELLED_KEY_BYTES)];
        let max = input.max_uploads.unwrap_or(MAX_UPLOADS).clamp(1, MAX_UPLOADS);
        Ok(Self {
            bucket,
            prefix,
            delimiter,
            max: usize::try_from(max).unwrap_or(1000),
            names_prefix: format!("{}{}", bucket_prefix(bucket), hex::encode(spelled)),
            start_after: Self::start_after(gw, input, delimiter)?,
        })
    }

    /// Where a page starts: after `key-marker`'s upload `upload-id-marker`; without an upload
    /// id, after every upload of `key-marker` (and of every key under it, when it is a common
    /// prefix of the previous page).
    fn start_after(
        gw: &Gateway,
        input: &ListMultipartUploadsInput,
        delimiter: Option<&str>,
    ) -> ApiResult<Option<String>> {
        let bucket = input.bucket.as_str();
        let Some(marker) = input.key_marker.as_deref().filter(|m| !m.is_empty()) else {
            return Ok(None); // S3 ignores upload-id-marker without key-marker
        };
        if let Some(id) = input.upload_id_marker.as_deref().filter(|m| !m.is_empty()) {
            let state = UploadState::open(&gw.keyring, bucket, marker, id)
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

/// One listed upload.
struct Found {
    key: String,
    id: String,
    initiated: Option<Timestamp>,
}

/// One page of the answer.
#[derive(Default)]
struct Page {
    uploads: Vec<Found>,
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
    fn offer(&mut self, query: &Query<'_>, found: Found) -> bool {
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

pub async fn list_multipart_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> ApiResult<ListMultipartUploadsOutput> {
    let input = &req.input;
    gw.regions.read(|up| up.head_bucket(&input.bucket)).await?;
    let query = Query::new(gw, input)?;
    let page = collect(gw, &query).await?;
    let url = input
        .encoding_type
        .as_ref()
        .is_some_and(|e| e.as_str().eq_ignore_ascii_case("url"));
    let enc = |value: &str| if url { url_encode(value) } else { value.to_owned() };
    let (next_key, next_id) = match (&page.last, page.truncated) {
        (Some((key, id)), true) => (Some(enc(key)), id.clone()),
        _ => (None, None),
    };
    let uploads = page
        .uploads
        .into_iter()
        .map(|f| MultipartUpload {
            key: Some(enc(&f.key)),
            upload_id: Some(f.id),
            initiated: f.initiated,
            ..Default::default()
        })
        .collect();
    let prefixes: Vec<CommonPrefix> = page
        .prefixes
        .iter()
        .map(|p| CommonPrefix { prefix: Some(enc(p)) })
        .collect();
    Ok(ListMultipartUploadsOutput {
        bucket: Some(input.bucket.clone()),
        prefix: input.prefix.as_deref().map(enc),
        delimiter: input.delimiter.as_deref().map(enc),
        key_marker: input.key_marker.as_deref().map(enc),
        upload_id_marker: input.upload_id_marker.clone(),
        max_uploads: Some(query.max as i32),
        is_truncated: Some(page.truncated),
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        uploads: Some(uploads),
        common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
        encoding_type: input.encoding_type.clone(),
        ..Default::default()
    })
}

/// Walks both regions' record names in order (merged: a record is in each region that created
/// its upload) and fills one page with the uploads that still exist. A region whose listing
/// fails is left out (a degraded answer beats none); both failing fails the request.
async fn collect(gw: &Gateway, query: &Query<'_>) -> ApiResult<Page> {
    let mut page = Page::default();
    let mut after = query.start_after.clone();
    let mut failed = [false; 2];
    loop {
        let listings = gw
            .regions
            .on_both(|up| {
                let skip = failed[gw.regions.index_of(up)];
                let after = after.clone();
                async move {
                    if skip {
                        return Ok((Vec::new(), false));
                    }
                    list_names(gw, up, &query.names_prefix, after).await
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
        if !fill(gw, query, &mut page, candidates).await? {
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
    gw: &Gateway,
    query: &Query<'_>,
    page: &mut Page,
    candidates: Vec<(String, [bool; 2])>,
) -> ApiResult<bool> {
    let checks = candidates
        .into_iter()
        .map(|(name, holders)| async move { check(gw, query, &name, holders).await });
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
    gw: &Gateway,
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
    let page = match up.list_objects_v2(gw.regions.journal().bucket(), &request).await {
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
/// `None` for a record gone meanwhile, unreadable, or of an id that no longer opens, and for a
/// finished upload (whose records are then removed).
async fn check(gw: &Gateway, query: &Query<'_>, name: &str, holders: [bool; 2]) -> ApiResult<Option<Found>> {
    let Some(record) = read_record(gw, name, holders).await? else {
        return Ok(None);
    };
    let Ok(state) = UploadState::open(&gw.keyring, query.bucket, &record.key, &record.id) else {
        tracing::warn!(record = name, "multipart upload record whose id does not open; skipped");
        return Ok(None);
    };
    let journal_bucket = gw.regions.journal().bucket();
    let mut unknown = None;
    let mut exists = false;
    for (region, up) in gw.regions.all().iter().enumerate() {
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
        .map(|stamp| Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_millis(stamp.millis())));
    Ok(Some(Found {
        key: record.key,
        id: record.id,
        initiated,
    }))
}

/// The record `name` from the first region of `holders` that still has it.
async fn read_record(gw: &Gateway, name: &str, holders: [bool; 2]) -> ApiResult<Option<UploadRecord>> {
    let journal_bucket = gw.regions.journal().bucket();
    for (region, up) in gw.regions.all().iter().enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_sort_like_their_keys() {
        let keys = ["a", "a/b", "a0", "ab", "b", "é", "z~", "\u{10348}"];
        let mut names: Vec<(String, &str)> = keys.iter().map(|k| (record_name("bkt", k, "0001.0002"), *k)).collect();
        names.sort();
        let sorted: Vec<&str> = names.iter().map(|(_, k)| *k).collect();
        let mut expected = keys.to_vec();
        expected.sort();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn long_keys_get_bounded_names_after_their_spelled_prefix() {
        let long = "k".repeat(1024);
        let name = record_name(&"b".repeat(63), &long, &"f".repeat(33));
        assert!(name.len() <= 1024, "{} bytes", name.len());
        let prefix = "k".repeat(SPELLED_KEY_BYTES);
        assert!(record_name("b", &prefix, "x") < record_name("b", &long, "x"));
        assert_ne!(
            key_name(&long),
            key_name(&format!("{long}x")),
            "distinct long keys collide"
        );
    }
}
