//! One upstream region: the bucket-name mapping, the circuit breaker, timeouts, spans and
//! metrics around the raw S3 calls of a [`Backend`] (aws-sdk-s3 in production, memory in
//! tests). Everything here moves ciphertext; nothing here decrypts.

mod backend;
mod body;
mod error;
mod health;
mod listing;
mod memory;
mod sdk;
#[cfg(test)]
mod tests;
mod used;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tracing::Instrument;

pub use backend::{Backend, FrameStream, PartsPage, PutCondition};
pub use body::{Collected, StoredStream};
pub use error::{UpstreamError, UpstreamErrorKind};
pub use health::Health;
pub use listing::{ListPage, ListPageV1, ListRequest, ListedObject, ListedPrefix, StorageClass};
pub use memory::MemoryBackend;
#[cfg(test)]
pub use memory::RawObject;
pub use sdk::SdkBackend;
pub use used::RegionsUsed;

use crate::config::RegionConfig;
use crate::metrics::Metrics;

/// The message of a request the circuit breaker refused (it never reached the region, so it
/// says nothing new about the region's health).
pub const BREAKER_OPEN: &str = "region failing (circuit breaker open)";

/// Result of upstream calls.
pub type Result<T, E = UpstreamError> = std::result::Result<T, E>;

/// What HEAD, GET and PUT tell about a stored object.
#[derive(Clone, Debug, Default)]
pub struct StoredObject {
    /// Upstream ETag without quotes (over ciphertext).
    pub etag: String,
    /// Stored (ciphertext) length of the whole object.
    pub stored_len: u64,
    /// Upstream modification time.
    pub last_modified: Option<aws_smithy_types::DateTime>,
    /// Upstream user metadata (names lower-cased, without `x-amz-meta-`).
    pub metadata: HashMap<String, String>,
}

/// A GET in progress: what is stored, and the requested stored bytes as a stream.
#[derive(Debug)]
pub struct StoredBody {
    /// The object.
    pub object: StoredObject,
    /// The stored bytes requested.
    pub body: StoredStream,
}

/// One upstream region.
#[derive(Clone, Debug)]
pub struct Upstream {
    name: String,
    /// Configuration order (0 or 1), for [`RegionsUsed`].
    index: usize,
    bucket_template: String,
    backend: Arc<dyn Backend>,
    timeout: Duration,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl Upstream {
    /// An aws-sdk-s3 client for `config`; `timeout` bounds each call that carries no streamed body.
    pub fn new(config: &RegionConfig, timeout: Duration, health: Health, metrics: Arc<Metrics>) -> Self {
        let backend = Arc::new(SdkBackend::new(config));
        Self::with_backend(&config.name, &config.bucket_template, timeout, health, metrics, backend)
    }

    /// Region `name` over any backend (tests use [`MemoryBackend`]); `bucket_template` maps
    /// client buckets as `regions.NAME.bucket_template` does.
    pub fn with_backend(
        name: &str,
        bucket_template: &str,
        timeout: Duration,
        health: Health,
        metrics: Arc<Metrics>,
        backend: Arc<dyn Backend>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            index: 0,
            bucket_template: bucket_template.to_owned(),
            backend,
            timeout,
            metrics,
            health: Arc::new(health),
        }
    }

    /// This region as the `index`th in configuration order (what the audit log names it by).
    pub fn numbered(self, index: usize) -> Self {
        Self { index, ..self }
    }

    /// The region's circuit breaker.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The error of a request refused because the region's breaker is open.
    fn breaker_open(&self, operation: &'static str) -> UpstreamError {
        UpstreamError::new(&self.name, operation, UpstreamErrorKind::Unavailable, BREAKER_OPEN)
    }

    /// Feeds one answer into the breaker: any answer (even "not found") says the region is up.
    fn record_health<T>(&self, result: &Result<T>) {
        match result {
            Err(e) if e.refused_by_breaker() => {}
            Err(e) if e.kind == UpstreamErrorKind::Unavailable => self.health.failure(),
            _ => self.health.success(),
        }
    }

    /// Records one upstream call's outcome and duration, and, if the region answered (even
    /// "not found"), that the request being served used it.
    fn observe<T>(&self, operation: &'static str, started: std::time::Instant, result: &Result<T>) {
        if !matches!(result, Err(e) if e.kind == UpstreamErrorKind::Unavailable) {
            used::note(self.index);
        }
        let outcome = if result.is_ok() { "ok" } else { "error" };
        let m = &self.metrics;
        m.upstream_requests
            .with_label_values(&[self.name.as_str(), operation, outcome])
            .inc();
        m.upstream_request_duration
            .with_label_values(&[self.name.as_str(), operation])
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = result
            && !e.kind.is_not_found()
        {
            m.upstream_errors
                .with_label_values(&[self.name.as_str(), e.kind.as_str()])
                .inc();
        }
    }

    /// Names this region in a backend's error, whatever the backend calls itself.
    fn attributed<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|mut e| {
            if e.region != self.name {
                e.region.clone_from(&self.name);
            }
            e
        })
    }

    /// One upstream call: refused while the breaker is open, else bounded by the timeout, in an
    /// `upstream` span, with its metrics and its answer fed to the breaker.
    async fn timed<T>(&self, operation: &'static str, call: impl Future<Output = Result<T>>) -> Result<T> {
        if !self.health.admit() {
            return Err(self.breaker_open(operation));
        }
        let started = std::time::Instant::now();
        let span = crate::telemetry::upstream_span(&self.name, operation);
        let result = match tokio::time::timeout(self.timeout, call).instrument(span).await {
            Ok(result) => self.attributed(result),
            Err(_) => Err(UpstreamError::new(
                &self.name,
                operation,
                UpstreamErrorKind::Unavailable,
                "timed out",
            )),
        };
        self.observe(operation, started, &result);
        self.record_health(&result);
        result
    }

    /// Sends a request that carries a streamed body: refused while the breaker is open, inside
    /// an upstream span, observed. Not timed (the body takes as long as the client) and not
    /// retried (the body streams once); only a success feeds the breaker, because failures are
    /// judged by the fan-out, which knows whether it cut the body on purpose (client error,
    /// other region).
    async fn streamed<T>(&self, operation: &'static str, call: impl Future<Output = Result<T>>) -> Result<T> {
        if !self.health.admit() {
            return Err(self.breaker_open(operation));
        }
        let started = std::time::Instant::now();
        let span = crate::telemetry::upstream_span(&self.name, operation);
        let result = self.attributed(call.instrument(span).await);
        self.observe(operation, started, &result);
        if result.is_ok() {
            self.health.success();
        }
        result
    }

    /// The region's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The upstream bucket for a client bucket.
    pub fn bucket(&self, bucket: &str) -> String {
        self.bucket_template.replace("{bucket}", bucket)
    }

    /// The client bucket for an upstream bucket name, if it follows this region's template.
    pub fn client_bucket(&self, upstream: &str) -> Option<String> {
        let (prefix, suffix) = self.bucket_template.split_once("{bucket}")?;
        let inner = upstream.strip_prefix(prefix)?.strip_suffix(suffix)?;
        (!inner.is_empty()).then(|| inner.to_owned())
    }

    /// Stores `body` (exactly `stored_len` bytes) under `key`. Not retried: the body streams once.
    pub async fn put_object<S>(
        &self,
        bucket: &str,
        key: &str,
        stored_len: u64,
        metadata: &HashMap<String, String>,
        condition: PutCondition<'_>,
        body: S,
    ) -> Result<StoredObject>
    where
        S: Stream<Item = std::result::Result<http_body::Frame<Bytes>, std::io::Error>> + Send + Sync + 'static,
    {
        let bucket = self.bucket(bucket);
        let call = self
            .backend
            .put_object(&bucket, key, stored_len, metadata, condition, Box::pin(body));
        self.streamed("PutObject", call).await
    }

    /// Stores a small in-memory object (journal records, leases) without gateway metadata.
    pub async fn put_small(&self, bucket: &str, key: &str, body: Bytes) -> Result<()> {
        let bucket = self.bucket(bucket);
        self.timed("PutObject", self.backend.put_small(&bucket, key, body))
            .await
    }

    /// Reads a small object whole, refusing one larger than `limit` bytes.
    pub async fn get_small(&self, bucket: &str, key: &str, limit: usize) -> Result<Bytes> {
        let stored = self.get_object(bucket, key, None, None).await?;
        if stored.object.stored_len > limit as u64 {
            return Err(UpstreamError::new(
                &self.name,
                "GetObject",
                UpstreamErrorKind::Other,
                format!("{key} is larger than {limit} bytes"),
            ));
        }
        let collected = tokio::time::timeout(self.timeout, stored.body.collect())
            .await
            .map_err(|_| UpstreamError::new(&self.name, "GetObject", UpstreamErrorKind::Unavailable, "timed out"))?
            .map_err(|e| UpstreamError::new(&self.name, "GetObject", UpstreamErrorKind::Unavailable, e.to_string()))?;
        Ok(collected.into_bytes())
    }

    /// HEAD of one object.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<StoredObject> {
        let bucket = self.bucket(bucket);
        self.timed("HeadObject", self.backend.head_object(&bucket, key)).await
    }

    /// HEAD of part `part` of a multipart object: its stored bytes (inclusive range), the
    /// object's ETag and the object's part count.
    pub async fn head_object_part(&self, bucket: &str, key: &str, part: i32) -> Result<StoredPart> {
        let bucket = self.bucket(bucket);
        self.timed("HeadObject", self.backend.head_object_part(&bucket, key, part))
            .await
    }

    /// GET of one object, or of the stored bytes `range` (inclusive), optionally only if the
    /// upstream ETag is still `if_match` (so a range read never mixes two versions).
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> Result<StoredBody> {
        let bucket = self.bucket(bucket);
        self.timed("GetObject", self.backend.get_object(&bucket, key, range, if_match))
            .await
    }

    /// DELETE of one object; Ok when it did not exist.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let bucket = self.bucket(bucket);
        match self
            .timed("DeleteObject", self.backend.delete_object(&bucket, key))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind == UpstreamErrorKind::NoSuchKey || e.kind == UpstreamErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes up to 1000 keys; returns per-key failures as (key, code, message).
    pub async fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<Vec<(String, String, String)>> {
        let bucket = self.bucket(bucket);
        self.timed("DeleteObjects", self.backend.delete_objects(&bucket, keys))
            .await
    }

    /// ListObjectsV2 on the mapped bucket.
    pub async fn list_objects_v2(&self, bucket: &str, req: &ListRequest) -> Result<ListPage> {
        let upstream_bucket = self.bucket(bucket);
        let page = self
            .timed("ListObjectsV2", self.backend.list_objects_v2(&upstream_bucket, req))
            .await?;
        self.with_etags(bucket, page).await
    }

    /// ListObjects (v1) on the mapped bucket.
    pub async fn list_objects_v1(&self, bucket: &str, req: &ListRequest) -> Result<ListPageV1> {
        let upstream_bucket = self.bucket(bucket);
        let page = self
            .timed("ListObjects", self.backend.list_objects_v1(&upstream_bucket, req))
            .await?;
        self.with_etags(bucket, page).await
    }

    /// `page` with every object's ETag: a store that lists none (s3s-fs, the quickstart's
    /// regions) has each looked up, so a missing ETag never reaches a client as one. An
    /// object deleted since it was listed is left out.
    async fn with_etags(&self, bucket: &str, mut page: ListPage) -> Result<ListPage> {
        use futures::{StreamExt, TryStreamExt};
        let missing = |o: &ListedObject| o.e_tag.as_deref().is_none_or(|e| e.trim_matches('"').is_empty());
        if !page.contents.iter().any(missing) {
            return Ok(page);
        }
        let contents = std::mem::take(&mut page.contents);
        page.contents = futures::stream::iter(contents)
            .map(|mut object| async move {
                let Some(key) = object.key.clone().filter(|_| missing(&object)) else {
                    return Ok(Some(object));
                };
                match self.head_object(bucket, &key).await {
                    Ok(head) => {
                        object.e_tag = Some(head.etag);
                        Ok(Some(object))
                    }
                    Err(e) if e.kind.is_not_found() => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffered(LISTING_HEADS)
            .try_filter_map(|object| async move { Ok(object) })
            .try_collect()
            .await?;
        Ok(page)
    }

    /// CreateBucket on the mapped bucket.
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let bucket = self.bucket(bucket);
        self.timed("CreateBucket", self.backend.create_bucket(&bucket)).await
    }

    /// DeleteBucket on the mapped bucket.
    pub async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let bucket = self.bucket(bucket);
        self.timed("DeleteBucket", self.backend.delete_bucket(&bucket)).await
    }

    /// HeadBucket on the mapped bucket.
    pub async fn head_bucket(&self, bucket: &str) -> Result<()> {
        let bucket = self.bucket(bucket);
        match self.timed("HeadBucket", self.backend.head_bucket(&bucket)).await {
            Ok(()) => Ok(()),
            Err(mut e) if e.kind == UpstreamErrorKind::NotFound => {
                e.kind = UpstreamErrorKind::NoSuchBucket;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// ListBuckets: client bucket names (those following the template) with creation times.
    pub async fn list_buckets(&self) -> Result<Vec<(String, Option<aws_smithy_types::DateTime>)>> {
        let all = self.timed("ListBuckets", self.backend.list_buckets()).await?;
        Ok(all
            .into_iter()
            .filter_map(|(name, created)| Some((self.client_bucket(&name)?, created)))
            .collect())
    }
}

/// One part of a completed multipart object, as a part HEAD shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPart {
    /// The whole object's upstream ETag without quotes.
    pub etag: String,
    /// The part's stored bytes, inclusive.
    pub range: (u64, u64),
    /// Parts of the object, as the upstream counts them.
    pub parts_count: Option<i32>,
}

/// One uploaded part as an upstream lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedPart {
    /// Part number.
    pub number: i32,
    /// Upstream ETag without quotes.
    pub etag: String,
    /// Stored (ciphertext) size.
    pub stored_len: u64,
}

/// One upload of a part as an upstream lists it, with its modification time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPart {
    /// The part.
    pub part: UploadedPart,
    /// Upstream modification time (whole seconds on some stores).
    pub last_modified: Option<aws_smithy_types::DateTime>,
}

impl Upstream {
    /// Starts a multipart upload; returns the upstream upload id.
    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<String> {
        let bucket = self.bucket(bucket);
        let call = self.backend.create_multipart_upload(&bucket, key, metadata);
        self.timed("CreateMultipartUpload", call).await
    }

    /// Uploads one part's stored bytes (exactly `stored_len`). Not retried: the body streams once.
    pub async fn upload_part<S>(
        &self,
        target: (&str, &str, &str),
        part_number: i32,
        stored_len: u64,
        body: S,
    ) -> Result<StoredObject>
    where
        S: Stream<Item = std::result::Result<http_body::Frame<Bytes>, std::io::Error>> + Send + Sync + 'static,
    {
        let (bucket, key, upload_id) = target;
        let bucket = self.bucket(bucket);
        let call = self
            .backend
            .upload_part((&bucket, key, upload_id), part_number, stored_len, Box::pin(body));
        self.streamed("UploadPart", call).await
    }

    /// Every part uploaded so far, in part-number order (all pages); of a part uploaded more
    /// than once, the newest upload by `LastModified` (see [`Self::list_part_uploads`]).
    pub async fn list_parts(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Vec<UploadedPart>> {
        let mut parts = self.list_part_uploads(bucket, key, upload_id).await?;
        // Stable sort: uploads listed with the same second keep the upstream's order.
        parts.sort_by(|a, b| {
            a.part
                .number
                .cmp(&b.part.number)
                .then(a.last_modified.cmp(&b.last_modified))
        });
        let mut latest: Vec<UploadedPart> = Vec::with_capacity(parts.len());
        for listed in parts {
            match latest.last_mut() {
                Some(last) if last.number == listed.part.number => *last = listed.part,
                _ => latest.push(listed.part),
            }
        }
        Ok(latest)
    }

    /// Every upload of every part, as listed (all pages). Some stores (SeaweedFS) list each
    /// upload of a re-uploaded part, with `LastModified` in whole seconds, so which one is the
    /// newest cannot always be told from the listing; completion picks by ETag instead.
    pub async fn list_part_uploads(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Vec<ListedPart>> {
        let bucket = self.bucket(bucket);
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let call = self
                .backend
                .list_parts((&bucket, key, upload_id), marker.as_deref(), None);
            let page = self.timed("ListParts", call).await?;
            parts.extend(page.parts);
            match (page.is_truncated, page.next_part_number_marker) {
                (Some(true), Some(next)) if Some(next.as_str()) != marker.as_deref() => marker = Some(next),
                _ => break,
            }
        }
        Ok(parts)
    }

    /// Whether the multipart upload `upload_id` still exists (one ListParts call of one part):
    /// `Ok(false)` when the upstream says it does not (completed, aborted, reaped).
    pub async fn upload_exists(&self, bucket: &str, key: &str, upload_id: &str) -> Result<bool> {
        let bucket = self.bucket(bucket);
        let call = self.backend.list_parts((&bucket, key, upload_id), None, Some(1));
        match self.timed("ListParts", call).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Completes a multipart upload with `parts` (number, upstream ETag), if what the key
    /// holds then meets `condition`.
    pub async fn complete_multipart_upload(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        parts: &[(i32, String)],
        condition: PutCondition<'_>,
    ) -> Result<StoredObject> {
        let bucket = self.bucket(bucket);
        let call = self
            .backend
            .complete_multipart_upload((&bucket, key, upload_id), parts, condition);
        self.timed("CompleteMultipartUpload", call).await
    }

    /// Aborts a multipart upload; Ok when it is already gone.
    pub async fn abort_multipart_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let bucket = self.bucket(bucket);
        let call = self.backend.abort_multipart_upload((&bucket, key, upload_id));
        match self.timed("AbortMultipartUpload", call).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Server-side copy within this region, replacing the metadata; only if the source still
    /// has upstream ETag `if_match`, so the header written belongs to the bytes copied.
    pub async fn copy_object(
        &self,
        source: (&str, &str),
        target: (&str, &str),
        metadata: &HashMap<String, String>,
        if_match: &str,
    ) -> Result<StoredObject> {
        self.copy_object_if(source, target, metadata, if_match, PutCondition::Always)
            .await
    }

    /// [`Self::copy_object`], only if what `target` holds meets `condition` (checked by the
    /// store as it stores).
    pub async fn copy_object_if(
        &self,
        source: (&str, &str),
        target: (&str, &str),
        metadata: &HashMap<String, String>,
        if_match: &str,
        condition: PutCondition<'_>,
    ) -> Result<StoredObject> {
        let (source_bucket, target_bucket) = (self.bucket(source.0), self.bucket(target.0));
        let call = self.backend.copy_object(
            (&source_bucket, source.1),
            (&target_bucket, target.1),
            metadata,
            if_match,
            condition,
        );
        self.timed("CopyObject", call).await
    }
}

/// HEADs at once when a listing lacks ETags.
const LISTING_HEADS: usize = 16;

/// Percent-encodes everything but RFC 3986 unreserved characters and `/` (object keys in
/// `x-amz-copy-source`, and listings with `encoding-type=url`).
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An ETag without its quotes.
pub fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}
