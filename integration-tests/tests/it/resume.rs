//! Mid-stream failover: region a's GET body stalls or is cut part-way; the gateway continues
//! from region b at the exact byte and the client gets every byte, correctly. With both
//! regions failing, the client's read fails loudly (never a clean end with missing bytes).

use integration_tests::{Fault, boto3, random_bytes, unique_bucket};

use crate::cluster::Cluster;

#[test]
fn a_body_that_stalls_or_breaks_mid_stream_continues_from_the_other_region() {
    let (mut cluster, proxy) = Cluster::start_with_slow_a(|c| {
        c.read_mode("primary")
            .preferred_region("a")
            .set("replication.read_stall_timeout_ms", 1000_i64)
            .set("replication.upstream_timeout_ms", 3000_i64)
    });
    let gw = cluster.target();
    let bucket = unique_bucket("resume");
    let data = random_bytes(8 * 1024 * 1024 + 12345);
    let file = cluster.path("data.bin");
    std::fs::write(&file, &data).expect("write data");
    let path = file.display().to_string();
    // Every snippet starts from the bucket name and the expected bytes.
    let code = |what: &str| {
        format!(
            "bucket, path = {bucket:?}, {path:?}\nexpected = open(path, \"rb\").read()\n{}",
            integration_tests::clients::dedent(what)
        )
    };
    boto3(
        &gw,
        &code("s3.create_bucket(Bucket=bucket); s3.put_object(Bucket=bucket, Key='big', Body=expected)"),
    )
    .expect_success();

    let read_all = code(
        r#"
        got = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
        assert got == expected, (len(got), len(expected))
        part = s3.get_object(Bucket=bucket, Key="big", Range="bytes=1000000-6000000")["Body"].read()
        assert part == expected[1000000:6000001], len(part)
        print("complete")
        "#,
    );
    for fault in [Fault::StallResponseAfter(1_500_000), Fault::CutResponseAfter(2_500_000)] {
        proxy.set_fault(fault);
        let out = boto3(&gw, &read_all).expect_success();
        assert!(out.stdout_str().contains("complete"), "{fault:?}: {}", out.combined());
    }
    let (_, metrics) = cluster.gw.admin_get("/metrics").expect("metrics");
    let resumed: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("twinvault_reads_served_total") && l.contains(r#"outcome="resume""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(resumed >= 2.0, "no resumes counted:\n{metrics}");

    // Both regions failing mid-body: the client's read fails, it never ends cleanly short.
    proxy.set_fault(Fault::CutResponseAfter(2_000_000));
    cluster.b.kill();
    let out = boto3(
        &gw,
        &code(
            r#"
            try:
                got = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
            except Exception as e:
                print("failed loudly:", type(e).__name__)
            else:
                raise SystemExit(f"read ended cleanly with {len(got)} of {len(expected)} bytes")
            "#,
        ),
    );
    assert!(out.expect_success().stdout_str().contains("failed loudly"));
}
