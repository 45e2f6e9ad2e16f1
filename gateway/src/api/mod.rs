//! The S3 front door: the `s3s::S3` implementation. Each method hands its request to the
//! module for that operation family, which turns the s3s input into one call into the object
//! layer ([`crate::store`]) and its result into the s3s output. Nothing here talks to a region.

mod bucket;
mod checksum;
mod copy;
mod delete;
mod dto;
#[cfg(test)]
mod fuzz;
mod get;
mod list;
mod multipart;
mod part_copy;
mod probes;
mod put;
mod sse_c;
mod tagging;
mod uploads;

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use tracing::Instrument;

use crate::config::Config;
use crate::error::ApiResult;
use crate::keyring::LiveKeyring;
use crate::metrics::{Metrics, status_class};
use crate::replication::Regions;
use crate::store::Store;
use crate::telemetry::{self, RequestId};
use crate::upstream::RegionsUsed;

/// What request handlers need: the object layer, and what the front door answers itself.
#[derive(Clone, Debug)]
pub struct Gateway {
    store: Store,
    metrics: Arc<Metrics>,
    region_name: String,
    access: crate::auth::AccessPolicy,
}

impl Gateway {
    /// A gateway over `regions` for `config`, whose buckets `access` guards (the same policy
    /// s3s checks requests with; the front door uses it for ListBuckets and bucket owners).
    pub fn new(
        config: &Config,
        keyring: LiveKeyring,
        regions: Arc<Regions>,
        metrics: Arc<Metrics>,
        access: crate::auth::AccessPolicy,
    ) -> Self {
        Self {
            store: Store::new(config, keyring, regions, Arc::clone(&metrics)),
            metrics,
            region_name: config.server.region.clone(),
            access,
        }
    }
}

/// What a request's span needs from it: its id (given by the server, see `server.rs`) and the
/// access key id it was signed with (never the secret); and where its audit record notes the
/// regions it used (only while the audit log is on).
fn request_facts<T>(req: &S3Request<T>) -> RequestFacts {
    RequestFacts {
        id: req
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::random),
        access_key: req.credentials.as_ref().map(|c| c.access_key.clone()),
        regions_used: req.extensions.get::<RegionsUsed>().cloned(),
    }
}

/// See [`request_facts`].
struct RequestFacts {
    id: RequestId,
    access_key: Option<String>,
    regions_used: Option<RegionsUsed>,
}

impl Gateway {
    /// Runs one request handler inside the request's span (`telemetry::request_span`: its
    /// upstream calls become child spans), records the front-door metrics around it, and gives
    /// the client the request id (`x-amz-request-id`, and `<RequestId>` in an error body).
    async fn observe<T>(
        &self,
        operation: &'static str,
        facts: RequestFacts,
        handler: impl Future<Output = ApiResult<T>>,
    ) -> S3Result<S3Response<T>> {
        let request_id = facts.id;
        let span = telemetry::request_span(operation, &request_id, facts.access_key.as_deref());
        let m = &self.metrics;
        m.s3_in_flight.inc();
        let started = std::time::Instant::now();
        // The error conversion logs 5xx answers: inside the span, so they carry the request id.
        let handled = RegionsUsed::within(facts.regions_used, handler);
        let result = async { handled.await.map_err(s3s::S3Error::from) }
            .instrument(span.clone())
            .await;
        m.s3_in_flight.dec();
        let status = match &result {
            Ok(_) => 200,
            Err(e) => e.status_code().map_or(500, |s| s.as_u16()),
        };
        let elapsed = started.elapsed();
        m.s3_requests
            .with_label_values(&[operation, status_class(status)])
            .inc();
        m.s3_request_duration
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
        span.in_scope(|| tracing::debug!(status, duration_ms = elapsed.as_millis() as u64, "request answered"));
        match result {
            Ok(output) => {
                let mut response = S3Response::new(output);
                telemetry::tag_response(&mut response, &request_id);
                Ok(response)
            }
            Err(mut error) => {
                telemetry::tag_error(&mut error, &request_id);
                Err(error)
            }
        }
    }
}

#[async_trait::async_trait]
impl S3 for Gateway {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.observe("CreateBucket", request_facts(&req), bucket::create_bucket(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.observe("DeleteBucket", request_facts(&req), bucket::delete_bucket(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.observe("HeadBucket", request_facts(&req), bucket::head_bucket(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.observe("ListBuckets", request_facts(&req), bucket::list_buckets(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.observe(
            "GetBucketLocation",
            request_facts(&req),
            bucket::get_bucket_location(self, req),
        )
        .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.observe("PutObject", request_facts(&req), put::put_object(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.observe("GetObject", request_facts(&req), get::get_object(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.observe("HeadObject", request_facts(&req), get::head_object(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.observe("DeleteObject", request_facts(&req), delete::delete_object(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.observe("DeleteObjects", request_facts(&req), delete::delete_objects(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.observe("ListObjects", request_facts(&req), list::list_objects(self, req))
            .await
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.observe("ListObjectsV2", request_facts(&req), list::list_objects_v2(self, req))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.observe(
            "CreateMultipartUpload",
            request_facts(&req),
            multipart::create(self, req),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.observe("UploadPart", request_facts(&req), multipart::upload_part(self, req))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.observe(
            "CompleteMultipartUpload",
            request_facts(&req),
            multipart::complete(self, req),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.observe("AbortMultipartUpload", request_facts(&req), multipart::abort(self, req))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.observe("ListParts", request_facts(&req), multipart::list_parts(self, req))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.observe("CopyObject", request_facts(&req), copy::copy_object(self, req))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.observe(
            "UploadPartCopy",
            request_facts(&req),
            part_copy::upload_part_copy(self, req),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.observe(
            "ListMultipartUploads",
            request_facts(&req),
            uploads::list_multipart_uploads(self, req),
        )
        .await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.observe(
            "GetObjectAttributes",
            request_facts(&req),
            get::get_object_attributes(self, req),
        )
        .await
    }

    // --- configuration probes (probes.rs) ---

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::empty_configuration(self, &bucket);
        self.observe("GetBucketVersioning", request_facts(&req), work).await
    }

    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::get_bucket_acl(self, &bucket);
        self.observe("GetBucketAcl", request_facts(&req), work).await
    }

    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let work = probes::get_object_acl(self, &bucket, &key);
        self.observe("GetObjectAcl", request_facts(&req), work).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::get_bucket_encryption(self, &bucket);
        self.observe("GetBucketEncryption", request_facts(&req), work).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let facts = request_facts(&req);
        self.observe("GetObjectTagging", facts, tagging::get(self, req)).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let facts = request_facts(&req);
        self.observe("PutObjectTagging", facts, tagging::put(self, req)).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let facts = request_facts(&req);
        self.observe("DeleteObjectTagging", facts, tagging::delete(self, req))
            .await
    }

    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::empty_configuration(self, &bucket);
        self.observe("GetBucketLogging", request_facts(&req), work).await
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::empty_configuration(self, &bucket);
        self.observe("GetBucketNotificationConfiguration", request_facts(&req), work)
            .await
    }

    async fn get_bucket_accelerate_configuration(
        &self,
        req: S3Request<GetBucketAccelerateConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::empty_configuration(self, &bucket);
        self.observe("GetBucketAccelerateConfiguration", request_facts(&req), work)
            .await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "NoSuchTagSet");
        self.observe("GetBucketTagging", request_facts(&req), work).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "NoSuchBucketPolicy");
        self.observe("GetBucketPolicy", request_facts(&req), work).await
    }

    async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "NoSuchCORSConfiguration");
        self.observe("GetBucketCors", request_facts(&req), work).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "NoSuchLifecycleConfiguration");
        self.observe("GetBucketLifecycleConfiguration", request_facts(&req), work)
            .await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "ObjectLockConfigurationNotFoundError");
        self.observe("GetObjectLockConfiguration", request_facts(&req), work)
            .await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "NoSuchPublicAccessBlockConfiguration");
        self.observe("GetPublicAccessBlock", request_facts(&req), work).await
    }

    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "NoSuchWebsiteConfiguration");
        self.observe("GetBucketWebsite", request_facts(&req), work).await
    }

    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "ReplicationConfigurationNotFoundError");
        self.observe("GetBucketReplication", request_facts(&req), work).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let bucket = req.input.bucket.clone();
        let work = probes::no_configuration(self, &bucket, "OwnershipControlsNotFoundError");
        self.observe("GetBucketOwnershipControls", request_facts(&req), work)
            .await
    }
}
