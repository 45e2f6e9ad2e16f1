//! Bucket operations: created and deleted in both regions, looked up in the first that answers.

use s3s::S3Request;
use s3s::dto::{
    Bucket, CreateBucketInput, CreateBucketOutput, DeleteBucketInput, DeleteBucketOutput, GetBucketLocationInput,
    GetBucketLocationOutput, HeadBucketInput, HeadBucketOutput, ListBucketsInput, ListBucketsOutput, Owner,
};

use super::Gateway;
use super::object::timestamp;
use crate::error::{ApiError, ApiResult};
use crate::journal::ChangeKind;
use crate::replication::Change;
use crate::upstream::{ListRequest, UpstreamErrorKind};

pub async fn create_bucket(gw: &Gateway, req: S3Request<CreateBucketInput>) -> ApiResult<CreateBucketOutput> {
    let bucket = &req.input.bucket;
    let stamp = gw.regions.stamp();
    let results = gw.regions.on_both(|up| up.create_bucket(bucket)).await;
    let owned = |r: &Result<(), crate::upstream::UpstreamError>| matches!(r, Err(e) if e.kind == UpstreamErrorKind::BucketAlreadyOwnedByYou);
    // Already there on one side only: this create completes an earlier, partial one.
    match results {
        [Ok(()), ref b] if owned(b) => {}
        [ref a, Ok(())] if owned(a) => {}
        results => {
            let change = Change {
                kind: ChangeKind::CreateBucket,
                bucket,
                keys: &[],
                stamp,
            };
            gw.regions.commit(results, &change).await?;
        }
    }
    Ok(CreateBucketOutput {
        location: Some(format!("/{bucket}")),
    })
}

pub async fn delete_bucket(gw: &Gateway, req: S3Request<DeleteBucketInput>) -> ApiResult<DeleteBucketOutput> {
    let bucket = &req.input.bucket;
    // Check both sides first, so a bucket is never deleted in one region and kept in the other.
    let probe = ListRequest {
        max_keys: Some(1),
        ..Default::default()
    };
    let listings = gw.regions.on_both(|up| up.list_objects_v2(bucket, &probe)).await;
    for listing in listings {
        match listing {
            Ok(page) if !page.contents().is_empty() => return Err(ApiError::BucketNotEmpty),
            Ok(_) => {}
            Err(e) if e.kind.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let results = gw.regions.on_both(|up| up.delete_bucket(bucket)).await;
    let gone = |r: &Result<(), crate::upstream::UpstreamError>| match r {
        Ok(()) => true,
        Err(e) => e.kind.is_not_found(),
    };
    match &results {
        [a, b] if gone(a) && gone(b) && (a.is_ok() || b.is_ok()) => Ok(DeleteBucketOutput::default()),
        _ => {
            let change = Change {
                kind: ChangeKind::DeleteBucket,
                bucket,
                keys: &[],
                stamp: gw.regions.stamp(),
            };
            gw.regions.commit(results, &change).await?;
            Ok(DeleteBucketOutput::default())
        }
    }
}

pub async fn head_bucket(gw: &Gateway, req: S3Request<HeadBucketInput>) -> ApiResult<HeadBucketOutput> {
    let bucket = &req.input.bucket;
    gw.regions.read(|up| up.head_bucket(bucket)).await?;
    Ok(HeadBucketOutput::default())
}

pub async fn list_buckets(gw: &Gateway, req: S3Request<ListBucketsInput>) -> ApiResult<ListBucketsOutput> {
    let names = gw.regions.read(|up| up.list_buckets()).await?;
    let access_key = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let buckets = names
        .into_iter()
        // Hides the journal bucket, and for restricted users every bucket they may not use.
        .filter(|(name, _)| gw.access.allows(access_key, name))
        .map(|(name, created)| Bucket {
            name: Some(name),
            creation_date: created.map(timestamp),
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
    let bucket = &req.input.bucket;
    gw.regions.read(|up| up.head_bucket(bucket)).await?;
    let location = (gw.region_name != "us-east-1").then(|| gw.region_name.clone().into());
    Ok(GetBucketLocationOutput {
        location_constraint: location,
    })
}
