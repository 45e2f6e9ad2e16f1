//! `multipart_put_1g`: one object uploaded as a multipart upload, `plan.part_concurrency` parts
//! in flight; `copy_1g`: a server-side CopyObject of that object. Both in MiB/s of the object.
//!
//! The part bodies are slices of a small random pool (parts differ from their neighbours), so
//! the client holds a few parts' worth of memory, not the object.

use std::time::Instant;

use anyhow::{Context, ensure};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use integration_tests::bench::{MIB, Measurement, Side};

use crate::Plan;

/// Distinct part bodies in the pool.
pub const POOL_PARTS: usize = 4;

/// The object the multipart phase of round `round` writes (and the copy phase copies).
fn source_key(round: usize) -> String {
    format!("multipart/{round}")
}

/// Uploads `plan.multipart_bytes` as parts of `plan.part_bytes`, `plan.part_concurrency` at a
/// time, then completes; checks the stored size. MiB/s.
pub async fn put(side: &Side, plan: Plan, round: usize, pool: &Bytes) -> anyhow::Result<Measurement> {
    let key = source_key(round);
    let label = side.label();
    let started = Instant::now();
    let created = side
        .client()
        .create_multipart_upload()
        .bucket(side.bucket())
        .key(&key)
        .send()
        .await
        .with_context(|| format!("{label}: CreateMultipartUpload {key}"))?;
    let upload_id = created.upload_id().context("no upload id")?.to_owned();
    let count = plan.multipart_bytes.div_ceil(plan.part_bytes);
    let uploads = (0..count).map(|index| upload_part(side, &key, &upload_id, index, plan, pool));
    let mut parts: Vec<CompletedPart> = futures::stream::iter(uploads)
        .buffer_unordered(plan.part_concurrency)
        .try_collect()
        .await?;
    parts.sort_by_key(|p| p.part_number());
    side.client()
        .complete_multipart_upload()
        .bucket(side.bucket())
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .with_context(|| format!("{label}: CompleteMultipartUpload {key}"))?;
    let elapsed = started.elapsed();
    check_size(side, &key, plan.multipart_bytes).await?;
    Ok(rate(plan.multipart_bytes, elapsed.as_secs_f64()))
}

async fn upload_part(
    side: &Side,
    key: &str,
    upload_id: &str,
    index: usize,
    plan: Plan,
    pool: &Bytes,
) -> anyhow::Result<CompletedPart> {
    let len = plan.part_bytes.min(plan.multipart_bytes - index * plan.part_bytes);
    let offset = (index % POOL_PARTS) * plan.part_bytes;
    let body = pool.slice(offset..offset + len);
    let number = i32::try_from(index + 1).context("part number")?;
    let out = side
        .client()
        .upload_part()
        .bucket(side.bucket())
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .content_length(i64::try_from(len).context("part length")?)
        .body(ByteStream::from(body))
        .send()
        .await
        .with_context(|| format!("{}: UploadPart {key} #{number}", side.label()))?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(out.e_tag().map(str::to_owned))
        .build())
}

/// A server-side CopyObject of round `round`'s multipart object; checks the copy's size. MiB/s.
pub async fn copy(side: &Side, plan: Plan, round: usize) -> anyhow::Result<Measurement> {
    let source = source_key(round);
    let target = format!("copy/{round}");
    let started = Instant::now();
    side.client()
        .copy_object()
        .copy_source(format!("{}/{source}", side.bucket()))
        .bucket(side.bucket())
        .key(&target)
        .send()
        .await
        .with_context(|| format!("{}: CopyObject {source} -> {target}", side.label()))?;
    let elapsed = started.elapsed();
    check_size(side, &target, plan.multipart_bytes).await?;
    Ok(rate(plan.multipart_bytes, elapsed.as_secs_f64()))
}

async fn check_size(side: &Side, key: &str, expected: usize) -> anyhow::Result<()> {
    let head = side
        .client()
        .head_object()
        .bucket(side.bucket())
        .key(key)
        .send()
        .await
        .with_context(|| format!("{}: HEAD {key}", side.label()))?;
    ensure!(
        head.content_length() == Some(i64::try_from(expected).context("size")?),
        "{}: {key} is {:?} bytes, expected {expected}",
        side.label(),
        head.content_length()
    );
    Ok(())
}

fn rate(bytes: usize, seconds: f64) -> Measurement {
    Measurement::from_rate(bytes as f64 / MIB as f64 / seconds)
}
