//! PutObjectTagging, GetObjectTagging and DeleteObjectTagging into the object layer's sealed
//! tags (`store::tagging`).

use s3s::S3Request;
use s3s::dto::{
    DeleteObjectTaggingInput, DeleteObjectTaggingOutput, GetObjectTaggingInput, GetObjectTaggingOutput,
    PutObjectTaggingInput, PutObjectTaggingOutput, Tag,
};

use super::Gateway;
use crate::error::{ApiError, ApiResult};

pub async fn get(gw: &Gateway, req: S3Request<GetObjectTaggingInput>) -> ApiResult<GetObjectTaggingOutput> {
    let input = &req.input;
    refuse_versions(input.version_id.as_deref())?;
    let tags = gw.store.get_tagging(&input.bucket, &input.key).await?;
    Ok(GetObjectTaggingOutput {
        tag_set: tags
            .into_iter()
            .map(|(key, value)| Tag {
                key: Some(key),
                value: Some(value),
            })
            .collect(),
        version_id: None,
    })
}

pub async fn put(gw: &Gateway, req: S3Request<PutObjectTaggingInput>) -> ApiResult<PutObjectTaggingOutput> {
    let input = &req.input;
    refuse_versions(input.version_id.as_deref())?;
    let tags = input
        .tagging
        .tag_set
        .iter()
        .map(|tag| {
            (
                tag.key.clone().unwrap_or_default(),
                tag.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    gw.store.put_tagging(&input.bucket, &input.key, tags).await?;
    Ok(PutObjectTaggingOutput::default())
}

pub async fn delete(gw: &Gateway, req: S3Request<DeleteObjectTaggingInput>) -> ApiResult<DeleteObjectTaggingOutput> {
    let input = &req.input;
    refuse_versions(input.version_id.as_deref())?;
    gw.store.put_tagging(&input.bucket, &input.key, Vec::new()).await?;
    Ok(DeleteObjectTaggingOutput::default())
}

/// Buckets are unversioned: a version id names nothing the gateway keeps.
fn refuse_versions(version_id: Option<&str>) -> ApiResult<()> {
    match version_id {
        Some(_) => Err(ApiError::NotImplemented("tagging a specific object version")),
        None => Ok(()),
    }
}
