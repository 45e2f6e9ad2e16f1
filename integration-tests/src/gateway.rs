//! The `twinvault serve` process under test, started from a generated config.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::gateway_config::{self, ConfigFacts};
use crate::http;
use crate::process::{self, GroupChild};
use crate::target::S3Target;
use crate::venv::workspace_root;

/// Overrides the gateway binary (default: the one [`Gateway::binary`] builds).
pub const ENV_BIN: &str = "TWINVAULT_BIN";
const READY_DEADLINE: Duration = Duration::from_secs(30);
const TERM_GRACE: Duration = Duration::from_secs(30);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const LOG_TAIL_LINES: usize = 60;

/// A running gateway. Dropping it SIGKILLs it and deletes its temp dir (config and log).
#[derive(Debug)]
pub struct Gateway {
    // Field order = drop order: kill the process before deleting its dir.
    child: Option<GroupChild>,
    facts: ConfigFacts,
    env: Vec<(String, String)>,
    dir: TempDir,
}

impl Gateway {
    /// The gateway binary: `$TWINVAULT_BIN`, else this build's own (see [`Self::try_binary`]).
    ///
    /// # Panics
    /// If `$TWINVAULT_BIN` is unset and building the binary fails.
    pub fn binary() -> PathBuf {
        Self::try_binary().unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// The gateway binary: `$TWINVAULT_BIN`, else `twinvault` built by `cargo build` (once per
    /// process) into the target dir and profile this executable was built in, so the tests
    /// never run a binary older than the source (after `cargo test` it only checks: no build).
    pub fn try_binary() -> anyhow::Result<PathBuf> {
        match std::env::var_os(ENV_BIN) {
            Some(bin) if !bin.is_empty() => Ok(PathBuf::from(bin)),
            _ => {
                static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
                let built = BUILT.get_or_init(|| build_binary().map_err(|err| format!("{err:#}")));
                built
                    .clone()
                    .map_err(|err| anyhow::anyhow!("{err}\n(or set {ENV_BIN} to a gateway binary)"))
            }
        }
    }

    /// Writes `config_toml` to a temp file, runs `twinvault serve --config PATH` and waits
    /// until it is ready (deadline 30 s).
    pub fn start(config_toml: &str) -> anyhow::Result<Self> {
        let mut gateway = Gateway::spawn(config_toml)?;
        gateway.wait_ready()?;
        Ok(gateway)
    }

    /// Like [`start`](Self::start) but returns right after spawning, e.g. to assert that a bad
    /// config makes it exit (see [`wait_exit`](Self::wait_exit)).
    pub fn spawn(config_toml: &str) -> anyhow::Result<Self> {
        let facts = gateway_config::facts(config_toml)?;
        let dir = tempfile::Builder::new()
            .prefix("tv-gateway-")
            .tempdir()
            .context("create gateway temp dir")?;
        let mut gateway = Gateway {
            child: None,
            facts,
            env: Vec::new(),
            dir,
        };
        gateway.write_config(config_toml)?;
        gateway.launch()?;
        Ok(gateway)
    }

    /// Polls `GET /readyz` on the admin listener until 200 (or, if it answers 404 or there is
    /// no admin listener, until the S3 port accepts connections). Fails early if the process
    /// exits; errors carry the log tail.
    pub fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        let mut last = String::from("no probe yet");
        loop {
            if let Some(status) = self.child.as_mut().and_then(GroupChild::try_exit) {
                bail!(
                    "gateway exited with {status} before it was ready ({last})\n{}",
                    self.log_report()
                );
            }
            match self.probe_ready() {
                Ok(()) => return Ok(()),
                Err(err) => last = format!("{err:#}"),
            }
            if Instant::now() >= deadline {
                bail!(
                    "gateway not ready after {READY_DEADLINE:?} ({last})\n{}",
                    self.log_report()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let child = self.child.as_mut().context("gateway is not running")?;
        match child.wait_timeout(timeout) {
            Some(status) => Ok(status),
            None => bail!("gateway still running after {timeout:?}\n{}", self.log_report()),
        }
    }

    /// `http://S3_LISTEN`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.facts.s3_listen)
    }

    /// `http://ADMIN_LISTEN`.
    ///
    /// # Panics
    /// If the config has no `server.admin_listen`.
    pub fn admin_endpoint(&self) -> String {
        format!("http://{}", self.admin_addr())
    }

    pub fn s3_addr(&self) -> SocketAddr {
        self.facts.s3_listen
    }

    /// # Panics
    /// If the config has no `server.admin_listen`.
    pub fn admin_addr(&self) -> SocketAddr {
        self.facts
            .admin_listen
            .expect("the gateway config sets server.admin_listen")
    }

    /// The first configured user's access key.
    pub fn access_key(&self) -> &str {
        &self.facts.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.facts.secret_key
    }

    /// Endpoint and first user's credentials, for [`crate::clients`].
    pub fn target(&self) -> S3Target {
        S3Target::new(self.endpoint(), self.access_key(), self.secret_key())
    }

    /// `GET ADMIN_LISTEN/path`: status and body (e.g. `/metrics`).
    pub fn admin_get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http::get(self.admin_addr(), path, PROBE_TIMEOUT)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("twinvault.toml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("twinvault.log")
    }

    /// Everything the gateway printed so far (stdout and stderr, across restarts).
    pub fn log_contents(&self) -> String {
        process::read_log(&self.log_path())
    }

    /// The gateway's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(GroupChild::pid)
    }

    /// True while the process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| child.try_exit().is_none())
    }

    /// SIGKILL (a crash); returns once the process is reaped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// SIGTERM and wait for a graceful exit (SIGKILL after 30 s). `None` if it was not running.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        Some(child.shutdown(Signal::SIGTERM, TERM_GRACE))
    }

    /// Kills the gateway and starts it again with the same config file.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.launch()?;
        self.wait_ready()
    }

    /// Sets an environment variable for the next (re)start, e.g. `RUST_LOG`.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Kills the gateway, replaces its config (e.g. a rotated keyring) and starts it again.
    pub fn restart_with(&mut self, config_toml: &str) -> anyhow::Result<()> {
        self.kill();
        self.facts = gateway_config::facts(config_toml)?;
        self.write_config(config_toml)?;
        self.launch()?;
        self.wait_ready()
    }

    fn write_config(&self, config_toml: &str) -> anyhow::Result<()> {
        let path = self.config_path();
        std::fs::write(&path, config_toml).with_context(|| format!("write {}", path.display()))
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let bin = Gateway::try_binary()?;
        if !bin.is_file() {
            bail!("gateway binary {} not found (from {ENV_BIN})", bin.display());
        }
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(self.config_path())
            .env("RUST_BACKTRACE", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        self.child = Some(GroupChild::spawn(&mut cmd, &self.log_path())?);
        Ok(())
    }

    fn probe_ready(&self) -> anyhow::Result<()> {
        if let Some(admin) = self.facts.admin_listen {
            let (status, body) = http::get(admin, "/readyz", PROBE_TIMEOUT)?;
            match status {
                200 => return Ok(()),
                404 => {} // no /readyz yet: fall back to the S3 port
                _ => bail!("GET /readyz -> {status}: {}", body.trim()),
            }
        }
        TcpStream::connect_timeout(&self.facts.s3_listen, PROBE_TIMEOUT)
            .with_context(|| format!("connect to s3_listen {}", self.facts.s3_listen))?;
        Ok(())
    }

    fn log_report(&self) -> String {
        format!(
            "--- gateway log tail ({}) ---\n{}\n--- config: {} ---",
            self.log_path().display(),
            process::log_tail(&self.log_path(), LOG_TAIL_LINES),
            self.config_path().display()
        )
    }
}

/// Where cargo put the running executable: `<target dir>/[<triple>/]<profile dir>/[deps/]<exe>`.
#[derive(Debug, PartialEq, Eq)]
struct BuildLayout {
    target_dir: PathBuf,
    triple: Option<String>,
    /// The `--profile` that writes to the profile dir (`debug` is `dev`'s).
    profile: String,
}

impl BuildLayout {
    /// Reads the layout off the path of an executable cargo built; the target dir is the first
    /// one up that holds the `CACHEDIR.TAG` cargo writes there.
    fn of(exe: &Path) -> anyhow::Result<Self> {
        let mut dir = exe.parent().context("executable without a directory")?;
        if dir.file_name().is_some_and(|name| name == "deps") {
            dir = dir.parent().context("deps without a parent")?;
        }
        let profile = match dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(name) => name.to_owned(),
            None => bail!("{} is not in a cargo profile directory", exe.display()),
        };
        let above = dir.parent().context("profile dir without a parent")?;
        if above.join("CACHEDIR.TAG").is_file() {
            return Ok(Self {
                target_dir: above.to_owned(),
                triple: None,
                profile,
            });
        }
        match (above.parent(), above.file_name().and_then(|name| name.to_str())) {
            (Some(target_dir), Some(triple)) if target_dir.join("CACHEDIR.TAG").is_file() => Ok(Self {
                target_dir: target_dir.to_owned(),
                triple: Some(triple.to_owned()),
                profile,
            }),
            _ => bail!(
                "{} is not in a cargo target directory (no CACHEDIR.TAG above it)",
                exe.display()
            ),
        }
    }
}

/// `cargo build --workspace --bin twinvault --examples` for this executable's target dir and
/// profile; returns the binary cargo reports. `--workspace` and `--examples` (there are none)
/// make cargo resolve features as `cargo test --workspace` does (both packages, dev-dependencies
/// too: tokio's `test-util`, nix's libc `extra_traits`), so after it this build is fresh and does
/// not swap the binary for a differently featured one.
fn build_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("path of the running executable")?;
    let layout = BuildLayout::of(&exe)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .args([
            "--workspace",
            "--bin",
            "twinvault",
            "--examples",
            "--profile",
            &layout.profile,
        ])
        .arg("--target-dir")
        .arg(&layout.target_dir)
        .args(["--message-format", "json-render-diagnostics"]);
    if let Some(triple) = &layout.triple {
        cmd.args(["--target", triple]);
    }
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {shown}"))?;
    if !out.status.success() {
        bail!(
            "building the gateway failed ({}): {shown}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact" && message["target"]["name"] == "twinvault")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("{shown} reported no twinvault executable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_layout_is_read_off_the_executable_path() {
        let root = tempfile::tempdir().expect("temp dir");
        let target = root.path().join("tgt");
        std::fs::create_dir_all(target.join("x86_64-unknown-linux-gnu/release/deps")).expect("dirs");
        std::fs::create_dir_all(target.join("debug/deps")).expect("dirs");
        std::fs::write(target.join("CACHEDIR.TAG"), "").expect("tag");
        let layout = |path: &str| BuildLayout::of(&target.join(path)).expect("layout");
        assert_eq!(
            layout("debug/deps/it-0123"),
            BuildLayout {
                target_dir: target.clone(),
                triple: None,
                profile: "dev".into()
            }
        );
        assert_eq!(layout("profiling/tvbench").profile, "profiling");
        assert_eq!(
            layout("x86_64-unknown-linux-gnu/release/deps/it-0123"),
            BuildLayout {
                target_dir: target.clone(),
                triple: Some("x86_64-unknown-linux-gnu".into()),
                profile: "release".into()
            }
        );
        assert!(BuildLayout::of(&root.path().join("elsewhere/debug/it")).is_err());
    }
}
