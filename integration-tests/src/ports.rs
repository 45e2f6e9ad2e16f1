//! Process-wide allocator of free loopback TCP ports in 18000-18999.
//!
//! Tests run on parallel threads, so a bind probe alone is racy: two threads could probe the
//! same free port before either server binds it. A mutex-guarded cursor hands every port out
//! once per process; the bind probe skips ports that other processes hold. The cursor starts
//! at a random offset so that two test processes on one machine rarely probe the same ports.

use std::net::{Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::sync::Mutex;

use anyhow::{bail, ensure};
use rand::Rng;

/// Every port the harness hands out lies here.
pub const PORT_RANGE: RangeInclusive<u16> = 18000..=18999;

static CURSOR: Mutex<Option<u16>> = Mutex::new(None);

/// Reserves `count` consecutive ports that are free right now and returns the first.
///
/// A port is never handed out twice by one process until the range wraps around.
pub fn allocate(count: u16) -> anyhow::Result<u16> {
    let (lo, hi) = (*PORT_RANGE.start(), *PORT_RANGE.end());
    ensure!((1..=hi - lo + 1).contains(&count), "cannot allocate {count} ports");
    let mut cursor = CURSOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut next = cursor.unwrap_or_else(|| rand::rng().random_range(lo..=hi));
    let attempts = (hi - lo + 1) / count + 1;
    for _ in 0..attempts {
        if u32::from(next) + u32::from(count) - 1 > u32::from(hi) {
            next = lo;
        }
        let base = next;
        next = base + count;
        if (base..base + count).all(is_free) {
            *cursor = Some(next);
            return Ok(base);
        }
    }
    *cursor = Some(next);
    bail!("no {count} consecutive free ports in {lo}-{hi}")
}

/// Reserves one free port.
pub fn allocate_one() -> anyhow::Result<u16> {
    allocate(1)
}

/// True when nothing listens on `127.0.0.1:port` (std sets SO_REUSEADDR, so TIME_WAIT is fine).
pub fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn concurrent_allocations_never_overlap() {
        let bases: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| allocate(8).expect("ports available")))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("allocator thread"))
                .collect()
        });
        let mut seen = HashSet::new();
        for base in bases {
            assert!(PORT_RANGE.contains(&base) && PORT_RANGE.contains(&(base + 7)));
            for port in base..base + 8 {
                assert!(seen.insert(port), "port {port} handed out twice");
            }
        }
    }
}
