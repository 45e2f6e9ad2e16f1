//! CPU time of a benchmark's processes (client, gateway, peers, both SeaweedFS), from
//! `/proc/PID/stat`.
//!
//! On a small machine every process shares the cores, so a rate alone does not say who spent
//! the time; CPU seconds per phase and side do.

use std::time::Instant;

/// Clock ticks per second in `/proc/PID/stat` (`USER_HZ`, fixed at 100 on Linux x86 and arm).
const TICKS_PER_SECOND: f64 = 100.0;

/// The processes to watch, by label (`None`: not running in this run).
#[derive(Debug)]
pub struct CpuProbe {
    processes: Vec<(&'static str, Option<u32>)>,
}

/// A point in time: wall clock and each process's user+system CPU seconds so far.
#[derive(Debug, Clone)]
pub struct CpuSample {
    at: Instant,
    seconds: Vec<Option<f64>>,
}

/// Wall and CPU seconds spent between samples, summed over several intervals.
#[derive(Debug, Clone)]
pub struct CpuUsage {
    pub wall: f64,
    /// Per process, in [`CpuProbe::labels`] order; `None` when `/proc` could not be read.
    pub cpu: Vec<Option<f64>>,
}

// === impl CpuProbe ===

impl CpuProbe {
    pub fn new(processes: impl IntoIterator<Item = (&'static str, Option<u32>)>) -> Self {
        CpuProbe {
            processes: processes.into_iter().collect(),
        }
    }

    pub fn labels(&self) -> Vec<&'static str> {
        self.processes.iter().map(|(label, _)| *label).collect()
    }

    pub fn zero(&self) -> CpuUsage {
        CpuUsage {
            wall: 0.0,
            cpu: vec![Some(0.0); self.processes.len()],
        }
    }

    pub fn sample(&self) -> CpuSample {
        CpuSample {
            at: Instant::now(),
            seconds: self
                .processes
                .iter()
                .map(|(_, pid)| pid.and_then(cpu_seconds))
                .collect(),
        }
    }

    /// Adds the time since `before` to `usage`.
    pub fn accumulate(&self, usage: &mut CpuUsage, before: &CpuSample) {
        let after = self.sample();
        usage.wall += after.at.duration_since(before.at).as_secs_f64();
        let deltas = before.seconds.iter().zip(&after.seconds);
        for (total, (start, end)) in usage.cpu.iter_mut().zip(deltas) {
            *total = match (*total, start, end) {
                (Some(total), Some(start), Some(end)) => Some(total + end - start),
                _ => None,
            };
        }
    }
}

// === impl CpuUsage ===

impl CpuUsage {
    /// The CPU seconds of the process labelled `label` (`labels` in [`CpuProbe::labels`] order).
    pub fn of(&self, labels: &[&str], label: &str) -> Option<f64> {
        let index = labels.iter().position(|candidate| *candidate == label)?;
        self.cpu.get(index).copied().flatten()
    }

    /// `cpu FIGURE SIDE wall=S LABEL=S ...` (seconds), `LABEL=UNREADABLE` where `/proc` could not
    /// be read. `labels` are the probe's, in [`CpuProbe::labels`] order.
    pub fn report_line(&self, figure: &str, side: &str, labels: &[&str], unreadable: &str) -> String {
        let mut line = format!("cpu {figure} {side} wall={:.2}", self.wall);
        for (label, seconds) in labels.iter().zip(&self.cpu) {
            match seconds {
                Some(seconds) => line.push_str(&format!(" {label}={seconds:.2}")),
                None => line.push_str(&format!(" {label}={unreadable}")),
            }
        }
        line
    }
}

/// utime + stime of `pid` in seconds (fields 14 and 15 of `/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; the fields after it start past the last ')'.
    let (_, after_name) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts with field 3 (state), so field N is at index N - 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_is_readable() {
        let probe = CpuProbe::new([("self", Some(std::process::id())), ("gone", None)]);
        let before = probe.sample();
        let mut usage = probe.zero();
        probe.accumulate(&mut usage, &before);
        assert!(usage.cpu[0].is_some_and(|seconds| seconds >= 0.0));
        assert_eq!(usage.cpu[1], None);
    }

    /// This thread's CPU time from the kernel's clock, independent of `/proc`.
    fn thread_cpu_seconds() -> f64 {
        use nix::time::{ClockId, clock_gettime};
        let now = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
        now.tv_sec() as f64 + now.tv_nsec() as f64 * 1e-9
    }

    /// The probe must see at least the CPU time this thread burns (0.3 s, by its own CPU clock,
    /// so a loaded machine only makes the loop take longer), less two ticks of rounding; other
    /// threads of the process can only add to it. It cannot exceed wall time on every core.
    #[test]
    fn own_cpu_time_is_readable_and_grows() {
        const BURN: f64 = 0.3;
        const ROUNDING: f64 = 2.0 / TICKS_PER_SECOND;
        let probe = CpuProbe::new([("self", Some(std::process::id()))]);
        let before = probe.sample();
        let start = thread_cpu_seconds();
        let mut x = 0u64;
        while thread_cpu_seconds() - start < BURN {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        std::hint::black_box(x);
        let burnt = thread_cpu_seconds() - start;
        let mut usage = probe.zero();
        probe.accumulate(&mut usage, &before);
        let seen = usage.cpu[0].expect("own /proc/PID/stat readable");
        assert!(
            seen >= burnt - ROUNDING,
            "probe saw {seen:.3} s of CPU, the thread burnt {burnt:.3} s"
        );
        // Twice the cores: a CPU quota can make `available_parallelism` fewer than the cores the
        // process runs on for a moment.
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        assert!(
            seen <= 2.0 * usage.wall * cores + ROUNDING,
            "probe saw {seen:.3} s of CPU in {:.3} s of wall time",
            usage.wall
        );
    }

    #[test]
    fn report_line_names_every_process_and_marks_unreadable_ones() {
        let usage = CpuUsage {
            wall: 1.5,
            cpu: vec![Some(0.25), None],
        };
        let line = usage.report_line("put_64m", "direct", &["client", "gateway"], "?");
        assert_eq!(line, "cpu put_64m direct wall=1.50 client=0.25 gateway=?");
    }
}
