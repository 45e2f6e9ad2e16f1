//! Multipart uploads: every part sealed as it streams and written to both regions' upstream
//! uploads at once ([`super::parts`]); the upload id carries the state ([`super::upload_id`]).
//!
//! Completion requires parts numbered 1..=N without gaps. The stored object must be a uniform
//! run of segments, so that its plaintext size and ranges are pure arithmetic, exactly as for a
//! single PUT: when every non-final part is a whole number of 64 KiB segments (every common
//! client's default part size is) the upload completes as it is; otherwise the parts from the
//! first unaligned one on are cut again at completion ([`super::realign`]).

use std::collections::HashMap;
use std::time::SystemTime;

use bytes::Bytes;
use futures::Stream;

use super::Store;
use super::checksum::{Algorithm, ClientChecksum};
use super::checksum_records::{PartChecksums, completed_checksum};
use super::customer::{META_SSE_C, SseC};
use super::object::{LAYOUT_PARTS, META_ATTRS, META_HEADER, META_LAYOUT};
use super::parts::{
    MAX_PART_SIZE, MIN_PART_SIZE, MatchedPart, check_part_number, missing_upload, settle_part, store_part,
};
use super::realign;
use super::upload_id::UploadState;
use super::uploads;
use super::write::{BodyVerdict, WriteCondition, body_results, commit_put, seal_body};
use crate::envelope::format::plaintext_len;
use crate::envelope::{DataKey, ObjectAttributes, ObjectChecksum, ObjectHeader, ObjectIdentity};
use crate::error::{ApiError, ApiResult};
use crate::replication::{ReadScope, both_ok};
use crate::stamp::META_STAMP;
use crate::upstream::{PutCondition, StoredObject, UploadedPart, Upstream, UpstreamError};

impl Store {
    /// Starts an upload in both regions; returns the client's (sealed) upload id.
    /// `attrs.checksum`, when set, names the upload's checksum algorithm and type (no value).
    pub async fn create_upload(
        &self,
        (bucket, key): (&str, &str),
        attrs: ObjectAttributes,
        sse_c: Option<&SseC>,
    ) -> ApiResult<String> {
        if let Some(checksum) = &attrs.checksum {
            let algorithm = Algorithm::parse(&checksum.algorithm).ok_or_else(|| {
                ApiError::InvalidRequest(format!("unknown checksum algorithm {:?}", checksum.algorithm))
            })?;
            algorithm.check_type(&checksum.kind)?;
        }
        self.check_new_object(bucket, key).await?;
        create(self, (bucket, key), attrs, sse_c).await
    }

    /// Seals `body` (the plaintext, exactly `plain_len` bytes) as part `part` of the upload
    /// and writes it to both regions' upstream uploads. An upload created with a checksum
    /// algorithm needs the part's checksum in it, and keeps it.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part<S, E>(
        &self,
        (bucket, key): (&str, &str),
        upload_id: &str,
        part: i32,
        plain_len: u64,
        (sse_c, checksum): (Option<&SseC>, Option<&ClientChecksum>),
        body: S,
        verdict: &BodyVerdict,
    ) -> ApiResult<StoredObject>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (state, dek) = open_upload(self, (bucket, key), upload_id, sse_c)?;
        let part = check_part_number(part)?;
        if plain_len > MAX_PART_SIZE {
            return Err(ApiError::EntityTooLarge);
        }
        let kept = part_checksum_to_keep(&state, checksum)?;
        let sealed = seal_body(body, &dek, part as u32, plain_len);
        let outcome = store_part(self, &state, (bucket, key), part, plain_len, sealed).await;
        let stored = settle_part(self, body_results(verdict, outcome)?)?;
        if let Some(kept) = kept
            && let Some(value) = kept.value_now()
        {
            let record = kept.full_object(value);
            self.remember_part_checksum(&state, &dek, (part, &stored.etag), record)
                .await?;
        }
        self.metrics
            .s3_payload_bytes
            .with_label_values(&["UploadPart", "in"])
            .inc_by(plain_len);
        Ok(stored)
    }

    /// Completes the upload with the client's parts, re-sealing parts that are not whole
    /// segments; returns the stored object and, for an upload created with a checksum
    /// algorithm, its checksum. `whole` is the client's checksum of the object, if it sent one.
    pub async fn complete_upload(
        &self,
        target: (&str, &str),
        upload_id: &str,
        requested: &[RequestedPart],
        whole: Option<&ObjectChecksum>,
        sse_c: Option<&SseC>,
    ) -> ApiResult<(StoredObject, Option<ObjectChecksum>)> {
        let unconditional = (requested, whole, &WriteCondition::Always);
        complete(self, target, upload_id, unconditional, sse_c).await
    }

    /// [`Self::complete_upload`] under the client's `If-None-Match`/`If-Match`, decided by
    /// one region (`conditional.rs`).
    pub async fn complete_upload_if(
        &self,
        target: (&str, &str),
        upload_id: &str,
        (requested, whole): (&[RequestedPart], Option<&ObjectChecksum>),
        condition: &WriteCondition,
        sse_c: Option<&SseC>,
    ) -> ApiResult<(StoredObject, Option<ObjectChecksum>)> {
        complete(self, target, upload_id, (requested, whole, condition), sse_c).await
    }

    /// Aborts the upload in both regions.
    pub async fn abort_upload(&self, (bucket, key): (&str, &str), upload_id: &str) -> ApiResult<()> {
        let state = live_upload(self, (bucket, key), upload_id)?;
        let results = abort_upstream(self, bucket, key, &state).await;
        // An upload left behind in a failing region is harmless (no object, and upstream lifecycle
        // rules reap it); with policy "one" the abort succeeds once one region has aborted.
        self.regions.settle_part(results)?;
        uploads::forget(self, bucket, key, &state).await;
        realign::discard_staged(self, &state);
        Ok(())
    }

    /// Every part uploaded so far (of a part uploaded twice, the newest), in number order,
    /// from the first region in read order that holds the upload; for an upload created with
    /// a checksum algorithm, that algorithm and type and the parts' checksums too.
    pub async fn list_parts(
        &self,
        (bucket, key): (&str, &str),
        upload_id: &str,
        sse_c: Option<&SseC>,
    ) -> ApiResult<PartsListing> {
        let state = live_upload(self, (bucket, key), upload_id)?;
        let [mut first, second] = self.regions.read_order();
        if state.upstream_ids[self.regions.index_of(first)].is_empty() {
            first = second;
        }
        let i = self.regions.index_of(first);
        let listed = first.list_parts(bucket, key, &state.upstream_ids[i]).await?;
        let mut checksums = PartChecksums::new();
        // An SSE-C upload's checksums open only with its key; S3 asks none on ListParts.
        if state.checksum.is_some() && (state.sse_c_check.is_none() || sse_c.is_some()) {
            let dek = upload_data_key(self, &state, (bucket, key), sse_c)?;
            checksums = self.part_checksums(first, &state, &dek).await?;
        }
        let parts = listed
            .into_iter()
            .map(|part| {
                let checksum = checksums.remove(&(part.number, part.etag.clone()));
                (part, checksum)
            })
            .collect();
        Ok(PartsListing {
            parts,
            checksum: state.checksum,
        })
    }
}

/// ListParts' answer from the object layer.
#[derive(Debug)]
pub struct PartsListing {
    /// The parts, each with its kept checksum.
    pub parts: Vec<(UploadedPart, Option<String>)>,
    /// The upload's checksum algorithm and type (no value), if it was created with one.
    pub checksum: Option<ObjectChecksum>,
}

/// One entry of CompleteMultipartUpload's part list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedPart {
    /// Part number.
    pub number: i32,
    /// Client ETag (no quotes).
    pub etag: String,
    /// The part's checksum as the client gives it, in the upload's algorithm.
    pub checksum: Option<String>,
}

/// The part checksum an upload keeps: in the upload's algorithm, which the part must carry.
fn part_checksum_to_keep<'c>(
    state: &UploadState,
    checksum: Option<&'c ClientChecksum>,
) -> ApiResult<Option<&'c ClientChecksum>> {
    let Some(upload) = &state.checksum else {
        return Ok(None);
    };
    match checksum {
        Some(sent) if sent.algorithm == upload.algorithm => Ok(Some(sent)),
        sent => Err(ApiError::InvalidRequest(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            upload.algorithm.to_ascii_lowercase(),
            sent.map_or_else(|| "null".to_owned(), |s| s.algorithm.to_ascii_lowercase())
        ))),
    }
}

async fn create(
    store: &Store,
    (bucket, key): (&str, &str),
    mut attrs: ObjectAttributes,
    sse_c: Option<&SseC>,
) -> ApiResult<String> {
    store.check_attributes(&attrs)?;
    let identity = ObjectIdentity { bucket, key };
    let (header, dek) = ObjectHeader::create(&*store.keyring()?, identity, sse_c.map(|s| &s.key))?;
    store.metrics.envelope_objects.with_label_values(&["seal"]).inc();
    let header_value = header.to_metadata_value();
    let mut metadata = HashMap::new();
    if let Some(sse_c) = sse_c {
        metadata.insert(META_SSE_C.to_owned(), sse_c.check_value());
    }
    metadata.insert(META_HEADER.to_owned(), header_value.clone());
    metadata.insert(META_LAYOUT.to_owned(), LAYOUT_PARTS.to_owned());
    let stamp = store.regions.stamp();
    metadata.insert(META_STAMP.to_owned(), stamp.to_string());
    if let Some(checksum) = &mut attrs.checksum {
        checksum.record = stamp.to_string();
    }
    metadata.insert(META_ATTRS.to_owned(), attrs.seal(&dek)?);
    let results = store
        .regions
        .on_both(|up| up.create_multipart_upload(bucket, key, &metadata))
        .await;
    // Policy "one": the upload goes on in the region that has it; completion journals the
    // other (an empty upstream id marks the region without an upload).
    let ids = match store.regions.settle_start(results) {
        Ok(ids) => ids.map(Option::unwrap_or_default),
        Err((e, created)) => {
            // Do not leave the other region's upload dangling.
            if let Some((region, id)) = created {
                let _ = store.regions.all()[region]
                    .abort_multipart_upload(bucket, key, &id)
                    .await;
            }
            return Err(e.into());
        }
    };
    let state = UploadState {
        upstream_ids: ids,
        header: header_value,
        stamp: stamp.to_string(),
        sse_c_check: sse_c.map(SseC::check_value),
        created_unix_secs: Some(super::upload_id::unix_secs(SystemTime::now())),
        checksum: attrs.checksum.clone(),
    };
    let upload_id = state.seal(&*store.keyring()?, bucket, key)?;
    // ListMultipartUploads can only list what is recorded; an upload it could never list
    // would be a leak, so no record means no upload.
    if let Err(e) = uploads::remember(store, bucket, key, &state, &upload_id).await {
        let _ = abort_upstream(store, bucket, key, &state).await;
        return Err(e);
    }
    Ok(upload_id)
}

/// The state of an upload id for `bucket`/`key`: `NoSuchUpload` if not ours, or older than
/// `multipart.upload_ttl_secs` by this gateway's clock.
fn live_upload(store: &Store, object: (&str, &str), upload_id: &str) -> ApiResult<UploadState> {
    UploadState::open_live(
        &*store.keyring()?,
        object,
        upload_id,
        store.upload_ttl,
        SystemTime::now(),
    )
}

/// The state and data key of an upload id for `bucket`/`key` (`NoSuchUpload` if not ours),
/// opened with the SSE-C key the request carries: an upload started with SSE-C needs the same
/// key on every part, as S3 requires, and one started without refuses a key.
pub(super) fn open_upload(
    store: &Store,
    (bucket, key): (&str, &str),
    upload_id: &str,
    sse_c: Option<&SseC>,
) -> ApiResult<(UploadState, DataKey)> {
    let state = live_upload(store, (bucket, key), upload_id)?;
    check_upload_key(&state, sse_c)?;
    let dek = upload_data_key(store, &state, (bucket, key), sse_c)?;
    Ok((state, dek))
}

/// `requested` (in part order) with only the last entry of each part number.
fn last_of_each_part(requested: &[RequestedPart]) -> Vec<RequestedPart> {
    let mut out: Vec<RequestedPart> = Vec::with_capacity(requested.len());
    for part in requested {
        match out.last_mut() {
            Some(last) if last.number == part.number => last.clone_from(part),
            _ => out.push(part.clone()),
        }
    }
    out
}

/// The data key an upload's parts are sealed under, unwrapped from its header.
fn upload_data_key(
    store: &Store,
    state: &UploadState,
    (bucket, key): (&str, &str),
    sse_c: Option<&SseC>,
) -> ApiResult<DataKey> {
    let header = ObjectHeader::from_metadata_value(&state.header)?;
    Ok(header.unwrap(
        &*store.keyring()?,
        ObjectIdentity { bucket, key },
        sse_c.map(|s| &s.key),
    )?)
}

/// Checks a request's SSE-C key against the one the upload was started with, before the
/// header is opened (so a wrong key is AccessDenied, not an integrity failure).
fn check_upload_key(state: &UploadState, sse_c: Option<&SseC>) -> ApiResult<()> {
    match (&state.sse_c_check, sse_c) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(ApiError::InvalidRequest(
            "the multipart upload was started with SSE-C; every part request must carry the same customer key".into(),
        )),
        (None, Some(_)) => Err(ApiError::InvalidRequest(
            "the multipart upload was started without SSE-C; part requests may not carry a customer key".into(),
        )),
        (Some(check), Some(sse_c)) if !crate::envelope::customer::key_matches(&sse_c.key, check) => {
            Err(ApiError::WrongCustomerKey)
        }
        (Some(_), Some(_)) => Ok(()),
    }
}

async fn complete(
    store: &Store,
    (bucket, key): (&str, &str),
    upload_id: &str,
    (requested, whole, condition): (&[RequestedPart], Option<&ObjectChecksum>, &WriteCondition),
    sse_c: Option<&SseC>,
) -> ApiResult<(StoredObject, Option<ObjectChecksum>)> {
    // S3 does not require the SSE-C key on Complete; when one is sent it must be the upload's.
    let state = live_upload(store, (bucket, key), upload_id)?;
    if let Some(sse_c) = sse_c {
        check_upload_key(&state, Some(sse_c))?;
    }
    if requested.is_empty() {
        return Err(ApiError::InvalidArgument(
            "CompleteMultipartUpload needs at least one part".into(),
        ));
    }
    if requested.windows(2).any(|w| w[0].number > w[1].number) {
        return Err(ApiError::InvalidPartOrder);
    }
    // A part listed more than once (sent again while its first upload still ran): S3 takes
    // the last entry, the client's newest upload of it.
    let with_checksums = last_of_each_part(requested);
    let requested: &[(i32, String)] = &with_checksums
        .iter()
        .map(|p| (p.number, p.etag.clone()))
        .collect::<Vec<_>>();
    let listings = store
        .regions
        .on_both(|up| {
            let id = &state.upstream_ids[store.regions.index_of(up)];
            async move {
                if id.is_empty() {
                    return Err(missing_upload(up.name()));
                }
                let listed = up.list_part_uploads(bucket, key, id).await?;
                Ok(listed.into_iter().map(|l| l.part).collect::<Vec<_>>())
            }
        })
        .await;
    let one = store.regions.tolerates_misses();
    let [listing_a, listing_b] = listings;
    let upstream_parts: [Option<Vec<MatchedPart>>; 2] = match (listing_a, listing_b) {
        (Ok(a), Ok(b)) => match (match_parts(requested, &a), match_parts(requested, &b)) {
            (Ok(pa), Ok(pb)) => {
                if pa != pb {
                    return Err(ApiError::InvalidPart(
                        "a part differs between regions; upload it again".into(),
                    ));
                }
                [Some(pa.clone()), Some(pb)]
            }
            // Policy "one": a region that missed parts is journaled; the other completes.
            (Ok(pa), Err(_)) if one => [Some(pa), None],
            (Err(_), Ok(pb)) if one => [None, Some(pb)],
            (Err(e), _) | (_, Err(e)) => return Err(e),
        },
        (Ok(a), Err(e)) if store.regions.counts_as_miss(&e) => [Some(match_parts(requested, &a)?), None],
        (Err(e), Ok(b)) if store.regions.counts_as_miss(&e) => [None, Some(match_parts(requested, &b)?)],
        (Err(a), Err(b)) if a.kind.is_not_found() || b.kind.is_not_found() => {
            // A Complete retried after it succeeded (the client lost the answer): S3 answers
            // it again with the object's ETag, so a client's retry never fails a stored upload.
            if let Some(stored) = completed_earlier(store, &state, (bucket, key)).await? {
                return Ok((stored, None));
            }
            return Err(both_ok([Err::<(), _>(a), Err(b)])
                .err()
                .map_or(ApiError::NoSuchUpload, ApiError::from));
        }
        (a, b) => {
            both_ok([a, b])?;
            return Err(ApiError::Internal("listing results"));
        }
    };
    // Decided once the upload is known to be live (a retried Complete answered above).
    let decision = store.decide(bucket, key, condition).await?;
    let checksum = upload_checksum(
        store,
        &state,
        (bucket, key),
        sse_c,
        (&with_checksums, whole),
        &upstream_parts,
    )
    .await?;
    let upstream_parts = realign_if_needed(store, &state, (bucket, key), sse_c, upstream_parts).await?;
    let ids = &state.upstream_ids;
    let results = match &decision {
        None => {
            store
                .regions
                .on_both(|up| {
                    let i = store.regions.index_of(up);
                    complete_in(
                        up,
                        (bucket, key, &ids[i]),
                        upstream_parts[i].as_deref(),
                        PutCondition::Always,
                    )
                })
                .await
        }
        // The deciding region completes first, under the condition; the upload stays open
        // in both regions when it refuses, so the client may still complete or abort it.
        Some(decision) => {
            store
                .write_decided(decision, |i, up, condition| {
                    complete_in(up, (bucket, key, &ids[i]), upstream_parts[i].as_deref(), condition)
                })
                .await?
        }
    };
    let stamp = state.stamp.parse().unwrap_or_else(|_| store.regions.stamp());
    let stored = commit_put(store, results, bucket, key, stamp).await?;
    uploads::forget(store, bucket, key, &state).await;
    realign::discard_staged(store, &state);
    Ok((stored, checksum))
}

/// Completes one region's upload with its matched `parts`; a region that missed parts (policy
/// "one") has its upload aborted instead and is reported as having missed the write.
async fn complete_in(
    up: &Upstream,
    (bucket, key, id): (&str, &str, &str),
    parts: Option<&[(i32, String)]>,
    condition: PutCondition<'_>,
) -> Result<StoredObject, UpstreamError> {
    match parts {
        Some(parts) => up.complete_multipart_upload((bucket, key, id), parts, condition).await,
        None => {
            if !id.is_empty() {
                let _ = up.abort_multipart_upload(bucket, key, id).await;
            }
            Err(missing_upload(up.name()))
        }
    }
}

/// The completed object's checksum, for an upload created with a checksum algorithm: the
/// parts' kept checksums checked against the ones the client lists (`InvalidPart` if one
/// differs, as S3) and combined as the upload's type says, checked against the client's
/// whole-object checksum (`BadDigest`), and recorded before the upload completes. An upload
/// with a part that has no kept checksum (copied with UploadPartCopy) completes without one.
async fn upload_checksum(
    store: &Store,
    state: &UploadState,
    target: (&str, &str),
    sse_c: Option<&SseC>,
    (requested, whole): (&[RequestedPart], Option<&ObjectChecksum>),
    matched: &[Option<Vec<MatchedPart>>; 2],
) -> ApiResult<Option<ObjectChecksum>> {
    let Some(upload) = &state.checksum else {
        return Ok(None);
    };
    let Some((holder, parts)) = matched.iter().enumerate().find_map(|(i, m)| m.as_ref().map(|m| (i, m))) else {
        return Ok(None);
    };
    if state.sse_c_check.is_some() && sse_c.is_none() {
        return Ok(None); // its checksums open only with the customer key
    }
    let dek = upload_data_key(store, state, target, sse_c)?;
    let mut kept = store.part_checksums(&store.regions.all()[holder], state, &dek).await?;
    let mut values = Vec::with_capacity(parts.len());
    for (part, asked) in parts.iter().zip(requested) {
        let Some(value) = kept.remove(&(part.number, part.etag.clone())) else {
            tracing::debug!(
                part = part.number,
                "a part without a kept checksum; the object gets none"
            );
            return Ok(None);
        };
        if asked.checksum.as_ref().is_some_and(|given| *given != value) {
            return Err(ApiError::InvalidPart(format!(
                "part {}: the {} checksum given does not match the uploaded part's",
                part.number, upload.algorithm
            )));
        }
        values.push((plaintext_len(part.stored_len).unwrap_or(0), value));
    }
    let checksum = completed_checksum(upload, values)?;
    if let Some(whole) = whole {
        if !whole.algorithm.eq_ignore_ascii_case(&upload.algorithm) {
            return Err(ApiError::InvalidRequest(format!(
                "the upload was created with the {} checksum algorithm, not {}",
                upload.algorithm, whole.algorithm
            )));
        }
        if !whole.kind.is_empty() && whole.kind != upload.kind {
            return Err(ApiError::InvalidRequest(format!(
                "the upload was created with checksum type {}, not {}",
                upload.kind, whole.kind
            )));
        }
        let bare = checksum.value.split('-').next().unwrap_or_default();
        if !whole.value.is_empty() && whole.value != checksum.value && whole.value != bare {
            return Err(ApiError::BadDigest {
                algorithm: "the object checksum combined from its parts",
            });
        }
    }
    store.remember_object_checksum(state, &dek, checksum.clone()).await?;
    Ok(Some(checksum))
}

/// The object this upload became, if it was completed already and not replaced since: the
/// stored object carries the upload's header (a fresh wrapped data key, unique per upload).
async fn completed_earlier(
    store: &Store,
    state: &UploadState,
    (bucket, key): (&str, &str),
) -> ApiResult<Option<StoredObject>> {
    let scope = ReadScope::Key { bucket, key };
    match store.regions.read(scope, |up| up.head_object(bucket, key)).await {
        Ok(stored) if stored.metadata.get(META_HEADER) == Some(&state.header) => Ok(Some(stored)),
        Ok(_) => Ok(None),
        Err(e) if e.kind.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Each region's upstream part list to complete with: the matched parts as they are, or, when
/// some non-final part is not whole segments, with the parts from that one on cut again.
async fn realign_if_needed(
    store: &Store,
    state: &UploadState,
    target: (&str, &str),
    sse_c: Option<&SseC>,
    matched: [Option<Vec<MatchedPart>>; 2],
) -> ApiResult<[Option<Vec<(i32, String)>>; 2]> {
    let as_listed = |parts: &Option<Vec<MatchedPart>>| {
        parts
            .as_ref()
            .map(|parts| parts.iter().map(|p| (p.number, p.etag.clone())).collect::<Vec<_>>())
    };
    let Some(reference) = matched.iter().flatten().next() else {
        return Ok([as_listed(&matched[0]), as_listed(&matched[1])]);
    };
    let lens: Vec<u64> = reference
        .iter()
        .map(|p| plaintext_len(p.stored_len).unwrap_or(0))
        .collect();
    let Some(plan) = realign::plan(&lens)? else {
        return Ok([as_listed(&matched[0]), as_listed(&matched[1])]);
    };
    if state.sse_c_check.is_some() && sse_c.is_none() {
        return Err(ApiError::InvalidRequest(
            "this upload has parts that are not multiples of 64 KiB, which twinvault re-encrypts on completion: \
             send the upload's SSE-C key with CompleteMultipartUpload"
                .into(),
        ));
    }
    let dek = upload_data_key(store, state, target, sse_c)?;
    let holds = [matched[0].is_some(), matched[1].is_some()];
    let added = realign::rewrite(store, state, &dek, target, (reference, holds), &plan).await?;
    let mut lists = [as_listed(&matched[0]), as_listed(&matched[1])];
    for (list, added) in lists.iter_mut().zip(added) {
        *list = match (list.take(), added) {
            (Some(mut parts), Some(added)) => {
                parts.truncate(plan.first);
                parts.extend(added);
                Some(parts)
            }
            _ => None,
        };
    }
    Ok(lists)
}

/// Non-final parts: at least 5 MiB; the last part is not empty.
fn check_part_size(number: i32, stored_len: u64, is_last: bool, count: usize) -> ApiResult<()> {
    let plain = plaintext_len(stored_len)
        .ok_or_else(|| ApiError::InvalidPart(format!("part {number} has an invalid stored size")))?;
    if !is_last && plain < MIN_PART_SIZE {
        return Err(ApiError::EntityTooSmall(number));
    }
    if is_last && plain == 0 && count > 1 {
        return Err(ApiError::InvalidPart(
            "the last part of a multipart upload may not be empty".into(),
        ));
    }
    Ok(())
}

/// Checks the client's part list against what one region holds (every upload of every part)
/// and returns the upstream part list to complete with. Of a part uploaded more than once,
/// the upload whose ETag the client sent is the one used: the listing's timestamps may not
/// tell which is newest (SeaweedFS lists both, to the second), but the ETags differ, because
/// every upload is sealed under a fresh stream id.
fn match_parts(requested: &[(i32, String)], listed: &[UploadedPart]) -> ApiResult<Vec<MatchedPart>> {
    let mut upstream = Vec::with_capacity(requested.len());
    for (position, (number, etag)) in requested.iter().enumerate() {
        let expected = i32::try_from(position + 1).unwrap_or(i32::MAX);
        if *number != expected {
            return Err(ApiError::InvalidPart(format!(
                "twinvault requires parts numbered 1, 2, 3... without gaps; part {expected} is missing"
            )));
        }
        let mut uploads = listed.iter().filter(|p| p.number == *number).peekable();
        if uploads.peek().is_none() {
            return Err(ApiError::InvalidPart(format!("part {number} was not uploaded")));
        }
        let Some(part) = uploads.find(|p| super::etag::client_etag(&p.etag) == *etag) else {
            return Err(ApiError::InvalidPart(format!(
                "part {number}: ETag {etag:?} does not match the uploaded part"
            )));
        };
        upstream.push(MatchedPart {
            number: *number,
            etag: part.etag.clone(),
            stored_len: part.stored_len,
        });
    }
    // Sizes are checked once every listed part is known to exist, as S3 does.
    let count = upstream.len();
    for (position, part) in upstream.iter().enumerate() {
        let is_last = position + 1 == count;
        check_part_size(part.number, part.stored_len, is_last, count)?;
    }
    Ok(upstream)
}

/// Aborts the upstream upload in each region that has one (already gone counts as done).
pub(super) async fn abort_upstream(
    store: &Store,
    bucket: &str,
    key: &str,
    state: &UploadState,
) -> [Result<(), UpstreamError>; 2] {
    store
        .regions
        .on_both(|up| {
            let id = &state.upstream_ids[store.regions.index_of(up)];
            async move {
                if id.is_empty() {
                    return Ok(());
                }
                up.abort_multipart_upload(bucket, key, id).await
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::format::ciphertext_len;

    fn uploaded(number: i32, etag: &str, plain: u64) -> UploadedPart {
        UploadedPart {
            number,
            etag: etag.to_owned(),
            stored_len: ciphertext_len(plain),
        }
    }

    // See: issue #5 (a part re-uploaded within the same second).
    #[test]
    fn completion_takes_the_upload_whose_etag_the_client_sent_whatever_the_listing_order() {
        let listed = vec![
            uploaded(1, "aaa", MIN_PART_SIZE),
            uploaded(2, "old", MIN_PART_SIZE),
            uploaded(2, "new", 1000),
            uploaded(2, "older", 7),
        ];
        let requested = vec![(1, "aaa-1".to_owned()), (2, "new-1".to_owned())];
        let expected = vec![(1, "aaa".to_owned()), (2, "new".to_owned())];
        let numbers_and_etags =
            |parts: Vec<MatchedPart>| parts.into_iter().map(|p| (p.number, p.etag)).collect::<Vec<_>>();
        assert_eq!(
            match_parts(&requested, &listed).ok().map(numbers_and_etags),
            Some(expected.clone())
        );
        let reversed: Vec<UploadedPart> = listed.iter().rev().cloned().collect();
        assert_eq!(
            match_parts(&requested, &reversed).ok().map(numbers_and_etags),
            Some(expected)
        );
        let unknown = vec![(1, "aaa-1".to_owned()), (2, "zzz-1".to_owned())];
        assert!(matches!(match_parts(&unknown, &listed), Err(ApiError::InvalidPart(_))));
    }
}
