//! Bucket ownership: the user (access key id) who created a bucket owns it, and only the
//! owner (and admins) may use it. Owners are recorded in the upstreams, not in the gateway
//! (replicas stay stateless): one empty object per bucket in each region's reserved bucket,
//! named `owners/<bucket>/<stamp>/<hex owner>` ([`crate::reserved::layout::owner_record`]),
//! which no client can read or write (the reserved bucket is refused to clients).
//!
//! A lookup lists the bucket's records in both regions and takes the newest, so a region that
//! missed a record does not make a bucket unowned while the other answers; answers are cached
//! for [`OWNER_TTL`]. The access check that uses them is [`crate::auth::AccessPolicy`]; the
//! decision itself is [`policy`].

pub mod policy;
mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use policy::{BucketOwner, Caller, CreateVerdict};
pub use sync::SyncSummary;

use crate::replication::{ReadScope, Regions};
use crate::reserved::layout::{self, OwnerRecord};
use crate::upstream::{UpstreamError, UpstreamErrorKind};

/// How long a looked-up owner is used without asking again. An owner assigned, or a bucket
/// deleted, through another gateway replica takes up to this long to be seen here.
pub const OWNER_TTL: Duration = Duration::from_secs(5);
/// How long a lookup that found no record in one region waits for the other's answer.
const SECOND_REGION_GRACE: Duration = Duration::from_secs(2);
/// Above this many cached buckets, the stale entries are dropped.
const CACHE_PRUNE_AT: usize = 4096;

/// The ownership records of both regions, with a short-lived cache.
#[derive(Debug)]
pub struct Owners {
    regions: Arc<Regions>,
    cache: Mutex<HashMap<String, (Instant, BucketOwner)>>,
}

impl Owners {
    /// Ownership over `regions`' reserved buckets.
    pub fn new(regions: Arc<Regions>) -> Self {
        Self {
            regions,
            cache: Mutex::default(),
        }
    }

    /// Who owns `bucket`. Fails only when neither region's records can be listed (the
    /// request is then refused rather than guessed).
    pub async fn lookup(&self, bucket: &str) -> Result<BucketOwner, UpstreamError> {
        if let Some(owner) = self.cached(bucket) {
            return Ok(owner);
        }
        let records = self.records(&layout::owners_prefix(bucket), false).await?;
        let owner = match newest(records).remove(bucket) {
            Some(record) => BucketOwner::Owner(record.owner),
            None if self.exists(bucket).await? => BucketOwner::Unowned,
            // Not cached: the bucket may be created (and recorded) through another replica.
            None => return Ok(BucketOwner::Missing),
        };
        self.remember(bucket, &owner);
        Ok(owner)
    }

    /// Whether `bucket` exists, in the first region that answers.
    pub async fn exists(&self, bucket: &str) -> Result<bool, UpstreamError> {
        match self
            .regions
            .read(ReadScope::Bucket(bucket), |up| up.head_bucket(bucket))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.kind.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every recorded owner (bucket → access key id), for ListBuckets.
    pub async fn all(&self) -> Result<HashMap<String, String>, UpstreamError> {
        // Both regions (within the grace): one region's records may lack another bucket's.
        let records = self.records(layout::OWNERS, true).await?;
        Ok(newest(records).into_iter().map(|(b, r)| (b, r.owner)).collect())
    }

    /// Records `owner` as the owner of `bucket` in both regions, before the bucket is
    /// created. Under write policy "one" a region that misses it is tolerated (`twinvault
    /// repair` copies the record over); otherwise both must store it.
    pub async fn record(&self, bucket: &str, owner: &str) -> Result<(), UpstreamError> {
        let name = layout::owner_record(bucket, &self.regions.stamp().to_string(), owner);
        let journal = self.regions.journal();
        let results = self.regions.on_both(|up| journal.put(up, &name, Bytes::new())).await;
        self.forget(bucket);
        match results {
            [Ok(()), Ok(())] => Ok(()),
            [Ok(()), Err(e)] | [Err(e), Ok(())] if self.regions.tolerates_misses() => {
                tracing::warn!(bucket, error = %e, "bucket owner recorded in one region; twinvault repair copies it");
                Ok(())
            }
            [Err(e), _] | [_, Err(e)] => Err(e),
        }
    }

    /// Removes every ownership record of a deleted bucket (best effort: a record left behind
    /// names a bucket that no longer exists, which CreateBucket treats as free, and `twinvault
    /// repair` removes it).
    pub async fn remove(&self, bucket: &str) {
        self.forget(bucket);
        let prefix = layout::owners_prefix(bucket);
        let journal = self.regions.journal();
        let results = self
            .regions
            .on_both(|up| async {
                let names = journal.names_under(up, &prefix).await?;
                self.regions.journal().clear_all(up, &names).await
            })
            .await;
        for result in results {
            if let Err(e) = result {
                tracing::warn!(bucket, error = %e, "ownership record of a deleted bucket not removed");
            }
        }
        self.forget(bucket);
    }

    /// Makes `owner` the owner of the existing `bucket` (`twinvault assign-owner`): a newer
    /// record in both regions (both must store it), then the older records are removed.
    /// Returns the previous owner.
    pub async fn assign(&self, bucket: &str, owner: &str) -> Result<Option<String>, UpstreamError> {
        if !self.exists(bucket).await? {
            return Err(UpstreamError::new(
                "-",
                "HeadBucket",
                UpstreamErrorKind::NoSuchBucket,
                format!("bucket {bucket:?} does not exist"),
            ));
        }
        let prefix = layout::owners_prefix(bucket);
        let before = self.records(&prefix, true).await?;
        let previous = newest(before.clone()).remove(bucket).map(|r| r.owner);
        let name = layout::owner_record(bucket, &self.regions.stamp().to_string(), owner);
        let journal = self.regions.journal();
        let [a, b] = self.regions.on_both(|up| journal.put(up, &name, Bytes::new())).await;
        a?;
        b?;
        let results = self
            .regions
            .on_both(|up| async {
                let names: Vec<String> = journal
                    .names_under(up, &prefix)
                    .await?
                    .into_iter()
                    .filter(|n| *n != name)
                    .collect();
                journal.clear_all(up, &names).await
            })
            .await;
        for result in results {
            if let Err(e) = result {
                tracing::warn!(bucket, error = %e, "older ownership record not removed; the newer one counts");
            }
        }
        self.forget(bucket);
        Ok(previous)
    }

    /// Both regions' records under `prefix`. Unless `both`, the first region to answer with a
    /// record is enough; otherwise the other region's answer is awaited up to
    /// [`SECOND_REGION_GRACE`], as it may hold a record the first lost (a region that cannot
    /// be listed by then is skipped, with a warning, while the other answered).
    async fn records(&self, prefix: &str, both: bool) -> Result<Vec<OwnerRecord>, UpstreamError> {
        let journal = self.regions.journal();
        let [a, b] = self.regions.all();
        let (first, other) = match futures::future::select(
            Box::pin(journal.names_under(a, prefix)),
            Box::pin(journal.names_under(b, prefix)),
        )
        .await
        {
            futures::future::Either::Left(done) | futures::future::Either::Right(done) => done,
        };
        let mut records = Vec::new();
        let mut failure = None;
        match first {
            Ok(names) => {
                records.extend(names.iter().filter_map(|n| layout::parse_owner_record(n)));
                if !both && !records.is_empty() {
                    return Ok(records);
                }
            }
            Err(e) => failure = Some(e),
        }
        let second = tokio::time::timeout(SECOND_REGION_GRACE, other)
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::new(
                    "-",
                    "ListObjectsV2",
                    UpstreamErrorKind::Unavailable,
                    "no answer within the grace for ownership records",
                ))
            });
        match (second, failure) {
            (Ok(names), _) => {
                records.extend(names.iter().filter_map(|n| layout::parse_owner_record(n)));
                Ok(records)
            }
            (Err(e), Some(_)) => Err(e),
            (Err(e), None) => {
                tracing::warn!(error = %e, "ownership records read from one region only");
                Ok(records)
            }
        }
    }

    fn cached(&self, bucket: &str) -> Option<BucketOwner> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(bucket)
            .filter(|(at, _)| at.elapsed() < OWNER_TTL)
            .map(|(_, owner)| owner.clone())
    }

    fn remember(&self, bucket: &str, owner: &BucketOwner) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_PRUNE_AT {
            cache.retain(|_, (at, _)| at.elapsed() < OWNER_TTL);
        }
        cache.insert(bucket.to_owned(), (Instant::now(), owner.clone()));
    }

    fn forget(&self, bucket: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(bucket);
    }
}

/// The newest record of each bucket.
fn newest(records: Vec<OwnerRecord>) -> HashMap<String, OwnerRecord> {
    let mut by_bucket: HashMap<String, OwnerRecord> = HashMap::new();
    for record in records {
        match by_bucket.get(&record.bucket) {
            Some(kept) if kept.stamp >= record.stamp => {}
            _ => {
                by_bucket.insert(record.bucket.clone(), record);
            }
        }
    }
    by_bucket
}

#[cfg(test)]
mod tests;
