//! The [`Backend`] over a real S3 store: an aws-sdk-s3 client, configured for ciphertext.

use std::collections::HashMap;
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
use http_body_util::StreamBody;

use super::backend::{Backend, FrameStream, PartsPage, PutCondition};
use super::{
    ListPage, ListPageV1, ListRequest, ListedObject, ListedPart, ListedPrefix, Result, StorageClass, StoredBody,
    StoredObject, StoredPart, StoredStream, UploadedPart, UpstreamError, UpstreamErrorKind, unquote, url_encode,
};
use crate::config::{CaBundle, RegionConfig};

/// One region's aws-sdk-s3 client.
#[derive(Clone, Debug)]
pub struct SdkBackend {
    name: String,
    client: Client,
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

impl SdkBackend {
    /// A client for `config`.
    pub fn new(config: &RegionConfig) -> Self {
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
        Self {
            name: config.name.clone(),
            client: Client::from_conf(sdk_config),
        }
    }

    fn error<E, R>(&self, operation: &'static str, err: aws_sdk_s3::error::SdkError<E, R>) -> UpstreamError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + super::error::HasStatus,
    {
        UpstreamError::from_sdk(&self.name, operation, err)
    }
}

#[async_trait::async_trait]
impl Backend for SdkBackend {
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        stored_len: u64,
        metadata: &HashMap<String, String>,
        condition: PutCondition<'_>,
        body: FrameStream,
    ) -> Result<StoredObject> {
        let body = ByteStream::from_body_1_x(StreamBody::new(body));
        let (if_none_match, if_match) = condition_headers(condition);
        let req = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_length(stored_len as i64)
            .content_type("application/octet-stream")
            .set_metadata(Some(metadata.clone()))
            .set_if_none_match(if_none_match)
            .set_if_match(if_match)
            .body(body);
        let out = req.send().await.map_err(|e| self.error("PutObject", e))?;
        Ok(StoredObject {
            etag: unquote(out.e_tag()),
            stored_len,
            last_modified: None,
            metadata: metadata.clone(),
        })
    }

    async fn put_small(&self, bucket: &str, key: &str, body: Bytes) -> Result<()> {
        let req = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        req.send().await.map(|_| ()).map_err(|e| self.error("PutObject", e))
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> Result<StoredBody> {
        let req = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_range(range.map(|(a, b)| format!("bytes={a}-{b}")))
            .set_if_match(if_match.map(|e| format!("\"{e}\"")));
        let out = req.send().await.map_err(|e| self.error("GetObject", e))?;
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
        Ok(StoredBody {
            object,
            body: stored_stream(out.body),
        })
    }

    async fn head_object(&self, bucket: &str, key: &str) -> Result<StoredObject> {
        let req = self.client.head_object().bucket(bucket).key(key);
        let out = req.send().await.map_err(|e| self.error("HeadObject", e))?;
        Ok(StoredObject {
            etag: unquote(out.e_tag()),
            stored_len: out.content_length().unwrap_or(0).max(0) as u64,
            last_modified: out.last_modified().copied(),
            metadata: out.metadata().cloned().unwrap_or_default(),
        })
    }

    async fn head_object_part(&self, bucket: &str, key: &str, part: i32) -> Result<StoredPart> {
        let req = self.client.head_object().bucket(bucket).key(key).part_number(part);
        let out = req.send().await.map_err(|e| self.error("HeadObject", e))?;
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

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let req = self.client.delete_object().bucket(bucket).key(key);
        req.send().await.map(|_| ()).map_err(|e| self.error("DeleteObject", e))
    }

    async fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<Vec<(String, String, String)>> {
        let objects: Vec<ObjectIdentifier> = keys
            .iter()
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| UpstreamError::new(&self.name, "DeleteObjects", UpstreamErrorKind::Other, e.to_string()))?;
        let req = self.client.delete_objects().bucket(bucket).delete(delete);
        let out = req.send().await.map_err(|e| self.error("DeleteObjects", e))?;
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

    async fn list_objects_v2(&self, bucket: &str, req: &ListRequest) -> Result<ListPage> {
        let call = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .set_prefix(req.prefix.clone())
            .set_delimiter(req.delimiter.clone())
            .set_max_keys(req.max_keys)
            .set_continuation_token(req.continuation_token.clone())
            .set_start_after(req.start_after.clone());
        let out = call.send().await.map_err(|e| self.error("ListObjectsV2", e))?;
        Ok(ListPage {
            contents: out.contents().iter().map(listed_object).collect(),
            common_prefixes: out.common_prefixes().iter().map(listed_prefix).collect(),
            is_truncated: out.is_truncated(),
            key_count: out.key_count(),
            prefix: out.prefix().map(str::to_owned),
            delimiter: out.delimiter().map(str::to_owned),
            max_keys: out.max_keys(),
            continuation_token: out.continuation_token().map(str::to_owned),
            next_continuation_token: out.next_continuation_token().map(str::to_owned),
            start_after: out.start_after().map(str::to_owned),
            ..Default::default()
        })
    }

    async fn list_objects_v1(&self, bucket: &str, req: &ListRequest) -> Result<ListPageV1> {
        let call = self
            .client
            .list_objects()
            .bucket(bucket)
            .set_prefix(req.prefix.clone())
            .set_delimiter(req.delimiter.clone())
            .set_max_keys(req.max_keys)
            .set_marker(req.marker.clone());
        let out = call.send().await.map_err(|e| self.error("ListObjects", e))?;
        Ok(ListPage {
            contents: out.contents().iter().map(listed_object).collect(),
            common_prefixes: out.common_prefixes().iter().map(listed_prefix).collect(),
            is_truncated: out.is_truncated(),
            prefix: out.prefix().map(str::to_owned),
            delimiter: out.delimiter().map(str::to_owned),
            max_keys: out.max_keys(),
            marker: out.marker().map(str::to_owned),
            next_marker: out.next_marker().map(str::to_owned),
            ..Default::default()
        })
    }

    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let req = self.client.create_bucket().bucket(bucket);
        req.send().await.map(|_| ()).map_err(|e| self.error("CreateBucket", e))
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let req = self.client.delete_bucket().bucket(bucket);
        req.send().await.map(|_| ()).map_err(|e| self.error("DeleteBucket", e))
    }

    async fn head_bucket(&self, bucket: &str) -> Result<()> {
        let req = self.client.head_bucket().bucket(bucket);
        req.send().await.map(|_| ()).map_err(|e| self.error("HeadBucket", e))
    }

    async fn list_buckets(&self) -> Result<Vec<(String, Option<aws_smithy_types::DateTime>)>> {
        let out = self
            .client
            .list_buckets()
            .send()
            .await
            .map_err(|e| self.error("ListBuckets", e))?;
        Ok(out
            .buckets()
            .iter()
            .filter_map(|b| Some((b.name()?.to_owned(), b.creation_date().copied())))
            .collect())
    }

    async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<String> {
        let req = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type("application/octet-stream")
            .set_metadata(Some(metadata.clone()));
        let out = req.send().await.map_err(|e| self.error("CreateMultipartUpload", e))?;
        out.upload_id().map(str::to_owned).ok_or_else(|| {
            UpstreamError::new(
                &self.name,
                "CreateMultipartUpload",
                UpstreamErrorKind::Other,
                "no upload id returned",
            )
        })
    }

    async fn upload_part(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        part_number: i32,
        stored_len: u64,
        body: FrameStream,
    ) -> Result<StoredObject> {
        let req = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .content_length(stored_len as i64)
            .body(ByteStream::from_body_1_x(StreamBody::new(body)));
        let out = req.send().await.map_err(|e| self.error("UploadPart", e))?;
        Ok(StoredObject {
            etag: unquote(out.e_tag()),
            stored_len,
            ..Default::default()
        })
    }

    async fn list_parts(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        marker: Option<&str>,
        max_parts: Option<i32>,
    ) -> Result<PartsPage> {
        let req = self
            .client
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .set_part_number_marker(marker.map(str::to_owned))
            .set_max_parts(max_parts);
        let out = req.send().await.map_err(|e| self.error("ListParts", e))?;
        let parts = out
            .parts()
            .iter()
            .map(|p| ListedPart {
                part: UploadedPart {
                    number: p.part_number().unwrap_or(0),
                    etag: unquote(p.e_tag()),
                    stored_len: p.size().unwrap_or(0).max(0) as u64,
                },
                last_modified: p.last_modified().copied(),
            })
            .collect();
        Ok(PartsPage {
            parts,
            is_truncated: out.is_truncated(),
            next_part_number_marker: out.next_part_number_marker().map(str::to_owned),
        })
    }

    async fn complete_multipart_upload(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        parts: &[(i32, String)],
        condition: PutCondition<'_>,
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
        let (if_none_match, if_match) = condition_headers(condition);
        let req = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .set_if_none_match(if_none_match)
            .set_if_match(if_match)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build());
        let out = req.send().await.map_err(|e| self.error("CompleteMultipartUpload", e))?;
        Ok(StoredObject {
            etag: unquote(out.e_tag()),
            ..Default::default()
        })
    }

    async fn abort_multipart_upload(&self, (bucket, key, upload_id): (&str, &str, &str)) -> Result<()> {
        let req = self
            .client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id);
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("AbortMultipartUpload", e))
    }

    async fn copy_object(
        &self,
        source: (&str, &str),
        target: (&str, &str),
        metadata: &HashMap<String, String>,
        if_match: &str,
        condition: PutCondition<'_>,
    ) -> Result<StoredObject> {
        let copy_source = format!("{}/{}", source.0, url_encode(source.1));
        let (target_if_none_match, target_if_match) = condition_headers(condition);
        let req = self
            .client
            .copy_object()
            .copy_source(copy_source)
            .copy_source_if_match(format!("\"{if_match}\""))
            .set_if_none_match(target_if_none_match)
            .set_if_match(target_if_match)
            .bucket(target.0)
            .key(target.1)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .content_type("application/octet-stream")
            .set_metadata(Some(metadata.clone()));
        let out = req.send().await.map_err(|e| self.error("CopyObject", e))?;
        let result = out.copy_object_result();
        Ok(StoredObject {
            etag: unquote(result.and_then(|r| r.e_tag())),
            last_modified: result.and_then(|r| r.last_modified()).copied(),
            metadata: metadata.clone(),
            ..Default::default()
        })
    }
}

/// `If-None-Match` and `If-Match` of a write under `condition`.
fn condition_headers(condition: PutCondition<'_>) -> (Option<String>, Option<String>) {
    match condition {
        PutCondition::Always => (None, None),
        PutCondition::IfAbsent => (Some("*".to_owned()), None),
        PutCondition::IfMatch(etag) => (None, Some(format!("\"{etag}\""))),
    }
}

/// An SDK body as the crate's stream (its errors become I/O errors, keeping their source).
fn stored_stream(body: ByteStream) -> StoredStream {
    StoredStream::new(futures::stream::unfold(body, |mut body| async move {
        body.next()
            .await
            .map(|item| (item.map_err(std::io::Error::other), body))
    }))
}

fn listed_object(o: &aws_sdk_s3::types::Object) -> ListedObject {
    ListedObject {
        key: o.key().map(str::to_owned),
        e_tag: o.e_tag().map(str::to_owned),
        size: o.size(),
        last_modified: o.last_modified().copied(),
        storage_class: o.storage_class().map(|s| StorageClass(s.as_str().to_owned())),
    }
}

fn listed_prefix(p: &aws_sdk_s3::types::CommonPrefix) -> ListedPrefix {
    ListedPrefix {
        prefix: p.prefix().map(str::to_owned),
    }
}

/// `a-b` of `bytes a-b/total`.
fn stored_range(value: &str) -> Option<(u64, u64)> {
    let (range, _) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// The total length from a `Content-Range: bytes a-b/total` header.
fn total_from_content_range(value: &str) -> Option<u64> {
    value.rsplit_once('/')?.1.parse().ok()
}
