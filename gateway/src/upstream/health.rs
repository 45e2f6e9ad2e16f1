//! A region's health: a circuit breaker over consecutive failures, so that a dead region costs
//! a fast failure instead of a timeout per request.
//!
//! Closed: every request goes through. After `threshold` consecutive "unavailable" failures it
//! opens: requests fail at once for `cooldown`. Then one probe request is let through (and the
//! cooldown restarts for everyone else); its success closes the breaker, its failure keeps it
//! open. Only failures that say the region is unwell count (unreachable, timed out, 5xx), never
//! a "not found" or a failed precondition.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// One region's breaker.
#[derive(Debug)]
pub struct Health {
    threshold: u32,
    cooldown: Duration,
    consecutive_failures: AtomicU32,
    /// When the breaker is open: the earliest time the next probe may go through.
    open_until: Mutex<Option<Instant>>,
    /// The last time the region was seen unwell (a failure, or a request refused while open):
    /// changes it missed until then may not be known to this gateway yet (replication/lag.rs).
    last_unwell: Mutex<Option<tokio::time::Instant>>,
}

impl Health {
    /// A closed breaker opening after `threshold` consecutive failures for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            consecutive_failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            last_unwell: Mutex::new(None),
        }
    }

    /// Whether a request may go to the region now. While open, lets one probe through per
    /// cooldown period.
    pub fn admit(&self) -> bool {
        let Ok(mut open_until) = self.open_until.lock() else {
            return true;
        };
        match *open_until {
            None => true,
            Some(until) if Instant::now() >= until => {
                *open_until = Some(Instant::now() + self.cooldown);
                true
            }
            Some(_) => {
                drop(open_until);
                self.seen_unwell();
                false
            }
        }
    }

    /// The region answered.
    pub fn success(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        if let Ok(mut open_until) = self.open_until.lock()
            && open_until.is_some()
        {
            *open_until = None;
            tracing::info!("region answering again; circuit breaker closed");
        }
    }

    /// The region failed in a way that says it is unwell.
    pub fn failure(&self) {
        self.seen_unwell();
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.threshold
            && let Ok(mut open_until) = self.open_until.lock()
        {
            if open_until.is_none() {
                tracing::warn!(failures, "region failing; circuit breaker opened");
            }
            *open_until = Some(Instant::now() + self.cooldown);
        }
    }

    fn seen_unwell(&self) {
        if let Ok(mut last) = self.last_unwell.lock() {
            *last = Some(tokio::time::Instant::now());
        }
    }

    /// The last time the region failed or a request to it was refused by the open breaker.
    pub fn last_unwell(&self) -> Option<tokio::time::Instant> {
        // A poisoned lock is a bug elsewhere: say "just now", never "never".
        self.last_unwell
            .lock()
            .map(|last| *last)
            .unwrap_or_else(|_| Some(tokio::time::Instant::now()))
    }

    /// Whether the breaker is open (the region is considered down).
    pub fn is_open(&self) -> bool {
        self.open_until.lock().map(|o| o.is_some()).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_after_cooldown() {
        let health = Health::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            health.failure();
            assert!(health.admit());
        }
        health.failure();
        assert!(health.is_open());
        assert!(!health.admit());
        std::thread::sleep(Duration::from_millis(40));
        assert!(health.admit(), "one probe after the cooldown");
        assert!(!health.admit(), "only one probe per cooldown");
        health.success();
        assert!(!health.is_open());
        assert!(health.admit());
    }

    #[test]
    fn remembers_when_the_region_was_last_unwell() {
        let health = Health::new(1, Duration::from_secs(60));
        assert_eq!(health.last_unwell(), None);
        let before = tokio::time::Instant::now();
        health.failure();
        let failed = health.last_unwell().expect("a failure is remembered");
        assert!(failed >= before);
        assert!(!health.admit());
        let refused = health.last_unwell().expect("still remembered");
        assert!(refused >= failed, "a refusal by the open breaker counts too");
        health.success();
        assert_eq!(health.last_unwell(), Some(refused), "a success does not erase it");
    }

    #[test]
    fn a_success_resets_the_count() {
        let health = Health::new(2, Duration::from_secs(60));
        health.failure();
        health.success();
        health.failure();
        assert!(!health.is_open());
        health.failure();
        assert!(health.is_open());
    }
}
