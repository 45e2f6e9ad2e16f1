//! PutObject: seal the body as it streams in and write it to both regions at once.

use std::collections::HashMap;
use std::sync::Arc;

use s3s::S3Request;
use s3s::dto::{ETagCondition, PutObjectInput, PutObjectOutput, StreamingBlob};

use super::Gateway;
use super::checksum::{CheckedBody, ChecksumVerdict, ClientChecksums};
use super::etag::client_etag_dto;
use super::object::{META_ATTRS, META_HEADER};
use super::sse_c::{META_SSE_C, SseC, request_sse_c};
use crate::envelope::format::ciphertext_len;
use crate::envelope::{
    DataKey, EnvelopeError, ObjectAttributes, ObjectHeader, ObjectIdentity, SealStream, SegmentSealer,
};
use crate::error::{ApiError, ApiResult};
use crate::journal::ChangeKind;
use crate::replication::{Change, FanoutOutcome, ReplicatedPut, fan_out_put};
use crate::stamp::{META_STAMP, VersionStamp};
use crate::upstream::{StoredObject, UpstreamError};

/// S3's limit for one PUT.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

pub async fn put_object(gw: &Gateway, mut req: S3Request<PutObjectInput>) -> ApiResult<PutObjectOutput> {
    let input = &mut req.input;
    let sse_c = request_sse_c!(input)?;
    if input.if_match.is_some() {
        return Err(ApiError::NotImplemented("If-Match on PutObject"));
    }
    let if_none_match = match &input.if_none_match {
        None => None,
        Some(ETagCondition::Any) => Some("*"),
        Some(ETagCondition::ETag(_)) => {
            return Err(ApiError::InvalidArgument(
                "If-None-Match on PutObject only accepts \"*\"".into(),
            ));
        }
    };
    let plain_len = body_length(input.content_length, &req.headers)?;
    if plain_len > MAX_SINGLE_PUT {
        return Err(ApiError::EntityTooLarge);
    }
    let attrs = attributes!(gw, input)?;

    let identity = ObjectIdentity {
        bucket: &input.bucket,
        key: &input.key,
    };
    let (header, dek) = ObjectHeader::create(&gw.keyring, identity, sse_c.as_ref().map(|s| &s.key))?;
    gw.metrics.envelope_objects.with_label_values(&["seal"]).inc();
    let stamp = gw.regions.stamp();
    let mut metadata = HashMap::new();
    if let Some(sse_c) = &sse_c {
        metadata.insert(META_SSE_C.to_owned(), sse_c.check_value());
    }
    metadata.insert(META_HEADER.to_owned(), header.to_metadata_value());
    metadata.insert(META_ATTRS.to_owned(), attrs.seal(&dek)?);
    metadata.insert(META_STAMP.to_owned(), stamp.to_string());

    let checks = client_checksums!(input, req)?;
    let (sealed, verdict) = seal_body(input.body.take(), checks, &dek, 0, plain_len);
    let put = ReplicatedPut {
        bucket: &input.bucket,
        key: &input.key,
        stored_len: ciphertext_len(plain_len),
        metadata: &metadata,
        if_none_match,
        policy: gw.regions.fanout_policy(),
    };
    let outcome = fan_out_put(gw.regions.all(), &put, sealed).await;
    let results = body_results(&verdict, outcome)?;
    let stored = commit_put(gw, results, &input.bucket, &input.key, stamp).await?;
    gw.metrics
        .s3_payload_bytes
        .with_label_values(&["PutObject", "in"])
        .inc_by(plain_len);
    let (sse_customer_algorithm, sse_customer_key_md5) = SseC::echo(sse_c.as_ref());
    Ok(PutObjectOutput {
        e_tag: Some(client_etag_dto(&stored.etag)),
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    })
}

/// The plaintext length of a PutObject or UploadPart body: `Content-Length`, or for
/// `aws-chunked` uploads without one (SDKs streaming with a trailing checksum over HTTPS send
/// `Transfer-Encoding: chunked`) `x-amz-decoded-content-length`.
pub(super) fn body_length(content_length: Option<i64>, headers: &http::HeaderMap) -> ApiResult<u64> {
    let decoded = || {
        headers
            .get("x-amz-decoded-content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let len = content_length.or_else(decoded).ok_or(ApiError::MissingContentLength)?;
    u64::try_from(len).map_err(|_| ApiError::InvalidArgument("negative Content-Length".into()))
}

/// The client's checksums of a PutObject or UploadPart request (same field names in both).
macro_rules! client_checksums {
    ($input:expr, $req:expr) => {
        $crate::api::checksum::ClientChecksums::new(
            $input.content_md5.as_deref(),
            s3s::dto::Checksum {
                checksum_crc32: $input.checksum_crc32.take(),
                checksum_crc32c: $input.checksum_crc32c.take(),
                checksum_sha1: $input.checksum_sha1.take(),
                checksum_sha256: $input.checksum_sha256.take(),
                checksum_crc64nvme: $input.checksum_crc64nvme.take(),
                ..Default::default()
            },
            $input.checksum_algorithm.as_ref(),
            $req.headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()),
            $req.trailing_headers.clone(),
        )
    };
}
pub(super) use client_checksums;

/// The sealed attributes of a PutObject or CreateMultipartUpload request.
macro_rules! attributes {
    ($gw:expr, $input:expr) => {
        $crate::api::put::attributes_of(
            $gw,
            $crate::envelope::ObjectAttributes {
                content_type: $input.content_type.clone(),
                cache_control: $input.cache_control.clone(),
                content_disposition: $input.content_disposition.clone(),
                content_encoding: $input.content_encoding.clone(),
                content_language: $input.content_language.clone(),
                expires: $input.expires.as_ref().and_then($crate::api::object::http_date),
                user_metadata: Default::default(),
            },
            $input.metadata.as_ref(),
        )
    };
}
pub(super) use attributes;

/// The client body checked against its checksums and sealed as part `part` of `dek`'s object.
pub(super) fn seal_body(
    body: Option<StreamingBlob>,
    checks: ClientChecksums,
    dek: &DataKey,
    part: u32,
    plain_len: u64,
) -> (SealStream<CheckedBody<StreamingBlob>>, ChecksumVerdict) {
    let verdict = ChecksumVerdict::default();
    let body =
        body.unwrap_or_else(|| StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    let checked = CheckedBody::new(body, checks, Arc::clone(&verdict));
    (
        SealStream::new(checked, SegmentSealer::new(dek, part), Some(plain_len)),
        verdict,
    )
}

/// Settles a new version of one object under the write policy (journaling a region that
/// missed it) and returns the result the client hears about (the preferred region's).
pub(super) async fn commit_put(
    gw: &Gateway,
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
    let stored = gw.regions.commit(results, &change).await?;
    gw.regions.pick(stored).ok_or(ApiError::Internal("no region result"))
}

/// The regions' results of a replicated body write, unless the client side failed (checksum,
/// body), which is reported first.
pub(super) fn body_results(
    verdict: &ChecksumVerdict,
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

/// The client's metadata and content headers, checked against the metadata size limit.
pub(super) fn attributes_of(
    gw: &Gateway,
    mut attrs: ObjectAttributes,
    metadata: Option<&s3s::dto::Metadata>,
) -> ApiResult<ObjectAttributes> {
    attrs.user_metadata = metadata
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let size: usize = attrs.user_metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > gw.max_metadata_bytes {
        return Err(ApiError::MetadataTooLarge {
            size,
            limit: gw.max_metadata_bytes,
        });
    }
    Ok(attrs)
}
