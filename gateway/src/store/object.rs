//! A stored object seen through the envelope: its data key, sealed attributes, plaintext size
//! and client-facing ETag, decoded from what an upstream HEAD or GET returned.

use std::collections::HashMap;
use std::time::SystemTime;

use bytes::Bytes;
use futures::Stream;

use super::etag::client_etag;
use crate::envelope::format::plaintext_len;
use crate::envelope::{
    CustomerKey, DataKey, EnvelopeError, ObjectAttributes, ObjectHeader, ObjectIdentity, OpenStream, PartsOpener,
    StreamLayout,
};
use crate::error::{ApiError, ApiResult};
use crate::keyring::Keyring;
use crate::upstream::StoredObject;

/// Upstream metadata name of the sealed object header (`x-amz-meta-tv-header`).
pub const META_HEADER: &str = "tv-header";
/// Upstream metadata name of the sealed attributes (`x-amz-meta-tv-attrs`).
pub const META_ATTRS: &str = "tv-attrs";
/// Upstream metadata name of the body layout (`x-amz-meta-tv-layout`); absent for single PUTs.
pub const META_LAYOUT: &str = "tv-layout";
/// [`META_LAYOUT`] of a multipart object: consecutive part streams.
pub const LAYOUT_PARTS: &str = "parts";
pub use super::customer::META_SSE_C;
pub use crate::stamp::META_STAMP;

/// A stored object's plaintext as it is opened, segment by segment.
pub type PlainStream = Box<dyn Stream<Item = Result<Bytes, EnvelopeError>> + Send + Sync + Unpin>;

/// An upstream body as a stream of chunks.
pub fn chunks(
    body: crate::upstream::StoredStream,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + Unpin + 'static {
    Box::pin(futures::stream::unfold(body, |mut body| async move {
        body.next().await.map(|item| (item, body))
    }))
}

/// An upstream object, opened.
pub struct ObjectView {
    /// The object's data key.
    pub dek: DataKey,
    /// The client's metadata and content headers.
    pub attrs: ObjectAttributes,
    /// Plaintext length.
    pub plaintext_len: u64,
    /// Client-facing ETag (no quotes).
    pub etag: String,
    /// Upstream ETag (no quotes), for upstream If-Match.
    pub upstream_etag: String,
    /// Modification time.
    pub last_modified: Option<SystemTime>,
    /// Whether the body is a run of multipart part streams.
    pub multipart: bool,
    /// The stored header (`tv-header`): an identical copy carries the same one.
    pub header: String,
}

impl ObjectView {
    /// Unwraps the data key and opens the attributes of `stored`, found under `bucket`/`key`.
    pub fn open(
        keyring: &Keyring,
        bucket: &str,
        key: &str,
        stored: &StoredObject,
        customer_key: Option<&CustomerKey>,
    ) -> ApiResult<Self> {
        let header_value = stored.metadata.get(META_HEADER).ok_or(ApiError::NotAnEnvelope)?;
        let header = ObjectHeader::from_metadata_value(header_value)?;
        let dek = header
            .unwrap(keyring, ObjectIdentity { bucket, key }, customer_key)
            .inspect_err(|e| {
                if e.is_integrity_failure() {
                    tracing::error!(error = %e, "object header failed authentication");
                }
            })?;
        let attrs = match stored.metadata.get(META_ATTRS) {
            Some(value) => ObjectAttributes::open(&dek, value)?,
            None => ObjectAttributes::default(),
        };
        let plaintext_len = plaintext_len(stored.stored_len).ok_or(ApiError::Envelope(
            crate::envelope::EnvelopeError::BadStoredLength(stored.stored_len),
        ))?;
        Ok(Self {
            dek,
            attrs,
            plaintext_len,
            etag: client_etag(&stored.etag),
            upstream_etag: stored.etag.clone(),
            last_modified: stored.last_modified.map(system_time),
            multipart: is_multipart(stored),
            header: header_value.clone(),
        })
    }

    /// The plaintext of `input` (exactly the stored bytes of `layout`'s segments of this
    /// object), opened segment by segment with the opener its layout needs.
    pub fn open_stream<S, E>(&self, input: S, layout: StreamLayout) -> PlainStream
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Sync + Unpin + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        if self.multipart {
            Box::new(OpenStream::with_opener(
                input,
                PartsOpener::new(&self.dek, layout),
                layout,
            ))
        } else {
            Box::new(OpenStream::new(input, &self.dek, layout))
        }
    }

    /// The client's user metadata, if it has any.
    pub fn user_metadata(&self) -> Option<HashMap<String, String>> {
        let map: HashMap<String, String> = self
            .attrs
            .user_metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!map.is_empty()).then_some(map)
    }
}

/// An upstream time as a system time (the epoch for one out of its range, which no store sends).
pub fn system_time(dt: aws_smithy_types::DateTime) -> SystemTime {
    SystemTime::try_from(dt).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Whether a stored object is a run of multipart part streams.
pub fn is_multipart(stored: &StoredObject) -> bool {
    stored.metadata.get(META_LAYOUT).is_some_and(|v| v == LAYOUT_PARTS)
}
