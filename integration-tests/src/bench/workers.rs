//! `count` indexed operations spread over `concurrency` tasks that each take the next index
//! until none is left, so a slow operation holds up one task, not a batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::bench::measurement::Latencies;

/// One operation of a run, picked by its index (e.g. the PUT of key `prefix/INDEX`).
pub trait IndexedOp: Send + Sync + 'static {
    fn run(&self, index: usize) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Runs `op` for every index in `0..count` from `concurrency` tasks; returns the operations per
/// second and each operation's latency. The first failure ends the run (the other tasks are
/// aborted).
pub async fn run_indexed<O: IndexedOp>(op: O, count: usize, concurrency: usize) -> anyhow::Result<Latencies> {
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let worker = Worker {
            op: Arc::clone(&op),
            next: Arc::clone(&next),
            total: count,
        };
        tasks.spawn(worker.run());
    }
    let mut samples = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        samples.extend(joined.context("worker task panicked")??);
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    samples.sort_unstable();
    Ok(Latencies { rate, sorted: samples })
}

/// One of the concurrent tasks of a run.
struct Worker<O> {
    op: Arc<O>,
    next: Arc<AtomicUsize>,
    total: usize,
}

impl<O: IndexedOp> Worker<O> {
    /// Runs operations until the shared counter passes `total`; returns each one's latency.
    async fn run(self) -> anyhow::Result<Vec<Duration>> {
        let mut latencies = Vec::new();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.total {
                return Ok(latencies);
            }
            let started = Instant::now();
            self.op.run(index).await?;
            latencies.push(started.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records the indices it was given.
    struct Record(Arc<Mutex<Vec<usize>>>);

    impl IndexedOp for Record {
        async fn run(&self, index: usize) -> anyhow::Result<()> {
            self.0
                .lock()
                .expect("no test thread panics holding the lock")
                .push(index);
            Ok(())
        }
    }

    #[tokio::test]
    async fn every_index_runs_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let run = run_indexed(Record(Arc::clone(&seen)), 100, 7)
            .await
            .expect("no operation fails");
        assert_eq!(run.sorted.len(), 100);
        let mut indices = seen.lock().expect("no test thread panics holding the lock").clone();
        indices.sort_unstable();
        assert_eq!(indices, (0..100).collect::<Vec<_>>());
    }
}
