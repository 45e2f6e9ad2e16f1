//! Object tags: S3's limits, and tag changes. Tags are sealed with the object's attributes
//! (they say as much as its metadata), so changing them rewrites the attributes in both
//! regions: a metadata-only copy of the object onto itself, a write like any other (new
//! version stamp, journaled when a region misses it).

use std::collections::HashSet;

use super::Store;
use super::customer::META_SSE_C;
use super::object::META_ATTRS;
use super::write::commit_put;
use crate::error::{ApiError, ApiResult};
use crate::replication::ReadScope;
use crate::stamp::META_STAMP;

/// S3's limits on object tags.
const MAX_TAGS: usize = 10;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// Checks tags against S3's rules for object tags: `InvalidTag` otherwise.
pub fn check_tags(tags: &[(String, String)]) -> ApiResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::InvalidTag(format!(
            "Object tags cannot be greater than {MAX_TAGS}"
        )));
    }
    let mut seen = HashSet::new();
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
            return Err(ApiError::InvalidTag(format!(
                "The TagKey you have provided is invalid: keys are 1 to {MAX_KEY_CHARS} characters"
            )));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(ApiError::InvalidTag(format!(
                "The TagValue you have provided is invalid: values are at most {MAX_VALUE_CHARS} characters"
            )));
        }
        if key.starts_with("aws:") {
            return Err(ApiError::InvalidTag("Your TagKey cannot be prefixed with aws:".into()));
        }
        if !seen.insert(key.as_str()) {
            return Err(ApiError::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
    }
    Ok(())
}

/// Tags as `x-amz-tagging` sends them: a URL-encoded query string (`k1=v1&k2=v2`).
pub fn parse_tagging_header(header: &str) -> ApiResult<Vec<(String, String)>> {
    let tags: Vec<(String, String)> = form_urlencoded::parse(header.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    check_tags(&tags)?;
    Ok(tags)
}

impl Store {
    /// The object's tags (none for an SSE-C object, which cannot be given any: its attributes
    /// open only with the customer key, which tagging requests do not carry).
    pub async fn get_tagging(&self, bucket: &str, key: &str) -> ApiResult<Vec<(String, String)>> {
        let scope = ReadScope::Key { bucket, key };
        let stored = self.regions.read(scope, |up| up.head_object(bucket, key)).await?;
        if stored.metadata.contains_key(META_SSE_C) {
            return Ok(Vec::new());
        }
        Ok(self.open_view(bucket, key, &stored, None)?.attrs.tags)
    }

    /// Replaces the object's tags (none: DeleteObjectTagging) in both regions.
    pub async fn put_tagging(&self, bucket: &str, key: &str, tags: Vec<(String, String)>) -> ApiResult<()> {
        check_tags(&tags)?;
        let scope = ReadScope::Key { bucket, key };
        let stored = self.regions.read(scope, |up| up.head_object(bucket, key)).await?;
        if stored.metadata.contains_key(META_SSE_C) {
            return Err(ApiError::NotImplemented(
                "tags on SSE-C objects (twinvault seals tags under the customer key)",
            ));
        }
        let view = self.open_view(bucket, key, &stored, None)?;
        let mut attrs = view.attrs;
        attrs.tags = tags;
        let mut metadata = stored.metadata.clone();
        metadata.insert(META_ATTRS.to_owned(), attrs.seal(&view.dek)?);
        let stamp = self.regions.stamp();
        metadata.insert(META_STAMP.to_owned(), stamp.to_string());
        // Only while the key holds what was read: a write in between wins, as it would in S3.
        let results = self
            .regions
            .on_both(|up| up.copy_object((bucket, key), (bucket, key), &metadata, &view.upstream_etag))
            .await;
        commit_put(self, results, bucket, key, stamp).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn tags_follow_s3s_limits() {
        assert!(check_tags(&tags(&[("project", "blue"), ("empty", "")])).is_ok());
        let ten: Vec<(String, String)> = (0..10).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(check_tags(&ten).is_ok());
        let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(matches!(check_tags(&eleven), Err(ApiError::InvalidTag(_))));
        assert!(check_tags(&tags(&[(&"k".repeat(128), &"v".repeat(256))])).is_ok());
        assert!(
            check_tags(&tags(&[(&"é".repeat(128), "v")])).is_ok(),
            "limits count characters"
        );
        assert!(check_tags(&tags(&[(&"k".repeat(129), "v")])).is_err());
        assert!(check_tags(&tags(&[("k", &"v".repeat(257))])).is_err());
        assert!(check_tags(&tags(&[("", "v")])).is_err());
        assert!(check_tags(&tags(&[("aws:x", "v")])).is_err());
        assert!(check_tags(&tags(&[("a", "1"), ("a", "2")])).is_err());
    }

    #[test]
    fn the_tagging_header_is_a_url_encoded_query() {
        assert_eq!(
            parse_tagging_header("a=1&b%20c=d%26e&empty=").expect("parses"),
            tags(&[("a", "1"), ("b c", "d&e"), ("empty", "")])
        );
        assert!(parse_tagging_header("a=1&a=2").is_err());
    }
}
