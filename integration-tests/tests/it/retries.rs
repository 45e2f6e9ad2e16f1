//! Retried requests answer as S3 does: a CompleteMultipartUpload retried after it succeeded
//! (the client lost the answer) gets 200 and the same ETag, a retried DELETE 204, a retried
//! PUT stores the same object (boto3, `integration-tests/py/retries.py`).

use integration_tests::unique_bucket;

use crate::cluster::Cluster;

#[test]
fn a_completed_upload_completes_again_and_deletes_repeat() {
    let cluster = Cluster::start(|c| c);
    cluster.run_boto3_script("retries.py", &unique_bucket("retry"));
}
