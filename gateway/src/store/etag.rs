//! The ETag clients see, and conditional-request evaluation against it.
//!
//! Upstreams compute ETags over ciphertext, which is identical in both regions, so the client
//! ETag is derived from the upstream one: `"<upstream>-1"` for single PUTs, the upstream's own
//! `"<hash>-<parts>"` for multipart objects. It never looks like a bare MD5, so clients that
//! compare a 32-hex ETag with their MD5 of the plaintext (rclone, s3cmd) skip that check instead
//! of failing it (docs/ARCHITECTURE.md, "ETags"). Listings derive it the same way, for free.

use std::time::SystemTime;

use crate::error::ApiError;

/// The client-facing ETag (no quotes) of an object whose upstream ETag is `upstream`.
pub fn client_etag(upstream: &str) -> String {
    if upstream.contains('-') {
        upstream.to_owned()
    } else {
        format!("{upstream}-1")
    }
}

/// One `If-Match` / `If-None-Match` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EtagCondition {
    /// `*`: any version.
    Any,
    /// One ETag, without quotes.
    Tag(String),
}

impl EtagCondition {
    fn matches(&self, etag: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tag(tag) => tag.trim_matches('"') == etag,
        }
    }
}

/// The conditional headers of a read (or of a copy's source).
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    /// `If-Match`.
    pub if_match: Option<EtagCondition>,
    /// `If-None-Match`.
    pub if_none_match: Option<EtagCondition>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<SystemTime>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<SystemTime>,
}

impl Conditions {
    /// Evaluates the conditions in RFC 9110 order: `If-Match` (else `If-Unmodified-Since`),
    /// then `If-None-Match` (else `If-Modified-Since`). Times compare in whole seconds, as
    /// HTTP dates carry them.
    pub fn check(&self, etag: &str, last_modified: Option<SystemTime>) -> Result<(), ApiError> {
        let modified = last_modified.map(seconds);
        if let Some(cond) = &self.if_match {
            if !cond.matches(etag) {
                return Err(ApiError::PreconditionFailed);
            }
        } else if let (Some(since), Some(modified)) = (self.if_unmodified_since, modified)
            && modified > seconds(since)
        {
            return Err(ApiError::PreconditionFailed);
        }
        if let Some(cond) = &self.if_none_match {
            if cond.matches(etag) {
                return Err(not_modified(etag, last_modified));
            }
        } else if let (Some(since), Some(modified)) = (self.if_modified_since, modified)
            && modified <= seconds(since)
        {
            return Err(not_modified(etag, last_modified));
        }
        Ok(())
    }

    /// As [`Self::check`], for a copy's source: every failure answers 412, as S3 does.
    pub fn check_copy_source(&self, etag: &str, last_modified: Option<SystemTime>) -> Result<(), ApiError> {
        self.check(etag, last_modified).map_err(|e| match e {
            ApiError::NotModified { .. } => ApiError::PreconditionFailed,
            other => other,
        })
    }
}

fn not_modified(etag: &str, last_modified: Option<SystemTime>) -> ApiError {
    ApiError::NotModified {
        etag: etag.to_owned(),
        last_modified,
    }
}

fn seconds(time: SystemTime) -> i64 {
    time::OffsetDateTime::from(time).unix_timestamp()
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
        let etag = EtagCondition::Tag("abc-1".into());
        let other = EtagCondition::Tag("zzz-1".into());
        let ok = Conditions {
            if_match: Some(etag.clone()),
            ..Default::default()
        };
        assert!(ok.check("abc-1", None).is_ok());
        let bad = Conditions {
            if_match: Some(other),
            ..Default::default()
        };
        assert!(matches!(bad.check("abc-1", None), Err(ApiError::PreconditionFailed)));
        let none_match = Conditions {
            if_none_match: Some(etag),
            ..Default::default()
        };
        assert!(matches!(
            none_match.check("abc-1", None),
            Err(ApiError::NotModified { .. })
        ));
        assert!(matches!(
            none_match.check_copy_source("abc-1", None),
            Err(ApiError::PreconditionFailed)
        ));
        let star = Conditions {
            if_none_match: Some(EtagCondition::Any),
            ..Default::default()
        };
        assert!(matches!(star.check("abc-1", None), Err(ApiError::NotModified { .. })));
    }

    #[test]
    fn dates_compare_in_whole_seconds() {
        let modified = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(10_500);
        let same_second = Conditions {
            if_modified_since: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10)),
            ..Default::default()
        };
        assert!(matches!(
            same_second.check("e", Some(modified)),
            Err(ApiError::NotModified { .. })
        ));
        let earlier = Conditions {
            if_unmodified_since: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(9)),
            ..Default::default()
        };
        assert!(matches!(
            earlier.check("e", Some(modified)),
            Err(ApiError::PreconditionFailed)
        ));
    }
}
