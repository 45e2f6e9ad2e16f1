//! The two regions as one: which to read first (never one that is behind for what is read),
//! and writing the same ciphertext to both.

mod fanout;
mod lag;
mod latency;
mod resume;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use fanout::{FanoutOutcome, FanoutPolicy, RegionBody, ReplicatedPut, fan_out, fan_out_put, relay, tee};
pub use lag::{Lag, Polled, ReadScope};
pub use resume::{BodySource, resumable};

use crate::config::{Config, ReadMode, ReplicationConfig, WritePolicy};
use crate::metrics::Metrics;
use crate::reserved::{ChangeKind, Journal, MissRecord};
use crate::stamp::{Clock, VersionStamp};
use crate::upstream::{Health, Upstream, UpstreamError, UpstreamErrorKind};
use latency::{LatencyWindow, MIN_SAMPLES};

/// Both upstream regions and the policies that govern them.
#[derive(Debug)]
pub struct Regions {
    upstreams: [Upstream; 2],
    preferred: usize,
    write_policy: WritePolicy,
    write_timeout: Duration,
    read_stall_timeout: Duration,
    journal: Journal,
    clock: Clock,
    metrics: Arc<Metrics>,
    read_mode: ReadMode,
    hedge_delay_min: Duration,
    latency: [LatencyWindow; 2],
    reads: AtomicU64,
    hedges: AtomicU64,
    lag: Lag,
    /// How long after a region was unwell this gateway's knowledge of its lag stays unknown
    /// unless a poll began since (one poll interval: other replicas' records land meanwhile).
    lag_settle: Duration,
}

/// Hedge only after the first region took longer than this quantile of its recent answers.
const HEDGE_QUANTILE: f64 = 0.95;
/// The longest a hedge waits, whatever the first region's history says.
const HEDGE_DELAY_MAX: Duration = Duration::from_secs(2);
/// Hedges may add at most this share of extra upstream reads (plus a small allowance).
const HEDGE_BUDGET_PERCENT: u64 = 10;
/// Journal records a lag poll reads at most (the rest are read by the next polls; until then
/// their region counts as behind for everything).
const LAG_READS_PER_POLL: usize = 2000;

impl Regions {
    /// Clients for the configured regions.
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> Self {
        let r = &config.replication;
        let upstream = |region| {
            let health = Health::new(r.breaker_failures, r.breaker_cooldown);
            Upstream::new(region, r.upstream_timeout, health, Arc::clone(&metrics))
        };
        let upstreams = [upstream(&config.regions[0]), upstream(&config.regions[1])];
        Self::new(upstreams, r, metrics)
    }

    /// The two regions (in configuration order) under the replication settings `r`; tests
    /// pass regions over memory backends.
    pub fn new(upstreams: [Upstream; 2], r: &ReplicationConfig, metrics: Arc<Metrics>) -> Self {
        let [a, b] = upstreams;
        let upstreams = [a.numbered(0), b.numbered(1)];
        let preferred = usize::from(upstreams[1].name() == r.preferred_region);
        Self {
            upstreams,
            preferred,
            write_policy: r.write_policy,
            write_timeout: r.write_timeout,
            read_stall_timeout: r.read_stall_timeout,
            journal: Journal::new(&r.journal_bucket),
            clock: Clock::default(),
            metrics,
            read_mode: r.read_mode,
            hedge_delay_min: r.hedge_delay_min,
            latency: Default::default(),
            reads: AtomicU64::new(0),
            hedges: AtomicU64::new(0),
            lag: Lag::default(),
            lag_settle: r.lag_poll_interval,
        }
    }

    /// What this gateway knows of each region's pending journal records.
    pub fn lag(&self) -> &Lag {
        &self.lag
    }

    /// For a serving gateway: a region counts as behind for everything until a poll has
    /// listed its pending records (and again, for a moment, after it was seen unwell).
    pub fn require_lag_polls(&self) {
        self.lag.require_polls();
    }

    /// Whether region `index` may be behind for `scope`: a pending record covers it, or what
    /// this gateway knows of the region's records may be out of date (never listed, or the
    /// region was unwell since the last poll began: records of what it missed meanwhile,
    /// journaled by other replicas, are not known here yet).
    fn is_behind_for(&self, index: usize, scope: ReadScope<'_>) -> bool {
        self.lag.is_behind_for(index, scope)
            || self
                .lag
                .is_unknown(index, self.upstreams[index].health().last_unwell(), self.lag_settle)
    }

    /// Reads the journals once: for each region, the names of the records of changes it
    /// missed (kept in the other region), and each record not read before. Both journals at
    /// once: a region that does not answer delays only what is learnt from its own journal.
    pub async fn poll_lag(&self) {
        tokio::join!(self.poll_lag_of(0), self.poll_lag_of(1));
    }

    /// Reads the journal of the changes region `missed` missed, in the other region. A journal
    /// that cannot be listed leaves what is known as it is (a region is never taken for current
    /// on a failure to look).
    pub async fn poll_lag_of(&self, missed: usize) {
        let holder = &self.upstreams[1 - missed];
        let missed_name = self.upstreams[missed].name();
        let started = self.lag.generation();
        let started_at = tokio::time::Instant::now();
        let (names, overflow) = match self
            .journal
            .pending_names(holder, missed_name, lag::MAX_TRACKED_RECORDS)
            .await
        {
            Ok(listed) => listed,
            Err(e) => {
                tracing::debug!(region = missed_name, error = %e, "journal not listed; lag unchanged");
                return;
            }
        };
        let mut unread = self.lag.unread(missed, &names);
        unread.truncate(LAG_READS_PER_POLL);
        let read = match self.journal.read_records(holder, unread).await {
            Ok(records) => records.into_iter().map(|p| (p.id, p.record)).collect(),
            Err(e) => {
                tracing::debug!(region = missed_name, error = %e, "journal records not read; they count as unknown");
                Default::default()
            }
        };
        let polled = lag::Polled { names, overflow, read };
        self.lag.apply_poll(missed, started, polled);
        self.lag.polled(missed, started_at);
        self.metrics
            .lag_known_records
            .with_label_values(&[missed_name])
            .set(i64::try_from(self.lag.pending_records(missed)).unwrap_or(i64::MAX));
    }

    fn served(&self, region: &Upstream, outcome: &str) {
        self.metrics
            .reads_served
            .with_label_values(&[region.name(), outcome])
            .inc();
    }

    /// Both regions, in configuration order.
    pub fn all(&self) -> &[Upstream; 2] {
        &self.upstreams
    }

    /// The regions in the order reads try them.
    pub fn read_order(&self) -> [&Upstream; 2] {
        [&self.upstreams[self.preferred], &self.upstreams[1 - self.preferred]]
    }

    /// Index of `region` in [`Self::all`] (configuration order).
    pub fn index_of(&self, region: &Upstream) -> usize {
        usize::from(region.name() != self.upstreams[0].name())
    }

    /// Index of the preferred region in [`Self::all`].
    pub fn preferred_index(&self) -> usize {
        self.preferred
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How long a GET body may stall before it continues from the other region.
    pub fn read_stall_timeout(&self) -> Duration {
        self.read_stall_timeout
    }

    /// The repair journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// A fresh version stamp for a write or delete.
    pub fn stamp(&self) -> VersionStamp {
        self.clock.now()
    }

    /// How a fan-out treats a failing or slow region under the write policy.
    pub fn fanout_policy(&self) -> FanoutPolicy {
        match self.write_policy {
            WritePolicy::All => FanoutPolicy {
                abort_on_region_failure: true,
                write_timeout: None,
            },
            WritePolicy::One => FanoutPolicy {
                abort_on_region_failure: false,
                write_timeout: Some(self.write_timeout),
            },
        }
    }

    /// Settles a replicated change's two results under the write policy. With "all" both must
    /// have succeeded. With "one", a change one region has and the other missed (unreachable,
    /// failing, or lacking the bucket, source or upload because it missed an earlier change) is
    /// acknowledged once the miss is in the journal of the
    /// region that has it; if the journal write fails too, so does the change.
    pub async fn commit<T>(
        &self,
        results: [Result<T, UpstreamError>; 2],
        change: &Change<'_>,
    ) -> Result<[Option<T>; 2], UpstreamError> {
        let outcome = match (results[0].is_ok(), results[1].is_ok()) {
            (true, true) => "both",
            (false, false) => "failed",
            _ => "degraded",
        };
        let settled = match results {
            [Ok(a), Ok(b)] => Ok([Some(a), Some(b)]),
            [Ok(a), Err(e)] if self.counts_as_miss(&e) => {
                self.record_miss(0, e, change).await.map(|()| [Some(a), None])
            }
            [Err(e), Ok(b)] if self.counts_as_miss(&e) => {
                self.record_miss(1, e, change).await.map(|()| [None, Some(b)])
            }
            results => {
                // Reported as failed, but one region has it (policy "all" with the other
                // unavailable: a small body is in before the failure is seen). Journaled all
                // the same, best effort, so that reads avoid the region without it and repair
                // converges both on it, as S3 clients expect of a 503 that may have happened.
                let held = match &results {
                    [Ok(_), Err(e)] if e.kind == UpstreamErrorKind::Unavailable => Some((0, e)),
                    [Err(e), Ok(_)] if e.kind == UpstreamErrorKind::Unavailable => Some((1, e)),
                    _ => None,
                };
                if let Some((holder, e)) = held {
                    let error = UpstreamError::new(&e.region, e.operation, e.kind, e.message.clone());
                    let _ = self.record_miss(holder, error, change).await;
                }
                if results[0].is_ok() != results[1].is_ok() {
                    tracing::warn!(bucket = %change.bucket, "a change reached only one region; it is reported as failed");
                }
                both_ok(results).map(|[a, b]| [Some(a), Some(b)])
            }
        };
        let counted = if settled.is_err() { "failed" } else { outcome };
        self.metrics.replication_writes.with_label_values(&[counted]).inc();
        settled
    }

    /// The region that decides conditional writes to `bucket`/`key`: the first configured, so
    /// that every gateway replica asks the same one. It must be current for the key (a region
    /// behind for it would judge the condition against an old version) and reachable; if not,
    /// the write cannot be decided safely and fails as unavailable: clients retry, and repair
    /// brings the region up to date.
    pub fn conditions_region(&self, bucket: &str, key: &str) -> Result<usize, UpstreamError> {
        const DECIDER: usize = 0;
        let region = &self.upstreams[DECIDER];
        let refuse = |why: &str| {
            self.metrics
                .conditional_writes_refused
                .with_label_values(&[region.name()])
                .inc();
            Err(UpstreamError::new(
                region.name(),
                "PutObject",
                UpstreamErrorKind::Unavailable,
                format!(
                    "conditional writes are decided by region {}, which is {why}; retry later",
                    region.name()
                ),
            ))
        };
        if region.health().is_open() {
            return refuse("unavailable");
        }
        if self.is_behind_for(DECIDER, ReadScope::Key { bucket, key }) {
            return refuse("behind for this key (repair has not caught up yet)");
        }
        Ok(DECIDER)
    }

    /// Whether the write policy lets a change succeed that one region missed ("one").
    pub fn tolerates_misses(&self) -> bool {
        self.write_policy == WritePolicy::One
    }

    /// Whether a region's failure of a change may be journaled as a miss instead of failing
    /// the change: under policy "one", a region that is unreachable or failing, or that lacks
    /// the bucket, source or upload because it missed an earlier change.
    pub fn counts_as_miss(&self, error: &UpstreamError) -> bool {
        self.tolerates_misses() && (error.kind == UpstreamErrorKind::Unavailable || error.kind.is_not_found())
    }

    /// Settles the start of something both regions must hold (a multipart upload): both
    /// results, or under policy "one" the one that succeeded while the other region was
    /// unavailable (`None` for it). On failure, the error and the region (with its result)
    /// that did succeed, so the caller can undo it there.
    #[allow(clippy::type_complexity)]
    pub fn settle_start<T>(
        &self,
        results: [Result<T, UpstreamError>; 2],
    ) -> Result<[Option<T>; 2], (UpstreamError, Option<(usize, T)>)> {
        let unavailable = |e: &UpstreamError| self.tolerates_misses() && e.kind == UpstreamErrorKind::Unavailable;
        match results {
            [Ok(a), Ok(b)] => Ok([Some(a), Some(b)]),
            [Ok(a), Err(e)] if unavailable(&e) => Ok([Some(a), None]),
            [Err(e), Ok(b)] if unavailable(&e) => Ok([None, Some(b)]),
            [Ok(a), Err(e)] => Err((e, Some((0, a)))),
            [Err(e), Ok(b)] => Err((e, Some((1, b)))),
            [Err(e), Err(_)] => Err((e, None)),
        }
    }

    /// Journals in region `holder` that the other region missed `change` (which failed there with `error`).
    async fn record_miss(&self, holder: usize, error: UpstreamError, change: &Change<'_>) -> Result<(), UpstreamError> {
        let missed = self.upstreams[1 - holder].name();
        let record = MissRecord::new(missed, change.kind, change.bucket, change.keys, change.stamp)
            .in_flight(error.may_still_apply());
        match self.journal.append(&self.upstreams[holder], &record).await {
            Ok(name) => {
                // Before the change is acknowledged: this gateway's next read of it avoids the region.
                self.lag.mark(1 - holder, &name, &record);
                self.metrics.journal_records.with_label_values(&[missed]).inc();
                tracing::warn!(
                    region = missed, bucket = %change.bucket, op = ?change.kind, error = %error,
                    "region missed a change; recorded for repair"
                );
                Ok(())
            }
            Err(journal_error) => {
                tracing::error!(
                    region = missed, bucket = %change.bucket, error = %journal_error,
                    "a region missed a change and the journal could not record it; the change fails"
                );
                Err(error)
            }
        }
    }

    /// Queues region `damaged`'s copy of `bucket`/`key`, which failed authentication when
    /// read, for repair: a journal record in the other region makes the repair loop verify both
    /// copies and replace the damaged one. In the background: the reader does not wait for it.
    pub fn report_damaged(self: &Arc<Self>, damaged: usize, bucket: &str, key: &str) {
        let regions = Arc::clone(self);
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        tokio::spawn(async move {
            let all = regions.all();
            let record = MissRecord::new(
                all[damaged].name(),
                ChangeKind::Damaged,
                &bucket,
                std::slice::from_ref(&key),
                regions.stamp(),
            );
            match regions.journal.append(&all[1 - damaged], &record).await {
                Ok(name) => regions.lag.mark(damaged, &name, &record),
                Err(e) => tracing::warn!(error = %e, "could not queue a damaged copy for repair"),
            }
        });
    }

    /// Settles a multipart part's two results: with "one", a part one region has is enough for
    /// now (completion journals the region that lacks parts).
    pub fn settle_part<T>(&self, results: [Result<T, UpstreamError>; 2]) -> Result<[Option<T>; 2], UpstreamError> {
        match (self.write_policy, results) {
            (WritePolicy::One, [Ok(a), Err(e)]) | (WritePolicy::One, [Err(e), Ok(a)])
                if e.kind == UpstreamErrorKind::Unavailable =>
            {
                let missing = self.index_of_name(&e.region);
                tracing::warn!(region = %e.region, error = %e, "part reached one region only");
                let mut out = [None, None];
                out[1 - missing] = Some(a);
                Ok(out)
            }
            (_, results) => both_ok(results).map(|[a, b]| [Some(a), Some(b)]),
        }
    }

    fn index_of_name(&self, name: &str) -> usize {
        usize::from(name != self.upstreams[0].name())
    }

    /// The result of the region that has it, preferring the preferred region.
    pub fn pick<T>(&self, results: [Option<T>; 2]) -> Option<T> {
        let [a, b] = results;
        if self.preferred == 0 { a.or(b) } else { b.or(a) }
    }

    /// Index of the region to ask first: the one answering faster lately (once both have
    /// history), else the preferred one.
    fn first_index(&self) -> usize {
        let other = 1 - self.preferred;
        match (
            self.latency[self.preferred].quantile(0.5),
            self.latency[other].quantile(0.5),
        ) {
            (Some(p), Some(o)) if o * 2 < p => other,
            (None, Some(_)) if self.read_mode == ReadMode::Hedged => other,
            _ => self.preferred,
        }
    }

    /// Runs a read (anything answering with headers: HEAD, GET, listings) of `scope`.
    ///
    /// When one region is behind for `scope` (the journal holds changes to it that the region
    /// has not got yet), only the other is asked: no hedge, and no failover on "not found"
    /// (the lagging copy may be a deleted one). If that region is unavailable, the read fails
    /// rather than answer from the region that is behind. Otherwise by the configured read
    /// mode, falling over to the other region on errors, timeouts and "not found" (its copy
    /// may still be on its way). The losing attempt of a hedge or race is dropped, which
    /// cancels its request and releases its connection; its bytes never reach the client.
    ///
    /// Both regions behind (two outages without a repair between): a key is read from the
    /// region that holds the newer of the changes the other missed, when the records say so;
    /// a listing must be merged by the caller ([`Self::listing_views`]); anything else is
    /// refused as unavailable: neither region is known to be current for it.
    pub async fn read<'a, T, F, Fut>(&'a self, scope: ReadScope<'_>, op: F) -> Result<T, UpstreamError>
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let behind = [self.is_behind_for(0, scope), self.is_behind_for(1, scope)];
        match behind {
            [true, false] => self.read_current(1, op).await,
            [false, true] => self.read_current(0, op).await,
            [false, false] => {
                let (answered_by, answer) = self.read_either(&op).await;
                // What this gateway learnt while the region answered (a poll naming the key, or
                // the region seen unwell: a slow or paused region is the one that misses
                // writes) counts too: its answer may predate a write acknowledged meanwhile.
                match answered_by {
                    Some(i) if self.is_behind_for(i, scope) && !self.is_behind_for(1 - i, scope) => {
                        tracing::debug!(
                            region = self.upstreams[i].name(),
                            "behind by the time it answered; reading the other"
                        );
                        self.read_current(1 - i, op).await
                    }
                    _ => answer,
                }
            }
            [true, true] => match (scope, self.newer_holder(scope)) {
                (_, Some(current)) => self.read_current(current, op).await,
                // Which buckets exist: only bucket changes count, and both regions missing one
                // takes a double outage during a CreateBucket or DeleteBucket. Counted.
                (ReadScope::BucketExists(_) | ReadScope::Global, None) => {
                    let (_, served) = self.read_either(op).await;
                    self.metrics.reads_lagging.with_label_values(&["both"]).inc();
                    served
                }
                (ReadScope::Key { .. } | ReadScope::Bucket(_), None) => Err(self.refuse_both_behind()),
            },
        }
    }

    /// The answer to a read neither region is known to be current for.
    fn refuse_both_behind(&self) -> UpstreamError {
        self.metrics.reads_both_behind.with_label_values(&["refused"]).inc();
        UpstreamError::new(
            self.upstreams[0].name(),
            "Read",
            UpstreamErrorKind::Unavailable,
            format!(
                "regions {} and {} are both behind for this read (repair has not caught up yet); retry later",
                self.upstreams[0].name(),
                self.upstreams[1].name()
            ),
        )
    }

    /// For a listing of `bucket` that both regions are behind on, when every pending record is
    /// known: which region's entry to keep for a key (see [`View`]). `None` when the listing
    /// can be answered by one region ([`Self::read`]) or cannot be answered safely at all.
    pub fn listing_views<'s>(&'s self, bucket: &'s str) -> Option<impl Fn(&str) -> View + 's> {
        let scope = ReadScope::Bucket(bucket);
        let known = |i: usize| {
            self.lag.knows_every_record(i)
                && !self
                    .lag
                    .is_unknown(i, self.upstreams[i].health().last_unwell(), self.lag_settle)
        };
        let merge = self.is_behind_for(0, scope) && self.is_behind_for(1, scope) && known(0) && known(1);
        merge.then_some(move |key: &str| {
            let scope = ReadScope::Key { bucket, key };
            match (self.lag.is_behind_for(0, scope), self.lag.is_behind_for(1, scope)) {
                (false, false) => View::Either,
                (true, false) => View::Only(1),
                (false, true) => View::Only(0),
                (true, true) => self.newer_holder(scope).map_or(View::Either, View::Only),
            }
        })
    }

    /// Runs a listing on both regions at once, for a merge: both must answer (a region that
    /// is down leaves the other, which is behind, unable to answer alone).
    pub async fn list_both<'a, T, F, Fut>(&'a self, op: F) -> Result<[T; 2], UpstreamError>
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        self.metrics.reads_both_behind.with_label_values(&["merged"]).inc();
        both_ok(self.on_both(op).await)
    }

    /// For a key both regions are behind on, by known records only: the region that did not
    /// miss the newest of the changes either missed.
    fn newer_holder(&self, scope: ReadScope<'_>) -> Option<usize> {
        let ReadScope::Key { bucket, key } = scope else {
            return None;
        };
        let settle = self.lag_settle;
        let unknown = |i: usize| self.lag.is_unknown(i, self.upstreams[i].health().last_unwell(), settle);
        if unknown(0) || unknown(1) {
            return None;
        }
        match (
            self.lag.newest_missed(0, bucket, key),
            self.lag.newest_missed(1, bucket, key),
        ) {
            (Some(a), Some(b)) if a > b => Some(1),
            (Some(a), Some(b)) if b > a => Some(0),
            _ => None,
        }
    }

    /// A read from region `current` alone: the other is behind for what is read.
    async fn read_current<'a, T, F, Fut>(&'a self, current: usize, op: F) -> Result<T, UpstreamError>
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let lagging = self.upstreams[1 - current].name();
        self.metrics.reads_rerouted.with_label_values(&[lagging]).inc();
        let region = &self.upstreams[current];
        let started = Instant::now();
        match op(region).await {
            Ok(out) => {
                self.latency[current].record(started.elapsed());
                self.served(region, "current");
                Ok(out)
            }
            Err(e) if e.kind == UpstreamErrorKind::Unavailable => {
                tracing::warn!(
                    region = region.name(), lagging, error = %e,
                    "read refused: the only region that is current for it is unavailable"
                );
                Err(UpstreamError::new(
                    region.name(),
                    e.operation,
                    UpstreamErrorKind::Unavailable,
                    format!("{e}; region {lagging} is behind for this read, so it is not asked"),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// A read from either region, by the read mode.
    async fn read_either<'a, T, F, Fut>(&'a self, op: F) -> (Option<usize>, Result<T, UpstreamError>)
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let first = self.first_index();
        let hedge_after = match self.read_mode {
            ReadMode::Primary => None,
            ReadMode::Race => Some(Duration::ZERO),
            ReadMode::Hedged => Some(self.hedge_delay(first)),
        };
        let attempt = |i: usize| {
            let started = Instant::now();
            let fut = op(&self.upstreams[i]);
            async move { (i, fut.await, started.elapsed()) }
        };
        let mut pending = vec![Box::pin(attempt(first))];
        let mut started_second = false;
        let mut first_error: Option<UpstreamError> = None;
        loop {
            let hedge_timer = async {
                match hedge_after {
                    Some(delay) if !started_second && self.hedge_allowed() => tokio::time::sleep(delay).await,
                    _ => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                (done, index) = next_done(&mut pending) => {
                    let (i, result, elapsed) = done;
                    drop(pending.remove(index));
                    match result {
                        Ok(out) => {
                            self.latency[i].record(elapsed);
                            let outcome = if i == first { "first" } else if first_error.is_some() { "failover" } else { "hedge" };
                            self.served(&self.upstreams[i], outcome);
                            return (Some(i), Ok(out));
                        }
                        Err(e) if !fails_over(e.kind) => return (Some(i), Err(e)),
                        Err(e) => {
                            tracing::debug!(region = self.upstreams[i].name(), kind = e.kind.as_str(), "read failing over");
                            if !started_second {
                                started_second = true;
                                pending.push(Box::pin(attempt(1 - first)));
                                first_error = Some(e);
                            } else if pending.is_empty() {
                                return (None, Err(pick_error(first_error, e)));
                            } else {
                                first_error = Some(pick_error(first_error, e));
                            }
                        }
                    }
                }
                () = hedge_timer => {
                    started_second = true;
                    self.hedges.fetch_add(1, Ordering::Relaxed);
                    pending.push(Box::pin(attempt(1 - first)));
                }
            }
        }
    }

    /// How long to wait for the first region before asking the other too.
    fn hedge_delay(&self, first: usize) -> Duration {
        match self.latency[first].quantile(HEDGE_QUANTILE) {
            Some(p) => p.clamp(self.hedge_delay_min, HEDGE_DELAY_MAX.max(self.hedge_delay_min)),
            // No history yet: hedge early, so both regions get measured.
            None => self.hedge_delay_min,
        }
    }

    /// Whether another hedge stays within the extra-request budget.
    fn hedge_allowed(&self) -> bool {
        let reads = self.reads.load(Ordering::Relaxed);
        self.read_mode == ReadMode::Race
            || self.hedges.load(Ordering::Relaxed) < reads * HEDGE_BUDGET_PERCENT / 100 + MIN_SAMPLES as u64
    }

    /// Runs `op` on both regions concurrently and returns both results, in configuration order.
    pub async fn on_both<'a, T, F, Fut>(&'a self, op: F) -> [Result<T, UpstreamError>; 2]
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let (a, b) = tokio::join!(op(&self.upstreams[0]), op(&self.upstreams[1]));
        [a, b]
    }
}

/// Which region's listing entry a merged listing keeps for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Neither region is behind for the key: they agree, or a change is on its way to both.
    Either,
    /// Only this region (index) is current for the key: its entry, or its lack of one.
    Only(usize),
}

/// One replicated change, as the journal records it if a region misses it.
#[derive(Debug)]
pub struct Change<'a> {
    /// What changed.
    pub kind: ChangeKind,
    /// Client bucket.
    pub bucket: &'a str,
    /// Object keys (empty for bucket changes).
    pub keys: &'a [String],
    /// The change's version stamp.
    pub stamp: VersionStamp,
}

/// The first attempt among `pending` to finish, and its position.
async fn next_done<F: Future + Unpin>(pending: &mut [F]) -> (F::Output, usize) {
    std::future::poll_fn(|cx| {
        for (index, fut) in pending.iter_mut().enumerate() {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(fut).poll(cx) {
                return std::task::Poll::Ready((out, index));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// A definite "absent" from one side beats "unreachable" from the other.
fn pick_error(earlier: Option<UpstreamError>, later: UpstreamError) -> UpstreamError {
    match earlier {
        Some(e) if e.kind.is_not_found() && !later.kind.is_not_found() => e,
        _ => later,
    }
}

/// Whether a read error on one region should be retried on the other.
fn fails_over(kind: UpstreamErrorKind) -> bool {
    !matches!(
        kind,
        UpstreamErrorKind::PreconditionFailed | UpstreamErrorKind::NotModified | UpstreamErrorKind::InvalidRange
    )
}

/// Combines the two results of a replicated write under the write policy: all must succeed;
/// the first failure (preferring one that is not "unavailable", as it is more specific) is returned.
pub fn both_ok<T>(results: [Result<T, UpstreamError>; 2]) -> Result<[T; 2], UpstreamError> {
    match results {
        [Ok(a), Ok(b)] => Ok([a, b]),
        [Err(a), Err(b)] if a.kind == UpstreamErrorKind::Unavailable => Err(b),
        [Err(e), _] | [_, Err(e)] => Err(e),
    }
}
