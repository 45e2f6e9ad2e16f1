//! Which regions answered the upstream calls made for one client request (the audit line's
//! `regions`). The front door scopes a request's handler with a [`RegionsUsed`] only when the
//! audit log is on; each upstream call that gets an answer sets its region's bit, so the cost
//! is one atomic `or` per call, and a task-local lookup that finds nothing when the log is off.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

tokio::task_local! {
    static USED: RegionsUsed;
}

/// The regions (by configuration index) one request's upstream calls got answers from.
#[derive(Clone, Debug, Default)]
pub struct RegionsUsed(Arc<AtomicU8>);

impl RegionsUsed {
    /// Runs `work` with its upstream calls noted in `used` (if any).
    pub async fn within<F: Future>(used: Option<Self>, work: F) -> F::Output {
        match used {
            Some(used) => USED.scope(used, work).await,
            None => work.await,
        }
    }

    /// The record of the request being served, for work it hands to another task (a GET body
    /// resumed from the other region, parts read back at completion).
    pub fn current() -> Option<Self> {
        USED.try_with(Self::clone).ok()
    }

    /// Whether region `index` (configuration order) answered a call.
    pub fn contains(&self, index: usize) -> bool {
        self.0.load(Ordering::Relaxed) & bit(index) != 0
    }

    fn add(&self, index: usize) {
        self.0.fetch_or(bit(index), Ordering::Relaxed);
    }
}

fn bit(index: usize) -> u8 {
    1 << (index & 7)
}

/// Notes that region `index` answered a call of the request being served (nothing outside one).
pub(super) fn note(index: usize) {
    let _ = USED.try_with(|used| used.add(index));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_noted_only_inside_a_scope_and_in_tasks_it_is_handed_to() {
        note(0); // no request: nothing to note, no panic
        let used = RegionsUsed::default();
        RegionsUsed::within(Some(used.clone()), async {
            note(1);
            let handed = RegionsUsed::current();
            tokio::spawn(RegionsUsed::within(handed, async { note(0) }))
                .await
                .expect("task");
        })
        .await;
        assert!(used.contains(0) && used.contains(1));
        let untouched = RegionsUsed::default();
        RegionsUsed::within(None, async { note(0) }).await;
        assert!(!untouched.contains(0) && !untouched.contains(1));
    }
}
