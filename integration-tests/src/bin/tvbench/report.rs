//! Figures and the printed report: table, `ratio` lines, raw figures, CPU use, targets.

use std::time::Duration;

use crate::cpu::CpuUsage;
use crate::gateway_io::GatewayTraffic;
use crate::{MIB, Plan};

/// The targets, as (figure, minimum ratio); checked only when the sizes match.
const TARGETS: [(&str, f64); 3] = [("get_64m", 0.8), ("put_64m", 0.5), ("get_4k", 0.6)];

/// One rate, plus per-request latency percentiles for the small-object phases.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    pub rate: f64,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
}

impl Measurement {
    /// The round with the median rate (the upper one of the middle two for an even count).
    ///
    /// # Panics
    /// If `rounds` is empty (a plan always has at least one round).
    pub fn median(mut rounds: Vec<Measurement>) -> Measurement {
        rounds.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        rounds[rounds.len() / 2]
    }
}

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
}

impl Figure {
    pub fn ratio(&self) -> f64 {
        self.twinvault.rate / self.direct.rate
    }
}

pub fn print(plan: &Plan, figures: &[Figure]) {
    println!(
        "workload: {} x {} MiB sequential (GET: {} passes); {} x {} KiB at {} concurrent tasks; \
         {} sequential listings of {} x {} KiB keys; median of {} rounds",
        plan.large_objects,
        plan.large_bytes / MIB,
        crate::side::LARGE_GET_PASSES,
        plan.small_ops,
        plan.small_bytes / 1024,
        plan.concurrency,
        plan.lists,
        plan.list_keys,
        crate::list::LIST_OBJECT_BYTES / 1024,
        plan.rounds
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
            plan.rounds,
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
            latency_pair(figure.direct.p50, figure.twinvault.p50),
            latency_pair(figure.direct.p99, figure.twinvault.p99),
        );
    }
}

/// `cpu NAME SIDE wall=S client=S gateway=S weed_a=S weed_b=S` (seconds, all rounds).
fn print_cpu(figures: &[Figure]) {
    for figure in figures {
        for (side, usage) in ["direct", "twinvault"].iter().zip(&figure.cpu_seconds) {
            let mut line = format!("cpu {} {side} wall={:.2}", figure.name, usage.wall);
            for (label, seconds) in figure.cpu_labels.iter().zip(&usage.cpu) {
                match seconds {
                    Some(seconds) => line.push_str(&format!(" {label}={seconds:.2}")),
                    None => line.push_str(&format!(" {label}=?")),
                }
            }
            println!("{line}");
        }
    }
}

fn print_targets(figures: &[Figure]) {
    for (name, minimum) in TARGETS {
        if let Some(figure) = figures.iter().find(|figure| figure.name == name) {
            let verdict = if figure.ratio() >= minimum { "met" } else { "MISSED" };
            println!("target {name} >= {minimum}: {verdict} ({:.3})", figure.ratio());
        }
    }
}

fn latency_pair(direct: Option<Duration>, twinvault: Option<Duration>) -> String {
    match (direct, twinvault) {
        (Some(d), Some(t)) => format!("{:.1}/{:.1}", millis(d), millis(t)),
        _ => "-".to_string(),
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(rate: f64) -> Measurement {
        Measurement {
            rate,
            p50: None,
            p99: None,
        }
    }

    #[test]
    fn median_picks_the_middle_round() {
        assert_eq!(Measurement::median(vec![rate(3.0), rate(1.0), rate(2.0)]).rate, 2.0);
        assert_eq!(Measurement::median(vec![rate(5.0)]).rate, 5.0);
    }
}
