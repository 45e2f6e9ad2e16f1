//! Listing requests and pages in the crate's own types. The accessors mirror the SDK output
//! types they replace (`ListObjectsV2Output`, `Object`, `CommonPrefix`), so readers of a page
//! did not change when the backend seam came in.

use aws_smithy_types::DateTime;

/// Parameters of a listing request, in upstream terms (bucket already mapped).
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// Key prefix.
    pub prefix: Option<String>,
    /// Grouping delimiter.
    pub delimiter: Option<String>,
    /// Page size.
    pub max_keys: Option<i32>,
    /// v2 continuation token.
    pub continuation_token: Option<String>,
    /// v2 start-after.
    pub start_after: Option<String>,
    /// v1 marker.
    pub marker: Option<String>,
}

/// A listing page as the upstream returned it (v1 and v2 share it; each fills its own fields).
#[derive(Clone, Debug, Default)]
pub struct ListPage {
    /// Objects, in key order.
    pub contents: Vec<ListedObject>,
    /// Common prefixes, in order.
    pub common_prefixes: Vec<ListedPrefix>,
    /// Whether more results follow.
    pub is_truncated: Option<bool>,
    /// Keys plus common prefixes on this page (v2).
    pub key_count: Option<i32>,
    /// The prefix asked for.
    pub prefix: Option<String>,
    /// The delimiter asked for.
    pub delimiter: Option<String>,
    /// The page size asked for.
    pub max_keys: Option<i32>,
    /// The continuation token asked with (v2).
    pub continuation_token: Option<String>,
    /// The token of the next page (v2).
    pub next_continuation_token: Option<String>,
    /// The start-after asked for (v2).
    pub start_after: Option<String>,
    /// The marker asked with (v1).
    pub marker: Option<String>,
    /// The marker of the next page (v1; S3 sends it only with a delimiter).
    pub next_marker: Option<String>,
}

/// A v1 listing page.
pub type ListPageV1 = ListPage;

impl ListPage {
    /// Objects, in key order.
    pub fn contents(&self) -> &[ListedObject] {
        &self.contents
    }

    /// Common prefixes.
    pub fn common_prefixes(&self) -> &[ListedPrefix] {
        &self.common_prefixes
    }

    /// Whether more results follow.
    pub fn is_truncated(&self) -> Option<bool> {
        self.is_truncated
    }

    /// Keys plus common prefixes on this page (v2).
    pub fn key_count(&self) -> Option<i32> {
        self.key_count
    }

    /// The prefix asked for.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The delimiter asked for.
    pub fn delimiter(&self) -> Option<&str> {
        self.delimiter.as_deref()
    }

    /// The page size asked for.
    pub fn max_keys(&self) -> Option<i32> {
        self.max_keys
    }

    /// The continuation token asked with (v2).
    pub fn continuation_token(&self) -> Option<&str> {
        self.continuation_token.as_deref()
    }

    /// The token of the next page (v2).
    pub fn next_continuation_token(&self) -> Option<&str> {
        self.next_continuation_token.as_deref()
    }

    /// The start-after asked for (v2).
    pub fn start_after(&self) -> Option<&str> {
        self.start_after.as_deref()
    }

    /// The marker asked with (v1).
    pub fn marker(&self) -> Option<&str> {
        self.marker.as_deref()
    }

    /// The marker of the next page (v1).
    pub fn next_marker(&self) -> Option<&str> {
        self.next_marker.as_deref()
    }
}

/// One listed object.
#[derive(Clone, Debug, Default)]
pub struct ListedObject {
    /// Key.
    pub key: Option<String>,
    /// Upstream ETag, as listed (possibly quoted).
    pub e_tag: Option<String>,
    /// Stored size.
    pub size: Option<i64>,
    /// Upstream modification time.
    pub last_modified: Option<DateTime>,
    /// Storage class, as listed.
    pub storage_class: Option<StorageClass>,
}

impl ListedObject {
    /// Key.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Upstream ETag, as listed (possibly quoted).
    pub fn e_tag(&self) -> Option<&str> {
        self.e_tag.as_deref()
    }

    /// Stored size.
    pub fn size(&self) -> Option<i64> {
        self.size
    }

    /// Upstream modification time.
    pub fn last_modified(&self) -> Option<&DateTime> {
        self.last_modified.as_ref()
    }

    /// Storage class, as listed.
    pub fn storage_class(&self) -> Option<&StorageClass> {
        self.storage_class.as_ref()
    }
}

/// A storage class name as an upstream lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageClass(pub String);

impl StorageClass {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One common prefix of a delimited listing.
#[derive(Clone, Debug, Default)]
pub struct ListedPrefix {
    /// The prefix, delimiter included.
    pub prefix: Option<String>,
}

impl ListedPrefix {
    /// The prefix, delimiter included.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }
}
