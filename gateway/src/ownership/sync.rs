//! Repairing ownership records (`twinvault repair`): a record one region holds and the other
//! lacks is copied over while its bucket exists, and removed once its bucket is gone.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::Owners;
use crate::reserved::layout::{self, OwnerRecord};
use crate::stamp::VersionStamp;
use crate::upstream::UpstreamError;

/// A record of a bucket that exists nowhere is removed only once this old: CreateBucket
/// records the owner before it creates the bucket, so a young record may be a create in flight.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// What a sync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Records copied to the region that lacked them.
    pub copied: u64,
    /// Records of buckets that exist in neither region, removed.
    pub removed: u64,
}

impl Owners {
    /// Brings both regions' ownership records together (`dry_run`: counts only). Fails when a
    /// region cannot be listed: with one side unknown nothing can be compared.
    pub async fn sync(&self, dry_run: bool) -> Result<SyncSummary, UpstreamError> {
        let journal = self.regions.journal();
        let [a, b] = self.regions.on_both(|up| journal.names_under(up, layout::OWNERS)).await;
        let held: [BTreeSet<String>; 2] = [a?.into_iter().collect(), b?.into_iter().collect()];
        let mut summary = SyncSummary::default();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for holder in 0..2 {
            let (have, other) = (&held[holder], &held[1 - holder]);
            for name in have.iter().filter(|n| !other.contains(*n)) {
                let Some(record) = layout::parse_owner_record(name) else {
                    continue;
                };
                if self.exists(&record.bucket).await? {
                    if !dry_run {
                        journal.put(&self.regions.all()[1 - holder], name, Bytes::new()).await?;
                    }
                    summary.copied += 1;
                } else if is_stale(&record, now_ms) {
                    if !dry_run {
                        journal
                            .clear_all(&self.regions.all()[holder], std::slice::from_ref(name))
                            .await?;
                    }
                    summary.removed += 1;
                }
            }
        }
        if !dry_run && summary != SyncSummary::default() {
            self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        Ok(summary)
    }
}

fn is_stale(record: &OwnerRecord, now_ms: u64) -> bool {
    let written = record.stamp.parse::<VersionStamp>().map_or(0, VersionStamp::millis);
    now_ms.saturating_sub(written) > STALE_AFTER.as_millis() as u64
}
