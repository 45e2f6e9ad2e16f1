//! Runs a short-lived command with a timeout and reports its full output on failure.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// What a finished (or timed-out) command produced.
#[derive(Clone)]
pub struct CmdOutput {
    /// The command line, shell-quoted for copy-paste (credentials are in the env, not here).
    pub command: String,
    /// `None` when the command timed out and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl CmdOutput {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    /// True when the command was killed after its timeout.
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// stdout and stderr together, for matching error messages wherever a tool prints them.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout_str(), self.stderr_str())
    }

    /// Panics with the command, status, stdout and stderr unless it succeeded.
    #[track_caller]
    pub fn expect_success(self) -> Self {
        if !self.success() {
            panic!("command failed\n{self}");
        }
        self
    }

    /// Panics with the full output unless the command ran to completion and failed.
    #[track_caller]
    pub fn expect_failure(self) -> Self {
        if self.success() || self.timed_out() {
            panic!("command was expected to fail\n{self}");
        }
        self
    }

    /// Parses stdout as JSON (aws-cli `s3api` output, python `json.dumps`).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.stdout) {
            Ok(value) => value,
            Err(err) => panic!("stdout is not JSON ({err})\n{self}"),
        }
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => "killed after timeout".to_string(),
        };
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "status:  {status} after {:.2?}", self.elapsed)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout_str().trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr_str().trim_end())
    }
}

impl fmt::Debug for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Runs `cmd` in its own process group with `stdin` fed in, killing the group after `timeout`.
///
/// # Panics
/// If the program cannot be spawned: that is a harness bug, not a test outcome.
pub fn run(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> CmdOutput {
    let command = describe(&cmd);
    let started = Instant::now();
    let mut child = cmd
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot spawn {command}: {err}"));
    let feeder = stdin.zip(child.stdin.take()).map(|(data, mut pipe)| {
        // A broken pipe just means the tool stopped reading; its exit status tells the story.
        std::thread::spawn(move || drop(pipe.write_all(&data)))
    });
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = started + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll child status") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let pgid = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    CmdOutput {
        command,
        status,
        stdout: join(stdout),
        stderr: join(stderr),
        elapsed: started.elapsed(),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    })
}

fn join(handle: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    handle.and_then(|handle| handle.join().ok()).unwrap_or_default()
}

/// `prog 'arg 1' arg2`, single-quoting arguments that need it.
fn describe(cmd: &Command) -> String {
    let mut parts = vec![shell_quote(&cmd.get_program().to_string_lossy())];
    parts.extend(cmd.get_args().map(|arg| shell_quote(&arg.to_string_lossy())));
    parts.join(" ")
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo err >&2; exit 3"]);
        let out = run(cmd, Some(b"hello".to_vec()), Duration::from_secs(10));
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr_str(), "err\n");
        assert_eq!(out.status.and_then(|status| status.code()), Some(3));
        assert_eq!(out.command, "sh -c 'cat; echo err >&2; exit 3'");
    }

    #[test]
    fn kills_the_whole_group_on_timeout() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"]);
        let out = run(cmd, None, Duration::from_millis(200));
        assert!(out.timed_out());
        assert!(out.elapsed < Duration::from_secs(5));
    }
}
