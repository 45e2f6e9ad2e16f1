//! The repair loop inside `serve`: every `repair_interval`, replay the journal into regions that
//! answer again, copy bucket-owner records a region lacks (and drop those of buckets gone
//! everywhere), clean up expired multipart uploads, then count what is still pending (the
//! `twinvault_journal_pending_records` and `twinvault_journal_oldest_pending_age_seconds`
//! gauges).
//!
//! Several gateway replicas share the journal. A lease object in the first region's journal
//! bucket (`lease/replay`: holder and expiry) keeps them from replaying the same records at
//! once: a replica takes the lease only when it is free or expired, and confirms it still holds it
//! after a pause (S3 has no compare-and-swap everywhere; the last writer keeps the lease). Two
//! replicas that still overlap do no harm: replay is idempotent.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Repairer;
use crate::keyring::{Keyring, LiveKeyring};
use crate::ownership::{Owners, SyncSummary};
use crate::replication::Regions;
use crate::reserved::layout::{LEASE_REPLAY, missed_prefix};
use crate::stamp::VersionStamp;
use crate::store::Store;
use crate::upstream::{ListRequest, Upstream, UpstreamError};

/// Pause between writing the lease and checking it is still ours.
const LEASE_SETTLE: Duration = Duration::from_millis(200);

#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires_ms: u64,
}

/// Runs until the task is dropped (the server aborts it on shutdown; every step is safe to cut).
/// `settle` is `replication.journal_settle_ms` (see `Repairer::settling`); `uploads` is the
/// object layer whose expired multipart uploads each round cleans up.
pub async fn run_background(
    regions: Arc<Regions>,
    keyring: LiveKeyring,
    interval: Duration,
    settle: Duration,
    uploads: Store,
) {
    let round = Round {
        owners: Owners::new(Arc::clone(&regions)),
        regions,
        me: format!("{:016x}", rand::random::<u64>()),
        interval,
        settle,
        uploads,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // Keys from a key manager that expired: nothing can be verified until it answers again.
        match keyring.get() {
            Ok(ring) => round.run(&ring).await,
            Err(e) => tracing::warn!(error = %e, "repair loop waits for the key manager"),
        }
        // Also while a region is down or another replica holds the lease: that is when the
        // backlog grows.
        measure_backlog(&round.regions).await;
    }
}

/// What one round of the loop works on.
struct Round {
    regions: Arc<Regions>,
    /// This replica's lease holder name.
    me: String,
    interval: Duration,
    settle: Duration,
    uploads: Store,
    owners: Owners,
}

impl Round {
    /// Replays the journal, repairs ownership records and cleans expired uploads, if both
    /// regions answer and this replica gets the lease.
    async fn run(&self, keyring: &Keyring) {
        let regions = &*self.regions;
        if !lease_round(regions, &self.me, self.interval).await {
            return;
        }
        replay(regions, keyring, self.settle).await;
        // Under the same lease, so replicas do not copy the same records or clean the same
        // uploads at once.
        match self.owners.sync(false).await {
            Ok(SyncSummary { copied: 0, removed: 0 }) => {}
            Ok(s) => tracing::info!(
                copied = s.copied,
                removed = s.removed,
                "repair loop: bucket owner records repaired"
            ),
            Err(e) => tracing::warn!(error = %e, "repair loop: bucket owner records not compared"),
        }
        match self.uploads.reap_expired_uploads().await {
            Ok(0) => {}
            Ok(reaped) => tracing::info!(reaped, "repair loop: expired multipart uploads removed"),
            Err(e) => tracing::warn!(error = %e, "repair loop: expired multipart uploads not listed"),
        }
        let _ = regions.all()[0]
            .delete_object(regions.journal().bucket(), LEASE_REPLAY)
            .await;
    }
}

/// Whether this round goes ahead: both regions answer (a region whose breaker is open gets a
/// probe) and this replica took the lease.
async fn lease_round(regions: &Regions, me: &str, interval: Duration) -> bool {
    // A region whose breaker is open gets a probe (one per cooldown; its success closes the
    // breaker); its records wait until it answers.
    let mut down = false;
    for region in regions.all() {
        if region.health().is_open() {
            down |= region
                .head_bucket(regions.journal().bucket())
                .await
                .is_err_and(|e| !e.kind.is_not_found());
        }
    }
    !down && take_lease(regions, &regions.all()[0], me, interval * 3).await
}

/// Replays the journal's records into the regions that missed them.
async fn replay(regions: &Regions, keyring: &Keyring, settle: Duration) {
    let repairer = Repairer::new(regions, keyring, false).settling(settle);
    let result = repairer.replay_journal().await;
    let cleared = repairer
        .summary
        .records_cleared
        .load(std::sync::atomic::Ordering::Relaxed);
    match result {
        Ok(()) if cleared == 0 => tracing::debug!("repair loop: journal empty"),
        Ok(()) => tracing::info!(summary = %repairer.summary.line(), "repair loop: journal replayed"),
        Err(e) => tracing::warn!(error = %e, summary = %repairer.summary.line(), "repair loop: replay incomplete"),
    }
}

// === Backlog ===

/// Listing pages read per region and round: the count stops at 1,000,000 records, which a
/// round lists in well under a minute and is far past any alert threshold.
const BACKLOG_MAX_PAGES: usize = 1000;

/// What one region's journal holds for the other.
#[derive(Debug, Default, PartialEq)]
struct Backlog {
    records: u64,
    /// Time of the oldest record's change, in ms since the epoch.
    oldest_ms: Option<u64>,
}

impl Backlog {
    /// Counts the record stored under `key`; its stamp (the key's last segment) dates it.
    fn add(&mut self, key: &str) {
        self.records += 1;
        let stamp = key.rsplit('/').next().and_then(|s| s.parse::<VersionStamp>().ok());
        if let Some(ms) = stamp.map(VersionStamp::millis) {
            self.oldest_ms = Some(self.oldest_ms.map_or(ms, |oldest| oldest.min(ms)));
        }
    }

    /// Age of the oldest record at `now_ms`; 0 when there is none.
    fn oldest_age_seconds(&self, now_ms: u64) -> f64 {
        self.oldest_ms
            .map_or(0.0, |ms| now_ms.saturating_sub(ms) as f64 / 1000.0)
    }
}

/// Counts the records in `holder`'s journal of changes `missed` did not get (no bucket: none).
async fn count_backlog(regions: &Regions, holder: &Upstream, missed: &str) -> Result<Backlog, UpstreamError> {
    let mut backlog = Backlog::default();
    let mut request = ListRequest {
        prefix: Some(missed_prefix(missed)),
        max_keys: Some(1000),
        ..Default::default()
    };
    for _ in 0..BACKLOG_MAX_PAGES {
        let page = match holder.list_objects_v2(regions.journal().bucket(), &request).await {
            Err(e) if e.kind.is_not_found() => break,
            other => other?,
        };
        for key in page.contents().iter().filter_map(|o| o.key()) {
            backlog.add(key);
        }
        match page.next_continuation_token() {
            Some(token) if page.is_truncated() == Some(true) => request.continuation_token = Some(token.to_owned()),
            _ => break,
        }
    }
    Ok(backlog)
}

/// Sets the backlog gauges of each region from the other region's journal. A journal that
/// cannot be listed leaves its region's gauges as they were: unknown is not empty.
async fn measure_backlog(regions: &Regions) {
    let all = regions.all();
    for holder in 0..2 {
        let missed = all[1 - holder].name();
        match count_backlog(regions, &all[holder], missed).await {
            Ok(backlog) => {
                let m = regions.metrics();
                m.journal_pending_records
                    .with_label_values(&[missed])
                    .set(i64::try_from(backlog.records).unwrap_or(i64::MAX));
                m.journal_oldest_pending_age
                    .with_label_values(&[missed])
                    .set(backlog.oldest_age_seconds(crate::stamp::unix_millis()));
            }
            Err(e) => tracing::debug!(
                holder = all[holder].name(),
                error = %e,
                "repair loop: journal backlog not counted"
            ),
        }
    }
}

async fn take_lease(regions: &Regions, region: &Upstream, me: &str, ttl: Duration) -> bool {
    let bucket = regions.journal().bucket();
    if let Ok(bytes) = region.get_small(bucket, LEASE_REPLAY, 4096).await
        && let Ok(lease) = serde_json::from_slice::<Lease>(&bytes)
        && lease.holder != me
        && lease.expires_ms > crate::stamp::unix_millis()
    {
        return false;
    }
    let lease = Lease {
        holder: me.to_owned(),
        expires_ms: crate::stamp::unix_millis() + ttl.as_millis() as u64,
    };
    let Ok(body) = serde_json::to_vec(&lease) else {
        return false;
    };
    let put = region.put_small(bucket, LEASE_REPLAY, Bytes::from(body.clone())).await;
    if put.is_err() {
        // The journal bucket may not exist yet: then there is nothing to replay either.
        let _ = regions.journal().ensure_bucket(region).await;
        return false;
    }
    tokio::time::sleep(LEASE_SETTLE).await;
    matches!(region.get_small(bucket, LEASE_REPLAY, 4096).await, Ok(now) if now.as_ref() == body.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reserved::layout;
    use crate::testing::{BUCKET, Twin, keyring};

    #[tokio::test(start_paused = true)]
    async fn a_round_restores_an_owner_record_a_region_missed() {
        // With write policy "one", CreateBucket's owner record lands in region a only while b
        // is down; b is back for the next round.
        let twin = Twin::with_bucket("one").await;
        let owners = Owners::new(Arc::clone(&twin.regions));
        twin.b().set_down(true);
        owners.record(BUCKET, "alice").await.expect("recorded in a");
        twin.b().set_down(false);
        let prefix = layout::owners_prefix(BUCKET);
        assert_eq!(twin.reserved_keys(1, &prefix), Vec::<String>::new());
        let round = Round {
            owners: Owners::new(Arc::clone(&twin.regions)),
            regions: Arc::clone(&twin.regions),
            me: "replica-1".into(),
            interval: Duration::from_secs(1),
            settle: Duration::ZERO,
            uploads: twin.store.clone(),
        };
        round.run(keyring(&twin.config)).await;
        let in_a = twin.reserved_keys(0, &prefix);
        assert_eq!(in_a.len(), 1, "{in_a:?}");
        assert_eq!(twin.reserved_keys(1, &prefix), in_a, "b holds a's record");
        assert!(
            twin.reserved_keys(0, LEASE_REPLAY).is_empty(),
            "the lease is given back"
        );
    }

    #[test]
    fn backlog_counts_every_record_and_dates_the_oldest() {
        let old = VersionStamp {
            clock: 1_000_000 << 16,
            writer: 9,
        };
        let new = VersionStamp {
            clock: (4_000_000 << 16) | 3,
            writer: 1,
        };
        let mut backlog = Backlog::default();
        assert_eq!(backlog.oldest_age_seconds(5_000_000), 0.0);
        // Listed out of order, plus a key whose name is not a stamp: counted, not dated.
        backlog.add(&format!("{}{new}", missed_prefix("b")));
        backlog.add(&format!("{}{old}", missed_prefix("b")));
        backlog.add("missed/b/not-a-stamp");
        assert_eq!(
            backlog,
            Backlog {
                records: 3,
                oldest_ms: Some(1_000_000)
            }
        );
        assert_eq!(backlog.oldest_age_seconds(5_000_000), 4000.0);
        // A clock behind the record's writer never yields a negative age.
        assert_eq!(backlog.oldest_age_seconds(0), 0.0);
    }
}
