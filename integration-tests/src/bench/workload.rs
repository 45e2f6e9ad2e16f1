//! The object-transfer phases every throughput bench runs (`put_64m`, `get_64m`, `put_4k`,
//! `get_4k`): their CLI flags, their effective plan and the phases themselves.

use std::fmt;

use anyhow::ensure;

use crate::bench::MIB;
use crate::bench::cost::Work;
use crate::bench::side::{LARGE_GET_PASSES, Op};

/// The flags of the transfer workload; a bench flattens them into its own `Args` right after
/// `--quick`, which picks the defaults (see [`WorkloadArgs::resolve`]).
#[derive(Debug, Clone, clap::Args)]
pub struct WorkloadArgs {
    /// Size of each large object in MiB.
    #[arg(long)]
    pub size_mb: Option<usize>,
    /// Large objects written (and read 4 times) per side and round.
    #[arg(long)]
    pub objects: Option<usize>,
    /// Small-object operations per side and round (PUT, then GET of the same keys).
    #[arg(long)]
    pub ops: Option<usize>,
    /// Rounds per phase; each side reports the median of its rounds.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Size of each small object in KiB.
    #[arg(long, default_value_t = 4)]
    pub small_kb: usize,
    /// Concurrent tasks for the small-object phases.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// What the flags left unset default to (each bench has a quick and a full set).
#[derive(Debug, Clone, Copy)]
pub struct WorkloadDefaults {
    pub size_mb: usize,
    pub objects: usize,
    pub ops: usize,
    pub rounds: usize,
}

impl WorkloadDefaults {
    /// Defaults for `--size-mb`, `--objects`, `--ops` and `--rounds`, in that (the flags') order.
    pub const fn new(size_mb: usize, objects: usize, ops: usize, rounds: usize) -> Self {
        WorkloadDefaults {
            size_mb,
            objects,
            ops,
            rounds,
        }
    }
}

/// The effective transfer workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub large_bytes: usize,
    pub large_objects: usize,
    pub small_bytes: usize,
    pub small_ops: usize,
    pub concurrency: usize,
    pub rounds: usize,
}

/// The transfer phases, in report order; each GET and HEAD phase reads what the PUT phases of
/// the same round wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    PutLarge,
    /// The same PUTs with `UNSIGNED-PAYLOAD` (no SHA-256 of the body for the receiver to check):
    /// the gateway's cost without verifying a signed payload.
    PutLargeUnsigned,
    GetLarge,
    PutSmall,
    GetSmall,
    HeadSmall,
}

// === impl WorkloadArgs ===

impl WorkloadArgs {
    /// The workload with `defaults` for the unset flags; fails on a zero size or count.
    pub fn resolve(&self, defaults: WorkloadDefaults) -> anyhow::Result<Workload> {
        let workload = Workload {
            large_bytes: self.size_mb.unwrap_or(defaults.size_mb) * MIB,
            large_objects: self.objects.unwrap_or(defaults.objects),
            small_bytes: self.small_kb * 1024,
            small_ops: self.ops.unwrap_or(defaults.ops),
            concurrency: self.concurrency,
            rounds: self.rounds.unwrap_or(defaults.rounds),
        };
        ensure!(
            workload.large_bytes > 0 && workload.large_objects > 0 && workload.small_bytes > 0,
            "--size-mb, --objects and --small-kb must be positive"
        );
        ensure!(
            workload.small_ops > 0 && workload.concurrency > 0 && workload.rounds > 0,
            "--ops, --concurrency and --rounds must be positive"
        );
        Ok(workload)
    }
}

// === impl Workload ===

impl Workload {
    /// `N x S MiB sequential (GET: P passes); N x S KiB at C concurrent tasks`, the start of a
    /// report's `workload:` line.
    pub fn describe(&self) -> String {
        format!(
            "{} x {} MiB sequential (GET: {} passes); {} x {} KiB at {} concurrent tasks",
            self.large_objects,
            self.large_bytes / MIB,
            LARGE_GET_PASSES,
            self.small_ops,
            self.small_bytes / 1024,
            self.concurrency,
        )
    }

    /// Adds the fields to a bench's `Debug` of its plan, so the plan prints flat (`Plan {
    /// large_bytes: .., lists: .. }`), as its `starting` line on stderr always has.
    pub fn debug_fields(&self, out: &mut fmt::DebugStruct<'_, '_>) {
        out.field("large_bytes", &self.large_bytes)
            .field("large_objects", &self.large_objects)
            .field("small_bytes", &self.small_bytes)
            .field("small_ops", &self.small_ops)
            .field("concurrency", &self.concurrency)
            .field("rounds", &self.rounds);
    }
}

// === impl Transfer ===

impl Transfer {
    pub const ALL: [Transfer; 6] = [
        Transfer::PutLarge,
        Transfer::PutLargeUnsigned,
        Transfer::GetLarge,
        Transfer::PutSmall,
        Transfer::GetSmall,
        Transfer::HeadSmall,
    ];

    pub fn is_large(self) -> bool {
        matches!(
            self,
            Transfer::PutLarge | Transfer::PutLargeUnsigned | Transfer::GetLarge
        )
    }

    pub fn op(self) -> Op {
        match self {
            Transfer::PutLarge | Transfer::PutSmall => Op::Put,
            Transfer::PutLargeUnsigned => Op::PutUnsigned,
            Transfer::GetLarge | Transfer::GetSmall => Op::Get,
            Transfer::HeadSmall => Op::Head,
        }
    }

    /// `put_64m`, `put_64m_unsigned`, `get_4k`, `head_4k`, ...
    pub fn name(self, workload: &Workload) -> String {
        let (op, suffix) = match self.op() {
            Op::Put => ("put", ""),
            Op::PutUnsigned => ("put", "_unsigned"),
            Op::Get => ("get", ""),
            Op::Head => ("head", ""),
        };
        if self.is_large() {
            format!("{op}_{}m{suffix}", workload.large_bytes / MIB)
        } else {
            format!("{op}_{}k{suffix}", workload.small_bytes / 1024)
        }
    }

    /// The work one round of this transfer does, for CPU per unit of work.
    pub fn work(self, workload: &Workload) -> Work {
        if !self.is_large() {
            return Work::Requests(workload.small_ops as u64);
        }
        let passes = if self == Transfer::GetLarge {
            LARGE_GET_PASSES
        } else {
            1
        };
        Work::Bytes((workload.large_bytes * workload.large_objects * passes) as u64)
    }

    /// Issue #20's bound on the gateway's CPU per unit of this work: seconds per GiB for large
    /// objects, microseconds per request for small ones (HEAD: this bench's own, see
    /// docs/BENCHMARKS.md).
    pub fn cpu_target(self) -> f64 {
        match self {
            Transfer::PutLarge => 1.0,
            Transfer::PutLargeUnsigned => 0.6,
            Transfer::GetLarge => 0.5,
            Transfer::PutSmall => 120.0,
            Transfer::GetSmall => 60.0,
            Transfer::HeadSmall => 50.0,
        }
    }

    pub fn unit(self) -> &'static str {
        if self.is_large() { "MiB/s" } else { "ops/s" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> WorkloadArgs {
        WorkloadArgs {
            size_mb: None,
            objects: Some(3),
            ops: None,
            rounds: None,
            small_kb: 4,
            concurrency: 32,
        }
    }

    const DEFAULTS: WorkloadDefaults = WorkloadDefaults::new(64, 4, 4000, 3);

    #[test]
    fn flags_override_the_defaults_and_name_the_phases() {
        let workload = args().resolve(DEFAULTS).expect("a valid workload");
        assert_eq!((workload.large_bytes, workload.large_objects), (64 * MIB, 3));
        let names: Vec<String> = Transfer::ALL.iter().map(|phase| phase.name(&workload)).collect();
        assert_eq!(
            names,
            ["put_64m", "put_64m_unsigned", "get_64m", "put_4k", "get_4k", "head_4k"]
        );
        assert_eq!(
            workload.describe(),
            "3 x 64 MiB sequential (GET: 4 passes); 4000 x 4 KiB at 32 concurrent tasks"
        );
    }

    #[test]
    fn zero_counts_are_refused() {
        let zero_rounds = WorkloadArgs {
            rounds: Some(0),
            ..args()
        };
        let err = zero_rounds.resolve(DEFAULTS).expect_err("zero rounds");
        assert_eq!(err.to_string(), "--ops, --concurrency and --rounds must be positive");
    }
}
