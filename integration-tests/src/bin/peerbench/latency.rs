//! GET latency with one slow region: what hedged reads buy.
//!
//! Region `a` is reached through a [`FaultProxy`] that adds `plan.delay` to every answer; `b`
//! is direct. Two more gateways run on these regions with one shared config (same keyring and
//! user, so they read the same objects), both preferring the slow region `a`:
//! `twinvault_hedged` (`read_mode = "hedged"`) and `twinvault_primary_slow`
//! (`read_mode = "primary"`). The baseline `direct_fast` reads region `b` straight;
//! `direct_slow` reads region `a` through the proxy, to show what the slow region itself costs.
//! The proxy sleeps before relaying each chunk it reads from the region, so an answer that
//! arrives in two reads (headers, then body) is delayed twice.
//!
//! The objects are written before the delay is switched on. Each side then makes a few untimed
//! GETs (the hedged gateway learns which region answers faster, as it would have in service),
//! then `plan.workload.rounds` rounds of `plan.latency_gets` GETs from `plan.latency_concurrency` tasks;
//! p50 and p99 are each the median over the rounds.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use integration_tests::bench::{Op, Side, millis};
use integration_tests::{FaultProxy, Gateway, GatewayConfig, S3Target, SeaweedRegion, random_bytes};

use crate::{BENCH, Plan};

/// Untimed GETs per side after the delay is on.
const WARMUP_GETS: usize = 40;
/// Key prefix of the objects read.
const PREFIX: &str = "latency";

/// GET latency of one side: the medians over the rounds of each round's p50 and p99.
#[derive(Debug, Clone, Copy)]
pub struct LatencyFigure {
    pub label: &'static str,
    pub p50: Duration,
    pub p99: Duration,
}

/// Where the hedged gateway's reads were served from, from its metrics.
#[derive(Debug, Clone, Default)]
pub struct LatencyRun {
    pub figures: Vec<LatencyFigure>,
    /// `twinvault_reads_served_total` series of the hedged gateway, `labels value` per line.
    pub hedged_served: Vec<String>,
}

pub const DIRECT_FAST: &str = "direct_fast";
pub const DIRECT_SLOW: &str = "direct_slow";
pub const HEDGED: &str = "twinvault_hedged";
pub const PRIMARY_SLOW: &str = "twinvault_primary_slow";

/// Starts the proxy and both gateways, measures, and stops them again.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    plan: Plan,
    [region_a, region_b]: [&SeaweedRegion; 2],
) -> anyhow::Result<LatencyRun> {
    let proxy = FaultProxy::start(region_a.target().host_port()).context("start the proxy in front of region a")?;
    let base = GatewayConfig::new(&proxy.target(&region_a.target()), &region_b.target())
        .write_policy("all")
        .preferred_region("a");
    let hedged = base
        .clone()
        .read_mode("hedged")
        .start()
        .context("start the hedged gateway")?;
    let primary = base.read_mode("primary").start().context("start the primary gateway")?;
    eprintln!(
        "peerbench: latency gateways hedged pid {} primary pid {}",
        hedged.pid().unwrap_or_default(),
        primary.pid().unwrap_or_default()
    );
    let slow_a = proxy.target(&region_a.target());
    let figures = runtime.block_on(measure(plan, &proxy, [&slow_a, &region_b.target()], &hedged, &primary))?;
    Ok(LatencyRun {
        figures,
        hedged_served: served_series(&hedged),
    })
}

async fn measure(
    plan: Plan,
    proxy: &FaultProxy,
    [slow_a, region_b]: [&S3Target; 2],
    hedged: &Gateway,
    primary: &Gateway,
) -> anyhow::Result<Vec<LatencyFigure>> {
    let fast = Side::create(BENCH, DIRECT_FAST, &[region_b]).await?;
    let slow = Side::create(BENCH, DIRECT_SLOW, &[slow_a]).await?;
    let through_hedged = Side::create(BENCH, HEDGED, &[&hedged.target()]).await?;
    let through_primary = through_hedged.attach(PRIMARY_SLOW, &primary.target());
    let body = Bytes::from(random_bytes(plan.workload.small_bytes));
    let (keys, concurrency) = (plan.latency_gets, plan.latency_concurrency);
    for writer in [&fast, &slow, &through_hedged] {
        writer.small_phase(keys, concurrency, &body, PREFIX, Op::Put).await?;
    }
    proxy.set_delay(plan.delay);
    let sides = [fast, slow, through_hedged, through_primary];
    for side in &sides {
        eprintln!("peerbench: warm-up latency {}", side.label());
        side.small_phase(WARMUP_GETS.min(keys), concurrency, &body, PREFIX, Op::Get)
            .await?;
    }
    let mut rounds: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(Vec::new(), Vec::new()); sides.len()];
    for round in 0..plan.workload.rounds {
        for (side, (p50s, p99s)) in sides.iter().zip(&mut rounds) {
            eprintln!("peerbench: start latency {} round {round}", side.label());
            let measured = side.small_phase(keys, concurrency, &body, PREFIX, Op::Get).await?;
            let figure = measured.measurement();
            let (p50, p99) = (figure.p50.unwrap_or_default(), figure.p99.unwrap_or_default());
            eprintln!(
                "peerbench: done latency {} round {round}: p50 {:.1} ms p99 {:.1} ms",
                side.label(),
                millis(p50),
                millis(p99)
            );
            p50s.push(p50);
            p99s.push(p99);
        }
    }
    proxy.set_delay(Duration::ZERO);
    let figures = sides
        .iter()
        .zip(rounds)
        .map(|(side, (p50s, p99s))| LatencyFigure {
            label: side.label(),
            p50: median(p50s),
            p99: median(p99s),
        })
        .collect();
    Ok(figures)
}

/// The middle value (the upper of the middle two for an even count); zero for none.
fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The gateway's `twinvault_reads_served_total` lines, without the metric name; empty if the
/// admin port does not answer (the figures stand without them).
fn served_series(gateway: &Gateway) -> Vec<String> {
    const METRIC: &str = "twinvault_reads_served_total";
    match gateway.admin_get("/metrics") {
        Ok((200, body)) => body
            .lines()
            .filter_map(|line| line.strip_prefix(METRIC))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_rounds() {
        let ms = |v: &[u64]| v.iter().copied().map(Duration::from_millis).collect::<Vec<_>>();
        assert_eq!(median(ms(&[30, 10, 20])), Duration::from_millis(20));
        assert_eq!(median(ms(&[5])), Duration::from_millis(5));
        assert_eq!(median(Vec::new()), Duration::ZERO);
    }
}
