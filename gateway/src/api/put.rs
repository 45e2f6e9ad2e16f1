//! PutObject: the request's body, checked against its client checksums, into the object layer.

use std::sync::Arc;

use s3s::S3Request;
use s3s::dto::{PutObjectInput, PutObjectOutput, StreamingBlob};

use super::Gateway;
use super::checksum::{CheckedBody, ClientChecksums};
use super::dto;
use super::sse_c::{echo, request_sse_c};
use crate::error::{ApiError, ApiResult};
use crate::store::{BodyVerdict, NewObject, parse_tagging_header};

pub async fn put_object(gw: &Gateway, mut req: S3Request<PutObjectInput>) -> ApiResult<PutObjectOutput> {
    let input = &mut req.input;
    refuse_unimplemented!(input)?;
    let sse_c = request_sse_c!(input)?;
    let condition = dto::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref(), "PutObject")?;
    let plain_len = body_length(input.content_length, &req.headers)?;
    let mut attrs = attributes!(input);
    attrs.tags = parse_tagging_header(input.tagging.as_deref().unwrap_or_default())?;
    let checks = client_checksums!(input, req)?;
    let checksum = checks.kept();
    let kept_checksum = checksum.clone();
    let (body, verdict) = checked_body(input.body.take(), checks);
    let new = NewObject {
        bucket: &input.bucket,
        key: &input.key,
        plain_len,
        attrs,
        sse_c: sse_c.as_ref(),
        condition,
        checksum,
    };
    let stored = gw.store.put_object(new, body, &verdict).await?;
    let (sse_customer_algorithm, sse_customer_key_md5) = echo(sse_c.as_ref());
    let mut out = PutObjectOutput {
        e_tag: Some(dto::upstream_etag(&stored.etag)),
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    };
    // S3 echoes the checksum it kept, verified.
    if let Some(kept) = kept_checksum
        && let Some(value) = kept.value_now()
    {
        let answered = dto::checksum_of(&kept.full_object(value));
        out.checksum_type.clone_from(&answered.checksum_type);
        dto::set_checksum!(out, answered);
    }
    Ok(out)
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
            // From the raw header: s3s reads an empty Content-MD5 as none, S3 as InvalidDigest.
            $req.headers
                .get("content-md5")
                .map(|v| v.to_str().unwrap_or_default())
                .or($input.content_md5.as_deref()),
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

/// Refuses what a PutObject, CreateMultipartUpload or CopyObject asks for that twinvault does
/// not implement (same field names in all three): S3 would honour it, so a 200 that dropped it
/// would mislead the client.
macro_rules! refuse_unimplemented {
    ($input:expr) => {
        $crate::api::put::check_implemented($crate::api::put::Unimplemented {
            // Tags are sealed under the data key; an SSE-C object's opens only with the
            // customer key, which tagging requests do not carry.
            tagging: $input.tagging.is_some() && $input.sse_customer_key.is_some(),
            acl: $input.acl.as_ref().map(|acl| acl.as_str()),
            grants: $input.grant_full_control.is_some()
                || $input.grant_read.is_some()
                || $input.grant_read_acp.is_some()
                || $input.grant_write_acp.is_some(),
            server_side_encryption: $input.server_side_encryption.as_ref().map(|sse| sse.as_str()),
            kms: $input.ssekms_key_id.is_some() || $input.ssekms_encryption_context.is_some(),
            object_lock: $input.object_lock_mode.is_some()
                || $input.object_lock_retain_until_date.is_some()
                || $input.object_lock_legal_hold_status.is_some(),
            website_redirect: $input.website_redirect_location.is_some(),
        })
    };
}
pub(super) use refuse_unimplemented;

/// What a write request asks for beyond storing an object (see [`refuse_unimplemented!`]).
pub(super) struct Unimplemented<'a> {
    pub tagging: bool,
    pub acl: Option<&'a str>,
    pub grants: bool,
    pub server_side_encryption: Option<&'a str>,
    pub kms: bool,
    pub object_lock: bool,
    pub website_redirect: bool,
}

pub(super) fn check_implemented(asked: Unimplemented<'_>) -> ApiResult<()> {
    let refused = if asked.tagging {
        "tags on SSE-C objects"
    } else if asked
        .acl
        .is_some_and(|acl| acl != "private" && acl != "bucket-owner-full-control")
        || asked.grants
    {
        "an access control list other than private"
    } else if asked.kms || asked.server_side_encryption.is_some_and(|sse| sse != "AES256") {
        // Every object is encrypted by the gateway; AES256 (SSE-S3) describes that truthfully.
        "server-side encryption with KMS keys"
    } else if asked.object_lock {
        "object lock"
    } else if asked.website_redirect {
        "website redirects"
    } else {
        return Ok(());
    };
    Err(ApiError::NotImplemented(refused))
}

/// The client's metadata and content headers of a PutObject, CreateMultipartUpload or
/// CopyObject request (same field names in all three).
macro_rules! attributes {
    ($input:expr) => {
        $crate::envelope::ObjectAttributes {
            content_type: $input.content_type.clone(),
            cache_control: $input.cache_control.clone(),
            content_disposition: $input.content_disposition.clone(),
            content_encoding: $crate::api::put::stored_content_encoding($input.content_encoding.as_deref()),
            content_language: $input.content_language.clone(),
            expires: $input.expires.as_ref().and_then($crate::api::dto::http_date),
            user_metadata: $crate::api::put::user_metadata($input.metadata.as_ref()),
            ..Default::default()
        }
    };
}
pub(super) use attributes;

/// The Content-Encoding to keep with an object: the client's, without `aws-chunked`, which
/// describes how this request's body was sent, not the object (S3 drops it too).
pub(super) fn stored_content_encoding(header: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = header?
        .split(',')
        .map(str::trim)
        .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

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

#[cfg(test)]
mod tests {
    use super::stored_content_encoding;

    #[test]
    fn aws_chunked_is_never_stored_as_a_content_encoding() {
        assert_eq!(
            stored_content_encoding(Some("gzip, aws-chunked")).as_deref(),
            Some("gzip")
        );
        assert_eq!(stored_content_encoding(Some("aws-chunked,br")).as_deref(), Some("br"));
        assert_eq!(stored_content_encoding(Some("aws-chunked")), None);
        assert_eq!(stored_content_encoding(Some("identity")).as_deref(), Some("identity"));
        assert_eq!(stored_content_encoding(None), None);
    }
}
