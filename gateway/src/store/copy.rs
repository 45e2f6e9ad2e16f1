//! CopyObject: a server-side copy inside each region. The body never passes through the
//! gateway; only the header is rewrapped for the new bucket/key (and the attributes resealed
//! when the client replaces them), so the copy opens at its new name and nowhere else.

use std::collections::HashMap;

use super::Store;
use super::customer::{META_SSE_C, SseC};
use super::etag::Conditions;
use super::object::{META_ATTRS, META_HEADER, META_LAYOUT};
use super::write::{WriteCondition, commit_put};
use crate::envelope::{ObjectAttributes, ObjectHeader, ObjectIdentity};
use crate::error::{ApiError, ApiResult};
use crate::replication::ReadScope;
use crate::stamp::META_STAMP;
use crate::upstream::StoredObject;

/// A CopyObject request.
pub struct CopyRequest<'a> {
    /// Source bucket and key.
    pub source: (&'a str, &'a str),
    /// Target bucket and key.
    pub target: (&'a str, &'a str),
    /// The source's SSE-C key.
    pub source_sse_c: Option<&'a SseC>,
    /// The target's SSE-C key.
    pub target_sse_c: Option<&'a SseC>,
    /// Conditions on the source.
    pub conditions: Conditions,
    /// New attributes (`MetadataDirective: REPLACE`), else the source's are kept.
    pub replace: Option<ObjectAttributes>,
    /// New tags (`x-amz-tagging-directive: REPLACE`), else the source's are kept.
    pub tags: Option<Vec<(String, String)>>,
    /// The client's precondition on what the target holds (`If-None-Match: *`, `If-Match`).
    pub condition: WriteCondition,
}

impl Store {
    /// Copies the source object to the target in each region; returns the new object.
    pub async fn copy_object(&self, copy: CopyRequest<'_>) -> ApiResult<StoredObject> {
        let (src_bucket, src_key) = copy.source;
        let (bucket, key) = copy.target;
        if copy.replace.is_none() && copy.source == copy.target {
            return Err(ApiError::InvalidRequest(
                "copying an object onto itself requires MetadataDirective REPLACE".into(),
            ));
        }
        self.check_new_object(bucket, key).await?;
        let decision = self.decide(bucket, key, &copy.condition).await?;
        let stored = self
            .regions
            .read(
                ReadScope::Key {
                    bucket: src_bucket,
                    key: src_key,
                },
                |up| up.head_object(src_bucket, src_key),
            )
            .await?;
        let source = self.open_view(src_bucket, src_key, &stored, copy.source_sse_c)?;
        copy.conditions.check_copy_source(&source.etag, source.last_modified)?;

        let header =
            ObjectHeader::from_metadata_value(stored.metadata.get(META_HEADER).ok_or(ApiError::NotAnEnvelope)?)?;
        let from = ObjectIdentity {
            bucket: src_bucket,
            key: src_key,
        };
        let to = ObjectIdentity { bucket, key };
        let new_header = header.rewrap(
            &*self.keyring()?,
            from,
            to,
            copy.source_sse_c.map(|s| &s.key),
            copy.target_sse_c.map(|s| &s.key),
        )?;
        let attrs_value = if copy.replace.is_none() && copy.tags.is_none() {
            stored.metadata.get(META_ATTRS).cloned().unwrap_or_default()
        } else {
            let mut attrs = copy.replace.clone().unwrap_or_else(|| source.attrs.clone());
            self.check_attributes(&attrs)?;
            // The bytes are the source's, so is their checksum.
            attrs.checksum.clone_from(&source.attrs.checksum);
            attrs.tags = copy.tags.clone().unwrap_or_else(|| source.attrs.tags.clone());
            attrs.seal(&source.dek)?
        };
        let mut metadata = HashMap::new();
        metadata.insert(META_HEADER.to_owned(), new_header.to_metadata_value());
        metadata.insert(META_ATTRS.to_owned(), attrs_value);
        if let Some(layout) = stored.metadata.get(META_LAYOUT) {
            metadata.insert(META_LAYOUT.to_owned(), layout.clone());
        }
        let stamp = self.regions.stamp();
        metadata.insert(META_STAMP.to_owned(), stamp.to_string());
        if let Some(sse_c) = copy.target_sse_c {
            metadata.insert(META_SSE_C.to_owned(), sse_c.check_value());
        }
        let (metadata, source_etag) = (&metadata, source.upstream_etag.as_str());
        let results = match &decision {
            None => {
                self.regions
                    .on_both(|up| up.copy_object(copy.source, copy.target, metadata, source_etag))
                    .await
            }
            // The deciding region copies first, under the condition; the other follows.
            Some(decision) => {
                self.write_decided(decision, |_, up, condition| {
                    up.copy_object_if(copy.source, copy.target, metadata, source_etag, condition)
                })
                .await?
            }
        };
        commit_put(self, results, bucket, key, stamp).await
    }
}
