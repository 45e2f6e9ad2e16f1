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
        let result = preflight.check(&head(&presigned_v4(expires), &[]), false, now());
        let expected = refused.then_some(S3ErrorCode::AuthorizationQueryParametersError);
        assert_eq!(code_of(result), expected, "X-Amz-Expires={expires}");
    }
    let missing = head("/b/k?X-Amz-Signature=00&X-Amz-Date=20261207T060000Z", &[]);
    assert_eq!(
        code_of(preflight.check(&missing, false, now())),
        Some(S3ErrorCode::AuthorizationQueryParametersError)
    );
    let repeated = head(&format!("{}&X-Amz-Expires=60", presigned_v4("60")), &[]);
    assert_eq!(
        code_of(preflight.check(&repeated, false, now())),
        Some(S3ErrorCode::AuthorizationQueryParametersError)
    );
}

#[test]
fn requests_that_are_not_presigned_pass_to_s3s() {
    let preflight = Preflight::default();
    assert!(
        preflight
            .check(&head("/b/k?X-Amz-Expires=0", &[]), false, now())
            .is_ok()
    );
    assert!(preflight.check(&head("/b/k", &[]), false, now()).is_ok());
}

#[test]
fn a_path_that_does_not_decode_to_utf8_is_an_invalid_uri() {
    let preflight = Preflight::default();
    for (path, refused) in [
        ("/b/k%20with%20spaces", false),
        ("/b/%E6%97%A5%E6%9C%AC", false),
        ("/b/%25", false),
        ("/b/%FF", true),
        ("/b/%C3", true),
        ("/b/%zz", true),
        ("/b/k%", true),
        ("/b/k%2", true),
    ] {
        let expected = refused.then_some(S3ErrorCode::InvalidURI);
        assert_eq!(
            code_of(preflight.check(&head(path, &[]), false, now())),
            expected,
            "{path}"
        );
    }
}

#[test]
fn s3s_is_given_the_fifteen_minute_skew() {
    assert_eq!(s3s_config().presigned_url_max_skew_time_secs, 900);
}

// === SigV2 ===

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn sigv2_on(domain: Option<&str>) -> Preflight {
    let user = crate::config::UserConfig {
        access_key_id: ACCESS_KEY.to_owned(),
        secret_access_key: crate::config::Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned()),
        buckets: None,
        admin: false,
    };
    Preflight {
        sigv2: Some(SigV2Verifier::new(&[user])),
        domain: domain.map(DomainHost::new),
        ..Preflight::default()
    }
}

fn at(unix: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(unix)
}

/// AWS's "Object GET" example (virtual-host style), signed at 2007-03-27T19:36:42Z.
fn aws_object_get() -> http::request::Parts {
    head(
        "/photos/puppy.jpg",
        &[
            ("host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 19:36:42 +0000"),
            ("authorization", "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g="),
        ],
    )
}
const AWS_OBJECT_GET_DATE: u64 = 1_175_024_202;

#[test]
fn sigv2_is_refused_by_default_whatever_its_form() {
    let preflight = Preflight::default();
    let presigned = head(
        "/b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=abc%3D",
        &[],
    );
    let without_signature = head("/b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE", &[]);
    for request in [aws_object_get(), presigned, without_signature] {
        let refused = preflight.check(&request, false, now()).expect_err("v2 must be refused");
        assert!(matches!(refused, ApiError::SigV2Disabled), "{refused:?}");
        assert_eq!(refused.code(), S3ErrorCode::AccessDenied);
        assert!(
            refused.to_string().contains("Signature Version 2 is disabled"),
            "{refused}"
        );
    }
}

#[test]
fn sigv2_verifies_aws_examples_within_fifteen_minutes_of_their_date() {
    let preflight = sigv2_on(Some("us-west-1.s3.amazonaws.com"));
    for offset in [0, 899, 900] {
        assert!(
            preflight
                .check(&aws_object_get(), false, at(AWS_OBJECT_GET_DATE + offset))
                .is_ok()
        );
        assert!(
            preflight
                .check(&aws_object_get(), false, at(AWS_OBJECT_GET_DATE - offset))
                .is_ok()
        );
    }
    // A captured request replayed after 15 minutes, or one dated too far ahead.
    for when in [
        AWS_OBJECT_GET_DATE + 901,
        AWS_OBJECT_GET_DATE + 86_400,
        AWS_OBJECT_GET_DATE - 901,
    ] {
        let refused = preflight.check(&aws_object_get(), false, at(when));
        assert_eq!(code_of(refused), Some(S3ErrorCode::RequestTimeTooSkewed), "at {when}");
    }
    // AWS's "Object PUT" (Content-Type signed) and "Delete" (x-amz-date replaces Date, path style).
    let put = head(
        "/photos/puppy.jpg",
        &[
            ("host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"),
            ("content-type", "image/jpeg"),
            ("date", "Tue, 27 Mar 2007 21:15:45 +0000"),
            ("authorization", "AWS AKIAIOSFODNN7EXAMPLE:iqRzw+ileNPu1fhspnRs8nOjjIA="),
        ],
    );
    let mut put = put;
    put.method = http::Method::PUT;
    assert!(preflight.check(&put, false, at(1_175_030_145)).is_ok());
    let mut delete = head(
        "/awsexamplebucket1/photos/puppy.jpg",
        &[
            ("date", "Tue, 27 Mar 2007 21:20:27 +0000"),
            ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 GMT"),
            ("authorization", "AWS AKIAIOSFODNN7EXAMPLE:Ri1hpB1zpS9pGqR7y8kuNFCl4sE="),
        ],
    );
    delete.method = http::Method::DELETE;
    // The signed x-amz-date is part of the string to sign: this one differs from AWS's.
    assert_eq!(
        code_of(preflight.check(&delete, false, at(1_175_030_426))),
        Some(S3ErrorCode::SignatureDoesNotMatch)
    );
    delete.headers.insert(
        "x-amz-date",
        http::HeaderValue::from_static("Tue, 27 Mar 2007 21:20:26 +0000"),
    );
    assert!(sigv2_on(None).check(&delete, false, at(1_175_030_426)).is_ok());
    // Its x-amz-date, not its Date, is the signing time.
    assert_eq!(
        code_of(sigv2_on(None).check(&delete, false, at(1_175_030_426 + 901))),
        Some(S3ErrorCode::RequestTimeTooSkewed)
    );
}

#[test]
fn sigv2_refuses_wrong_signatures_unknown_keys_and_missing_dates() {
    let preflight = sigv2_on(Some("us-west-1.s3.amazonaws.com"));
    let when = at(AWS_OBJECT_GET_DATE);
    for signature in [
        "qgk2+6Sv9/oM7G3qLEjTH1a1l1G=",
        "qgk2",
        "",
        "qgk2+6Sv9/oM7G3qLEjTH1a1l1g==",
    ] {
        let mut request = aws_object_get();
        let value = format!("AWS {ACCESS_KEY}:{signature}");
        request
            .headers
            .insert("authorization", http::HeaderValue::from_str(&value).expect("header"));
        assert_eq!(
            code_of(preflight.check(&request, false, when)),
            Some(S3ErrorCode::SignatureDoesNotMatch),
            "{signature}"
        );
    }
    // Path style: the same request without the bucket in its Host signs another resource.
    assert_eq!(
        code_of(sigv2_on(None).check(&aws_object_get(), false, when)),
        Some(S3ErrorCode::SignatureDoesNotMatch)
    );
    let mut unknown = aws_object_get();
    unknown.headers.insert(
        "authorization",
        http::HeaderValue::from_static("AWS NOBODY:qgk2+6Sv9/oM7G3qLEjTH1a1l1g="),
    );
    assert_eq!(
        code_of(preflight.check(&unknown, false, when)),
        Some(S3ErrorCode::InvalidAccessKeyId)
    );
    for date in [None, Some("yesterday")] {
        let mut undated = aws_object_get();
        undated.headers.remove("date");
        if let Some(date) = date {
            undated.headers.insert("date", http::HeaderValue::from_static(date));
        }
        assert_eq!(
            code_of(preflight.check(&undated, false, when)),
            Some(S3ErrorCode::AccessDenied)
        );
    }
}

#[test]
fn sigv2_presigned_urls_are_unexpired_and_expire_within_a_week() {
    // Signature by Python's hmac over "GET\n\n\n1175139620\n/awsexamplebucket1/photos/puppy.jpg".
    let url = "/awsexamplebucket1/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620\
               &Signature=1No4mq5ETf02z8aet9voy6gui6E%3D";
    let preflight = sigv2_on(None);
    let expires = 1_175_139_620;
    assert!(preflight.check(&head(url, &[]), false, at(expires)).is_ok());
    assert!(preflight.check(&head(url, &[]), false, at(expires - 604_800)).is_ok());
    let expired = preflight
        .check(&head(url, &[]), false, at(expires + 1))
        .expect_err("expired");
    assert_eq!(expired.code(), S3ErrorCode::AccessDenied);
    assert_eq!(expired.to_string(), "Request has expired");
    assert_eq!(
        code_of(preflight.check(&head(url, &[]), false, at(expires - 604_801))),
        Some(S3ErrorCode::AuthorizationQueryParametersError)
    );
    let tampered = url.replace("puppy", "kitten");
    assert_eq!(
        code_of(preflight.check(&head(&tampered, &[]), false, at(expires))),
        Some(S3ErrorCode::SignatureDoesNotMatch)
    );
    let incomplete = "/b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x";
    assert_eq!(
        code_of(preflight.check(&head(incomplete, &[]), false, at(expires))),
        Some(S3ErrorCode::AuthorizationQueryParametersError)
    );
}

// === SSE-C only over TLS ===

#[test]
fn sse_c_headers_are_refused_over_plain_http_unless_allowed() {
    let sse_c = [
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-server-side-encryption-customer-key",
        "x-amz-server-side-encryption-customer-key-md5",
        "x-amz-copy-source-server-side-encryption-customer-algorithm",
        "x-amz-copy-source-server-side-encryption-customer-key",
        "x-amz-copy-source-server-side-encryption-customer-key-md5",
    ];
    let refusing = Preflight::default();
    let allowing = Preflight {
        allow_sse_c_over_http: true,
        ..Preflight::default()
    };
    for name in sse_c {
        let request = head("/b/k", &[(name, "AES256")]);
        let refused = refusing.check(&request, false, now()).expect_err(name);
        assert!(matches!(refused, ApiError::SseCRequiresTls), "{name}: {refused:?}");
        assert_eq!(refused.code(), S3ErrorCode::InvalidRequest);
        assert_eq!(refused.status(), http::StatusCode::BAD_REQUEST);
        assert!(refusing.check(&request, true, now()).is_ok(), "{name} over TLS");
        assert!(
            allowing.check(&request, false, now()).is_ok(),
            "{name} allowed over HTTP"
        );
    }
    // SSE-S3 and requests without encryption headers are not SSE-C.
    let sse_s3 = head("/b/k", &[("x-amz-server-side-encryption", "AES256")]);
    assert!(refusing.check(&sse_s3, false, now()).is_ok());
}

// === POST Object ===

#[test]
fn browser_form_uploads_are_not_implemented_and_never_reach_s3s() {
    let mut form = head("/bucket", &[("content-type", "multipart/form-data; boundary=x")]);
    form.method = http::Method::POST;
    let refused = Preflight::default().check(&form, true, now()).expect_err("POST Object");
    assert_eq!(refused.code(), S3ErrorCode::NotImplemented);
    let mut delete_objects = head("/bucket?delete", &[("content-type", "application/xml")]);
    delete_objects.method = http::Method::POST;
    assert!(Preflight::default().check(&delete_objects, true, now()).is_ok());
}
