//! DeleteObject and DeleteObjects at the front door.

use s3s::S3Request;
use s3s::dto::{DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput, DeleteObjectsOutput, DeletedObject};

use super::Gateway;
use crate::error::ApiResult;

pub async fn delete_object(gw: &Gateway, req: S3Request<DeleteObjectInput>) -> ApiResult<DeleteObjectOutput> {
    let input = &req.input;
    gw.store.delete_object(&input.bucket, &input.key).await?;
    Ok(DeleteObjectOutput::default())
}

pub async fn delete_objects(gw: &Gateway, req: S3Request<DeleteObjectsInput>) -> ApiResult<DeleteObjectsOutput> {
    let input = &req.input;
    let keys: Vec<String> = input.delete.objects.iter().map(|o| o.key.clone()).collect();
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut failures = gw.store.delete_objects(&input.bucket, &keys).await?;
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for key in keys {
        match failures.remove(&key) {
            Some((code, message)) => errors.push(s3s::dto::Error {
                key: Some(key),
                code: Some(code),
                message: Some(message),
                ..Default::default()
            }),
            None if quiet => {}
            None => deleted.push(DeletedObject {
                key: Some(key),
                ..Default::default()
            }),
        }
    }
    Ok(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    })
}
