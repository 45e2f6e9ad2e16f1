//! Copying one object's ciphertext from one region to the other, byte for byte and with the
//! same part layout, so both regions end with the same upstream ETag (the client ETag derives
//! from it) and the copy opens exactly like the original.

use crate::envelope::format::SEGMENT_STORED_LEN;
use crate::replication::relay;
use crate::store::object::{LAYOUT_PARTS, META_LAYOUT};
use crate::upstream::{PutCondition, StoredObject, Upstream, UpstreamError, UpstreamErrorKind};

/// Copies `bucket`/`key` (`source` is what `from` holds) into `to`, then checks that `to` now
/// holds the same version. `replacing` is what `to` held when repair looked (its upstream
/// ETag, or `None` for nothing): the copy is stored only if that is still so, so a client's
/// write or delete that reached `to` meanwhile is never overwritten by the older copy (the
/// store checks the condition as it stores, a multipart copy as it completes).
pub async fn copy_object(
    from: &Upstream,
    to: &Upstream,
    (bucket, key): (&str, &str),
    source: &StoredObject,
    replacing: Option<&str>,
) -> Result<(), UpstreamError> {
    let condition = match replacing {
        Some(etag) => PutCondition::IfMatch(etag),
        None => PutCondition::IfAbsent,
    };
    let multipart = source.metadata.get(META_LAYOUT).is_some_and(|v| v == LAYOUT_PARTS);
    let parts = source.etag.rsplit_once('-').and_then(|(_, n)| n.parse::<u32>().ok());
    match (multipart, parts) {
        (true, Some(parts)) if parts > 0 => copy_parts(from, to, (bucket, key), source, parts, condition).await?,
        _ => {
            let got = from.get_object(bucket, key, None, Some(&source.etag)).await?;
            to.put_object(
                bucket,
                key,
                got.object.stored_len,
                &got.object.metadata,
                condition,
                relay(got.body),
            )
            .await
            .map_err(|e| changed_meanwhile(to, bucket, key, e))?;
        }
    }
    let copied = to.head_object(bucket, key).await?;
    if copied.etag != source.etag || copied.stored_len != source.stored_len {
        return Err(UpstreamError::new(
            to.name(),
            "Repair",
            UpstreamErrorKind::Other,
            format!(
                "copy of {bucket}/{key} does not match its source (ETag {} vs {}, {} vs {} bytes)",
                copied.etag, source.etag, copied.stored_len, source.stored_len
            ),
        ));
    }
    Ok(())
}

/// A condition that failed means `to` changed since repair looked: not an error of the
/// copy, a reason to look again (the journal record stays for the next round).
fn changed_meanwhile(to: &Upstream, bucket: &str, key: &str, e: UpstreamError) -> UpstreamError {
    if e.kind == UpstreamErrorKind::PreconditionFailed || e.kind.is_not_found() {
        UpstreamError::new(
            to.name(),
            "Repair",
            UpstreamErrorKind::Unavailable,
            format!(
                "{bucket}/{key} changed in region {} while being repaired; left for the next round",
                to.name()
            ),
        )
    } else {
        e
    }
}

/// Copies a multipart object as a multipart upload with the original's part boundaries.
async fn copy_parts(
    from: &Upstream,
    to: &Upstream,
    (bucket, key): (&str, &str),
    source: &StoredObject,
    parts: u32,
    condition: PutCondition<'_>,
) -> Result<(), UpstreamError> {
    let boundaries = part_boundaries(from, bucket, key, source, parts).await?;
    let upload_id = to.create_multipart_upload(bucket, key, &source.metadata).await?;
    let result = async {
        let mut completed = Vec::with_capacity(boundaries.len());
        for (number, (start, end)) in (1..).zip(boundaries) {
            let got = from
                .get_object(bucket, key, Some((start, end - 1)), Some(&source.etag))
                .await?;
            let part = to
                .upload_part((bucket, key, &upload_id), number, end - start, relay(got.body))
                .await?;
            completed.push((number, part.etag));
        }
        to.complete_multipart_upload((bucket, key, &upload_id), &completed, condition)
            .await
            .map_err(|e| changed_meanwhile(to, bucket, key, e))
    }
    .await;
    if result.is_err() {
        let _ = to.abort_multipart_upload(bucket, key, &upload_id).await;
    }
    result.map(|_| ())
}

/// Stored byte ranges `[start, end)` of each part. Every non-final part is a whole number of
/// segments and each segment's nonce starts with its part number (docs/FORMAT.md), so part
/// boundaries are found by reading two bytes at segment starts: first where the previous part's
/// size predicts, by binary search otherwise. No decryption.
async fn part_boundaries(
    from: &Upstream,
    bucket: &str,
    key: &str,
    source: &StoredObject,
    parts: u32,
) -> Result<Vec<(u64, u64)>, UpstreamError> {
    let segments = source.stored_len.div_ceil(SEGMENT_STORED_LEN);
    let part_at = |segment: u64| async move {
        let offset = segment * SEGMENT_STORED_LEN;
        let got = from
            .get_object(bucket, key, Some((offset, offset + 1)), Some(&source.etag))
            .await?;
        let bytes = got
            .body
            .collect()
            .await
            .map_err(|e| UpstreamError::new(from.name(), "GetObject", UpstreamErrorKind::Unavailable, e.to_string()))?
            .into_bytes();
        match bytes.as_ref() {
            [hi, lo] => Ok(u32::from(u16::from_be_bytes([*hi, *lo]))),
            _ => Err(UpstreamError::new(
                from.name(),
                "GetObject",
                UpstreamErrorKind::Other,
                "short segment header",
            )),
        }
    };
    let mut ranges = Vec::with_capacity(parts as usize);
    let mut start = 0u64; // first segment of the current part
    let mut last_len = 0u64; // segments in the previous part
    for part in 1..=parts {
        if part == parts {
            ranges.push((start * SEGMENT_STORED_LEN, source.stored_len));
            break;
        }
        // The first segment of the next part: the guess first, then binary search.
        let guess = start + last_len;
        let next_start = if last_len > 0
            && guess < segments
            && part_at(guess - 1).await? == part
            && part_at(guess).await? == part + 1
        {
            guess
        } else {
            let (mut lo, mut hi) = (start + 1, segments); // answer in [lo, hi)
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if part_at(mid).await? > part {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            lo
        };
        if next_start >= segments {
            return Err(UpstreamError::new(
                from.name(),
                "Repair",
                UpstreamErrorKind::Other,
                format!("{bucket}/{key}: part {} not found in the stored object", part + 1),
            ));
        }
        ranges.push((start * SEGMENT_STORED_LEN, next_start * SEGMENT_STORED_LEN));
        last_len = next_start - start;
        start = next_start;
    }
    Ok(ranges)
}
