//! The two regions as one: which to read first, and writing the same ciphertext to both.

mod fanout;

use std::future::Future;
use std::sync::Arc;

pub use fanout::{FanoutOutcome, RegionBody, ReplicatedPut, fan_out, fan_out_put};

use crate::config::{Config, WritePolicy};
use crate::metrics::Metrics;
use crate::upstream::{Upstream, UpstreamError, UpstreamErrorKind};

/// Both upstream regions and the policies that govern them.
#[derive(Clone, Debug)]
pub struct Regions {
    upstreams: [Upstream; 2],
    preferred: usize,
    write_policy: WritePolicy,
    metrics: Arc<Metrics>,
}

impl Regions {
    /// Clients for the configured regions.
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> Self {
        let timeout = config.replication.upstream_timeout;
        let upstreams = [
            Upstream::new(&config.regions[0], timeout, Arc::clone(&metrics)),
            Upstream::new(&config.regions[1], timeout, Arc::clone(&metrics)),
        ];
        let preferred = usize::from(config.regions[1].name == config.replication.preferred_region);
        let write_policy = config.replication.write_policy;
        Self {
            upstreams,
            preferred,
            write_policy,
            metrics,
        }
    }

    fn served(&self, region: &Upstream, outcome: &str) {
        self.metrics
            .reads_served
            .with_label_values(&[region.name(), outcome])
            .inc();
    }

    /// Both regions, in configuration order.
    pub fn all(&self) -> &[Upstream; 2] {
        &self.upstreams
    }

    /// The regions in the order reads try them.
    pub fn read_order(&self) -> [&Upstream; 2] {
        [&self.upstreams[self.preferred], &self.upstreams[1 - self.preferred]]
    }

    /// Index of the preferred region in [`Self::all`].
    pub fn preferred_index(&self) -> usize {
        self.preferred
    }

    /// The write policy.
    pub fn write_policy(&self) -> WritePolicy {
        self.write_policy
    }

    /// Runs a read on the preferred region, and on the other if the first fails or does not
    /// have the object (its copy may still be on its way).
    pub async fn read<'a, T, F, Fut>(&'a self, op: F) -> Result<T, UpstreamError>
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let [first, second] = self.read_order();
        let first_err = match op(first).await {
            Ok(out) => {
                self.served(first, "first");
                return Ok(out);
            }
            Err(e) if !fails_over(e.kind) => return Err(e),
            Err(e) => e,
        };
        tracing::debug!(
            region = first.name(),
            kind = first_err.kind.as_str(),
            "read failing over"
        );
        match op(second).await {
            Ok(out) => {
                self.served(second, "failover");
                Ok(out)
            }
            // A definite "absent" from one side beats "unreachable" from the other.
            Err(e) if first_err.kind.is_not_found() && !e.kind.is_not_found() => Err(first_err),
            Err(e) => Err(e),
        }
    }

    /// Runs `op` on both regions concurrently and returns both results, in configuration order.
    pub async fn on_both<'a, T, F, Fut>(&'a self, op: F) -> [Result<T, UpstreamError>; 2]
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let (a, b) = tokio::join!(op(&self.upstreams[0]), op(&self.upstreams[1]));
        [a, b]
    }
}

/// Whether a read error on one region should be retried on the other.
fn fails_over(kind: UpstreamErrorKind) -> bool {
    !matches!(
        kind,
        UpstreamErrorKind::PreconditionFailed | UpstreamErrorKind::NotModified | UpstreamErrorKind::InvalidRange
    )
}

/// Combines the two results of a replicated write under the write policy: all must succeed;
/// the first failure (preferring one that is not "unavailable", as it is more specific) is returned.
pub fn both_ok<T>(results: [Result<T, UpstreamError>; 2]) -> Result<[T; 2], UpstreamError> {
    match results {
        [Ok(a), Ok(b)] => Ok([a, b]),
        [Err(a), Err(b)] if a.kind == UpstreamErrorKind::Unavailable => Err(b),
        [Err(e), _] | [_, Err(e)] => Err(e),
    }
}
