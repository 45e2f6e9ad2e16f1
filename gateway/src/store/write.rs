//! Writing one object version: seal the plaintext as it streams in, write the same ciphertext
//! to both regions at once, and settle the two results under the write policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;

use super::Store;
use super::customer::{META_SSE_C, SseC};
use super::object::{META_ATTRS, META_HEADER};
use crate::envelope::format::ciphertext_len;
use crate::envelope::{
    DataKey, EnvelopeError, ObjectAttributes, ObjectHeader, ObjectIdentity, SealStream, SegmentSealer,
};
use crate::error::{ApiError, ApiResult};
use crate::replication::{Change, FanoutOutcome, ReplicatedPut, fan_out_put};
use crate::reserved::ChangeKind;
use crate::stamp::{META_STAMP, VersionStamp};
use crate::upstream::{StoredObject, UpstreamError};

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
    /// `If-None-Match: *`: only if no object exists under the key.
    pub if_none_match_any: bool,
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
        let identity = ObjectIdentity {
            bucket: new.bucket,
            key: new.key,
        };
        let (header, dek) = ObjectHeader::create(&self.keyring, identity, new.sse_c.map(|s| &s.key))?;
        self.metrics.envelope_objects.with_label_values(&["seal"]).inc();
        let stamp = self.regions.stamp();
        let mut metadata = HashMap::new();
        if let Some(sse_c) = new.sse_c {
            metadata.insert(META_SSE_C.to_owned(), sse_c.check_value());
        }
        metadata.insert(META_HEADER.to_owned(), header.to_metadata_value());
        metadata.insert(META_ATTRS.to_owned(), new.attrs.seal(&dek)?);
        metadata.insert(META_STAMP.to_owned(), stamp.to_string());

        let sealed = seal_body(body, &dek, 0, new.plain_len);
        let put = ReplicatedPut {
            bucket: new.bucket,
            key: new.key,
            stored_len: ciphertext_len(new.plain_len),
            metadata: &metadata,
            if_none_match: new.if_none_match_any.then_some("*"),
            policy: self.regions.fanout_policy(),
        };
        let outcome = fan_out_put(self.regions.all(), &put, sealed).await;
        let results = body_results(verdict, outcome)?;
        let stored = commit_put(self, results, new.bucket, new.key, stamp).await?;
        self.metrics
            .s3_payload_bytes
            .with_label_values(&["PutObject", "in"])
            .inc_by(new.plain_len);
        Ok(stored)
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
