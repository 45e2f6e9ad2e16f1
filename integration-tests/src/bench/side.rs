//! One side under test (a region, the gateway, a peer) and the transfer workloads run against
//! it, with the same aws-sdk-s3 client setup for every side.

use std::time::Instant;

use anyhow::{Context, bail, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::bench::MIB;
use crate::bench::measurement::{Latencies, Measurement};
use crate::bench::workers::{IndexedOp, run_indexed};
use crate::bench::workload::{Transfer, Workload};
use crate::clients::SIGNING_REGION;
use crate::{S3Target, unique_bucket};

/// Small operations per side before the timed small-object phases.
const SMALL_WARMUP_OPS: usize = 64;
/// Times each large object is read in a GET round: GETs run ~7x faster than PUTs, and a
/// 4 x 64 MiB GET alone lasts ~0.4 s, too short for a stable figure on a shared machine.
pub const LARGE_GET_PASSES: usize = 4;

/// An S3 client per copy written (one, or one per region for a client writing both) and a
/// bucket of the same name behind each; GETs use the first.
#[derive(Debug, Clone)]
pub struct Side {
    /// The benchmark (`tvbench`, ...): names the bucket and the clients' credentials.
    bench: &'static str,
    label: &'static str,
    writers: Vec<Client>,
    bucket: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    /// A PUT whose body is not signed (`x-amz-content-sha256: UNSIGNED-PAYLOAD`).
    PutUnsigned,
    Get,
    /// A HEAD, checked for the object's length.
    Head,
}

// === impl Side ===

impl Side {
    /// A client per target (each PUT goes to all of them, GETs to the first) and a fresh bucket
    /// of the same name on each.
    ///
    /// # Panics
    /// If `targets` is empty.
    pub async fn create(bench: &'static str, label: &'static str, targets: &[&S3Target]) -> anyhow::Result<Self> {
        assert!(!targets.is_empty(), "a side needs at least one target");
        let side = Side {
            bench,
            label,
            writers: targets.iter().map(|target| s3_client(target, bench)).collect(),
            bucket: unique_bucket(bench),
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
            bench: self.bench,
            label,
            writers: vec![s3_client(target, self.bench)],
            bucket: self.bucket.clone(),
        }
    }

    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The client GETs go through (the first target's).
    pub fn client(&self) -> &Client {
        &self.writers[0]
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// One large PUT and GET plus a few small ones, so SeaweedFS volume growth, connection
    /// set-up and first-use costs stay out of the timed phases.
    pub async fn warm_up(&self, large: &Bytes, small: &Bytes, workload: &Workload) -> anyhow::Result<()> {
        self.put("warmup/large", large, false).await?;
        self.get_verified("warmup/large", large).await?;
        let (ops, concurrency) = (SMALL_WARMUP_OPS, workload.concurrency);
        self.small_phase(ops, concurrency, small, "warmup/small", Op::Put)
            .await?;
        self.small_phase(ops, concurrency, small, "warmup/small", Op::Get)
            .await?;
        Ok(())
    }

    /// Runs `transfer` once; round `round` uses its own keys.
    pub async fn transfer(
        &self,
        transfer: Transfer,
        round: usize,
        body: &Bytes,
        workload: &Workload,
    ) -> anyhow::Result<Measurement> {
        if transfer.is_large() {
            self.large_phase(workload, body, round, transfer.op()).await
        } else {
            let prefix = format!("small/{round}");
            let latencies = self
                .small_phase(workload.small_ops, workload.concurrency, body, &prefix, transfer.op())
                .await?;
            Ok(latencies.measurement())
        }
    }

    /// `workload.large_objects` objects one after another (each read [`LARGE_GET_PASSES`]
    /// times); MiB/s.
    async fn large_phase(
        &self,
        workload: &Workload,
        body: &Bytes,
        round: usize,
        op: Op,
    ) -> anyhow::Result<Measurement> {
        let passes = if op == Op::Get { LARGE_GET_PASSES } else { 1 };
        let started = Instant::now();
        for _ in 0..passes {
            for index in 0..workload.large_objects {
                self.run_op(op, &format!("large/{round}/{index}"), body).await?;
            }
        }
        let mib = (workload.large_bytes * workload.large_objects * passes) as f64 / MIB as f64;
        Ok(Measurement::from_rate(mib / started.elapsed().as_secs_f64()))
    }

    /// `ops` operations on keys `PREFIX/00000000..`, spread over `concurrency` tasks (see
    /// [`run_indexed`]).
    pub async fn small_phase(
        &self,
        ops: usize,
        concurrency: usize,
        body: &Bytes,
        prefix: &str,
        op: Op,
    ) -> anyhow::Result<Latencies> {
        let small = SmallOp {
            side: self.clone(),
            body: body.clone(),
            prefix: prefix.to_string(),
            op,
        };
        run_indexed(small, ops, concurrency).await
    }

    async fn run_op(&self, op: Op, key: &str, body: &Bytes) -> anyhow::Result<()> {
        match op {
            Op::Put => self.put(key, body, false).await,
            Op::PutUnsigned => self.put(key, body, true).await,
            Op::Get => self.get_verified(key, body).await,
            Op::Head => self.head_verified(key, body.len()).await,
        }
    }

    /// PUTs `body` through every writer at once, its payload signed or not; done when all have it.
    async fn put(&self, key: &str, body: &Bytes, unsigned: bool) -> anyhow::Result<()> {
        let len = i64::try_from(body.len()).context("body length")?;
        let puts = self.writers.iter().map(|client| async move {
            let put = client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_length(len)
                .body(ByteStream::from(body.clone()));
            if unsigned {
                put.customize().disable_payload_signing().send().await
            } else {
                put.send().await
            }
        });
        futures::future::try_join_all(puts)
            .await
            .with_context(|| format!("{}: PUT {key}", self.label))?;
        Ok(())
    }

    /// HEADs `key` through [`Self::client`] and checks its length.
    async fn head_verified(&self, key: &str, expected_len: usize) -> anyhow::Result<()> {
        let label = self.label;
        let output = self
            .client()
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("{label}: HEAD {key}"))?;
        let len = output.content_length().unwrap_or(-1);
        ensure!(
            usize::try_from(len).ok() == Some(expected_len),
            "{label}: HEAD {key} says {len} bytes, expected {expected_len}"
        );
        Ok(())
    }

    /// GETs `key` through [`Self::client`] and compares it with `expected` chunk by chunk as it
    /// streams in, so only the current chunk is held.
    async fn get_verified(&self, key: &str, expected: &Bytes) -> anyhow::Result<()> {
        let label = self.label;
        let output = self
            .client()
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

/// The operation of a small-object phase: `op` on key `PREFIX/INDEX` (eight digits).
struct SmallOp {
    side: Side,
    body: Bytes,
    prefix: String,
    op: Op,
}

impl IndexedOp for SmallOp {
    async fn run(&self, index: usize) -> anyhow::Result<()> {
        let key = format!("{}/{index:08}", self.prefix);
        self.side.run_op(self.op, &key, &self.body).await
    }
}

/// Path-style SigV4 client; checksums only where the API requires them, so the client does the
/// same work whichever side it talks to.
fn s3_client(target: &S3Target, bench: &'static str) -> Client {
    let credentials = Credentials::new(&target.access_key, &target.secret_key, None, None, bench);
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
