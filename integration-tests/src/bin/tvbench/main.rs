//! `tvbench`: twinvault versus one SeaweedFS, same workload, same client.
//!
//! Starts two SeaweedFS regions and the gateway (`write_policy = "all"`, `read_mode = "primary"`)
//! with the integration-test harness, then runs each workload straight against region `a`
//! ("direct") and through the gateway ("twinvault"):
//!
//! - `put_64m` / `get_64m`: N large objects one after another (GET reads each 4 times), MiB/s;
//! - `put_4k` / `get_4k`: small objects from C concurrent tasks, ops/s;
//! - `list_1000`: sequential ListObjectsV2 calls, each returning a full page of 1000 keys (1 KiB
//!   objects written once per side beforehand), listings/s;
//! - `multipart_put_1g`: one 1 GiB object as a multipart upload of 16 MiB parts, 8 in flight,
//!   MiB/s; `copy_1g`: a server-side CopyObject of it, MiB/s (`--no-multipart` skips both).
//!
//! Every phase runs in rounds that alternate direct and twinvault, and each side's figure is
//! the median of its rounds, so drift of the (shared, small) machine hits both sides alike.
//! Both sides use the same aws-sdk-s3 client setup (path style, SigV4, checksums only when
//! required), so the ratio `twinvault ÷ direct` isolates the gateway's cost.
//!
//! `--memory-mb N` runs the memory bound instead ([`memory`]): 16 concurrent streamed PUTs of
//! N MiB, then 16 GETs, and the gateway's peak RSS against issue #20's 128 MiB.
//!
//! Output: a table, `ratio NAME VALUE` lines, `raw NAME SIDE VALUE UNIT` lines, CPU seconds per
//! process and phase (`cpu ...`), what crossed the gateway per phase (`gateway_io ...`: bytes
//! its process sent, upstream calls), the targets, and the gateway's CPU per unit of
//! work against issue #20's targets with the floor measured in the same run
//! ([`integration_tests::bench::cost`]). Run it with `scripts/bench.sh`
//! (release builds; see docs/BENCHMARKS.md).

mod gateway_io;
mod list;
mod memory;
mod multipart;
mod phase;
mod report;

use std::fmt;

use anyhow::{Context, ensure};
use bytes::Bytes;
use clap::Parser;
use integration_tests::bench::{
    self, CpuProbe, Floor, MIB, Measurement, RoundLog, Side, Workload, WorkloadArgs, WorkloadDefaults,
};
use integration_tests::{GatewayConfig, S3Target, random_bytes};

use crate::gateway_io::{GatewayProbe, GatewayTraffic};
use crate::memory::MemoryLoad;
use crate::phase::Phase;
use crate::report::Figure;

/// Names this bench's stderr lines, buckets and client credentials.
const BENCH: &str = "tvbench";

#[derive(Debug, Parser)]
#[command(about = "Throughput of twinvault versus one SeaweedFS, same workload and client")]
// tvbench's own wording of two shared flags, as its --help has always read (clap drops the
// final period of a doc comment, so these have none).
#[command(mut_arg("objects", |arg| arg.help("Large objects written and read per side and round")))]
#[command(mut_arg("concurrency", |arg| {
    arg.help("Concurrent tasks for the small-object phases (and for writing the objects to list)")
}))]
struct Args {
    /// Smoke run: 8 MiB objects, 2 of them, 400 small ops, 10 listings, a 64 MiB multipart
    /// upload of 8 MiB parts, one round.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Objects of 1 KiB listed per ListObjectsV2 page (at most 1000, one page).
    #[arg(long, default_value_t = list::MAX_PAGE_KEYS)]
    list_keys: usize,
    /// Sequential listings per side and round.
    #[arg(long)]
    lists: Option<usize>,
    /// Skip the multipart upload and copy phases.
    #[arg(long)]
    no_multipart: bool,
    /// Size of the multipart-uploaded (and then copied) object in MiB.
    #[arg(long)]
    multipart_mb: Option<usize>,
    /// Part size of the multipart upload in MiB (at least 5).
    #[arg(long)]
    part_mb: Option<usize>,
    /// Bytes added to every part (e.g. 1: parts that are not whole 64 KiB segments, which
    /// twinvault seals again at completion).
    #[arg(long, default_value_t = 0)]
    part_extra_bytes: usize,
    /// Parts uploaded at once.
    #[arg(long, default_value_t = 8)]
    part_concurrency: usize,
    /// Run only the memory bound instead of the phases: `--memory-concurrency` streamed PUTs of
    /// this many MiB each through the gateway, then as many GETs, and the gateway's peak RSS.
    #[arg(long)]
    memory_mb: Option<usize>,
    /// Concurrent transfers of the memory bound.
    #[arg(long, default_value_t = 16)]
    memory_concurrency: usize,
}

/// The effective workload after applying `--quick` and the overrides.
#[derive(Clone, Copy)]
pub struct Plan {
    pub workload: Workload,
    pub list_keys: usize,
    pub lists: usize,
    pub multipart: bool,
    pub multipart_bytes: usize,
    pub part_bytes: usize,
    pub part_concurrency: usize,
    /// The memory bound instead of the phases.
    pub memory: Option<MemoryLoad>,
}

impl Plan {
    fn from_args(args: &Args) -> anyhow::Result<Self> {
        let (defaults, lists, multipart_mb, part_mb) = if args.quick {
            (WorkloadDefaults::new(8, 2, 400, 1), 10, 64, 8)
        } else {
            (WorkloadDefaults::new(64, 4, 4000, 3), 50, 1024, 16)
        };
        let plan = Plan {
            workload: args.workload.resolve(defaults)?,
            list_keys: args.list_keys,
            lists: args.lists.unwrap_or(lists),
            multipart: !args.no_multipart,
            multipart_bytes: args.multipart_mb.unwrap_or(multipart_mb) * MIB,
            part_bytes: args.part_mb.unwrap_or(part_mb) * MIB + args.part_extra_bytes,
            part_concurrency: args.part_concurrency,
            memory: args.memory_mb.map(|mb| MemoryLoad {
                bytes: mb * MIB,
                concurrency: args.memory_concurrency,
            }),
        };
        ensure!(
            plan.memory.is_none_or(|load| load.bytes > 0 && load.concurrency > 0),
            "--memory-mb and --memory-concurrency must be positive"
        );
        ensure!(
            (1..=list::MAX_PAGE_KEYS).contains(&plan.list_keys) && plan.lists > 0,
            "--list-keys must be 1..={} (one page) and --lists positive",
            list::MAX_PAGE_KEYS
        );
        ensure!(
            plan.part_bytes >= 5 * MIB && plan.multipart_bytes > 0 && plan.part_concurrency > 0,
            "--part-mb must be at least 5, --multipart-mb and --part-concurrency positive"
        );
        ensure!(
            plan.multipart_bytes.div_ceil(plan.part_bytes) <= 10_000,
            "--multipart-mb / --part-mb must not exceed 10000 parts"
        );
        Ok(plan)
    }
}

/// Flat, as the `starting` line has always printed the plan.
impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Plan");
        self.workload.debug_fields(&mut out);
        out.field("list_keys", &self.list_keys)
            .field("lists", &self.lists)
            .field("multipart", &self.multipart)
            .field("multipart_bytes", &self.multipart_bytes)
            .field("part_bytes", &self.part_bytes)
            .field("part_concurrency", &self.part_concurrency)
            .field("memory", &self.memory)
            .finish()
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::from_args(&args)?;
    eprintln!("tvbench: starting two SeaweedFS regions and the gateway ({plan:?})");
    let (region_a, region_b) = bench::start_regions()?;
    let config = GatewayConfig::new(&region_a.target(), &region_b.target())
        .write_policy("all")
        .read_mode("primary");
    let gateway = bench::start_gateway(BENCH, &config, "scripts/bench.sh")?;
    let cpu = CpuProbe::new([
        ("client", Some(std::process::id())),
        ("gateway", gateway.pid()),
        ("weed_a", region_a.pid()),
        ("weed_b", region_b.pid()),
    ]);

    let runtime = bench::runtime()?;
    if let Some(load) = plan.memory {
        let pid = gateway.pid().context("the gateway's pid")?;
        return runtime.block_on(async {
            let side = Side::create(BENCH, "twinvault", &[&gateway.target()]).await?;
            memory::run(&side, pid, load).await
        });
    }
    let probe = GatewayProbe::new(&gateway);
    let figures = runtime.block_on(run(plan, &cpu, &probe, &region_a.target(), &gateway.target()))?;
    eprintln!("tvbench: measuring the floor (openssl speed, memcpy)");
    let floor = Floor::measure();
    report::print(&plan, &figures, &floor);
    Ok(())
}

/// Warms both sides up and writes the objects to list, then runs every phase and returns the figures in report order.
async fn run(
    plan: Plan,
    cpu: &CpuProbe,
    probe: &GatewayProbe<'_>,
    direct: &S3Target,
    gateway: &S3Target,
) -> anyhow::Result<Vec<Figure>> {
    let sides = [
        Side::create(BENCH, "direct", &[direct]).await?,
        Side::create(BENCH, "twinvault", &[gateway]).await?,
    ];
    let large = Bytes::from(random_bytes(plan.workload.large_bytes));
    let small = Bytes::from(random_bytes(plan.workload.small_bytes));
    for side in &sides {
        side.warm_up(&large, &small, &plan.workload).await?;
        list::populate(side, plan).await?;
    }
    let parts = if plan.multipart {
        Bytes::from(random_bytes(plan.part_bytes * multipart::POOL_PARTS))
    } else {
        Bytes::new()
    };
    let mut figures = Vec::new();
    for phase in Phase::selected(plan) {
        let body = match phase {
            Phase::MultipartPut | Phase::Copy => &parts,
            _ if phase.is_large() => &large,
            _ => &small,
        };
        figures.push(run_phase(plan, (cpu, probe), phase, &sides, body).await?);
    }
    Ok(figures)
}

/// `plan.workload.rounds` rounds of `phase`, each running direct then twinvault; median per side.
async fn run_phase(
    plan: Plan,
    (cpu, probe): (&CpuProbe, &GatewayProbe<'_>),
    phase: Phase,
    sides: &[Side; 2],
    body: &Bytes,
) -> anyhow::Result<Figure> {
    let name = phase.name(plan);
    let log = RoundLog {
        bench: BENCH,
        phase: &name,
        unit: phase.unit(),
    };
    let mut rounds: [Vec<Measurement>; 2] = [Vec::new(), Vec::new()];
    let mut cpu_seconds = [cpu.zero(), cpu.zero()];
    let mut gateway_traffic = GatewayTraffic::zero();
    for round in 0..plan.workload.rounds {
        for (index, side) in sides.iter().enumerate() {
            log.start(side.label(), round);
            let through_gateway = (index == 1).then(|| probe.sample());
            let before = cpu.sample();
            let measurement = phase.measure(side, round, body, plan).await?;
            cpu.accumulate(&mut cpu_seconds[index], &before);
            if let Some(sample) = &through_gateway {
                probe.accumulate(&mut gateway_traffic, sample);
            }
            log.done(side.label(), round, measurement.rate);
            rounds[index].push(measurement);
        }
    }
    let [direct, twinvault] = rounds.map(Measurement::median);
    Ok(Figure {
        work: phase.work(plan).map(|work| work.times(plan.workload.rounds)),
        cpu_target: phase.cpu_target(),
        name,
        unit: phase.unit(),
        direct,
        twinvault,
        cpu_seconds,
        cpu_labels: cpu.labels(),
        gateway_traffic,
    })
}
