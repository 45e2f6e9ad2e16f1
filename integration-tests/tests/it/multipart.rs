//! Multipart uploads through the gateway: boto3 edge cases, then aws-cli, rclone and s5cmd
//! switching to multipart by themselves; ciphertext at rest checked in both regions.

use integration_tests::{Cli, aws, random_bytes, rclone, s5cmd, unique_bucket};

use crate::cluster::Cluster;

const MIB: usize = 1024 * 1024;

#[test]
fn boto3_multipart_parts_completion_errors_and_ranges() {
    let cluster = Cluster::start(|c| c);
    let bucket = unique_bucket("mpb");
    cluster.run_boto3_script("multipart.py", &bucket);
}

#[test]
fn clients_switch_to_multipart_and_objects_read_back_and_rest_encrypted() {
    let cluster = Cluster::start(|c| c);
    let gw = cluster.target();
    let bucket = unique_bucket("mpc");
    aws(&gw, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let data = random_bytes(21 * MIB + 333);
    let file = cluster.path("big.bin");
    std::fs::write(&file, &data).expect("write");
    let path = file.to_str().expect("utf8");

    // aws-cli: 8 MiB parts above its 8 MiB threshold; also from stdin with --expected-size.
    aws(&gw, ["s3", "cp", path, &format!("s3://{bucket}/aws.bin")]).expect_success();
    Cli::aws(&gw)
        .args([
            "s3",
            "cp",
            "-",
            &format!("s3://{bucket}/stdin.bin"),
            "--expected-size",
            &data.len().to_string(),
        ])
        .stdin(data.clone())
        .run()
        .expect_success();
    // rclone with 5 MiB chunks, then its own check.
    let dir = cluster.path("rclone-src");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("rclone.bin"), &data).expect("write");
    let dir = format!("{}/", dir.display());
    rclone(
        &gw,
        [
            "copy",
            "--s3-upload-cutoff",
            "5M",
            "--s3-chunk-size",
            "5M",
            &dir,
            &format!("tv:{bucket}/"),
        ],
    )
    .expect_success();
    let check = rclone(
        &gw,
        ["check", &dir, &format!("tv:{bucket}/"), "--include", "rclone.bin"],
    )
    .expect_success();
    assert!(
        check.combined().contains("0 differences found"),
        "rclone check: {}",
        check.combined()
    );
    // s5cmd with small parts so that it really uploads several.
    s5cmd(
        &gw,
        ["cp", "-c", "2", "-p", "5", path, &format!("s3://{bucket}/s5cmd.bin")],
    )
    .expect_success();

    for key in ["aws.bin", "stdin.bin", "rclone.bin", "s5cmd.bin"] {
        let back = cluster.path(&format!("{key}.back"));
        aws(
            &gw,
            [
                "s3",
                "cp",
                &format!("s3://{bucket}/{key}"),
                back.to_str().expect("utf8"),
            ],
        )
        .expect_success();
        assert!(std::fs::read(&back).expect("read") == data, "{key} read back differs");
        let head = aws(&gw, ["s3api", "head-object", "--bucket", &bucket, "--key", key])
            .expect_success()
            .json();
        assert_eq!(head["ContentLength"].as_u64(), Some(data.len() as u64), "{key} size");
        cluster.assert_protected_at_rest(&bucket, key, &data);
    }
    let ls = aws(&gw, ["s3", "ls", &format!("s3://{bucket}/")]).expect_success();
    assert_eq!(
        ls.stdout_str().matches(&data.len().to_string()).count(),
        4,
        "listing sizes:\n{}",
        ls.stdout_str()
    );
}
