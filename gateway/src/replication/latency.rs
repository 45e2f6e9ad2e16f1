//! Recent time-to-answer per region: the input to read ordering and hedge delays.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// How many recent samples a region keeps: enough for a stable p95, short enough to follow
/// a region that gets slower or faster within a minute of traffic.
const WINDOW: usize = 200;

/// No decisions from fewer samples than this (tower's hedge uses a minimum too).
pub const MIN_SAMPLES: usize = 10;

/// A sliding window of one region's recent successful answer times.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    samples: Mutex<VecDeque<Duration>>,
}

impl LatencyWindow {
    /// Adds one sample.
    pub fn record(&self, sample: Duration) {
        if let Ok(mut samples) = self.samples.lock() {
            if samples.len() == WINDOW {
                samples.pop_front();
            }
            samples.push_back(sample);
        }
    }

    /// The `q` quantile (0..=1) of the window, once it holds [`MIN_SAMPLES`].
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let samples = self.samples.lock().ok()?;
        if samples.len() < MIN_SAMPLES {
            return None;
        }
        let mut sorted: Vec<Duration> = samples.iter().copied().collect();
        sorted.sort_unstable();
        let rank = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        sorted.get(rank).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_need_enough_samples_and_follow_the_window() {
        let w = LatencyWindow::default();
        for ms in 1..MIN_SAMPLES as u64 {
            w.record(Duration::from_millis(ms));
        }
        assert_eq!(w.quantile(0.5), None);
        w.record(Duration::from_millis(100));
        assert_eq!(w.quantile(1.0), Some(Duration::from_millis(100)));
        for _ in 0..WINDOW {
            w.record(Duration::from_millis(7));
        }
        assert_eq!(
            w.quantile(0.95),
            Some(Duration::from_millis(7)),
            "old samples left the window"
        );
    }
}
