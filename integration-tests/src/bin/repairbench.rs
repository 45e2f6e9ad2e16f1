//! `repairbench`: what a blackholed region costs writers under `write_policy = "one"`, and how
//! fast `twinvault repair` brings the region back.
//!
//! Starts two SeaweedFS regions and the gateway (policy "one", `write_timeout_ms` 2000, the
//! background loop off), then, in one run:
//! 1. `put_4k_healthy`: 4 KiB PUTs from 32 concurrent tasks with both regions up (the baseline);
//! 2. region b frozen with SIGSTOP (connections accepted, never answered: a blackhole), a
//!    short warm-up while the circuit breaker opens (reported), then the same workload:
//!    `put_4k_b_blackholed`; prints `ratio put_4k_one_region_blackholed VALUE`;
//! 3. more small objects and a few 64 MiB objects written while b is frozen, so b misses
//!    `--objects` small objects in all; b thawed; `twinvault repair` timed: prints seconds,
//!    objects per second and stored bytes per second.
//!
//! Run with `scripts/bench-repair.sh` (release builds).

use std::time::Instant;

use anyhow::{Context, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use clap::Parser;
use integration_tests::bench::{self, IndexedOp, MIB};
use integration_tests::{Gateway, GatewayConfig, random_bytes, sdk_client};

#[derive(Debug, Parser)]
#[command(about = "Policy \"one\" with a blackholed region, and twinvault repair throughput")]
struct Args {
    /// Small objects region b misses in all (repaired by `twinvault repair`).
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// Small PUTs per throughput phase.
    #[arg(long, default_value_t = 2_000)]
    ops: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// 64 MiB objects region b misses (for repair bytes per second).
    #[arg(long, default_value_t = 4)]
    large: usize,
}

/// PUTs of `body` to keys `PREFIX000000`, `PREFIX000001`, ...
struct Put {
    client: Client,
    bucket: String,
    prefix: String,
    body: Bytes,
}

impl IndexedOp for Put {
    async fn run(&self, index: usize) -> anyhow::Result<()> {
        let key = format!("{}{index:06}", self.prefix);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_length(self.body.len() as i64)
            .body(ByteStream::from(self.body.clone()))
            .send()
            .await
            .with_context(|| format!("PUT {key}"))?;
        Ok(())
    }
}

/// `count` PUTs from `concurrency` tasks; PUTs per second.
async fn put_many(
    client: &Client,
    bucket: &str,
    prefix: &str,
    count: usize,
    body: Bytes,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let put = Put {
        client: client.clone(),
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        body,
    };
    Ok(bench::run_indexed(put, count, concurrency).await?.rate)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (a, mut b) = bench::start_regions()?;
    let gateway: Gateway = GatewayConfig::new(&a.target(), &b.target())
        .write_policy("one")
        .read_mode("primary")
        .set("replication.write_timeout_ms", 2000_i64)
        .set("replication.repair_interval_ms", 0_i64)
        .start()?;
    let client = sdk_client(&gateway.target());
    let bucket = "repairbench";
    client.create_bucket().bucket(bucket).send().await?;
    let small = Bytes::from(random_bytes(4096));
    let c = args.concurrency;

    let healthy = put_many(&client, bucket, "healthy/", args.ops, small.clone(), c).await?;
    println!("raw put_4k_healthy {healthy:.1} ops/s");

    b.pause();
    let warm_started = Instant::now();
    put_many(&client, bucket, "warmup/", 64, small.clone(), c).await?;
    println!(
        "raw breaker_warmup_64_puts {:.2} s (until the breaker opens, writes wait write_timeout for b)",
        warm_started.elapsed().as_secs_f64()
    );
    let degraded = put_many(&client, bucket, "degraded/", args.ops, small.clone(), c).await?;
    println!("raw put_4k_b_blackholed {degraded:.1} ops/s");
    println!("ratio put_4k_one_region_blackholed {:.3}", degraded / healthy);

    let missed_small = 64 + args.ops;
    ensure!(
        args.objects >= missed_small,
        "--objects must be at least {missed_small}"
    );
    put_many(
        &client,
        bucket,
        "missed/",
        args.objects - missed_small,
        small.clone(),
        c,
    )
    .await?;
    let large = Bytes::from(random_bytes(64 * MIB));
    put_many(&client, bucket, "large/", args.large, large, 2).await?;
    b.resume();

    let started = Instant::now();
    let out = std::process::Command::new(Gateway::binary())
        .args(["repair", "--config"])
        .arg(gateway.config_path())
        .output()
        .context("run twinvault repair")?;
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "repair failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{stdout}");
    let field = |name: &str| -> u64 {
        let words: Vec<&str> = stdout.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(0)
    };
    let copied = field("copied");
    let bytes = field("bytes_moved");
    println!(
        "raw repair_seconds {seconds:.2} ({copied} objects copied, {} small + {} x 64 MiB missed)",
        args.objects, args.large
    );
    println!("raw repair_objects_per_second {:.1}", copied as f64 / seconds);
    println!("raw repair_mib_per_second {:.1}", bytes as f64 / seconds / MIB as f64);
    Ok(())
}
