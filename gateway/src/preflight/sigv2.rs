//! Signature Version 2 (`Authorization: AWS ak:sig`, or `AWSAccessKeyId`/`Expires`/`Signature`
//! in the query), verified here before s3s. s3s 0.14.1 accepts a v2 request whatever its Date
//! (so a captured request replays forever) and compares signatures with `!=`; here the signing
//! time must be within [`MAX_CLOCK_SKEW`] (a presigned URL: unexpired, and expiring at most
//! [`MAX_PRESIGNED_EXPIRES_SECS`] ahead) and the signature is compared in constant time. s3s
//! then verifies the same signature again, which only ever compares equal strings.
//!
//! The string to sign is the one s3s computes (both must agree for a request to pass):
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html>.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

use super::{MAX_CLOCK_SKEW, MAX_PRESIGNED_EXPIRES_SECS, Query};
use crate::config::{Secret, UserConfig};
use crate::error::ApiError;

/// How a request is signed with v2, as s3s tells them apart (a `Signature` query parameter
/// first, then the `Authorization` header).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SigV2<'a> {
    /// `Authorization: AWS <access key>:<signature>`.
    Header { access_key: &'a str, signature: &'a str },
    /// A presigned URL: `AWSAccessKeyId`, `Expires` (Unix seconds), `Signature`.
    Presigned,
}

impl<'a> SigV2<'a> {
    /// The v2 signing of `head`, if it is signed with v2 at all.
    pub(super) fn of(head: &'a http::request::Parts, query: &Query<'_>) -> Option<Self> {
        if query.has("Signature") || query.has("AWSAccessKeyId") {
            return Some(Self::Presigned);
        }
        let authorization = head.headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let (access_key, signature) = authorization.strip_prefix("AWS ")?.split_once(':')?;
        Some(Self::Header { access_key, signature })
    }
}

/// The users' secrets, by access key id, for v2 verification.
#[derive(Clone, Debug, Default)]
pub(super) struct SigV2Verifier {
    secrets: HashMap<String, Secret>,
}

impl SigV2Verifier {
    pub(super) fn new(users: &[UserConfig]) -> Self {
        let secrets = users
            .iter()
            .map(|u| (u.access_key_id.clone(), u.secret_access_key.clone()))
            .collect();
        Self { secrets }
    }

    /// Checks a v2-signed request completely: its time, its access key and its signature.
    /// `vh_bucket` is the bucket its Host names (virtual-host style), which v2 signs as a path.
    pub(super) fn verify(
        &self,
        head: &http::request::Parts,
        query: &Query<'_>,
        signing: &SigV2<'_>,
        vh_bucket: Option<&str>,
        now: SystemTime,
    ) -> Result<(), ApiError> {
        let (access_key, signature, mode) = match signing {
            SigV2::Header { access_key, signature } => {
                check_date(head, now)?;
                (*access_key, *signature, Mode::Header)
            }
            SigV2::Presigned => {
                let (access_key, expires, signature) = presigned_fields(query)?;
                check_expires(expires, now)?;
                (access_key, signature, Mode::Presigned)
            }
        };
        let Some(secret) = self.secrets.get(access_key) else {
            return Err(ApiError::InvalidAccessKeyId);
        };
        let string_to_sign = string_to_sign(head, query, mode, vh_bucket);
        let expected = sign(secret, &string_to_sign);
        if bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::SignatureDoesNotMatch)
        }
    }
}

fn presigned_fields<'q>(query: &'q Query<'_>) -> Result<(&'q str, &'q str, &'q str), ApiError> {
    match (
        query.get("AWSAccessKeyId"),
        query.get("Expires"),
        query.get("Signature"),
    ) {
        (Some(access_key), Some(expires), Some(signature)) => Ok((access_key, expires, signature)),
        _ => Err(ApiError::AuthorizationQueryParameters(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        )),
    }
}

/// A header-signed request's time: `x-amz-date` if present, else `Date`.
fn check_date(head: &http::request::Parts, now: SystemTime) -> Result<(), ApiError> {
    let date = head
        .headers
        .get("x-amz-date")
        .or_else(|| head.headers.get(http::header::DATE))
        .and_then(|v| v.to_str().ok())
        .and_then(parse_date);
    let Some(date) = date else {
        return Err(ApiError::AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header".into(),
        ));
    };
    let skew = now.duration_since(date).unwrap_or_else(|e| e.duration());
    if skew > MAX_CLOCK_SKEW {
        return Err(ApiError::RequestTimeTooSkewed);
    }
    Ok(())
}

/// An HTTP date; also with a `+0000` zone instead of `GMT` (AWS's own examples sign that form).
fn parse_date(text: &str) -> Option<SystemTime> {
    let gmt = match text.strip_suffix(" +0000") {
        Some(utc) => Cow::Owned(format!("{utc} GMT")),
        None => Cow::Borrowed(text),
    };
    httpdate::parse_http_date(&gmt).ok()
}

/// A presigned URL's `Expires`: in the future, and no further than S3 lets a v4 URL live.
fn check_expires(expires: &str, now: SystemTime) -> Result<(), ApiError> {
    let Ok(expires) = expires.parse::<u64>() else {
        return Err(ApiError::AuthorizationQueryParameters(
            "Expires must be a number of seconds since 1970-01-01",
        ));
    };
    let expires = UNIX_EPOCH + Duration::from_secs(expires);
    if now > expires {
        return Err(ApiError::AccessDenied("Request has expired".into()));
    }
    if expires.duration_since(now).unwrap_or_default() > Duration::from_secs(MAX_PRESIGNED_EXPIRES_SECS) {
        return Err(ApiError::AuthorizationQueryParameters(
            "Expires must be at most 604800 seconds (one week) after the current time",
        ));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Mode {
    Header,
    Presigned,
}

/// Query parameters that are part of the signed resource (s3s's list, sorted).
const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// `VERB\nContent-MD5\nContent-Type\nDate-or-Expires\nCanonicalizedAmzHeaders CanonicalizedResource`.
fn string_to_sign(head: &http::request::Parts, query: &Query<'_>, mode: Mode, vh_bucket: Option<&str>) -> String {
    let headers = Headers::of(&head.headers);
    let mut out = String::with_capacity(256);
    out.push_str(head.method.as_str());
    out.push('\n');
    for name in ["content-md5", "content-type"] {
        out.push_str(headers.unique(name).unwrap_or_default());
        out.push('\n');
    }
    let date = match mode {
        // With x-amz-date, the Date line is empty (the time is signed as an amz header).
        Mode::Header if headers.unique("x-amz-date").is_some() => "",
        Mode::Header => headers.unique("date").unwrap_or_default(),
        Mode::Presigned => query.get("Expires").unwrap_or_default(),
    };
    out.push_str(date);
    out.push('\n');
    headers.push_amz(&mut out);
    if let Some(bucket) = vh_bucket {
        out.push('/');
        out.push_str(bucket);
    }
    out.push_str(head.uri.path());
    let mut separator = '?';
    for name in SUBRESOURCES {
        if let Some(value) = query.get(name) {
            out.push(separator);
            separator = '&';
            out.push_str(name);
            if !value.is_empty() {
                out.push('=');
                out.push_str(value);
            }
        }
    }
    out
}

/// A request's UTF-8 headers, sorted by (lowercase) name, order kept within a name.
struct Headers<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Headers<'a> {
    fn of(map: &'a http::HeaderMap) -> Self {
        let mut pairs: Vec<(&str, &str)> = map
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        pairs.sort_by_key(|(name, _)| *name);
        Self(pairs)
    }

    fn unique(&self, name: &str) -> Option<&'a str> {
        let mut values = self.0.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v);
        let first = values.next()?;
        values.next().is_none().then_some(first)
    }

    /// `name:value[,value…]\n` for every `x-amz-*` header, values trimmed.
    fn push_amz(&self, out: &mut String) {
        let mut last = "";
        for (name, _) in &self.0 {
            if !name.starts_with("x-amz-") || *name == last {
                continue;
            }
            last = name;
            let values: Vec<&str> = self
                .0
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.trim())
                .collect();
            out.push_str(name);
            out.push(':');
            out.push_str(&values.join(","));
            out.push('\n');
        }
    }
}

/// Base64 of HMAC-SHA1 over `string_to_sign`.
fn sign(secret: &Secret, string_to_sign: &str) -> String {
    let mut mac =
        <hmac::Hmac<sha1::Sha1>>::new_from_slice(secret.expose().as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    let digest: [u8; 20] = mac.finalize().into_bytes().into();
    STANDARD.encode(digest)
}
