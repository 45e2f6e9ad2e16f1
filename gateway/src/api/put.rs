//! PutObject: the request's body, checked against its client checksums, into the object layer.

use std::sync::Arc;

use s3s::S3Request;
use s3s::dto::{ETagCondition, PutObjectInput, PutObjectOutput, StreamingBlob};

use super::Gateway;
use super::checksum::{CheckedBody, ClientChecksums};
use super::dto;
use super::sse_c::{echo, request_sse_c};
use crate::error::{ApiError, ApiResult};
use crate::store::{BodyVerdict, NewObject, WriteCondition};

pub async fn put_object(gw: &Gateway, mut req: S3Request<PutObjectInput>) -> ApiResult<PutObjectOutput> {
    let input = &mut req.input;
    let sse_c = request_sse_c!(input)?;
    let condition = match (&input.if_match, &input.if_none_match) {
        (None, None) => WriteCondition::Always,
        (None, Some(ETagCondition::Any)) => WriteCondition::IfAbsent,
        (None, Some(ETagCondition::ETag(_))) => {
            return Err(ApiError::NotImplemented(
                "If-None-Match with an ETag on PutObject (only \"*\")",
            ));
        }
        (Some(ETagCondition::Any), None) => WriteCondition::IfMatch(None),
        (Some(ETagCondition::ETag(tag)), None) => {
            WriteCondition::IfMatch(Some(tag.value().trim_matches('"').to_owned()))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidArgument(
                "If-Match and If-None-Match cannot both be given on PutObject".into(),
            ));
        }
    };
    let plain_len = body_length(input.content_length, &req.headers)?;
    let attrs = attributes!(input);
    let checks = client_checksums!(input, req)?;
    let (body, verdict) = checked_body(input.body.take(), checks);
    let new = NewObject {
        bucket: &input.bucket,
        key: &input.key,
        plain_len,
        attrs,
        sse_c: sse_c.as_ref(),
        condition,
    };
    let stored = gw.store.put_object(new, body, &verdict).await?;
    let (sse_customer_algorithm, sse_customer_key_md5) = echo(sse_c.as_ref());
    Ok(PutObjectOutput {
        e_tag: Some(dto::upstream_etag(&stored.etag)),
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

/// The client's metadata and content headers of a PutObject, CreateMultipartUpload or
/// CopyObject request (same field names in all three).
macro_rules! attributes {
    ($input:expr) => {
        $crate::envelope::ObjectAttributes {
            content_type: $input.content_type.clone(),
            cache_control: $input.cache_control.clone(),
            content_disposition: $input.content_disposition.clone(),
            content_encoding: $input.content_encoding.clone(),
            content_language: $input.content_language.clone(),
            expires: $input.expires.as_ref().and_then($crate::api::dto::http_date),
            user_metadata: $crate::api::put::user_metadata($input.metadata.as_ref()),
        }
    };
}
pub(super) use attributes;

/// User metadata with lower-cased names, as S3 stores them.
pub(super) fn user_metadata(metadata: Option<&s3s::dto::Metadata>) -> std::collections::BTreeMap<String, String> {
    metadata
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

/// The client body, checked against its checksums as it streams, and where the verdict lands.
pub(super) fn checked_body(
    body: Option<StreamingBlob>,
    checks: ClientChecksums,
) -> (CheckedBody<StreamingBlob>, BodyVerdict) {
    let verdict = BodyVerdict::default();
    let body =
        body.unwrap_or_else(|| StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    (CheckedBody::new(body, checks, Arc::clone(&verdict)), verdict)
}
