//! Key rotation: re-wrap every object's data key under the keyring's current key, in both
//! regions, without rewriting data.
//!
//! The header lives in upstream metadata, so rotating an object is an upstream server-side copy
//! onto itself that replaces only `tv-header` (`If-Match` on the version read, so a concurrent
//! write is never overwritten). Both regions get the same new header when they hold the same
//! version. Objects already under the current key are skipped, which makes a run resumable:
//! run it again after an interruption. SSE-C objects cannot be re-wrapped without their
//! customer's key and are reported. After a clean run the old key can leave the keyring.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;

use crate::envelope::{ObjectHeader, ObjectIdentity};
use crate::keyring::Keyring;
use crate::repair::scan::{MergedListing, buckets_to_scan};
use crate::replication::Regions;
use crate::store::object::META_HEADER;
use crate::upstream::{StoredObject, Upstream, UpstreamError, UpstreamErrorKind};

/// Objects rotated at once.
const CONCURRENCY: usize = 16;

/// What a rotation run did (or, dry, would do).
#[derive(Debug, Default)]
pub struct RotateSummary {
    /// Object copies looked at (one per region).
    pub examined: AtomicU64,
    /// Copies re-wrapped under the current key.
    pub rewrapped: AtomicU64,
    /// Copies already under the current key.
    pub current: AtomicU64,
    /// SSE-C copies, which need their customer's key.
    pub sse_c: AtomicU64,
    /// Copies that failed (run again).
    pub failed: AtomicU64,
}

impl RotateSummary {
    /// One line for the CLI.
    pub fn line(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "examined {} rewrapped {} already_current {} sse_c_skipped {} failed {}",
            get(&self.examined),
            get(&self.rewrapped),
            get(&self.current),
            get(&self.sse_c),
            get(&self.failed),
        )
    }
}

/// Re-wraps the objects of both regions.
pub struct Rotator<'a> {
    regions: &'a Regions,
    keyring: &'a Keyring,
    dry_run: bool,
    /// What this run did.
    pub summary: RotateSummary,
}

impl<'a> Rotator<'a> {
    /// A rotator; with `dry_run` it only counts.
    pub fn new(regions: &'a Regions, keyring: &'a Keyring, dry_run: bool) -> Self {
        Self {
            regions,
            keyring,
            dry_run,
            summary: RotateSummary::default(),
        }
    }

    /// Rotates every object of `bucket` (or of every bucket), calling `progress` after each batch.
    pub async fn run(&self, bucket: Option<&str>, progress: &dyn Fn(&RotateSummary)) -> Result<(), UpstreamError> {
        let regions = self.regions.all();
        let buckets = buckets_to_scan(self.regions, bucket).await?;
        for bucket in &buckets {
            let mut listing = MergedListing::new(regions, bucket);
            loop {
                let mut batch = Vec::new();
                while batch.len() < 1000 {
                    match listing.next().await? {
                        None => break,
                        Some((Some(x), _)) | Some((None, Some(x))) => batch.push(x.0),
                        Some((None, None)) => {}
                    }
                }
                if batch.is_empty() {
                    break;
                }
                let mut results = futures::stream::iter(batch.iter().map(|key| self.rotate_key(bucket, key)))
                    .buffer_unordered(CONCURRENCY);
                while let Some(result) = results.next().await {
                    if let Err(e) = result {
                        self.summary.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(bucket = %bucket, error = %e, "rotation failed");
                    }
                }
                progress(&self.summary);
            }
        }
        Ok(())
    }

    /// Re-wraps one key's copies; copies with the same old header get the same new one.
    async fn rotate_key(&self, bucket: &str, key: &str) -> Result<(), UpstreamError> {
        let regions = self.regions.all();
        let (a, b) = tokio::join!(head(&regions[0], bucket, key), head(&regions[1], bucket, key));
        let mut rewrapped: HashMap<String, String> = HashMap::new();
        for (region, stored) in regions.iter().zip([a?, b?]) {
            let Some(stored) = stored else { continue };
            self.summary.examined.fetch_add(1, Ordering::Relaxed);
            let Some(old) = stored.metadata.get(META_HEADER) else {
                continue; // not written by twinvault
            };
            let header = ObjectHeader::from_metadata_value(old).map_err(|e| envelope_error(region, e))?;
            if header.key_id() == self.keyring.current().id() {
                self.summary.current.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if header.requires_customer_key() {
                self.summary.sse_c.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let new = match rewrapped.get(old) {
                Some(new) => new.clone(),
                None => {
                    let identity = ObjectIdentity { bucket, key };
                    let new = header
                        .rewrap(self.keyring, identity, identity, None, None)
                        .map_err(|e| envelope_error(region, e))?
                        .to_metadata_value();
                    rewrapped.insert(old.clone(), new.clone());
                    new
                }
            };
            if !self.dry_run {
                let mut metadata = stored.metadata.clone();
                metadata.insert(META_HEADER.to_owned(), new);
                region
                    .copy_object((bucket, key), (bucket, key), &metadata, &stored.etag)
                    .await?;
            }
            self.summary.rewrapped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

async fn head(region: &Upstream, bucket: &str, key: &str) -> Result<Option<StoredObject>, UpstreamError> {
    match region.head_object(bucket, key).await {
        Ok(stored) => Ok(Some(stored)),
        Err(e) if e.kind.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn envelope_error(region: &Upstream, e: crate::envelope::EnvelopeError) -> UpstreamError {
    UpstreamError::new(region.name(), "Rotate", UpstreamErrorKind::Other, e.to_string())
}
