//! The repair loop inside `serve`: every `repair_interval`, replay the journal into regions that
//! answer again.
//!
//! Several gateway replicas share the journal. A lease object in each region's journal bucket
//! (`lease/replay`: holder and expiry) keeps them from replaying the same records at once: a
//! replica takes the lease only when it is free or expired, and confirms it still holds it
//! after a pause (S3 has no compare-and-swap everywhere; the last writer keeps the lease). Two
//! replicas that still overlap do no harm: replay is idempotent.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Repairer;
use crate::replication::Regions;
use crate::upstream::Upstream;

const LEASE_KEY: &str = "lease/replay";
/// Pause between writing the lease and checking it is still ours.
const LEASE_SETTLE: Duration = Duration::from_millis(200);

#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs until the task is dropped (the server aborts it on shutdown; every step is safe to cut).
pub async fn run_background(regions: Arc<Regions>, interval: Duration) {
    let me = format!("{:016x}", rand::random::<u64>());
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // A region whose breaker is open gets a probe (one per cooldown; its success closes the
        // breaker); its records wait until it answers.
        let mut down = false;
        for region in regions.all() {
            if region.health().is_open() {
                down |= region
                    .head_bucket(regions.journal().bucket())
                    .await
                    .is_err_and(|e| !e.kind.is_not_found());
            }
        }
        if down {
            continue;
        }
        let lease_region = &regions.all()[0];
        if !take_lease(&regions, lease_region, &me, interval * 3).await {
            continue;
        }
        let repairer = Repairer::new(&regions, false);
        let result = repairer.replay_journal().await;
        let cleared = repairer
            .summary
            .records_cleared
            .load(std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(()) if cleared == 0 => tracing::debug!("repair loop: journal empty"),
            Ok(()) => tracing::info!(summary = %repairer.summary.line(), "repair loop: journal replayed"),
            Err(e) => tracing::warn!(error = %e, summary = %repairer.summary.line(), "repair loop: replay incomplete"),
        }
        let _ = lease_region.delete_object(regions.journal().bucket(), LEASE_KEY).await;
    }
}

async fn take_lease(regions: &Regions, region: &Upstream, me: &str, ttl: Duration) -> bool {
    let bucket = regions.journal().bucket();
    if let Ok(bytes) = region.get_small(bucket, LEASE_KEY, 4096).await
        && let Ok(lease) = serde_json::from_slice::<Lease>(&bytes)
        && lease.holder != me
        && lease.expires_ms > now_ms()
    {
        return false;
    }
    let lease = Lease {
        holder: me.to_owned(),
        expires_ms: now_ms() + ttl.as_millis() as u64,
    };
    let Ok(body) = serde_json::to_vec(&lease) else {
        return false;
    };
    let put = region.put_small(bucket, LEASE_KEY, Bytes::from(body.clone())).await;
    if put.is_err() {
        // The journal bucket may not exist yet: then there is nothing to replay either.
        let _ = regions.journal().ensure_bucket(region).await;
        return false;
    }
    tokio::time::sleep(LEASE_SETTLE).await;
    matches!(region.get_small(bucket, LEASE_KEY, 4096).await, Ok(now) if now.as_ref() == body.as_slice())
}
