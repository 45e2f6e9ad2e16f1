//! The read policies under paused tokio time: every delay is virtual, so the tests are exact
//! and instant (no sleeps, no timing assertions against a real clock).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use tokio::time::Instant;

use super::Regions;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::upstream::{Upstream, UpstreamError, UpstreamErrorKind};

fn regions(read_mode: &str) -> Regions {
    let toml = format!(
        r#"
        [[users]]
        access_key_id = "AK"
        secret_access_key = "SK"
        [keyring]
        current = "k1"
        [[keyring.keys]]
        id = "k1"
        key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        [replication]
        read_mode = "{read_mode}"
        preferred_region = "a"
        hedge_delay_min_ms = 20
        [regions.a]
        endpoint = "http://127.0.0.1:1"
        access_key_id = "a"
        secret_access_key = "a"
        [regions.b]
        endpoint = "http://127.0.0.1:2"
        access_key_id = "b"
        secret_access_key = "b"
        "#
    );
    let config = Config::from_figment(Figment::from(Toml::string(&toml))).unwrap_or_else(|e| panic!("{e}"));
    let metrics = Arc::new(Metrics::new().unwrap_or_else(|e| panic!("{e}")));
    Regions::from_config(&config, metrics)
}

/// A read answering from each region after the given virtual delays (None: an error of `kind`).
async fn answer(
    up: &Upstream,
    a: Result<Duration, UpstreamErrorKind>,
    b: Result<Duration, UpstreamErrorKind>,
) -> Result<String, UpstreamError> {
    let plan = if up.name() == "a" { a } else { b };
    match plan {
        Ok(delay) => {
            tokio::time::sleep(delay).await;
            Ok(up.name().to_owned())
        }
        Err(kind) => Err(UpstreamError::new(up.name(), "GetObject", kind, "planned")),
    }
}

const SLOW: Duration = Duration::from_secs(1);
const FAST: Duration = Duration::from_millis(10);

#[tokio::test(start_paused = true)]
async fn hedged_reads_ask_the_other_region_after_the_hedge_delay() {
    let regions = regions("hedged");
    let started = Instant::now();
    let got = regions.read(|up| answer(up, Ok(SLOW), Ok(FAST))).await;
    assert_eq!(got.ok().as_deref(), Some("b"));
    // No history yet: the hedge goes out after hedge_delay_min (20 ms), b answers 10 ms later.
    assert_eq!(started.elapsed(), Duration::from_millis(30));
}

#[tokio::test(start_paused = true)]
async fn a_fast_first_region_is_not_hedged() {
    let regions = regions("hedged");
    let asked = AtomicUsize::new(0);
    let got = regions
        .read(|up| {
            asked.fetch_add(1, Ordering::Relaxed);
            answer(up, Ok(FAST), Ok(FAST))
        })
        .await;
    assert_eq!(got.ok().as_deref(), Some("a"));
    assert_eq!(
        asked.load(Ordering::Relaxed),
        1,
        "a 10 ms answer must not be hedged at 20 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn primary_mode_waits_for_the_preferred_region() {
    let regions = regions("primary");
    let started = Instant::now();
    let got = regions.read(|up| answer(up, Ok(SLOW), Ok(FAST))).await;
    assert_eq!(got.ok().as_deref(), Some("a"));
    assert_eq!(started.elapsed(), SLOW);
}

#[tokio::test(start_paused = true)]
async fn race_mode_asks_both_at_once() {
    let regions = regions("race");
    let started = Instant::now();
    let got = regions.read(|up| answer(up, Ok(SLOW), Ok(FAST))).await;
    assert_eq!(got.ok().as_deref(), Some("b"));
    assert_eq!(started.elapsed(), FAST);
}

#[tokio::test(start_paused = true)]
async fn errors_and_not_found_fail_over_in_every_mode() {
    for mode in ["primary", "hedged", "race"] {
        let regions = regions(mode);
        for kind in [UpstreamErrorKind::Unavailable, UpstreamErrorKind::NoSuchKey] {
            let got = regions.read(|up| answer(up, Err(kind), Ok(FAST))).await;
            assert_eq!(got.ok().as_deref(), Some("b"), "{mode}: {kind:?} did not fail over");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_definite_not_found_beats_an_unreachable_region() {
    let regions = regions("primary");
    let got = regions
        .read(|up| {
            answer(
                up,
                Err(UpstreamErrorKind::NoSuchKey),
                Err(UpstreamErrorKind::Unavailable),
            )
        })
        .await;
    assert_eq!(got.err().map(|e| e.kind), Some(UpstreamErrorKind::NoSuchKey));
}

#[tokio::test(start_paused = true)]
async fn failed_preconditions_are_final() {
    let regions = regions("hedged");
    let got = regions
        .read(|up| answer(up, Err(UpstreamErrorKind::PreconditionFailed), Ok(FAST)))
        .await;
    assert_eq!(got.err().map(|e| e.kind), Some(UpstreamErrorKind::PreconditionFailed));
}

#[tokio::test(start_paused = true)]
async fn hedges_stay_within_their_budget() {
    let regions = regions("hedged");
    let second_asks = AtomicUsize::new(0);
    let reads = 400;
    for i in 0..reads {
        // a answers in 10 ms for its first 12 reads (its history), then always in 200 ms, far
        // above its p95: every later read wants a hedge. b (8 ms) is not fast enough to be
        // asked first (that needs half of a's median).
        let a = if i < 12 { FAST } else { Duration::from_millis(200) };
        let got = regions
            .read(|up| {
                if up.name() == "b" {
                    second_asks.fetch_add(1, Ordering::Relaxed);
                }
                answer(up, Ok(a), Ok(Duration::from_millis(8)))
            })
            .await;
        assert!(got.is_ok());
    }
    let asked = second_asks.load(Ordering::Relaxed);
    assert!(asked >= 30, "hedging never happened: b asked {asked} times");
    assert!(asked <= reads / 10 + 10, "b asked {asked} times for {reads} reads");
}

#[tokio::test(start_paused = true)]
async fn the_region_answering_faster_lately_is_asked_first() {
    let regions = regions("hedged");
    // Region a is slow; after enough hedged reads both have history and b becomes first.
    for _ in 0..30 {
        let _ = regions
            .read(|up| answer(up, Ok(Duration::from_millis(200)), Ok(FAST)))
            .await;
    }
    let asked = std::sync::Mutex::new(Vec::new());
    let got = regions
        .read(|up| {
            if let Ok(mut v) = asked.lock() {
                v.push(up.name().to_owned());
            }
            answer(up, Ok(Duration::from_millis(200)), Ok(FAST))
        })
        .await;
    assert_eq!(got.ok().as_deref(), Some("b"));
    assert_eq!(
        asked.lock().map(|v| v.clone()).unwrap_or_default(),
        vec!["b".to_owned()]
    );
}
