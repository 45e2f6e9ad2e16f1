//! An aws-sdk-s3 client for tests that stream bodies the CLIs cannot (generated, trickled).

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};

use crate::target::S3Target;

/// A path-style client for `target`; checksums only when required, and no stalled-stream
/// cut-off (tests trickle bodies on purpose).
pub fn sdk_client(target: &S3Target) -> Client {
    Client::from_conf(sdk_config(target).build())
}

/// The configuration [`sdk_client`] builds, for callers that set more (retries, timeouts).
pub fn sdk_config(target: &S3Target) -> aws_sdk_s3::config::Builder {
    let credentials = Credentials::new(&target.access_key, &target.secret_key, None, None, "test");
    aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&target.endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}
