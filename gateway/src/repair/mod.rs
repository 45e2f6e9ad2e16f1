//! Repair: making both regions hold the same newest version of every object.
//!
//! Repair never decrypts. It compares what each region holds for a key (version stamp, upstream
//! ETag, stored size), picks the winner by last-writer-wins on the stamp (a journal tombstone
//! takes part like a version), and copies the winner's ciphertext to the other region or deletes
//! the losing copy. Every step reads current state first, so a repeated or interrupted repair is
//! harmless: it is the journal replay's and the full pass's only primitive.

mod background;
mod copy;
pub(crate) mod scan;
#[cfg(test)]
mod tests;
mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

pub use background::run_background;

use crate::keyring::Keyring;
use crate::replication::Regions;
use crate::reserved::{ChangeKind, PendingRecord};
use crate::stamp::{META_STAMP, VersionStamp};
use crate::upstream::{StoredObject, Upstream, UpstreamError, UpstreamErrorKind};

/// Journal records read per region per round.
const RECORDS_PER_ROUND: usize = 1000;
/// Keys repaired at once.
const CONCURRENCY: usize = 16;

/// What a repair run did (or, dry, would do).
#[derive(Debug, Default)]
pub struct RepairSummary {
    /// Keys compared.
    pub examined: AtomicU64,
    /// Objects copied into the region that lacked them or held an older version.
    pub copied: AtomicU64,
    /// Copies deleted because a newer tombstone says so.
    pub deleted: AtomicU64,
    /// Stored bytes copied.
    pub bytes: AtomicU64,
    /// Keys where the regions held different objects under one stamp (a broken copy).
    pub conflicts: AtomicU64,
    /// Repairs that failed (left for the next run).
    pub failed: AtomicU64,
    /// Keys whose only copies fail authentication: nothing intact to repair from.
    pub unrepairable: AtomicU64,
    /// Journal records replayed and cleared.
    pub records_cleared: AtomicU64,
    /// Keys left for a later round: a region held nothing where a copy was due and is not
    /// known to have missed it (see [`Known`]).
    pub deferred: AtomicU64,
}

/// What reconciling one key came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconciled {
    /// Both regions agree on the key (or nothing is left to do).
    Agreed,
    /// The key needs a copy into a region that holds nothing for it and is not known to have
    /// missed that version (see [`Known`]): left for the next round, which may list the
    /// record that explains it; a copy no record ever explains (a write that was never
    /// acknowledged and landed late in one region) is settled by `twinvault repair`'s full
    /// pass.
    Deferred,
}

/// What repair knows of the changes each region missed, for one key. A region that holds
/// nothing for a key may hold nothing because a delete reached it alone: one whose journal
/// record is not listed yet (a request writes its record while its upstream call runs, not
/// before), or one that needed none (a PUT and a DELETE racing, applied in opposite orders
/// in the two regions). Copying the other region's version there would bring the deleted
/// key back. So a journal replay copies a version into an empty region only if that
/// region's records show it missed that version (or a newer change); a region holding an
/// older version may always be brought forward.
#[derive(Clone, Copy, Debug)]
pub enum Known {
    /// The full pass: no records, every copy the stamps call for is made.
    Everything,
    /// Per region, the newest stamp among the listed records of changes it missed.
    Missed([Option<VersionStamp>; 2]),
}

impl Known {
    /// Whether a copy of the version stamped `stamp` may go into region `i` holding nothing.
    fn may_fill(&self, i: usize, stamp: VersionStamp) -> bool {
        match self {
            Known::Everything => true,
            Known::Missed(missed) => missed[i].is_some_and(|newest| newest >= stamp),
        }
    }
}

impl RepairSummary {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// One line for logs and the CLI.
    pub fn line(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "examined {} copied {} deleted {} bytes_moved {} conflicts {} failed {} unrepairable {} journal_records_cleared {} deferred {}",
            get(&self.examined),
            get(&self.copied),
            get(&self.deleted),
            get(&self.bytes),
            get(&self.conflicts),
            get(&self.failed),
            get(&self.unrepairable),
            get(&self.records_cleared),
            get(&self.deferred),
        )
    }

    /// Whether anything could not be repaired.
    pub fn has_failures(&self) -> bool {
        self.failed.load(Ordering::Relaxed) > 0
    }
}

/// Times a copy is checked against its source after being made (see `settle_after_copy`).
const SETTLE_ROUNDS: usize = 3;

/// One object version as a region holds it.
#[derive(Clone, Debug)]
struct Held {
    stamp: VersionStamp,
    object: StoredObject,
}

impl Held {
    fn new(object: StoredObject) -> Self {
        let stamp = object
            .metadata
            .get(META_STAMP)
            .and_then(|s| s.parse().ok())
            .unwrap_or(VersionStamp::ZERO);
        Self { stamp, object }
    }

    /// Last-writer-wins order; the ETag breaks ties deterministically.
    fn rank(&self) -> (VersionStamp, &str) {
        (self.stamp, &self.object.etag)
    }
}

/// What a region holds for a key: a version, nothing, or no such bucket.
enum Holding {
    Object(Held),
    Absent,
    NoBucket,
}

/// Repairs over both regions.
pub struct Repairer<'a> {
    regions: &'a Regions,
    keyring: &'a Keyring,
    dry_run: bool,
    /// Records of requests a region may still apply are cleared only once settled (see
    /// [`Self::settling`]).
    settle: Option<std::time::Duration>,
    /// What this repairer did.
    pub summary: RepairSummary,
}

impl<'a> Repairer<'a> {
    /// A repairer over `regions`; `keyring` verifies copies that disagree; with `dry_run` it
    /// only counts what it would do.
    pub fn new(regions: &'a Regions, keyring: &'a Keyring, dry_run: bool) -> Self {
        Self {
            regions,
            keyring,
            dry_run,
            settle: None,
            summary: RepairSummary::default(),
        }
    }

    /// Every record is replayed at once, but cleared only once its region has answered
    /// `settle` long without failing: a region that is coming back (restarting, or its
    /// network flapping) may answer from a state it has not finished loading, and repair must
    /// look again once it answers steadily. Records of changes the region may still apply
    /// (sent, then given up on: the request may land late, over the repaired copy) must also
    /// be `settle` old. Until a record is cleared, reads avoid the region for its keys and
    /// every round reconciles them again, so a late write is undone before any read sees it.
    pub fn settling(mut self, settle: std::time::Duration) -> Self {
        self.settle = Some(settle);
        self
    }

    /// Whether `pending`, once replayed, may be cleared (see [`Self::settling`]).
    fn settled(&self, missed: &Upstream, pending: &PendingRecord) -> bool {
        let Some(settle) = self.settle else {
            return true;
        };
        let age = crate::stamp::unix_millis().saturating_sub(pending.record.version_stamp().millis());
        (!pending.record.in_flight || age >= settle.as_millis() as u64)
            && missed
                .health()
                .last_unwell()
                .is_none_or(|unwell| unwell.elapsed() >= settle)
    }

    async fn holding(&self, region: &Upstream, bucket: &str, key: &str) -> Result<Holding, UpstreamError> {
        match region.head_object(bucket, key).await {
            Ok(object) => Ok(Holding::Object(Held::new(object))),
            Err(e) if e.kind == UpstreamErrorKind::NoSuchBucket => Ok(Holding::NoBucket),
            Err(e) if e.kind.is_not_found() => Ok(Holding::Absent),
            Err(e) => Err(e),
        }
    }

    /// Makes both regions agree on `bucket`/`key`: the newest version wins, a `tombstone`
    /// newer than every version deletes them. Copies are verified through the envelope when
    /// `verify` says a reader found one damaged, or when the two differ under one stamp: a
    /// damaged copy never wins, and is replaced by the intact one. A copy into a region that
    /// holds nothing is made only as far as `known` allows; otherwise the key is deferred.
    pub async fn reconcile(
        &self,
        (bucket, key): (&str, &str),
        tombstone: Option<VersionStamp>,
        verify: bool,
        known: Known,
    ) -> Result<Reconciled, UpstreamError> {
        RepairSummary::add(&self.summary.examined, 1);
        let regions = self.regions.all();
        let (a, b) = tokio::join!(
            self.holding(&regions[0], bucket, key),
            self.holding(&regions[1], bucket, key)
        );
        let held = [a?, b?];
        let version = |h: &Holding| match h {
            Holding::Object(v) => Some(v.clone()),
            _ => None,
        };
        let versions = [version(&held[0]), version(&held[1])];
        let conflict = matches!(&versions, [Some(x), Some(y)] if x.stamp == y.stamp && x.object.etag != y.object.etag);
        // Every copy's header is checked (no I/O); bodies only when there is reason to doubt.
        let mut damaged = [false, false];
        let mut unjudged = false;
        for (i, v) in versions.iter().enumerate() {
            if let Some(v) = v {
                damaged[i] = if verify || conflict {
                    let verdict = verify::is_damaged(self.keyring, &regions[i], bucket, key, &v.object).await?;
                    unjudged |= verdict.is_none();
                    verdict == Some(true)
                } else {
                    verify::header_damaged(self.keyring, bucket, key, &v.object)
                };
            }
        }
        if conflict && unjudged {
            // Two different copies of one version, and no way to tell the intact one (SSE-C):
            // overwriting either could destroy the only good copy. Reads still get the intact
            // bytes (a damaged segment continues from the other region); an operator decides.
            RepairSummary::add(&self.summary.unrepairable, 1);
            tracing::error!(
                bucket,
                key,
                "copies differ under one stamp and cannot be verified without the customer's key; left as they are"
            );
            return Ok(Reconciled::Agreed);
        }
        let newest = versions
            .iter()
            .zip(damaged)
            .filter(|(_, damaged)| !damaged)
            .filter_map(|(v, _)| v.as_ref())
            .max_by(|x, y| x.rank().cmp(&y.rank()))
            .cloned();
        if let Some(dead) = tombstone
            && newest.as_ref().is_none_or(|n| n.stamp <= dead)
        {
            for (i, v) in versions.iter().enumerate() {
                if v.is_some() {
                    self.delete(&regions[i], bucket, key).await?;
                }
            }
            return Ok(Reconciled::Agreed);
        }
        let Some(winner) = newest else {
            if damaged.iter().any(|d| *d) {
                // Nothing intact to copy from: left for an operator (restore from a backup).
                RepairSummary::add(&self.summary.unrepairable, 1);
                tracing::error!(bucket, key, "no region holds an intact copy; not repairable");
            }
            return Ok(Reconciled::Agreed); // absent everywhere: agreed
        };
        if let Some(i) = (0..2).find(|&i| versions[i].is_none() && !known.may_fill(i, winner.stamp)) {
            tracing::debug!(
                bucket,
                key,
                region = regions[i].name(),
                "the region holds nothing and is not known to have missed this version; left for the next round"
            );
            RepairSummary::add(&self.summary.deferred, 1);
            return Ok(Reconciled::Deferred);
        }
        for (i, v) in versions.iter().enumerate() {
            let behind = match v {
                None => true,
                Some(_) if damaged[i] => {
                    RepairSummary::add(&self.summary.conflicts, 1);
                    tracing::warn!(
                        bucket,
                        key,
                        region = regions[i].name(),
                        "copy fails authentication; replacing it with the other region's"
                    );
                    true
                }
                Some(v) if v.stamp == winner.stamp && v.object.etag != winner.object.etag => {
                    RepairSummary::add(&self.summary.conflicts, 1);
                    tracing::warn!(
                        bucket,
                        key,
                        region = regions[i].name(),
                        "copies differ under one stamp; repairing"
                    );
                    v.rank() < winner.rank()
                }
                Some(v) => v.stamp < winner.stamp,
            };
            if !behind {
                continue;
            }
            let from = usize::from(i == 0);
            if matches!(held[i], Holding::NoBucket) && !self.dry_run {
                ensure_bucket(&regions[i], bucket).await?;
            }
            let replacing = v.as_ref().map(|v| v.object.etag.as_str());
            self.copy(&regions[from], &regions[i], (bucket, key), &winner, replacing)
                .await?;
            self.settle_after_copy(&regions[from], &regions[i], (bucket, key), winner.clone())
                .await?;
        }
        Ok(Reconciled::Agreed)
    }

    /// A write or delete that reached both regions while `copied` was being copied into `to`
    /// may have landed in `to` before the copy did, and been overwritten by it. The source is
    /// current for the key, so its state now is the truth: gone, and the copy is deleted; a
    /// newer version, and that is copied too. A few rounds, then the record stays for later.
    async fn settle_after_copy(
        &self,
        from: &Upstream,
        to: &Upstream,
        (bucket, key): (&str, &str),
        mut copied: Held,
    ) -> Result<(), UpstreamError> {
        if self.dry_run {
            return Ok(());
        }
        for _ in 0..SETTLE_ROUNDS {
            let source = self.holding(from, bucket, key).await?;
            match source {
                Holding::Object(now) if now.object.etag == copied.object.etag => return Ok(()),
                Holding::Object(now) => {
                    tracing::info!(
                        bucket,
                        key,
                        region = to.name(),
                        "source changed while repairing; copying again"
                    );
                    self.copy(from, to, (bucket, key), &now, Some(&copied.object.etag))
                        .await?;
                    copied = now;
                }
                Holding::Absent | Holding::NoBucket => {
                    // Deleted meanwhile: remove the copy just made, unless a newer one is there.
                    if let Holding::Object(there) = self.holding(to, bucket, key).await?
                        && there.stamp == copied.stamp
                    {
                        tracing::info!(
                            bucket,
                            key,
                            region = to.name(),
                            "source deleted while repairing; removing the copy"
                        );
                        self.delete(to, bucket, key).await?;
                    }
                    return Ok(());
                }
            }
        }
        Err(UpstreamError::new(
            to.name(),
            "Repair",
            UpstreamErrorKind::Unavailable,
            format!("{bucket}/{key} kept changing while being repaired; left for the next round"),
        ))
    }

    async fn delete(&self, region: &Upstream, bucket: &str, key: &str) -> Result<(), UpstreamError> {
        if !self.dry_run {
            region.delete_object(bucket, key).await?;
            self.regions
                .metrics()
                .repair_objects
                .with_label_values(&[region.name(), "deleted"])
                .inc();
        }
        RepairSummary::add(&self.summary.deleted, 1);
        tracing::debug!(
            bucket,
            key,
            region = region.name(),
            dry_run = self.dry_run,
            "repair: deleted (tombstone)"
        );
        Ok(())
    }

    /// Copies `winner` from `from` into `to` if `to` still holds `replacing` (see
    /// [`copy::copy_object`]).
    async fn copy(
        &self,
        from: &Upstream,
        to: &Upstream,
        (bucket, key): (&str, &str),
        winner: &Held,
        replacing: Option<&str>,
    ) -> Result<(), UpstreamError> {
        if !self.dry_run {
            copy::copy_object(from, to, (bucket, key), &winner.object, replacing).await?;
            let m = self.regions.metrics();
            m.repair_objects.with_label_values(&[to.name(), "copied"]).inc();
            m.repair_bytes
                .with_label_values(&[to.name()])
                .inc_by(winner.object.stored_len);
        }
        RepairSummary::add(&self.summary.copied, 1);
        RepairSummary::add(&self.summary.bytes, winner.object.stored_len);
        tracing::debug!(
            bucket,
            key,
            from = from.name(),
            to = to.name(),
            bytes = winner.object.stored_len,
            dry_run = self.dry_run,
            "repair: copied"
        );
        Ok(())
    }

    /// Replays the journal records each region holds about the other, clearing each once
    /// applied. Bucket records go first, in stamp order. Object records are merged per key
    /// (the newest tombstone among them counts; reconcile compares it with the copies' stamps,
    /// so merging never changes the outcome), then keys are reconciled concurrently.
    pub async fn replay_journal(&self) -> Result<(), UpstreamError> {
        loop {
            let cleared = self.summary.records_cleared.load(Ordering::Relaxed);
            let more = self.replay_round().await?;
            // Another round only while full batches come back and make progress.
            if !more || self.dry_run || self.summary.records_cleared.load(Ordering::Relaxed) == cleared {
                return Ok(());
            }
        }
    }

    /// One batch of up to [`RECORDS_PER_ROUND`] records per region; says whether a batch was full.
    /// Both journals are listed first: what each region is known to have missed decides
    /// where a copy may go (see [`Known`]).
    async fn replay_round(&self) -> Result<bool, UpstreamError> {
        let regions = self.regions.all();
        let journal = self.regions.journal();
        let mut last_error = None;
        let mut more = false;
        let mut listed: [Vec<PendingRecord>; 2] = [Vec::new(), Vec::new()];
        for (holder, records) in listed.iter_mut().enumerate() {
            let missed = &regions[1 - holder];
            match journal
                .pending(&regions[holder], missed.name(), RECORDS_PER_ROUND)
                .await
            {
                Ok(pending) => {
                    more |= pending.len() == RECORDS_PER_ROUND;
                    *records = pending;
                }
                Err(e) => last_error = Some(e),
            }
        }
        // Per region and key, the newest change it is known to have missed (by the records
        // the other region holds). A journal that could not be listed counts as naming none.
        let missed_by = |missed: usize| {
            let mut newest: BTreeMap<(&str, &str), VersionStamp> = BTreeMap::new();
            for pending in &listed[1 - missed] {
                let stamp = pending.record.version_stamp();
                for key in &pending.record.keys {
                    let slot = newest
                        .entry((pending.record.bucket.as_str(), key.as_str()))
                        .or_insert(stamp);
                    *slot = (*slot).max(stamp);
                }
            }
            newest
        };
        let missed_stamps = [missed_by(0), missed_by(1)];
        for (holder, records) in listed.iter().enumerate() {
            let missed = &regions[1 - holder];
            let mut done: Vec<&PendingRecord> = Vec::new();
            // Per key: the newest tombstone, and whether a reader reported a damaged copy.
            let mut keys: BTreeMap<(&str, &str), (Option<VersionStamp>, bool)> = BTreeMap::new();
            let mut object_records = Vec::new();
            for pending in records {
                let record = &pending.record;
                match record.op {
                    ChangeKind::Put | ChangeKind::Delete | ChangeKind::Damaged => {
                        let tombstone = (record.op == ChangeKind::Delete).then(|| record.version_stamp());
                        for key in &record.keys {
                            let slot = keys.entry((record.bucket.as_str(), key.as_str())).or_default();
                            slot.0 = slot.0.max(tombstone);
                            slot.1 |= record.op == ChangeKind::Damaged;
                        }
                        object_records.push(pending);
                    }
                    ChangeKind::CreateBucket | ChangeKind::DeleteBucket => match self.apply_bucket(pending).await {
                        Ok(()) => done.push(pending),
                        Err(e) => last_error = Some(self.failed(missed, &pending.id, e)),
                    },
                }
            }
            let mut repairs = Vec::with_capacity(keys.len());
            for (&target, &(tombstone, verify)) in &keys {
                let known = Known::Missed([0, 1].map(|i| missed_stamps[i].get(&target).copied()));
                repairs.push(async move { (target, self.reconcile(target, tombstone, verify, known).await) });
            }
            let results: Vec<_> = futures::StreamExt::collect(futures::StreamExt::buffer_unordered(
                futures::stream::iter(repairs),
                CONCURRENCY,
            ))
            .await;
            let mut kept_keys = BTreeSet::new();
            for ((bucket, key), result) in results {
                match result {
                    Ok(Reconciled::Agreed) => {}
                    Ok(Reconciled::Deferred) => {
                        kept_keys.insert((bucket, key));
                    }
                    Err(e) => {
                        kept_keys.insert((bucket, key));
                        last_error = Some(self.failed(missed, &format!("{bucket}/{key}"), e));
                    }
                }
            }
            for pending in object_records {
                let record = &pending.record;
                if record
                    .keys
                    .iter()
                    .all(|k| !kept_keys.contains(&(record.bucket.as_str(), k.as_str())))
                {
                    done.push(pending);
                }
            }
            if self.dry_run {
                continue;
            }
            done.retain(|pending| self.settled(missed, pending));
            let ids: Vec<String> = done.iter().map(|p| p.id.clone()).collect();
            match journal.clear_all(&regions[holder], &ids).await {
                Ok(()) => {
                    // Replayed: this gateway's reads may use the region for these keys again at
                    // once (other replicas see the records gone at their next poll).
                    self.regions.lag().forget(1 - holder, &ids);
                    RepairSummary::add(&self.summary.records_cleared, ids.len() as u64)
                }
                Err(e) => last_error = Some(e),
            }
        }
        last_error.map_or(Ok(more), Err)
    }

    /// Counts and logs a replay failure; returns the error.
    fn failed(&self, missed: &Upstream, what: &str, e: UpstreamError) -> UpstreamError {
        RepairSummary::add(&self.summary.failed, 1);
        self.regions
            .metrics()
            .repair_failures
            .with_label_values(&[missed.name()])
            .inc();
        tracing::warn!(what, error = %e, "journal record not replayed yet");
        e
    }

    async fn apply_bucket(&self, pending: &PendingRecord) -> Result<(), UpstreamError> {
        let record = &pending.record;
        let regions = self.regions.all();
        let missed_index = usize::from(record.missed != regions[0].name());
        let (missed, holder) = (&regions[missed_index], &regions[1 - missed_index]);
        if self.dry_run {
            return Ok(());
        }
        match record.op {
            ChangeKind::DeleteBucket => match holder.head_bucket(&record.bucket).await {
                // Re-created since: the bucket stays.
                Ok(()) => Ok(()),
                Err(e) if e.kind.is_not_found() => match missed.delete_bucket(&record.bucket).await {
                    Err(e) if !e.kind.is_not_found() => Err(e),
                    _ => Ok(()),
                },
                Err(e) => Err(e),
            },
            _ => ensure_bucket(missed, &record.bucket).await,
        }
    }

    /// A full anti-entropy pass over `bucket` (or every bucket): catches what no journal
    /// recorded, such as a gateway killed between its two upstream writes.
    pub async fn full_pass(
        &self,
        bucket: Option<&str>,
        progress: &dyn Fn(&RepairSummary),
    ) -> Result<(), UpstreamError> {
        scan::full_pass(self, bucket, progress).await
    }
}

/// Creates `bucket` in `region` unless it is there.
async fn ensure_bucket(region: &Upstream, bucket: &str) -> Result<(), UpstreamError> {
    match region.create_bucket(bucket).await {
        Err(e) if e.kind != UpstreamErrorKind::BucketAlreadyOwnedByYou => Err(e),
        _ => Ok(()),
    }
}
