//! One listing page from both regions' pages, for a bucket both regions are behind on (two
//! outages without a repair between): per key, the entry of the region that is current for
//! it, by the journal records (docs/CONSISTENCY.md, "Listings when both regions are behind").
//!
//! The merged page covers keys up to the smaller of the two pages' last entries (beyond it,
//! a truncated page has not shown what its region holds), and at most `max_keys` entries.
//! The next page starts after the last entry covered: the gateway's own continuation token
//! ([`MERGED_TOKEN_PREFIX`]) carries that key, and any page of a listing turns it back into
//! `start-after` for the upstreams. Every ListObjectsV2 page the gateway answers carries such
//! a token, merged or not, so a client may page on whichever region answers the next page.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::replication::View;
use crate::upstream::{ListPage, ListRequest, ListedObject, ListedPrefix};

/// Continuation tokens the gateway makes start with this; the rest is the key to start after.
pub const MERGED_TOKEN_PREFIX: &str = "tvm1.";

/// Resuming after a common prefix skips every key under it: no key is greater than this
/// suffix's code point, the largest Unicode has.
const AFTER_EVERY_KEY: char = char::MAX;

/// S3's default page size.
const DEFAULT_MAX_KEYS: i32 = 1000;

/// The gateway's continuation token for a page that ends after `key`.
pub fn token_after(key: &str) -> String {
    format!("{MERGED_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(key))
}

/// A v2 request with the gateway's own continuation token turned into `start-after` for the
/// upstreams (the later of it and the client's `start-after`). Other tokens pass as they are.
pub fn upstream_request(request: &ListRequest) -> Option<ListRequest> {
    let token = request
        .continuation_token
        .as_deref()?
        .strip_prefix(MERGED_TOKEN_PREFIX)?;
    let after = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())?;
    let start_after = match &request.start_after {
        Some(client) if *client > after => client.clone(),
        _ => after,
    };
    Some(ListRequest {
        continuation_token: None,
        start_after: Some(start_after),
        ..request.clone()
    })
}

/// One entry of a listing, in key order.
enum Entry {
    Object(ListedObject),
    Prefix(ListedPrefix),
}

/// A merged page, and where the next one starts (`None`: this is the last).
#[derive(Debug)]
pub struct Merged {
    /// Objects and common prefixes, each in key order.
    pub page: ListPage,
    /// The key the next page starts after.
    pub resume_after: Option<String>,
}

/// Merges `pages` (configuration order) of one request: for each key, the entry `view` says
/// is current; common prefixes from either region.
pub fn merge(pages: [ListPage; 2], max_keys: Option<i32>, view: impl Fn(&str) -> View) -> Merged {
    // Beyond the last entry of a truncated page, its region's entries are not known yet.
    let covered_to = pages
        .iter()
        .filter(|page| page.is_truncated == Some(true))
        .filter_map(last_entry)
        .min();
    let mut keys: BTreeMap<String, [Option<ListedObject>; 2]> = BTreeMap::new();
    let mut prefixes: BTreeMap<String, ListedPrefix> = BTreeMap::new();
    for (region, page) in pages.into_iter().enumerate() {
        for object in page.contents {
            if let Some(key) = object.key.clone() {
                keys.entry(key).or_default()[region] = Some(object);
            }
        }
        for prefix in page.common_prefixes {
            if let Some(name) = prefix.prefix.clone() {
                prefixes.entry(name).or_insert(prefix);
            }
        }
    }
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for (key, [a, b]) in keys {
        let kept = match view(&key) {
            View::Either => a.or(b),
            View::Only(0) => a,
            View::Only(_) => b,
        };
        if let Some(object) = kept {
            entries.insert(key, Entry::Object(object));
        }
    }
    for (name, prefix) in prefixes {
        entries.insert(name, Entry::Prefix(prefix));
    }
    let max = usize::try_from(max_keys.unwrap_or(DEFAULT_MAX_KEYS).max(0)).unwrap_or(0);
    let mut page = ListPage::default();
    let mut last = None;
    let mut full = false;
    for (name, entry) in entries {
        if covered_to.as_ref().is_some_and(|end| name > *end) {
            break;
        }
        if page.contents.len() + page.common_prefixes.len() == max {
            full = true;
            break;
        }
        last = Some(match entry {
            Entry::Object(object) => {
                page.contents.push(object);
                name
            }
            Entry::Prefix(prefix) => {
                page.common_prefixes.push(prefix);
                format!("{name}{AFTER_EVERY_KEY}")
            }
        });
    }
    // Full: resume after the last entry shown. Cut at a truncated page's end: after that end,
    // even if nothing before it was shown (every entry up to it was another region's stale one).
    let resume_after = if full {
        last
    } else {
        covered_to.map(|end| match last {
            Some(last) if last > end => last,
            _ => end,
        })
    };
    page.is_truncated = Some(resume_after.is_some());
    page.key_count = i32::try_from(page.contents.len() + page.common_prefixes.len()).ok();
    page.max_keys = max_keys;
    Merged { page, resume_after }
}

/// The last entry of `page` (object or common prefix), as the key to resume after.
pub fn last_entry(page: &ListPage) -> Option<String> {
    let object = page.contents.last().and_then(|o| o.key.clone());
    let prefix = page
        .common_prefixes
        .last()
        .and_then(|p| p.prefix.as_ref())
        .map(|p| format!("{p}{AFTER_EVERY_KEY}"));
    object.max(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(keys: &[(&str, &str)], prefixes: &[&str], truncated: bool) -> ListPage {
        ListPage {
            contents: keys
                .iter()
                .map(|(key, etag)| ListedObject {
                    key: Some((*key).to_owned()),
                    e_tag: Some((*etag).to_owned()),
                    ..Default::default()
                })
                .collect(),
            common_prefixes: prefixes
                .iter()
                .map(|p| ListedPrefix {
                    prefix: Some((*p).to_owned()),
                })
                .collect(),
            is_truncated: Some(truncated),
            ..Default::default()
        }
    }

    fn listed(merged: &Merged) -> Vec<(String, String)> {
        merged
            .page
            .contents
            .iter()
            .map(|o| (o.key.clone().unwrap_or_default(), o.e_tag.clone().unwrap_or_default()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, e)| ((*k).to_owned(), (*e).to_owned()))
            .collect()
    }

    #[test]
    fn each_key_comes_from_the_region_current_for_it() {
        // a missed the delete of "gone" and the write of "new"; b missed the overwrite of "x".
        let a = page(&[("gone", "a1"), ("same", "s"), ("x", "x2")], &[], false);
        let b = page(&[("new", "n1"), ("same", "s"), ("x", "x1")], &[], false);
        let merged = merge([a, b], None, |key| match key {
            "gone" | "new" => View::Only(1),
            "x" => View::Only(0),
            _ => View::Either,
        });
        assert_eq!(listed(&merged), pairs(&[("new", "n1"), ("same", "s"), ("x", "x2")]));
        assert_eq!(merged.resume_after, None);
        assert_eq!(merged.page.is_truncated, Some(false));
        assert_eq!(merged.page.key_count, Some(3));
    }

    #[test]
    fn a_page_ends_where_a_truncated_region_page_ends() {
        let a = page(&[("a", "1"), ("c", "1")], &[], true);
        let b = page(&[("b", "1"), ("d", "1"), ("e", "1")], &[], false);
        let merged = merge([a, b], None, |_| View::Either);
        assert_eq!(listed(&merged), pairs(&[("a", "1"), ("b", "1"), ("c", "1")]));
        assert_eq!(merged.resume_after.as_deref(), Some("c"));
        assert_eq!(merged.page.is_truncated, Some(true));
    }

    #[test]
    fn max_keys_cuts_the_page_and_the_next_resumes_after_its_last_entry() {
        let a = page(&[("a", "1"), ("b", "1"), ("c", "1")], &[], false);
        let b = page(&[("a", "1"), ("b", "1"), ("c", "1")], &[], false);
        let merged = merge([a, b], Some(2), |_| View::Either);
        assert_eq!(listed(&merged), pairs(&[("a", "1"), ("b", "1")]));
        assert_eq!(merged.resume_after.as_deref(), Some("b"));
        assert_eq!(merged.page.key_count, Some(2));
    }

    #[test]
    fn progress_is_made_when_every_entry_up_to_the_cut_is_stale() {
        // a's page is truncated at "b", and both of its keys are ones a missed deletes of.
        let a = page(&[("a", "1"), ("b", "1")], &[], true);
        let b = page(&[("z", "1")], &[], false);
        let merged = merge(
            [a, b],
            None,
            |key| if key == "z" { View::Either } else { View::Only(1) },
        );
        assert!(listed(&merged).is_empty());
        assert_eq!(merged.resume_after.as_deref(), Some("b"));
        assert_eq!(merged.page.is_truncated, Some(true));
    }

    #[test]
    fn common_prefixes_come_from_either_region_and_resume_past_their_keys() {
        let a = page(&[("a", "1")], &["dir/"], true);
        let b = page(&[("a", "1")], &["other/"], false);
        let merged = merge([a, b], None, |_| View::Either);
        let prefixes: Vec<_> = merged
            .page
            .common_prefixes
            .iter()
            .filter_map(|p| p.prefix.clone())
            .collect();
        assert_eq!(prefixes, vec!["dir/".to_owned()], "other/ is past a's truncated page");
        assert_eq!(merged.resume_after, Some(format!("dir/{AFTER_EVERY_KEY}")));
        assert!(merged.resume_after.as_deref().is_some_and(|r| r > "dir/zzzz"));
    }

    #[test]
    fn the_gateways_token_becomes_start_after_and_others_pass_unchanged() {
        let request = ListRequest {
            continuation_token: Some(token_after("photos/2024 ü")),
            ..Default::default()
        };
        let upstream = upstream_request(&request).expect("own token");
        assert_eq!(upstream.start_after.as_deref(), Some("photos/2024 ü"));
        assert_eq!(upstream.continuation_token, None);
        let later = ListRequest {
            start_after: Some("zzz".into()),
            ..request
        };
        assert_eq!(
            upstream_request(&later).and_then(|r| r.start_after).as_deref(),
            Some("zzz")
        );
        let foreign = ListRequest {
            continuation_token: Some("opaque-upstream-token".into()),
            ..Default::default()
        };
        assert!(upstream_request(&foreign).is_none());
        let broken = ListRequest {
            continuation_token: Some(format!("{MERGED_TOKEN_PREFIX}!!!")),
            ..Default::default()
        };
        assert!(
            upstream_request(&broken).is_none(),
            "not ours after all: passed upstream"
        );
    }
}
