//! Conversions between s3s's types and the object layer's plain ones, in one place.

use std::time::SystemTime;

use s3s::dto::{Checksum, ChecksumMode, ChecksumType, ETag, ETagCondition, Range, Timestamp, TimestampFormat};

use crate::error::{ApiError, ApiResult};
use crate::store::{ByteRange, Conditions, EtagCondition, ObjectView, WriteCondition, client_etag};

/// A client ETag (no quotes) as s3s wants it.
pub fn etag(client: &str) -> ETag {
    ETag::Strong(client.to_owned())
}

/// The client ETag of an object whose upstream ETag is `upstream`.
pub fn upstream_etag(upstream: &str) -> ETag {
    ETag::Strong(client_etag(upstream))
}

/// A time as s3s wants it.
pub fn timestamp(time: SystemTime) -> Timestamp {
    Timestamp::from(time)
}

/// An s3s time as a system time.
pub fn system_time(ts: &Timestamp) -> SystemTime {
    SystemTime::from(time::OffsetDateTime::from(ts.clone()))
}

/// An s3s time as an HTTP date string (for sealing `Expires`).
pub fn http_date(ts: &Timestamp) -> Option<String> {
    let mut out = Vec::new();
    ts.format(TimestampFormat::HttpDate, &mut out).ok()?;
    String::from_utf8(out).ok()
}

/// Whether a request asks for checksums (`x-amz-checksum-mode: ENABLED`).
pub fn checksum_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

/// A kept checksum in s3s's shape: the value under its algorithm, and its type.
pub fn checksum_of(kept: &crate::envelope::ObjectChecksum) -> Checksum {
    let mut out = Checksum {
        checksum_type: (!kept.kind.is_empty()).then(|| ChecksumType::from(kept.kind.clone())),
        ..Default::default()
    };
    let value = Some(kept.value.clone());
    match kept.algorithm.as_str() {
        "CRC32" => out.checksum_crc32 = value,
        "CRC32C" => out.checksum_crc32c = value,
        "CRC64NVME" => out.checksum_crc64nvme = value,
        "SHA1" => out.checksum_sha1 = value,
        "SHA256" => out.checksum_sha256 = value,
        _ => out.checksum_type = None, // written by a later gateway: nothing this one can name
    }
    out
}

/// Sets the five checksum fields of an s3s output (the same names in every output that has
/// them) from a [`Checksum`].
macro_rules! set_checksum {
    ($out:expr, $checksum:expr) => {{
        let checksum: s3s::dto::Checksum = $checksum;
        $out.checksum_crc32 = checksum.checksum_crc32;
        $out.checksum_crc32c = checksum.checksum_crc32c;
        $out.checksum_crc64nvme = checksum.checksum_crc64nvme;
        $out.checksum_sha1 = checksum.checksum_sha1;
        $out.checksum_sha256 = checksum.checksum_sha256;
    }};
}
pub(super) use set_checksum;

/// The first checksum an s3s input carries (the same five field names everywhere), with
/// S3's name of its algorithm.
macro_rules! given_checksum {
    ($input:expr) => {
        [
            ("CRC32", &$input.checksum_crc32),
            ("CRC32C", &$input.checksum_crc32c),
            ("CRC64NVME", &$input.checksum_crc64nvme),
            ("SHA1", &$input.checksum_sha1),
            ("SHA256", &$input.checksum_sha256),
        ]
        .into_iter()
        .find_map(|(name, value)| value.clone().map(|v| (name, v)))
    };
}
pub(super) use given_checksum;

/// A value of one algorithm as a [`Checksum`] (for [`set_checksum!`]).
pub fn checksum_value(algorithm: &str, value: String) -> Checksum {
    checksum_of(&crate::envelope::ObjectChecksum {
        algorithm: algorithm.to_owned(),
        value,
        ..Default::default()
    })
}

/// The object's sealed `Expires`, as s3s wants it.
pub fn expires(view: &ObjectView) -> Option<Timestamp> {
    let text = view.attrs.expires.as_deref()?;
    Timestamp::parse(TimestampFormat::HttpDate, text).ok()
}

fn etag_condition(condition: &ETagCondition) -> EtagCondition {
    match condition {
        ETagCondition::Any => EtagCondition::Any,
        ETagCondition::ETag(e) => EtagCondition::Tag(e.value().trim_matches('"').to_owned()),
    }
}

/// The four conditional headers of a read, or of a copy's source.
pub fn conditions(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> Conditions {
    Conditions {
        if_match: if_match.map(etag_condition),
        if_none_match: if_none_match.map(etag_condition),
        if_modified_since: if_modified_since.map(system_time),
        if_unmodified_since: if_unmodified_since.map(system_time),
    }
}

/// A write's precondition on what the key holds (`If-None-Match: *`, `If-Match`), as S3
/// takes it on PutObject, CompleteMultipartUpload and CopyObject (`operation`).
pub fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    operation: &'static str,
) -> ApiResult<WriteCondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteCondition::Always),
        (None, Some(ETagCondition::Any)) => Ok(WriteCondition::IfAbsent),
        (None, Some(ETagCondition::ETag(_))) => Err(ApiError::NotImplemented(match operation {
            "CompleteMultipartUpload" => "If-None-Match with an ETag on CompleteMultipartUpload (only \"*\")",
            "CopyObject" => "If-None-Match with an ETag on CopyObject (only \"*\")",
            _ => "If-None-Match with an ETag on PutObject (only \"*\")",
        })),
        (Some(ETagCondition::Any), None) => Ok(WriteCondition::IfMatch(None)),
        (Some(ETagCondition::ETag(tag)), None) => {
            Ok(WriteCondition::IfMatch(Some(tag.value().trim_matches('"').to_owned())))
        }
        (Some(_), Some(_)) => Err(ApiError::InvalidArgument(format!(
            "If-Match and If-None-Match cannot both be given on {operation}"
        ))),
    }
}

/// A conditional header s3s does not parse for this operation (CopyObject's `If-Match` and
/// `If-None-Match` on the target), read from the request: a malformed one is refused, never
/// ignored.
pub fn etag_condition_header(
    headers: &http::HeaderMap,
    name: http::header::HeaderName,
) -> ApiResult<Option<ETagCondition>> {
    let Some(value) = headers.get(&name) else {
        return Ok(None);
    };
    ETagCondition::parse_http_header(value.as_bytes())
        .map(Some)
        .map_err(|_| ApiError::InvalidArgument(format!("{name}: not an ETag or \"*\"")))
}

/// A `Range` header as the object layer takes it.
pub fn byte_range(range: Range) -> ByteRange {
    match range {
        Range::Int { first, last } => ByteRange::From { first, last },
        Range::Suffix { length } => ByteRange::Suffix { length },
    }
}

/// `Content-Range` of an inclusive range of an object of `total` bytes.
pub fn content_range((first, last, total): (u64, u64, u64)) -> String {
    format!("bytes {first}-{last}/{total}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_as_s3s_checks_them() {
        let cases = [
            Range::Int { first: 0, last: None },
            Range::Int {
                first: 5,
                last: Some(9),
            },
            Range::Int {
                first: 5,
                last: Some(500),
            },
            Range::Int {
                first: 9,
                last: Some(5),
            },
            Range::Int { first: 100, last: None },
            Range::Suffix { length: 3 },
            Range::Suffix { length: 300 },
            Range::Suffix { length: 0 },
        ];
        for len in [1u64, 10, 100] {
            for range in cases {
                let ours = byte_range(range).resolve(len);
                let theirs = range.check(len).ok().map(|r| (r.start, r.end - 1));
                assert_eq!(ours, theirs, "{range:?} of {len} bytes");
            }
        }
        // An empty object has no satisfiable range (s3s would answer an empty one).
        assert_eq!(byte_range(Range::Suffix { length: 3 }).resolve(0), None);
    }

    #[test]
    fn times_round_trip() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(system_time(&timestamp(t)), t);
    }
}
