//! DeleteObject and DeleteObjects, in both regions.

use std::collections::BTreeMap;

use super::Store;
use crate::error::{ApiError, ApiResult};
use crate::replication::Change;
use crate::reserved::ChangeKind;

/// S3's limit on keys per DeleteObjects request.
const MAX_KEYS: usize = 1000;

/// Keys a DeleteObjects could not delete: key → (S3 error code, message).
pub type DeleteFailures = BTreeMap<String, (String, String)>;

impl Store {
    /// Deletes one key in both regions (a missing key counts as deleted).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> ApiResult<()> {
        let stamp = self.regions.stamp();
        let results = self.regions.on_both(|up| up.delete_object(bucket, key)).await;
        let keys = [key.to_owned()];
        let change = Change {
            kind: ChangeKind::Delete,
            bucket,
            keys: &keys,
            stamp,
        };
        self.regions.commit(results, &change).await?;
        Ok(())
    }

    /// Deletes up to 1000 keys in both regions; returns the keys that were not deleted.
    pub async fn delete_objects(&self, bucket: &str, keys: &[String]) -> ApiResult<DeleteFailures> {
        if keys.len() > MAX_KEYS {
            return Err(ApiError::InvalidArgument(format!(
                "DeleteObjects accepts at most {MAX_KEYS} keys, got {}",
                keys.len()
            )));
        }
        let stamp = self.regions.stamp();
        let results = self.regions.on_both(|up| up.delete_objects(bucket, keys)).await;
        let change = Change {
            kind: ChangeKind::Delete,
            bucket,
            keys,
            stamp,
        };
        // A region that failed as a whole is journaled under policy "one" (and then holds no
        // per-key failures), or fails every key.
        let results = match self.regions.commit(results, &change).await {
            Ok([a, b]) => [Ok(a.unwrap_or_default()), Ok(b.unwrap_or_default())],
            Err(e) => [Err(e), Ok(Vec::new())],
        };
        let mut failures = DeleteFailures::new();
        for result in results {
            match result {
                Ok(errors) => {
                    for (key, code, message) in errors {
                        failures.entry(key).or_insert((code, message));
                    }
                }
                Err(e) => {
                    for key in keys {
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
        Ok(failures)
    }
}
