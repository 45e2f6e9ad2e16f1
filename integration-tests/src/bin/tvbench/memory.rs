//! The memory bound (issue #20): C concurrent streamed PUTs of one large object each through the
//! gateway, then C concurrent GETs of them, and the gateway's peak resident set (`VmHWM` of
//! `/proc/PID/status`, reset through `/proc/PID/clear_refs` before each half) against the
//! target. The client streams both ways too: a PUT body is one 1 MiB chunk repeated, a GET is
//! checked chunk by chunk as it arrives, so the client holds no object either.

use std::convert::Infallible;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use aws_sdk_s3::config::StalledStreamProtectionConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use integration_tests::bench::{MIB, Side};
use integration_tests::random_bytes;

/// Issue #20's bound on the gateway's peak RSS under this load.
const PEAK_RSS_TARGET_MIB: f64 = 128.0;
/// The repeated chunk of every PUT body.
const PATTERN_BYTES: usize = MIB;

/// The load: `concurrency` objects of `bytes` each, written then read at once.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLoad {
    pub bytes: usize,
    pub concurrency: usize,
}

/// Runs the PUT half then the GET half on `side` (the gateway's) and prints, per half,
/// `gateway_peak_rss OP CxN_MiB PEAK MiB target 128: met|MISSED` with the rate beside it.
pub async fn run(side: &Side, gateway_pid: u32, load: MemoryLoad) -> anyhow::Result<()> {
    let pattern = Bytes::from(random_bytes(PATTERN_BYTES));
    let label = format!("{}x{}MiB", load.concurrency, load.bytes / MIB);
    for op in ["put", "get"] {
        reset_peak_rss(gateway_pid)?;
        let before = rss_kib(gateway_pid, "VmRSS:")?;
        eprintln!("tvbench: start memory_{op} twinvault round 0");
        let started = Instant::now();
        let transfers = (0..load.concurrency).map(|index| {
            let key = format!("memory/{index}");
            let pattern = pattern.clone();
            async move {
                match op {
                    "put" => put_streamed(side, &key, pattern, load.bytes).await,
                    _ => get_checked(side, &key, &pattern, load.bytes).await,
                }
            }
        });
        futures::future::try_join_all(transfers).await?;
        let seconds = started.elapsed().as_secs_f64();
        let peak = rss_kib(gateway_pid, "VmHWM:")? as f64 / 1024.0;
        let rate = (load.bytes * load.concurrency) as f64 / MIB as f64 / seconds;
        eprintln!("tvbench: done memory_{op} twinvault round 0: {rate:.1} MiB/s");
        let verdict = if peak <= PEAK_RSS_TARGET_MIB { "met" } else { "MISSED" };
        println!(
            "gateway_peak_rss {op} {label} {peak:.1} MiB target {PEAK_RSS_TARGET_MIB:.0}: {verdict} \
             (rss before {:.1} MiB, {rate:.1} MiB/s, {seconds:.1} s)",
            before as f64 / 1024.0
        );
    }
    Ok(())
}

/// PUTs `len` bytes of `pattern` repeated, streamed (`UNSIGNED-PAYLOAD`: a signed payload
/// would need the whole body hashed before it is sent).
async fn put_streamed(side: &Side, key: &str, pattern: Bytes, len: usize) -> anyhow::Result<()> {
    let chunks = (0..len.div_ceil(pattern.len())).map(move |index| {
        let size = pattern.len().min(len - index * pattern.len());
        Ok::<_, Infallible>(Frame::data(pattern.slice(..size)))
    });
    let body = ByteStream::from_body_1_x(StreamBody::new(futures::stream::iter(chunks)));
    side.client()
        .put_object()
        .bucket(side.bucket())
        .key(key)
        .content_length(i64::try_from(len).context("object length")?)
        .body(body)
        .customize()
        .config_override(patient())
        .disable_payload_signing()
        .send()
        .await
        .with_context(|| format!("memory: PUT {key}"))?;
    Ok(())
}

/// GETs `key` and checks every chunk against `pattern` at its offset as it arrives.
async fn get_checked(side: &Side, key: &str, pattern: &Bytes, len: usize) -> anyhow::Result<()> {
    let output = side
        .client()
        .get_object()
        .bucket(side.bucket())
        .key(key)
        .customize()
        .config_override(patient())
        .send()
        .await
        .with_context(|| format!("memory: GET {key}"))?;
    let mut body = output.body;
    let mut offset = 0;
    while let Some(chunk) = body.try_next().await.with_context(|| format!("memory: read {key}"))? {
        if !matches_pattern(pattern, offset, &chunk) {
            bail!("memory: GET {key} returned different bytes near offset {offset}");
        }
        offset += chunk.len();
    }
    ensure!(
        offset == len,
        "memory: GET {key} returned {offset} bytes, expected {len}"
    );
    Ok(())
}

/// No stalled-stream protection: with 16 large transfers sharing the gateway and the stores,
/// one may wait longer than the SDK's grace period for its turn; the gateway bounds idle
/// bodies itself.
fn patient() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

/// Whether `chunk`, found at `offset` of the object, is `pattern` repeated from there.
fn matches_pattern(pattern: &[u8], offset: usize, chunk: &[u8]) -> bool {
    let mut position = offset % pattern.len();
    let mut rest = chunk;
    while !rest.is_empty() {
        let take = rest.len().min(pattern.len() - position);
        if rest[..take] != pattern[position..position + take] {
            return false;
        }
        rest = &rest[take..];
        position = 0;
    }
    true
}

/// Resets the process's peak RSS to its current RSS (Linux 4.0+: `5` to `clear_refs`).
fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").with_context(|| format!("reset VmHWM of pid {pid}"))
}

/// A `kB` field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in KiB.
fn rss_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("read status of pid {pid}"))?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    let kib = line.trim().trim_end_matches("kB").trim();
    kib.parse()
        .with_context(|| format!("{field} {kib:?} in /proc/{pid}/status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_checked_across_pattern_boundaries() {
        let pattern = [1u8, 2, 3, 4];
        assert!(matches_pattern(&pattern, 2, &[3, 4, 1, 2, 3, 4, 1]));
        assert!(matches_pattern(&pattern, 4, &[1, 2]));
        assert!(!matches_pattern(&pattern, 1, &[2, 3, 4, 1, 3]));
    }

    #[test]
    fn own_peak_rss_is_readable() {
        let pid = std::process::id();
        // The current size first: the peak read after it is at least that (read the other
        // way round, the process may grow in between, as it did once in CI).
        let now = rss_kib(pid, "VmRSS:").expect("VmRSS");
        let peak = rss_kib(pid, "VmHWM:").expect("VmHWM");
        assert!(peak >= now && now > 0, "VmHWM {peak} kB, VmRSS {now} kB");
    }
}
