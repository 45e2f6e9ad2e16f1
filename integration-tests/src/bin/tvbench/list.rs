//! `list_N`: the cost of listing. Each side holds `plan.list_keys` objects of
//! [`LIST_OBJECT_BYTES`] under `list/`; a round makes `plan.lists` ListObjectsV2 calls one
//! after another, each returning the whole prefix in one page (MaxKeys = `plan.list_keys`),
//! and checks every page: all keys, in order, each with the plaintext size written (the gateway
//! lists ciphertext objects upstream and must report plaintext sizes).

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use bytes::Bytes;
use integration_tests::random_bytes;

use integration_tests::bench::{Latencies, Measurement, Op, Side};

use crate::Plan;

/// Size of each listed object.
pub const LIST_OBJECT_BYTES: usize = 1024;
/// Most keys ListObjectsV2 returns in one page.
pub const MAX_PAGE_KEYS: usize = 1000;
/// Keys are `list/00000000`, `list/00000001`, ... (as the small-object phases name them).
const LIST_PREFIX: &str = "list";

/// Writes the listed objects (from `plan.workload.concurrency` tasks), then lists them once untimed, so
/// a wrong page fails before any timing and first-use costs stay out of the rounds.
pub async fn populate(side: &Side, plan: Plan) -> anyhow::Result<()> {
    let body = Bytes::from(random_bytes(LIST_OBJECT_BYTES));
    side.small_phase(plan.list_keys, plan.workload.concurrency, &body, LIST_PREFIX, Op::Put)
        .await
        .with_context(|| format!("{}: write the objects to list", side.label()))?;
    list_verified(side, plan).await?;
    Ok(())
}

/// `plan.lists` sequential full-page listings; listings/s, with per-page p50/p99.
pub async fn measure(side: &Side, plan: Plan) -> anyhow::Result<Measurement> {
    let mut latencies = Vec::with_capacity(plan.lists);
    let started = Instant::now();
    for _ in 0..plan.lists {
        latencies.push(list_verified(side, plan).await?);
    }
    let rate = plan.lists as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(Latencies {
        rate,
        sorted: latencies,
    }
    .measurement())
}

/// One ListObjectsV2 call over the prefix; checks the page and returns the call's latency
/// (the check itself is not part of it).
async fn list_verified(side: &Side, plan: Plan) -> anyhow::Result<Duration> {
    let max_keys = i32::try_from(plan.list_keys).context("--list-keys fits a page")?;
    let started = Instant::now();
    let page = side
        .client()
        .list_objects_v2()
        .bucket(side.bucket())
        .prefix(format!("{LIST_PREFIX}/"))
        .max_keys(max_keys)
        .send()
        .await
        .with_context(|| format!("{}: ListObjectsV2 {LIST_PREFIX}/", side.label()))?;
    let latency = started.elapsed();
    let label = side.label();
    let contents = page.contents();
    ensure!(
        contents.len() == plan.list_keys,
        "{label}: listing returned {} entries, expected {}",
        contents.len(),
        plan.list_keys
    );
    let expected_size = i64::try_from(LIST_OBJECT_BYTES).context("object size")?;
    for (index, object) in contents.iter().enumerate() {
        let key = format!("{LIST_PREFIX}/{index:08}");
        ensure!(
            object.key() == Some(key.as_str()),
            "{label}: listing entry {index} is {:?}, expected {key}",
            object.key()
        );
        ensure!(
            object.size() == Some(expected_size),
            "{label}: listing gives {key} size {:?}, but {expected_size} plaintext bytes were written",
            object.size()
        );
    }
    Ok(latency)
}
