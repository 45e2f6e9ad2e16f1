//! DeleteObject and DeleteObjects, in both regions.

use s3s::S3Request;
use s3s::dto::{DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput, DeleteObjectsOutput, DeletedObject};

use super::Gateway;
use crate::error::ApiResult;
use crate::journal::ChangeKind;
use crate::replication::Change;

/// S3's limit on keys per DeleteObjects request.
const MAX_KEYS: usize = 1000;

pub async fn delete_object(gw: &Gateway, req: S3Request<DeleteObjectInput>) -> ApiResult<DeleteObjectOutput> {
    let input = &req.input;
    let stamp = gw.regions.stamp();
    let results = gw
        .regions
        .on_both(|up| up.delete_object(&input.bucket, &input.key))
        .await;
    let keys = [input.key.clone()];
    let change = Change {
        kind: ChangeKind::Delete,
        bucket: &input.bucket,
        keys: &keys,
        stamp,
    };
    gw.regions.commit(results, &change).await?;
    Ok(DeleteObjectOutput::default())
}

pub async fn delete_objects(gw: &Gateway, req: S3Request<DeleteObjectsInput>) -> ApiResult<DeleteObjectsOutput> {
    let input = &req.input;
    let keys: Vec<String> = input.delete.objects.iter().map(|o| o.key.clone()).collect();
    if keys.len() > MAX_KEYS {
        return Err(crate::error::ApiError::InvalidArgument(format!(
            "DeleteObjects accepts at most {MAX_KEYS} keys, got {}",
            keys.len()
        )));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let stamp = gw.regions.stamp();
    let results = gw.regions.on_both(|up| up.delete_objects(&input.bucket, &keys)).await;
    let change = Change {
        kind: ChangeKind::Delete,
        bucket: &input.bucket,
        keys: &keys,
        stamp,
    };
    // A region that failed as a whole is journaled under policy "one" (and then holds no
    // per-key failures), or fails every key.
    let results = match gw.regions.commit(results, &change).await {
        Ok([a, b]) => [Ok(a.unwrap_or_default()), Ok(b.unwrap_or_default())],
        Err(e) => [Err(e), Ok(Vec::new())],
    };
    let mut failures: std::collections::BTreeMap<String, (String, String)> = Default::default();
    for result in results {
        match result {
            Ok(errors) => {
                for (key, code, message) in errors {
                    failures.entry(key).or_insert((code, message));
                }
            }
            // A region that failed as a whole fails every key.
            Err(e) => {
                for key in &keys {
                    failures.entry(key.clone()).or_insert_with(|| {
                        (
                            "ServiceUnavailable".to_owned(),
                            format!("region {} unavailable", e.region),
                        )
                    });
                }
            }
        }
    }
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
