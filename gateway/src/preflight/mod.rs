//! Checks on a request's head made before s3s sees it, for what s3s 0.14.1 does not check:
//! the validity window of presigned URLs (`X-Amz-Expires` 1..=604800), Signature Version 2
//! (off unless `server.allow_sigv2`; when on, verified here in [`sigv2`]), SSE-C only over
//! TLS (unless `server.allow_sse_c_over_http`), and browser-form uploads (POST Object, not
//! implemented) refused before s3s checks their form-borne signatures.
//!
//! s3s itself checks SigV4 signatures (in constant time), a header-signed request's
//! `x-amz-date` against [`MAX_CLOCK_SKEW`] (RequestTimeTooSkewed), a presigned URL signed
//! further than that in the future (RequestTimeTooSkewed) and an expired one (AccessDenied
//! "Request has expired"); the gateway gives it the same skew ([`s3s_config`]).

mod sigv2;

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use s3s::host::S3Host;

use crate::error::ApiError;
use crate::vhost::DomainHost;
use sigv2::{SigV2, SigV2Verifier};

/// Longest validity of a SigV4 presigned URL, as S3 allows (7 days).
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 604_800;

/// Largest difference between a request's signing time and the gateway's clock, as S3 allows.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// s3s's settings that this module relies on: the SigV4 clock skew it enforces.
pub fn s3s_config() -> s3s::config::S3Config {
    let mut config = s3s::config::S3Config::default();
    config.presigned_url_max_skew_time_secs = MAX_CLOCK_SKEW.as_secs() as u32;
    config
}

/// The checks of one listener.
#[derive(Debug, Default)]
pub struct Preflight {
    /// The users' secrets when SigV2 is allowed; `None`: v2 requests are refused.
    sigv2: Option<SigV2Verifier>,
    /// Virtual-host addressing (`server.domain`): SigV2 signs the bucket a Host names.
    domain: Option<DomainHost>,
    /// SSE-C headers are accepted on a plain-HTTP connection.
    allow_sse_c_over_http: bool,
}

impl Preflight {
    /// The checks for `config`.
    pub fn new(config: &crate::config::Config) -> Self {
        Self {
            sigv2: config.server.allow_sigv2.then(|| SigV2Verifier::new(&config.users)),
            domain: config.server.domain.as_deref().map(DomainHost::new),
            allow_sse_c_over_http: config.server.allow_sse_c_over_http,
        }
    }

    /// Refuses `head` with the S3 error a client should see, or lets it through to s3s.
    /// `secure`: it came over TLS. `now` is the gateway's clock (a parameter so tests control it).
    pub fn check(&self, head: &http::request::Parts, secure: bool, now: SystemTime) -> Result<(), ApiError> {
        if is_browser_form_upload(head) {
            return Err(ApiError::NotImplemented("POST Object (browser-based uploads)"));
        }
        if !decodes_to_utf8(head.uri.path()) {
            return Err(ApiError::InvalidUri);
        }
        let query = Query::of(&head.uri);
        if let Some(signing) = SigV2::of(head, &query) {
            let Some(verifier) = &self.sigv2 else {
                return Err(ApiError::SigV2Disabled);
            };
            verifier.verify(head, &query, &signing, self.vh_bucket(head).as_deref(), now)?;
        } else if query.has("X-Amz-Signature") {
            check_presigned_v4_expires(&query)?;
        }
        if !secure && !self.allow_sse_c_over_http && carries_sse_c(&head.headers) {
            return Err(ApiError::SseCRequiresTls);
        }
        Ok(())
    }

    /// The bucket `head`'s Host names, as s3s will read it.
    fn vh_bucket(&self, head: &http::request::Parts) -> Option<String> {
        let domain = self.domain.as_ref()?;
        let host = head.headers.get(http::header::HOST)?.to_str().ok()?;
        let parsed = domain.parse_host_header(host).ok()?;
        parsed.bucket().map(str::to_owned)
    }
}

/// `X-Amz-Expires` must be a whole number of seconds in 1..=604800, as S3 requires (s3s takes
/// any u32, so a URL could stay valid for 136 years).
fn check_presigned_v4_expires(query: &Query<'_>) -> Result<(), ApiError> {
    let Some(expires) = query.get("X-Amz-Expires") else {
        return Err(ApiError::AuthorizationQueryParameters(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ));
    };
    match expires.parse::<i64>() {
        Ok(secs) if secs < 0 => Err(ApiError::AuthorizationQueryParameters(
            "X-Amz-Expires must be non-negative",
        )),
        Ok(0) => Err(ApiError::AuthorizationQueryParameters(
            "X-Amz-Expires must be greater than 0",
        )),
        Ok(secs) if secs.unsigned_abs() > MAX_PRESIGNED_EXPIRES_SECS => Err(ApiError::AuthorizationQueryParameters(
            "X-Amz-Expires must be less than a week (in seconds) that is; 604800 seconds",
        )),
        Ok(_) => Ok(()),
        Err(_) => Err(ApiError::AuthorizationQueryParameters(
            "X-Amz-Expires should be a number",
        )),
    }
}

/// Whether a request path's percent-encoding is whole (`%` and two hex digits) and decodes to
/// UTF-8. s3s answers such a path `InvalidURI` without S3's message, and lets a stray `%`
/// through as part of the key.
fn decodes_to_utf8(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(byte) => decoded.push(byte),
                None => return false,
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// A browser-based upload (POST Object, an HTML form). The gateway does not implement it, and
/// its signature (v2 or v4) sits in the form body, where s3s checks it before the operation
/// (v2 with `!=`, whatever `server.allow_sigv2` says): refused before any of that.
fn is_browser_form_upload(head: &http::request::Parts) -> bool {
    head.method == http::Method::POST
        && head
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Any SSE-C header, of the request's own object or of its copy source. Its mere presence is
/// refused over plain HTTP, as S3 does: the key has already crossed the network in the clear,
/// and the client must learn so rather than have it used.
pub(crate) fn carries_sse_c(headers: &http::HeaderMap) -> bool {
    headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("x-amz-server-side-encryption-customer-")
            || name.starts_with("x-amz-copy-source-server-side-encryption-customer-")
    })
}

/// A request's query string, decoded.
struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Query<'a> {
    fn of(uri: &'a http::Uri) -> Self {
        let pairs = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes());
        Self(pairs.collect())
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The value of `name` when it appears exactly once (a repeated parameter is ambiguous).
    fn get(&self, name: &str) -> Option<&str> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_ref());
        let first = values.next()?;
        values.next().is_none().then_some(first)
    }
}

#[cfg(test)]
mod tests;
