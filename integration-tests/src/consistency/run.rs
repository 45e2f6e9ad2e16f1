//! The live run: two SeaweedFS regions, each behind a [`FaultProxy`], two gateways with the same
//! config over them, K workers issuing random operations on a few keys through either gateway,
//! and a nemesis injecting one fault at a time. Then everything is healed, `twinvault repair`
//! runs, the final state is read through both gateways and straight from both regions, and the
//! history is checked (see [`super::checker`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::checker::{self, Anomaly, AnomalyKind, FinalState, RawCopy};
use super::history::{Op, OpKind, Outcome, Read, value_for};
use crate::bench::start_regions;
use crate::{FaultProxy, Gateway, GatewayConfig, S3Target, SeaweedRegion, md5_hex, unique_bucket};

/// User metadata holding the value a PUT wrote (what a HEAD reads back).
pub const META_VALUE: &str = "tvcheck-value";
/// Examples printed per anomaly kind.
const EXAMPLES: usize = 5;
/// Pause between operations of one worker (random, up to this), so the workers interleave.
const MAX_THINK: Duration = Duration::from_millis(20);
/// Pause after an operation with an unknown outcome (a gateway down refuses at once).
const BACKOFF_AFTER_UNKNOWN: Duration = Duration::from_millis(100);
/// Attempts of each final read, one second apart.
const FINAL_READ_ATTEMPTS: u32 = 15;
/// `twinvault repair` passes at most, until both regions hold the same copies.
const REPAIR_PASSES: usize = 3;
/// Time for requests the gateways still work on after the clients gave up, before repair.
const SETTLE: Duration = Duration::from_secs(3);
const REPAIR_TIMEOUT: Duration = Duration::from_secs(300);
/// Attempts to restart a region or gateway the nemesis took down.
const RESTART_ATTEMPTS: u32 = 3;

/// The faults the nemesis picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// SIGKILL a region, wait 1-4 s, start it again on the same data.
    KillRegion,
    /// SIGSTOP a region for 1-4 s, then SIGCONT.
    PauseRegion,
    /// SIGKILL one gateway, wait 0.5-2 s, start it again.
    KillGateway,
    /// 100-1500 ms added to every answer chunk of one region's proxy for 2-5 s.
    Latency,
    /// One region's proxy drops new connections or cuts requests/answers mid-stream for 1-3 s.
    Cut,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::KillRegion,
        FaultKind::PauseRegion,
        FaultKind::KillGateway,
        FaultKind::Latency,
        FaultKind::Cut,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillRegion => "kill-region",
            FaultKind::PauseRegion => "pause-region",
            FaultKind::KillGateway => "kill-gateway",
            FaultKind::Latency => "latency",
            FaultKind::Cut => "cut",
        }
    }

    /// Parses a comma list (`kill-region,pause-region`); `all` = every kind, `none` = none.
    pub fn parse_list(text: &str) -> anyhow::Result<Vec<FaultKind>> {
        let mut kinds = BTreeSet::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => kinds.extend(FaultKind::ALL),
                "none" => {}
                _ => {
                    kinds.insert(part.parse()?);
                }
            }
        }
        Ok(kinds.into_iter().collect())
    }
}

impl FromStr for FaultKind {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        FaultKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .with_context(|| {
                let names: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown fault {s:?} (one of {}, all, none)", names.join(", "))
            })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// How long the workers and the nemesis run.
    pub duration: Duration,
    /// Seeds the workers' and the nemesis' choices (timing still varies between runs).
    pub seed: u64,
    pub workers: usize,
    /// Keys `k0..k{keys-1}`, few so that operations collide.
    pub keys: usize,
    pub write_policy: String,
    pub read_mode: String,
    pub preferred_region: String,
    pub nemesis: Vec<FaultKind>,
    /// Client-side limit of one operation (then its outcome is unknown).
    pub op_timeout: Duration,
    /// The gateways' `replication.repair_interval_ms` (the background repair loop).
    pub repair_interval_ms: i64,
    /// Where to write the history (one operation per line, by invocation), the faults and
    /// the final state, for a closer look at an anomaly.
    pub history_path: Option<PathBuf>,
    /// Whether workers send `If-None-Match: *` PUTs (decided by one region for both:
    /// docs/CONSISTENCY.md, "Conditional writes"; a 412 that one region stored anyway would
    /// show as an impossible read).
    pub conditional_puts: bool,
    /// How long after a change acknowledged through one gateway a read through the other
    /// may still miss it (the replica bound of docs/CONSISTENCY.md: its journal poll). Such
    /// reads are counted apart, not as anomalies; zero counts them as anomalies.
    pub replica_bound: Duration,
}

impl RunConfig {
    /// 4 workers, 8 keys, policy "one", hedged reads preferring a, every fault, 5 s timeouts.
    pub fn new(duration: Duration, seed: u64) -> Self {
        RunConfig {
            duration,
            seed,
            workers: 4,
            keys: 8,
            write_policy: "one".into(),
            read_mode: "hedged".into(),
            preferred_region: "a".into(),
            nemesis: FaultKind::ALL.to_vec(),
            op_timeout: Duration::from_secs(5),
            repair_interval_ms: 1000,
            history_path: None,
            conditional_puts: true,
            replica_bound: Duration::from_secs(1),
        }
    }

    fn gateway_config(&self, a: &S3Target, b: &S3Target) -> GatewayConfig {
        GatewayConfig::new(a, b)
            .write_policy(&self.write_policy)
            .read_mode(&self.read_mode)
            .preferred_region(&self.preferred_region)
            .set("replication.repair_interval_ms", self.repair_interval_ms)
            .set("replication.write_timeout_ms", 2000_i64)
            .set("replication.upstream_timeout_ms", 3000_i64)
            .set("replication.breaker_failures", 3_i64)
            .set("replication.breaker_cooldown_ms", 500_i64)
    }
}

/// One fault the nemesis injected.
#[derive(Clone, Debug)]
pub struct FaultEvent {
    pub kind: FaultKind,
    /// `region a`, `gateway 2`, ...
    pub target: String,
    /// The parameters picked (`300 ms`, `cut answers after 700 B`, ...).
    pub what: String,
    pub start: Duration,
    pub end: Duration,
    /// Set when healing it failed (e.g. a region that did not come back in time).
    pub error: Option<String>,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct Report {
    pub config: RunConfig,
    pub history: Vec<Op>,
    pub faults: Vec<FaultEvent>,
    pub final_state: FinalState,
    pub anomalies: Vec<Anomaly>,
    /// Stale reads through the other gateway within [`RunConfig::replica_bound`].
    pub within_bound: Vec<Anomaly>,
    /// `twinvault repair` passes run until the regions agreed (or [`REPAIR_PASSES`]).
    pub repair_passes: usize,
    /// The last pass's summary line.
    pub repair_summary: String,
    pub elapsed: Duration,
}

impl Report {
    pub fn ops(&self) -> usize {
        self.history.len()
    }

    pub fn count(&self, kind: OpKind, outcome: Option<Outcome>) -> usize {
        self.history
            .iter()
            .filter(|op| op.kind == kind && outcome.is_none_or(|o| op.outcome == o))
            .count()
    }

    pub fn anomalies_of(&self, kind: AnomalyKind) -> usize {
        self.anomalies.iter().filter(|a| a.kind == kind).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let nemesis: Vec<_> = c.nemesis.iter().map(|k| k.name()).collect();
        writeln!(
            f,
            "consistency: seed {} duration {}s workers {} keys {} write_policy {} read_mode {} preferred_region {} nemesis {}",
            c.seed,
            c.duration.as_secs(),
            c.workers,
            c.keys,
            c.write_policy,
            c.read_mode,
            c.preferred_region,
            if nemesis.is_empty() {
                "none".into()
            } else {
                nemesis.join(",")
            }
        )?;
        writeln!(f, "ops: {} done in {:.1} s", self.ops(), self.elapsed.as_secs_f64())?;
        for kind in OpKind::ALL {
            let counts: Vec<_> = Outcome::ALL
                .iter()
                .map(|&o| format!("{} {}", o.name(), self.count(kind, Some(o))))
                .collect();
            writeln!(
                f,
                "  {:<14} {:>6} ({})",
                kind.name(),
                self.count(kind, None),
                counts.join(", ")
            )?;
        }
        let outcomes: Vec<_> = Outcome::ALL
            .iter()
            .map(|&o| {
                format!(
                    "{} {}",
                    o.name(),
                    self.history.iter().filter(|op| op.outcome == o).count()
                )
            })
            .collect();
        writeln!(f, "outcomes: {}", outcomes.join(", "))?;
        writeln!(f, "faults: {} injected", self.faults.len())?;
        for kind in FaultKind::ALL {
            let n = self.faults.iter().filter(|e| e.kind == kind).count();
            writeln!(f, "  {:<14} {n:>6}", kind.name())?;
        }
        for event in self.faults.iter().filter(|e| e.error.is_some()) {
            writeln!(
                f,
                "  fault {} on {} at {:.1}s did not heal cleanly: {}",
                event.kind,
                event.target,
                event.start.as_secs_f64(),
                event.error.as_deref().unwrap_or_default()
            )?;
        }
        writeln!(
            f,
            "repair: {} pass(es), last: {}",
            self.repair_passes, self.repair_summary
        )?;
        writeln!(
            f,
            "stale through the other gateway within the replica bound ({} ms): {}",
            c.replica_bound.as_millis(),
            self.within_bound.len()
        )?;
        for read in self.within_bound.iter().take(EXAMPLES) {
            writeln!(f, "    - {}: {}", read.key, read.detail)?;
        }
        writeln!(f, "anomalies:")?;
        for (kind, n) in checker::count_by_kind(&self.anomalies) {
            writeln!(f, "  {:<18} {n:>6}", kind.name())?;
            for anomaly in self.anomalies.iter().filter(|a| a.kind == kind).take(EXAMPLES) {
                writeln!(f, "    - {}: {}", anomaly.key, anomaly.detail)?;
            }
        }
        write!(f, "consistency: {} anomalies", self.anomalies.len())
    }
}

/// The processes of a run. Dropping it kills them all (the harness types kill on drop).
struct Cluster {
    // Drop order: gateways, proxies, regions.
    gateways: [Gateway; 2],
    proxies: [FaultProxy; 2],
    regions: [SeaweedRegion; 2],
}

/// Runs the whole check (see the module docs) and returns its report; `Err` only when the
/// cluster could not be started or healed, never for anomalies.
pub fn run(config: &RunConfig) -> anyhow::Result<Report> {
    anyhow::ensure!(
        config.workers > 0 && config.keys > 0,
        "workers and keys must be positive"
    );
    let began = Instant::now();
    eprintln!("tvcheck: seed {} (rerun with --seed {})", config.seed, config.seed);
    let (region_a, region_b) = start_regions()?;
    let proxies = [
        FaultProxy::start(region_a.target().host_port()).context("proxy for region a")?,
        FaultProxy::start(region_b.target().host_port()).context("proxy for region b")?,
    ];
    let gateway_config = config.gateway_config(
        &proxies[0].target(&region_a.target()),
        &proxies[1].target(&region_b.target()),
    );
    let gateways = [
        gateway_config.start().context("start gateway 1")?,
        gateway_config.start().context("start gateway 2")?,
    ];
    let mut cluster = Cluster {
        gateways,
        proxies,
        regions: [region_a, region_b],
    };
    eprintln!(
        "tvcheck: regions a {} b {}, gateways {} {} (binary {})",
        cluster.regions[0].endpoint(),
        cluster.regions[1].endpoint(),
        cluster.gateways[0].endpoint(),
        cluster.gateways[1].endpoint(),
        Gateway::try_binary()?.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("build the tokio runtime")?;
    let gateway_clients = cluster
        .gateways
        .each_ref()
        .map(|g| client(&g.target(), config.op_timeout));
    let region_clients = cluster
        .regions
        .each_ref()
        .map(|r| client(&r.target(), config.op_timeout));
    let bucket = unique_bucket("tvcheck");
    runtime
        .block_on(gateway_clients[0].create_bucket().bucket(&bucket).send())
        .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))
        .with_context(|| format!("create bucket {bucket}"))?;

    let start = Instant::now();
    let deadline = start + config.duration;
    eprintln!(
        "tvcheck: running {} workers on {} keys for {:?}, nemesis {:?}",
        config.workers, config.keys, config.duration, config.nemesis
    );
    let (history, faults) = std::thread::scope(|scope| {
        let cluster = &mut cluster;
        let nemesis = scope.spawn(move || nemesis(cluster, config, start, deadline));
        let history = runtime.block_on(run_workers(config, &gateway_clients, &bucket, start, deadline));
        let faults = nemesis.join().unwrap_or_else(|_| {
            eprintln!("tvcheck: the nemesis thread panicked");
            Vec::new()
        });
        (history, faults)
    });
    eprintln!(
        "tvcheck: {} ops, {} faults; healing, then repair",
        history.len(),
        faults.len()
    );

    heal(&mut cluster)?;
    std::thread::sleep(SETTLE);
    let mut repair_passes = 0;
    let mut repair_summary = String::new();
    let mut regions = [BTreeMap::new(), BTreeMap::new()];
    while repair_passes < REPAIR_PASSES {
        repair_passes += 1;
        repair_summary = repair(&cluster.gateways[0])?;
        regions = runtime.block_on(raw_states(&region_clients, &bucket))?;
        if regions[0] == regions[1] {
            break;
        }
        eprintln!("tvcheck: regions still differ after repair pass {repair_passes}");
        std::thread::sleep(Duration::from_secs(2));
    }

    let at = start.elapsed();
    let mut final_state = FinalState {
        at,
        regions,
        ..FinalState::default()
    };
    for (index, client) in gateway_clients.iter().enumerate() {
        let label = format!("gw{}", index + 1);
        let mut reads = BTreeMap::new();
        for key in (0..config.keys).map(key_name) {
            match runtime.block_on(final_read(client, &bucket, &key)) {
                Ok(value) => {
                    reads.insert(key, value);
                }
                Err(error) => final_state.unreadable.push((label.clone(), key, error)),
            }
        }
        final_state.reads.push((label, reads));
    }
    let checked = checker::check_bounded(&history, Some(&final_state), config.replica_bound);
    if let Some(path) = &config.history_path {
        write_history(path, &history, &faults, &final_state)?;
        eprintln!("tvcheck: history written to {}", path.display());
        // The gateways' logs (repair and lag decisions) beside it: FILE.gw1.log, FILE.gw2.log.
        for (index, gateway) in cluster.gateways.iter().enumerate() {
            let copy = path.with_extension(format!("gw{}.log", index + 1));
            if let Err(e) = std::fs::copy(gateway.log_path(), &copy) {
                eprintln!("tvcheck: gateway log not kept: {e}");
            }
        }
    }
    Ok(Report {
        config: config.clone(),
        history,
        faults,
        final_state,
        anomalies: checked.anomalies,
        within_bound: checked.within_bound,
        repair_passes,
        repair_summary,
        elapsed: began.elapsed(),
    })
}

/// The history, the faults and the final state as text, one entry per line.
fn write_history(
    path: &std::path::Path,
    history: &[Op],
    faults: &[FaultEvent],
    state: &FinalState,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for event in faults {
        text.push_str(&format!(
            "fault {} on {} ({}) [{:.3}s, {:.3}s]{}\n",
            event.kind,
            event.target,
            event.what,
            event.start.as_secs_f64(),
            event.end.as_secs_f64(),
            event.error.as_ref().map(|e| format!(" error: {e}")).unwrap_or_default()
        ));
    }
    for op in history {
        let error = op.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
        text.push_str(&format!("{}{error}\n", op.describe()));
    }
    for (label, reads) in &state.reads {
        text.push_str(&format!("final {label} at {:.3}s: {reads:?}\n", state.at.as_secs_f64()));
    }
    for (name, copies) in ["a", "b"].iter().zip(&state.regions) {
        text.push_str(&format!("final region {name}: {copies:?}\n"));
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

fn key_name(index: usize) -> String {
    format!("k{index}")
}

/// A path-style client with no retries (a retried conditional PUT could turn its own success
/// into a 412) and `op_timeout` per operation.
pub(super) fn client(target: &S3Target, op_timeout: Duration) -> Client {
    let config = crate::sdk::sdk_config(target)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_timeout(op_timeout)
                .build(),
        )
        .build();
    Client::from_conf(config)
}

async fn run_workers(
    config: &RunConfig,
    clients: &[Client; 2],
    bucket: &str,
    start: Instant,
    deadline: Instant,
) -> Vec<Op> {
    let tasks = (0..config.workers).map(|worker| {
        let seed = config
            .seed
            .wrapping_add((worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        worker_loop(worker, seed, config, clients, bucket, start, deadline)
    });
    let mut history: Vec<Op> = futures::future::join_all(tasks).await.into_iter().flatten().collect();
    history.sort_by_key(|op| op.invoke);
    history
}

async fn worker_loop(
    worker: usize,
    seed: u64,
    config: &RunConfig,
    clients: &[Client; 2],
    bucket: &str,
    start: Instant,
    deadline: Instant,
) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ops = Vec::new();
    let mut seq = 0u64;
    while Instant::now() < deadline {
        let gateway = rng.random_range(0..2);
        let kind = match pick_kind(&mut rng) {
            OpKind::PutIfAbsent if !config.conditional_puts => OpKind::Put,
            kind => kind,
        };
        let key = if kind == OpKind::List {
            String::new()
        } else {
            key_name(rng.random_range(0..config.keys))
        };
        let written = kind.is_write().then(|| {
            seq += 1;
            value_for(worker, seq)
        });
        let invoke = start.elapsed();
        let attempt = perform(&clients[gateway], bucket, kind, &key, written.as_deref());
        let (outcome, read, error) =
            match tokio::time::timeout(config.op_timeout + Duration::from_secs(1), attempt).await {
                Ok(result) => result,
                Err(_) => (Outcome::Unknown, None, Some("client timeout".into())),
            };
        let complete = start.elapsed();
        ops.push(Op {
            worker,
            gateway,
            kind,
            key,
            written,
            read,
            invoke,
            complete,
            outcome,
            error,
        });
        let pause = if outcome == Outcome::Unknown {
            BACKOFF_AFTER_UNKNOWN
        } else {
            MAX_THINK.mul_f64(rng.random::<f64>())
        };
        tokio::time::sleep(pause).await;
    }
    ops
}

fn pick_kind(rng: &mut StdRng) -> OpKind {
    match rng.random_range(0..100) {
        0..25 => OpKind::Put,
        25..33 => OpKind::PutIfAbsent,
        33..58 => OpKind::Get,
        58..70 => OpKind::Head,
        70..85 => OpKind::Delete,
        _ => OpKind::List,
    }
}

pub(super) type Attempt = (Outcome, Option<Read>, Option<String>);

/// Sends one operation and classifies its answer.
pub(super) async fn perform(client: &Client, bucket: &str, kind: OpKind, key: &str, value: Option<&str>) -> Attempt {
    match kind {
        OpKind::Put | OpKind::PutIfAbsent => {
            let value = value.unwrap_or_default();
            let mut request = client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(value.as_bytes().to_vec()))
                .metadata(META_VALUE, value);
            if kind == OpKind::PutIfAbsent {
                request = request.if_none_match("*");
            }
            match request.send().await {
                Ok(_) => (Outcome::Ok, None, None),
                Err(err) if kind == OpKind::PutIfAbsent && status(&err) == Some(412) => {
                    (Outcome::Failed, None, Some("412 PreconditionFailed".into()))
                }
                Err(err) => unknown(&err),
            }
        }
        OpKind::Get => match client.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => match out.body.collect().await {
                Ok(body) => {
                    let text = String::from_utf8_lossy(&body.into_bytes()).into_owned();
                    (Outcome::Ok, Some(Read::Value(Some(text))), None)
                }
                Err(err) => (Outcome::Unknown, None, Some(format!("body: {err}"))),
            },
            Err(err) if status(&err) == Some(404) => (Outcome::Ok, Some(Read::Value(None)), None),
            Err(err) => unknown(&err),
        },
        OpKind::Head => match client.head_object().bucket(bucket).key(key).send().await {
            Ok(out) => {
                let value = out
                    .metadata()
                    .and_then(|meta| meta.get(META_VALUE))
                    .cloned()
                    .unwrap_or_else(|| format!("<no {META_VALUE} metadata, etag {:?}>", out.e_tag()));
                (Outcome::Ok, Some(Read::Value(Some(value))), None)
            }
            Err(err) if status(&err) == Some(404) => (Outcome::Ok, Some(Read::Value(None)), None),
            Err(err) => unknown(&err),
        },
        OpKind::Delete => match client.delete_object().bucket(bucket).key(key).send().await {
            Ok(_) => (Outcome::Ok, None, None),
            Err(err) => unknown(&err),
        },
        OpKind::List => match list_keys(client, bucket).await {
            Ok(keys) => (Outcome::Ok, Some(Read::Keys(keys)), None),
            Err(error) => (Outcome::Unknown, None, Some(error)),
        },
    }
}

fn status<E, R>(err: &SdkError<E, R>) -> Option<u16>
where
    R: HttpStatus,
{
    err.raw_response().map(HttpStatus::status_code)
}

/// The HTTP status of a raw SDK response (lets [`status`] stay generic over operations).
trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn unknown<E, R>(err: &SdkError<E, R>) -> Attempt
where
    E: std::error::Error + 'static,
    R: HttpStatus + fmt::Debug,
{
    let text = match status(err) {
        Some(code) => format!("HTTP {code}: {}", DisplayErrorContext(err)),
        None => format!("{}", DisplayErrorContext(err)),
    };
    (Outcome::Unknown, None, Some(text.chars().take(300).collect()))
}

/// Every key of `bucket` (ListObjectsV2, all pages).
async fn list_keys(client: &Client, bucket: &str) -> Result<BTreeSet<String>, String> {
    let mut keys = BTreeSet::new();
    let mut token = None;
    for _ in 0..1000 {
        let out = client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|err| format!("{}", DisplayErrorContext(err)))?;
        keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        token = out.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok(keys);
        }
    }
    Err("more than 1000 listing pages".into())
}

/// The nemesis: until `deadline`, every 1-3 s one fault on a random region, proxy or gateway,
/// healed before the next.
fn nemesis(cluster: &mut Cluster, config: &RunConfig, start: Instant, deadline: Instant) -> Vec<FaultEvent> {
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x6E65_6D65_7369_7321);
    let mut events = Vec::new();
    if config.nemesis.is_empty() {
        return events;
    }
    loop {
        let wait = Duration::from_millis(rng.random_range(1000..3000));
        if Instant::now() + wait >= deadline {
            break;
        }
        std::thread::sleep(wait);
        let kind = config.nemesis[rng.random_range(0..config.nemesis.len())];
        let which = rng.random_range(0..2);
        let begin = start.elapsed();
        let (target, what, result) = inject(cluster, kind, which, &mut rng);
        let event = FaultEvent {
            kind,
            target,
            what,
            start: begin,
            end: start.elapsed(),
            error: result.err().map(|e| format!("{e:#}")),
        };
        eprintln!(
            "tvcheck: fault {} on {} ({}) at {:.1}s-{:.1}s{}",
            event.kind,
            event.target,
            event.what,
            event.start.as_secs_f64(),
            event.end.as_secs_f64(),
            event.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
        );
        events.push(event);
    }
    events
}

fn millis(rng: &mut StdRng, range: std::ops::Range<u64>) -> Duration {
    Duration::from_millis(rng.random_range(range))
}

/// Injects one fault and heals it again; returns (target, parameters, healing result).
fn inject(
    cluster: &mut Cluster,
    kind: FaultKind,
    which: usize,
    rng: &mut StdRng,
) -> (String, String, anyhow::Result<()>) {
    let region = ["region a", "region b"][which].to_owned();
    match kind {
        FaultKind::KillRegion => {
            let down = millis(rng, 1000..4000);
            cluster.regions[which].kill();
            std::thread::sleep(down);
            let result = restart_region(&mut cluster.regions[which]);
            (region, format!("down {down:?}"), result)
        }
        FaultKind::PauseRegion => {
            let paused = millis(rng, 1000..4000);
            cluster.regions[which].pause();
            std::thread::sleep(paused);
            cluster.regions[which].resume();
            (region, format!("paused {paused:?}"), Ok(()))
        }
        FaultKind::KillGateway => {
            let down = millis(rng, 500..2000);
            cluster.gateways[which].kill();
            std::thread::sleep(down);
            let result = restart_gateway(&mut cluster.gateways[which]);
            (format!("gateway {}", which + 1), format!("down {down:?}"), result)
        }
        FaultKind::Latency => {
            let (delay, lasting) = (millis(rng, 100..1500), millis(rng, 2000..5000));
            cluster.proxies[which].set_delay(delay);
            std::thread::sleep(lasting);
            cluster.proxies[which].set_delay(Duration::ZERO);
            (
                format!("proxy of {region}"),
                format!("+{delay:?} for {lasting:?}"),
                Ok(()),
            )
        }
        FaultKind::Cut => {
            let lasting = millis(rng, 1000..3000);
            let fault = match rng.random_range(0..3) {
                0 => crate::Fault::Drop,
                1 => crate::Fault::CutAfter(rng.random_range(50..1000)),
                _ => crate::Fault::CutResponseAfter(rng.random_range(50..2000)),
            };
            cluster.proxies[which].set_fault(fault);
            std::thread::sleep(lasting);
            cluster.proxies[which].set_fault(crate::Fault::None);
            (
                format!("proxy of {region}"),
                format!("{fault:?} for {lasting:?}"),
                Ok(()),
            )
        }
    }
}

pub(super) fn restart_region(region: &mut SeaweedRegion) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..RESTART_ATTEMPTS {
        match region.restart() {
            Ok(()) => return Ok(()),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no restart attempted")))
        .with_context(|| format!("restart region {}", region.name()))
}

fn restart_gateway(gateway: &mut Gateway) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..RESTART_ATTEMPTS {
        match gateway.restart() {
            Ok(()) => return Ok(()),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no restart attempted"))).context("restart gateway")
}

/// Ends every fault: regions resumed and running, proxies faithful, gateways running.
fn heal(cluster: &mut Cluster) -> anyhow::Result<()> {
    for proxy in &cluster.proxies {
        proxy.set_fault(crate::Fault::None);
        proxy.set_delay(Duration::ZERO);
    }
    for region in &mut cluster.regions {
        region.resume();
        if !region.is_running() {
            restart_region(region)?;
        }
    }
    for gateway in &mut cluster.gateways {
        if !gateway.is_running() {
            restart_gateway(gateway)?;
        }
    }
    Ok(())
}

/// Runs `twinvault repair --config <gateway's config>`; returns its last summary line.
fn repair(gateway: &Gateway) -> anyhow::Result<String> {
    let bin = Gateway::try_binary()?;
    if !bin.is_file() {
        bail!("gateway binary {} not found", bin.display());
    }
    let mut cmd = Command::new(&bin);
    cmd.arg("repair").arg("--config").arg(gateway.config_path());
    let out = crate::command::run(cmd, None, REPAIR_TIMEOUT);
    if !out.success() {
        bail!("twinvault repair failed\n{out}");
    }
    let stdout = out.stdout_str();
    Ok(stdout
        .lines()
        .rev()
        .find(|line| line.contains("repair done"))
        .or_else(|| stdout.lines().rev().find(|line| !line.trim().is_empty()))
        .unwrap_or("(no output)")
        .trim()
        .to_owned())
}

/// Both regions' raw copies of every object of `bucket` (retried: a region just restarted).
async fn raw_states(clients: &[Client; 2], bucket: &str) -> anyhow::Result<[BTreeMap<String, RawCopy>; 2]> {
    let mut states = [BTreeMap::new(), BTreeMap::new()];
    for (state, client) in states.iter_mut().zip(clients) {
        let mut last = String::new();
        let mut done = false;
        for _ in 0..FINAL_READ_ATTEMPTS {
            match raw_state(client, bucket).await {
                Ok(copies) => {
                    *state = copies;
                    done = true;
                    break;
                }
                Err(err) => last = err,
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if !done {
            bail!("cannot read a region's copies of {bucket}: {last}");
        }
    }
    Ok(states)
}

async fn raw_state(client: &Client, bucket: &str) -> Result<BTreeMap<String, RawCopy>, String> {
    let mut copies = BTreeMap::new();
    for key in list_keys(client, bucket).await? {
        let out = client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|err| format!("GET {key}: {}", DisplayErrorContext(err)))?;
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let stamp = out
            .metadata()
            .and_then(|meta| meta.get("tv-stamp"))
            .cloned()
            .unwrap_or_default();
        let body = out
            .body
            .collect()
            .await
            .map_err(|err| format!("GET {key} body: {err}"))?;
        copies.insert(
            key,
            RawCopy {
                etag,
                stamp,
                md5: md5_hex(&body.into_bytes()),
            },
        );
    }
    Ok(copies)
}

/// The value of `key` through one gateway (`None` = not found), retried on errors.
async fn final_read(client: &Client, bucket: &str, key: &str) -> Result<Option<String>, String> {
    let mut last = String::new();
    for _ in 0..FINAL_READ_ATTEMPTS {
        match perform(client, bucket, OpKind::Get, key, None).await {
            (Outcome::Ok, Some(Read::Value(value)), _) => return Ok(value),
            (_, _, error) => last = error.unwrap_or_default(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(last)
}
