//! A region that is back but behind never answers for what it missed (issue #17's symptom):
//! policy "one", read mode "primary", preferred region b; one key overwritten and another
//! deleted while b was down; b restarted with repair off, so it stays behind. Every read at
//! once, through the gateway that wrote, and through a second gateway that did not see the
//! outage (after one journal poll), returns the new body, and the deleted key stays gone, in
//! GET, HEAD and listings.

use std::time::Duration;

use integration_tests::{GatewayConfig, boto3, unique_bucket};

use crate::repair::policy_one;

/// Reads `index` (must be the new body), `gone` (must stay deleted) and the listing twelve
/// times each, and prints `fresh N` with the number of reads that were right.
const READ_TWELVE_TIMES: &str = r#"
bucket = os.environ["TV_BUCKET"]
fresh = 0
for i in range(12):
    body = s3.get_object(Bucket=bucket, Key="index")["Body"].read()
    assert body == b"new index", f"GET {i}: the old body came back: {body[:20]!r}"
    head = s3.head_object(Bucket=bucket, Key="index")
    assert head["ContentLength"] == len(b"new index"), f"HEAD {i}: {head['ContentLength']}"
    try:
        s3.head_object(Bucket=bucket, Key="gone")
        raise AssertionError(f"HEAD {i}: the deleted key came back")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] in ("404", "NoSuchKey"), e.response
    try:
        s3.get_object(Bucket=bucket, Key="gone")
        raise AssertionError(f"GET {i}: the deleted key came back")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchKey", e.response
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert listed == {"index", "kept"}, f"LIST {i}: {sorted(listed)}"
    fresh += 1
print(f"fresh {fresh}")
"#;

fn read_twelve_times(target: &integration_tests::S3Target, bucket: &str) {
    let out = integration_tests::Cli::python(Some(target))
        .arg("-c")
        .arg(format!(
            "{}{READ_TWELVE_TIMES}",
            integration_tests::clients::BOTO3_PRELUDE
        ))
        .env("TV_BUCKET", bucket)
        .run();
    assert!(
        out.success() && out.stdout_str().contains("fresh 12"),
        "{}",
        out.combined()
    );
}

#[test]
fn a_region_back_but_behind_never_serves_what_it_missed() {
    let (a, mut b) = crate::cluster::start_regions();
    // Repair off: b stays behind for as long as the test reads.
    let config = policy_one(GatewayConfig::new(&a.target(), &b.target()), 0)
        .read_mode("primary")
        .preferred_region("b")
        .set("replication.lag_poll_interval_ms", 500_i64);
    let writer = config.start().expect("gateway");
    let reader = config.start().expect("second gateway");
    let gw = writer.target();
    let bucket = unique_bucket("lagging");
    boto3(
        &gw,
        &format!(
            r#"
            s3.create_bucket(Bucket={bucket:?})
            for key in ["index", "gone", "kept"]:
                s3.put_object(Bucket={bucket:?}, Key=key, Body=b"old " + key.encode())
            "#
        ),
    )
    .expect_success();

    // b's copies as stored (ciphertext): their version stamps tell an old copy from a new one.
    let b_target = b.target();
    let stamp_on_b = |key: &str| {
        let out = boto3(
            &b_target,
            &format!(r#"print("STAMP", s3.head_object(Bucket={bucket:?}, Key={key:?})["Metadata"]["tv-stamp"])"#),
        )
        .expect_success();
        out.stdout_str()
            .lines()
            .find_map(|l| l.strip_prefix("STAMP ").map(str::to_owned))
            .unwrap_or_else(|| panic!("{}", out.combined()))
    };
    let old_stamp = stamp_on_b("index");

    b.kill();
    boto3(
        &gw,
        &format!(
            r#"
            s3.put_object(Bucket={bucket:?}, Key="index", Body=b"new index")
            s3.delete_object(Bucket={bucket:?}, Key="gone")
            "#
        ),
    )
    .expect_success();
    b.restart().expect("restart region b");
    // b answers again, with the old index and the deleted key: it is behind.
    assert_eq!(
        stamp_on_b("index"),
        old_stamp,
        "region b was repaired behind the test's back"
    );
    stamp_on_b("gone");

    // The gateway that journaled the misses: right at once.
    read_twelve_times(&gw, &bucket);
    // The other replica learns from the journal within one poll (500 ms here).
    std::thread::sleep(Duration::from_millis(1500));
    read_twelve_times(&reader.target(), &bucket);

    let (_, metrics) =
        integration_tests::http::get(writer.admin_addr(), "/metrics", Duration::from_secs(5)).expect("metrics");
    assert!(
        metrics.contains("twinvault_reads_rerouted_total{region=\"b\"}"),
        "no reroute counted:\n{metrics}"
    );
    assert!(
        metrics.contains("twinvault_reads_lagging_total{region=\"both\"} 0"),
        "a read was served by a lagging region:\n{metrics}"
    );
}
