//! Proves the harness: two SeaweedFS regions driven by aws-cli, rclone, s3cmd, s5cmd and boto3.

use std::path::Path;
use std::time::Instant;

use integration_tests::{
    Cli, S3Target, SeaweedRegion, aws, boto3, md5_hex, random_bytes, rclone, s3cmd, s5cmd, unique_bucket,
};

const PAYLOAD_LEN: usize = 1024 * 1024;
const CLIENTS: [&str; 4] = ["aws", "rclone", "s3cmd", "s5cmd"];

#[test]
fn two_regions_round_trip_with_every_client() {
    let started = Instant::now();
    let (region_a, region_b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| SeaweedRegion::start("a"));
        let b = scope.spawn(|| SeaweedRegion::start("b"));
        let a = a.join().expect("start thread a").expect("start region a");
        let b = b.join().expect("start thread b").expect("start region b");
        (a, b)
    });
    eprintln!("two regions ready after {:.2?}", started.elapsed());
    assert_ne!(region_a.endpoint(), region_b.endpoint());

    let work = tempfile::tempdir().expect("work dir");
    let payload = random_bytes(PAYLOAD_LEN);
    let source = work.path().join("payload.bin");
    std::fs::write(&source, &payload).expect("write payload");

    std::thread::scope(|scope| {
        for region in [&region_a, &region_b] {
            let (source, payload, work) = (&source, &payload, work.path());
            scope.spawn(move || round_trip_every_client(region, source, payload, work));
        }
    });
    eprintln!("smoke test done after {:.2?}", started.elapsed());
}

/// Uploads with each client under its own key, reads back with the same client, then lists
/// with s5cmd and HEADs with boto3.
fn round_trip_every_client(region: &SeaweedRegion, source: &Path, payload: &[u8], work: &Path) {
    let target = region.target();
    let bucket = unique_bucket(&format!("smoke-{}", region.name()));
    aws(&target, ["s3api", "create-bucket", "--bucket", &bucket]).expect_success();

    for client in CLIENTS {
        let key = format!("{client}.bin");
        let back = work.join(format!("{}-{client}.back", region.name()));
        upload(client, &target, source, &bucket, &key);
        download(client, &target, &bucket, &key, &back);
        let got = std::fs::read(&back).expect("read downloaded file");
        assert!(
            got == payload,
            "{client} round trip via region {} changed the bytes ({} bytes back)",
            region.name(),
            got.len()
        );
    }

    let listing = s5cmd(&target, ["ls", &format!("s3://{bucket}/*")]).expect_success();
    for client in CLIENTS {
        assert!(
            listing.stdout_str().contains(&format!("{client}.bin")),
            "s5cmd ls misses {client}.bin\n{listing}"
        );
    }

    let heads = boto3(
        &target,
        &format!(
            r#"
            out = {{}}
            for key in {keys:?}:
                head = s3.head_object(Bucket={bucket:?}, Key=key)
                out[key] = [head["ContentLength"], head["ETag"].strip('"')]
            print(json.dumps(out))
            "#,
            keys = CLIENTS.map(|client| format!("{client}.bin")),
        ),
    )
    .expect_success()
    .json();
    let etag = md5_hex(payload);
    for client in CLIENTS {
        let head = &heads[format!("{client}.bin")];
        assert_eq!(head[0], PAYLOAD_LEN, "boto3 HEAD {client}.bin: {heads}");
        assert_eq!(head[1], etag.as_str(), "boto3 HEAD {client}.bin: {heads}");
    }
}

fn upload(client: &str, target: &S3Target, source: &Path, bucket: &str, key: &str) {
    let src = source.to_str().expect("utf-8 temp path");
    let s3_url = format!("s3://{bucket}/{key}");
    let out = match client {
        "aws" => aws(target, ["s3", "cp", "--only-show-errors", src, &s3_url]),
        "rclone" => rclone(target, ["copyto", src, &format!("tv:{bucket}/{key}")]),
        "s3cmd" => s3cmd(target, ["put", "--no-progress", src, &s3_url]),
        "s5cmd" => s5cmd(target, ["cp", src, &s3_url]),
        other => unreachable!("unknown client {other}"),
    };
    out.expect_success();
}

fn download(client: &str, target: &S3Target, bucket: &str, key: &str, dest: &Path) {
    let dst = dest.to_str().expect("utf-8 temp path");
    let s3_url = format!("s3://{bucket}/{key}");
    let out = match client {
        "aws" => aws(target, ["s3", "cp", "--only-show-errors", &s3_url, dst]),
        "rclone" => rclone(target, ["copyto", &format!("tv:{bucket}/{key}"), dst]),
        "s3cmd" => s3cmd(target, ["get", "--no-progress", "--force", &s3_url, dst]),
        "s5cmd" => s5cmd(target, ["cp", &s3_url, dst]),
        other => unreachable!("unknown client {other}"),
    };
    out.expect_success();
}

#[test]
fn region_keeps_data_across_kill_and_restart_and_rejects_missing_buckets() {
    let mut region = SeaweedRegion::start("restart").expect("start region");
    let target = region.target();
    let bucket = unique_bucket("restart");

    // -s3.autoCreateBucket=false: a PUT into a missing bucket is an error, not a new bucket.
    let missing = aws(&target, ["s3api", "put-object", "--bucket", &bucket, "--key", "k"]).expect_failure();
    assert!(missing.combined().contains("NoSuchBucket"), "{missing}");

    aws(&target, ["s3api", "create-bucket", "--bucket", &bucket]).expect_success();
    let payload = random_bytes(64 * 1024);
    Cli::aws(&target)
        .args(["s3", "cp", "-", &format!("s3://{bucket}/k")])
        .stdin(payload.clone())
        .run()
        .expect_success();

    let pid_before = region.pid();
    region.kill();
    assert!(!region.is_running());
    let restarted = Instant::now();
    region.restart().expect("restart region on the same data dir");
    eprintln!("region restarted in {:.2?}", restarted.elapsed());
    assert_ne!(region.pid(), pid_before);
    assert_eq!(region.endpoint(), target.endpoint);

    let got = Cli::aws(&target)
        .args(["s3", "cp", &format!("s3://{bucket}/k"), "-"])
        .run()
        .expect_success();
    assert!(got.stdout == payload, "object changed across restart");
}
