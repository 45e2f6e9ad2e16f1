//! The lines on stderr around each timed round: `BENCH: start PHASE SIDE round N` before it and
//! `BENCH: done PHASE SIDE round N: RATE UNIT` after it. They let a wrapper (e.g. a profiler)
//! act on exactly one phase, so their form is fixed (see docs/BENCHMARKS.md).

/// Names one phase's rounds on stderr.
#[derive(Debug, Clone, Copy)]
pub struct RoundLog<'a> {
    /// `tvbench`, `peerbench`, ...
    pub bench: &'a str,
    /// The figure name, e.g. `put_64m`.
    pub phase: &'a str,
    /// The rate's unit, e.g. `MiB/s`.
    pub unit: &'a str,
}

impl RoundLog<'_> {
    pub fn start(&self, side: &str, round: usize) {
        eprintln!("{}: start {} {side} round {round}", self.bench, self.phase);
    }

    pub fn done(&self, side: &str, round: usize, rate: f64) {
        eprintln!(
            "{}: done {} {side} round {round}: {rate:.1} {}",
            self.bench, self.phase, self.unit
        );
    }
}
