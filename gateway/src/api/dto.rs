//! Conversions between s3s's types and the object layer's plain ones, in one place.

use std::time::SystemTime;

use s3s::dto::{ETag, ETagCondition, Range, Timestamp, TimestampFormat};

use crate::store::{ByteRange, Conditions, EtagCondition, ObjectView, client_etag};

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
