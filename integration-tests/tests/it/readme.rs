//! The commands README.md and docs/ tell a user to run, taken from their text and run as
//! written: the README's first block (the quickstart; then the aws-cli lines and the rclone
//! settings its banner prints; then Ctrl-C), `--help` of every subcommand the README lists,
//! `check-config` of the example configuration, and the benchmark scripts' `--quick` runs.
//!
//! Nothing here copies a command: each is parsed from the document, so a README that drifts
//! from what works fails here.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use integration_tests::{Gateway, S3Target, Venv, aws, ports, workspace_root};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The commands of the first fenced code block of `markdown`: its lines without comments
/// (`# ...`, also after a command) and blank lines.
fn first_code_block(markdown: &str) -> Vec<String> {
    let mut lines = markdown.lines().skip_while(|l| !l.starts_with("```")).skip(1);
    lines
        .by_ref()
        .take_while(|l| !l.starts_with("```"))
        .map(|l| l.split(" #").next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The indented lines of the banner section that starts with a line beginning `heading`, up
/// to the next blank line, trimmed.
fn banner_section(banner: &[String], heading: &str) -> Vec<String> {
    banner
        .iter()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .collect()
}

/// A shell environment like a newcomer's: the test tools on PATH, an empty HOME, no AWS
/// settings inherited from the machine.
fn user_shell(home: &Path) -> Command {
    let venv = Venv::get();
    let mut cmd = Command::new("sh");
    cmd.env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv.root().join("bin").display(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
            ),
        )
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(workspace_root());
    for keep in ["CARGO_HOME", "RUSTUP_HOME", "TWINVAULT_VENV", "TMPDIR"] {
        if let Some(value) = std::env::var_os(keep) {
            cmd.env(keep, value);
        }
    }
    cmd
}

/// The quickstart process (its own process group, as a terminal's foreground job) and the
/// lines it printed up to the end of its banner.
struct Quickstart {
    child: Child,
    banner: Vec<String>,
    log: PathBuf,
}

impl Quickstart {
    /// Runs `command` as written from the repository root, isolated by environment only: its
    /// data directory and ports come from the quickstart's `TWINVAULT_QUICKSTART_*` variables.
    fn start(command: &str, home: &Path) -> Self {
        let (s3, admin) = (
            ports::allocate_one().expect("port"),
            ports::allocate_one().expect("port"),
        );
        let log = home.join("quickstart.log");
        let mut cmd = user_shell(home);
        cmd.arg("-c")
            .arg(format!("exec {command}"))
            .env("TWINVAULT_QUICKSTART_DATA_DIR", home.join("twinvault-data"))
            .env("TWINVAULT_QUICKSTART_S3_LISTEN", format!("127.0.0.1:{s3}"))
            .env("TWINVAULT_QUICKSTART_ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn the quickstart command");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // A first `cargo run --release` compiles the gateway: allow for it.
        let deadline = Instant::now() + Duration::from_secs(1500);
        let mut banner = Vec::new();
        let mut quickstart = Self {
            child,
            banner: Vec::new(),
            log,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let done = line.trim_start().starts_with("force_path_style");
                    banner.push(line);
                    if done {
                        break;
                    }
                }
                Err(_) => {
                    let _ = quickstart.child.kill();
                    panic!(
                        "the quickstart printed no complete banner; it printed:\n{}\nits log:\n{}",
                        banner.join("\n"),
                        quickstart.log_text()
                    );
                }
            }
        }
        // Keep draining what it prints, as a terminal would.
        std::thread::spawn(move || rx.into_iter().for_each(drop));
        quickstart.banner = banner;
        quickstart
    }

    fn field(&self, name: &str) -> String {
        self.banner
            .iter()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split(" : ").nth(1))
            .map(|v| v.split_whitespace().next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| panic!("the banner has no {name:?} line:\n{}", self.banner.join("\n")))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ctrl-C, as a terminal sends it: SIGINT to the foreground process group. Returns the
    /// exit status once the process stopped.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pgid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits in i32"));
        killpg(pgid, Signal::SIGINT).expect("send SIGINT");
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the quickstart") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = killpg(pgid, Signal::SIGKILL);
                let _ = self.child.wait();
                panic!(
                    "the quickstart did not stop within 40 s of Ctrl-C; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn readme_first_block_runs_as_written() {
    let commands = first_code_block(&read("README.md"));
    assert_eq!(
        commands.len(),
        2,
        "the README's first block should hold two commands: {commands:?}"
    );
    let (quickstart, tests) = (&commands[0], &commands[1]);
    assert!(quickstart.contains("quickstart"), "first command: {quickstart}");
    assert!(
        read(".ci/run").contains(tests.as_str()),
        "CI (.ci/run) does not run the README's test command {tests:?}"
    );

    let home = tempfile::tempdir().expect("home");
    let running = Quickstart::start(quickstart, home.path());
    let banner = running.banner.join("\n");
    let endpoint = running.field("S3 endpoint");
    assert!(
        banner.contains("Ctrl-C"),
        "the banner does not say how to stop:\n{banner}"
    );
    let data_dir = home.path().join("twinvault-data");
    assert!(
        banner.contains(&data_dir.display().to_string()),
        "the banner does not say where the data is:\n{banner}"
    );

    // The aws-cli lines, pasted into a shell as they are printed.
    let aws_lines = banner_section(&running.banner, "aws-cli");
    assert!(
        aws_lines.first().is_some_and(|l| l.starts_with("export ")) && aws_lines.len() >= 3,
        "aws-cli section: {aws_lines:?}"
    );
    let pasted = integration_tests::command::run(
        {
            let mut cmd = user_shell(home.path());
            cmd.arg("-ec").arg(aws_lines.join("\n"));
            cmd
        },
        None,
        Duration::from_secs(120),
    );
    assert!(
        pasted.success(),
        "the banner's aws-cli commands failed:\n{pasted}\nquickstart log:\n{}",
        running.log_text()
    );

    // What they did is there: README.md in s3://demo, byte for byte.
    let target = S3Target::new(endpoint, running.field("access key"), running.field("secret key"));
    let back = home.path().join("README.back");
    aws(
        &target,
        ["s3", "cp", "s3://demo/README.md", back.to_str().expect("utf8")],
    )
    .expect_success();
    assert!(std::fs::read(&back).expect("read back") == read("README.md").into_bytes());

    // The rclone settings, saved as the banner says, list it too.
    let rclone_lines = banner_section(&running.banner, "rclone");
    let conf = home.path().join("rclone.conf");
    std::fs::write(&conf, rclone_lines.join("\n") + "\n").expect("write rclone.conf");
    let remote = rclone_lines
        .first()
        .and_then(|l| l.strip_prefix('[')?.strip_suffix(']'))
        .unwrap_or_else(|| panic!("rclone section: {rclone_lines:?}"))
        .to_owned();
    let listed = integration_tests::command::run(
        {
            let mut cmd = Command::new(Venv::get().bin("rclone"));
            cmd.args(["--config"])
                .arg(&conf)
                .args(["lsf", &format!("{remote}:demo")]);
            cmd
        },
        None,
        Duration::from_secs(60),
    );
    assert!(
        listed.success() && listed.stdout_str().lines().any(|l| l == "README.md"),
        "{listed}"
    );

    // Ctrl-C stops it cleanly, and the data stays where the banner said.
    let status = running.interrupt();
    assert!(status.success(), "the quickstart exited with {status} after Ctrl-C");
    assert!(data_dir.join("twinvault.toml").is_file());
}

/// `twinvault <subcommand>` of each row of the README's command table.
fn readme_subcommands() -> Vec<String> {
    read("README.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `twinvault "))
        .filter_map(|rest| rest.split([' ', '`']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn readme_command_table_matches_the_binary() {
    let listed = readme_subcommands();
    assert!(listed.len() >= 5, "README command table: {listed:?}");
    let help = Command::new(Gateway::binary())
        .arg("--help")
        .output()
        .expect("twinvault --help");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    // The binary's subcommands (the indented lines under "Commands:"), but clap's own `help`.
    let offered: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    let mut sorted_listed = listed.clone();
    sorted_listed.sort();
    let mut sorted_offered = offered.clone();
    sorted_offered.sort();
    assert_eq!(
        sorted_listed, sorted_offered,
        "README's command table and `twinvault --help` differ"
    );
    for sub in &listed {
        let out = Command::new(Gateway::binary())
            .args([sub.as_str(), "--help"])
            .output()
            .expect("run --help");
        assert!(out.status.success(), "twinvault {sub} --help failed");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
    }
}

#[test]
fn the_example_configuration_checks_as_shipped() {
    // The path the README links, run from the repository root as a user would.
    let out = Command::new(Gateway::binary())
        .args(["check-config", "--config", "config/twinvault.example.toml"])
        .current_dir(workspace_root())
        .output()
        .expect("run check-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check-config of the example failed: {stderr}");
    assert!(stderr.contains("configuration is valid"), "{stderr}");
}

#[test]
fn a_secret_file_missing_on_this_host_is_named_plainly() {
    let example = read("config/twinvault.example.toml");
    // The commented alternative the example shows, made real: the file is not on this host.
    let edited = example.replacen(
        "secret_access_key = \"region-b-secret\"\n",
        "secret_access_key_file = \"/nonexistent/twinvault/region-b-secret\"\n",
        1,
    );
    assert_ne!(edited, example, "the example's region b secret moved; update this test");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("edited.toml");
    std::fs::write(&path, edited).expect("write");
    let out = Command::new(Gateway::binary())
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run check-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("secret_access_key_file: cannot read /nonexistent/twinvault/region-b-secret")
            && stderr.contains("must exist on the host that runs twinvault"),
        "{stderr}"
    );
}

/// Every `scripts/bench*.sh --quick` line in README.md and docs/*.md, as written.
fn documented_quick_benches() -> Vec<String> {
    let mut pages = vec![read("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(workspace_root().join("docs"))
        .expect("docs/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs.iter().map(|p| std::fs::read_to_string(p).expect("read doc")));
    let mut found: Vec<String> = pages
        .iter()
        .flat_map(|page| page.lines())
        .map(|l| l.split(" #").next().unwrap_or_default().trim().trim_matches('`'))
        .filter(|l| l.trim_start_matches("./").starts_with("scripts/bench") && l.ends_with("--quick"))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn documented_benchmark_smoke_runs_work() {
    let benches = documented_quick_benches();
    assert!(
        benches.iter().any(|b| b.contains("bench.sh")) && benches.iter().any(|b| b.contains("bench-peers.sh")),
        "documented --quick runs: {benches:?}"
    );
    let home = tempfile::tempdir().expect("home");
    for bench in benches {
        let out = integration_tests::command::run(
            {
                let mut cmd = user_shell(home.path());
                cmd.arg("-c").arg(&bench);
                cmd
            },
            None,
            Duration::from_secs(1500),
        );
        assert!(out.success(), "{bench} failed:\n{out}");
        let ratios = out.stdout_str().lines().filter(|l| l.starts_with("ratio ")).count();
        assert!(ratios > 0, "{bench} printed no ratio lines:\n{out}");
    }
}

mod parsing {
    use super::*;

    #[test]
    fn first_block_drops_comments_and_stops_at_the_fence() {
        let md = "intro\n```sh\n# say\ncargo run -- x   # trailing\n\n./t.sh\n```\n```sh\nlater\n```\n";
        assert_eq!(first_code_block(md), ["cargo run -- x", "./t.sh"]);
    }

    #[test]
    fn banner_sections_end_at_a_blank_line() {
        let banner: Vec<String> = ["aws-cli:", "  export A=1", "  aws ls", "", "rclone (x):", "  [tv]"]
            .map(String::from)
            .to_vec();
        assert_eq!(banner_section(&banner, "aws-cli"), ["export A=1", "aws ls"]);
        assert_eq!(banner_section(&banner, "rclone"), ["[tv]"]);
    }
}
