//! boto3 drives every implemented S3 operation against the gateway (integration-tests/py/s3_api.py).

use integration_tests::unique_bucket;

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
}
