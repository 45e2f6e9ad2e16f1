//! The rclone peer: `rclone serve s3` over a `crypt` remote over a `union` of both regions.
//!
//! This is the closest existing server that does what twinvault does: an S3 endpoint that
//! encrypts every object (crypt: XSalsa20-Poly1305 in 64 KiB blocks) and writes it to two S3
//! stores (union with the `all` create and action policies: every upload and delete goes to
//! both upstreams; reads search the upstreams in order, `ff`). Object names stay in the clear
//! (`filename_encryption = off`), as twinvault leaves them.
//!
//! Everything else is rclone's default (`--vfs-cache-mode off`: uploads stream through, nothing
//! is cached on local disk), so the figures are what an operator gets from the documented setup.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use aws_sdk_s3::Client;
use integration_tests::process::{self, GroupChild};
use integration_tests::{S3Target, Venv, ports, random_token, sdk_client};
use tempfile::TempDir;

/// Bucket created in both regions; the union's two upstreams are this bucket in each, so a
/// bucket made through `serve s3` is a prefix in it.
const UPSTREAM_BUCKET: &str = "peerbench-rclone";
/// Name of the crypt remote `serve s3` serves.
const SERVED_REMOTE: &str = "sealed";
const READY_DEADLINE: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 40;

/// A running `rclone serve s3`; dropping it kills the process and deletes its config and log.
#[derive(Debug)]
pub struct RcloneServer {
    // Field order = drop order: kill the process before deleting its dir.
    child: GroupChild,
    target: S3Target,
    _dir: TempDir,
}

impl RcloneServer {
    /// Creates the upstream bucket in both regions, writes `rclone.conf` in a temp dir and
    /// starts `rclone serve s3` (plus `extra_flags`) on a free loopback port; returns once it
    /// answers ListBuckets.
    pub async fn start(region_a: &S3Target, region_b: &S3Target, extra_flags: &[String]) -> anyhow::Result<Self> {
        for region in [region_a, region_b] {
            sdk_client(region)
                .create_bucket()
                .bucket(UPSTREAM_BUCKET)
                .send()
                .await
                .with_context(|| format!("create bucket {UPSTREAM_BUCKET} on {}", region.endpoint))?;
        }
        let rclone = Venv::locate()?.bin("rclone");
        let dir = tempfile::Builder::new()
            .prefix("tv-rclone-")
            .tempdir()
            .context("create rclone temp dir")?;
        let password = obscure(&rclone, dir.path(), &random_token(32))?;
        let conf = dir.path().join("rclone.conf");
        std::fs::write(&conf, config(region_a, region_b, &password))
            .with_context(|| format!("write {}", conf.display()))?;
        let addr = format!("127.0.0.1:{}", ports::allocate_one()?);
        let target = S3Target::new(
            format!("http://{addr}"),
            format!("RC{}", random_token(18).to_ascii_uppercase()),
            random_token(40),
        );
        let mut cmd = Command::new(&rclone);
        isolate(&mut cmd, dir.path());
        // The keys travel in the environment, not on the command line (`ps` shows that).
        cmd.env(
            "RCLONE_AUTH_KEY",
            format!("\"{},{}\"", target.access_key, target.secret_key),
        )
        .arg("--config")
        .arg(&conf)
        .args(["serve", "s3", "--addr", &addr])
        .args(extra_flags)
        .arg(format!("{SERVED_REMOTE}:"));
        let child = GroupChild::spawn(&mut cmd, &dir.path().join("rclone.log"))?;
        let mut server = RcloneServer {
            child,
            target,
            _dir: dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Endpoint and the one `--auth-key` pair.
    pub fn target(&self) -> S3Target {
        self.target.clone()
    }

    /// Polls ListBuckets until it succeeds; fails early if rclone exits.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client: Client = sdk_client(&self.target);
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(status) = self.child.try_exit() {
                bail!("rclone serve s3 exited with {status}:\n{}", self.log_tail());
            }
            let last = match client.list_buckets().send().await {
                Ok(_) => return Ok(()),
                Err(err) => format!("{err:?}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "rclone serve s3 not answering after {READY_DEADLINE:?} ({last}):\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        process::log_tail(self.child.log_path(), LOG_TAIL_LINES)
    }
}

/// `rclone.conf`: an s3 remote per region, their union, and crypt over the union.
fn config(region_a: &S3Target, region_b: &S3Target, obscured_password: &str) -> String {
    let upstream = |name: &str, region: &S3Target| {
        format!(
            "[{name}]\ntype = s3\nprovider = SeaweedFS\nendpoint = {}\naccess_key_id = {}\n\
             secret_access_key = {}\nregion = us-east-1\nforce_path_style = true\n\
             no_check_bucket = true\n\n",
            region.endpoint, region.access_key, region.secret_key
        )
    };
    format!(
        "{}{}[both]\ntype = union\nupstreams = region_a:{UPSTREAM_BUCKET} region_b:{UPSTREAM_BUCKET}\n\
         create_policy = all\naction_policy = all\nsearch_policy = ff\n\n\
         [{SERVED_REMOTE}]\ntype = crypt\nremote = both:\nfilename_encryption = off\n\
         directory_name_encryption = false\npassword = {obscured_password}\n",
        upstream("region_a", region_a),
        upstream("region_b", region_b),
    )
}

/// `rclone obscure PASSWORD`: the form rclone.conf takes the crypt password in.
fn obscure(rclone: &Path, home: &Path, password: &str) -> anyhow::Result<String> {
    let mut cmd = Command::new(rclone);
    isolate(&mut cmd, home);
    // `-` reads the password from stdin, so it never shows on a command line.
    let output = cmd
        .args(["obscure", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                std::io::Write::write_all(&mut stdin, password.as_bytes())?;
            }
            child.wait_with_output()
        })
        .context("run rclone obscure")?;
    ensure!(
        output.status.success(),
        "rclone obscure failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let obscured = String::from_utf8(output.stdout).context("rclone obscure printed non-UTF-8")?;
    Ok(obscured.trim().to_string())
}

/// A clean environment with `home` as HOME, so no user rclone config or `RCLONE_*` leaks in.
fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("TMPDIR", std::env::temp_dir())
        .current_dir(home);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_chains_crypt_over_an_all_policy_union() {
        let a = S3Target::new("http://127.0.0.1:18006", "AKA", "SKA");
        let b = S3Target::new("http://127.0.0.1:18016", "AKB", "SKB");
        let conf = config(&a, &b, "OBSCURED");
        assert!(conf.contains("upstreams = region_a:peerbench-rclone region_b:peerbench-rclone\n"));
        assert!(conf.contains("create_policy = all\naction_policy = all\n"));
        assert!(conf.contains("[sealed]\ntype = crypt\nremote = both:\n"));
        assert!(conf.contains("endpoint = http://127.0.0.1:18016\naccess_key_id = AKB\n"));
    }
}
