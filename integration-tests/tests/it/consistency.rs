//! The short form of the consistency check (issue #17; the long one is
//! `scripts/check-consistency.sh --duration 600`): two gateways over the same two regions,
//! four workers on eight keys, a nemesis killing, pausing, slowing and cutting regions and
//! killing gateways, then `twinvault repair` and the per-key check of the history and the
//! final state (see `integration_tests::consistency`).
//!
//! Policy "one" with primary reads from region b is the setting where a lagging region is read
//! blindly: b misses the writes acknowledged while it was down, and once it is back the
//! gateway must not serve its stale copies. The report is printed in full either way.

use std::time::Duration;

use integration_tests::consistency::{AnomalyKind, Outcome, RunConfig, blind, run};

/// Fixed, so a failure can be rerun as `scripts/check-consistency.sh --seed 17 ...`.
const SEED: u64 = 17;
/// Operations the workers complete at least, faults and a debug build included.
const MIN_OPS: usize = 200;

// In the test command since session 9: the 600-second runs of the final build found 0
// anomalies with policy one, primary reads from b (seed 23) and hedged reads (seed 7);
// docs/CONSISTENCY.md, "Long runs". Reads through the other gateway within the replica bound
// (1 s) are counted apart, as the contract allows.
#[test]
fn concurrent_clients_under_faults_see_no_stale_reads_lost_writes_or_diverged_regions() {
    let mut config = RunConfig::new(Duration::from_secs(35), SEED);
    config.write_policy = "one".into();
    config.read_mode = "primary".into();
    config.preferred_region = "b".into();
    // TVCHECK_HISTORY=FILE keeps the whole history for a closer look at an anomaly.
    config.history_path = std::env::var_os("TVCHECK_HISTORY").map(Into::into);
    eprintln!(
        "consistency: seed {SEED}; rerun long with: scripts/check-consistency.sh --duration 600 --seed {SEED} \
         --write-policy one --read-mode primary --preferred-region b"
    );
    let report = run(&config).expect("consistency run");
    println!("{report}");
    assert!(
        report.ops() >= MIN_OPS,
        "only {} operations completed (expected at least {MIN_OPS})\n{report}",
        report.ops()
    );
    assert!(!report.faults.is_empty(), "the nemesis injected no fault\n{report}");
    assert!(
        report.anomalies.is_empty(),
        "{} anomalies (seed {SEED}):\n{report}",
        report.anomalies.len()
    );
}

/// The symptom (overwrite and delete through gateway 1 while region b is down, b back,
/// read at once) read through gateway 2. A debug build switched to read lagging regions
/// blindly gives a stale read and a resurrected delete, and the checker reports both; the
/// gateway as built, read at once, gives nothing the checker objects to.
#[test]
fn the_checker_catches_a_replica_reading_a_lagging_region_blindly_and_the_gateway_as_built_gives_it_nothing() {
    let mut regions = blind::Regions::start().expect("regions");
    let blind = blind::outage_then_read_through_another_replica(&mut regions, true, Duration::ZERO).expect("blind run");
    let found = |kind| blind.anomalies.iter().any(|a| a.kind == kind);
    assert!(
        found(AnomalyKind::StaleRead) && found(AnomalyKind::ResurrectedDelete),
        "the checker missed what a blind replica read:\n{blind}"
    );

    let polling =
        blind::outage_then_read_through_another_replica(&mut regions, false, Duration::ZERO).expect("run as built");
    assert!(polling.anomalies.is_empty(), "{polling}");
    assert!(
        polling.history.iter().all(|op| op.outcome == Outcome::Ok),
        "every read answered, not refused:\n{polling}"
    );
}
