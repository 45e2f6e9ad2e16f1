//! One region down: reads fail over to the other region; writes under policy "all" fail
//! cleanly with 503 and leave nothing acknowledged.

use integration_tests::{aws, boto3, random_bytes, unique_bucket};

use crate::cluster::Cluster;

#[test]
fn reads_fail_over_and_writes_fail_cleanly_when_the_preferred_region_is_down() {
    let mut cluster = Cluster::start(|c| c.preferred_region("b"));
    let gw = cluster.target();
    let bucket = unique_bucket("down");
    aws(&gw, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let data = random_bytes(300_000);
    let file = cluster.path("data.bin");
    std::fs::write(&file, &data).expect("write");
    aws(
        &gw,
        [
            "s3",
            "cp",
            file.to_str().expect("utf8"),
            &format!("s3://{bucket}/data.bin"),
        ],
    )
    .expect_success();

    cluster.b.kill();

    // Still ready (reads are served), and /readyz says which region is down.
    let (status, body) = cluster.gw.admin_get("/readyz").expect("readyz");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#"{"name":"b","reachable":false"#) && body.contains(r#"{"name":"a","reachable":true"#),
        "{body}"
    );

    // GET, ranged GET, HEAD and LIST are served by region a.
    let back = cluster.path("back.bin");
    aws(
        &gw,
        [
            "s3",
            "cp",
            &format!("s3://{bucket}/data.bin"),
            back.to_str().expect("utf8"),
        ],
    )
    .expect_success();
    assert!(
        std::fs::read(&back).expect("read") == data,
        "failover GET returned other bytes"
    );
    let code = format!(
        r#"
        bucket = {bucket:?}
        r = s3.get_object(Bucket=bucket, Key="data.bin", Range="bytes=70000-70099")
        assert r["Body"].read() == open({file:?}, "rb").read()[70000:70100]
        assert s3.head_object(Bucket=bucket, Key="data.bin")["ContentLength"] == 300000
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["data.bin"]
        # Writes need both regions under policy "all": a clean 503, nothing stored.
        try:
            s3.put_object(Bucket=bucket, Key="new.bin", Body=b"x" * 100000)
            raise SystemExit("PUT succeeded with a region down")
        except botocore.exceptions.ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.response
            assert e.response["Error"]["Code"] == "ServiceUnavailable", e.response
            assert "region b" in e.response["Error"]["Message"], e.response
        try:
            s3.head_object(Bucket=bucket, Key="new.bin")
            raise SystemExit("a failed PUT left an object visible")
        except botocore.exceptions.ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response
        print("degraded ok")
        "#,
        file = file.display().to_string()
    );
    let out = boto3(&gw, &code).expect_success();
    assert!(out.stdout_str().contains("degraded ok"), "{}", out.combined());

    // Nothing half-written in the surviving region either.
    let listing = aws(&cluster.a.target(), ["s3api", "list-objects-v2", "--bucket", &bucket]).expect_success();
    assert!(
        !listing.stdout_str().contains("new.bin"),
        "region a kept the failed write:\n{}",
        listing.stdout_str()
    );

    cluster.b.restart().expect("restart region b");
    aws(
        &gw,
        [
            "s3",
            "cp",
            file.to_str().expect("utf8"),
            &format!("s3://{bucket}/after.bin"),
        ],
    )
    .expect_success();
    cluster.assert_protected_at_rest(&bucket, "after.bin", &data);
}
