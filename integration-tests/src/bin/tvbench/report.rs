//! Figures and the printed report: table, `ratio` lines, raw figures, CPU use, targets.

use integration_tests::bench::{CpuUsage, Floor, MIB, Measurement, Work, cost, millis_pair};

use crate::Plan;
use crate::gateway_io::GatewayTraffic;

/// The targets, as (figure, minimum ratio); checked only when the sizes match.
const TARGETS: [(&str, f64); 3] = [("get_64m", 0.8), ("put_64m", 0.5), ("get_4k", 0.6)];

/// Both sides' values of one figure.
#[derive(Debug)]
pub struct Figure {
    /// `put_64m`, `get_4k`, ...: operation and object size.
    pub name: String,
    pub unit: &'static str,
    pub direct: Measurement,
    pub twinvault: Measurement,
    /// Per side (direct, twinvault), summed over all rounds.
    pub cpu_seconds: [CpuUsage; 2],
    pub cpu_labels: Vec<&'static str>,
    /// What crossed the gateway on the twinvault side, summed over all rounds.
    pub gateway_traffic: GatewayTraffic,
    /// The work of all rounds of one side, for CPU per unit (`None`: not measured per unit).
    pub work: Option<Work>,
    /// The bound on the gateway's CPU per unit of `work`.
    pub cpu_target: Option<f64>,
}

impl Figure {
    pub fn ratio(&self) -> f64 {
        self.twinvault.rate / self.direct.rate
    }
}

pub fn print(plan: &Plan, figures: &[Figure], floor: &Floor) {
    println!(
        "workload: {}; {} sequential listings of {} x {} KiB keys; median of {} rounds",
        plan.workload.describe(),
        plan.lists,
        plan.list_keys,
        crate::list::LIST_OBJECT_BYTES / 1024,
        plan.workload.rounds
    );
    if plan.multipart {
        println!(
            "multipart: 1 x {} MiB in {} MiB parts, {} in flight, then a server-side CopyObject of it",
            plan.multipart_bytes / MIB,
            plan.part_bytes / MIB,
            plan.part_concurrency
        );
    }
    print_table(figures);
    for figure in figures {
        println!("ratio {} {:.3}", figure.name, figure.ratio());
    }
    for figure in figures {
        println!("raw {} direct {:.1} {}", figure.name, figure.direct.rate, figure.unit);
        println!(
            "raw {} twinvault {:.1} {}",
            figure.name, figure.twinvault.rate, figure.unit
        );
    }
    print_cpu(figures);
    print_gateway_io(plan, figures);
    print_targets(figures);
    print_cpu_per_unit(figures, floor);
}

/// `gateway_cpu_per` lines (twinvault side), `peer_cpu_per NAME seaweedfs_direct ...` (region
/// a's SeaweedFS serving the same work on the direct side), then the floor lines.
fn print_cpu_per_unit(figures: &[Figure], floor: &Floor) {
    for figure in figures {
        let (Some(work), Some(target)) = (figure.work, figure.cpu_target) else {
            continue;
        };
        let [direct, twinvault] = &figure.cpu_seconds;
        let labels = &figure.cpu_labels;
        let gateway = twinvault.of(labels, "gateway");
        let store = direct.of(labels, "weed_a");
        let lines = [
            gateway.and_then(|seconds| cost::gateway_line(&figure.name, seconds, work, target)),
            store.and_then(|seconds| cost::peer_line(&figure.name, "seaweedfs_direct", seconds, work)),
        ];
        for line in lines.into_iter().flatten() {
            println!("{line}");
        }
    }
    for line in floor.lines() {
        println!("{line}");
    }
}

/// `gateway_io NAME rounds=N sent_bytes=B upstream_calls=Op:n,...` (twinvault side, all
/// rounds): bytes the gateway process sent (to regions and client) and its upstream calls.
fn print_gateway_io(plan: &Plan, figures: &[Figure]) {
    let bytes = |value: Option<u64>| value.map_or("?".to_string(), |v| v.to_string());
    for figure in figures {
        let traffic = &figure.gateway_traffic;
        let calls: Vec<String> = traffic.calls.iter().map(|(op, n)| format!("{op}:{n}")).collect();
        println!(
            "gateway_io {} rounds={} sent_bytes={} upstream_calls={}",
            figure.name,
            plan.workload.rounds,
            bytes(traffic.sent_bytes),
            calls.join(",")
        );
    }
}

fn print_table(figures: &[Figure]) {
    println!(
        "{:<16} {:>10} {:>10} {:>7} {:>6}  {:>15}  {:>15}",
        "figure", "direct", "twinvault", "unit", "ratio", "p50 ms dir/tv", "p99 ms dir/tv"
    );
    for figure in figures {
        println!(
            "{:<16} {:>10.1} {:>10.1} {:>7} {:>6.3}  {:>15}  {:>15}",
            figure.name,
            figure.direct.rate,
            figure.twinvault.rate,
            figure.unit,
            figure.ratio(),
            millis_pair(figure.direct.p50, figure.twinvault.p50),
            millis_pair(figure.direct.p99, figure.twinvault.p99),
        );
    }
}

/// `cpu NAME SIDE wall=S client=S gateway=S weed_a=S weed_b=S` (seconds, all rounds; `?` where
/// `/proc` could not be read).
fn print_cpu(figures: &[Figure]) {
    for figure in figures {
        for (side, usage) in ["direct", "twinvault"].iter().zip(&figure.cpu_seconds) {
            println!("{}", usage.report_line(&figure.name, side, &figure.cpu_labels, "?"));
        }
    }
}

fn print_targets(figures: &[Figure]) {
    for (name, minimum) in TARGETS {
        if let Some(figure) = figures.iter().find(|figure| figure.name == name) {
            let verdict = if figure.ratio() >= minimum { "met" } else { "MISSED" };
            println!("target {name} >= {minimum}: {verdict} ({:.3})", figure.ratio());
            if let Some(line) = cpu_bound_line(figure, minimum) {
                println!("{line}");
            }
        }
    }
}

/// What the CPU figures say about a target when client, gateway and SeaweedFS share the
/// machine's cores: `busy` is each side's CPU seconds per wall second (the core count when
/// saturated); `estimate` the ratio if both sides are CPU-bound (direct CPU / twinvault CPU);
/// `ceiling` the ratio a gateway costing no CPU at all would reach; `gateway_budget` the CPU
/// seconds the gateway may use for the target to be met, against `gateway_used`.
fn cpu_bound_line(figure: &Figure, target: f64) -> Option<String> {
    let total = |usage: &CpuUsage| usage.cpu.iter().copied().sum::<Option<f64>>();
    let [direct, twinvault] = &figure.cpu_seconds;
    let (direct_cpu, twinvault_cpu) = (total(direct)?, total(twinvault)?);
    let gateway_index = figure.cpu_labels.iter().position(|label| *label == "gateway")?;
    let gateway = twinvault.cpu.get(gateway_index).copied().flatten()?;
    let others = twinvault_cpu - gateway;
    if direct.wall <= 0.0 || twinvault.wall <= 0.0 || twinvault_cpu <= 0.0 || others <= 0.0 {
        return None;
    }
    Some(format!(
        "cpu_bound {} busy_direct={:.2} busy_twinvault={:.2} estimate={:.3} ceiling={:.3} \
         gateway_budget={:.2} gateway_used={:.2}",
        figure.name,
        direct_cpu / direct.wall,
        twinvault_cpu / twinvault.wall,
        direct_cpu / twinvault_cpu,
        direct_cpu / others,
        direct_cpu / target - others,
        gateway
    ))
}
