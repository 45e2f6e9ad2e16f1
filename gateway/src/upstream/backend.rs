//! The seam under [`super::Upstream`]: the raw S3 calls the gateway makes against one region.

use std::collections::HashMap;
use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;

use super::{ListPage, ListPageV1, ListRequest, ListedPart, Result, StoredBody, StoredObject, StoredPart};

/// A streamed request body: exactly the stored bytes announced with it, read once.
pub type FrameStream =
    Pin<Box<dyn Stream<Item = std::result::Result<http_body::Frame<Bytes>, std::io::Error>> + Send + Sync>>;

/// One page of a ListParts answer.
#[derive(Clone, Debug, Default)]
pub struct PartsPage {
    /// The uploads of parts on this page, as listed.
    pub parts: Vec<ListedPart>,
    /// Whether more parts follow.
    pub is_truncated: Option<bool>,
    /// The part-number marker of the next page.
    pub next_part_number_marker: Option<String>,
}

/// The S3 calls of one region, in **upstream** terms: bucket names are already mapped through
/// the region's template, and ETags are passed and returned without quotes.
///
/// Implementations only talk to the store: [`super::Upstream`] adds the circuit breaker, the
/// per-call timeout, the tracing span and the metrics around each call, and attributes every
/// error to its region. Errors carry the [`super::UpstreamErrorKind`] an S3 store's answer
/// classifies as ([`super::UpstreamError::from_sdk`] for the SDK), so the policies above
/// (failover, journaling, "not found is fine") work the same over every implementation.
/// Operation names in errors are the S3 operation names (`PutObject`, `ListParts`, …).
/// A precondition a store checks as it stores a PutObject (atomically, where the store can).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PutCondition<'a> {
    /// No condition.
    #[default]
    Always,
    /// `If-None-Match: *`: only if no object exists under the key.
    IfAbsent,
    /// `If-Match: <upstream ETag>`: only if the object there still has this ETag.
    IfMatch(&'a str),
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// PutObject of a streamed body of exactly `stored_len` bytes, under the store's own check
    /// of `condition`. Not retried: the body streams once.
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        stored_len: u64,
        metadata: &HashMap<String, String>,
        condition: PutCondition<'_>,
        body: FrameStream,
    ) -> Result<StoredObject>;

    /// PutObject of a small in-memory body without metadata (journal records, leases).
    async fn put_small(&self, bucket: &str, key: &str, body: Bytes) -> Result<()>;

    /// GetObject, of the stored bytes `range` (inclusive) if given, only if the ETag is still
    /// `if_match` if given. `stored_len` of the answer is the whole object's.
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> Result<StoredBody>;

    /// HeadObject (a missing object is `NotFound`: HEAD answers carry no error code).
    async fn head_object(&self, bucket: &str, key: &str) -> Result<StoredObject>;

    /// HeadObject with `partNumber`.
    async fn head_object_part(&self, bucket: &str, key: &str, part: i32) -> Result<StoredPart>;

    /// DeleteObject, as the store answers it (S3 says success for a missing key).
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<()>;

    /// Quiet DeleteObjects of up to 1000 keys; per-key failures as (key, code, message).
    async fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<Vec<(String, String, String)>>;

    /// ListObjectsV2.
    async fn list_objects_v2(&self, bucket: &str, req: &ListRequest) -> Result<ListPage>;

    /// ListObjects (v1).
    async fn list_objects_v1(&self, bucket: &str, req: &ListRequest) -> Result<ListPageV1>;

    /// CreateBucket.
    async fn create_bucket(&self, bucket: &str) -> Result<()>;

    /// DeleteBucket.
    async fn delete_bucket(&self, bucket: &str) -> Result<()>;

    /// HeadBucket (a missing bucket is `NotFound`, as HEAD answers carry no error code).
    async fn head_bucket(&self, bucket: &str) -> Result<()>;

    /// ListBuckets: every upstream bucket name with its creation time.
    async fn list_buckets(&self) -> Result<Vec<(String, Option<aws_smithy_types::DateTime>)>>;

    /// CreateMultipartUpload; the upload id.
    async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<String>;

    /// UploadPart of a streamed body of exactly `stored_len` bytes. Not retried.
    async fn upload_part(
        &self,
        target: (&str, &str, &str),
        part_number: i32,
        stored_len: u64,
        body: FrameStream,
    ) -> Result<StoredObject>;

    /// One page of ListParts, after part `marker`, of at most `max_parts` parts.
    async fn list_parts(
        &self,
        target: (&str, &str, &str),
        marker: Option<&str>,
        max_parts: Option<i32>,
    ) -> Result<PartsPage>;

    /// CompleteMultipartUpload with `parts` (number, ETag), under the store's own check of
    /// `condition` on what the key holds.
    async fn complete_multipart_upload(
        &self,
        target: (&str, &str, &str),
        parts: &[(i32, String)],
        condition: PutCondition<'_>,
    ) -> Result<StoredObject>;

    /// AbortMultipartUpload.
    async fn abort_multipart_upload(&self, target: (&str, &str, &str)) -> Result<()>;

    /// CopyObject from `source` (bucket, key) to `target`, replacing the metadata, only if
    /// the source's ETag is `if_match` and what `target` holds meets `condition`.
    async fn copy_object(
        &self,
        source: (&str, &str),
        target: (&str, &str),
        metadata: &HashMap<String, String>,
        if_match: &str,
        condition: PutCondition<'_>,
    ) -> Result<StoredObject>;
}
