//! The full anti-entropy pass: list both regions side by side (a merge of two sorted listings,
//! a page at a time, so memory stays bounded whatever the bucket holds) and reconcile every key
//! whose (ETag, size) differs or that one side lacks.

use std::collections::BTreeSet;

use futures::StreamExt;

use super::{CONCURRENCY, RepairSummary, Repairer, ensure_bucket};
use crate::replication::Regions;
use crate::upstream::{ListRequest, Upstream, UpstreamError};

/// One listed object: key, upstream ETag, stored size.
pub(crate) type Entry = (String, String, u64);

/// A region's listing of one bucket, read a page at a time.
pub(crate) struct Cursor<'a> {
    region: &'a Upstream,
    bucket: &'a str,
    page: std::collections::VecDeque<Entry>,
    token: Option<String>,
    done: bool,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(region: &'a Upstream, bucket: &'a str) -> Self {
        Self {
            region,
            bucket,
            page: Default::default(),
            token: None,
            done: false,
        }
    }

    pub(crate) async fn peek(&mut self) -> Result<Option<&Entry>, UpstreamError> {
        while self.page.is_empty() && !self.done {
            let request = ListRequest {
                max_keys: Some(1000),
                continuation_token: self.token.clone(),
                ..Default::default()
            };
            let page = match self.region.list_objects_v2(self.bucket, &request).await {
                Err(e) if e.kind.is_not_found() => {
                    self.done = true;
                    break;
                }
                other => other?,
            };
            self.page.extend(page.contents().iter().filter_map(|o| {
                Some((
                    o.key()?.to_owned(),
                    crate::upstream::unquote(o.e_tag()),
                    o.size().unwrap_or(0).max(0) as u64,
                ))
            }));
            self.token = page.next_continuation_token().map(str::to_owned);
            self.done = page.is_truncated() != Some(true) || self.token.is_none();
        }
        Ok(self.page.front())
    }

    pub(crate) fn pop(&mut self) -> Option<Entry> {
        self.page.pop_front()
    }
}

/// Both regions' listings of one bucket, merged by key.
pub(crate) struct MergedListing<'a> {
    cursors: [Cursor<'a>; 2],
}

impl<'a> MergedListing<'a> {
    /// The listing of `bucket` in both `regions`.
    pub(crate) fn new(regions: &'a [Upstream; 2], bucket: &'a str) -> Self {
        Self {
            cursors: [Cursor::new(&regions[0], bucket), Cursor::new(&regions[1], bucket)],
        }
    }

    /// The next key in either region, with what each region lists for it.
    pub(crate) async fn next(&mut self) -> Result<Option<(Option<Entry>, Option<Entry>)>, UpstreamError> {
        let a = self.cursors[0].peek().await?.map(|e| e.0.clone());
        let b = self.cursors[1].peek().await?.map(|e| e.0.clone());
        Ok(match (a, b) {
            (None, None) => None,
            (Some(x), Some(y)) if x == y => Some((self.cursors[0].pop(), self.cursors[1].pop())),
            (Some(x), Some(y)) if x < y => Some((self.cursors[0].pop(), None)),
            (Some(_), Some(_)) | (None, Some(_)) => Some((None, self.cursors[1].pop())),
            (Some(_), None) => Some((self.cursors[0].pop(), None)),
        })
    }
}

/// `bucket`, or every client bucket either region has (never the journal bucket).
pub(crate) async fn buckets_to_scan(regions: &Regions, bucket: Option<&str>) -> Result<Vec<String>, UpstreamError> {
    if let Some(b) = bucket {
        return Ok(vec![b.to_owned()]);
    }
    let [a, b] = regions.on_both(|up| up.list_buckets()).await;
    let mut names: BTreeSet<String> = a?.into_iter().map(|(n, _)| n).collect();
    names.extend(b?.into_iter().map(|(n, _)| n));
    names.remove(regions.journal().bucket());
    Ok(names.into_iter().collect())
}

pub(super) async fn full_pass(
    repairer: &Repairer<'_>,
    bucket: Option<&str>,
    progress: &dyn Fn(&RepairSummary),
) -> Result<(), UpstreamError> {
    let regions = repairer.regions.all();
    let buckets = buckets_to_scan(repairer.regions, bucket).await?;
    for bucket in &buckets {
        if !repairer.dry_run {
            for region in regions {
                ensure_bucket(region, bucket).await?;
            }
        }
        let mut listing = MergedListing::new(regions, bucket);
        loop {
            // Gather a batch of keys that need a look, then reconcile them concurrently.
            let mut batch = Vec::new();
            while batch.len() < 1000 {
                let key = match listing.next().await? {
                    None => break,
                    Some((Some(x), Some(y))) if x.1 == y.1 && x.2 == y.2 => {
                        RepairSummary::add(&repairer.summary.examined, 1);
                        continue;
                    }
                    Some((Some(x), _)) | Some((None, Some(x))) => x.0,
                    Some((None, None)) => continue,
                };
                batch.push(key);
            }
            if batch.is_empty() {
                break;
            }
            let mut results = futures::stream::iter(batch.iter().map(|key| async move {
                (
                    key,
                    repairer
                        .reconcile((bucket, key), None, false, super::Known::Everything)
                        .await,
                )
            }))
            .buffer_unordered(CONCURRENCY);
            while let Some((key, result)) = results.next().await {
                if let Err(e) = result {
                    RepairSummary::add(&repairer.summary.failed, 1);
                    tracing::warn!(bucket = %bucket, key = %key, error = %e, "repair failed");
                }
            }
            progress(&repairer.summary);
        }
        progress(&repairer.summary);
    }
    Ok(())
}
