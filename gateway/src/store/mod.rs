//! The object layer: what a stored object is (envelope metadata, views, ETags, upload ids) and
//! every operation on objects and buckets over both regions: writes (seal, fan out, commit),
//! reads (ranges, parts, mid-body healing), multipart (parts, completion, re-sealing), copies,
//! deletes, listings.
//!
//! The S3 front door ([`crate::api`]) turns each request into one call here and the result into
//! a response; repair, rotate and decrypt use the stored-object model ([`object`]) too. Nothing
//! here knows s3s: requests and results are plain types. Below it, [`crate::replication`]
//! decides every policy question (which region to read, whether a write is committed) and
//! [`crate::reserved`] owns the reserved bucket's layout.

mod bucket;
pub mod checksum;
mod checksum_records;
mod conditional;
mod copy;
pub mod customer;
mod delete;
pub mod etag;
mod expiry;
mod heal;
mod keys;
mod list;
mod list_merge;
mod multipart;
pub mod object;
mod part_copy;
mod parts;
mod read;
mod realign;
mod tagging;
#[cfg(test)]
mod tests;
pub mod upload_id;
mod uploads;
mod write;

use std::sync::Arc;

/// Percent-encoding of keys in listings (`encoding-type=url`) and copy sources.
pub use crate::upstream::url_encode;
pub use checksum::{ChecksumSlot, ClientChecksum};
pub use copy::CopyRequest;
pub use customer::SseC;
pub use delete::DeleteFailures;
pub use etag::{Conditions, EtagCondition, client_etag};
pub use list::{ListRequest, ListedObject, Listing};
pub use multipart::{PartsListing, RequestedPart};
pub use object::{ObjectView, PlainStream};
pub use part_copy::{PartCopyRequest, parse_copy_range};
pub use parts::check_part_number;
pub use read::{ByteRange, ObjectHead, ObjectRead, ReadRequest};
pub use tagging::parse_tagging_header;
pub use uploads::{ListedUpload, UploadsPage, UploadsQuery};
pub use write::{BodyVerdict, NewObject, WriteCondition};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::keyring::{Keyring, LiveKeyring};
use crate::metrics::Metrics;
use crate::replication::Regions;
use crate::upstream::{StoredObject, UploadedPart};

/// The object layer's handle: both regions, the keyring and the limits objects obey.
#[derive(Clone, Debug)]
pub struct Store {
    regions: Arc<Regions>,
    keyring: LiveKeyring,
    metrics: Arc<Metrics>,
    max_metadata_bytes: usize,
    known_buckets: Arc<bucket::KnownBuckets>,
    /// How long an upload id stays usable (`multipart.upload_ttl_secs`).
    upload_ttl: std::time::Duration,
}

impl Store {
    /// The object layer over `regions` for `config`, wrapping with `keyring`.
    pub fn new(config: &Config, keyring: LiveKeyring, regions: Arc<Regions>, metrics: Arc<Metrics>) -> Self {
        Self {
            regions,
            metrics,
            keyring,
            max_metadata_bytes: config.server.max_metadata_bytes,
            known_buckets: Arc::default(),
            upload_ttl: config.multipart.upload_ttl,
        }
    }

    /// The keyring now; 503 once keys fetched from a key manager have expired.
    fn keyring(&self) -> ApiResult<Arc<Keyring>> {
        Ok(self.keyring.get()?)
    }

    /// The name of the reserved bucket (no client may use it).
    pub fn reserved_bucket(&self) -> &str {
        self.regions.journal().bucket()
    }

    /// Opens a stored object's envelope (with the request's SSE-C key, if any), counting
    /// integrity failures (corruption, tampering).
    fn open_view(&self, bucket: &str, key: &str, stored: &StoredObject, sse_c: Option<&SseC>) -> ApiResult<ObjectView> {
        self.metrics.envelope_objects.with_label_values(&["open"]).inc();
        customer::check_key(stored, sse_c)?;
        let customer_key = sse_c.map(|s| &s.key);
        ObjectView::open(&*self.keyring()?, bucket, key, stored, customer_key).inspect_err(|e| {
            if let ApiError::Envelope(e) = e
                && e.is_integrity_failure()
            {
                self.metrics
                    .envelope_integrity_failures
                    .with_label_values(&["header"])
                    .inc();
            }
        })
    }
}

/// A stored part, as ListParts shows it.
pub type ListedPart = UploadedPart;
