//! The timed phases, in report order, with their figure names and units.

use bytes::Bytes;
use integration_tests::bench::{MIB, Measurement, Side, Transfer, Work};

use crate::Plan;

/// Gateway CPU per 1000-key listing page, in milliseconds: one upstream page parsed, each entry's
/// sizes and ETag rewritten, one page serialised (~2 µs per entry).
const LIST_PAGE_CPU_TARGET_MS: f64 = 2.0;

/// What one timed phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `put_64m`, `get_64m`, `put_4k`, `get_4k`: the transfers every bench runs.
    Transfer(Transfer),
    /// Full ListObjectsV2 pages over the objects [`crate::list::populate`] wrote.
    List,
    /// One large object as a multipart upload with concurrent parts ([`crate::multipart::put`]).
    MultipartPut,
    /// A server-side CopyObject of the object the multipart phase wrote.
    Copy,
}

impl Phase {
    /// Report order; each GET phase reads what the PUT phase of the same round wrote, and the
    /// copy phase copies what the multipart phase of the same round wrote.
    pub const ALL: [Phase; 9] = [
        Phase::Transfer(Transfer::PutLarge),
        Phase::Transfer(Transfer::PutLargeUnsigned),
        Phase::Transfer(Transfer::GetLarge),
        Phase::Transfer(Transfer::PutSmall),
        Phase::Transfer(Transfer::GetSmall),
        Phase::Transfer(Transfer::HeadSmall),
        Phase::List,
        Phase::MultipartPut,
        Phase::Copy,
    ];

    /// The phases `plan` asks for, in report order.
    pub fn selected(plan: Plan) -> Vec<Phase> {
        Self::ALL
            .into_iter()
            .filter(|phase| plan.multipart || !matches!(phase, Phase::MultipartPut | Phase::Copy))
            .collect()
    }

    pub fn is_large(self) -> bool {
        matches!(self, Phase::Transfer(transfer) if transfer.is_large())
    }

    /// `put_64m`, `get_4k`, `list_1000`, ...
    pub fn name(self, plan: Plan) -> String {
        match self {
            Phase::Transfer(transfer) => transfer.name(&plan.workload),
            Phase::List => format!("list_{}", plan.list_keys),
            Phase::MultipartPut => format!("multipart_put_{}", size_label(plan.multipart_bytes)),
            Phase::Copy => format!("copy_{}", size_label(plan.multipart_bytes)),
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Phase::Transfer(transfer) => transfer.unit(),
            Phase::MultipartPut | Phase::Copy => "MiB/s",
            Phase::List => "lists/s",
        }
    }

    /// The work one round of the phase does (copies: none; they move no object bytes through
    /// the gateway).
    pub fn work(self, plan: Plan) -> Option<Work> {
        match self {
            Phase::Transfer(transfer) => Some(transfer.work(&plan.workload)),
            Phase::List => Some(Work::Pages(plan.lists as u64)),
            Phase::MultipartPut => Some(Work::Bytes(plan.multipart_bytes as u64)),
            Phase::Copy => None,
        }
    }

    /// The bound on the gateway's CPU per unit of [`Self::work`] (issue #20; listing: this
    /// bench's own, see docs/BENCHMARKS.md); a multipart upload is bound like a signed PUT.
    pub fn cpu_target(self) -> Option<f64> {
        match self {
            Phase::Transfer(transfer) => Some(transfer.cpu_target()),
            Phase::List => Some(LIST_PAGE_CPU_TARGET_MS),
            Phase::MultipartPut => Some(Transfer::PutLarge.cpu_target()),
            Phase::Copy => None,
        }
    }

    /// Runs the phase once on `side`; round `round` uses its own keys.
    pub async fn measure(self, side: &Side, round: usize, body: &Bytes, plan: Plan) -> anyhow::Result<Measurement> {
        match self {
            Phase::Transfer(transfer) => side.transfer(transfer, round, body, &plan.workload).await,
            Phase::List => crate::list::measure(side, plan).await,
            Phase::MultipartPut => crate::multipart::put(side, plan, round, body).await,
            Phase::Copy => crate::multipart::copy(side, plan, round).await,
        }
    }
}

/// `1g` for whole GiB, else `64m`.
fn size_label(bytes: usize) -> String {
    const GIB: usize = 1024 * MIB;
    if bytes.is_multiple_of(GIB) {
        format!("{}g", bytes / GIB)
    } else {
        format!("{}m", bytes / MIB)
    }
}

#[cfg(test)]
mod tests {
    use integration_tests::bench::Workload;

    use super::*;

    #[test]
    fn phase_names_follow_the_sizes() {
        let plan = Plan {
            workload: Workload {
                large_bytes: 64 * MIB,
                large_objects: 1,
                small_bytes: 4096,
                small_ops: 1,
                concurrency: 1,
                rounds: 1,
            },
            list_keys: 1000,
            lists: 1,
            multipart: true,
            multipart_bytes: 1024 * MIB,
            part_bytes: 16 * MIB,
            part_concurrency: 8,
            memory: None,
        };
        let names: Vec<String> = Phase::ALL.iter().map(|phase| phase.name(plan)).collect();
        assert_eq!(
            names,
            [
                "put_64m",
                "put_64m_unsigned",
                "get_64m",
                "put_4k",
                "get_4k",
                "head_4k",
                "list_1000",
                "multipart_put_1g",
                "copy_1g"
            ]
        );
        let quick = Plan {
            multipart: false,
            multipart_bytes: 64 * MIB,
            ..plan
        };
        assert_eq!(Phase::MultipartPut.name(quick), "multipart_put_64m");
        assert_eq!(Phase::selected(quick).len(), 7);
    }
}
