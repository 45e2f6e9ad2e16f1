//! Telemetry seen from outside: after a workload `/metrics` moves, passes `promtool check
//! metrics` and exports every metric the dashboards and alert rules query; every S3 answer
//! carries a request id that the gateway's log lines carry too.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use integration_tests::{assert_eventually, aws, boto3, unique_bucket, workspace_root};

use crate::cluster::Cluster;

/// The value of the first sample whose line starts with `series` (name plus labels).
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A small workload through aws-cli: create a bucket, PUT, GET, and a HEAD of a missing key.
pub fn workload(cluster: &Cluster) -> String {
    let gw = cluster.target();
    let bucket = unique_bucket("met");
    let file = cluster.path("m.bin");
    std::fs::write(&file, vec![7u8; 100_000]).expect("write");
    aws(&gw, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    aws(
        &gw,
        [
            "s3",
            "cp",
            file.to_str().expect("utf8"),
            &format!("s3://{bucket}/m.bin"),
        ],
    )
    .expect_success();
    aws(&gw, ["s3", "cp", &format!("s3://{bucket}/m.bin"), "-"]).expect_success();
    aws(&gw, ["s3api", "head-object", "--bucket", &bucket, "--key", "missing"]).expect_failure();
    bucket
}

/// Every `twinvault_[a-z0-9_]+` name in `text` that is not the tail of a longer identifier.
fn metric_names(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "twinvault_";
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find(PREFIX) {
        let start = from + pos;
        let mut end = start + PREFIX.len();
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase() || bytes[end].is_ascii_digit() || bytes[end] == b'_')
        {
            end += 1;
        }
        let glued = start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if !glued {
            names.insert(text[start..end].to_owned());
        }
        from = end;
    }
    names
}

/// Every metric name the dashboards (`dashboards/**/*.json`) and the alert rules
/// (`dashboards/alerts.yml`) mention. gateway/tests/dashboards.rs checks that each is
/// registered; here each must be exported by a live gateway.
fn dashboard_metric_names() -> BTreeSet<String> {
    let dir = workspace_root().join("dashboards");
    let mut names = BTreeSet::new();
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                names.extend(metric_names(&std::fs::read_to_string(&path).expect("read dashboard")));
            }
        }
    }
    names.extend(metric_names(
        &std::fs::read_to_string(dir.join("alerts.yml")).expect("read alerts.yml"),
    ));
    names
}

/// The metric families (`# TYPE` lines) and sample names (histograms' `_bucket`, `_sum` and
/// `_count`) in a Prometheus text exposition.
fn exported_names(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        let name = match line.strip_prefix("# TYPE ") {
            Some(typed) => typed.split(' ').next(),
            None if line.starts_with('#') => None,
            None => line.split(['{', ' ']).next(),
        };
        names.extend(name.filter(|n| !n.is_empty()).map(str::to_owned));
    }
    names
}

/// `promtool check metrics` (Debian package `prometheus`) on a scrape: format and naming lints.
fn promtool_check_metrics(scrape: &str) -> integration_tests::CmdOutput {
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    integration_tests::command::run(cmd, Some(scrape.as_bytes().to_vec()), Duration::from_secs(30))
}

#[test]
fn scrape_after_a_workload_counts_it_passes_promtool_and_covers_the_dashboards() {
    let cluster = Cluster::start(|c| c);
    let bucket = workload(&cluster);

    let (status, text) = cluster.gw.admin_get("/metrics").expect("scrape");
    assert_eq!(status, 200);
    let at_least_one = [
        r#"twinvault_s3_requests_total{operation="PutObject",status_class="2xx"}"#,
        r#"twinvault_s3_requests_total{operation="GetObject",status_class="2xx"}"#,
        r#"twinvault_s3_requests_total{operation="HeadObject",status_class="4xx"}"#,
        r#"twinvault_upstream_requests_total{operation="PutObject",outcome="ok",region="a"}"#,
        r#"twinvault_upstream_requests_total{operation="PutObject",outcome="ok",region="b"}"#,
        // Calls without a streamed body count too (the HEAD of a missing key is an "error").
        r#"twinvault_upstream_requests_total{operation="GetObject",outcome="ok",region="a"}"#,
        r#"twinvault_upstream_requests_total{operation="HeadObject",outcome="error",region="a"}"#,
        r#"twinvault_upstream_request_duration_seconds_count{operation="GetObject",region="a"}"#,
        r#"twinvault_replication_writes_total{outcome="both"}"#,
        r#"twinvault_reads_served_total{outcome="first",region="a"}"#,
        r#"twinvault_s3_request_duration_seconds_count{operation="PutObject"}"#,
        r#"twinvault_build_info{version="#,
        r#"twinvault_envelope_objects_total{op="seal"}"#,
        r#"twinvault_envelope_objects_total{op="open"}"#,
        r#"twinvault_s3_payload_bytes_total{direction="in",operation="PutObject"}"#,
        r#"twinvault_s3_payload_bytes_total{direction="out",operation="GetObject"}"#,
    ];
    for series in at_least_one {
        let value = sample(&text, series).unwrap_or_else(|| panic!("{series} missing from /metrics:\n{text}"));
        assert!(value >= 1.0, "{series} = {value}");
    }
    for series in [
        r#"twinvault_replication_writes_total{outcome="failed"}"#,
        r#"twinvault_upstream_errors_total{kind="unavailable",region="b"}"#,
        "twinvault_s3_in_flight_requests",
    ] {
        assert_eq!(sample(&text, series), Some(0.0), "{series}");
    }
    for secret in [
        cluster.gw.secret_key(),
        cluster.a.secret_key(),
        cluster.b.secret_key(),
        &bucket,
    ] {
        assert!(!text.contains(secret), "/metrics exposes a secret or a bucket name");
    }

    let lint = promtool_check_metrics(&text);
    assert!(
        lint.success(),
        "promtool check metrics rejects /metrics:\n{lint}\n--- scrape ---\n{text}"
    );

    // The backlog gauges appear with the repair loop's first round (at start-up).
    let wanted = dashboard_metric_names();
    assert!(wanted.len() >= 15, "too few names found in dashboards/: {wanted:?}");
    assert_eventually!({
        let (_, text) = cluster.gw.admin_get("/metrics")?;
        let exported = exported_names(&text);
        let missing: Vec<&String> = wanted.difference(&exported).collect();
        anyhow::ensure!(
            missing.is_empty(),
            "not exported after the workload: {missing:?}\n{text}"
        );
        Ok(())
    });
    let text = cluster.gw.admin_get("/metrics").expect("scrape").1;
    for region in ["a", "b"] {
        let pending = format!(r#"twinvault_journal_pending_records{{missed_region="{region}"}}"#);
        assert_eq!(sample(&text, &pending), Some(0.0), "{pending}");
    }
}

/// The value of `series` in a fresh scrape.
fn scraped(cluster: &Cluster, series: &str) -> anyhow::Result<f64> {
    let (_, text) = cluster.gw.admin_get("/metrics")?;
    sample(&text, series).ok_or_else(|| anyhow::anyhow!("{series} not in /metrics:\n{text}"))
}

#[test]
fn repair_backlog_gauges_grow_while_a_region_is_down_and_clear_once_it_is_repaired() {
    let mut cluster = Cluster::start(|c| crate::repair::policy_one(c, 500));
    let gw = cluster.target();
    let bucket = unique_bucket("backlog");
    aws(&gw, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let pending = r#"twinvault_journal_pending_records{missed_region="b"}"#;
    let age = r#"twinvault_journal_oldest_pending_age_seconds{missed_region="b"}"#;
    assert_eventually!(scraped(&cluster, pending).and_then(|v| {
        anyhow::ensure!(v == 0.0, "{pending} = {v} before any outage");
        Ok(())
    }));

    cluster.b.kill();
    boto3(
        &gw,
        &format!("for i in range(3): s3.put_object(Bucket={bucket:?}, Key=f'k{{i}}', Body=b'x' * 1000)"),
    )
    .expect_success();
    // Counted from region a's journal while b is down: three records, and the oldest ages.
    let first_age = assert_eventually!({
        let records = scraped(&cluster, pending)?;
        let age = scraped(&cluster, age)?;
        anyhow::ensure!(records == 3.0 && age > 0.0, "pending {records}, oldest age {age}");
        Ok(age)
    });
    assert_eventually!(scraped(&cluster, age).and_then(|later| {
        anyhow::ensure!(later > first_age, "oldest age {later} did not grow past {first_age}");
        Ok(())
    }));

    cluster.b.restart().expect("restart region b");
    assert_eventually!(
        {
            let records = scraped(&cluster, pending)?;
            let age = scraped(&cluster, age)?;
            anyhow::ensure!(records == 0.0 && age == 0.0, "pending {records}, oldest age {age}");
            Ok(())
        },
        Duration::from_secs(60)
    );
    let cleared = r#"twinvault_repair_objects_total{action="copied",region="b"}"#;
    assert_eq!(scraped(&cluster, cleared).ok(), Some(3.0));
}

#[test]
fn metric_names_reads_names_not_tails_of_other_identifiers() {
    let text = r#"sum(rate(twinvault_a_total{x="1"}[5m])) / my_twinvault_b_total + twinvault_c_seconds_bucket"#;
    let names: Vec<String> = metric_names(text).into_iter().collect();
    assert_eq!(names, ["twinvault_a_total", "twinvault_c_seconds_bucket"]);
    let scrape = "# HELP twinvault_x_total x\n# TYPE twinvault_x_total counter\ntwinvault_x_total{a=\"b\"} 1\nup 1\n";
    let exported: Vec<String> = exported_names(scrape).into_iter().collect();
    assert_eq!(exported, ["twinvault_x_total", "up"]);
    let histogram = "# TYPE twinvault_d_seconds histogram\ntwinvault_d_seconds_bucket{le=\"1\"} 1\n";
    let exported: Vec<String> = exported_names(histogram).into_iter().collect();
    assert_eq!(exported, ["twinvault_d_seconds", "twinvault_d_seconds_bucket"]);
}

/// Python (after boto3's prelude): `call(method, key, data)` sends one presigned request as
/// raw HTTP (no retries: the answer exactly as the gateway sent it) and returns its status,
/// `x-amz-request-id` and body.
const PRESIGNED_CALL: &str = r#"
import urllib.request, urllib.error
v4 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
def call(method, key, data=None):
    url = v4.generate_presigned_url(method + "_object", Params={"Bucket": bucket, "Key": key})
    req = urllib.request.Request(url, data=data, method=method.upper())
    try:
        with urllib.request.urlopen(req) as r:
            return {"status": r.status, "id": r.headers.get("x-amz-request-id"), "body": r.read().decode()}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "id": e.headers.get("x-amz-request-id"), "body": e.read().decode()}
"#;

/// Runs `calls` (a Python expression using `call`) against `bucket`; returns its JSON.
fn presigned(cluster: &Cluster, bucket: &str, calls: &str) -> serde_json::Value {
    let code = format!("bucket = {bucket:?}\n{PRESIGNED_CALL}\nprint(json.dumps({calls}))\n");
    boto3(&cluster.target(), &code).expect_success().json()
}

/// The request id of a `call` answer, checked to look like one.
fn request_id(answer: &serde_json::Value) -> String {
    let id = answer["id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "no request id in {answer}"
    );
    id.to_owned()
}

#[test]
fn every_answer_carries_a_request_id_that_the_logs_carry_too() {
    let mut cluster = Cluster::start(|c| c.set("server.log_format", "json"));
    let bucket = unique_bucket("rid");
    aws(&cluster.target(), ["s3", "mb", &format!("s3://{bucket}")]).expect_success();

    let answers = presigned(
        &cluster,
        &bucket,
        r#"{"put": call("put", "x", b"hello"), "missing": call("get", "nope")}"#,
    );
    assert_eq!(answers["put"]["status"], 200, "{answers}");
    assert_eq!(answers["missing"]["status"], 404, "{answers}");
    let put_id = request_id(&answers["put"]);
    let missing_id = request_id(&answers["missing"]);
    assert_ne!(missing_id, put_id);
    let body = answers["missing"]["body"].as_str().unwrap_or_default();
    assert!(body.contains("<Code>NoSuchKey</Code>"), "{answers}");
    assert!(
        body.contains(&format!("<RequestId>{missing_id}</RequestId>")),
        "{answers}"
    );

    // Answers s3s gives before any operation runs (here a wrong signature) carry an id too.
    let gw = cluster.target();
    let wrong = integration_tests::S3Target::new(gw.endpoint.clone(), &gw.access_key, "not-the-secret");
    let denied = integration_tests::boto3(
        &wrong,
        r#"
        try:
            s3.list_buckets()
        except botocore.exceptions.ClientError as e:
            print("DENIED", e.response["Error"]["Code"], e.response["ResponseMetadata"].get("RequestId"))
        "#,
    )
    .expect_success();
    let line = denied.stdout_str().trim().to_owned();
    assert!(line.starts_with("DENIED SignatureDoesNotMatch "), "{line}");
    let id = line.rsplit(' ').next().unwrap_or_default();
    assert!(
        id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "no request id: {line}"
    );

    // Region b down under write_policy "all": the PUT answers 503, which the gateway logs.
    cluster.b.kill();
    let failed = presigned(&cluster, &bucket, r#"call("put", "y", b"hello")"#);
    assert_eq!(failed["status"], 503, "{failed}");
    let failed_id = request_id(&failed);
    let body = failed["body"].as_str().unwrap_or_default();
    assert!(
        body.contains(&format!("<RequestId>{failed_id}</RequestId>")),
        "{failed}"
    );

    // The WARN "request failed" line is inside the request's span, so it names the same id.
    let log = cluster.gw.log_contents();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "request failed" && l["span"]["request_id"] == failed_id.as_str())
        .unwrap_or_else(|| panic!("no \"request failed\" line with request_id {failed_id}:\n{log}"));
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["span"]["name"], "s3_request", "{line}");
    assert_eq!(line["span"]["operation"], "PutObject", "{line}");
    for secret in [cluster.gw.secret_key(), cluster.a.secret_key(), cluster.b.secret_key()] {
        assert!(!log.contains(secret), "the log shows a secret key");
    }
}
