//! CopyObject: server-side in each region, rebound to the new name; aws-cli `s3 cp` between
//! buckets; the copied ciphertext opens only under its new bucket/key.

use integration_tests::{aws, unique_bucket};

use crate::cluster::Cluster;

#[test]
fn copies_are_server_side_rebound_to_their_new_name_and_honour_conditions() {
    let cluster = Cluster::start(|c| c);
    let bucket = unique_bucket("cp");
    cluster.run_boto3_script("copy_object.py", &bucket);

    let gw = cluster.target();
    let dst = format!("{bucket}-dst");
    aws(
        &gw,
        [
            "s3",
            "cp",
            &format!("s3://{bucket}/copy.bin"),
            &format!("s3://{dst}/aws-copied.bin"),
        ],
    )
    .expect_success();
    let original = aws(&gw, ["s3", "cp", &format!("s3://{bucket}/copy.bin"), "-"])
        .expect_success()
        .stdout;
    cluster.assert_protected_at_rest(&dst, "aws-copied.bin", &original);

    // The copy's stored bytes and metadata do not open under the source's name.
    let (_, meta) = cluster.stored("a", &dst, "aws-copied.bin");
    let stored = cluster.path("a-aws-copied.bin.stored");
    let wrong = std::process::Command::new(integration_tests::Gateway::binary())
        .args(["decrypt", "--config"])
        .arg(cluster.gw.config_path())
        .args(["--bucket", &bucket, "--key", "copy.bin", "--metadata"])
        .arg(&meta)
        .arg("--in")
        .arg(&stored)
        .output()
        .expect("run decrypt");
    assert!(!wrong.status.success(), "a copy opened under its source's name");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("authentication"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
}
