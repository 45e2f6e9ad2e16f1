//! One upstream S3 region: an aws-sdk-s3 client plus the bucket-name mapping and error
//! classification. Everything here moves ciphertext; nothing here decrypts.

mod error;
mod health;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation, SharedHttpClient,
    StalledStreamProtectionConfig, timeout::TimeoutConfig,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder as HttpClientBuilder, ConnectorBuilder};
use bytes::Bytes;
use futures::Stream;
use http_body_util::StreamBody;
use tracing::Instrument;

pub use error::{UpstreamError, UpstreamErrorKind};
pub use health::Health;

use crate::config::{CaBundle, RegionConfig};
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
pub struct StoredBody {
    /// The object.
    pub object: StoredObject,
    /// The stored bytes requested.
    pub body: ByteStream,
}

/// A listing page as the upstream returned it.
pub type ListPage = aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;

/// A v1 listing page as the upstream returned it.
pub type ListPageV1 = aws_sdk_s3::operation::list_objects::ListObjectsOutput;

/// Parameters of a listing request, in upstream terms (bucket already mapped).
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// Key prefix.
    pub prefix: Option<String>,
    /// Grouping delimiter.
    pub delimiter: Option<String>,
    /// Page size.
    pub max_keys: Option<i32>,
    /// v2 continuation token.
    pub continuation_token: Option<String>,
    /// v2 start-after.
    pub start_after: Option<String>,
    /// v1 marker.
    pub marker: Option<String>,
}

/// One upstream region.
#[derive(Clone, Debug)]
pub struct Upstream {
    name: String,
    client: Client,
    config: RegionConfig,
    timeout: Duration,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// One upstream call: refused while the breaker is open, else bounded by the timeout, in an
/// `upstream` span, with its metrics and its answer fed to the breaker.
macro_rules! timed {
    ($self:ident, $op:literal, $fut:expr) => {{
        if !$self.health.admit() {
            Err($self.breaker_open($op))
        } else {
            let started = std::time::Instant::now();
            let call = tokio::time::timeout($self.timeout, $fut);
            let span = crate::telemetry::upstream_span(&$self.name, $op);
            let result = match tracing::Instrument::instrument(call, span).await {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(e)) => Err(UpstreamError::from_sdk(&$self.name, $op, e)),
                Err(_) => Err(UpstreamError::new(
                    &$self.name,
                    $op,
                    UpstreamErrorKind::Unavailable,
                    "timed out",
                )),
            };
            $self.observe($op, started, &result);
            $self.record_health(&result);
            result
        }
    }};
}

/// Sends a request that carries a streamed body: refused while the breaker is open, inside an
/// upstream span, observed. Not timed (the body takes as long as the client) and not retried
/// (the body streams once); only a success feeds the breaker, because failures are judged by
/// the fan-out, which knows whether it cut the body on purpose (client error, other region).
macro_rules! streamed {
    ($self:ident, $op:literal, $fut:expr) => {{
        if !$self.health.admit() {
            return Err($self.breaker_open($op));
        }
        let started = std::time::Instant::now();
        let result = $fut
            .instrument(crate::telemetry::upstream_span(&$self.name, $op))
            .await
            .map_err(|e| UpstreamError::from_sdk(&$self.name, $op, e));
        $self.observe($op, started, &result);
        if result.is_ok() {
            $self.health.success();
        }
        result
    }};
}

/// The SDK's default HTTPS client (rustls with aws-lc, proxy settings from the environment),
/// except that it trusts exactly the certificates of `bundle`: no system roots, as an AWS SDK's
/// `ca_bundle` replaces its trust store. Built the way aws-smithy-runtime builds that default
/// (`default_https_client`), because `Builder::build_https` would drop the
/// `HTTPS_PROXY`/`NO_PROXY` support that regions without a bundle have.
fn http_client_trusting(bundle: &CaBundle) -> SharedHttpClient {
    let trust_store = TrustStore::empty().with_pem_certificate(bundle.pem());
    let tls_context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        // The builder only moves its fields into the context in aws-smithy-http-client 1.5;
        // the certificates themselves were parsed by `CaBundle::load` at config time.
        .expect("building a TlsContext from a trust store cannot fail");
    HttpClientBuilder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.tls_context(tls_context.clone()).build()
    })
}

impl Upstream {
    /// A client for `config`; `timeout` bounds each call that carries no streamed body.
    pub fn new(config: &RegionConfig, timeout: Duration, health: Health, metrics: Arc<Metrics>) -> Self {
        let credentials = Credentials::new(
            &config.access_key_id,
            config.secret_access_key.expose(),
            None,
            None,
            "twinvault-config",
        );
        let mut sdk_config = aws_sdk_s3::Config::builder();
        if let Some(bundle) = &config.ca_bundle {
            sdk_config.set_http_client(Some(http_client_trusting(bundle)));
        }
        let sdk_config = sdk_config
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&config.endpoint)
            .region(Region::new(config.signing_region.clone()))
            .credentials_provider(credentials)
            .force_path_style(config.force_path_style)
            // The gateway checks plaintext checksums itself; upstream checksums would cover
            // ciphertext and force aws-chunked framing that some stores reject.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(5)).build())
            // A request body that waits on a slow client would look "stalled" to the SDK and be
            // cut after a few seconds; liveness is bounded by our own timeouts instead.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        let name = config.name.clone();
        Self {
            name,
            client: Client::from_conf(sdk_config),
            config: config.clone(),
            timeout,
            metrics,
            health: Arc::new(health),
        }
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

    /// Records one upstream call's outcome and duration.
    fn observe<T>(&self, operation: &'static str, started: std::time::Instant, result: &Result<T>) {
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

    /// The region's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The upstream bucket for a client bucket.
    pub fn bucket(&self, bucket: &str) -> String {
        self.config.upstream_bucket(bucket)
    }

    /// The client bucket for an upstream bucket name, if it follows this region's template.
    pub fn client_bucket(&self, upstream: &str) -> Option<String> {
        let (prefix, suffix) = self.config.bucket_template.split_once("{bucket}")?;
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
        if_none_match: Option<&str>,
        body: S,
    ) -> Result<StoredObject>
    where
        S: Stream<Item = std::result::Result<http_body::Frame<Bytes>, std::io::Error>> + Send + Sync + 'static,
    {
        let body = ByteStream::from_body_1_x(StreamBody::new(body));
        let req = self
            .client
            .put_object()
            .bucket(self.bucket(bucket))
            .key(key)
            .content_length(stored_len as i64)
            .content_type("application/octet-stream")
            .set_metadata(Some(metadata.clone()))
            .set_if_none_match(if_none_match.map(str::to_owned))
            .body(body);
        let result = streamed!(self, "PutObject", req.send());
        let out = result?;
        Ok(StoredObject {
            etag: unquote(out.e_tag()),
            stored_len,
            last_modified: None,
            metadata: metadata.clone(),
        })
    }

    /// Stores a small in-memory object (journal records, leases) without gateway metadata.
    pub async fn put_small(&self, bucket: &str, key: &str, body: Bytes) -> Result<()> {
        let req = self
            .client
            .put_object()
            .bucket(self.bucket(bucket))
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        timed!(self, "PutObject", req.send()).map(|_| ())
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
        let req = self.client.head_object().bucket(self.bucket(bucket)).key(key);
        let out = timed!(self, "HeadObject", req.send())?;
        Ok(StoredObject {
            etag: unquote(out.e_tag()),
            stored_len: out.content_length().unwrap_or(0).max(0) as u64,
            last_modified: out.last_modified().copied(),
            metadata: out.metadata().cloned().unwrap_or_default(),
        })
    }

    /// HEAD of part `part` of a multipart object: its stored bytes (inclusive range), the
    /// object's ETag and the object's part count.
    pub async fn head_object_part(&self, bucket: &str, key: &str, part: i32) -> Result<StoredPart> {
        let req = self
            .client
            .head_object()
            .bucket(self.bucket(bucket))
            .key(key)
            .part_number(part);
        let out = timed!(self, "HeadObject", req.send())?;
        let malformed = || {
            UpstreamError::new(
                &self.name,
                "HeadObject",
                UpstreamErrorKind::Other,
                "a part HEAD without a usable Content-Range",
            )
        };
        let range = out.content_range().and_then(stored_range).ok_or_else(malformed)?;
        Ok(StoredPart {
            etag: unquote(out.e_tag()),
            range,
            parts_count: out.parts_count(),
        })
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
        let req = self
            .client
            .get_object()
            .bucket(self.bucket(bucket))
            .key(key)
            .set_range(range.map(|(a, b)| format!("bytes={a}-{b}")))
            .set_if_match(if_match.map(|e| format!("\"{e}\"")));
        let out = timed!(self, "GetObject", req.send())?;
        let content_length = out.content_length().unwrap_or(0).max(0) as u64;
        let stored_len = match out.content_range().and_then(total_from_content_range) {
            Some(total) => total,
            None => content_length,
        };
        let object = StoredObject {
            etag: unquote(out.e_tag()),
            stored_len,
            last_modified: out.last_modified().copied(),
            metadata: out.metadata().cloned().unwrap_or_default(),
        };
        Ok(StoredBody { object, body: out.body })
    }

    /// DELETE of one object; Ok when it did not exist.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let req = self.client.delete_object().bucket(self.bucket(bucket)).key(key);
        match timed!(self, "DeleteObject", req.send()) {
            Ok(_) => Ok(()),
            Err(e) if e.kind == UpstreamErrorKind::NoSuchKey || e.kind == UpstreamErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes up to 1000 keys; returns per-key failures as (key, code, message).
    pub async fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<Vec<(String, String, String)>> {
        let objects: Vec<ObjectIdentifier> = keys
            .iter()
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| UpstreamError::new(&self.name, "DeleteObjects", UpstreamErrorKind::Other, e.to_string()))?;
        let req = self.client.delete_objects().bucket(self.bucket(bucket)).delete(delete);
        let out = timed!(self, "DeleteObjects", req.send())?;
        Ok(out
            .errors()
            .iter()
            .map(|e| {
                (
                    e.key().unwrap_or_default().to_owned(),
                    e.code().unwrap_or("InternalError").to_owned(),
                    e.message().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// ListObjectsV2 on the mapped bucket.
    pub async fn list_objects_v2(&self, bucket: &str, req: &ListRequest) -> Result<ListPage> {
        let call = self
            .client
            .list_objects_v2()
            .bucket(self.bucket(bucket))
            .set_prefix(req.prefix.clone())
            .set_delimiter(req.delimiter.clone())
            .set_max_keys(req.max_keys)
            .set_continuation_token(req.continuation_token.clone())
            .set_start_after(req.start_after.clone());
        timed!(self, "ListObjectsV2", call.send())
    }

    /// ListObjects (v1) on the mapped bucket.
    pub async fn list_objects_v1(&self, bucket: &str, req: &ListRequest) -> Result<ListPageV1> {
        let call = self
            .client
            .list_objects()
            .bucket(self.bucket(bucket))
            .set_prefix(req.prefix.clone())
            .set_delimiter(req.delimiter.clone())
            .set_max_keys(req.max_keys)
            .set_marker(req.marker.clone());
        timed!(self, "ListObjects", call.send())
    }

    /// CreateBucket on the mapped bucket.
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let req = self.client.create_bucket().bucket(self.bucket(bucket));
        timed!(self, "CreateBucket", req.send()).map(|_| ())
    }

    /// DeleteBucket on the mapped bucket.
    pub async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let req = self.client.delete_bucket().bucket(self.bucket(bucket));
        timed!(self, "DeleteBucket", req.send()).map(|_| ())
    }

    /// HeadBucket on the mapped bucket.
    pub async fn head_bucket(&self, bucket: &str) -> Result<()> {
        let req = self.client.head_bucket().bucket(self.bucket(bucket));
        match timed!(self, "HeadBucket", req.send()) {
            Ok(_) => Ok(()),
            Err(mut e) if e.kind == UpstreamErrorKind::NotFound => {
                e.kind = UpstreamErrorKind::NoSuchBucket;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// ListBuckets: client bucket names (those following the template) with creation times.
    pub async fn list_buckets(&self) -> Result<Vec<(String, Option<aws_smithy_types::DateTime>)>> {
        let out = timed!(self, "ListBuckets", self.client.list_buckets().send())?;
        Ok(out
            .buckets()
            .iter()
            .filter_map(|b| Some((self.client_bucket(b.name()?)?, b.creation_date().copied())))
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
        let req = self
            .client
            .create_multipart_upload()
            .bucket(self.bucket(bucket))
            .key(key)
            .content_type("application/octet-stream")
            .set_metadata(Some(metadata.clone()));
        let out = timed!(self, "CreateMultipartUpload", req.send())?;
        out.upload_id().map(str::to_owned).ok_or_else(|| {
            UpstreamError::new(
                &self.name,
                "CreateMultipartUpload",
                UpstreamErrorKind::Other,
                "no upload id returned",
            )
        })
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
        let req = self
            .client
            .upload_part()
            .bucket(self.bucket(bucket))
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .content_length(stored_len as i64)
            .body(ByteStream::from_body_1_x(StreamBody::new(body)));
        let result = streamed!(self, "UploadPart", req.send());
        let out = result?;
        Ok(StoredObject {
            etag: unquote(out.e_tag()),
            stored_len,
            ..Default::default()
        })
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
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = self
                .client
                .list_parts()
                .bucket(self.bucket(bucket))
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.clone());
            let out = timed!(self, "ListParts", req.send())?;
            for p in out.parts() {
                parts.push(ListedPart {
                    part: UploadedPart {
                        number: p.part_number().unwrap_or(0),
                        etag: unquote(p.e_tag()),
                        stored_len: p.size().unwrap_or(0).max(0) as u64,
                    },
                    last_modified: p.last_modified().copied(),
                });
            }
            match (out.is_truncated(), out.next_part_number_marker()) {
                (Some(true), Some(next)) if Some(next) != marker.as_deref() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(parts)
    }

    /// Whether the multipart upload `upload_id` still exists (one ListParts call of one part):
    /// `Ok(false)` when the upstream says it does not (completed, aborted, reaped).
    pub async fn upload_exists(&self, bucket: &str, key: &str, upload_id: &str) -> Result<bool> {
        let req = self
            .client
            .list_parts()
            .bucket(self.bucket(bucket))
            .key(key)
            .upload_id(upload_id)
            .max_parts(1);
        match timed!(self, "ListParts", req.send()) {
            Ok(_) => Ok(true),
            Err(e) if e.kind.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Completes a multipart upload with `parts` (number, upstream ETag).
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<StoredObject> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let completed: Vec<CompletedPart> = parts
            .iter()
            .map(|(n, etag)| {
                CompletedPart::builder()
                    .part_number(*n)
                    .e_tag(format!("\"{etag}\""))
                    .build()
            })
            .collect();
        let req = self
            .client
            .complete_multipart_upload()
            .bucket(self.bucket(bucket))
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build());
        let out = timed!(self, "CompleteMultipartUpload", req.send())?;
        Ok(StoredObject {
            etag: unquote(out.e_tag()),
            ..Default::default()
        })
    }

    /// Aborts a multipart upload; Ok when it is already gone.
    pub async fn abort_multipart_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let req = self
            .client
            .abort_multipart_upload()
            .bucket(self.bucket(bucket))
            .key(key)
            .upload_id(upload_id);
        match timed!(self, "AbortMultipartUpload", req.send()) {
            Ok(_) => Ok(()),
            Err(e) if e.kind.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Upstream {
    /// Server-side copy within this region, replacing the metadata; only if the source still
    /// has upstream ETag `if_match`, so the header written belongs to the bytes copied.
    pub async fn copy_object(
        &self,
        source: (&str, &str),
        target: (&str, &str),
        metadata: &HashMap<String, String>,
        if_match: &str,
    ) -> Result<StoredObject> {
        let copy_source = format!("{}/{}", self.bucket(source.0), url_encode(source.1));
        let req = self
            .client
            .copy_object()
            .copy_source(copy_source)
            .copy_source_if_match(format!("\"{if_match}\""))
            .bucket(self.bucket(target.0))
            .key(target.1)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .content_type("application/octet-stream")
            .set_metadata(Some(metadata.clone()));
        let out = timed!(self, "CopyObject", req.send())?;
        let result = out.copy_object_result();
        Ok(StoredObject {
            etag: unquote(result.and_then(|r| r.e_tag())),
            last_modified: result.and_then(|r| r.last_modified()).copied(),
            metadata: metadata.clone(),
            ..Default::default()
        })
    }
}

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

/// The total length from a `Content-Range: bytes a-b/total` header.
/// `a-b` of `bytes a-b/total`.
fn stored_range(value: &str) -> Option<(u64, u64)> {
    let (range, _) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

fn total_from_content_range(value: &str) -> Option<u64> {
    value.rsplit_once('/')?.1.parse().ok()
}
