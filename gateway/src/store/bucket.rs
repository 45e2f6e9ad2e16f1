//! Buckets: created and deleted in both regions, looked up in the first that answers.

use std::time::SystemTime;

use super::Store;
use super::object::system_time;
use crate::error::{ApiError, ApiResult};
use crate::replication::{Change, ReadScope};
use crate::reserved::ChangeKind;
use crate::upstream::{ListRequest, UpstreamError, UpstreamErrorKind};

impl Store {
    /// Creates the bucket in both regions.
    pub async fn create_bucket(&self, bucket: &str) -> ApiResult<()> {
        let stamp = self.regions.stamp();
        let results = self.regions.on_both(|up| up.create_bucket(bucket)).await;
        let owned =
            |r: &Result<(), UpstreamError>| matches!(r, Err(e) if e.kind == UpstreamErrorKind::BucketAlreadyOwnedByYou);
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
                self.regions.commit(results, &change).await?;
            }
        }
        Ok(())
    }

    /// Deletes the bucket in both regions, if it is empty in both.
    pub async fn delete_bucket(&self, bucket: &str) -> ApiResult<()> {
        // Check both sides first, so a bucket is never deleted in one region and kept in the other.
        let probe = ListRequest {
            max_keys: Some(1),
            ..Default::default()
        };
        let listings = self.regions.on_both(|up| up.list_objects_v2(bucket, &probe)).await;
        for listing in listings {
            match listing {
                Ok(page) if !page.contents().is_empty() => return Err(ApiError::BucketNotEmpty),
                Ok(_) => {}
                Err(e) if e.kind.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let results = self.regions.on_both(|up| up.delete_bucket(bucket)).await;
        let gone = |r: &Result<(), UpstreamError>| match r {
            Ok(()) => true,
            Err(e) => e.kind.is_not_found(),
        };
        match &results {
            [a, b] if gone(a) && gone(b) && (a.is_ok() || b.is_ok()) => Ok(()),
            _ => {
                let change = Change {
                    kind: ChangeKind::DeleteBucket,
                    bucket,
                    keys: &[],
                    stamp: self.regions.stamp(),
                };
                self.regions.commit(results, &change).await?;
                Ok(())
            }
        }
    }

    /// Whether the bucket exists (NoSuchBucket if not), from the first region that answers.
    pub async fn head_bucket(&self, bucket: &str) -> ApiResult<()> {
        self.regions
            .read(ReadScope::Bucket(bucket), |up| up.head_bucket(bucket))
            .await?;
        Ok(())
    }

    /// Every client bucket (the reserved bucket among them) with its creation time, from the
    /// first region that answers.
    pub async fn list_buckets(&self) -> ApiResult<Vec<(String, Option<SystemTime>)>> {
        let names = self.regions.read(ReadScope::Global, |up| up.list_buckets()).await?;
        Ok(names
            .into_iter()
            .map(|(name, created)| (name, created.map(system_time)))
            .collect())
    }
}
