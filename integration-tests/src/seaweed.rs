//! One SeaweedFS instance (`weed server`: master, volume, filer and S3 in one process) = one region.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::fixtures::random_token;
use crate::ports;
use crate::process::{self, GroupChild};
use crate::target::S3Target;
use crate::venv::Venv;

/// Ports per instance: master, master gRPC, volume, volume gRPC, filer, filer gRPC, S3, S3 gRPC.
const PORTS_PER_REGION: u16 = 8;
const S3_PORT_OFFSET: u16 = 6;
/// A fresh instance takes ~3.5 s to accept a signed PUT on 2 cores; allow for a loaded machine.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// SIGTERM always takes ~17.5 s (the filer's gRPC graceful stop waits 15 s).
const TERM_GRACE: Duration = Duration::from_secs(25);
/// Bucket the readiness probe creates, writes to and deletes again.
const PROBE_BUCKET: &str = "twinvault-ready-probe";
/// Attempts to start on fresh ports when another process grabbed ours in the meantime.
const START_ATTEMPTS: u32 = 3;
const LOG_TAIL_LINES: usize = 40;

/// A running (or stopped, restartable) SeaweedFS instance with its own data dir, ports and identity.
///
/// Dropping it SIGKILLs the process and deletes the data dir.
#[derive(Debug)]
pub struct SeaweedRegion {
    // Field order = drop order: kill the process before deleting its dir.
    child: Option<GroupChild>,
    name: String,
    dir: TempDir,
    base_port: u16,
    access_key: String,
    secret_key: String,
    auto_create_buckets: bool,
}

impl SeaweedRegion {
    /// Starts a fresh instance and waits until a signed PUT succeeds (deadline 60 s). A PUT
    /// to a bucket that does not exist fails with NoSuchBucket.
    ///
    /// `name` labels the temp dir, the identity and error messages (e.g. `"a"`).
    pub fn start(name: &str) -> anyhow::Result<Self> {
        Self::start_with(name, false)
    }

    /// Like [`Self::start`], keeping SeaweedFS's default of creating a missing bucket on PUT:
    /// a store quirk the gateway must hide from its clients.
    pub fn start_creating_buckets_on_put(name: &str) -> anyhow::Result<Self> {
        Self::start_with(name, true)
    }

    fn start_with(name: &str, auto_create_buckets: bool) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tv-seaweed-{name}-"))
            .tempdir()
            .context("create seaweedfs temp dir")?;
        std::fs::create_dir(dir.path().join("data")).context("create seaweedfs data dir")?;
        let mut region = SeaweedRegion {
            child: None,
            name: name.to_string(),
            dir,
            base_port: 0,
            access_key: format!("AK{}", random_token(18).to_ascii_uppercase()),
            secret_key: random_token(40),
            auto_create_buckets,
        };
        region.write_identities()?;
        let mut attempt = 1;
        loop {
            region.base_port = ports::allocate(PORTS_PER_REGION)?;
            match region.launch() {
                Ok(()) => return Ok(region),
                Err(err) if attempt < START_ATTEMPTS && region.lost_port_race() => {
                    eprintln!("seaweedfs {name}: port collision, retrying on new ports: {err:#}");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `http://127.0.0.1:S3PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port())
    }

    pub fn s3_port(&self) -> u16 {
        self.base_port + S3_PORT_OFFSET
    }

    /// The admin identity's access key (allowed everything).
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// Endpoint and admin credentials, for [`crate::clients`] or a gateway config.
    pub fn target(&self) -> S3Target {
        S3Target::new(self.endpoint(), &self.access_key, &self.secret_key)
    }

    /// The instance's temp dir (holds `data/`, `s3.json`, `weed.log` and the unix sockets).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The file with the server's stdout and stderr (appended to across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("weed.log")
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        process::log_tail(&self.log_path(), lines)
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(GroupChild::pid)
    }

    /// True while the server process is alive (a paused one counts as running).
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| child.try_exit().is_none())
    }

    /// Crashes the region: SIGKILLs the process group and reaps it. Data written so far survives.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
            self.remove_tmp_sockets();
        }
    }

    /// Stops the region for a later [`restart`](Self::restart). SIGKILL, like [`kill`](Self::kill):
    /// a graceful stop always takes ~17.5 s and loses nothing the tests rely on.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Graceful stop: SIGTERM, then SIGKILL after 25 s. Slow (~17.5 s); prefer [`stop`](Self::stop).
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.shutdown(Signal::SIGTERM, TERM_GRACE);
        }
    }

    /// Starts the region again on the same data dir, ports and identity (stopping it first if it
    /// runs) and waits until it accepts writes (~3.3 s).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.launch()
    }

    /// Freezes the process group (SIGSTOP): connections are accepted by the kernel but never
    /// answered, like a silently dropping network.
    pub fn pause(&mut self) {
        if let Some(child) = self.child.as_mut() {
            child.signal(Signal::SIGSTOP);
        }
    }

    /// Undoes [`pause`](Self::pause).
    pub fn resume(&mut self) {
        if let Some(child) = self.child.as_mut() {
            child.signal(Signal::SIGCONT);
        }
    }

    /// Spawns `weed server` and waits for readiness; on failure the process is killed.
    fn launch(&mut self) -> anyhow::Result<()> {
        let weed = Venv::locate()?.bin("weed");
        let mut cmd = Command::new(&weed);
        cmd.arg("server").args(self.server_args()).current_dir(self.dir.path());
        let child = GroupChild::spawn(&mut cmd, &self.log_path())?;
        self.child = Some(child);
        let ready = self.wait_ready();
        if ready.is_err() {
            self.kill();
        }
        ready
    }

    fn server_args(&self) -> Vec<String> {
        let dir = self.dir.path();
        let port = |offset: u16| (self.base_port + offset).to_string();
        let path = |name: &str| dir.join(name).display().to_string();
        let flags = [
            ("ip", "127.0.0.1".to_string()),
            ("ip.bind", "127.0.0.1".to_string()),
            ("dir", path("data")),
            ("metricsPort", "0".to_string()),
            ("master.port", port(0)),
            ("master.port.grpc", port(1)),
            ("master.telemetry", "false".to_string()),
            // A bucket's collection starts with 7 volumes. At 256 MB they filled up during the
            // 8 x 256 MiB large-object test and the master grew new ones mid-upload; SeaweedFS
            // 4.48 can fail a chunk assigned to a volume in that window ("Volume Size
            // Exceeded", seaweedfs PRs #8853/#10588) with a 500, seen once in CI. At 1 GiB no
            // test fills a collection's first volumes. Volume files are sparse, so this costs
            // no disk.
            ("master.volumeSizeLimitMB", "1024".to_string()),
            ("master.electionTimeout", "1s".to_string()),
            ("volume.port", port(2)),
            ("volume.port.grpc", port(3)),
            ("volume.max", "100".to_string()),
            ("volume.preStopSeconds", "1".to_string()),
            ("filer", "true".to_string()),
            ("filer.port", port(4)),
            ("filer.port.grpc", port(5)),
            ("filer.localSocket", path("filer.sock")),
            ("s3", "true".to_string()),
            ("s3.port", port(S3_PORT_OFFSET)),
            ("s3.port.grpc", port(7)),
            ("s3.port.iceberg", "0".to_string()),
            ("s3.port.lance", "0".to_string()),
            ("s3.config", path("s3.json")),
            ("s3.localSocket", path("s3.sock")),
            ("s3.autoCreateBucket", self.auto_create_buckets.to_string()),
        ];
        flags
            .into_iter()
            .map(|(flag, value)| format!("-{flag}={value}"))
            .collect()
    }

    fn write_identities(&self) -> anyhow::Result<()> {
        let identities = serde_json::json!({
            "identities": [{
                "name": format!("region-{}", self.name),
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }]
        });
        let path = self.dir.path().join("s3.json");
        std::fs::write(&path, identities.to_string()).with_context(|| format!("write {}", path.display()))
    }

    /// Polls every 50 ms until create-bucket, PUT, DELETE object and DELETE bucket all succeed
    /// with SigV4 (curl, so no Python start-up per probe).
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let deadline = started + READY_DEADLINE;
        let mut last = String::from("no probe yet");
        loop {
            if let Some(status) = self.child.as_mut().and_then(GroupChild::try_exit) {
                bail!(
                    "seaweedfs {} exited with {status} before it was ready ({last})\n--- log tail ({}) ---\n{}",
                    self.name,
                    self.log_path().display(),
                    self.log_tail(LOG_TAIL_LINES)
                );
            }
            match self.probe() {
                Ok(()) => return Ok(()),
                Err(err) => last = format!("{err:#}"),
            }
            if Instant::now() >= deadline {
                bail!(
                    "seaweedfs {} not writable after {:?} on {} ({last})\n--- log tail ({}) ---\n{}",
                    self.name,
                    READY_DEADLINE,
                    self.endpoint(),
                    self.log_path().display(),
                    self.log_tail(LOG_TAIL_LINES)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn probe(&self) -> anyhow::Result<()> {
        let bucket = format!("{}/{PROBE_BUCKET}", self.endpoint());
        let object = format!("{bucket}/probe");
        // 409 = the bucket exists already (an earlier probe got halfway).
        self.signed_curl("PUT", &bucket, &[200, 409])?;
        self.signed_curl("PUT", &object, &[200])?;
        self.signed_curl("DELETE", &object, &[204])?;
        self.signed_curl("DELETE", &bucket, &[204])
    }

    fn signed_curl(&self, method: &str, url: &str, expected: &[u16]) -> anyhow::Result<()> {
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"])
            .args(["--aws-sigv4", "aws:amz:us-east-1:s3", "--user"])
            .arg(format!("{}:{}", self.access_key, self.secret_key))
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-X", method])
            .args(if method == "PUT" && url.ends_with("/probe") {
                &["--data-binary", "probe"][..]
            } else {
                &[][..]
            })
            .arg(url)
            .output()
            .context("run curl (install it with scripts/install-test-deps.sh)")?;
        let code = String::from_utf8_lossy(&output.stdout);
        match code.trim().parse::<u16>() {
            Ok(code) if expected.contains(&code) => Ok(()),
            _ => bail!("{method} {url} -> HTTP {}", code.trim()),
        }
    }

    /// Deletes the unix sockets weed leaves in /tmp after a SIGKILL. Only the filer and S3
    /// sockets can be moved into our dir by flags; the gRPC ones are always `/tmp/seaweedfs-<kind>-<port>.sock`.
    fn remove_tmp_sockets(&self) {
        const KINDS: [&str; 6] = ["master-grpc", "volume-grpc", "filer", "filer-grpc", "s3", "s3-grpc"];
        for port in self.base_port..self.base_port + PORTS_PER_REGION {
            for kind in KINDS {
                // Missing files are fine: not every kind listens on every port.
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{port}.sock"));
            }
        }
    }

    /// True when the log says a listener could not bind (another process took a probed port).
    fn lost_port_race(&self) -> bool {
        process::read_log(&self.log_path()).contains("address already in use")
    }
}

impl Drop for SeaweedRegion {
    fn drop(&mut self) {
        self.kill();
    }
}
