//! Where multipart checksums are kept. A multipart object's metadata is fixed when its upload
//! is created, before any part's checksum is known, and upstream parts carry no metadata. So
//! each uploaded part's checksum is sealed into the name of an empty record in the reserved
//! bucket (one listing gives an upload's part checksums), and at completion the object's
//! checksum and its parts' go into one sealed record named by the upload's version stamp,
//! which the object's sealed attributes name (so copies, key rotations and tag changes keep
//! finding it; docs/FORMAT.md, section 10).
//! Both are sealed under the object's data key, like its attributes.

use std::collections::HashMap;

use bytes::Bytes;

use super::Store;
use super::object::ObjectView;
use super::upload_id::UploadState;
use super::uploads::put_where_uploaded;
use crate::envelope::{DataKey, ObjectAttributes, ObjectChecksum};
use crate::error::{ApiError, ApiResult};
use crate::replication::ReadScope;
use crate::reserved::MAX_RECORD_BYTES;
use crate::reserved::layout::{checksum_part, checksum_parts_prefix, checksum_record};
use crate::upstream::{ListRequest, Upstream};

/// Part checksums by part number and upstream ETag (each upload of a part has its own).
pub type PartChecksums = HashMap<(i32, String), String>;

/// `checksum` sealed as attributes holding only it (one sealing scheme for all of them).
fn seal(dek: &DataKey, checksum: ObjectChecksum) -> ApiResult<String> {
    let attrs = ObjectAttributes {
        checksum: Some(checksum),
        ..Default::default()
    };
    Ok(attrs.seal(dek)?)
}

fn open(dek: &DataKey, sealed: &str) -> Option<ObjectChecksum> {
    ObjectAttributes::open(dek, sealed).ok()?.checksum
}

impl Store {
    /// Records the checksum of one upload of a part (`upstream_etag`) in each region holding
    /// the upload.
    pub(super) async fn remember_part_checksum(
        &self,
        state: &UploadState,
        dek: &DataKey,
        (part, upstream_etag): (i32, &str),
        checksum: ObjectChecksum,
    ) -> ApiResult<()> {
        let name = checksum_part(&state.stamp, part, upstream_etag, &seal(dek, checksum)?);
        put_where_uploaded(self, state, &name, Bytes::new(), "part checksum").await
    }

    /// The part checksums of an upload, as `region` holds them.
    pub(super) async fn part_checksums(
        &self,
        region: &Upstream,
        state: &UploadState,
        dek: &DataKey,
    ) -> ApiResult<PartChecksums> {
        let prefix = checksum_parts_prefix(&state.stamp);
        let mut request = ListRequest {
            prefix: Some(prefix.clone()),
            max_keys: Some(1000),
            ..Default::default()
        };
        let mut found = PartChecksums::new();
        loop {
            let page = match region.list_objects_v2(self.regions.journal().bucket(), &request).await {
                Err(e) if e.kind.is_not_found() => return Ok(found),
                other => other?,
            };
            for name in page.contents().iter().filter_map(|o| o.key()) {
                let mut fields = name.strip_prefix(&prefix).unwrap_or_default().splitn(3, '/');
                let (Some(part), Some(etag), Some(sealed)) = (fields.next(), fields.next(), fields.next()) else {
                    continue;
                };
                match (part.parse::<i32>(), open(dek, sealed)) {
                    (Ok(part), Some(checksum)) => {
                        found.insert((part, etag.to_owned()), checksum.value);
                    }
                    _ => tracing::warn!(record = name, "unreadable part checksum record; ignored"),
                }
            }
            match page.next_continuation_token() {
                Some(token) if page.is_truncated() == Some(true) => {
                    request.continuation_token = Some(token.to_owned());
                }
                _ => return Ok(found),
            }
        }
    }

    /// Records a completed multipart object's checksums in each region holding its upload,
    /// before the upload is completed (so no completed object lacks its record).
    pub(super) async fn remember_object_checksum(
        &self,
        state: &UploadState,
        dek: &DataKey,
        checksum: ObjectChecksum,
    ) -> ApiResult<()> {
        let body = Bytes::from(seal(dek, checksum)?);
        put_where_uploaded(self, state, &checksum_record(&state.stamp), body, "object checksum").await
    }

    /// The object's kept checksum: in its attributes (single PUT), or, for a multipart upload
    /// created with a checksum algorithm, in the record its completion left. `None` when it
    /// has none (or its record cannot be read: then the client has nothing to validate).
    pub async fn object_checksum(&self, bucket: &str, key: &str, view: &ObjectView) -> Option<ObjectChecksum> {
        let kept = view.attrs.checksum.as_ref()?;
        if !kept.value.is_empty() {
            return Some(kept.clone());
        }
        if kept.record.is_empty() {
            return None;
        }
        let name = checksum_record(&kept.record);
        let journal = self.regions.journal().bucket();
        let read = self
            .regions
            .read(ReadScope::Key { bucket, key }, |up| {
                up.get_small(journal, &name, MAX_RECORD_BYTES)
            })
            .await;
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(e) => {
                if !e.kind.is_not_found() {
                    tracing::warn!(error = %e, "checksum record of a multipart object not read");
                }
                return None;
            }
        };
        let found = open(&view.dek, std::str::from_utf8(&bytes).ok()?);
        if found.is_none() {
            tracing::warn!("checksum record of a multipart object does not open under its data key");
        }
        found
    }
}

/// The object checksum of a completed upload from its parts' (plaintext length, checksum),
/// in part order, as S3 computes it for the upload's algorithm and type.
pub(super) fn completed_checksum(upload: &ObjectChecksum, parts: Vec<(u64, String)>) -> ApiResult<ObjectChecksum> {
    use super::checksum::{Algorithm, FULL_OBJECT, combined_crc, composite};
    let algorithm = Algorithm::parse(&upload.algorithm).ok_or(ApiError::Internal("upload checksum algorithm"))?;
    let value = if upload.kind == FULL_OBJECT {
        let with_lens: Vec<(String, u64)> = parts.iter().map(|(len, v)| (v.clone(), *len)).collect();
        combined_crc(algorithm, &with_lens)?
    } else {
        let values: Vec<String> = parts.iter().map(|(_, v)| v.clone()).collect();
        composite(algorithm, &values)?
    };
    Ok(ObjectChecksum {
        algorithm: upload.algorithm.clone(),
        kind: upload.kind.clone(),
        value,
        parts,
        record: upload.record.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::checksum::{Algorithm, COMPOSITE, ClientChecksum, FULL_OBJECT};
    use super::super::{BodyVerdict, NewObject, RequestedPart, WriteCondition, client_etag};
    use crate::envelope::{ObjectAttributes, ObjectChecksum};
    use crate::error::ApiError;
    use crate::testing::{BUCKET, Twin, body, read_request};

    const MIB: usize = 1024 * 1024;

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
    }

    /// A checksum as the front door hands it over: from a header (`known`), or verified over
    /// the body (a trailer, set here as the front door's hasher would).
    fn sent(algorithm: &'static str, known: Option<String>, verified: Option<String>) -> ClientChecksum {
        ClientChecksum {
            algorithm,
            value: known,
            verified: Arc::new(Mutex::new(verified)),
        }
    }

    async fn kept(twin: &Twin, key: &str) -> Option<ObjectChecksum> {
        let head = twin.store.head_object(&read_request(key)).await.expect("head");
        twin.store.object_checksum(BUCKET, key, &head.view).await
    }

    #[tokio::test(start_paused = true)]
    async fn header_and_trailer_checksums_are_kept_sealed_with_the_object() {
        let twin = Twin::with_bucket("all").await;
        let plain = bytes(70_000, 1);
        let crc = Algorithm::Crc32.digest(&plain);
        for (key, checksum) in [
            ("header", sent("CRC32", Some(crc.clone()), None)),
            ("trailer", sent("CRC32", None, Some(crc.clone()))),
        ] {
            let new = NewObject {
                bucket: BUCKET,
                key,
                plain_len: plain.len() as u64,
                attrs: ObjectAttributes::default(),
                sse_c: None,
                condition: WriteCondition::Always,
                checksum: Some(checksum),
            };
            let stored = twin
                .store
                .put_object(new, body(&plain), &BodyVerdict::default())
                .await
                .expect("put");
            let kept = kept(&twin, key).await.expect("a checksum kept");
            assert_eq!((kept.algorithm.as_str(), kept.kind.as_str()), ("CRC32", FULL_OBJECT));
            assert_eq!(kept.value, crc, "{key}");
            for region in [twin.a(), twin.b()] {
                let raw = region.raw(BUCKET, key).expect("stored");
                assert!(
                    !raw.metadata.values().any(|v| v.contains(&crc)),
                    "checksum visible upstream"
                );
                assert_eq!(raw.etag, stored.etag, "the rewrite keeps the ETag");
            }
        }
        assert_eq!(twin.get("trailer").await.expect("get"), plain);
        twin.put("plain", b"no checksum").await.expect("put");
        assert!(kept(&twin, "plain").await.is_none());
    }

    /// Uploads `parts` with their `algorithm` checksums in a new upload of `key` created with
    /// `kind`; the upload id and the parts a client completes with.
    async fn upload(
        twin: &Twin,
        key: &str,
        (algorithm, kind): (Algorithm, &str),
        parts: &[&[u8]],
    ) -> (String, Vec<RequestedPart>) {
        let attrs = ObjectAttributes {
            checksum: Some(ObjectChecksum {
                algorithm: algorithm.name().into(),
                kind: kind.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = twin
            .store
            .create_upload((BUCKET, key), attrs, None)
            .await
            .expect("create");
        let mut requested = Vec::new();
        for (number, part) in (1..).zip(parts) {
            let value = algorithm.digest(part);
            let checksum = sent(algorithm.name(), Some(value.clone()), None);
            let stored = twin
                .store
                .upload_part(
                    (BUCKET, key),
                    &id,
                    number,
                    part.len() as u64,
                    (None, Some(&checksum)),
                    body(part),
                    &BodyVerdict::default(),
                )
                .await
                .expect("part");
            requested.push(RequestedPart {
                number,
                etag: client_etag(&stored.etag),
                checksum: Some(value),
            });
        }
        (id, requested)
    }

    #[tokio::test(start_paused = true)]
    async fn multipart_checksums_are_checked_combined_and_kept() {
        let twin = Twin::with_bucket("all").await;
        let (p1, p2) = (bytes(5 * MIB, 2), bytes(1000, 3));
        let whole = [p1.as_slice(), &p2].concat();

        let full = (Algorithm::Crc64Nvme, FULL_OBJECT);
        let (id, parts) = upload(&twin, "full", full, &[&p1, &p2]).await;
        let listing = twin.store.list_parts((BUCKET, "full"), &id, None).await.expect("list");
        assert!(
            listing.parts.iter().all(|(_, c)| c.is_some()),
            "ListParts shows part checksums"
        );
        let (_, checksum) = twin
            .store
            .complete_upload((BUCKET, "full"), &id, &parts, None, None)
            .await
            .expect("complete");
        let expected = Algorithm::Crc64Nvme.digest(&whole);
        assert_eq!(checksum.map(|c| c.value), Some(expected.clone()));
        let kept_full = kept(&twin, "full").await.expect("kept");
        assert_eq!(
            (kept_full.value.as_str(), kept_full.parts.len()),
            (expected.as_str(), 2)
        );

        let composite = (Algorithm::Sha256, COMPOSITE);
        let (id, mut parts) = upload(&twin, "composite", composite, &[&p1, &p2]).await;
        parts[1].checksum = Some(Algorithm::Sha256.digest(b"another part"));
        let wrong = twin
            .store
            .complete_upload((BUCKET, "composite"), &id, &parts, None, None)
            .await;
        assert!(matches!(wrong, Err(ApiError::InvalidPart(_))), "{:?}", wrong.err());
        parts[1].checksum = Some(Algorithm::Sha256.digest(&p2));
        let bad_whole = ObjectChecksum {
            algorithm: "SHA256".into(),
            value: "AAAA-2".into(),
            ..Default::default()
        };
        let refused = twin
            .store
            .complete_upload((BUCKET, "composite"), &id, &parts, Some(&bad_whole), None)
            .await;
        assert!(matches!(refused, Err(ApiError::BadDigest { .. })));
        let (_, checksum) = twin
            .store
            .complete_upload((BUCKET, "composite"), &id, &parts, None, None)
            .await
            .expect("complete");
        let value = checksum.expect("a composite checksum").value;
        assert!(value.ends_with("-2"), "{value}");
        assert_eq!(kept(&twin, "composite").await.map(|c| c.value), Some(value));
    }
}
