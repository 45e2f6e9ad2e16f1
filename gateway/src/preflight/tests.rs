use std::time::{Duration, SystemTime};

use s3s::S3ErrorCode;

use super::*;

/// 2026-12-07T06:00:00Z, the clock of every test here.
pub(super) fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_623_200)
}

pub(super) fn head(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::get(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (parts, ()) = builder.body(()).expect("test request").into_parts();
    parts
}

fn presigned_v4(expires: &str) -> String {
    format!(
        "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261207%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20261207T060000Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
    )
}

fn code_of(result: Result<(), ApiError>) -> Option<S3ErrorCode> {
    result.err().map(|e| e.code())
}

#[test]
fn presigned_v4_expires_must_be_between_one_second_and_a_week() {
    let preflight = Preflight::default();
    for (expires, refused) in [
        ("1", false),
        ("604800", false),
        ("0", true),
        ("604801", true),
        ("-1", true),
        ("4294967295", true),
        ("99999999999999999999", true),
        ("3600s", true),
        ("", true),
    ] {
        let result = preflight.check(&head(&presigned_v4(expires), &[]), now());
        let expected = refused.then_some(S3ErrorCode::AuthorizationQueryParametersError);
        assert_eq!(code_of(result), expected, "X-Amz-Expires={expires}");
    }
    let missing = head("/b/k?X-Amz-Signature=00&X-Amz-Date=20261207T060000Z", &[]);
    assert_eq!(
        code_of(preflight.check(&missing, now())),
        Some(S3ErrorCode::AuthorizationQueryParametersError)
    );
    let repeated = head(&format!("{}&X-Amz-Expires=60", presigned_v4("60")), &[]);
    assert_eq!(
        code_of(preflight.check(&repeated, now())),
        Some(S3ErrorCode::AuthorizationQueryParametersError)
    );
}

#[test]
fn requests_that_are_not_presigned_pass_to_s3s() {
    let preflight = Preflight::default();
    assert!(preflight.check(&head("/b/k?X-Amz-Expires=0", &[]), now()).is_ok());
    assert!(preflight.check(&head("/b/k", &[]), now()).is_ok());
}

#[test]
fn s3s_is_given_the_fifteen_minute_skew() {
    assert_eq!(s3s_config().presigned_url_max_skew_time_secs, 900);
}
