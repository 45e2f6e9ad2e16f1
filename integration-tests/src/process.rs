//! Long-running child processes in their own process group, with output in a log file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How often waits poll a child.
const POLL: Duration = Duration::from_millis(20);

/// A child process leading its own process group; the whole group is SIGKILLed on drop.
#[derive(Debug)]
pub struct GroupChild {
    child: Child,
    log_path: PathBuf,
    exit: Option<ExitStatus>,
}

impl GroupChild {
    /// Spawns `cmd` as the leader of a new process group, stdin closed, stdout and stderr
    /// appended to `log_path`.
    pub fn spawn(cmd: &mut Command, log_path: &Path) -> anyhow::Result<Self> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("open log {}", log_path.display()))?;
        let log_err = log.try_clone().context("clone log file handle")?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawn {:?}", cmd.get_program()))?;
        Ok(GroupChild {
            child,
            log_path: log_path.to_path_buf(),
            exit: None,
        })
    }

    /// The leader's pid (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has exited (reaps it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Sends `signal` to the whole process group; a group that is gone already is not an error.
    pub fn signal(&mut self, signal: Signal) {
        if self.try_exit().is_some() {
            return;
        }
        let pgid = Pid::from_raw(i32::try_from(self.child.id()).expect("pids fit in i32"));
        // ESRCH only means the group is gone already.
        let _ = killpg(pgid, signal);
    }

    /// Waits up to `timeout` for the leader to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGKILLs the group and reaps the leader. Once this returns, its listening sockets are closed.
    pub fn kill(&mut self) -> ExitStatus {
        self.signal(Signal::SIGKILL);
        if let Some(status) = self.exit {
            return status;
        }
        let status = self.child.wait().expect("wait for a SIGKILLed child");
        self.exit = Some(status);
        status
    }

    /// Sends `signal` (e.g. SIGTERM), waits up to `grace`, then SIGKILLs.
    pub fn shutdown(&mut self, signal: Signal, grace: Duration) -> ExitStatus {
        self.signal(signal);
        match self.wait_timeout(grace) {
            Some(status) => status,
            None => self.kill(),
        }
    }

    /// The log file with the child's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The whole log file, lossily decoded; empty if it cannot be read.
pub fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last `lines` lines of a log file (reads at most the last 64 KiB).
pub fn log_tail(path: &Path, lines: usize) -> String {
    const MAX_TAIL_BYTES: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return format!("<no log at {}>", path.display());
    };
    let len = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let start = len.saturating_sub(MAX_TAIL_BYTES);
    let mut buf = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut buf).is_err() {
        return format!("<unreadable log at {}>", path.display());
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Peak resident memory (`VmHWM`) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc status")
}
