//! One way of storing objects (a peer) and the workloads run against it, with the same
//! aws-sdk-s3 client setup for every side.

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

use crate::report::Measurement;
use crate::{MIB, Phase, Plan};

/// Small operations per side before the timed small-object phases.
const SMALL_WARMUP_OPS: usize = 64;
/// Times each large object is read in a GET round: a GET pass over the objects is much
/// shorter than the PUTs that wrote them, too short to time reliably on a shared machine.
pub const LARGE_GET_PASSES: usize = 4;

/// An S3 client per copy written (one, or one per region for `client_both`) and a bucket of the
/// same name behind each; GETs use the first.
#[derive(Clone)]
pub struct Side {
    label: &'static str,
    writers: Vec<Client>,
    bucket: String,
}

impl Side {
    /// A client per target (each PUT goes to all of them, GETs to the first) and a fresh bucket
    /// of the same name on each.
    pub async fn create(label: &'static str, targets: &[&S3Target]) -> anyhow::Result<Self> {
        let side = Side {
            label,
            writers: targets.iter().map(|target| s3_client(target)).collect(),
            bucket: unique_bucket("peerbench"),
        };
        for client in &side.writers {
            client
                .create_bucket()
                .bucket(&side.bucket)
                .send()
                .await
                .with_context(|| format!("{label}: create bucket {}", side.bucket))?;
        }
        Ok(side)
    }

    /// The same bucket reached through another endpoint (e.g. a second gateway on the same
    /// regions and keyring).
    pub fn attach(&self, label: &'static str, target: &S3Target) -> Side {
        Side {
            label,
            writers: vec![s3_client(target)],
            bucket: self.bucket.clone(),
        }
    }

    pub fn label(&self) -> &'static str {
        self.label
    }

    /// One large PUT and GET plus a few small ones, so SeaweedFS volume growth, connection
    /// set-up and first-use costs stay out of the timed phases.
    pub async fn warm_up(&self, large: &Bytes, small: &Bytes, plan: Plan) -> anyhow::Result<()> {
        self.put("warmup/large", large).await?;
        self.get_verified("warmup/large", large).await?;
        let (ops, concurrency) = (SMALL_WARMUP_OPS, plan.concurrency);
        self.small_phase(ops, concurrency, small, "warmup/small", Op::Put)
            .await?;
        self.small_phase(ops, concurrency, small, "warmup/small", Op::Get)
            .await?;
        Ok(())
    }

    /// Runs `phase` once; round `round` uses its own keys.
    pub async fn measure(&self, phase: Phase, round: usize, body: &Bytes, plan: Plan) -> anyhow::Result<Measurement> {
        if phase.is_large() {
            self.large_phase(plan, body, round, phase.op()).await
        } else {
            let prefix = format!("small/{round}");
            let latencies = self
                .small_phase(plan.small_ops, plan.concurrency, body, &prefix, phase.op())
                .await?;
            Ok(latencies.measurement())
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
                self.run_op(op, &format!("large/{round}/{index}"), body).await?;
            }
        }
        let mib = (plan.large_bytes * plan.large_objects * passes) as f64 / MIB as f64;
        Ok(Measurement {
            rate: mib / started.elapsed().as_secs_f64(),
            p50: None,
            p99: None,
        })
    }

    /// `ops` operations on keys `PREFIX/0..ops`, spread over `concurrency` tasks that each take
    /// the next index until none is left.
    pub async fn small_phase(
        &self,
        ops: usize,
        concurrency: usize,
        body: &Bytes,
        prefix: &str,
        op: Op,
    ) -> anyhow::Result<Latencies> {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let worker = Worker {
                side: self.clone(),
                body: body.clone(),
                prefix: prefix.to_string(),
                next: Arc::clone(&next),
                total: ops,
                op,
            };
            tasks.spawn(worker.run());
        }
        let mut samples = Vec::with_capacity(ops);
        while let Some(joined) = tasks.join_next().await {
            samples.extend(joined.context("small-object task panicked")??);
        }
        samples.sort_unstable();
        Ok(Latencies {
            rate: ops as f64 / started.elapsed().as_secs_f64(),
            sorted: samples,
        })
    }

    async fn run_op(&self, op: Op, key: &str, body: &Bytes) -> anyhow::Result<()> {
        match op {
            Op::Put => self.put(key, body).await,
            Op::Get => self.get_verified(key, body).await,
        }
    }

    /// PUTs `body` through every writer at once; done when all have it.
    async fn put(&self, key: &str, body: &Bytes) -> anyhow::Result<()> {
        let len = i64::try_from(body.len()).context("body length")?;
        let puts = self.writers.iter().map(|client| {
            client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_length(len)
                .body(ByteStream::from(body.clone()))
                .send()
        });
        futures::future::try_join_all(puts)
            .await
            .with_context(|| format!("{}: PUT {key}", self.label))?;
        Ok(())
    }

    /// GETs `key` from the first writer's endpoint and compares it with `expected` chunk by
    /// chunk as it streams in, so only the current chunk is held.
    async fn get_verified(&self, key: &str, expected: &Bytes) -> anyhow::Result<()> {
        let label = self.label;
        let output = self.writers[0]
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("{label}: GET {key}"))?;
        let mut body = output.body;
        let mut offset = 0;
        while let Some(chunk) = body.try_next().await.with_context(|| format!("{label}: read {key}"))? {
            let end = offset + chunk.len();
            if expected.get(offset..end) != Some(&chunk[..]) {
                bail!("{label}: GET {key} returned different bytes at offset {offset}");
            }
            offset = end;
        }
        ensure!(
            offset == expected.len(),
            "{label}: GET {key} returned {offset} bytes, expected {}",
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

/// The rate of a run of operations and each operation's latency, sorted.
#[derive(Debug)]
pub struct Latencies {
    pub rate: f64,
    pub sorted: Vec<Duration>,
}

impl Latencies {
    pub fn measurement(&self) -> Measurement {
        Measurement {
            rate: self.rate,
            p50: percentile(&self.sorted, 0.50),
            p99: percentile(&self.sorted, 0.99),
        }
    }
}

/// One of the concurrent tasks of a small-object run.
struct Worker {
    side: Side,
    body: Bytes,
    prefix: String,
    next: Arc<AtomicUsize>,
    total: usize,
    op: Op,
}

impl Worker {
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
    let credentials = Credentials::new(&target.access_key, &target.secret_key, None, None, "peerbench");
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
