//! Every failure the front door can answer with, and its S3 error code: the one mapping table.
//! Failures answered before a request reaches s3s (the listener's limits) are rendered here
//! too ([`ApiError::to_xml`]), so every S3 error body comes from this file.

use s3s::{S3Error, S3ErrorCode};

use crate::envelope::EnvelopeError;
use crate::upstream::{UpstreamError, UpstreamErrorKind};

/// A request failure, before it becomes an S3 error response.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An upstream call failed; the kind decides the S3 code.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The stored object did not open (or a body did not seal).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A client checksum does not match the body received.
    #[error("{algorithm} of the body does not match the value sent by the client")]
    BadDigest {
        /// Which checksum.
        algorithm: &'static str,
    },
    /// A client checksum header that does not parse.
    #[error("{0}")]
    InvalidDigest(String),
    /// The request lacks a Content-Length where one is needed.
    #[error("a Content-Length is required for this request")]
    MissingContentLength,
    /// User metadata above the configured limit.
    #[error("user metadata is {size} bytes, more than the {limit}-byte limit")]
    MetadataTooLarge {
        /// Bytes received.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// A single PUT above S3's 5 GiB limit.
    #[error("a single PUT may carry at most 5 GiB; use a multipart upload")]
    EntityTooLarge,
    /// A precondition header is not satisfied (412).
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    /// A conditional read found the object unchanged (304). The answer carries the object's
    /// validators, as S3's does, so caches can refresh what they hold.
    #[error("not modified")]
    NotModified {
        /// The client ETag, without quotes.
        etag: String,
        /// The object's Last-Modified.
        last_modified: Option<std::time::SystemTime>,
    },
    /// The object does not exist.
    #[error("the specified key does not exist")]
    NoSuchKey,
    /// The bucket does not exist.
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    /// An upload id that is not ours, was tampered with, or is finished.
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    /// Parts listed out of order in CompleteMultipartUpload.
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    /// A part in CompleteMultipartUpload that is missing or has another ETag.
    #[error("{0}")]
    InvalidPart(String),
    /// A non-final part below the 5 MiB minimum.
    #[error("part {0} is smaller than the minimum allowed size of 5 MiB")]
    EntityTooSmall(i32),
    /// A bucket name outside S3's naming rules, as the message explains.
    #[error("the specified bucket is not valid: {0}")]
    InvalidBucketName(&'static str),
    /// A `partNumber` read beyond the object's parts.
    #[error("the requested partnumber {0} is not satisfiable")]
    InvalidPartNumber(i32),
    /// A bucket configuration twinvault does not keep (policy, CORS, lifecycle, ...): the S3
    /// code that says the bucket has none.
    #[error("the bucket has no such configuration")]
    NoSuchConfiguration(&'static str),
    /// DeleteBucket on a bucket with objects.
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    /// Range outside the object.
    #[error("the requested range is not satisfiable")]
    InvalidRange,
    /// A stored object that twinvault did not write.
    #[error("the stored object has no twinvault envelope header; it was not written through the gateway")]
    NotAnEnvelope,
    /// A request that is invalid as a whole, as the message explains.
    #[error("{0}")]
    InvalidRequest(String),
    /// An argument that is wrong in a way the message explains.
    #[error("{0}")]
    InvalidArgument(String),
    /// A feature the gateway does not implement.
    #[error("{0} is not implemented by twinvault")]
    NotImplemented(&'static str),
    /// An SSE-C algorithm other than AES256.
    #[error("{0}")]
    InvalidEncryptionAlgorithm(String),
    /// An SSE-C key that is not the one the object was written with.
    #[error("the SSE-C key given does not match the key the object was stored with")]
    WrongCustomerKey,
    /// CreateBucket on a name another user's bucket has.
    #[error(
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
    )]
    BucketAlreadyExists,
    /// A bucket twinvault keeps for itself (the repair journal), named as a copy source.
    #[error("the bucket name {0:?} is reserved by twinvault")]
    ReservedBucket(String),
    /// A request signed with an access key no configured user has.
    #[error("the access key id you provided does not exist in our records")]
    InvalidAccessKeyId,
    /// A request that is not allowed, as the message explains (unsigned, another user's bucket).
    #[error("{0}")]
    AccessDenied(String),
    /// A request signed with Signature Version 2 while `server.allow_sigv2` is off.
    #[error(
        "Signature Version 2 is disabled on this gateway; sign requests with Signature Version 4 (AWS4-HMAC-SHA256)"
    )]
    SigV2Disabled,
    /// A signing time more than the allowed skew away from the gateway's clock.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed,
    /// A signature that is not the one the user's secret gives (checked by the gateway for
    /// SigV2; s3s answers for SigV4 itself).
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    SignatureDoesNotMatch,
    /// SSE-C headers on the plain-HTTP listener (`server.allow_sse_c_over_http` is off): the
    /// customer's key would cross the network in the clear.
    #[error(
        "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
    )]
    SseCRequiresTls,
    /// A request path whose percent-encoding is broken or does not decode to UTF-8: no key
    /// can be read from it.
    #[error("Couldn't parse the specified URI.")]
    InvalidUri,
    /// Object tags beyond S3's limits (count, lengths, duplicates, the `aws:` prefix).
    #[error("{0}")]
    InvalidTag(String),
    /// A presigned URL's query parameters break S3's rules (`X-Amz-Expires` outside 1..=604800).
    #[error("{0}")]
    AuthorizationQueryParameters(&'static str),
    /// The keys fetched from the key manager expired while it was unreachable.
    #[error("the key manager is unreachable and the keys fetched from it have expired; retry later")]
    KeysExpired(#[from] crate::keyring::KeysExpired),
    /// Every request slot is taken (`server.max_concurrent_requests`): back off and retry.
    #[error("Please reduce your request rate.")]
    SlowDown,
    /// A request body sent nothing for `server.body_idle_timeout_ms`.
    #[error("Your socket connection to the server was not read from or written to within the timeout period.")]
    RequestTimeout,
    /// A request head above `server.max_header_bytes`.
    #[error("Your request header section exceeds the maximum allowed size.")]
    RequestHeaderSectionTooLarge,
    /// A state the code rules out was reached anyway.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Result of request handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// The S3 error code for this failure.
    pub fn code(&self) -> S3ErrorCode {
        use S3ErrorCode as C;
        match self {
            Self::Upstream(e) => match e.kind {
                UpstreamErrorKind::NoSuchKey | UpstreamErrorKind::NotFound => C::NoSuchKey,
                UpstreamErrorKind::NoSuchBucket => C::NoSuchBucket,
                UpstreamErrorKind::NoSuchUpload => C::NoSuchUpload,
                UpstreamErrorKind::PreconditionFailed => C::PreconditionFailed,
                UpstreamErrorKind::NotModified => C::NotModified,
                UpstreamErrorKind::BucketNotEmpty => C::BucketNotEmpty,
                UpstreamErrorKind::BucketAlreadyExists => C::BucketAlreadyExists,
                UpstreamErrorKind::BucketAlreadyOwnedByYou => C::BucketAlreadyOwnedByYou,
                UpstreamErrorKind::InvalidRange => C::InvalidRange,
                UpstreamErrorKind::Corrupt => C::InternalError,
                UpstreamErrorKind::KeyTooLong => C::KeyTooLongError,
                UpstreamErrorKind::Rejected => C::InvalidRequest,
                UpstreamErrorKind::AccessDenied | UpstreamErrorKind::Unavailable | UpstreamErrorKind::Other => {
                    C::ServiceUnavailable
                }
            },
            Self::Envelope(EnvelopeError::CustomerKeyRequired | EnvelopeError::CustomerKeyNotExpected) => {
                C::InvalidRequest
            }
            Self::Envelope(EnvelopeError::LengthMismatch { .. }) => C::IncompleteBody,
            Self::Envelope(_) | Self::NotAnEnvelope => C::InternalError,
            Self::BadDigest { .. } => C::BadDigest,
            Self::InvalidDigest(_) => C::InvalidDigest,
            Self::MissingContentLength => C::MissingContentLength,
            Self::MetadataTooLarge { .. } => C::MetadataTooLarge,
            Self::EntityTooLarge => C::EntityTooLarge,
            Self::PreconditionFailed => C::PreconditionFailed,
            Self::NotModified { .. } => C::NotModified,
            Self::NoSuchKey => C::NoSuchKey,
            Self::NoSuchBucket => C::NoSuchBucket,
            Self::BucketNotEmpty => C::BucketNotEmpty,
            Self::BucketAlreadyExists => C::BucketAlreadyExists,
            Self::InvalidBucketName(_) => C::InvalidBucketName,
            Self::InvalidPartNumber(_) => C::from_bytes(b"InvalidPartNumber").unwrap_or(C::InvalidArgument),
            Self::NoSuchConfiguration(code) => C::from_bytes(code.as_bytes()).unwrap_or(C::NoSuchKey),
            Self::NoSuchUpload => C::NoSuchUpload,
            Self::InvalidPartOrder => C::InvalidPartOrder,
            Self::InvalidPart(_) => C::InvalidPart,
            Self::EntityTooSmall(_) => C::EntityTooSmall,
            Self::InvalidRange => C::InvalidRange,
            Self::InvalidArgument(_) => C::InvalidArgument,
            Self::InvalidRequest(_) => C::InvalidRequest,
            Self::NotImplemented(_) => C::NotImplemented,
            Self::Internal(_) => C::InternalError,
            Self::InvalidEncryptionAlgorithm(_) => C::InvalidEncryptionAlgorithmError,
            Self::WrongCustomerKey => C::AccessDenied,
            Self::ReservedBucket(_) => C::AccessDenied,
            Self::InvalidAccessKeyId => C::InvalidAccessKeyId,
            Self::AccessDenied(_) => C::AccessDenied,
            Self::AuthorizationQueryParameters(_) => C::AuthorizationQueryParametersError,
            Self::SigV2Disabled => C::AccessDenied,
            Self::RequestTimeTooSkewed => C::RequestTimeTooSkewed,
            Self::SignatureDoesNotMatch => C::SignatureDoesNotMatch,
            Self::SseCRequiresTls => C::InvalidRequest,
            Self::InvalidUri => C::InvalidURI,
            Self::InvalidTag(_) => C::InvalidTag,
            Self::SlowDown => C::SlowDown,
            Self::KeysExpired(_) => C::ServiceUnavailable,
            Self::RequestTimeout => C::RequestTimeout,
            Self::RequestHeaderSectionTooLarge => C::RequestHeaderSectionTooLarge,
        }
    }

    /// The HTTP status of this failure's answer.
    pub fn status(&self) -> http::StatusCode {
        match self {
            // Codes s3s may not know (it has no status for them).
            Self::InvalidPartNumber(_) => http::StatusCode::BAD_REQUEST,
            Self::NoSuchConfiguration(_) => http::StatusCode::NOT_FOUND,
            _ => self
                .code()
                .status_code()
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// The S3 XML error body for an answer given outside s3s (the listener's own limits),
    /// carrying the request id as s3s's answers do.
    pub fn to_xml(&self, request_id: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
             <RequestId>{}</RequestId></Error>",
            self.code().as_str(),
            xml_escape(&self.client_message()),
            xml_escape(request_id)
        )
    }

    /// The message clients see: what is wrong, never a secret. Upstream details stay in logs,
    /// except the region name and the class of failure.
    fn client_message(&self) -> String {
        match self {
            Self::Upstream(e) if e.kind.is_not_found() => self.code().as_str().to_owned(),
            Self::Upstream(e) => match e.kind {
                UpstreamErrorKind::Unavailable | UpstreamErrorKind::AccessDenied | UpstreamErrorKind::Other => {
                    format!("region {} is unavailable ({})", e.region, e.kind.as_str())
                }
                UpstreamErrorKind::KeyTooLong => format!("region {} cannot store a key this long", e.region),
                UpstreamErrorKind::Rejected => format!("region {} refused the request: {}", e.region, e.message),
                _ => e.kind.as_str().replace('_', " "),
            },
            Self::Envelope(e) if e.is_integrity_failure() => {
                format!("stored object failed integrity checks: {e}")
            }
            other => other.to_string(),
        }
    }
}

impl From<ApiError> for S3Error {
    fn from(err: ApiError) -> Self {
        let code = err.code();
        if code == S3ErrorCode::InternalError || code == S3ErrorCode::ServiceUnavailable {
            tracing::warn!(error = %err, code = code.as_str(), "request failed");
        }
        let message = err.client_message();
        let status = err.status();
        let mut error = S3Error::with_message(code, message);
        error.set_status_code(status);
        if let ApiError::NotModified { etag, last_modified } = &err {
            error.set_headers(not_modified_headers(etag, *last_modified));
        }
        error
    }
}

/// The ETag and Last-Modified headers of a 304 answer.
fn not_modified_headers(etag: &str, last_modified: Option<std::time::SystemTime>) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(http::header::ETAG, value);
    }
    if let Some(time) = last_modified {
        let mut date = Vec::new();
        let formatted = s3s::dto::Timestamp::from(time).format(s3s::dto::TimestampFormat::HttpDate, &mut date);
        if let (Ok(()), Ok(value)) = (formatted, http::HeaderValue::from_bytes(&date)) {
            headers.insert(http::header::LAST_MODIFIED, value);
        }
    }
    headers
}

/// `text` with the five XML special characters escaped.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_answers_are_s3_xml_with_their_status() {
        let xml = ApiError::SlowDown.to_xml("abc123");
        assert!(xml.contains("<Code>SlowDown</Code>"), "{xml}");
        assert!(xml.contains("<RequestId>abc123</RequestId>"), "{xml}");
        assert_eq!(ApiError::SlowDown.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ApiError::RequestTimeout.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::RequestHeaderSectionTooLarge.status(),
            http::StatusCode::BAD_REQUEST
        );
        let escaped = ApiError::AccessDenied("a <b> & \"c\"".into()).to_xml("r");
        assert!(escaped.contains("a &lt;b&gt; &amp; &quot;c&quot;"), "{escaped}");
        assert_eq!(ApiError::InvalidAccessKeyId.status(), http::StatusCode::FORBIDDEN);
    }
}
