//! Bucket operations at the front door.

use s3s::S3Request;
use s3s::dto::{
    Bucket, CreateBucketInput, CreateBucketOutput, DeleteBucketInput, DeleteBucketOutput, GetBucketLocationInput,
    GetBucketLocationOutput, HeadBucketInput, HeadBucketOutput, ListBucketsInput, ListBucketsOutput, Owner,
};

use super::Gateway;
use super::dto;
use crate::error::ApiResult;

pub async fn create_bucket(gw: &Gateway, req: S3Request<CreateBucketInput>) -> ApiResult<CreateBucketOutput> {
    let bucket = &req.input.bucket;
    gw.store.create_bucket(bucket).await?;
    Ok(CreateBucketOutput {
        location: Some(format!("/{bucket}")),
    })
}

pub async fn delete_bucket(gw: &Gateway, req: S3Request<DeleteBucketInput>) -> ApiResult<DeleteBucketOutput> {
    gw.store.delete_bucket(&req.input.bucket).await?;
    Ok(DeleteBucketOutput::default())
}

pub async fn head_bucket(gw: &Gateway, req: S3Request<HeadBucketInput>) -> ApiResult<HeadBucketOutput> {
    gw.store.head_bucket(&req.input.bucket).await?;
    Ok(HeadBucketOutput::default())
}

pub async fn list_buckets(gw: &Gateway, req: S3Request<ListBucketsInput>) -> ApiResult<ListBucketsOutput> {
    let names = gw.store.list_buckets().await?;
    let access_key = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let buckets = names
        .into_iter()
        // Hides the journal bucket, and for restricted users every bucket they may not use.
        .filter(|(name, _)| gw.access.allows(access_key, name))
        .map(|(name, created)| Bucket {
            name: Some(name),
            creation_date: created.map(dto::timestamp),
            ..Default::default()
        })
        .collect();
    Ok(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(Owner {
            display_name: Some("twinvault".into()),
            id: Some("twinvault".into()),
        }),
        ..Default::default()
    })
}

pub async fn get_bucket_location(
    gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> ApiResult<GetBucketLocationOutput> {
    gw.store.head_bucket(&req.input.bucket).await?;
    let location = (gw.region_name != "us-east-1").then(|| gw.region_name.clone().into());
    Ok(GetBucketLocationOutput {
        location_constraint: location,
    })
}
