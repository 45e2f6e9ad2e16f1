//! The ETag clients see, and conditional-request evaluation against it.
//!
//! Upstreams compute ETags over ciphertext, which is identical in both regions, so the client
//! ETag is derived from the upstream one: `"<upstream>-1"` for single PUTs, the upstream's own
//! `"<hash>-<parts>"` for multipart objects. It never looks like a bare MD5, so clients that
//! compare a 32-hex ETag with their MD5 of the plaintext (rclone, s3cmd) skip that check instead
//! of failing it (docs/ARCHITECTURE.md, "ETags"). Listings derive it the same way, for free.

use s3s::dto::{ETag, ETagCondition, Timestamp};

use crate::error::ApiError;

/// The client-facing ETag value (without quotes) for an upstream ETag.
pub fn client_etag(upstream: &str) -> String {
    if upstream.contains('-') {
        upstream.to_owned()
    } else {
        format!("{upstream}-1")
    }
}

/// The client-facing ETag as an s3s value.
pub fn client_etag_dto(upstream: &str) -> ETag {
    ETag::Strong(client_etag(upstream))
}

fn matches(condition: &ETagCondition, etag: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value().trim_matches('"') == etag,
    }
}

/// The conditional headers of a GET or HEAD.
#[derive(Default)]
pub struct ReadConditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a ETagCondition>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a ETagCondition>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a Timestamp>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl ReadConditions<'_> {
    /// Evaluates the conditions in RFC 9110 order against the object's ETag and modification time.
    pub fn check(&self, etag: &str, last_modified: Option<&Timestamp>) -> Result<(), ApiError> {
        let modified = last_modified.map(seconds);
        if let Some(cond) = self.if_match {
            if !matches(cond, etag) {
                return Err(ApiError::PreconditionFailed);
            }
        } else if let (Some(since), Some(modified)) = (self.if_unmodified_since, modified)
            && modified > seconds(since)
        {
            return Err(ApiError::PreconditionFailed);
        }
        if let Some(cond) = self.if_none_match {
            if matches(cond, etag) {
                return Err(ApiError::NotModified);
            }
        } else if let (Some(since), Some(modified)) = (self.if_modified_since, modified)
            && modified <= seconds(since)
        {
            return Err(ApiError::NotModified);
        }
        Ok(())
    }
}

/// Whole seconds: HTTP dates have no finer resolution.
fn seconds(ts: &Timestamp) -> i64 {
    time::OffsetDateTime::from(ts.clone()).unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_put_etags_never_look_like_an_md5() {
        assert_eq!(
            client_etag("9b2cf535f27731c974343645a3985328"),
            "9b2cf535f27731c974343645a3985328-1"
        );
        assert_eq!(
            client_etag("9b2cf535f27731c974343645a3985328-3"),
            "9b2cf535f27731c974343645a3985328-3"
        );
    }

    #[test]
    fn conditions_follow_rfc_order() {
        let etag = ETagCondition::ETag(ETag::Strong("abc-1".into()));
        let other = ETagCondition::ETag(ETag::Strong("zzz-1".into()));
        let ok = ReadConditions {
            if_match: Some(&etag),
            ..Default::default()
        };
        assert!(ok.check("abc-1", None).is_ok());
        let bad = ReadConditions {
            if_match: Some(&other),
            ..Default::default()
        };
        assert!(matches!(bad.check("abc-1", None), Err(ApiError::PreconditionFailed)));
        let none_match = ReadConditions {
            if_none_match: Some(&etag),
            ..Default::default()
        };
        assert!(matches!(none_match.check("abc-1", None), Err(ApiError::NotModified)));
        let any = ETagCondition::Any;
        let star = ReadConditions {
            if_none_match: Some(&any),
            ..Default::default()
        };
        assert!(matches!(star.check("abc-1", None), Err(ApiError::NotModified)));
    }
}
