//! Buckets: created and deleted in both regions, looked up in the first that answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::Store;
use super::object::system_time;
use crate::error::{ApiError, ApiResult};
use crate::replication::{Change, ReadScope};
use crate::reserved::ChangeKind;
use crate::upstream::{ListRequest, UpstreamError, UpstreamErrorKind};

/// How long a bucket seen to exist is taken to exist without asking again.
const KNOWN_BUCKET_TTL: Duration = Duration::from_secs(5);
/// Above this many remembered buckets, the stale ones are dropped.
const KNOWN_BUCKETS_PRUNE_AT: usize = 4096;

/// Buckets this gateway saw exist recently. Some stores create a missing bucket on PUT
/// (SeaweedFS by default), so a write first checks that its bucket exists, as S3 does; this
/// keeps that check to one HEAD per bucket per [`KNOWN_BUCKET_TTL`]. A bucket deleted through
/// another gateway replica may take that long to be noticed here.
#[derive(Debug, Default)]
pub(super) struct KnownBuckets {
    seen: Mutex<HashMap<String, Instant>>,
}

impl KnownBuckets {
    fn fresh(&self, bucket: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(bucket).is_some_and(|at| at.elapsed() < KNOWN_BUCKET_TTL)
    }

    fn remember(&self, bucket: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= KNOWN_BUCKETS_PRUNE_AT {
            seen.retain(|_, at| at.elapsed() < KNOWN_BUCKET_TTL);
        }
        seen.insert(bucket.to_owned(), Instant::now());
    }

    fn forget(&self, bucket: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).remove(bucket);
    }
}

impl Store {
    /// What every new object passes before anything is written: a key every store keeps as
    /// given ([`super::keys`]), in a bucket that exists (NoSuchBucket otherwise, so that a
    /// store that creates buckets on PUT never creates one a client did not).
    pub(super) async fn check_new_object(&self, bucket: &str, key: &str) -> ApiResult<()> {
        super::keys::check_writable_key(key)?;
        if self.known_buckets.fresh(bucket) {
            return Ok(());
        }
        self.head_bucket(bucket).await
    }

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
        self.known_buckets.forget(bucket);
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
            .read(ReadScope::BucketExists(bucket), |up| up.head_bucket(bucket))
            .await
            .map_err(|e| match e.kind.is_not_found() {
                // A HEAD's 404 has no body to name what is missing: here it is the bucket.
                true => ApiError::NoSuchBucket,
                false => e.into(),
            })?;
        self.known_buckets.remember(bucket);
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
