//! PutObject: seal the body as it streams in and write it to both regions at once.

use std::collections::HashMap;
use std::sync::Arc;

use s3s::S3Request;
use s3s::dto::{Checksum, ETagCondition, PutObjectInput, PutObjectOutput};

use super::Gateway;
use super::checksum::{CheckedBody, ChecksumVerdict, ClientChecksums};
use super::etag::client_etag_dto;
use super::object::{META_ATTRS, META_HEADER, http_date};
use crate::config::WritePolicy;
use crate::envelope::format::ciphertext_len;
use crate::envelope::{EnvelopeError, ObjectAttributes, ObjectHeader, ObjectIdentity, SealStream, SegmentSealer};
use crate::error::{ApiError, ApiResult};
use crate::replication::{ReplicatedPut, both_ok, fan_out_put};

/// S3's limit for one PUT.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

pub async fn put_object(gw: &Gateway, mut req: S3Request<PutObjectInput>) -> ApiResult<PutObjectOutput> {
    let input = &mut req.input;
    if input.sse_customer_key.is_some() || input.sse_customer_algorithm.is_some() {
        return Err(ApiError::NotImplemented("SSE-C (customer-provided keys)"));
    }
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
    let plain_len = u64::try_from(input.content_length.ok_or(ApiError::MissingContentLength)?)
        .map_err(|_| ApiError::InvalidArgument("negative Content-Length".into()))?;
    if plain_len > MAX_SINGLE_PUT {
        return Err(ApiError::EntityTooLarge);
    }
    let attrs = attributes_of(gw, input)?;

    let identity = ObjectIdentity {
        bucket: &input.bucket,
        key: &input.key,
    };
    let (header, dek) = ObjectHeader::create(&gw.keyring, identity, None)?;
    let mut metadata = HashMap::new();
    metadata.insert(META_HEADER.to_owned(), header.to_metadata_value());
    metadata.insert(META_ATTRS.to_owned(), attrs.seal(&dek)?);

    let checks = ClientChecksums::new(
        input.content_md5.as_deref(),
        Checksum {
            checksum_crc32: input.checksum_crc32.take(),
            checksum_crc32c: input.checksum_crc32c.take(),
            checksum_sha1: input.checksum_sha1.take(),
            checksum_sha256: input.checksum_sha256.take(),
            checksum_crc64nvme: input.checksum_crc64nvme.take(),
            ..Default::default()
        },
        input.checksum_algorithm.as_ref(),
        req.headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()),
        req.trailing_headers.clone(),
    )?;
    let verdict = ChecksumVerdict::default();
    let body = input.body.take().unwrap_or_else(|| {
        s3s::dto::StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
    });
    let checked = CheckedBody::new(body, checks, Arc::clone(&verdict));
    let sealed = SealStream::new(checked, SegmentSealer::new(&dek, 0), Some(plain_len));

    let put = ReplicatedPut {
        bucket: &input.bucket,
        key: &input.key,
        stored_len: ciphertext_len(plain_len),
        metadata: &metadata,
        if_none_match,
        abort_on_region_failure: gw.regions.write_policy() == WritePolicy::All,
    };
    let outcome = fan_out_put(gw.regions.all(), &put, sealed).await;

    if let Some(e) = verdict.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(e);
    }
    if let Some(e) = outcome.input_error {
        return Err(match e {
            EnvelopeError::Input(_) => ApiError::InvalidArgument(format!("the request body could not be read: {e}")),
            other => ApiError::Envelope(other),
        });
    }
    let [a, b] = outcome.results;
    if a.is_ok() != b.is_ok() {
        tracing::warn!(bucket = %input.bucket, "a PUT reached only one region; the write is reported as failed");
    }
    let stored = both_ok([a, b])?;
    let preferred = &stored[gw.regions.preferred_index()];
    Ok(PutObjectOutput {
        e_tag: Some(client_etag_dto(&preferred.etag)),
        ..Default::default()
    })
}

/// The client's metadata and content headers, checked against the metadata size limit.
fn attributes_of(gw: &Gateway, input: &PutObjectInput) -> ApiResult<ObjectAttributes> {
    let user_metadata: std::collections::BTreeMap<String, String> = input
        .metadata
        .iter()
        .flatten()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let size: usize = user_metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > gw.max_metadata_bytes {
        return Err(ApiError::MetadataTooLarge {
            size,
            limit: gw.max_metadata_bytes,
        });
    }
    Ok(ObjectAttributes {
        content_type: input.content_type.clone(),
        cache_control: input.cache_control.clone(),
        content_disposition: input.content_disposition.clone(),
        content_encoding: input.content_encoding.clone(),
        content_language: input.content_language.clone(),
        expires: input.expires.as_ref().and_then(http_date),
        user_metadata,
    })
}
