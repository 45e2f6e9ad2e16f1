//! The S3 front door: the `s3s::S3` implementation. Each method only hands its request to the
//! module for that operation family and turns the result into an S3 response.

mod bucket;
mod checksum;
mod copy;
mod delete;
mod etag;
mod get;
mod list;
mod multipart;
pub mod object;
mod put;
mod upload_id;

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::config::Config;
use crate::keyring::Keyring;
use crate::replication::Regions;

/// What request handlers need: the regions, the keyring and a few limits.
#[derive(Clone, Debug)]
pub struct Gateway {
    regions: Arc<Regions>,
    keyring: Arc<Keyring>,
    max_metadata_bytes: usize,
    region_name: String,
}

impl Gateway {
    /// A gateway over `regions` for `config`.
    pub fn new(config: &Config, regions: Arc<Regions>) -> Self {
        Self {
            regions,
            keyring: Arc::new(config.keyring.clone()),
            max_metadata_bytes: config.server.max_metadata_bytes,
            region_name: config.server.region.clone(),
        }
    }
}

#[async_trait::async_trait]
impl S3 for Gateway {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        Ok(S3Response::new(bucket::create_bucket(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        Ok(S3Response::new(bucket::delete_bucket(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        Ok(S3Response::new(bucket::head_bucket(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        Ok(S3Response::new(bucket::list_buckets(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        Ok(S3Response::new(bucket::get_bucket_location(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        Ok(S3Response::new(put::put_object(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        Ok(S3Response::new(get::get_object(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        Ok(S3Response::new(get::head_object(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        Ok(S3Response::new(delete::delete_object(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        Ok(S3Response::new(delete::delete_objects(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        Ok(S3Response::new(list::list_objects(self, req).await?))
    }
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        Ok(S3Response::new(list::list_objects_v2(self, req).await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        Ok(S3Response::new(multipart::create(self, req).await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        Ok(S3Response::new(multipart::upload_part(self, req).await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        Ok(S3Response::new(multipart::complete(self, req).await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        Ok(S3Response::new(multipart::abort(self, req).await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        Ok(S3Response::new(multipart::list_parts(self, req).await?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        Ok(S3Response::new(copy::copy_object(self, req).await?))
    }
}
