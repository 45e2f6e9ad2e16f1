//! boto3 drives every implemented S3 operation against the gateway (integration-tests/py/s3_api.py).

use integration_tests::{Cli, unique_bucket, workspace_root};

use crate::cluster::Cluster;

#[test]
fn boto3_exercises_every_operation_conditions_ranges_presign_and_auth_failures() {
    let cluster = Cluster::start(|c| c);
    let script = workspace_root().join("integration-tests/py/s3_api.py");
    let bucket = unique_bucket("api");
    let out = Cli::python(Some(&cluster.target()))
        .arg(&script)
        .env("TV_BUCKET", &bucket)
        .run()
        .expect_success();
    assert!(out.stdout_str().contains("all checks passed"), "{}", out.combined());
}
