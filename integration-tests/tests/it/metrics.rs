//! `/metrics` on the admin listener: the front-door, upstream, replication and read series move.

use integration_tests::{aws, unique_bucket};

use crate::cluster::Cluster;

/// The value of the first sample whose line starts with `series` (name plus labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_requests_upstream_calls_replication_and_reads() {
    let cluster = Cluster::start(|c| c);
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

    let (status, text) = cluster.gw.admin_get("/metrics").expect("scrape");
    assert_eq!(status, 200);
    let at_least_one = [
        r#"twinvault_s3_requests_total{operation="PutObject",status_class="2xx"}"#,
        r#"twinvault_s3_requests_total{operation="GetObject",status_class="2xx"}"#,
        r#"twinvault_s3_requests_total{operation="HeadObject",status_class="4xx"}"#,
        r#"twinvault_upstream_requests_total{operation="PutObject",outcome="ok",region="a"}"#,
        r#"twinvault_upstream_requests_total{operation="PutObject",outcome="ok",region="b"}"#,
        r#"twinvault_replication_writes_total{outcome="both"}"#,
        r#"twinvault_reads_served_total{outcome="first",region="a"}"#,
        r#"twinvault_s3_request_duration_seconds_count{operation="PutObject"}"#,
        r#"twinvault_build_info{version="#,
    ];
    for series in at_least_one {
        let value = sample(&text, series).unwrap_or_else(|| panic!("{series} missing from /metrics:\n{text}"));
        assert!(value >= 1.0, "{series} = {value}");
    }
    for series in [
        r#"twinvault_replication_writes_total{outcome="failed"}"#,
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
}
