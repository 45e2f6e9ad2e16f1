//! boto3 drives every implemented S3 operation against the gateway (integration-tests/py/s3_api.py).

use integration_tests::{aws, unique_bucket};

use crate::cluster::Cluster;

#[test]
fn boto3_exercises_every_operation_conditions_ranges_presign_and_auth_failures() {
    let cluster = Cluster::start(|c| c);
    let bucket = unique_bucket("api");
    cluster.run_boto3_script("s3_api.py", &bucket);
}

#[test]
fn boto3_and_raw_http_get_the_answers_s3_gives_where_the_store_behind_differs() {
    let cluster = Cluster::start(|c| c);
    let bucket = unique_bucket("conformance");
    cluster.run_boto3_script("conformance.py", &bucket);
    // Same cluster: checksums and tags as boto3 sends them by default, then aws-cli's.
    let bucket = unique_bucket("checksums");
    cluster.run_boto3_script("checksums.py", &bucket);
    aws_cli_checksum_is_kept_and_answered(&cluster, &bucket);
}

/// `aws s3 cp --checksum-algorithm CRC32`, then `head-object --checksum-mode ENABLED` answers
/// that CRC32 (of the file's bytes, computed beforehand: `VpnA+A==`).
fn aws_cli_checksum_is_kept_and_answered(cluster: &Cluster, bucket: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("cli.txt");
    std::fs::write(&file, "twinvault checksum via aws-cli\n".repeat(1000)).expect("write");
    let target = cluster.target();
    let url = format!("s3://{bucket}/cli.txt");
    let path = file.to_string_lossy().into_owned();
    aws(
        &target,
        ["s3", "cp", path.as_str(), url.as_str(), "--checksum-algorithm", "CRC32"],
    )
    .expect_success();
    let head = aws(
        &target,
        [
            "s3api",
            "head-object",
            "--bucket",
            bucket,
            "--key",
            "cli.txt",
            "--checksum-mode",
            "ENABLED",
        ],
    )
    .expect_success();
    let answer = String::from_utf8_lossy(&head.stdout);
    assert!(
        answer.contains(r#""ChecksumCRC32": "VpnA+A==""#) && answer.contains(r#""ChecksumType": "FULL_OBJECT""#),
        "head-object --checksum-mode ENABLED: {answer}"
    );
}
