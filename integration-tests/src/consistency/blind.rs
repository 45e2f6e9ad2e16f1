//! A directed run of the symptom, checked by the same checker as the random runs: two
//! gateways (policy "one", primary reads from region b) over two regions; through gateway 1,
//! a key is overwritten and another deleted while b is down; b comes back, and gateway 2 —
//! which sent nothing to b during the outage and learns of b's lag only from the journal —
//! reads both keys.
//!
//! A debug build of the gateway started with `TWINVAULT_DEBUG_BLIND_READS` reads lagging
//! regions blindly (as before issue #17): the checker must report the stale read and the
//! resurrected delete it gives, proof that it catches them. The gateway as built, read one
//! poll interval after b is back (the bound in docs/CONSISTENCY.md), must give nothing.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_s3::Client;

use super::checker::{self, Anomaly};
use super::history::{Op, OpKind, Outcome};
use super::run::{client, perform, restart_region};
use crate::bench::start_regions;
use crate::{GatewayConfig, SeaweedRegion, unique_bucket};

/// The gateway's debug-build switch (`gateway/src/replication/lag.rs`).
const BLIND_READS_ENV: &str = "TWINVAULT_DEBUG_BLIND_READS";

/// The regions of a scenario, kept across runs (each run uses a fresh bucket).
pub struct Regions {
    a: SeaweedRegion,
    b: SeaweedRegion,
}

impl Regions {
    pub fn start() -> anyhow::Result<Self> {
        let (a, b) = start_regions()?;
        Ok(Regions { a, b })
    }
}

/// Runs the scenario, gateway 2 reading `blind`ly or as built, `read_after` after region b
/// is back.
pub fn outage_then_read_through_another_replica(
    regions: &mut Regions,
    blind: bool,
    read_after: Duration,
) -> anyhow::Result<Scenario> {
    let config = GatewayConfig::new(&regions.a.target(), &regions.b.target())
        .write_policy("one")
        .read_mode("primary")
        .preferred_region("b")
        // No repair during the scenario: b stays behind until the reads are done.
        .set("replication.repair_interval_ms", 3_600_000_i64);
    let first = config.start().context("start gateway 1")?;
    let mut second = config.start().context("start gateway 2")?;
    if blind {
        // A debug build's switch: gateway 2 takes every region for current.
        second.set_env(BLIND_READS_ENV, "1");
        second.restart().context("restart gateway 2 reading blindly")?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("build the tokio runtime")?;
    let timeout = Duration::from_secs(10);
    let clients = [client(&first.target(), timeout), client(&second.target(), timeout)];
    let bucket = unique_bucket("blind");
    runtime
        .block_on(clients[0].create_bucket().bucket(&bucket).send())
        .context("create bucket")?;

    let mut history = History::new(&clients, &bucket);
    runtime.block_on(history.op(0, OpKind::Put, "index", Some("w0-1")));
    runtime.block_on(history.op(0, OpKind::Put, "old", Some("w0-2")));
    regions.b.kill();
    runtime.block_on(history.op(0, OpKind::Put, "index", Some("w0-3")));
    runtime.block_on(history.op(0, OpKind::Delete, "old", None));
    let unacknowledged = history.ops.iter().filter(|op| op.outcome != Outcome::Ok).count();
    anyhow::ensure!(
        unacknowledged == 0,
        "the writes during the outage were not all acknowledged: {:?}",
        history.ops
    );
    restart_region(&mut regions.b)?;
    std::thread::sleep(read_after);
    for kind in [OpKind::Get, OpKind::Head] {
        runtime.block_on(history.op(1, kind, "index", None));
        runtime.block_on(history.op(1, kind, "old", None));
    }
    runtime.block_on(history.op(1, OpKind::List, "", None));
    let anomalies = checker::check(&history.ops, None);
    // Which region gateway 2 read, and what it knew of the lag: for a failure's message.
    let (_, metrics) = second.admin_get("/metrics").unwrap_or_default();
    let diagnostics: Vec<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && (l.contains("reads_") || l.contains("lag")))
        .collect();
    Ok(Scenario {
        history: history.ops,
        anomalies,
        diagnostics: diagnostics.join("\n"),
    })
}

/// What a scenario did and what the checker found.
pub struct Scenario {
    pub history: Vec<Op>,
    pub anomalies: Vec<Anomaly>,
    /// Gateway 2's read and lag metrics after the reads.
    pub diagnostics: String,
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for op in &self.history {
            writeln!(f, "{}", op.describe())?;
        }
        for anomaly in &self.anomalies {
            writeln!(f, "anomaly {:?} {}: {}", anomaly.kind, anomaly.key, anomaly.detail)?;
        }
        write!(f, "{}", self.diagnostics)
    }
}

/// The operations of a scenario, one after another, timed from its start.
struct History<'a> {
    clients: &'a [Client; 2],
    bucket: &'a str,
    start: Instant,
    ops: Vec<Op>,
}

impl<'a> History<'a> {
    fn new(clients: &'a [Client; 2], bucket: &'a str) -> Self {
        History {
            clients,
            bucket,
            start: Instant::now(),
            ops: Vec::new(),
        }
    }

    /// One operation through gateway `gateway` (0 or 1), recorded.
    async fn op(&mut self, gateway: usize, kind: OpKind, key: &str, written: Option<&str>) {
        let invoke = self.start.elapsed();
        let (outcome, read, error) = perform(&self.clients[gateway], self.bucket, kind, key, written).await;
        self.ops.push(Op {
            worker: 0,
            gateway,
            kind,
            key: key.to_owned(),
            written: written.map(str::to_owned),
            read,
            invoke,
            complete: self.start.elapsed(),
            outcome,
            error,
        });
    }
}
