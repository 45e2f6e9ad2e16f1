//! `peerbench`: twinvault against its peers, same workload, same client, same machine (issue #7).
//!
//! Starts two SeaweedFS regions and measures, in one run, four ways of storing each object:
//!
//! - `direct`: straight to region `a` (one copy, no encryption: the upper bound);
//! - `client_both`: the client itself PUTs the same bytes to both regions in parallel and GETs
//!   from region `a` (two copies, no encryption, no server in between);
//! - `rclone`: `rclone serve s3` over a `crypt` remote over a `union` remote of both regions
//!   with the `all` create/action policy (encrypting and dual-writing, like twinvault);
//! - `twinvault`: the gateway with `write_policy = "all"`, `read_mode = "hedged"`.
//!
//! Workloads: `put_64m` / `get_64m` (large objects one after another, MiB/s) and `put_4k` /
//! `get_4k` (small objects from 32 concurrent tasks, ops/s). Every phase runs in rounds that
//! alternate the sides, and each side's figure is its median round.
//!
//! Then GET latency with region `a` made slow (+100 ms before each chunk of its answers, through a
//! [`FaultProxy`](integration_tests::FaultProxy)): straight to the fast region `b` (the
//! baseline) and to the slow `a`, through a `hedged` gateway and through a `primary` gateway,
//! both preferring the slow region ([`latency`]).
//!
//! Output: a table, `ratio NAME VALUE` lines, `raw` and `cpu` lines, and the issue's targets.
//! Run it with `scripts/bench-peers.sh` (release builds; see docs/BENCHMARKS.md).

mod cpu;
mod latency;
mod rclone;
mod report;
mod side;

use std::time::Duration;

use anyhow::{Context, ensure};
use bytes::Bytes;
use clap::Parser;
use integration_tests::{Gateway, GatewayConfig, SeaweedRegion, random_bytes};

use crate::cpu::CpuProbe;
use crate::rclone::RcloneServer;
use crate::report::{Figure, Measurement, Peer};
use crate::side::{Op, Side};

pub const MIB: usize = 1024 * 1024;

#[derive(Debug, Parser)]
#[command(about = "twinvault against direct, client-side dual writes and rclone serve s3 (crypt over union)")]
struct Args {
    /// Smoke run: 8 MiB objects, 2 of them, 200 small ops, 40 latency GETs, one round.
    #[arg(long)]
    quick: bool,
    /// Size of each large object in MiB.
    #[arg(long)]
    size_mb: Option<usize>,
    /// Large objects written (and read 4 times) per side and round.
    #[arg(long)]
    objects: Option<usize>,
    /// Small-object operations per side and round (PUT, then GET of the same keys).
    #[arg(long)]
    ops: Option<usize>,
    /// Rounds per phase; each side reports the median of its rounds.
    #[arg(long)]
    rounds: Option<usize>,
    /// Size of each small object in KiB.
    #[arg(long, default_value_t = 4)]
    small_kb: usize,
    /// Concurrent tasks for the small-object phases.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// GETs per side and round in the latency phase.
    #[arg(long)]
    latency_gets: Option<usize>,
    /// Concurrent tasks in the latency phase.
    #[arg(long, default_value_t = 4)]
    latency_concurrency: usize,
    /// Latency added before each chunk of region `a`'s answers in the latency phase, in milliseconds.
    #[arg(long, default_value_t = 100)]
    delay_ms: u64,
    /// Leave out the rclone side.
    #[arg(long)]
    no_rclone: bool,
    /// Extra flag for `rclone serve s3` (repeatable), e.g. `--rclone-flag=--use-server-modtime`
    /// or `--rclone-flag=--log-file=/tmp/rclone.log --rclone-flag=-vv`.
    #[arg(long, allow_hyphen_values = true)]
    rclone_flag: Vec<String>,
}

/// The effective workload after applying `--quick` and the overrides.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub large_bytes: usize,
    pub large_objects: usize,
    pub small_bytes: usize,
    pub small_ops: usize,
    pub concurrency: usize,
    pub rounds: usize,
    pub latency_gets: usize,
    pub latency_concurrency: usize,
    pub delay: Duration,
    pub rclone: bool,
}

impl Plan {
    fn from_args(args: &Args) -> anyhow::Result<Self> {
        let (size_mb, objects, ops, rounds, latency_gets) = if args.quick {
            (8, 2, 200, 1, 40)
        } else {
            (64, 4, 2000, 3, 200)
        };
        let plan = Plan {
            large_bytes: args.size_mb.unwrap_or(size_mb) * MIB,
            large_objects: args.objects.unwrap_or(objects),
            small_bytes: args.small_kb * 1024,
            small_ops: args.ops.unwrap_or(ops),
            concurrency: args.concurrency,
            rounds: args.rounds.unwrap_or(rounds),
            latency_gets: args.latency_gets.unwrap_or(latency_gets),
            latency_concurrency: args.latency_concurrency,
            delay: Duration::from_millis(args.delay_ms),
            rclone: !args.no_rclone,
        };
        ensure!(
            plan.large_bytes > 0 && plan.large_objects > 0 && plan.small_bytes > 0,
            "--size-mb, --objects and --small-kb must be positive"
        );
        ensure!(
            plan.small_ops > 0 && plan.concurrency > 0 && plan.rounds > 0,
            "--ops, --concurrency and --rounds must be positive"
        );
        ensure!(
            plan.latency_gets > 0 && plan.latency_concurrency > 0,
            "--latency-gets and --latency-concurrency must be positive"
        );
        Ok(plan)
    }
}

/// The throughput phases, in report order; each GET phase reads what the PUT phase of the same
/// round wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    PutLarge,
    GetLarge,
    PutSmall,
    GetSmall,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::PutLarge, Phase::GetLarge, Phase::PutSmall, Phase::GetSmall];

    pub fn is_large(self) -> bool {
        matches!(self, Phase::PutLarge | Phase::GetLarge)
    }

    pub fn op(self) -> Op {
        match self {
            Phase::PutLarge | Phase::PutSmall => Op::Put,
            Phase::GetLarge | Phase::GetSmall => Op::Get,
        }
    }

    /// `put_64m`, `get_4k`, ...
    pub fn name(self, plan: Plan) -> String {
        let op = match self.op() {
            Op::Put => "put",
            Op::Get => "get",
        };
        if self.is_large() {
            format!("{op}_{}m", plan.large_bytes / MIB)
        } else {
            format!("{op}_{}k", plan.small_bytes / 1024)
        }
    }

    pub fn unit(self) -> &'static str {
        if self.is_large() { "MiB/s" } else { "ops/s" }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::from_args(&args)?;
    eprintln!("peerbench: starting two SeaweedFS regions and the gateway ({plan:?})");
    let (region_a, region_b) = start_regions()?;
    let gateway = GatewayConfig::new(&region_a.target(), &region_b.target())
        .write_policy("all")
        .read_mode("hedged")
        .start()
        .context("start the gateway (scripts/bench-peers.sh builds it first)")?;
    eprintln!(
        "peerbench: gateway pid {} binary {}",
        gateway.pid().unwrap_or_default(),
        Gateway::binary().display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("build the tokio runtime")?;
    let rclone = if plan.rclone {
        start_rclone(&runtime, &region_a, &region_b, &args.rclone_flag)
    } else {
        Err("left out (--no-rclone)".to_string())
    };
    let cpu = CpuProbe::new([
        ("client", Some(std::process::id())),
        ("gateway", gateway.pid()),
        ("rclone", rclone.as_ref().ok().map(RcloneServer::pid)),
        ("weed_a", region_a.pid()),
        ("weed_b", region_b.pid()),
    ]);
    let regions = [&region_a, &region_b];
    let figures = runtime.block_on(throughput(plan, &cpu, regions, &gateway, rclone.as_ref().ok()))?;
    // The throughput gateway and rclone are done: stop them, so they take no CPU from the
    // latency phase (`err()` drops a running server).
    drop(gateway);
    let rclone_missing = rclone.err();
    let latencies = latency::run(&runtime, plan, regions)?;
    report::print(&plan, &figures, &latencies, rclone_missing.as_deref());
    Ok(())
}

/// Starts regions `a` and `b` in parallel (each takes ~3.5 s to become writable).
fn start_regions() -> anyhow::Result<(SeaweedRegion, SeaweedRegion)> {
    std::thread::scope(|scope| {
        let a = scope.spawn(|| SeaweedRegion::start("a"));
        let b = scope.spawn(|| SeaweedRegion::start("b"));
        let a = a.join().map_err(|_| anyhow::anyhow!("starting region a panicked"))?;
        let b = b.join().map_err(|_| anyhow::anyhow!("starting region b panicked"))?;
        Ok((a.context("start region a")?, b.context("start region b")?))
    })
}

/// The rclone peer, or why it could not be started (the run goes on without it).
fn start_rclone(
    runtime: &tokio::runtime::Runtime,
    region_a: &SeaweedRegion,
    region_b: &SeaweedRegion,
    extra_flags: &[String],
) -> Result<RcloneServer, String> {
    match runtime.block_on(RcloneServer::start(&region_a.target(), &region_b.target(), extra_flags)) {
        Ok(server) => {
            eprintln!(
                "peerbench: rclone serve s3 pid {} on {}",
                server.pid(),
                server.target().endpoint
            );
            Ok(server)
        }
        Err(err) => {
            let reason = format!("{err:#}");
            eprintln!("peerbench: rclone side left out: {reason}");
            Err(reason)
        }
    }
}

/// Creates the sides, warms them up, then runs every throughput phase.
async fn throughput(
    plan: Plan,
    cpu: &CpuProbe,
    [region_a, region_b]: [&SeaweedRegion; 2],
    gateway: &Gateway,
    rclone: Option<&RcloneServer>,
) -> anyhow::Result<Vec<Figure>> {
    let (target_a, target_b) = (region_a.target(), region_b.target());
    let mut sides = vec![
        (Peer::Direct, Side::create(Peer::Direct.label(), &[&target_a]).await?),
        (
            Peer::ClientBoth,
            Side::create(Peer::ClientBoth.label(), &[&target_a, &target_b]).await?,
        ),
    ];
    if let Some(server) = rclone {
        sides.push((
            Peer::Rclone,
            Side::create(Peer::Rclone.label(), &[&server.target()]).await?,
        ));
    }
    let twinvault = Side::create(Peer::Twinvault.label(), &[&gateway.target()]).await?;
    sides.push((Peer::Twinvault, twinvault));
    let large = Bytes::from(random_bytes(plan.large_bytes));
    let small = Bytes::from(random_bytes(plan.small_bytes));
    for (_, side) in &sides {
        eprintln!("peerbench: warm-up {}", side.label());
        side.warm_up(&large, &small, plan).await?;
    }
    let mut figures = Vec::new();
    for phase in Phase::ALL {
        let body = if phase.is_large() { &large } else { &small };
        figures.push(run_phase(plan, cpu, phase, &sides, body).await?);
    }
    Ok(figures)
}

/// `plan.rounds` rounds of `phase`, each running every side in turn; median per side.
async fn run_phase(
    plan: Plan,
    cpu: &CpuProbe,
    phase: Phase,
    sides: &[(Peer, Side)],
    body: &Bytes,
) -> anyhow::Result<Figure> {
    let mut rounds: Vec<Vec<Measurement>> = vec![Vec::new(); sides.len()];
    let mut usage = vec![cpu.zero(); sides.len()];
    for round in 0..plan.rounds {
        for (index, (_, side)) in sides.iter().enumerate() {
            // The start/done lines let a wrapper (e.g. a profiler) act on exactly one phase.
            eprintln!("peerbench: start {} {} round {round}", phase.name(plan), side.label());
            let before = cpu.sample();
            let measurement = side.measure(phase, round, body, plan).await?;
            cpu.accumulate(&mut usage[index], &before);
            eprintln!(
                "peerbench: done {} {} round {round}: {:.1} {}",
                phase.name(plan),
                side.label(),
                measurement.rate,
                phase.unit()
            );
            rounds[index].push(measurement);
        }
    }
    let mut figure = Figure::new(phase.name(plan), phase.unit(), cpu.labels());
    for (((peer, _), measured), usage) in sides.iter().zip(rounds).zip(usage) {
        figure.set(*peer, Measurement::median(measured), usage);
    }
    Ok(figure)
}
