//! The repair journal: what a region missed, written durably before the write is acknowledged.
//!
//! The gateway keeps no local state, so the journal lives in the upstreams: each region's
//! reserved bucket holds records of the changes the *other* region missed, one small JSON
//! object per change under `missed/<region>/<stamp>` ([`super::layout`]). Records are written to the region that has the change, so the
//! record and the data it points at survive together. Repair replays them in stamp order and
//! deletes each one once both regions agree; replaying a record twice is harmless, because
//! repair compares the two regions' current state rather than redoing the change
//! (docs/ARCHITECTURE.md, "Repair journal").

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::layout;
use crate::stamp::VersionStamp;
use crate::upstream::{ListRequest, Upstream, UpstreamError, UpstreamErrorKind};
/// Format version of a record.
const RECORD_VERSION: u8 = 1;
/// Records read at once.
const READ_CONCURRENCY: usize = 16;
/// Largest record a reader accepts (1000 keys of 1 KiB, with room to spare).
pub const MAX_RECORD_BYTES: usize = 2 * 1024 * 1024;

/// What kind of change a region missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// PutObject, CompleteMultipartUpload or CopyObject: the keys' current objects.
    Put,
    /// DeleteObject or DeleteObjects: a tombstone at the record's stamp.
    Delete,
    /// CreateBucket.
    CreateBucket,
    /// DeleteBucket.
    DeleteBucket,
    /// A reader found the region's copy failing authentication: repair verifies both copies
    /// and replaces the damaged one with the intact one.
    Damaged,
}

/// One missed change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissRecord {
    /// Record format version.
    pub v: u8,
    /// Name of the region that missed the change.
    pub missed: String,
    /// What it missed.
    pub op: ChangeKind,
    /// Client bucket.
    pub bucket: String,
    /// Object keys (none for bucket changes).
    #[serde(default)]
    pub keys: Vec<String>,
    /// The change's version stamp (for deletes: the tombstone's).
    pub stamp: String,
    /// The request was sent to the region and given up on (timed out, cut), not refused: the
    /// region may still apply it later, so repair keeps the record until the region settled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_flight: bool,
}

impl MissRecord {
    /// A record that `missed` did not get `op` on `bucket`/`keys` at `stamp`.
    pub fn new(missed: &str, op: ChangeKind, bucket: &str, keys: &[String], stamp: VersionStamp) -> Self {
        Self {
            v: RECORD_VERSION,
            missed: missed.to_owned(),
            op,
            bucket: bucket.to_owned(),
            keys: keys.to_vec(),
            stamp: stamp.to_string(),
            in_flight: false,
        }
    }

    /// The record, noting that the region may still apply the change (see `in_flight`).
    pub fn in_flight(mut self, in_flight: bool) -> Self {
        self.in_flight = in_flight;
        self
    }

    /// The record's stamp, parsed.
    pub fn version_stamp(&self) -> VersionStamp {
        self.stamp.parse().unwrap_or(VersionStamp::ZERO)
    }
}

/// A record read back, with the key it is stored under (to clear it).
#[derive(Clone, Debug)]
pub struct PendingRecord {
    /// Key inside the journal bucket.
    pub id: String,
    /// The record.
    pub record: MissRecord,
}

/// The reserved bucket of both regions: the journal of missed changes, and small records of
/// the bucket's other users.
#[derive(Debug)]
pub struct Journal {
    bucket: String,
    /// Regions (by name) in which this gateway has seen the bucket exist.
    present_in: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Journal {
    /// A journal kept in the client-space bucket `bucket` of each region.
    pub fn new(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            present_in: Default::default(),
        }
    }

    /// Creates the bucket in `region` unless this gateway saw it there already: before a body
    /// streams into it (a streamed body cannot be sent again after a NoSuchBucket).
    pub async fn ensure_bucket_once(&self, region: &Upstream) -> Result<(), UpstreamError> {
        let known = self
            .present_in
            .lock()
            .map(|present| present.contains(region.name()))
            .unwrap_or(false);
        if known {
            return Ok(());
        }
        self.ensure_bucket(region).await?;
        if let Ok(mut present) = self.present_in.lock() {
            present.insert(region.name().to_owned());
        }
        Ok(())
    }

    /// The reserved client-space bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Stores `record` in `holder` (the region that has the change), creating the journal
    /// bucket on first use; returns the record's name.
    pub async fn append(&self, holder: &Upstream, record: &MissRecord) -> Result<String, UpstreamError> {
        let body =
            Bytes::from(serde_json::to_vec(record).map_err(|e| {
                UpstreamError::new(holder.name(), "PutObject", UpstreamErrorKind::Other, e.to_string())
            })?);
        let id = layout::missed_record(&record.missed, &record.stamp);
        self.put(holder, &id, body).await?;
        Ok(id)
    }

    /// Stores a small record under `name` in `region`, creating the bucket on first use.
    pub async fn put(&self, region: &Upstream, name: &str, body: Bytes) -> Result<(), UpstreamError> {
        match region.put_small(&self.bucket, name, body.clone()).await {
            Err(e) if e.kind == UpstreamErrorKind::NoSuchBucket => {
                self.ensure_bucket(region).await?;
                region.put_small(&self.bucket, name, body).await
            }
            other => other,
        }
    }

    /// Creates the journal bucket in `region` unless it exists.
    pub async fn ensure_bucket(&self, region: &Upstream) -> Result<(), UpstreamError> {
        match region.create_bucket(&self.bucket).await {
            Err(e) if e.kind != UpstreamErrorKind::BucketAlreadyOwnedByYou => Err(e),
            _ => Ok(()),
        }
    }

    /// Every name under `prefix` in `region`, in name order; none when the bucket does not
    /// exist there yet. For the small sets of records (ownership) read whole.
    pub async fn names_under(&self, region: &Upstream, prefix: &str) -> Result<Vec<String>, UpstreamError> {
        let mut names = Vec::new();
        let mut request = ListRequest {
            prefix: Some(prefix.to_owned()),
            max_keys: Some(1000),
            ..Default::default()
        };
        loop {
            let page = match region.list_objects_v2(&self.bucket, &request).await {
                Err(e) if e.kind.is_not_found() => return Ok(names),
                other => other?,
            };
            names.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
            match page.next_continuation_token() {
                Some(token) if page.is_truncated() == Some(true) => request.continuation_token = Some(token.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    /// The names of up to `limit` records in `holder` of changes `missed` did not get, oldest
    /// first, and whether there are more.
    pub async fn pending_names(
        &self,
        holder: &Upstream,
        missed: &str,
        limit: usize,
    ) -> Result<(Vec<String>, bool), UpstreamError> {
        let mut ids = Vec::new();
        let mut request = ListRequest {
            prefix: Some(layout::missed_prefix(missed)),
            max_keys: Some(1000),
            ..Default::default()
        };
        let more = loop {
            let page = match holder.list_objects_v2(&self.bucket, &request).await {
                Err(e) if e.kind.is_not_found() => return Ok((Vec::new(), false)),
                other => other?,
            };
            ids.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
            let truncated = page.is_truncated() == Some(true);
            match page.next_continuation_token() {
                Some(token) if truncated && ids.len() < limit => {
                    request.continuation_token = Some(token.to_owned());
                }
                _ => break truncated || ids.len() > limit,
            }
        };
        ids.truncate(limit);
        Ok((ids, more))
    }

    /// Reads the records `ids` from `holder` (a record cleared meanwhile is left out; one
    /// that does not parse is logged and left out, and stays in place).
    pub async fn read_records(&self, holder: &Upstream, ids: Vec<String>) -> Result<Vec<PendingRecord>, UpstreamError> {
        let reads = ids.into_iter().map(|id| async move {
            let read = holder.get_small(&self.bucket, &id, MAX_RECORD_BYTES).await;
            (id, read)
        });
        let mut reads = futures::StreamExt::buffered(futures::stream::iter(reads), READ_CONCURRENCY);
        let mut records = Vec::new();
        while let Some((id, read)) = futures::StreamExt::next(&mut reads).await {
            let bytes = match read {
                Err(e) if e.kind.is_not_found() => continue, // cleared meanwhile by another replica
                other => other?,
            };
            match serde_json::from_slice::<MissRecord>(&bytes) {
                Ok(record) if record.v == RECORD_VERSION => records.push(PendingRecord { id, record }),
                Ok(record) => {
                    tracing::error!(id = %id, version = record.v, "journal record of an unknown version; left in place")
                }
                Err(e) => tracing::error!(id = %id, error = %e, "unreadable journal record; left in place"),
            }
        }
        Ok(records)
    }

    /// Up to `limit` records in `holder` of changes `missed` did not get, oldest first.
    pub async fn pending(
        &self,
        holder: &Upstream,
        missed: &str,
        limit: usize,
    ) -> Result<Vec<PendingRecord>, UpstreamError> {
        let (ids, _) = self.pending_names(holder, missed, limit).await?;
        self.read_records(holder, ids).await
    }

    /// Removes replayed records (up to 1000 per upstream request).
    pub async fn clear_all(&self, holder: &Upstream, ids: &[String]) -> Result<(), UpstreamError> {
        for chunk in ids.chunks(1000) {
            let failures = holder.delete_objects(&self.bucket, chunk).await?;
            if let Some((key, code, message)) = failures.into_iter().next() {
                return Err(UpstreamError::new(
                    holder.name(),
                    "DeleteObjects",
                    UpstreamErrorKind::Other,
                    format!("{key}: {code} {message}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_as_json() {
        let stamp = VersionStamp { clock: 42, writer: 7 };
        let record = MissRecord::new("b", ChangeKind::Delete, "photos", &["x/y.jpg".into()], stamp);
        let json = serde_json::to_string(&record).unwrap_or_default();
        assert!(json.contains("\"op\":\"delete\""), "{json}");
        let back: MissRecord = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, record);
        assert_eq!(back.version_stamp(), stamp);
    }
}
