//! One endpoint under test (direct region or gateway) and the workloads run against it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use integration_tests::clients::SIGNING_REGION;
use integration_tests::{S3Target, unique_bucket};

use crate::phase::Phase;
use crate::report::Measurement;
use crate::{MIB, Plan};

/// Small operations per side before the timed small-object phases.
const SMALL_WARMUP_OPS: usize = 64;
/// Times each large object is read in a GET round: GETs run ~7x faster than PUTs, and a
/// 4 x 64 MiB GET alone lasts ~0.4 s, too short for a stable figure on a shared machine.
pub const LARGE_GET_PASSES: usize = 4;

/// An S3 client for one endpoint and the bucket the workloads use there.
#[derive(Clone)]
pub struct Side {
    label: &'static str,
    client: Client,
    bucket: String,
}

impl Side {
    /// A client for `target` and a fresh bucket on it.
    pub async fn create(label: &'static str, target: &S3Target) -> anyhow::Result<Self> {
        let side = Side {
            label,
            client: s3_client(target),
            bucket: unique_bucket("tvbench"),
        };
        side.client
            .create_bucket()
            .bucket(&side.bucket)
            .send()
            .await
            .with_context(|| format!("{label}: create bucket {}", side.bucket))?;
        Ok(side)
    }

    pub fn label(&self) -> &'static str {
        self.label
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// One large PUT and GET plus a few small ones, so SeaweedFS volume growth, connection
    /// set-up and first-use costs stay out of the timed phases.
    pub async fn warm_up(&self, large: &Bytes, small: &Bytes, plan: Plan) -> anyhow::Result<()> {
        self.put("warmup/large", large.clone()).await?;
        self.get_verified("warmup/large", large).await?;
        let warmup = Plan {
            small_ops: SMALL_WARMUP_OPS,
            ..plan
        };
        self.small_phase(warmup, small, "warmup/small", Op::Put).await?;
        self.small_phase(warmup, small, "warmup/small", Op::Get).await?;
        Ok(())
    }

    /// Runs `phase` once; round `round` uses its own keys.
    pub async fn measure(&self, phase: Phase, round: usize, body: &Bytes, plan: Plan) -> anyhow::Result<Measurement> {
        match phase {
            Phase::PutLarge => self.large_phase(plan, body, round, Op::Put).await,
            Phase::GetLarge => self.large_phase(plan, body, round, Op::Get).await,
            Phase::PutSmall => self.small_phase(plan, body, &format!("small/{round}"), Op::Put).await,
            Phase::GetSmall => self.small_phase(plan, body, &format!("small/{round}"), Op::Get).await,
            Phase::List => crate::list::measure(self, plan).await,
            Phase::MultipartPut => crate::multipart::put(self, plan, round, body).await,
            Phase::Copy => crate::multipart::copy(self, plan, round).await,
        }
    }

    /// `plan.large_objects` objects one after another (each read [`LARGE_GET_PASSES`] times);
    /// MiB/s.
    async fn large_phase(&self, plan: Plan, body: &Bytes, round: usize, op: Op) -> anyhow::Result<Measurement> {
        let passes = match op {
            Op::Put => 1,
            Op::Get => LARGE_GET_PASSES,
        };
        let started = Instant::now();
        for _ in 0..passes {
            for index in 0..plan.large_objects {
                let key = format!("large/{round}/{index}");
                self.run_op(op, &key, body).await?;
            }
        }
        let mib = (plan.large_bytes * plan.large_objects * passes) as f64 / MIB as f64;
        Ok(Measurement {
            rate: mib / started.elapsed().as_secs_f64(),
            p50: None,
            p99: None,
        })
    }

    /// `plan.small_ops` operations on keys `PREFIX/0..ops`, spread over `plan.concurrency`
    /// tasks that each take the next index until none is left; ops/s.
    pub async fn small_phase(&self, plan: Plan, body: &Bytes, prefix: &str, op: Op) -> anyhow::Result<Measurement> {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..plan.concurrency {
            let worker = SmallWorker {
                side: self.clone(),
                body: body.clone(),
                prefix: prefix.to_string(),
                next: Arc::clone(&next),
                total: plan.small_ops,
                op,
            };
            tasks.spawn(worker.run());
        }
        let mut latencies = Vec::with_capacity(plan.small_ops);
        while let Some(joined) = tasks.join_next().await {
            latencies.extend(joined.context("small-object task panicked")??);
        }
        let rate = plan.small_ops as f64 / started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        Ok(Measurement {
            rate,
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
        })
    }

    async fn run_op(&self, op: Op, key: &str, body: &Bytes) -> anyhow::Result<()> {
        match op {
            Op::Put => self.put(key, body.clone()).await,
            Op::Get => self.get_verified(key, body).await,
        }
    }

    async fn put(&self, key: &str, body: Bytes) -> anyhow::Result<()> {
        let len = i64::try_from(body.len()).context("body length")?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len)
            .body(ByteStream::from(body))
            .send()
            .await
            .with_context(|| format!("{}: PUT {key}", self.label))?;
        Ok(())
    }

    /// GETs `key` and compares it with `expected` chunk by chunk as it streams in, so only the
    /// current chunk is held.
    async fn get_verified(&self, key: &str, expected: &Bytes) -> anyhow::Result<()> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("{}: GET {key}", self.label))?;
        let mut body = output.body;
        let mut offset = 0;
        while let Some(chunk) = body
            .try_next()
            .await
            .with_context(|| format!("{}: read {key}", self.label))?
        {
            let end = offset + chunk.len();
            if expected.get(offset..end) != Some(&chunk[..]) {
                bail!("{}: GET {key} returned different bytes at offset {offset}", self.label);
            }
            offset = end;
        }
        ensure!(
            offset == expected.len(),
            "{}: GET {key} returned {offset} bytes, expected {}",
            self.label,
            expected.len()
        );
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Op {
    Put,
    Get,
}

/// One of the concurrent tasks of a small-object phase.
struct SmallWorker {
    side: Side,
    body: Bytes,
    prefix: String,
    next: Arc<AtomicUsize>,
    total: usize,
    op: Op,
}

impl SmallWorker {
    /// Runs operations until the shared counter passes `total`; returns each one's latency.
    async fn run(self) -> anyhow::Result<Vec<Duration>> {
        let mut latencies = Vec::new();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.total {
                return Ok(latencies);
            }
            let key = format!("{}/{index:08}", self.prefix);
            let started = Instant::now();
            self.side.run_op(self.op, &key, &self.body).await?;
            latencies.push(started.elapsed());
        }
    }
}

pub fn percentile(sorted: &[Duration], quantile: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    let index = ((last as f64) * quantile).round() as usize;
    sorted.get(index).copied()
}

/// Path-style SigV4 client; checksums only where the API requires them, so the client does the
/// same work whichever side it talks to.
fn s3_client(target: &S3Target) -> Client {
    let credentials = Credentials::new(&target.access_key, &target.secret_key, None, None, "tvbench");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&target.endpoint)
        .region(Region::new(SIGNING_REGION))
        .credentials_provider(credentials)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_of_sorted_latencies() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.5), Some(Duration::from_millis(51)));
        assert_eq!(percentile(&ms, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
