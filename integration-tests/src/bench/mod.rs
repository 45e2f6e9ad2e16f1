//! What the benchmark binaries (`tvbench`, `peerbench`, `repairbench`) share: start-up, the
//! S3 workloads, concurrent operation runners, CPU probes and the figures they report.
//!
//! The binaries own their command lines, their phase lists and their report layouts (those are
//! quoted in docs/BENCHMARKS.md); everything here is the machinery under them.
//!
//! Module map:
//! - [`startup`]: both SeaweedFS regions, the gateway, the tokio runtime
//! - [`workload`]: the shared CLI flags and plan of the object-transfer phases, and those phases
//! - [`side`]: one endpoint under test (an S3 client and a bucket) and the workloads run on it
//! - [`workers`]: N indexed operations spread over C concurrent tasks
//! - [`measurement`]: one phase's rate and latency percentiles, medians over rounds
//! - [`rounds`]: the `start`/`done` lines on stderr around each timed round
//! - [`cpu`]: CPU seconds per process from `/proc/PID/stat`
//! - [`cost`]: CPU per unit of work against its target, and the floor measured in the same run

pub mod cost;
pub mod cpu;
pub mod measurement;
pub mod rounds;
pub mod side;
pub mod startup;
pub mod workers;
pub mod workload;

pub use cost::{Floor, Work};
pub use cpu::{CpuProbe, CpuSample, CpuUsage};
pub use measurement::{Latencies, Measurement, millis, millis_pair, percentile};
pub use rounds::RoundLog;
pub use side::{LARGE_GET_PASSES, Op, Side};
pub use startup::{runtime, start_gateway, start_regions};
pub use workers::{IndexedOp, run_indexed};
pub use workload::{Transfer, Workload, WorkloadArgs, WorkloadDefaults};

/// Bytes in a MiB.
pub const MIB: usize = 1024 * 1024;
