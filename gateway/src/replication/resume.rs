//! Mid-stream failover for GET bodies: when the serving region's stream breaks, ends early or
//! stalls, the rest is fetched from the other region with a ranged GET starting at the exact
//! stored offset reached. Both regions hold identical ciphertext (same upstream ETag, pinned
//! with `If-Match`), and the envelope authenticates every segment downstream, so a splice that
//! is not byte-exact fails loudly instead of reaching the client.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;

use super::Regions;
use crate::upstream::{RegionsUsed, StoredBody};

/// Region switches one GET may make before it gives up.
const MAX_SWITCHES: u32 = 2;
/// Chunks buffered between the upstream reader and the decryptor.
const BUFFERED_CHUNKS: usize = 4;

/// Where a stored body comes from, to fetch the rest of it elsewhere.
#[derive(Clone, Debug)]
pub struct BodySource {
    /// Client bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upstream ETag of the version being read (identical in both regions).
    pub etag: String,
    /// Index (configuration order) of the region serving the body.
    pub region: usize,
    /// Stored offset of the body's first byte.
    pub start: u64,
    /// Stored offset one past the body's last byte.
    pub end: u64,
}

/// The stored bytes of `body`, continued from the other region if its stream fails. Ends with
/// an error (never early) if both regions fail.
pub fn resumable(
    regions: Arc<Regions>,
    source: BodySource,
    body: StoredBody,
    stall: Duration,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + Unpin + 'static {
    let (tx, mut rx) = mpsc::channel(BUFFERED_CHUNKS);
    // A continuation's region counts for the request's audit line.
    let used = RegionsUsed::current();
    tokio::spawn(RegionsUsed::within(used, async move {
        let mut source = source;
        let mut stream = body.body;
        let mut offset = source.start;
        let mut switches = 0;
        loop {
            let why = match tokio::time::timeout(stall, stream.next()).await {
                Ok(Some(Ok(bytes))) => {
                    offset += bytes.len() as u64;
                    if tx.send(Ok(bytes)).await.is_err() {
                        return; // the client went away
                    }
                    continue;
                }
                Ok(None) if offset >= source.end => return,
                Ok(None) => format!("stream ended at {offset} of {}", source.end),
                Ok(Some(Err(e))) => format!("stream broke: {e}"),
                Err(_) => format!("stream stalled for {} ms", stall.as_millis()),
            };
            let from = regions.all()[source.region].name().to_owned();
            if switches >= MAX_SWITCHES {
                let _ = tx.send(Err(std::io::Error::other(why))).await;
                return;
            }
            switches += 1;
            source.region = 1 - source.region;
            let to = &regions.all()[source.region];
            tracing::warn!(from = %from, to = to.name(), offset, reason = %why, "resuming a GET body from the other region");
            match to
                .get_object(
                    &source.bucket,
                    &source.key,
                    Some((offset, source.end - 1)),
                    Some(&source.etag),
                )
                .await
            {
                Ok(rest) => {
                    regions
                        .metrics()
                        .reads_served
                        .with_label_values(&[to.name(), "resume"])
                        .inc();
                    stream = rest.body;
                }
                Err(e) => {
                    let _ = tx
                        .send(Err(std::io::Error::other(format!("{why}; resume failed: {e}"))))
                        .await;
                    return;
                }
            }
        }
    }));
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
