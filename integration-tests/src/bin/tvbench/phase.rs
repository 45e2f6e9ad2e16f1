//! The timed phases, in report order, with their figure names and units.

use crate::{MIB, Plan};

/// What one timed phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    PutLarge,
    GetLarge,
    PutSmall,
    GetSmall,
    /// Full ListObjectsV2 pages over the objects [`crate::list::populate`] wrote.
    List,
}

impl Phase {
    /// Report order; each GET phase reads what the PUT phase of the same round wrote.
    pub const ALL: [Phase; 5] = [
        Phase::PutLarge,
        Phase::GetLarge,
        Phase::PutSmall,
        Phase::GetSmall,
        Phase::List,
    ];

    pub fn is_large(self) -> bool {
        matches!(self, Phase::PutLarge | Phase::GetLarge)
    }

    /// `put_64m`, `get_4k`, `list_1000`, ...
    pub fn name(self, plan: Plan) -> String {
        let op = match self {
            Phase::PutLarge | Phase::PutSmall => "put",
            Phase::GetLarge | Phase::GetSmall => "get",
            Phase::List => return format!("list_{}", plan.list_keys),
        };
        if self.is_large() {
            format!("{op}_{}m", plan.large_bytes / MIB)
        } else {
            format!("{op}_{}k", plan.small_bytes / 1024)
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Phase::PutLarge | Phase::GetLarge => "MiB/s",
            Phase::PutSmall | Phase::GetSmall => "ops/s",
            Phase::List => "lists/s",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_names_follow_the_sizes() {
        let plan = Plan {
            large_bytes: 64 * MIB,
            large_objects: 1,
            small_bytes: 4096,
            small_ops: 1,
            concurrency: 1,
            rounds: 1,
            list_keys: 1000,
            lists: 1,
        };
        let names: Vec<String> = Phase::ALL.iter().map(|phase| phase.name(plan)).collect();
        assert_eq!(names, ["put_64m", "get_64m", "put_4k", "get_4k", "list_1000"]);
    }
}
