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

mod latency;
mod rclone;
mod report;

use std::fmt;
use std::time::Duration;

use anyhow::ensure;
use bytes::Bytes;
use clap::Parser;
use integration_tests::bench::{
    self, CpuProbe, Floor, Measurement, RoundLog, Side, Transfer, Workload, WorkloadArgs, WorkloadDefaults,
};
use integration_tests::{Gateway, GatewayConfig, SeaweedRegion, random_bytes};

use crate::rclone::RcloneServer;
use crate::report::{Figure, Peer};

/// Names this bench's stderr lines, buckets and client credentials.
const BENCH: &str = "peerbench";

#[derive(Debug, Parser)]
#[command(about = "twinvault against direct, client-side dual writes and rclone serve s3 (crypt over union)")]
struct Args {
    /// Smoke run: 8 MiB objects, 2 of them, 200 small ops, 40 latency GETs, one round.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    workload: WorkloadArgs,
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
#[derive(Clone, Copy)]
pub struct Plan {
    pub workload: Workload,
    pub latency_gets: usize,
    pub latency_concurrency: usize,
    pub delay: Duration,
    pub rclone: bool,
}

impl Plan {
    fn from_args(args: &Args) -> anyhow::Result<Self> {
        let (defaults, latency_gets) = if args.quick {
            (WorkloadDefaults::new(8, 2, 200, 1), 40)
        } else {
            (WorkloadDefaults::new(64, 4, 2000, 3), 200)
        };
        let plan = Plan {
            workload: args.workload.resolve(defaults)?,
            latency_gets: args.latency_gets.unwrap_or(latency_gets),
            latency_concurrency: args.latency_concurrency,
            delay: Duration::from_millis(args.delay_ms),
            rclone: !args.no_rclone,
        };
        ensure!(
            plan.latency_gets > 0 && plan.latency_concurrency > 0,
            "--latency-gets and --latency-concurrency must be positive"
        );
        Ok(plan)
    }
}

/// Flat, as the `starting` line has always printed the plan.
impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Plan");
        self.workload.debug_fields(&mut out);
        out.field("latency_gets", &self.latency_gets)
            .field("latency_concurrency", &self.latency_concurrency)
            .field("delay", &self.delay)
            .field("rclone", &self.rclone)
            .finish()
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::from_args(&args)?;
    eprintln!("peerbench: starting two SeaweedFS regions and the gateway ({plan:?})");
    let (region_a, region_b) = bench::start_regions()?;
    let config = GatewayConfig::new(&region_a.target(), &region_b.target())
        .write_policy("all")
        .read_mode("hedged");
    let gateway = bench::start_gateway(BENCH, &config, "scripts/bench-peers.sh")?;
    let runtime = bench::runtime()?;
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
    eprintln!("peerbench: measuring the floor (openssl speed, memcpy)");
    let floor = Floor::measure();
    report::print(&plan, &figures, &latencies, rclone_missing.as_deref(), &floor);
    Ok(())
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
        (
            Peer::Direct,
            Side::create(BENCH, Peer::Direct.label(), &[&target_a]).await?,
        ),
        (
            Peer::ClientBoth,
            Side::create(BENCH, Peer::ClientBoth.label(), &[&target_a, &target_b]).await?,
        ),
    ];
    if let Some(server) = rclone {
        sides.push((
            Peer::Rclone,
            Side::create(BENCH, Peer::Rclone.label(), &[&server.target()]).await?,
        ));
    }
    let twinvault = Side::create(BENCH, Peer::Twinvault.label(), &[&gateway.target()]).await?;
    sides.push((Peer::Twinvault, twinvault));
    let large = Bytes::from(random_bytes(plan.workload.large_bytes));
    let small = Bytes::from(random_bytes(plan.workload.small_bytes));
    for (_, side) in &sides {
        eprintln!("peerbench: warm-up {}", side.label());
        side.warm_up(&large, &small, &plan.workload).await?;
    }
    let mut figures = Vec::new();
    for transfer in Transfer::ALL {
        let body = if transfer.is_large() { &large } else { &small };
        figures.push(run_phase(plan, cpu, transfer, &sides, body).await?);
    }
    Ok(figures)
}

/// `plan.workload.rounds` rounds of `transfer`, each running every side in turn; median per side.
async fn run_phase(
    plan: Plan,
    cpu: &CpuProbe,
    transfer: Transfer,
    sides: &[(Peer, Side)],
    body: &Bytes,
) -> anyhow::Result<Figure> {
    let name = transfer.name(&plan.workload);
    let log = RoundLog {
        bench: BENCH,
        phase: &name,
        unit: transfer.unit(),
    };
    let mut rounds: Vec<Vec<Measurement>> = vec![Vec::new(); sides.len()];
    let mut usage = vec![cpu.zero(); sides.len()];
    for round in 0..plan.workload.rounds {
        for (index, (_, side)) in sides.iter().enumerate() {
            log.start(side.label(), round);
            let before = cpu.sample();
            let measurement = side.transfer(transfer, round, body, &plan.workload).await?;
            cpu.accumulate(&mut usage[index], &before);
            log.done(side.label(), round, measurement.rate);
            rounds[index].push(measurement);
        }
    }
    let mut figure = Figure::new(name, transfer.unit(), cpu.labels());
    let work = transfer.work(&plan.workload).times(plan.workload.rounds);
    figure.set_cost(work, transfer.cpu_target());
    for (((peer, _), measured), usage) in sides.iter().zip(rounds).zip(usage) {
        figure.set(*peer, Measurement::median(measured), usage);
    }
    Ok(figure)
}
