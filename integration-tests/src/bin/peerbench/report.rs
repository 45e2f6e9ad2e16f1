//! Figures and the printed report: tables, `ratio` lines, raw figures, CPU use, targets.

use integration_tests::bench::{CpuUsage, Floor, MIB, Measurement, Work, cost, millis, millis_pair};

use crate::Plan;
use crate::latency::{self, LatencyFigure, LatencyRun};

/// The targets for twinvault, checked against the ratio of the same name.
const TARGETS: [Target; 4] = [
    Target::AtLeast("get_LARGE_vs_direct", 0.9),
    Target::AtLeast("put_LARGE_vs_client_both", 0.9),
    Target::AtLeast("get_SMALL_vs_direct", 0.8),
    Target::AtMost("hedged_get_p99_vs_fast_direct_p99", 1.2),
];

/// A bound on a ratio; `LARGE` and `SMALL` stand for the object sizes (`64m`, `4k`).
#[derive(Debug, Clone, Copy)]
enum Target {
    AtLeast(&'static str, f64),
    AtMost(&'static str, f64),
}

/// The four ways of storing an object, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Direct,
    ClientBoth,
    Rclone,
    Twinvault,
}

impl Peer {
    pub const ALL: [Peer; 4] = [Peer::Direct, Peer::ClientBoth, Peer::Rclone, Peer::Twinvault];

    pub fn label(self) -> &'static str {
        match self {
            Peer::Direct => "direct",
            Peer::ClientBoth => "client_both",
            Peer::Rclone => "rclone",
            Peer::Twinvault => "twinvault",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Every side's value of one throughput figure.
#[derive(Debug)]
pub struct Figure {
    /// `put_64m`, `get_4k`, ...: operation and object size.
    pub name: String,
    pub unit: &'static str,
    /// Indexed by [`Peer`]; `None` for a side left out of the run.
    sides: [Option<(Measurement, CpuUsage)>; 4],
    cpu_labels: Vec<&'static str>,
    /// The work of all rounds of one side and the bound on the gateway's CPU per unit of it.
    cost: Option<(Work, f64)>,
}

impl Figure {
    pub fn new(name: String, unit: &'static str, cpu_labels: Vec<&'static str>) -> Self {
        Figure {
            name,
            unit,
            sides: [None, None, None, None],
            cpu_labels,
            cost: None,
        }
    }

    /// Sets the work every side did (all rounds) and the gateway's CPU target per unit of it.
    pub fn set_cost(&mut self, work: Work, target: f64) {
        self.cost = Some((work, target));
    }

    /// Records `peer`'s median measurement and its CPU use summed over the rounds.
    pub fn set(&mut self, peer: Peer, measurement: Measurement, usage: CpuUsage) {
        self.sides[peer.index()] = Some((measurement, usage));
    }

    fn get(&self, peer: Peer) -> Option<&Measurement> {
        self.sides[peer.index()].as_ref().map(|(measurement, _)| measurement)
    }

    /// `numerator`'s rate ÷ `denominator`'s, if both were measured.
    fn ratio(&self, numerator: Peer, denominator: Peer) -> Option<f64> {
        Some(self.get(numerator)?.rate / self.get(denominator)?.rate)
    }

    fn is_put(&self) -> bool {
        self.name.starts_with("put_")
    }
}

pub fn print(plan: &Plan, figures: &[Figure], latency: &LatencyRun, rclone_missing: Option<&str>, floor: &Floor) {
    println!(
        "workload: {}; median of {} rounds",
        plan.workload.describe(),
        plan.workload.rounds
    );
    println!(
        "sides: direct = region a only; client_both = client PUTs to a and b in parallel, GETs from a; \
         rclone = rclone serve s3 > crypt > union(a, b; create/action policy all); \
         twinvault = write_policy all, read_mode hedged"
    );
    if let Some(reason) = rclone_missing {
        println!("rclone: not measured: {reason}");
    }
    print_table(figures);
    let ratios = ratios(figures, &latency.figures);
    print_latency(plan, latency);
    for (name, value) in &ratios {
        println!("ratio {name} {value:.3}");
    }
    print_raw(figures);
    print_cpu(figures);
    print_targets(plan, &ratios);
    print_cpu_per_unit(figures, floor);
}

/// `gateway_cpu_per` lines (twinvault's gateway), `peer_cpu_per` lines for the rclone server
/// and for region a's SeaweedFS serving the direct side, then the floor lines.
fn print_cpu_per_unit(figures: &[Figure], floor: &Floor) {
    for figure in figures {
        let Some((work, target)) = figure.cost else {
            continue;
        };
        let seconds = |peer: Peer, label: &str| {
            let (_, usage) = figure.sides[peer.index()].as_ref()?;
            usage.of(&figure.cpu_labels, label)
        };
        let name = &figure.name;
        let lines = [
            seconds(Peer::Twinvault, "gateway").and_then(|s| cost::gateway_line(name, s, work, target)),
            seconds(Peer::Rclone, "rclone").and_then(|s| cost::peer_line(name, "rclone", s, work)),
            seconds(Peer::Direct, "weed_a").and_then(|s| cost::peer_line(name, "seaweedfs_direct", s, work)),
        ];
        for line in lines.into_iter().flatten() {
            println!("{line}");
        }
    }
    for line in floor.lines() {
        println!("{line}");
    }
}

fn print_table(figures: &[Figure]) {
    println!(
        "{:<10} {:>9} {:>11} {:>9} {:>9} {:>6}  {:>7} {:>7} {:>7} {:>9} {:>10}",
        "figure",
        "direct",
        "client_both",
        "rclone",
        "twinvault",
        "unit",
        "tv/dir",
        "tv/both",
        "tv/rc",
        "rc/dir",
        "rc/both"
    );
    let rate = |figure: &Figure, peer| figure.get(peer).map_or("-".to_string(), |m| format!("{:.1}", m.rate));
    let ratio = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.3}"));
    for figure in figures {
        println!(
            "{:<10} {:>9} {:>11} {:>9} {:>9} {:>6}  {:>7} {:>7} {:>7} {:>9} {:>10}",
            figure.name,
            rate(figure, Peer::Direct),
            rate(figure, Peer::ClientBoth),
            rate(figure, Peer::Rclone),
            rate(figure, Peer::Twinvault),
            figure.unit,
            ratio(figure.ratio(Peer::Twinvault, Peer::Direct)),
            ratio(figure.ratio(Peer::Twinvault, Peer::ClientBoth)),
            ratio(figure.ratio(Peer::Twinvault, Peer::Rclone)),
            ratio(figure.ratio(Peer::Rclone, Peer::Direct)),
            ratio(figure.ratio(Peer::Rclone, Peer::ClientBoth)),
        );
    }
    for figure in figures
        .iter()
        .filter(|figure| figure.get(Peer::Direct).is_some_and(|m| m.p50.is_some()))
    {
        let mut line = format!("latency_ms {} p50/p99:", figure.name);
        for peer in Peer::ALL {
            if let Some(m) = figure.get(peer) {
                line.push_str(&format!(" {}={}", peer.label(), millis_pair(m.p50, m.p99)));
            }
        }
        println!("{line}");
    }
}

/// Every `ratio` line, in print order: twinvault's, then rclone's, then the latency ones.
fn ratios(figures: &[Figure], latency: &[LatencyFigure]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (peer, prefix) in [(Peer::Twinvault, ""), (Peer::Rclone, "rclone_")] {
        for figure in figures {
            let mut against = vec![(Peer::Direct, "direct")];
            if figure.is_put() {
                against.push((Peer::ClientBoth, "client_both"));
            }
            if peer == Peer::Twinvault {
                against.push((Peer::Rclone, "rclone"));
            }
            for (denominator, label) in against {
                if let Some(value) = figure.ratio(peer, denominator) {
                    out.push((format!("{prefix}{}_vs_{label}", figure.name), value));
                }
            }
        }
    }
    let find = |label: &str| latency.iter().find(|figure| figure.label == label);
    if let Some(fast) = find(latency::DIRECT_FAST) {
        let compared = [
            (latency::HEDGED, "hedged"),
            (latency::PRIMARY_SLOW, "primary_slow"),
            (latency::DIRECT_SLOW, "slow_direct"),
        ];
        for (label, name) in compared {
            if let Some(side) = find(label) {
                let p50 = side.p50.as_secs_f64() / fast.p50.as_secs_f64();
                let p99 = side.p99.as_secs_f64() / fast.p99.as_secs_f64();
                out.push((format!("{name}_get_p50_vs_fast_direct_p50"), p50));
                out.push((format!("{name}_get_p99_vs_fast_direct_p99"), p99));
            }
        }
    }
    out
}

fn print_latency(plan: &Plan, latency: &LatencyRun) {
    println!(
        "latency: {} KiB GETs with region a at +{} ms per answer chunk; {} GETs per round from {} tasks; \
         both gateways prefer region a; median of {} rounds",
        plan.workload.small_bytes / 1024,
        plan.delay.as_millis(),
        plan.latency_gets,
        plan.latency_concurrency,
        plan.workload.rounds
    );
    println!("{:<24} {:>8} {:>8}", "side", "p50 ms", "p99 ms");
    for figure in &latency.figures {
        println!(
            "{:<24} {:>8.1} {:>8.1}",
            figure.label,
            millis(figure.p50),
            millis(figure.p99)
        );
    }
    for series in &latency.hedged_served {
        println!("hedged_reads_served{series}");
    }
}

/// `raw NAME SIDE VALUE UNIT`.
fn print_raw(figures: &[Figure]) {
    for figure in figures {
        for peer in Peer::ALL {
            if let Some(m) = figure.get(peer) {
                println!("raw {} {} {:.1} {}", figure.name, peer.label(), m.rate, figure.unit);
            }
        }
    }
}

/// `cpu NAME SIDE wall=S client=S gateway=S rclone=S weed_a=S weed_b=S` (seconds, all rounds;
/// `-` where `/proc` could not be read, e.g. for rclone when it is left out).
fn print_cpu(figures: &[Figure]) {
    for figure in figures {
        for peer in Peer::ALL {
            if let Some((_, usage)) = &figure.sides[peer.index()] {
                println!(
                    "{}",
                    usage.report_line(&figure.name, peer.label(), &figure.cpu_labels, "-")
                );
            }
        }
    }
}

fn print_targets(plan: &Plan, ratios: &[(String, f64)]) {
    let sized = |name: &str| {
        name.replace("LARGE", &format!("{}m", plan.workload.large_bytes / MIB))
            .replace("SMALL", &format!("{}k", plan.workload.small_bytes / 1024))
    };
    for target in TARGETS {
        let (name, bound, at_least) = match target {
            Target::AtLeast(name, bound) => (sized(name), bound, true),
            Target::AtMost(name, bound) => (sized(name), bound, false),
        };
        let Some((_, value)) = ratios.iter().find(|(ratio, _)| *ratio == name) else {
            continue;
        };
        let (relation, met) = if at_least {
            (">=", *value >= bound)
        } else {
            ("<=", *value <= bound)
        };
        let verdict = if met { "met" } else { "MISSED" };
        println!("target {name} {relation} {bound}: {verdict} ({value:.3})");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rate(rate: f64) -> Measurement {
        Measurement::from_rate(rate)
    }

    fn usage() -> CpuUsage {
        CpuUsage {
            wall: 0.0,
            cpu: Vec::new(),
        }
    }

    #[test]
    fn ratios_name_twinvault_and_rclone_against_their_baselines() {
        let mut put = Figure::new("put_64m".into(), "MiB/s", Vec::new());
        put.set(Peer::Direct, rate(100.0), usage());
        put.set(Peer::ClientBoth, rate(50.0), usage());
        put.set(Peer::Rclone, rate(20.0), usage());
        put.set(Peer::Twinvault, rate(45.0), usage());
        let mut get = Figure::new("get_64m".into(), "MiB/s", Vec::new());
        get.set(Peer::Direct, rate(600.0), usage());
        get.set(Peer::Twinvault, rate(540.0), usage());
        let fast = LatencyFigure {
            label: latency::DIRECT_FAST,
            p50: Duration::from_millis(2),
            p99: Duration::from_millis(10),
        };
        let hedged = LatencyFigure {
            label: latency::HEDGED,
            p50: Duration::from_millis(3),
            p99: Duration::from_millis(12),
        };
        let all = ratios(&[put, get], &[fast, hedged]);
        let value = |name: &str| {
            all.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| (v * 1000.0).round() / 1000.0)
        };
        assert_eq!(value("put_64m_vs_client_both"), Some(0.9));
        assert_eq!(value("put_64m_vs_rclone"), Some(2.25));
        assert_eq!(value("get_64m_vs_direct"), Some(0.9));
        assert_eq!(value("rclone_put_64m_vs_client_both"), Some(0.4));
        assert_eq!(value("get_64m_vs_client_both"), None);
        assert_eq!(value("rclone_get_64m_vs_direct"), None);
        assert_eq!(value("hedged_get_p99_vs_fast_direct_p99"), Some(1.2));
        assert_eq!(value("primary_slow_get_p99_vs_fast_direct_p99"), None);
    }
}
