//! Polling for state that settles asynchronously (repair queues, metrics), instead of sleeping.

use std::time::{Duration, Instant};

/// Calls `check` every 100 ms until it returns `Ok` or `patience` runs out; then returns the last error.
pub fn eventually<T>(patience: Duration, mut check: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    const INTERVAL: Duration = Duration::from_millis(100);
    let deadline = Instant::now() + patience;
    loop {
        match check() {
            Ok(value) => return Ok(value),
            Err(err) if Instant::now() >= deadline => {
                return Err(err.context(format!("still failing after {patience:?}")));
            }
            Err(_) => std::thread::sleep(INTERVAL),
        }
    }
}

/// Asserts that `$check` (an expression returning `anyhow::Result<T>`) succeeds within the
/// patience (default 10 s), and evaluates to its value.
#[macro_export]
macro_rules! assert_eventually {
    ($check:expr) => {
        $crate::assert_eventually!($check, ::std::time::Duration::from_secs(10))
    };
    ($check:expr, $patience:expr) => {
        match $crate::eventually($patience, || $check) {
            Ok(value) => value,
            Err(err) => panic!("assert_eventually!({}) failed: {err:#}", stringify!($check)),
        }
    };
}
