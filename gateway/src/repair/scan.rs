//! The full anti-entropy pass: list both regions side by side (a merge of two sorted listings,
//! a page at a time, so memory stays bounded whatever the bucket holds) and reconcile every key
//! whose (ETag, size) differs or that one side lacks.

use std::collections::BTreeSet;

use futures::StreamExt;

use super::{CONCURRENCY, RepairSummary, Repairer, ensure_bucket};
use crate::upstream::{ListRequest, Upstream, UpstreamError};

/// One listed object: key, upstream ETag, stored size.
type Entry = (String, String, u64);

/// A region's listing of one bucket, read a page at a time.
struct Cursor<'a> {
    region: &'a Upstream,
    bucket: &'a str,
    page: std::collections::VecDeque<Entry>,
    token: Option<String>,
    done: bool,
}

impl<'a> Cursor<'a> {
    fn new(region: &'a Upstream, bucket: &'a str) -> Self {
        Self {
            region,
            bucket,
            page: Default::default(),
            token: None,
            done: false,
        }
    }

    async fn peek(&mut self) -> Result<Option<&Entry>, UpstreamError> {
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

    fn pop(&mut self) -> Option<Entry> {
        self.page.pop_front()
    }
}

pub(super) async fn full_pass(
    repairer: &Repairer<'_>,
    bucket: Option<&str>,
    progress: &dyn Fn(&RepairSummary),
) -> Result<(), UpstreamError> {
    let regions = repairer.regions.all();
    let buckets: Vec<String> = match bucket {
        Some(b) => vec![b.to_owned()],
        None => {
            let [a, b] = repairer.regions.on_both(|up| up.list_buckets()).await;
            let mut names: BTreeSet<String> = a?.into_iter().map(|(n, _)| n).collect();
            names.extend(b?.into_iter().map(|(n, _)| n));
            names.remove(repairer.regions.journal().bucket());
            names.into_iter().collect()
        }
    };
    for bucket in &buckets {
        if !repairer.dry_run {
            for region in regions {
                ensure_bucket(region, bucket).await?;
            }
        }
        let mut cursors = [Cursor::new(&regions[0], bucket), Cursor::new(&regions[1], bucket)];
        loop {
            // Gather a batch of keys that need a look, then reconcile them concurrently.
            let mut batch = Vec::new();
            while batch.len() < 1000 {
                let a = cursors[0].peek().await?.cloned();
                let b = cursors[1].peek().await?.cloned();
                let key = match (&a, &b) {
                    (None, None) => break,
                    (Some(x), Some(y)) if x.0 == y.0 => {
                        cursors[0].pop();
                        cursors[1].pop();
                        if x.1 == y.1 && x.2 == y.2 {
                            RepairSummary::add(&repairer.summary.examined, 1);
                            continue;
                        }
                        x.0.clone()
                    }
                    (Some(x), Some(y)) if x.0 < y.0 => cursors[0].pop().map_or_else(|| x.0.clone(), |e| e.0),
                    (Some(_), Some(y)) => cursors[1].pop().map_or_else(|| y.0.clone(), |e| e.0),
                    (Some(x), None) => cursors[0].pop().map_or_else(|| x.0.clone(), |e| e.0),
                    (None, Some(y)) => cursors[1].pop().map_or_else(|| y.0.clone(), |e| e.0),
                };
                batch.push(key);
            }
            if batch.is_empty() {
                break;
            }
            let mut results = futures::stream::iter(
                batch
                    .iter()
                    .map(|key| async move { (key, repairer.reconcile(bucket, key, None).await) }),
            )
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
