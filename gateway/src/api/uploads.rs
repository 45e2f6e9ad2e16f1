//! ListMultipartUploads: the query into the object layer, its page into s3s's output (with
//! `encoding-type=url` applied here, as for object listings).

use s3s::S3Request;
use s3s::dto::{CommonPrefix, ListMultipartUploadsInput, ListMultipartUploadsOutput, MultipartUpload};

use super::Gateway;
use super::dto;
use crate::error::ApiResult;
use crate::store::UploadsQuery;
use crate::store::url_encode;

pub async fn list_multipart_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> ApiResult<ListMultipartUploadsOutput> {
    let input = &req.input;
    let query = UploadsQuery {
        bucket: &input.bucket,
        prefix: input.prefix.as_deref(),
        delimiter: input.delimiter.as_deref(),
        max_uploads: input.max_uploads,
        key_marker: input.key_marker.as_deref(),
        upload_id_marker: input.upload_id_marker.as_deref(),
    };
    let page = gw.store.list_uploads(&query).await?;
    let url = input
        .encoding_type
        .as_ref()
        .is_some_and(|e| e.as_str().eq_ignore_ascii_case("url"));
    let enc = |value: &str| if url { url_encode(value) } else { value.to_owned() };
    let (next_key, next_id) = match &page.next_marker {
        Some((key, id)) => (Some(enc(key)), id.clone()),
        None => (None, None),
    };
    let uploads = page
        .uploads
        .into_iter()
        .map(|u| MultipartUpload {
            key: Some(enc(&u.key)),
            upload_id: Some(u.id),
            initiated: u.initiated.map(dto::timestamp),
            ..Default::default()
        })
        .collect();
    let prefixes: Vec<CommonPrefix> = page
        .prefixes
        .iter()
        .map(|p| CommonPrefix { prefix: Some(enc(p)) })
        .collect();
    Ok(ListMultipartUploadsOutput {
        bucket: Some(input.bucket.clone()),
        prefix: input.prefix.as_deref().map(enc),
        delimiter: input.delimiter.as_deref().map(enc),
        key_marker: input.key_marker.as_deref().map(enc),
        upload_id_marker: input.upload_id_marker.clone(),
        max_uploads: Some(page.max_uploads as i32),
        is_truncated: Some(page.truncated),
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        uploads: Some(uploads),
        common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
        encoding_type: input.encoding_type.clone(),
        ..Default::default()
    })
}
