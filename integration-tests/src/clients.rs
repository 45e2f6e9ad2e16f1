//! Real S3 CLIs (aws-cli v1, rclone, s3cmd, s5cmd, python/boto3) with isolated, generated config.
//!
//! Every run gets a fresh temp HOME and config files and a cleared environment, so the user's
//! own `~/.aws`, `~/.s3cfg` or `rclone.conf` can never leak in. Credentials travel in env vars
//! or generated config files, never on the command line (so failure reports can print it).

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::command::{self, CmdOutput};
use crate::target::S3Target;
use crate::venv::Venv;

/// Signing region every client uses; SeaweedFS and the gateway accept any.
pub const SIGNING_REGION: &str = "us-east-1";
/// Name of the rclone remote pointing at the target: use paths like `tv:bucket/key`.
pub const RCLONE_REMOTE: &str = "tv";
/// Default timeout for one CLI invocation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// Python prepended by [`boto3`]: defines `s3` (a path-style boto3 client for the target),
/// `endpoint`, and imports `os`, `sys`, `json`, `hashlib`, `boto3`, `botocore`.
pub const BOTO3_PRELUDE: &str = r#"import os, sys, json, hashlib
import boto3, botocore
from botocore.config import Config
endpoint = os.environ["TV_S3_ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Aws,
    Rclone,
    S3cmd,
    S5cmd,
    Python,
}

/// One CLI invocation under construction.
#[derive(Debug)]
pub struct Cli {
    tool: Tool,
    target: Option<S3Target>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Cli {
    /// `aws --endpoint-url ENDPOINT ...` (aws-cli v1, path-style addressing).
    pub fn aws(target: &S3Target) -> Self {
        Cli::new(Tool::Aws, Some(target))
    }

    /// `rclone --config GENERATED ...` with a remote named [`RCLONE_REMOTE`].
    pub fn rclone(target: &S3Target) -> Self {
        Cli::new(Tool::Rclone, Some(target))
    }

    /// `s3cmd -c GENERATED ...` (SigV4, plain HTTP, path style).
    pub fn s3cmd(target: &S3Target) -> Self {
        Cli::new(Tool::S3cmd, Some(target))
    }

    /// `s5cmd --endpoint-url ENDPOINT ...`.
    pub fn s5cmd(target: &S3Target) -> Self {
        Cli::new(Tool::S5cmd, Some(target))
    }

    /// The venv's `python`. With a target, the env also carries `TV_S3_ENDPOINT`, the AWS
    /// credentials and region, so `boto3.client("s3", endpoint_url=os.environ["TV_S3_ENDPOINT"])` works.
    pub fn python(target: Option<&S3Target>) -> Self {
        Cli::new(Tool::Python, target)
    }

    fn new(tool: Tool, target: Option<&S3Target>) -> Self {
        Cli {
            tool,
            target: target.cloned(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Adds or overrides an environment variable (e.g. `AWS_MAX_ATTEMPTS=1`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Feeds `data` on stdin (e.g. `aws s3 cp - s3://b/k`).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Kills the tool after `timeout` (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the tool to completion (or timeout) and returns everything it printed.
    ///
    /// # Panics
    /// If the venv is missing or the isolated config cannot be written.
    pub fn run(self) -> CmdOutput {
        let venv = Venv::get();
        let home = tempfile::Builder::new()
            .prefix("tv-client-")
            .tempdir()
            .expect("create temp HOME for a client");
        let mut cmd = Command::new(venv.bin(self.program()));
        isolate_env(&mut cmd, venv, home.path());
        if let Some(target) = &self.target {
            self.configure(&mut cmd, target, &home);
        }
        cmd.args(&self.args);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let output = command::run(cmd, self.stdin, self.timeout);
        drop(home);
        output
    }

    fn program(&self) -> &'static str {
        match self.tool {
            Tool::Aws => "aws",
            Tool::Rclone => "rclone",
            Tool::S3cmd => "s3cmd",
            Tool::S5cmd => "s5cmd",
            Tool::Python => "python",
        }
    }

    /// Points the tool at `target`: credentials in env or in generated files under `home`,
    /// plus the leading arguments that select the endpoint or config file.
    fn configure(&self, cmd: &mut Command, target: &S3Target, home: &TempDir) {
        let home = home.path();
        match self.tool {
            Tool::Aws => {
                aws_env(cmd, target, home);
                cmd.arg("--endpoint-url").arg(&target.endpoint);
            }
            Tool::Python => {
                aws_env(cmd, target, home);
                cmd.env("TV_S3_ENDPOINT", &target.endpoint);
            }
            Tool::S5cmd => {
                aws_env(cmd, target, home);
                cmd.arg("--endpoint-url").arg(&target.endpoint);
            }
            Tool::Rclone => {
                let conf = home.join("rclone.conf");
                write_file(&conf, &rclone_conf(target));
                cmd.env("RCLONE_CONFIG", &conf).arg("--config").arg(&conf);
            }
            Tool::S3cmd => {
                let conf = home.join(".s3cfg");
                write_file(&conf, &s3cmd_conf(target));
                cmd.arg("-c").arg(&conf);
            }
        }
    }
}

// === free-function shorthands ===

/// Runs aws-cli against `target`, e.g. `aws(&t, ["s3api", "create-bucket", "--bucket", "b"])`.
pub fn aws<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(target: &S3Target, args: I) -> CmdOutput {
    Cli::aws(target).args(args).run()
}

/// Runs rclone against `target`; the remote is [`RCLONE_REMOTE`] (`tv:bucket/key`).
pub fn rclone<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(target: &S3Target, args: I) -> CmdOutput {
    Cli::rclone(target).args(args).run()
}

/// Runs s3cmd against `target`.
pub fn s3cmd<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(target: &S3Target, args: I) -> CmdOutput {
    Cli::s3cmd(target).args(args).run()
}

/// Runs s5cmd against `target`.
pub fn s5cmd<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(target: &S3Target, args: I) -> CmdOutput {
    Cli::s5cmd(target).args(args).run()
}

/// Runs the venv's python on `script`: a path to an existing file, otherwise source code
/// (dedented). `env` is added to the isolated environment.
pub fn python(script: &str, env: &[(&str, &str)]) -> CmdOutput {
    let mut cli = Cli::python(None);
    if Path::new(script).is_file() {
        cli = cli.arg(script);
    } else {
        cli = cli.arg("-c").arg(dedent(script));
    }
    for (key, value) in env {
        cli = cli.env(key, value);
    }
    cli.run()
}

/// Runs `code` after [`BOTO3_PRELUDE`], so the code can use a ready `s3` client for `target`.
pub fn boto3(target: &S3Target, code: &str) -> CmdOutput {
    let source = format!("{BOTO3_PRELUDE}{}", dedent(code));
    Cli::python(Some(target)).arg("-c").arg(source).run()
}

// === environment and config files ===

/// Clears the environment and sets only what the tools need, with `home` as HOME.
fn isolate_env(cmd: &mut Command, venv: &Venv, home: &Path) {
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", venv.root().join("bin").display());
    cmd.env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("TMPDIR", std::env::temp_dir())
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(home);
}

/// Credentials and region for aws-cli, s5cmd and boto3; config and credential files live in `home`.
fn aws_env(cmd: &mut Command, target: &S3Target, home: &Path) {
    let config = home.join("aws-config");
    write_file(&config, "[default]\ns3 =\n    addressing_style = path\n");
    cmd.env("AWS_ACCESS_KEY_ID", &target.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &target.secret_key)
        .env("AWS_DEFAULT_REGION", SIGNING_REGION)
        .env("AWS_REGION", SIGNING_REGION)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

fn rclone_conf(target: &S3Target) -> String {
    format!(
        "[{RCLONE_REMOTE}]\ntype = s3\nprovider = Other\nendpoint = {}\naccess_key_id = {}\n\
         secret_access_key = {}\nregion = {SIGNING_REGION}\nforce_path_style = true\n",
        target.endpoint, target.access_key, target.secret_key
    )
}

fn s3cmd_conf(target: &S3Target) -> String {
    format!(
        "[default]\naccess_key = {}\nsecret_key = {}\nhost_base = {host}\nhost_bucket = {host}\n\
         bucket_location = {SIGNING_REGION}\nuse_https = False\nsignature_v2 = False\n\
         check_ssl_certificate = False\n",
        target.access_key,
        target.secret_key,
        host = target.host_port()
    )
}

fn write_file(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|err| panic!("write client config {}: {err}", path.display()));
}

/// Strips the common leading whitespace so indented raw strings run as Python.
pub fn dedent(code: &str) -> String {
    let indent = code
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(code.len());
    for line in code.lines() {
        out.push_str(line.get(indent..).unwrap_or_else(|| line.trim_start()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedent_removes_common_indent() {
        let code = "\n    if x:\n        y()\n    z()\n";
        assert_eq!(dedent(code), "\nif x:\n    y()\nz()\n");
    }

    #[test]
    fn s3cmd_conf_uses_path_style_host() {
        let conf = s3cmd_conf(&S3Target::new("http://127.0.0.1:18006", "AK", "SK"));
        assert!(conf.contains("host_base = 127.0.0.1:18006\nhost_bucket = 127.0.0.1:18006\n"));
        assert!(conf.contains("signature_v2 = False"));
    }
}
