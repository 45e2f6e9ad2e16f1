//! Request signing as S3 bounds it: presigned URL lifetimes (`X-Amz-Expires` 1..=604800,
//! expired, signed in the future) and SigV4 clock skew, through boto3 with its clock moved.

use integration_tests::unique_bucket;

use crate::cluster::Cluster;

#[test]
fn presigned_urls_live_at_most_a_week_and_signing_times_stay_within_fifteen_minutes() {
    let cluster = Cluster::start(|c| c);
    cluster.run_boto3_script("presign_limits.py", &unique_bucket("presign"));
}
