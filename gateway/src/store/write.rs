//! Writing one object version: seal the plaintext as it streams in, write the same ciphertext
//! to both regions at once, and settle the two results under the write policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;

use super::Store;
use super::checksum::ClientChecksum;
use super::conditional::Decision;
use super::customer::{META_SSE_C, SseC};
use super::object::{META_ATTRS, META_HEADER};
use crate::envelope::format::ciphertext_len;
use crate::envelope::{
    DataKey, EnvelopeError, ObjectAttributes, ObjectHeader, ObjectIdentity, SealStream, SegmentSealer,
};
use crate::error::{ApiError, ApiResult};
use crate::replication::{Change, FanoutOutcome, ReplicatedPut, fan_out, fan_out_put};
use crate::reserved::ChangeKind;
use crate::reserved::layout::staging_put;
use crate::stamp::{META_STAMP, VersionStamp};
use crate::upstream::{PutCondition, StoredObject, Upstream, UpstreamError, UpstreamErrorKind};

/// S3's limit for one PUT.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// Where the front door's judgement of a request body lands (a client checksum that does not
/// match, found when the last byte went by): checked before a write is acknowledged.
pub type BodyVerdict = Arc<Mutex<Option<ApiError>>>;

/// A new object to write.
pub struct NewObject<'a> {
    /// Client bucket.
    pub bucket: &'a str,
    /// Object key.
    pub key: &'a str,
    /// Plaintext length the body will have.
    pub plain_len: u64,
    /// The client's metadata and content headers (sealed with the object).
    pub attrs: ObjectAttributes,
    /// The request's SSE-C key.
    pub sse_c: Option<&'a SseC>,
    /// The client's precondition on what the key holds now.
    pub condition: WriteCondition,
    /// The client's checksum of the body, kept with the object.
    pub checksum: Option<ClientChecksum>,
}

/// A conditional write's precondition (PutObject's `If-None-Match: *` and `If-Match`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WriteCondition {
    /// Unconditional.
    #[default]
    Always,
    /// `If-None-Match: *`: only if no object exists under the key.
    IfAbsent,
    /// `If-Match`: only if the object there has this client ETag (without quotes), or, for
    /// `*`, any object is there.
    IfMatch(Option<String>),
}

impl Store {
    /// Seals `body` (the plaintext, exactly `new.plain_len` bytes) and writes it to both
    /// regions; returns the stored object the client hears about.
    pub async fn put_object<S, E>(&self, new: NewObject<'_>, body: S, verdict: &BodyVerdict) -> ApiResult<StoredObject>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if new.plain_len > MAX_SINGLE_PUT {
            return Err(ApiError::EntityTooLarge);
        }
        self.check_attributes(&new.attrs)?;
        self.check_new_object(new.bucket, new.key).await?;
        let mut attrs = new.attrs;
        // Known with the request (a header): sealed with the attributes as they go upstream.
        // Otherwise (a trailer) it is known only once the body has gone upstream too.
        let late_checksum = match &new.checksum {
            Some(checksum) => match &checksum.value {
                Some(value) => {
                    attrs.checksum = Some(checksum.full_object(value.clone()));
                    None
                }
                None => Some(checksum),
            },
            None => None,
        };
        let identity = ObjectIdentity {
            bucket: new.bucket,
            key: new.key,
        };
        let (header, dek) = ObjectHeader::create(&*self.keyring()?, identity, new.sse_c.map(|s| &s.key))?;
        self.metrics.envelope_objects.with_label_values(&["seal"]).inc();
        let stamp = self.regions.stamp();
        let mut metadata = HashMap::new();
        if let Some(sse_c) = new.sse_c {
            metadata.insert(META_SSE_C.to_owned(), sse_c.check_value());
        }
        metadata.insert(META_HEADER.to_owned(), header.to_metadata_value());
        metadata.insert(META_ATTRS.to_owned(), attrs.seal(&dek)?);
        metadata.insert(META_STAMP.to_owned(), stamp.to_string());

        let sealed = seal_body(body, &dek, 0, new.plain_len);
        let put = ReplicatedPut {
            bucket: new.bucket,
            key: new.key,
            stored_len: ciphertext_len(new.plain_len),
            metadata: &metadata,
            condition: PutCondition::Always,
            policy: self.regions.fanout_policy(),
        };
        let stored = match self.decide(new.bucket, new.key, &new.condition).await? {
            None => {
                let outcome = fan_out_put(self.regions.all(), &put, sealed).await;
                let results = body_results(verdict, outcome)?;
                commit_put(self, results, new.bucket, new.key, stamp).await?
            }
            Some(decision) => self.put_conditional(&put, &decision, sealed, verdict, stamp).await?,
        };
        if let Some(value) = late_checksum.and_then(ClientChecksum::value_now) {
            attrs.checksum = late_checksum.map(|c| c.full_object(value));
            metadata.insert(META_ATTRS.to_owned(), attrs.seal(&dek)?);
            self.rewrite_metadata(new.bucket, new.key, &metadata, &stored.etag)
                .await;
        }
        self.metrics
            .s3_payload_bytes
            .with_label_values(&["PutObject", "in"])
            .inc_by(new.plain_len);
        Ok(stored)
    }

    /// A conditional write, decided by one region for both (`conditional.rs`). The deciding
    /// region gets the write with the condition, checked by the store as it stores; the other
    /// region gets the same ciphertext at once, but staged in its reserved bucket, and moved
    /// under the key (a server-side copy) only once the deciding region stored it. A refused
    /// write leaves nothing behind but a staged copy, which is removed.
    async fn put_conditional<S>(
        &self,
        put: &ReplicatedPut<'_>,
        decision: &Decision,
        sealed: S,
        verdict: &BodyVerdict,
        stamp: VersionStamp,
    ) -> ApiResult<StoredObject>
    where
        S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
    {
        let (bucket, key) = (put.bucket, put.key);
        let decider = decision.decider;
        let other = 1 - decider;
        let regions = self.regions.all();
        let upstream_condition = decision.upstream();
        let journal = self.regions.journal().bucket();
        let staging = staging_put(&stamp.to_string());
        if let Err(e) = self.regions.journal().ensure_bucket_once(&regions[other]).await {
            // Staging there fails too: the region misses the write (journaled under "one").
            tracing::warn!(region = regions[other].name(), error = %e, "reserved bucket not created for staging");
        }
        let outcome = fan_out(regions, sealed, put.policy, |i, region, body| {
            let (target_bucket, target_key, condition) = if i == decider {
                (bucket, key, upstream_condition)
            } else {
                (journal, staging.as_str(), PutCondition::Always)
            };
            region.put_object(target_bucket, target_key, put.stored_len, put.metadata, condition, body)
        })
        .await;
        let results = body_results(verdict, outcome);
        let [first, second] = match results {
            Ok(results) => results,
            Err(e) => {
                remove_staged(&regions[other], journal, &staging).await;
                return Err(e);
            }
        };
        let (decided, staged) = if decider == 0 { (first, second) } else { (second, first) };
        let stored = match decided {
            Ok(stored) => stored,
            Err(e) => {
                remove_staged(&regions[other], journal, &staging).await;
                return Err(decision.refusal(e));
            }
        };
        let moved = match staged {
            Ok(staged) => {
                let moved = regions[other]
                    .copy_object((journal, &staging), (bucket, key), put.metadata, &staged.etag)
                    .await
                    .and_then(|moved| same_etag(moved, &stored, regions[other].name()));
                remove_staged(&regions[other], journal, &staging).await;
                moved
            }
            Err(e) => Err(e),
        };
        let results = if decider == 0 {
            [Ok(stored), moved]
        } else {
            [moved, Ok(stored)]
        };
        commit_put(self, results, bucket, key, stamp).await
    }

    /// Replaces the metadata of the object just written (a trailer checksum, known only after
    /// the body went upstream behind the metadata): a server-side copy onto itself in each
    /// region, only while the key still holds that write (`if_match`, its upstream ETag). Best
    /// effort: a region where it fails keeps the object without the checksum, which S3
    /// clients take as "no checksum to validate".
    pub(super) async fn rewrite_metadata(
        &self,
        bucket: &str,
        key: &str,
        metadata: &HashMap<String, String>,
        if_match: &str,
    ) {
        let results = self
            .regions
            .on_both(|up| up.copy_object((bucket, key), (bucket, key), metadata, if_match))
            .await;
        for (region, result) in self.regions.all().iter().zip(results) {
            if let Err(e) = result {
                tracing::warn!(region = region.name(), error = %e, "checksum not added to an object's attributes");
            }
        }
    }

    /// Checks the client's metadata against the metadata size limit.
    pub fn check_attributes(&self, attrs: &ObjectAttributes) -> ApiResult<()> {
        let size: usize = attrs.user_metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > self.max_metadata_bytes {
            return Err(ApiError::MetadataTooLarge {
                size,
                limit: self.max_metadata_bytes,
            });
        }
        Ok(())
    }
}

/// The copy of a staged body, if it kept the ETag the deciding region gave the same bytes:
/// both regions must answer with one ETag. A store whose copies change it counts as having
/// missed the write (journaled; repair writes the bytes again).
fn same_etag(moved: StoredObject, decided: &StoredObject, region: &str) -> Result<StoredObject, UpstreamError> {
    if moved.etag == decided.etag {
        return Ok(moved);
    }
    Err(UpstreamError::new(
        region,
        "CopyObject",
        UpstreamErrorKind::Unavailable,
        format!(
            "the copied object has ETag {} where the other region has {}",
            moved.etag, decided.etag
        ),
    ))
}

/// Removes a conditional write's staged body; a leftover costs only storage (a lifecycle rule
/// on `staging/` reaps it, docs/OPERATIONS.md).
async fn remove_staged(region: &Upstream, journal: &str, staging: &str) {
    if let Err(e) = region.delete_object(journal, staging).await {
        tracing::warn!(region = region.name(), error = %e, "staged body of a conditional write not removed");
    }
}

/// The plaintext `body` sealed as part `part` of `dek`'s object.
pub(super) fn seal_body<S>(body: S, dek: &DataKey, part: u32, plain_len: u64) -> SealStream<S> {
    SealStream::new(body, SegmentSealer::new(dek, part), Some(plain_len))
}

/// Settles a new version of one object under the write policy (journaling a region that
/// missed it) and returns the result the client hears about (the preferred region's).
pub(super) async fn commit_put(
    store: &Store,
    results: [Result<StoredObject, UpstreamError>; 2],
    bucket: &str,
    key: &str,
    stamp: VersionStamp,
) -> ApiResult<StoredObject> {
    let keys = [key.to_owned()];
    let change = Change {
        kind: ChangeKind::Put,
        bucket,
        keys: &keys,
        stamp,
    };
    let stored = store.regions.commit(results, &change).await?;
    store.regions.pick(stored).ok_or(ApiError::Internal("no region result"))
}

/// The regions' results of a replicated body write, unless the client side failed (checksum,
/// body), which is reported first.
pub(super) fn body_results(
    verdict: &BodyVerdict,
    outcome: FanoutOutcome,
) -> ApiResult<[Result<StoredObject, UpstreamError>; 2]> {
    if let Some(e) = verdict.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(e);
    }
    if let Some(e) = outcome.input_error {
        return Err(match e {
            EnvelopeError::Input(_) => ApiError::InvalidArgument(format!("the request body could not be read: {e}")),
            other => ApiError::Envelope(other),
        });
    }
    Ok(outcome.results)
}
