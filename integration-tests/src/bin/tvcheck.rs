//! `tvcheck`: the Jepsen-style consistency check of issue #17.
//!
//! Starts two SeaweedFS regions (each behind a fault proxy) and two gateways with the same
//! config, runs K workers doing random PUT / conditional PUT / GET / HEAD / DELETE / LIST on a
//! few keys through either gateway while a nemesis kills, pauses, slows and cuts regions and
//! kills gateways, then heals everything, runs `twinvault repair`, reads the final state and
//! checks the history per key (see `integration_tests::consistency`).
//!
//! Prints the seed, ops per kind and outcome, faults per kind, anomalies per kind with
//! examples, and a last line `consistency: N anomalies`; exits 1 when N > 0. Run it with
//! `scripts/check-consistency.sh` (release builds).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use integration_tests::consistency::{FaultKind, RunConfig, run};

#[derive(Debug, Parser)]
#[command(about = "Jepsen-style consistency check of twinvault under faults")]
struct Args {
    /// Seconds the workers and the nemesis run.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seed of the workers' and nemesis' choices (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent workers.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Keys the workers share (few, so that operations collide).
    #[arg(long, default_value_t = 8)]
    keys: usize,
    /// The gateways' replication.write_policy.
    #[arg(long, default_value = "one", value_parser = ["one", "all"])]
    write_policy: String,
    /// The gateways' replication.read_mode.
    #[arg(long, default_value = "hedged", value_parser = ["hedged", "primary", "race"])]
    read_mode: String,
    /// The gateways' replication.preferred_region.
    #[arg(long, default_value = "a", value_parser = ["a", "b"])]
    preferred_region: String,
    /// Faults to inject, comma separated: kill-region, pause-region, kill-gateway, latency,
    /// cut; or all, or none.
    #[arg(long, default_value = "all")]
    nemesis: String,
    /// Client timeout of one operation in seconds (then its outcome is unknown).
    #[arg(long, default_value_t = 5)]
    op_timeout: u64,
    /// The gateways' replication.repair_interval_ms (0 = no background repair).
    #[arg(long, default_value_t = 1000)]
    repair_interval_ms: i64,
    /// Write the history (one operation per line), the faults and the final state here.
    #[arg(long)]
    history: Option<std::path::PathBuf>,
    /// Send no `If-None-Match: *` PUTs (to look at the other operations alone).
    #[arg(long)]
    no_conditional_puts: bool,
    /// A read through the other gateway may miss a change acknowledged this long ago at most
    /// (the gateways' journal poll, docs/CONSISTENCY.md); such reads are counted apart. 0 =
    /// every stale read is an anomaly.
    #[arg(long, default_value_t = 1000)]
    replica_bound_ms: u64,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut config = RunConfig::new(Duration::from_secs(args.duration), seed);
    config.workers = args.workers;
    config.keys = args.keys;
    config.write_policy = args.write_policy;
    config.read_mode = args.read_mode;
    config.preferred_region = args.preferred_region;
    config.nemesis = FaultKind::parse_list(&args.nemesis)?;
    config.op_timeout = Duration::from_secs(args.op_timeout.max(1));
    config.repair_interval_ms = args.repair_interval_ms;
    config.history_path = args.history;
    config.conditional_puts = !args.no_conditional_puts;
    config.replica_bound = Duration::from_millis(args.replica_bound_ms);
    let report = run(&config)?;
    println!("{report}");
    Ok(if report.anomalies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
