//! Version stamps: which of two copies of an object (or a delete) is newer.
//!
//! A stamp is a hybrid logical clock reading (milliseconds since the epoch in the high 48 bits,
//! a counter in the low 16) plus the writing process's random id, so stamps from one process
//! never repeat or go backwards, stamps from different processes are ordered by wall time, and
//! ties between processes are broken deterministically by writer id. Stored in upstream metadata
//! as fixed-width hex, so text order is stamp order.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Upstream metadata name of an object's stamp (`x-amz-meta-tv-stamp`).
pub const META_STAMP: &str = "tv-stamp";

/// One write's place in the last-writer-wins order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionStamp {
    /// Hybrid logical clock: `ms << 16 | counter`.
    pub clock: u64,
    /// The writing process.
    pub writer: u64,
}

impl VersionStamp {
    /// The stamp every real stamp is newer than (objects written before stamps existed).
    pub const ZERO: Self = Self { clock: 0, writer: 0 };

    /// Milliseconds since the epoch at which the stamp was taken.
    pub fn millis(self) -> u64 {
        self.clock >> 16
    }
}

impl fmt::Display for VersionStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}.{:016x}", self.clock, self.writer)
    }
}

/// A metadata value that is not a stamp.
#[derive(Debug, thiserror::Error)]
#[error("not a version stamp: {0:?}")]
pub struct BadStamp(String);

impl FromStr for VersionStamp {
    type Err = BadStamp;

    fn from_str(s: &str) -> Result<Self, BadStamp> {
        let bad = || BadStamp(s.chars().take(40).collect());
        let (clock, writer) = s.split_once('.').ok_or_else(bad)?;
        if clock.len() != 16 || writer.len() != 16 {
            return Err(bad());
        }
        Ok(Self {
            clock: u64::from_str_radix(clock, 16).map_err(|_| bad())?,
            writer: u64::from_str_radix(writer, 16).map_err(|_| bad())?,
        })
    }
}

/// Issues stamps for one process.
#[derive(Debug)]
pub struct Clock {
    last: AtomicU64,
    writer: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(rand::random())
    }
}

impl Clock {
    /// A clock for the writer `writer`.
    pub fn new(writer: u64) -> Self {
        Self {
            last: AtomicU64::new(0),
            writer,
        }
    }

    /// A fresh stamp, newer than every stamp this clock issued or observed before.
    pub fn now(&self) -> VersionStamp {
        let physical = wall_millis() << 16;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = physical.max(last + 1);
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return VersionStamp {
                        clock: next,
                        writer: self.writer,
                    };
                }
                Err(current) => last = current,
            }
        }
    }

    /// Moves the clock past `seen` (a stamp read from storage), so this process's next write
    /// orders after it even if this machine's clock is behind.
    pub fn observe(&self, seen: VersionStamp) {
        self.last.fetch_max(seen.clock, Ordering::Relaxed);
    }
}

fn wall_millis() -> u64 {
    unix_millis().min(u64::MAX >> 16)
}

/// Milliseconds since the Unix epoch by the wall clock (0 before it): the time base of stamps,
/// lease expiries and record ages.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_text_order_is_stamp_order() {
        let clock = Clock::new(7);
        let a = clock.now();
        let b = clock.now();
        assert!(b > a);
        assert!(b.to_string() > a.to_string());
        assert_eq!(a.to_string().parse::<VersionStamp>().ok(), Some(a));
    }

    #[test]
    fn stamps_from_one_clock_never_repeat() {
        let clock = Clock::new(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(clock.now()));
        }
    }

    #[test]
    fn observed_stamps_push_the_clock_forward() {
        let clock = Clock::new(1);
        let future = VersionStamp {
            clock: (wall_millis() + 60_000) << 16,
            writer: 2,
        };
        clock.observe(future);
        assert!(clock.now() > future);
    }

    #[test]
    fn equal_clocks_are_ordered_by_writer() {
        let a = VersionStamp { clock: 5, writer: 1 };
        let b = VersionStamp { clock: 5, writer: 2 };
        assert!(b > a);
    }

    #[test]
    fn malformed_stamps_are_rejected() {
        for bad in ["", "x", "0000000000000001", "0000000000000001.zz00000000000000", "1.2"] {
            assert!(bad.parse::<VersionStamp>().is_err(), "{bad}");
        }
    }
}
