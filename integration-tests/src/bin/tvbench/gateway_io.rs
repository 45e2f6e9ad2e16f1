//! What crossed the gateway during a phase: the bytes its process sent (`wchar` of
//! `/proc/PID/io`, which counts `write`/`writev` on sockets too: upstream request bodies and
//! client responses alike) and its upstream calls by operation
//! (`twinvault_upstream_requests_total` from `/metrics`). Received bytes are not measured:
//! sockets are read with `recv`, which `rchar` does not count. Every byte of object data the
//! gateway receives it also sends on (to a region or to the client), so the sent bytes bound
//! what passed through; a server-side copy should move almost nothing.

use std::collections::BTreeMap;

use integration_tests::Gateway;

/// Reads the gateway's I/O counter and metrics.
pub struct GatewayProbe<'a> {
    gateway: &'a Gateway,
}

/// The counters at one point in time.
#[derive(Debug, Clone)]
pub struct GatewaySample {
    sent: Option<u64>,
    calls: BTreeMap<String, u64>,
}

/// Bytes sent and upstream calls between samples, summed over several intervals.
#[derive(Debug, Clone, Default)]
pub struct GatewayTraffic {
    /// `None` once any interval's `/proc/PID/io` could not be read.
    pub sent_bytes: Option<u64>,
    /// Upstream calls by operation (both regions, any outcome).
    pub calls: BTreeMap<String, u64>,
}

impl GatewayTraffic {
    pub fn zero() -> Self {
        Self {
            sent_bytes: Some(0),
            calls: BTreeMap::new(),
        }
    }
}

impl<'a> GatewayProbe<'a> {
    pub fn new(gateway: &'a Gateway) -> Self {
        Self { gateway }
    }

    /// Metrics first, then `/proc`: the scrape's own bytes fall outside the interval when the
    /// closing sample reads `/proc` first (see [`Self::accumulate`]).
    pub fn sample(&self) -> GatewaySample {
        let calls = self.calls();
        GatewaySample {
            sent: self.sent(),
            calls,
        }
    }

    /// Adds what happened since `before` to `traffic`.
    pub fn accumulate(&self, traffic: &mut GatewayTraffic, before: &GatewaySample) {
        let sent = self.sent();
        let calls = self.calls();
        traffic.sent_bytes = match (traffic.sent_bytes, before.sent, sent) {
            (Some(total), Some(start), Some(end)) => Some(total + end.saturating_sub(start)),
            _ => None,
        };
        for (operation, count) in calls {
            let earlier = before.calls.get(&operation).copied().unwrap_or(0);
            let delta = count.saturating_sub(earlier);
            if delta > 0 {
                *traffic.calls.entry(operation).or_default() += delta;
            }
        }
    }

    /// `wchar` of the gateway process.
    fn sent(&self) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/io", self.gateway.pid()?)).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("wchar:")?.trim().parse::<u64>().ok())
    }

    /// `twinvault_upstream_requests_total` summed by operation; empty if `/metrics` fails.
    fn calls(&self) -> BTreeMap<String, u64> {
        let Ok((200, body)) = self.gateway.admin_get("/metrics") else {
            return BTreeMap::new();
        };
        parse_upstream_calls(&body)
    }
}

/// Sums `twinvault_upstream_requests_total{...,operation="X",...} N` by operation.
fn parse_upstream_calls(metrics: &str) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("twinvault_upstream_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let operation = labels
            .split(',')
            .find_map(|label| label.strip_prefix("operation=\""))
            .map(|v| v.trim_end_matches('"'));
        let count = value.trim().parse::<f64>().ok();
        if let (Some(operation), Some(count)) = (operation, count) {
            *calls.entry(operation.to_owned()).or_default() += count as u64;
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_calls_are_summed_by_operation() {
        let metrics = "# TYPE twinvault_upstream_requests_total counter\n\
            twinvault_upstream_requests_total{operation=\"CopyObject\",outcome=\"ok\",region=\"a\"} 2\n\
            twinvault_upstream_requests_total{operation=\"CopyObject\",outcome=\"ok\",region=\"b\"} 3\n\
            twinvault_upstream_requests_total{operation=\"HeadObject\",outcome=\"error\",region=\"a\"} 1\n\
            twinvault_upstream_request_duration_seconds_count{operation=\"HeadObject\",region=\"a\"} 9\n";
        let calls = parse_upstream_calls(metrics);
        assert_eq!(calls.get("CopyObject"), Some(&5));
        assert_eq!(calls.get("HeadObject"), Some(&1));
        assert_eq!(calls.len(), 2);
    }
}
