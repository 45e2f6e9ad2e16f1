//! Which region is behind, and for what: the journal records of changes a region missed that
//! are not replayed yet. Reads route around a region that is behind for the key (or bucket)
//! they read, so a read never returns a version older than an acknowledged write, and a
//! deleted key never comes back (docs/CONSISTENCY.md).
//!
//! Two sources feed it. This gateway marks a region behind the moment it journals a miss,
//! before the write is acknowledged, so its own clients read their writes at once. Every
//! gateway also polls the journals (`missed/<region>/` in the other region's reserved bucket)
//! and reads each new record once, which is how replicas that did not see the outage learn of
//! it, within one poll interval. A record that can not be read (yet) makes its region behind
//! for everything: unknown is treated as behind, never as current.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::time::Instant;

use crate::reserved::MissRecord;
use crate::stamp::VersionStamp;

/// More pending records than this per region and the region counts as behind for every key
/// (memory stays bounded whatever the backlog).
pub const MAX_TRACKED_RECORDS: usize = 100_000;

/// What a read is about, for choosing a region that is current for it.
#[derive(Clone, Copy, Debug)]
pub enum ReadScope<'a> {
    /// One object.
    Key {
        /// Client bucket.
        bucket: &'a str,
        /// Object key.
        key: &'a str,
    },
    /// A listing of one bucket: its keys.
    Bucket(&'a str),
    /// Whether one bucket exists (HeadBucket): only changes to the bucket itself count.
    BucketExists(&'a str),
    /// Which buckets exist (ListBuckets): only changes to buckets themselves count.
    Global,
}

/// What one region has pending, as far as this gateway knows.
#[derive(Debug, Default)]
struct Pending {
    /// Record name -> what it covers; `None` until the record was read.
    records: HashMap<String, Option<Covered>>,
    /// Records seen but not tracked (above [`MAX_TRACKED_RECORDS`]).
    overflow: bool,
    /// Derived from `records`: (bucket, key) pairs pending.
    keys: HashSet<(String, String)>,
    /// Derived: buckets with any pending record, and those with a pending bucket-level change.
    buckets: HashMap<String, usize>,
    whole_buckets: HashSet<String>,
    /// Derived: some record is unread (or overflow): behind for everything.
    unknown: bool,
    /// Local marks not yet confirmed by a poll: record name -> the generation it was added in.
    local: HashMap<String, u64>,
}

/// What one record covers.
#[derive(Clone, Debug)]
struct Covered {
    bucket: String,
    keys: Vec<String>,
}

impl Covered {
    fn of(record: &MissRecord) -> Self {
        Self {
            bucket: record.bucket.clone(),
            keys: record.keys.clone(),
        }
    }
}

impl Pending {
    fn rebuild(&mut self) {
        self.keys.clear();
        self.buckets.clear();
        self.whole_buckets.clear();
        self.unknown = self.overflow;
        for covered in self.records.values() {
            let Some(covered) = covered else {
                self.unknown = true;
                continue;
            };
            *self.buckets.entry(covered.bucket.clone()).or_default() += 1;
            if covered.keys.is_empty() {
                self.whole_buckets.insert(covered.bucket.clone());
            }
            for key in &covered.keys {
                self.keys.insert((covered.bucket.clone(), key.clone()));
            }
        }
    }

    fn is_behind_for(&self, scope: ReadScope<'_>) -> bool {
        if self.unknown {
            return true;
        }
        match scope {
            ReadScope::Key { bucket, key } => {
                self.whole_buckets.contains(bucket) || self.keys.contains(&(bucket.to_owned(), key.to_owned()))
            }
            ReadScope::Bucket(bucket) => self.buckets.contains_key(bucket),
            ReadScope::BucketExists(bucket) => self.whole_buckets.contains(bucket),
            ReadScope::Global => !self.whole_buckets.is_empty(),
        }
    }
}

/// The lag of both regions (in configuration order).
#[derive(Debug, Default)]
pub struct Lag {
    regions: [Mutex<Pending>; 2],
    /// Bumped by every local mark, so that a poll that began before a mark cannot clear it.
    generation: AtomicU64,
    /// Per region: when the last poll that listed its pending records began.
    polled: [Mutex<Option<Instant>>; 2],
    /// Whether a region never polled counts as unknown (a serving gateway), or as current
    /// (tools and tests that do not poll).
    polls_required: AtomicBool,
    /// Debug builds only, for the consistency checker's self-test: every region counts as
    /// current whatever its records say (see [`BLIND_READS_ENV`]).
    blind: AtomicBool,
}

/// Set in a **debug build's** environment, the gateway reads lagging regions blindly, as
/// before issue #17: the checker's self-test (`consistency::blind`) shows that it catches the
/// stale reads this gives. Release builds ignore it.
pub const BLIND_READS_ENV: &str = "TWINVAULT_DEBUG_BLIND_READS";

/// A poll's view of one region's pending records: every record name listed, the records read.
#[derive(Debug, Default)]
pub struct Polled {
    /// Every pending record name (up to [`MAX_TRACKED_RECORDS`]).
    pub names: Vec<String>,
    /// Whether there were more than that.
    pub overflow: bool,
    /// Records read in this poll, by name (a name without one stays unknown until read).
    pub read: HashMap<String, MissRecord>,
}

impl Lag {
    /// Debug builds with [`BLIND_READS_ENV`] set: every region counts as current.
    pub fn blind_if_asked(&self) {
        if cfg!(debug_assertions) && std::env::var_os(BLIND_READS_ENV).is_some() {
            tracing::warn!("{BLIND_READS_ENV} is set: reading lagging regions blindly (a debug build, for tests)");
            self.blind.store(true, Ordering::Relaxed);
        }
    }

    /// Marks region `index` behind for what `record` (stored as `name`) covers: called by the
    /// gateway that journaled the miss, before it acknowledges the change.
    pub fn mark(&self, index: usize, name: &str, record: &MissRecord) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let Ok(mut pending) = self.regions[index].lock() else {
            return;
        };
        pending.records.insert(name.to_owned(), Some(Covered::of(record)));
        pending.local.insert(name.to_owned(), generation);
        pending.rebuild();
    }

    /// The generation a poll starts at (pass it to [`Self::apply_poll`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The record names of region `index` this gateway has not read yet, among `listed`.
    pub fn unread(&self, index: usize, listed: &[String]) -> Vec<String> {
        let Ok(pending) = self.regions[index].lock() else {
            return listed.to_vec();
        };
        listed
            .iter()
            .filter(|name| !matches!(pending.records.get(*name), Some(Some(_))))
            .cloned()
            .collect()
    }

    /// Replaces region `index`'s pending records with what a poll that began at `started`
    /// found, keeping local marks made since (their records may not have been listed yet).
    pub fn apply_poll(&self, index: usize, started: u64, polled: Polled) {
        let Ok(mut pending) = self.regions[index].lock() else {
            return;
        };
        let listed: HashSet<&String> = polled.names.iter().collect();
        let mut records: HashMap<String, Option<Covered>> = HashMap::with_capacity(polled.names.len());
        for name in &polled.names {
            let known = match polled.read.get(name) {
                Some(record) => Some(Covered::of(record)),
                None => pending.records.get(name).cloned().flatten(),
            };
            records.insert(name.clone(), known);
        }
        // A local mark survives until a poll that began after it no longer lists its record.
        let local: HashMap<String, u64> = pending
            .local
            .drain()
            .filter(|(name, generation)| *generation > started && !listed.contains(name))
            .collect();
        for name in local.keys() {
            if let Some(known) = pending.records.get(name) {
                records.insert(name.clone(), known.clone());
            }
        }
        pending.records = records;
        pending.local = local;
        pending.overflow = polled.overflow;
        pending.rebuild();
    }

    /// Notes that a poll that began at `started` listed region `index`'s pending records.
    pub fn polled(&self, index: usize, started: Instant) {
        if let Ok(mut polled) = self.polled[index].lock() {
            *polled = Some(polled.map_or(started, |earlier| earlier.max(started)));
        }
    }

    /// From now on a region whose records were never listed counts as unknown.
    pub fn require_polls(&self) {
        self.polls_required.store(true, Ordering::SeqCst);
    }

    /// Whether what this gateway knows of region `index`'s records may be out of date: never
    /// listed (when polls are required), or the region was unwell at `last_unwell` and no poll
    /// has begun at least `settle` after that. Changes a region misses happen while it is
    /// unwell, and other replicas journal them within moments; a poll that began after that
    /// lists them. Until then the region is behind for everything, as far as reads go.
    pub fn is_unknown(&self, index: usize, last_unwell: Option<Instant>, settle: std::time::Duration) -> bool {
        if self.blind.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(polled) = self.polled[index].lock() else {
            return true;
        };
        match (*polled, last_unwell) {
            (None, _) => self.polls_required.load(Ordering::SeqCst),
            (Some(polled), Some(unwell)) => polled < unwell + settle,
            (Some(_), None) => false,
        }
    }

    /// Forgets records of region `index` that repair has replayed and cleared.
    pub fn forget(&self, index: usize, names: &[String]) {
        let Ok(mut pending) = self.regions[index].lock() else {
            return;
        };
        for name in names {
            pending.records.remove(name);
            pending.local.remove(name);
        }
        pending.rebuild();
    }

    /// Whether region `index` is behind for `scope`.
    pub fn is_behind_for(&self, index: usize, scope: ReadScope<'_>) -> bool {
        if self.blind.load(Ordering::Relaxed) {
            return false;
        }
        self.regions[index]
            .lock()
            .map(|pending| pending.is_behind_for(scope))
            // A poisoned lock is a bug elsewhere; treat the region as behind, never as current.
            .unwrap_or(true)
    }

    /// Whether every pending record of region `index` listed so far has been read (none is
    /// unknown, no overflow): only then can a read rely on which keys the records name.
    pub fn knows_every_record(&self, index: usize) -> bool {
        self.regions[index]
            .lock()
            .map(|pending| !pending.unknown)
            .unwrap_or(false)
    }

    /// The stamp of the newest change to `bucket`/`key` that region `index` missed, as far as
    /// this gateway knows; `None` if it knows of none, or if some record is unread (then what
    /// the region missed is unknown).
    pub fn newest_missed(&self, index: usize, bucket: &str, key: &str) -> Option<VersionStamp> {
        let pending = self.regions[index].lock().ok()?;
        if pending.unknown {
            return None;
        }
        pending
            .records
            .iter()
            .filter(|(_, covered)| {
                covered
                    .as_ref()
                    .is_some_and(|c| c.bucket == bucket && (c.keys.is_empty() || c.keys.iter().any(|k| k == key)))
            })
            .filter_map(|(name, _)| name.rsplit('/').next()?.parse::<VersionStamp>().ok())
            .max()
    }

    /// Milliseconds since the epoch of the oldest pending record of region `index` this
    /// gateway knows of (record names end in their stamp).
    pub fn oldest_ms(&self, index: usize) -> Option<u64> {
        let pending = self.regions[index].lock().ok()?;
        pending
            .records
            .keys()
            .filter_map(|name| name.rsplit('/').next()?.parse::<VersionStamp>().ok())
            .map(VersionStamp::millis)
            .min()
    }

    /// Pending records of region `index` this gateway knows of (at least; more on overflow).
    pub fn pending_records(&self, index: usize) -> usize {
        self.regions[index]
            .lock()
            .map(|pending| pending.records.len())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reserved::ChangeKind;

    fn record(bucket: &str, keys: &[&str]) -> MissRecord {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        MissRecord::new(
            "b",
            ChangeKind::Put,
            bucket,
            &keys,
            VersionStamp { clock: 1, writer: 1 },
        )
    }

    fn key<'a>(bucket: &'a str, key: &'a str) -> ReadScope<'a> {
        ReadScope::Key { bucket, key }
    }

    #[test]
    fn a_local_mark_makes_the_region_behind_for_its_keys_only() {
        let lag = Lag::default();
        assert!(!lag.is_behind_for(1, key("photos", "a")));
        lag.mark(1, "missed/b/1", &record("photos", &["a"]));
        assert!(lag.is_behind_for(1, key("photos", "a")));
        assert!(!lag.is_behind_for(1, key("photos", "b")));
        assert_eq!(lag.oldest_ms(1), None, "a name without a stamp has no age");
        let stamp = VersionStamp {
            clock: 5 << 16,
            writer: 1,
        };
        lag.mark(1, &format!("missed/b/{stamp}"), &record("photos", &["c"]));
        assert_eq!(lag.oldest_ms(1), Some(stamp.millis()));
        assert!(
            !lag.is_behind_for(0, key("photos", "a")),
            "the other region stays current"
        );
        assert!(lag.is_behind_for(1, ReadScope::Bucket("photos")));
        assert!(!lag.is_behind_for(1, ReadScope::Bucket("logs")));
        assert!(
            !lag.is_behind_for(1, ReadScope::BucketExists("photos")),
            "object changes do not make a bucket's existence uncertain"
        );
        assert!(!lag.is_behind_for(1, ReadScope::Global));
    }

    #[test]
    fn a_poll_that_began_before_a_mark_does_not_clear_it() {
        let lag = Lag::default();
        let started = lag.generation();
        lag.mark(1, "missed/b/1", &record("photos", &["a"]));
        lag.apply_poll(1, started, Polled::default());
        assert!(
            lag.is_behind_for(1, key("photos", "a")),
            "cleared by a poll older than the mark"
        );
        // A poll that began after the mark and no longer lists the record: replayed.
        let later = lag.generation();
        lag.apply_poll(1, later, Polled::default());
        assert!(!lag.is_behind_for(1, key("photos", "a")));

        // Cleared by this gateway's own repair: current again at once.
        lag.mark(1, "missed/b/2", &record("photos", &["z"]));
        lag.forget(1, &["missed/b/2".to_owned()]);
        assert!(!lag.is_behind_for(1, key("photos", "z")));
    }

    #[test]
    fn records_listed_but_not_read_make_the_region_behind_for_everything() {
        let lag = Lag::default();
        let polled = Polled {
            names: vec!["missed/b/1".into()],
            ..Default::default()
        };
        lag.apply_poll(1, lag.generation(), polled);
        assert!(lag.is_behind_for(1, key("any", "thing")));
        assert_eq!(lag.unread(1, &["missed/b/1".into()]), vec!["missed/b/1".to_owned()]);
        let mut read = HashMap::new();
        read.insert("missed/b/1".to_owned(), record("photos", &["a"]));
        let polled = Polled {
            names: vec!["missed/b/1".into()],
            read,
            ..Default::default()
        };
        lag.apply_poll(1, lag.generation(), polled);
        assert!(!lag.is_behind_for(1, key("any", "thing")));
        assert!(lag.is_behind_for(1, key("photos", "a")));
        assert!(
            lag.unread(1, &["missed/b/1".into()]).is_empty(),
            "read once, remembered"
        );
        // Still listed in the next poll without being read again: still known.
        let polled = Polled {
            names: vec!["missed/b/1".into()],
            ..Default::default()
        };
        lag.apply_poll(1, lag.generation(), polled);
        assert!(lag.is_behind_for(1, key("photos", "a")));
        assert!(!lag.is_behind_for(1, key("photos", "b")));
    }

    #[test]
    fn a_region_seen_unwell_is_unknown_until_a_poll_begins_after_it_settled() {
        let lag = Lag::default();
        let settle = std::time::Duration::from_millis(500);
        let t0 = Instant::now();
        assert!(!lag.is_unknown(1, None, settle), "no poll required: tools and tests");
        lag.require_polls();
        assert!(lag.is_unknown(1, None, settle), "never listed");
        lag.polled(1, t0);
        assert!(!lag.is_unknown(1, None, settle), "listed, never unwell");
        let unwell = t0 + std::time::Duration::from_secs(1);
        assert!(
            lag.is_unknown(1, Some(unwell), settle),
            "unwell after the last poll began"
        );
        lag.polled(1, unwell + std::time::Duration::from_millis(100));
        assert!(lag.is_unknown(1, Some(unwell), settle), "a poll too soon after it");
        lag.polled(1, t0);
        assert!(
            lag.is_unknown(1, Some(unwell), settle),
            "an older poll finishing late changes nothing"
        );
        lag.polled(1, unwell + settle);
        assert!(!lag.is_unknown(1, Some(unwell), settle));
        assert!(lag.is_unknown(0, Some(unwell), settle), "each region on its own");
    }

    #[test]
    fn bucket_changes_and_overflow_cover_more() {
        let lag = Lag::default();
        lag.mark(0, "missed/a/1", &record("logs", &[]));
        assert!(lag.is_behind_for(0, key("logs", "anything")));
        assert!(lag.is_behind_for(0, ReadScope::BucketExists("logs")));
        assert!(lag.is_behind_for(0, ReadScope::Global));
        assert!(lag.knows_every_record(1));
        assert!(!lag.is_behind_for(0, key("photos", "x")));
        let polled = Polled {
            overflow: true,
            ..Default::default()
        };
        lag.apply_poll(1, lag.generation(), polled);
        assert!(
            lag.is_behind_for(1, key("photos", "x")),
            "overflow: behind for everything"
        );
        assert!(!lag.knows_every_record(1));
    }
}
