//! One phase's figure: a rate plus per-request latency percentiles, and the median over rounds.

use std::time::Duration;

/// One rate, plus per-request latency percentiles for the phases that time each request.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    pub rate: f64,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
}

impl Measurement {
    /// A rate alone, for phases that do not time each request.
    pub fn from_rate(rate: f64) -> Measurement {
        Measurement {
            rate,
            p50: None,
            p99: None,
        }
    }

    /// The round with the median rate (the upper one of the middle two for an even count).
    ///
    /// # Panics
    /// If `rounds` is empty (a plan always has at least one round).
    pub fn median(mut rounds: Vec<Measurement>) -> Measurement {
        rounds.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        rounds[rounds.len() / 2]
    }
}

/// The rate of a run of operations and each operation's latency, sorted.
#[derive(Debug)]
pub struct Latencies {
    pub rate: f64,
    pub sorted: Vec<Duration>,
}

impl Latencies {
    pub fn measurement(&self) -> Measurement {
        Measurement {
            rate: self.rate,
            p50: percentile(&self.sorted, 0.50),
            p99: percentile(&self.sorted, 0.99),
        }
    }
}

/// The value at `quantile` (0..=1) of `sorted`, nearest rank; `None` for no values.
pub fn percentile(sorted: &[Duration], quantile: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    let index = ((last as f64) * quantile).round() as usize;
    sorted.get(index).copied()
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `A/B` in milliseconds with one decimal, or `-` unless both are known.
pub fn millis_pair(a: Option<Duration>, b: Option<Duration>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:.1}/{:.1}", millis(a), millis(b)),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_picks_the_middle_round() {
        let rate = Measurement::from_rate;
        assert_eq!(Measurement::median(vec![rate(3.0), rate(1.0), rate(2.0)]).rate, 2.0);
        assert_eq!(Measurement::median(vec![rate(5.0)]).rate, 5.0);
    }

    #[test]
    fn percentile_of_sorted_latencies() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.5), Some(Duration::from_millis(51)));
        assert_eq!(percentile(&ms, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn millis_pair_needs_both_values() {
        let ms = |n| Some(Duration::from_micros(n));
        assert_eq!(millis_pair(ms(1_250), ms(20_000)), "1.2/20.0");
        assert_eq!(millis_pair(ms(1_000), None), "-");
    }
}
