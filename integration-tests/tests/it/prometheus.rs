//! A real Prometheus (Debian package `prometheus`) scrapes the gateway's admin port with a
//! generated config, loads dashboards/alerts.yml, and answers queries for twinvault series.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};
use integration_tests::process::{self, GroupChild};
use integration_tests::{assert_eventually, ports, workspace_root};

use crate::cluster::Cluster;
use crate::metrics::workload;

const PROMETHEUS_BIN: &str = "prometheus";
/// Prometheus starts in about a second; a cold disk or a busy machine can take longer.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// A Prometheus server scraping one target every second. Dropping it kills it.
struct Prometheus {
    addr: SocketAddr,
    _child: GroupChild,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port, scraping `target`'s `/metrics` as job
    /// `twinvault`, with `rules` loaded.
    fn start(target: SocketAddr, rules: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("tv-prometheus-").tempdir()?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules:?}\n\
                 scrape_configs:\n  - job_name: twinvault\n    static_configs:\n      - targets: ['{target}']\n",
            ),
        )?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ports::allocate_one()?));
        let log = dir.path().join("prometheus.log");
        let mut cmd = Command::new(PROMETHEUS_BIN);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(dir.path());
        let child = GroupChild::spawn(&mut cmd, &log).with_context(|| {
            format!("start {PROMETHEUS_BIN} (Debian package `prometheus`, installed by scripts/install-test-deps.sh)")
        })?;
        Ok(Self {
            addr,
            _child: child,
            log,
            _dir: dir,
        })
    }

    /// `GET path` on Prometheus's HTTP API, as JSON; fails unless `"status":"success"`.
    fn api(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let (status, body) = integration_tests::http::get(self.addr, path, Duration::from_secs(5))?;
        ensure!(status == 200, "GET {path} -> {status}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).with_context(|| format!("GET {path}: {body}"))?;
        ensure!(json["status"] == "success", "GET {path}: {json}");
        Ok(json)
    }

    /// The samples `/api/v1/query` returns for an instant `query`.
    fn query(&self, query: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let json = self.api(&format!("/api/v1/query?query={}", percent_encode(query)))?;
        Ok(json["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    fn log_tail(&self) -> String {
        process::log_tail(&self.log, 40)
    }
}

/// Percent-encodes all but RFC 3986 unreserved characters (for a query string value).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of an instant-vector sample (`"value": [time, "text"]`).
fn sample_value(sample: &serde_json::Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn prometheus_scrapes_the_gateway_and_answers_for_its_series() {
    let cluster = Cluster::start(|c| c);
    workload(&cluster);
    let rules = workspace_root().join("dashboards/alerts.yml");
    let prometheus = Prometheus::start(cluster.gw.admin_addr(), &rules).expect("start prometheus");

    // Written by the workload's PUT; a successful query needs a scrape after start-up.
    let query = r#"twinvault_s3_requests_total{job="twinvault",operation="PutObject",status_class="2xx"}"#;
    let samples = match integration_tests::eventually(STARTUP_PATIENCE, || {
        let samples = prometheus.query(query)?;
        ensure!(!samples.is_empty(), "no sample yet for {query}");
        Ok(samples)
    }) {
        Ok(samples) => samples,
        Err(e) => panic!("{e:#}\n--- prometheus log ---\n{}", prometheus.log_tail()),
    };
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(
        samples[0]["metric"]["instance"],
        cluster.gw.admin_addr().to_string(),
        "{samples:?}"
    );
    assert!(sample_value(&samples[0]) >= 1.0, "{samples:?}");

    // The scrape itself is healthy, and a histogram query of the dashboards works on it.
    let up = prometheus.query(r#"up{job="twinvault"}"#).expect("query up");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(sample_value(&up[0]), 1.0, "{up:?}");
    let buckets = prometheus
        .query(r#"sum by (le) (twinvault_s3_request_duration_seconds_bucket{operation="PutObject"})"#)
        .expect("query buckets");
    assert!(buckets.len() > 10, "{buckets:?}");

    // The alert rules load into a real Prometheus and evaluate without error.
    assert_eventually!(
        {
            let rules = prometheus.api("/api/v1/rules")?;
            let loaded: Vec<&serde_json::Value> = rules["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            ensure!(loaded.len() >= 8, "rules loaded: {rules}");
            let unhealthy: Vec<_> = loaded.iter().filter(|r| r["health"] != "ok").collect();
            ensure!(unhealthy.is_empty(), "rules not evaluated ok: {unhealthy:?}");
            Ok(())
        },
        STARTUP_PATIENCE
    );
}

#[test]
fn percent_encode_keeps_unreserved_characters_only() {
    assert_eq!(
        percent_encode(r#"up{job="x"} a-b_c.d~"#),
        "up%7Bjob%3D%22x%22%7D%20a-b_c.d~"
    );
}
