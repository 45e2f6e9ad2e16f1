//! CPU per unit of work (issue #20): a process's CPU seconds over a phase divided by the work
//! the phase did (GiB moved, requests, listing pages), printed next to its target, and the
//! physical floor measured in the same run (OpenSSL's AES-256-GCM and SHA-256, and this
//! process's memcpy, each as CPU seconds per GiB).
//!
//! Wall-clock ratios on a machine whose cores the client, the gateway and the stores share say
//! more about the neighbours than the gateway; CPU per unit of work is what a deployment pays
//! on any hardware. The line formats are read by docs/BENCHMARKS.md and by whoever compares
//! runs, so they are fixed:
//!
//! - `gateway_cpu_per NAME VALUE UNIT target TARGET: met|MISSED`
//! - `peer_cpu_per NAME PEER VALUE UNIT`
//! - `floor NAME VALUE s/GiB (HOW)`

use std::process::Command;
use std::time::Instant;

/// Bytes in a GiB, as a float for rates.
const GIB: f64 = (1u64 << 30) as f64;
/// Block size of the OpenSSL runs: the envelope's segment size.
const OPENSSL_BLOCK: &str = "65536";
/// Size of each memcpy and how many are timed (1 GiB in all): large enough to leave the caches.
const MEMCPY_BYTES: usize = 64 << 20;
const MEMCPY_ROUNDS: usize = 16;

/// The work a phase did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Object bytes moved (plaintext, as the client sees them).
    Bytes(u64),
    Requests(u64),
    /// Listing pages.
    Pages(u64),
}

// === impl Work ===

impl Work {
    /// The same work done `rounds` times.
    pub fn times(self, rounds: usize) -> Work {
        let rounds = rounds as u64;
        match self {
            Work::Bytes(n) => Work::Bytes(n * rounds),
            Work::Requests(n) => Work::Requests(n * rounds),
            Work::Pages(n) => Work::Pages(n * rounds),
        }
    }

    /// `cpu_seconds` per unit of this work and the unit's name; `None` for no work.
    pub fn per_unit(self, cpu_seconds: f64) -> Option<(f64, &'static str)> {
        match self {
            Work::Bytes(n) if n > 0 => Some((cpu_seconds * GIB / n as f64, "s/GiB")),
            Work::Requests(n) if n > 0 => Some((cpu_seconds * 1e6 / n as f64, "us/req")),
            Work::Pages(n) if n > 0 => Some((cpu_seconds * 1e3 / n as f64, "ms/page")),
            _ => None,
        }
    }
}

/// `gateway_cpu_per NAME VALUE UNIT target TARGET: met|MISSED` (the target in the same unit).
pub fn gateway_line(name: &str, cpu_seconds: f64, work: Work, target: f64) -> Option<String> {
    let (value, unit) = work.per_unit(cpu_seconds)?;
    let verdict = if value <= target { "met" } else { "MISSED" };
    Some(format!(
        "gateway_cpu_per {name} {} {unit} target {}: {verdict}",
        figure(value),
        figure(target)
    ))
}

/// `peer_cpu_per NAME PEER VALUE UNIT`: what another process (a peer gateway, the store
/// itself) spent on the same work.
pub fn peer_line(name: &str, peer: &str, cpu_seconds: f64, work: Work) -> Option<String> {
    let (value, unit) = work.per_unit(cpu_seconds)?;
    Some(format!("peer_cpu_per {name} {peer} {} {unit}", figure(value)))
}

/// Three significant figures at most, no exponent: `0.123`, `12.3`, `355`.
fn figure(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// The cost of the byte work no gateway can avoid, in CPU seconds per GiB, measured on this
/// machine now.
#[derive(Debug, Clone)]
pub struct Floor {
    /// OpenSSL's AES-256-GCM per CPU second, and its wall-clock figure (`-elapsed`) beside it.
    aes_256_gcm: Option<OpensslSpeed>,
    sha256: Option<OpensslSpeed>,
    /// One memcpy of every byte, timed by this thread's CPU clock.
    memcpy: f64,
}

/// One `openssl speed` result in bytes per second: per CPU second and per wall second.
#[derive(Debug, Clone, Copy)]
struct OpensslSpeed {
    cpu: f64,
    elapsed: f64,
}

// === impl Floor ===

impl Floor {
    /// Runs `openssl speed` (1 s per algorithm and clock, 64 KiB blocks) and times 1 GiB of
    /// memcpy: ~5 s. An algorithm openssl does not run is left out of the lines.
    pub fn measure() -> Floor {
        Floor {
            aes_256_gcm: openssl_speed("aes-256-gcm"),
            sha256: openssl_speed("sha256"),
            memcpy: memcpy_seconds_per_gib(),
        }
    }

    /// `floor NAME VALUE s/GiB (HOW)`: the measured parts, then the sums each large-object
    /// target stands on (copies: every byte in from one side and out to the other; a PUT's
    /// ciphertext goes out twice, once per region).
    pub fn lines(&self) -> Vec<String> {
        let per_gib = |speed: f64| GIB / speed;
        let mut lines = Vec::new();
        for (name, speed) in [("aes_256_gcm", self.aes_256_gcm), ("sha256", self.sha256)] {
            if let Some(speed) = speed {
                lines.push(format!(
                    "floor {name} {} s/GiB (openssl speed -evp {}, 64 KiB blocks: {:.0} MB per CPU second, \
                     -elapsed {:.0} MB/s)",
                    figure(per_gib(speed.cpu)),
                    name.replace('_', "-"),
                    speed.cpu / 1e6,
                    speed.elapsed / 1e6
                ));
            }
        }
        lines.push(format!(
            "floor memcpy {} s/GiB (1 GiB in 64 MiB copies, this process's CPU clock: {:.0} MB/s)",
            figure(self.memcpy),
            GIB / self.memcpy / 1e6
        ));
        let Some(aes) = self.aes_256_gcm.map(|speed| per_gib(speed.cpu)) else {
            return lines;
        };
        let copies = |n: f64| aes + n * self.memcpy;
        lines.push(format!(
            "floor get_large {} s/GiB (aes_256_gcm + 2 x memcpy)",
            figure(copies(2.0))
        ));
        lines.push(format!(
            "floor put_large_unsigned {} s/GiB (aes_256_gcm + 3 x memcpy)",
            figure(copies(3.0))
        ));
        if let Some(sha) = self.sha256.map(|speed| per_gib(speed.cpu)) {
            lines.push(format!(
                "floor put_large_signed {} s/GiB (sha256 + aes_256_gcm + 3 x memcpy)",
                figure(sha + copies(3.0))
            ));
        }
        lines
    }
}

/// `openssl speed -evp ALGORITHM` at 64 KiB blocks for 1 s, by CPU time and by wall time
/// (`-elapsed`); `None` if openssl is missing or prints no figure.
fn openssl_speed(algorithm: &str) -> Option<OpensslSpeed> {
    Some(OpensslSpeed {
        cpu: openssl_run(algorithm, false)?,
        elapsed: openssl_run(algorithm, true)?,
    })
}

fn openssl_run(algorithm: &str, elapsed: bool) -> Option<f64> {
    let mut command = Command::new("openssl");
    command.arg("speed");
    if elapsed {
        command.arg("-elapsed");
    }
    command.args(["-seconds", "1", "-bytes", OPENSSL_BLOCK, "-mr", "-evp", algorithm]);
    let output = command.output().ok()?;
    parse_openssl_mr(&String::from_utf8_lossy(&output.stdout))
}

/// Bytes per second from `openssl speed -mr` output: the last field of its `+F:` line.
fn parse_openssl_mr(stdout: &str) -> Option<f64> {
    let line = stdout.lines().find(|line| line.starts_with("+F:"))?;
    let value: f64 = line.rsplit(':').next()?.trim().parse().ok()?;
    (value > 0.0).then_some(value)
}

/// CPU seconds this thread spends per GiB copied with `copy_from_slice` (memcpy).
fn memcpy_seconds_per_gib() -> f64 {
    let source = vec![0x5au8; MEMCPY_BYTES];
    let mut target = vec![0u8; MEMCPY_BYTES];
    // One untimed copy faults the target's pages in.
    target.copy_from_slice(&source);
    let started = thread_cpu_seconds();
    let wall = Instant::now();
    for _ in 0..MEMCPY_ROUNDS {
        target.copy_from_slice(std::hint::black_box(&source));
        std::hint::black_box(&mut target);
    }
    // The thread clock ticks finely; fall back to wall time if it is unavailable.
    let seconds = match (started, thread_cpu_seconds()) {
        (Some(start), Some(end)) if end > start => end - start,
        _ => wall.elapsed().as_secs_f64(),
    };
    seconds * GIB / (MEMCPY_BYTES * MEMCPY_ROUNDS) as f64
}

fn thread_cpu_seconds() -> Option<f64> {
    use nix::time::{ClockId, clock_gettime};
    let now = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    Some(now.tv_sec() as f64 + now.tv_nsec() as f64 * 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_unit_divides_by_gib_requests_and_pages() {
        assert_eq!(Work::Bytes(1 << 31).per_unit(1.0), Some((0.5, "s/GiB")));
        assert_eq!(Work::Requests(4000).times(3).per_unit(1.2), Some((100.0, "us/req")));
        assert_eq!(Work::Pages(50).per_unit(0.1), Some((2.0, "ms/page")));
        assert_eq!(Work::Requests(0).per_unit(1.0), None);
    }

    #[test]
    fn gateway_line_says_met_or_missed_against_its_target() {
        let line = gateway_line("get_4k", 0.6, Work::Requests(12_000), 60.0);
        assert_eq!(
            line.as_deref(),
            Some("gateway_cpu_per get_4k 50.0 us/req target 60.0: met")
        );
        let line = gateway_line("get_64m", 3.0, Work::Bytes(3 << 30), 0.5);
        assert_eq!(
            line.as_deref(),
            Some("gateway_cpu_per get_64m 1.000 s/GiB target 0.500: MISSED")
        );
        let line = peer_line("put_4k", "rclone", 12.0, Work::Requests(6000));
        assert_eq!(line.as_deref(), Some("peer_cpu_per put_4k rclone 2000 us/req"));
    }

    #[test]
    fn openssl_machine_readable_output_gives_bytes_per_second() {
        let stdout = "+DT:AES-256-GCM:1:65536\n+R:29909:AES-256-GCM:1.000000\n+H:65536\n\
                      +F:25:AES-256-GCM:1960116224.00\n";
        assert_eq!(parse_openssl_mr(stdout), Some(1_960_116_224.0));
        assert_eq!(parse_openssl_mr("+H:65536\n"), None);
    }

    #[test]
    fn floor_lines_add_copies_to_the_cipher() {
        let speed = |bytes_per_second: f64| {
            Some(OpensslSpeed {
                cpu: bytes_per_second,
                elapsed: bytes_per_second,
            })
        };
        let floor = Floor {
            aes_256_gcm: speed(GIB * 10.0),
            sha256: speed(GIB * 2.0),
            memcpy: 0.1,
        };
        let lines = floor.lines();
        assert!(lines[0].starts_with("floor aes_256_gcm 0.100 s/GiB (openssl speed -evp aes-256-gcm"));
        assert!(lines.contains(&"floor get_large 0.300 s/GiB (aes_256_gcm + 2 x memcpy)".to_string()));
        assert!(lines.contains(&"floor put_large_signed 0.900 s/GiB (sha256 + aes_256_gcm + 3 x memcpy)".to_string()));
    }
}
