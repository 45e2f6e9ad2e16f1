//! Reads from whichever region answers first: a slow region loses to hedged requests, a region
//! missing an object loses to failover. Judged by what the metrics say served the reads.

use std::time::Duration;

use integration_tests::{aws, boto3, unique_bucket};

use crate::cluster::Cluster;

fn served(metrics: &str, region: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("twinvault_reads_served_total{") && l.contains(&format!("region=\"{region}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn hedged_reads_are_served_by_the_fast_region_and_missing_copies_fail_over() {
    let (cluster, proxy) = Cluster::start_with_slow_a(|c| c.read_mode("hedged").preferred_region("a"));
    let gw = cluster.target();
    let bucket = unique_bucket("hedge");
    aws(&gw, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let code = format!(
        r#"
        s3.put_object(Bucket={bucket:?}, Key="k", Body=b"hedged payload" * 1000)
        s3.put_object(Bucket={bucket:?}, Key="only-b", Body=b"b has it")
        print("written")
        "#
    );
    boto3(&gw, &code).expect_success();
    // Region a loses its copy of one object (as if its write had not arrived yet).
    aws(
        &cluster.a.target(),
        ["s3api", "delete-object", "--bucket", &bucket, "--key", "only-b"],
    )
    .expect_success();

    let (_, before) = cluster.gw.admin_get("/metrics").expect("scrape");
    proxy.set_delay(Duration::from_millis(150));
    let reads = format!(
        r#"
        for _ in range(40):
            assert s3.get_object(Bucket={bucket:?}, Key="k")["Body"].read() == b"hedged payload" * 1000
        assert s3.get_object(Bucket={bucket:?}, Key="only-b")["Body"].read() == b"b has it"
        print("read")
        "#
    );
    boto3(&gw, &reads).expect_success();
    let (_, after) = cluster.gw.admin_get("/metrics").expect("scrape");
    let by_b = served(&after, "b") - served(&before, "b");
    let by_a = served(&after, "a") - served(&before, "a");
    assert!(
        by_b >= 30.0,
        "region b served {by_b} reads and slow region a {by_a}; expected b to serve most\n{after}"
    );
    assert!(
        after.contains("twinvault_reads_served_total{outcome=\"hedge\",region=\"b\"}"),
        "{after}"
    );
}
