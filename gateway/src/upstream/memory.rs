//! An in-memory [`Backend`] for tests, answering as an S3 store does (ETags, conditions,
//! ranges, multipart, listings) so that the layers above can be tested without SeaweedFS, plus
//! fault injection (a region down, failing calls, slow calls).
//!
//! Deliberate simplifications: continuation tokens are the last key or prefix returned (opaque
//! to callers all the same); part sizes are not checked against S3's 5 MiB minimum, so tests
//! can use small parts; a copy is stored as a single-part object, as AWS stores it.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use md5::{Digest, Md5};

use super::backend::{Backend, FrameStream, PartsPage, PutCondition};
use super::{
    ListPage, ListPageV1, ListRequest, ListedObject, ListedPart, ListedPrefix, Result, StorageClass, StoredBody,
    StoredObject, StoredPart, StoredStream, UploadedPart, UpstreamError, UpstreamErrorKind as Kind,
};

/// GET bodies come back in chunks of this size, so readers see a stream, not one buffer.
const CHUNK: usize = 64 * 1024;
/// S3's largest page of a listing, of ListParts, and of DeleteObjects.
const MAX_PAGE: usize = 1000;

/// One in-memory S3 store. Errors name the region "memory"; [`super::Upstream`] renames them.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
    faults: Mutex<Faults>,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, Bucket>,
    uploads: HashMap<String, Upload>,
    next_upload: u64,
}

#[derive(Debug)]
struct Bucket {
    created: DateTime,
    objects: BTreeMap<String, Object>,
}

#[derive(Clone, Debug)]
struct Object {
    bytes: Bytes,
    etag: String,
    metadata: HashMap<String, String>,
    last_modified: DateTime,
    /// Stored length of each part of a multipart object; empty for a single PUT.
    part_lens: Vec<u64>,
}

#[derive(Debug)]
struct Upload {
    bucket: String,
    key: String,
    metadata: HashMap<String, String>,
    parts: BTreeMap<i32, Part>,
}

#[derive(Clone, Debug)]
struct Part {
    bytes: Bytes,
    etag: String,
    last_modified: DateTime,
}

#[derive(Debug, Default)]
struct Faults {
    down: bool,
    listings_without_etags: bool,
    delay: Duration,
    fail_next: HashMap<String, (Kind, u32)>,
    calls: HashMap<&'static str, u64>,
}

fn error(operation: &'static str, kind: Kind, message: impl Into<String>) -> UpstreamError {
    UpstreamError::new("memory", operation, kind, message)
}

fn now() -> DateTime {
    DateTime::from(SystemTime::now())
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// S3's multipart ETag: the MD5 of the parts' binary MD5s, then `-` and the part count.
fn multipart_etag(part_etags: &[&str]) -> String {
    let mut digests = Vec::with_capacity(part_etags.len() * 16);
    for etag in part_etags {
        digests.extend(hex::decode(etag).unwrap_or_default());
    }
    format!("{}-{}", md5_hex(&digests), part_etags.len())
}

impl MemoryBackend {
    /// An empty store, up, without faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `down`, every call answers `Unavailable` (after its delay), as an unreachable
    /// region does.
    pub fn set_down(&self, down: bool) {
        self.faults().down = down;
    }

    /// Listings carry no ETags, as s3s-fs (the quickstart's regions) lists.
    pub fn set_listings_without_etags(&self, without: bool) {
        self.faults().listings_without_etags = without;
    }

    /// The next `count` calls of `operation` (an S3 operation name, e.g. `GetObject`) fail
    /// with `kind`.
    pub fn fail_next(&self, operation: &str, kind: Kind, count: u32) {
        let mut faults = self.faults();
        match count {
            0 => faults.fail_next.remove(operation),
            _ => faults.fail_next.insert(operation.to_owned(), (kind, count)),
        };
    }

    /// Every call first waits `delay` (tokio time, so paused-time tests stay instant).
    pub fn set_delay(&self, delay: Duration) {
        self.faults().delay = delay;
    }

    /// How many calls of `operation` reached the store, faulted ones included (calls the
    /// breaker refused never do).
    pub fn calls(&self, operation: &str) -> u64 {
        self.faults().calls.get(operation).copied().unwrap_or(0)
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts the call, waits the delay, then answers the injected fault, if any.
    async fn enter(&self, operation: &'static str) -> Result<()> {
        let delay = {
            let mut faults = self.faults();
            *faults.calls.entry(operation).or_default() += 1;
            faults.delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut faults = self.faults();
        if faults.down {
            return Err(error(operation, Kind::Unavailable, "region down (memory backend)"));
        }
        if let Some((kind, left)) = faults.fail_next.get_mut(operation) {
            let kind = *kind;
            *left = left.saturating_sub(1);
            if *left == 0 {
                faults.fail_next.remove(operation);
            }
            return Err(error(operation, kind, "injected failure"));
        }
        Ok(())
    }

    fn require_bucket(&self, operation: &'static str, bucket: &str) -> Result<()> {
        if self.state().buckets.contains_key(bucket) {
            Ok(())
        } else {
            Err(error(operation, Kind::NoSuchBucket, "NoSuchBucket"))
        }
    }

    /// The object, as GET and CopyObject see it (with error codes, unlike HEAD).
    fn object(&self, operation: &'static str, bucket: &str, key: &str) -> Result<Object> {
        let state = self.state();
        let Some(b) = state.buckets.get(bucket) else {
            return Err(error(operation, Kind::NoSuchBucket, "NoSuchBucket"));
        };
        b.objects
            .get(key)
            .cloned()
            .ok_or_else(|| error(operation, Kind::NoSuchKey, "NoSuchKey"))
    }

    /// The object, as HEAD sees it: a bare 404 whatever is missing.
    fn head(&self, bucket: &str, key: &str) -> Result<Object> {
        let state = self.state();
        let object = state.buckets.get(bucket).and_then(|b| b.objects.get(key));
        object
            .cloned()
            .ok_or_else(|| error("HeadObject", Kind::NotFound, "404"))
    }

    fn store(&self, operation: &'static str, bucket: &str, key: &str, object: Object) -> Result<()> {
        let mut state = self.state();
        let Some(b) = state.buckets.get_mut(bucket) else {
            return Err(error(operation, Kind::NoSuchBucket, "NoSuchBucket"));
        };
        b.objects.insert(key.to_owned(), object);
        Ok(())
    }

    /// Judges a write's `condition` on what `bucket`/`key` holds, when the object would be
    /// stored, as S3 does.
    fn check_condition(
        &self,
        operation: &'static str,
        bucket: &str,
        key: &str,
        condition: PutCondition<'_>,
    ) -> Result<()> {
        let holds = match (condition, self.head(bucket, key)) {
            (PutCondition::Always, _) => true,
            (PutCondition::IfAbsent, existing) => existing.is_err(),
            (PutCondition::IfMatch(etag), Ok(existing)) => existing.etag == etag,
            (PutCondition::IfMatch(_), Err(_)) => {
                return Err(error(operation, Kind::NoSuchKey, "404 NoSuchKey"));
            }
        };
        if holds {
            Ok(())
        } else {
            Err(error(operation, Kind::PreconditionFailed, "412 PreconditionFailed"))
        }
    }

    /// Checks that `upload_id` is an upload of `bucket`/`key`.
    fn require_upload(&self, operation: &'static str, (bucket, key, upload_id): (&str, &str, &str)) -> Result<()> {
        match self.state().uploads.get(upload_id) {
            Some(u) if u.bucket == bucket && u.key == key => Ok(()),
            _ => Err(error(operation, Kind::NoSuchUpload, "NoSuchUpload")),
        }
    }

    fn list(&self, operation: &'static str, bucket: &str, req: &ListRequest, after: Option<&str>) -> Result<Listed> {
        let state = self.state();
        let Some(b) = state.buckets.get(bucket) else {
            return Err(error(operation, Kind::NoSuchBucket, "NoSuchBucket"));
        };
        let mut listed = list_keys(b, req, after);
        if self.faults().listings_without_etags {
            for object in &mut listed.contents {
                object.e_tag = None;
            }
        }
        Ok(listed)
    }
}

/// What one stored object holds, for tests to inspect (ciphertext and upstream metadata).
#[cfg(test)]
#[derive(Clone, Debug)]
pub struct RawObject {
    /// The stored bytes.
    pub bytes: Bytes,
    /// Upstream ETag (no quotes).
    pub etag: String,
    /// Upstream user metadata.
    pub metadata: HashMap<String, String>,
    /// Stored length of each part of a multipart object; empty for a single PUT.
    pub part_lens: Vec<u64>,
}

/// Direct inspection and damage, bypassing fault injection and call counts.
#[cfg(test)]
impl MemoryBackend {
    /// The object stored under `bucket`/`key`, if any.
    pub fn raw(&self, bucket: &str, key: &str) -> Option<RawObject> {
        let state = self.state();
        let object = state.buckets.get(bucket)?.objects.get(key)?;
        Some(RawObject {
            bytes: object.bytes.clone(),
            etag: object.etag.clone(),
            metadata: object.metadata.clone(),
            part_lens: object.part_lens.clone(),
        })
    }

    /// Every key of `bucket` starting with `prefix`, in order (empty without the bucket).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let state = self.state();
        let Some(b) = state.buckets.get(bucket) else {
            return Vec::new();
        };
        b.objects.keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }

    /// How many multipart uploads are in progress.
    pub fn open_uploads(&self) -> usize {
        self.state().uploads.len()
    }

    /// Whether `needle` occurs anywhere the store keeps bytes: objects, parts of uploads in
    /// progress, metadata values.
    pub fn contains(&self, needle: &[u8]) -> bool {
        let found = |hay: &[u8]| !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle);
        let state = self.state();
        let in_metadata = |m: &HashMap<String, String>| m.values().any(|v| found(v.as_bytes()));
        let objects = state.buckets.values().flat_map(|b| b.objects.values());
        let in_objects = objects.clone().any(|o| found(&o.bytes) || in_metadata(&o.metadata));
        let in_uploads = state
            .uploads
            .values()
            .any(|u| in_metadata(&u.metadata) || u.parts.values().any(|p| found(&p.bytes)));
        in_objects || in_uploads
    }

    /// Sets (or with `None` removes) the upstream metadata `name` of `bucket`/`key`, as a
    /// rewrite upstream would. Panics if there is no such object.
    pub fn set_metadata(&self, bucket: &str, key: &str, name: &str, value: Option<&str>) {
        let mut state = self.state();
        let object = state
            .buckets
            .get_mut(bucket)
            .and_then(|b| b.objects.get_mut(key))
            .unwrap_or_else(|| panic!("no object {bucket}/{key} to rewrite"));
        match value {
            Some(v) => object.metadata.insert(name.to_owned(), v.to_owned()),
            None => object.metadata.remove(name),
        };
    }

    /// Flips the bits of the stored byte at `offset` of `bucket`/`key`, as silent corruption
    /// does; with `new_etag` the ETag becomes the MD5 of the damaged bytes (a copy rewritten
    /// upstream), else it stays (bit rot). Panics if there is no such byte.
    pub fn flip_byte(&self, bucket: &str, key: &str, offset: usize, new_etag: bool) {
        let mut state = self.state();
        let object = state
            .buckets
            .get_mut(bucket)
            .and_then(|b| b.objects.get_mut(key))
            .unwrap_or_else(|| panic!("no object {bucket}/{key} to damage"));
        let mut bytes = object.bytes.to_vec();
        let byte = bytes
            .get_mut(offset)
            .unwrap_or_else(|| panic!("{bucket}/{key} has no byte {offset}"));
        *byte ^= 0xff;
        if new_etag {
            object.etag = md5_hex(&bytes);
        }
        object.bytes = Bytes::from(bytes);
    }
}

/// A page of keys and common prefixes, and the last of them (where the next page starts).
struct Listed {
    contents: Vec<ListedObject>,
    common_prefixes: Vec<ListedPrefix>,
    truncated: bool,
    last: Option<String>,
    max_keys: usize,
}

/// Keys of `bucket` after `after` in key order, grouped by the delimiter, one page long.
/// A key whose group is `after` itself is skipped, so a page may end on a common prefix.
fn list_keys(bucket: &Bucket, req: &ListRequest, after: Option<&str>) -> Listed {
    let prefix = req.prefix.as_deref().unwrap_or_default();
    let delimiter = req.delimiter.as_deref().filter(|d| !d.is_empty());
    let max_keys = req.max_keys.map_or(MAX_PAGE, |m| m.clamp(0, MAX_PAGE as i32) as usize);
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut page = Listed {
        contents: Vec::new(),
        common_prefixes: Vec::new(),
        truncated: false,
        last: None,
        max_keys,
    };
    for (key, object) in bucket.objects.range::<str, _>((start, Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            continue;
        }
        let group = delimiter.and_then(|d| {
            let rest = &key[prefix.len()..];
            rest.find(d).map(|at| &key[..prefix.len() + at + d.len()])
        });
        if group.is_some() && (group == after || group == page.last.as_deref()) {
            continue;
        }
        if page.contents.len() + page.common_prefixes.len() == max_keys {
            page.truncated = true;
            break;
        }
        match group {
            Some(group) => page.common_prefixes.push(ListedPrefix {
                prefix: Some(group.to_owned()),
            }),
            None => page.contents.push(ListedObject {
                key: Some(key.clone()),
                e_tag: Some(format!("\"{}\"", object.etag)),
                size: Some(object.bytes.len() as i64),
                last_modified: Some(object.last_modified),
                storage_class: Some(StorageClass("STANDARD".to_owned())),
            }),
        }
        page.last = Some(group.unwrap_or(key).to_owned());
    }
    page
}

/// Reads a streamed request body whole; it must be exactly `stored_len` bytes.
async fn read_body(operation: &'static str, mut body: FrameStream, stored_len: u64) -> Result<Bytes> {
    let mut all = BytesMut::new();
    while let Some(frame) = body.next().await {
        let frame = frame.map_err(|e| error(operation, Kind::Unavailable, format!("request body failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            all.extend_from_slice(&data);
        }
    }
    if all.len() as u64 != stored_len {
        let message = format!("400 IncompleteBody {} of {stored_len} bytes", all.len());
        return Err(error(operation, Kind::Other, message));
    }
    Ok(all.freeze())
}

/// A body of `bytes`, in chunks.
fn chunked(bytes: Bytes) -> StoredStream {
    let chunks: Vec<_> = (0..bytes.len())
        .step_by(CHUNK)
        .map(|at| Ok(bytes.slice(at..bytes.len().min(at + CHUNK))))
        .collect();
    StoredStream::new(futures::stream::iter(chunks))
}

fn stored(object: &Object) -> StoredObject {
    StoredObject {
        etag: object.etag.clone(),
        stored_len: object.bytes.len() as u64,
        last_modified: Some(object.last_modified),
        metadata: object.metadata.clone(),
    }
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        stored_len: u64,
        metadata: &HashMap<String, String>,
        condition: PutCondition<'_>,
        body: FrameStream,
    ) -> Result<StoredObject> {
        const OP: &str = "PutObject";
        self.enter(OP).await?;
        self.require_bucket(OP, bucket)?;
        let bytes = read_body(OP, body, stored_len).await?;
        let object = Object {
            etag: md5_hex(&bytes),
            bytes,
            metadata: metadata.clone(),
            last_modified: now(),
            part_lens: Vec::new(),
        };
        let etag = object.etag.clone();
        self.check_condition(OP, bucket, key, condition)?;
        self.store(OP, bucket, key, object)?;
        Ok(StoredObject {
            etag,
            stored_len,
            last_modified: None,
            metadata: metadata.clone(),
        })
    }

    async fn put_small(&self, bucket: &str, key: &str, body: Bytes) -> Result<()> {
        const OP: &str = "PutObject";
        self.enter(OP).await?;
        let object = Object {
            etag: md5_hex(&body),
            bytes: body,
            metadata: HashMap::new(),
            last_modified: now(),
            part_lens: Vec::new(),
        };
        self.store(OP, bucket, key, object)
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> Result<StoredBody> {
        const OP: &str = "GetObject";
        self.enter(OP).await?;
        let object = self.object(OP, bucket, key)?;
        if if_match.is_some_and(|etag| etag != object.etag) {
            return Err(error(OP, Kind::PreconditionFailed, "412 PreconditionFailed"));
        }
        let len = object.bytes.len() as u64;
        let body = match range {
            // S3 ignores a range it cannot parse, such as one ending before it starts.
            Some((first, last)) if first <= last => {
                if first >= len {
                    return Err(error(OP, Kind::InvalidRange, "416 InvalidRange"));
                }
                let end = last.min(len - 1) + 1;
                object.bytes.slice(first as usize..end as usize)
            }
            _ => object.bytes.clone(),
        };
        Ok(StoredBody {
            object: stored(&object),
            body: chunked(body),
        })
    }

    async fn head_object(&self, bucket: &str, key: &str) -> Result<StoredObject> {
        self.enter("HeadObject").await?;
        self.head(bucket, key).map(|o| stored(&o))
    }

    async fn head_object_part(&self, bucket: &str, key: &str, part: i32) -> Result<StoredPart> {
        const OP: &str = "HeadObject";
        self.enter(OP).await?;
        let object = self.head(bucket, key)?;
        let len = object.bytes.len() as u64;
        let lens = if object.part_lens.is_empty() {
            vec![len]
        } else {
            object.part_lens.clone()
        };
        let index = usize::try_from(part).ok().and_then(|p| p.checked_sub(1));
        let Some(index) = index.filter(|i| *i < lens.len()) else {
            return Err(error(OP, Kind::InvalidRange, "416 InvalidPartNumber"));
        };
        let first: u64 = lens[..index].iter().sum();
        if lens[index] == 0 {
            return Err(error(OP, Kind::Other, "a part HEAD without a usable Content-Range"));
        }
        Ok(StoredPart {
            etag: object.etag,
            range: (first, first + lens[index] - 1),
            parts_count: (!object.part_lens.is_empty()).then_some(lens.len() as i32),
        })
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        const OP: &str = "DeleteObject";
        self.enter(OP).await?;
        let mut state = self.state();
        let Some(b) = state.buckets.get_mut(bucket) else {
            return Err(error(OP, Kind::NoSuchBucket, "NoSuchBucket"));
        };
        b.objects.remove(key);
        Ok(())
    }

    async fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<Vec<(String, String, String)>> {
        const OP: &str = "DeleteObjects";
        self.enter(OP).await?;
        if keys.len() > MAX_PAGE {
            return Err(error(OP, Kind::Other, "400 MalformedXML more than 1000 keys"));
        }
        let mut state = self.state();
        let Some(b) = state.buckets.get_mut(bucket) else {
            return Err(error(OP, Kind::NoSuchBucket, "NoSuchBucket"));
        };
        for key in keys {
            b.objects.remove(key);
        }
        Ok(Vec::new())
    }

    async fn list_objects_v2(&self, bucket: &str, req: &ListRequest) -> Result<ListPage> {
        const OP: &str = "ListObjectsV2";
        self.enter(OP).await?;
        let after = req.continuation_token.as_deref().or(req.start_after.as_deref());
        let listed = self.list(OP, bucket, req, after)?;
        Ok(ListPage {
            key_count: Some((listed.contents.len() + listed.common_prefixes.len()) as i32),
            is_truncated: Some(listed.truncated),
            next_continuation_token: listed.last.filter(|_| listed.truncated),
            contents: listed.contents,
            common_prefixes: listed.common_prefixes,
            prefix: req.prefix.clone(),
            delimiter: req.delimiter.clone(),
            max_keys: Some(listed.max_keys as i32),
            continuation_token: req.continuation_token.clone(),
            start_after: req.start_after.clone(),
            ..Default::default()
        })
    }

    async fn list_objects_v1(&self, bucket: &str, req: &ListRequest) -> Result<ListPageV1> {
        const OP: &str = "ListObjects";
        self.enter(OP).await?;
        let listed = self.list(OP, bucket, req, req.marker.as_deref())?;
        let with_delimiter = req.delimiter.as_deref().is_some_and(|d| !d.is_empty());
        Ok(ListPage {
            is_truncated: Some(listed.truncated),
            next_marker: listed.last.filter(|_| listed.truncated && with_delimiter),
            contents: listed.contents,
            common_prefixes: listed.common_prefixes,
            prefix: req.prefix.clone(),
            delimiter: req.delimiter.clone(),
            max_keys: Some(listed.max_keys as i32),
            marker: req.marker.clone(),
            ..Default::default()
        })
    }

    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        const OP: &str = "CreateBucket";
        self.enter(OP).await?;
        let mut state = self.state();
        if state.buckets.contains_key(bucket) {
            return Err(error(OP, Kind::BucketAlreadyOwnedByYou, "409 BucketAlreadyOwnedByYou"));
        }
        let created = Bucket {
            created: now(),
            objects: BTreeMap::new(),
        };
        state.buckets.insert(bucket.to_owned(), created);
        Ok(())
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        const OP: &str = "DeleteBucket";
        self.enter(OP).await?;
        let mut state = self.state();
        match state.buckets.get(bucket) {
            None => Err(error(OP, Kind::NoSuchBucket, "NoSuchBucket")),
            Some(b) if !b.objects.is_empty() => Err(error(OP, Kind::BucketNotEmpty, "409 BucketNotEmpty")),
            Some(_) => {
                state.buckets.remove(bucket);
                Ok(())
            }
        }
    }

    async fn head_bucket(&self, bucket: &str) -> Result<()> {
        const OP: &str = "HeadBucket";
        self.enter(OP).await?;
        if self.state().buckets.contains_key(bucket) {
            Ok(())
        } else {
            Err(error(OP, Kind::NotFound, "404"))
        }
    }

    async fn list_buckets(&self) -> Result<Vec<(String, Option<DateTime>)>> {
        self.enter("ListBuckets").await?;
        let state = self.state();
        Ok(state
            .buckets
            .iter()
            .map(|(name, b)| (name.clone(), Some(b.created)))
            .collect())
    }

    async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<String> {
        const OP: &str = "CreateMultipartUpload";
        self.enter(OP).await?;
        self.require_bucket(OP, bucket)?;
        let mut state = self.state();
        state.next_upload += 1;
        let id = format!("memory-upload-{}", state.next_upload);
        let upload = Upload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            metadata: metadata.clone(),
            parts: BTreeMap::new(),
        };
        state.uploads.insert(id.clone(), upload);
        Ok(id)
    }

    async fn upload_part(
        &self,
        target: (&str, &str, &str),
        part_number: i32,
        stored_len: u64,
        body: FrameStream,
    ) -> Result<StoredObject> {
        const OP: &str = "UploadPart";
        self.enter(OP).await?;
        if !(1..=10_000).contains(&part_number) {
            return Err(error(OP, Kind::Other, "400 InvalidArgument part number"));
        }
        self.require_upload(OP, target)?;
        let bytes = read_body(OP, body, stored_len).await?;
        let part = Part {
            etag: md5_hex(&bytes),
            bytes,
            last_modified: now(),
        };
        let etag = part.etag.clone();
        let mut state = self.state();
        // The upload may have been completed or aborted while the body streamed.
        let Some(upload) = state.uploads.get_mut(target.2) else {
            return Err(error(OP, Kind::NoSuchUpload, "NoSuchUpload"));
        };
        upload.parts.insert(part_number, part);
        Ok(StoredObject {
            etag,
            stored_len,
            ..Default::default()
        })
    }

    async fn list_parts(
        &self,
        target: (&str, &str, &str),
        marker: Option<&str>,
        max_parts: Option<i32>,
    ) -> Result<PartsPage> {
        const OP: &str = "ListParts";
        self.enter(OP).await?;
        self.require_upload(OP, target)?;
        let after: i32 = match marker {
            Some(m) => m
                .parse()
                .map_err(|_| error(OP, Kind::Other, "400 InvalidArgument part-number-marker"))?,
            None => 0,
        };
        let max_parts = max_parts.map_or(MAX_PAGE, |m| m.clamp(0, MAX_PAGE as i32) as usize);
        let state = self.state();
        let Some(upload) = state.uploads.get(target.2) else {
            return Err(error(OP, Kind::NoSuchUpload, "NoSuchUpload"));
        };
        let mut later = upload.parts.range((Bound::Excluded(after), Bound::Unbounded));
        let parts: Vec<ListedPart> = later
            .by_ref()
            .take(max_parts)
            .map(|(number, p)| ListedPart {
                part: UploadedPart {
                    number: *number,
                    etag: p.etag.clone(),
                    stored_len: p.bytes.len() as u64,
                },
                last_modified: Some(p.last_modified),
            })
            .collect();
        let is_truncated = later.next().is_some();
        Ok(PartsPage {
            next_part_number_marker: parts.last().map(|p| p.part.number.to_string()),
            parts,
            is_truncated: Some(is_truncated),
        })
    }

    async fn complete_multipart_upload(
        &self,
        target: (&str, &str, &str),
        parts: &[(i32, String)],
        condition: PutCondition<'_>,
    ) -> Result<StoredObject> {
        const OP: &str = "CompleteMultipartUpload";
        self.enter(OP).await?;
        self.require_upload(OP, target)?;
        self.check_condition(OP, target.0, target.1, condition)?;
        if parts.is_empty() {
            return Err(error(OP, Kind::Other, "400 MalformedXML no parts"));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(error(OP, Kind::Other, "400 InvalidPartOrder"));
        }
        let mut state = self.state();
        let Some(upload) = state.uploads.get(target.2) else {
            return Err(error(OP, Kind::NoSuchUpload, "NoSuchUpload"));
        };
        let mut bytes = BytesMut::new();
        let mut part_lens = Vec::with_capacity(parts.len());
        for (number, etag) in parts {
            match upload.parts.get(number) {
                Some(p) if p.etag == *etag => {
                    bytes.extend_from_slice(&p.bytes);
                    part_lens.push(p.bytes.len() as u64);
                }
                _ => return Err(error(OP, Kind::Other, format!("400 InvalidPart {number}"))),
            }
        }
        let etags: Vec<&str> = parts.iter().map(|(_, etag)| etag.as_str()).collect();
        let object = Object {
            bytes: bytes.freeze(),
            etag: multipart_etag(&etags),
            metadata: upload.metadata.clone(),
            last_modified: now(),
            part_lens,
        };
        let etag = object.etag.clone();
        let Some(b) = state.buckets.get_mut(target.0) else {
            return Err(error(OP, Kind::NoSuchBucket, "NoSuchBucket"));
        };
        b.objects.insert(target.1.to_owned(), object);
        state.uploads.remove(target.2);
        Ok(StoredObject {
            etag,
            ..Default::default()
        })
    }

    async fn abort_multipart_upload(&self, target: (&str, &str, &str)) -> Result<()> {
        const OP: &str = "AbortMultipartUpload";
        self.enter(OP).await?;
        self.require_upload(OP, target)?;
        self.state().uploads.remove(target.2);
        Ok(())
    }

    async fn copy_object(
        &self,
        source: (&str, &str),
        target: (&str, &str),
        metadata: &HashMap<String, String>,
        if_match: &str,
        condition: PutCondition<'_>,
    ) -> Result<StoredObject> {
        const OP: &str = "CopyObject";
        self.enter(OP).await?;
        let from = self.object(OP, source.0, source.1)?;
        if from.etag != if_match {
            return Err(error(OP, Kind::PreconditionFailed, "412 PreconditionFailed"));
        }
        self.check_condition(OP, target.0, target.1, condition)?;
        let copy = Object {
            etag: md5_hex(&from.bytes),
            bytes: from.bytes,
            metadata: metadata.clone(),
            last_modified: now(),
            part_lens: Vec::new(),
        };
        let (etag, last_modified) = (copy.etag.clone(), copy.last_modified);
        self.store(OP, target.0, target.1, copy)?;
        Ok(StoredObject {
            etag,
            last_modified: Some(last_modified),
            metadata: metadata.clone(),
            ..Default::default()
        })
    }
}
