//! Request signing as S3 bounds it: presigned URL lifetimes (`X-Amz-Expires` 1..=604800,
//! expired, signed in the future), SigV4 clock skew, and SigV2 (refused unless
//! `server.allow_sigv2`, then within 15 minutes), through boto3 with its clock moved; POST Object
//! (a browser form, its signature in the body) is refused as not implemented.

use integration_tests::unique_bucket;

use crate::cluster::Cluster;

#[test]
fn presigned_urls_live_at_most_a_week_and_signing_times_stay_within_fifteen_minutes() {
    let cluster = Cluster::start(|c| c);
    cluster.run_boto3_script("presign_limits.py", &unique_bucket("presign"));
}

#[test]
fn sigv2_is_refused_by_default_and_when_allowed_a_replay_after_fifteen_minutes_is_refused() {
    let mut cluster = Cluster::start(|c| c);
    let bucket = unique_bucket("sigv2");
    cluster.run_boto3_script_with("sigv2.py", &bucket, &[("TV_SIGV2", "off")]);
    cluster.gw.set_env("TWINVAULT_SERVER__ALLOW_SIGV2", "true");
    cluster.gw.restart().expect("restart with SigV2 allowed");
    cluster.run_boto3_script_with("sigv2.py", &bucket, &[("TV_SIGV2", "on")]);
}
