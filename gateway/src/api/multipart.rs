//! Multipart uploads at the front door: CreateMultipartUpload, UploadPart,
//! CompleteMultipartUpload, AbortMultipartUpload and ListParts (the object layer's
//! `store::multipart` does the work).

use s3s::S3Request;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, ChecksumAlgorithm, ChecksumType,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CreateMultipartUploadInput,
    CreateMultipartUploadOutput, ListPartsInput, ListPartsOutput, Part, UploadPartInput, UploadPartOutput,
};

use super::Gateway;
use super::dto;
use super::put::{attributes, body_length, checked_body, client_checksums, refuse_unimplemented};
use super::sse_c::{echo, request_sse_c};
use crate::envelope::ObjectChecksum;
use crate::envelope::format::plaintext_len;
use crate::error::ApiResult;
use crate::store::checksum::{Algorithm, COMPOSITE};
use crate::store::{RequestedPart, parse_tagging_header};

pub async fn create(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> ApiResult<CreateMultipartUploadOutput> {
    let input = &req.input;
    refuse_unimplemented!(input)?;
    let sse_c = request_sse_c!(input)?;
    let mut attrs = attributes!(input);
    attrs.tags = parse_tagging_header(input.tagging.as_deref().unwrap_or_default())?;
    attrs.checksum = upload_checksum(input.checksum_algorithm.as_ref(), input.checksum_type.as_ref());
    let upload_id = gw
        .store
        .create_upload((&input.bucket, &input.key), attrs, sse_c.as_ref())
        .await?;
    let (sse_customer_algorithm, sse_customer_key_md5) = echo(sse_c.as_ref());
    let checksum = upload_checksum(input.checksum_algorithm.as_ref(), input.checksum_type.as_ref());
    Ok(CreateMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        upload_id: Some(upload_id),
        sse_customer_algorithm,
        sse_customer_key_md5,
        checksum_algorithm: checksum.as_ref().map(|c| ChecksumAlgorithm::from(c.algorithm.clone())),
        checksum_type: checksum.map(|c| ChecksumType::from(c.kind)),
        ..Default::default()
    })
}

/// The checksum algorithm and type a CreateMultipartUpload names (the type S3 defaults to
/// when it names only an algorithm); the object layer checks the pair.
fn upload_checksum(algorithm: Option<&ChecksumAlgorithm>, kind: Option<&ChecksumType>) -> Option<ObjectChecksum> {
    let algorithm = algorithm?.as_str().to_ascii_uppercase();
    let kind = match kind {
        Some(kind) => kind.as_str().to_ascii_uppercase(),
        None => Algorithm::parse(&algorithm)
            .map_or(COMPOSITE, Algorithm::default_type)
            .to_owned(),
    };
    Some(ObjectChecksum {
        algorithm,
        kind,
        ..Default::default()
    })
}

pub async fn upload_part(gw: &Gateway, mut req: S3Request<UploadPartInput>) -> ApiResult<UploadPartOutput> {
    let input = &mut req.input;
    let sse_c = request_sse_c!(input)?;
    let plain_len = body_length(input.content_length, &req.headers)?;
    let checks = client_checksums!(input, req)?;
    let checksum = checks.kept();
    let (body, verdict) = checked_body(input.body.take(), checks);
    let stored = gw
        .store
        .upload_part(
            (&input.bucket, &input.key),
            &input.upload_id,
            input.part_number,
            plain_len,
            (sse_c.as_ref(), checksum.as_ref()),
            body,
            &verdict,
        )
        .await?;
    let (sse_customer_algorithm, sse_customer_key_md5) = echo(sse_c.as_ref());
    let mut out = UploadPartOutput {
        e_tag: Some(dto::upstream_etag(&stored.etag)),
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    };
    // S3 echoes the part's checksum, verified.
    if let Some(checksum) = checksum
        && let Some(value) = checksum.value_now()
    {
        dto::set_checksum!(out, dto::checksum_value(checksum.algorithm, value));
    }
    Ok(out)
}

pub async fn complete(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> ApiResult<CompleteMultipartUploadOutput> {
    let input = &req.input;
    let sse_c = request_sse_c!(input)?;
    let condition = dto::write_condition(
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        "CompleteMultipartUpload",
    )?;
    let requested: Vec<RequestedPart> = input
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_ref())
        .into_iter()
        .flatten()
        .map(|p| RequestedPart {
            number: p.part_number.unwrap_or(0),
            etag: p
                .e_tag
                .as_ref()
                .map(|e| e.value().trim_matches('"').to_owned())
                .unwrap_or_default(),
            checksum: dto::given_checksum!(p).map(|(_, value)| value),
        })
        .collect();
    let whole = dto::given_checksum!(input).map(|(algorithm, value)| ObjectChecksum {
        algorithm: algorithm.to_owned(),
        kind: input
            .checksum_type
            .as_ref()
            .map(|t| t.as_str().to_ascii_uppercase())
            .unwrap_or_default(),
        value,
        ..Default::default()
    });
    let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
    let (stored, checksum) = gw
        .store
        .complete_upload_if(
            (bucket, key),
            &input.upload_id,
            (&requested, whole.as_ref()),
            &condition,
            sse_c.as_ref(),
        )
        .await?;
    let mut out = CompleteMultipartUploadOutput {
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        e_tag: Some(dto::upstream_etag(&stored.etag)),
        location: Some(format!("/{bucket}/{key}")),
        ..Default::default()
    };
    if let Some(checksum) = checksum {
        let answered = dto::checksum_of(&checksum);
        out.checksum_type.clone_from(&answered.checksum_type);
        dto::set_checksum!(out, answered);
    }
    Ok(out)
}

pub async fn abort(gw: &Gateway, req: S3Request<AbortMultipartUploadInput>) -> ApiResult<AbortMultipartUploadOutput> {
    let input = &req.input;
    gw.store
        .abort_upload((&input.bucket, &input.key), &input.upload_id)
        .await?;
    Ok(AbortMultipartUploadOutput::default())
}

pub async fn list_parts(gw: &Gateway, req: S3Request<ListPartsInput>) -> ApiResult<ListPartsOutput> {
    let input = &req.input;
    let sse_c = request_sse_c!(input)?;
    let listing = gw
        .store
        .list_parts((&input.bucket, &input.key), &input.upload_id, sse_c.as_ref())
        .await?;
    let marker = input.part_number_marker.unwrap_or(0);
    let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
    let after: Vec<_> = listing.parts.iter().filter(|(p, _)| p.number > marker).collect();
    let algorithm = listing.checksum.as_ref().map(|c| c.algorithm.as_str());
    let page: Vec<Part> = after
        .iter()
        .take(max)
        .map(|(p, checksum)| {
            let mut part = Part {
                part_number: Some(p.number),
                e_tag: Some(dto::upstream_etag(&p.etag)),
                size: plaintext_len(p.stored_len).map(|n| n as i64),
                ..Default::default()
            };
            if let (Some(algorithm), Some(value)) = (algorithm, checksum) {
                dto::set_checksum!(part, dto::checksum_value(algorithm, value.clone()));
            }
            part
        })
        .collect();
    let truncated = after.len() > max;
    Ok(ListPartsOutput {
        checksum_algorithm: listing
            .checksum
            .as_ref()
            .map(|c| ChecksumAlgorithm::from(c.algorithm.clone())),
        checksum_type: listing.checksum.map(|c| ChecksumType::from(c.kind)),
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        upload_id: Some(input.upload_id.clone()),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: page.last().and_then(|p| p.part_number).filter(|_| truncated),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(page),
        ..Default::default()
    })
}
