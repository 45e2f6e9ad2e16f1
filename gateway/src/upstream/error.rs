//! What went wrong talking to one upstream region, classified once for every caller.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// The classes of upstream failure the gateway acts on differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// The object does not exist.
    NoSuchKey,
    /// The bucket does not exist.
    NoSuchBucket,
    /// A 404 without a more precise code (HEAD has no body).
    NotFound,
    /// The multipart upload id is unknown (completed, aborted, or never existed).
    NoSuchUpload,
    /// A conditional request's precondition failed (412).
    PreconditionFailed,
    /// A conditional read found the object unchanged (304).
    NotModified,
    /// DeleteBucket on a bucket with objects.
    BucketNotEmpty,
    /// CreateBucket on a name owned by someone else.
    BucketAlreadyExists,
    /// CreateBucket on a name this account owns already.
    BucketAlreadyOwnedByYou,
    /// The upstream refused our credentials.
    AccessDenied,
    /// The requested range is outside the object.
    InvalidRange,
    /// Unreachable, timed out, or a 5xx: the region is (for now) unavailable.
    Unavailable,
    /// The region's copy failed authentication (corruption or tampering): read the other one.
    Corrupt,
    /// The region refused a key longer than it stores (S3 allows 1024 bytes; some stores less).
    KeyTooLong,
    /// The region refused the request as invalid (a 4xx such as a key it cannot store), or the
    /// request could not be built for it: the client's request, not the region, is at fault.
    Rejected,
    /// Anything else.
    Other,
}

impl UpstreamErrorKind {
    /// Label value for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSuchKey => "no_such_key",
            Self::NoSuchBucket => "no_such_bucket",
            Self::NotFound => "not_found",
            Self::NoSuchUpload => "no_such_upload",
            Self::PreconditionFailed => "precondition_failed",
            Self::NotModified => "not_modified",
            Self::BucketNotEmpty => "bucket_not_empty",
            Self::BucketAlreadyExists => "bucket_already_exists",
            Self::BucketAlreadyOwnedByYou => "bucket_already_owned_by_you",
            Self::AccessDenied => "access_denied",
            Self::InvalidRange => "invalid_range",
            Self::Unavailable => "unavailable",
            Self::Corrupt => "corrupt",
            Self::KeyTooLong => "key_too_long",
            Self::Rejected => "rejected",
            Self::Other => "other",
        }
    }

    /// Whether the object or bucket is absent here (so another region may still have it).
    pub fn is_not_found(self) -> bool {
        matches!(
            self,
            Self::NoSuchKey | Self::NoSuchBucket | Self::NotFound | Self::NoSuchUpload
        )
    }
}

/// An upstream failure: which region, which operation, what class, and the upstream's words.
#[derive(Debug, thiserror::Error)]
#[error("region {region}: {operation} failed ({}): {message}", kind.as_str())]
pub struct UpstreamError {
    /// Region name.
    pub region: String,
    /// Upstream operation name.
    pub operation: &'static str,
    /// Classification.
    pub kind: UpstreamErrorKind,
    /// Upstream's error code or transport description; never contains credentials.
    pub message: String,
}

impl UpstreamError {
    /// Whether the circuit breaker refused the request before it was sent.
    pub fn refused_by_breaker(&self) -> bool {
        self.kind == UpstreamErrorKind::Unavailable && self.message == super::BREAKER_OPEN
    }

    /// Whether the region may still apply the request later: it was sent and then timed out
    /// or broke, rather than refused before it reached the region (the breaker, a refused
    /// connection) or answered.
    pub fn may_still_apply(&self) -> bool {
        self.kind == UpstreamErrorKind::Unavailable
            && !self.refused_by_breaker()
            && !self.message.contains("onnection refused")
            && !self.message.contains("ConnectionRefused")
    }

    /// An error of `kind` not coming from the SDK (timeouts, stream failures, the memory backend).
    pub fn new(region: &str, operation: &'static str, kind: UpstreamErrorKind, message: impl Into<String>) -> Self {
        Self {
            region: region.to_owned(),
            operation,
            kind,
            message: message.into(),
        }
    }

    /// Classifies an SDK error.
    pub fn from_sdk<E, R>(region: &str, operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let (kind, message) = match &err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status_code();
                let code = ctx.err().code().unwrap_or_default();
                let message = ctx.err().message().unwrap_or_default();
                (
                    classify(status, code),
                    format!("{status} {code} {message}").trim().to_owned(),
                )
            }
            SdkError::TimeoutError(_) => (UpstreamErrorKind::Unavailable, "timed out".to_owned()),
            SdkError::DispatchFailure(e) => (UpstreamErrorKind::Unavailable, format!("dispatch failure: {e:?}")),
            SdkError::ResponseError(_) => (UpstreamErrorKind::Unavailable, "malformed response".to_owned()),
            // The SDK refuses to build some requests S3 accepts (a key made only of whitespace).
            SdkError::ConstructionFailure(_) => (
                UpstreamErrorKind::Rejected,
                format!(
                    "the request cannot be sent to this region: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&err)
                ),
            ),
            other => (UpstreamErrorKind::Other, format!("{other}")),
        };
        Self::new(region, operation, kind, message)
    }
}

/// Access to a raw response's status without naming the SDK's response type everywhere.
pub trait HasStatus {
    /// HTTP status code.
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn classify(status: u16, code: &str) -> UpstreamErrorKind {
    use UpstreamErrorKind as K;
    match code {
        "NoSuchKey" => return K::NoSuchKey,
        "NoSuchBucket" => return K::NoSuchBucket,
        "NoSuchUpload" => return K::NoSuchUpload,
        "PreconditionFailed" => return K::PreconditionFailed,
        "BucketNotEmpty" => return K::BucketNotEmpty,
        "BucketAlreadyExists" => return K::BucketAlreadyExists,
        "BucketAlreadyOwnedByYou" => return K::BucketAlreadyOwnedByYou,
        "AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" => return K::AccessDenied,
        "InvalidRange" => return K::InvalidRange,
        "KeyTooLongError" => return K::KeyTooLong,
        _ => {}
    }
    match status {
        304 => K::NotModified,
        403 => K::AccessDenied,
        404 => K::NotFound,
        412 => K::PreconditionFailed,
        416 => K::InvalidRange,
        500..=599 => K::Unavailable,
        400 | 405 | 411 | 413 | 414 | 431 => K::Rejected,
        _ => K::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::{UpstreamErrorKind as K, classify};

    #[test]
    fn an_upstream_answer_is_classed_by_its_code_then_its_status() {
        let cases = [
            (404, "NoSuchKey", K::NoSuchKey),
            (404, "", K::NotFound),
            (412, "", K::PreconditionFailed),
            (503, "SlowDown", K::Unavailable),
            (500, "InternalError", K::Unavailable),
            (403, "SignatureDoesNotMatch", K::AccessDenied),
            // A store that refuses the client's request: the client's fault, not the region's.
            (400, "KeyTooLongError", K::KeyTooLong),
            (400, "InvalidRequest", K::Rejected),
            (400, "InvalidArgument", K::Rejected),
            (413, "", K::Rejected),
            (409, "OperationAborted", K::Other),
        ];
        for (status, code, kind) in cases {
            assert_eq!(classify(status, code), kind, "{status} {code}");
        }
        assert!(!K::Rejected.is_not_found());
    }

    #[test]
    fn only_a_request_that_reached_the_region_may_still_apply() {
        let err = |kind, message: &str| super::UpstreamError::new("b", "PutObject", kind, message);
        assert!(err(K::Unavailable, "timed out").may_still_apply());
        assert!(err(K::Unavailable, "dispatch failure: io error: broken pipe").may_still_apply());
        assert!(!err(K::Unavailable, crate::upstream::BREAKER_OPEN).may_still_apply());
        let refused = "dispatch failure: ConnectorError { kind: Io, source: Connection refused (os error 111) }";
        assert!(!err(K::Unavailable, refused).may_still_apply());
        assert!(!err(K::NoSuchBucket, "404 NoSuchBucket").may_still_apply());
    }
}
