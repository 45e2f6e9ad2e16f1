//! Streams one sealed body to both regions at once, the same bytes to each, with bounded buffers.

use std::collections::HashMap;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::envelope::EnvelopeError;
use crate::upstream::{StoredObject, Upstream, UpstreamError};

/// Sealed chunks buffered per region: the slower region sets the pace, memory stays bounded
/// at about this many segments per region.
const CHANNEL_SEGMENTS: usize = 4;

type Frame = Result<http_body::Frame<Bytes>, std::io::Error>;

/// What happened to one replicated PUT.
#[derive(Debug)]
pub struct FanoutOutcome {
    /// The sealed input failed (client body error, checksum mismatch, wrong length).
    pub input_error: Option<EnvelopeError>,
    /// Per-region results, in configuration order.
    pub results: [Result<StoredObject, UpstreamError>; 2],
}

/// One region's copy of the sealed body, as an upstream request body.
pub struct RegionBody(mpsc::Receiver<Frame>);

impl Stream for RegionBody {
    type Item = Frame;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Frame>> {
        self.0.poll_recv(cx)
    }
}

/// Where and how one replicated PUT is stored.
#[derive(Debug)]
pub struct ReplicatedPut<'a> {
    /// Client bucket.
    pub bucket: &'a str,
    /// Object key.
    pub key: &'a str,
    /// Exact stored length of the sealed body.
    pub stored_len: u64,
    /// Upstream metadata (header, sealed attributes).
    pub metadata: &'a HashMap<String, String>,
    /// `*` for create-only writes.
    pub if_none_match: Option<&'a str>,
    /// Fail the other region's body when one region fails (policy "all").
    pub abort_on_region_failure: bool,
}

/// PUTs `sealed` (exactly `put.stored_len` bytes) to both `regions` concurrently.
pub async fn fan_out_put<S>(regions: &[Upstream; 2], put: &ReplicatedPut<'_>, sealed: S) -> FanoutOutcome
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    fan_out(regions, sealed, put.abort_on_region_failure, |_, region, body| {
        region.put_object(
            put.bucket,
            put.key,
            put.stored_len,
            put.metadata,
            put.if_none_match,
            body,
        )
    })
    .await
}

/// Streams `sealed` into `store` for both regions concurrently (region index, region, body).
///
/// If the input fails, both upstream bodies fail too, so neither region stores a partial
/// object. If one region fails while `abort_on_region_failure` is set, the other region's body
/// is failed as well, so a write that will be reported as failed is not stored on one side.
pub async fn fan_out<'a, S, F, Fut>(
    regions: &'a [Upstream; 2],
    sealed: S,
    abort_on_region_failure: bool,
    store: F,
) -> FanoutOutcome
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
    F: Fn(usize, &'a Upstream, RegionBody) -> Fut,
    Fut: Future<Output = Result<StoredObject, UpstreamError>>,
{
    let (tx_a, rx_a) = mpsc::channel::<Frame>(CHANNEL_SEGMENTS);
    let (tx_b, rx_b) = mpsc::channel::<Frame>(CHANNEL_SEGMENTS);
    let put_a = store(0, &regions[0], RegionBody(rx_a));
    let put_b = store(1, &regions[1], RegionBody(rx_b));
    let pump = pump(sealed, [tx_a, tx_b], abort_on_region_failure);
    let (input_error, a, b) = tokio::join!(pump, put_a, put_b);
    FanoutOutcome {
        input_error,
        results: [a, b],
    }
}

/// Copies sealed chunks into both channels. Returns the input's error, if any.
async fn pump<S>(
    mut sealed: S,
    senders: [mpsc::Sender<Frame>; 2],
    abort_on_region_failure: bool,
) -> Option<EnvelopeError>
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    let mut open: Vec<&mpsc::Sender<Frame>> = senders.iter().collect();
    while let Some(item) = sealed.next().await {
        match item {
            Ok(chunk) => {
                let before = open.len();
                let mut still_open = Vec::with_capacity(open.len());
                for tx in open {
                    if tx.send(Ok(http_body::Frame::data(chunk.clone()))).await.is_ok() {
                        still_open.push(tx);
                    }
                }
                open = still_open;
                if open.is_empty() {
                    return None;
                }
                if abort_on_region_failure && open.len() < before {
                    fail_all(&open, "the other region failed").await;
                    return None;
                }
            }
            Err(e) => {
                fail_all(&open, "request body failed").await;
                return Some(e);
            }
        }
    }
    None
}

async fn fail_all(open: &[&mpsc::Sender<Frame>], why: &'static str) {
    for tx in open {
        let _ = tx.send(Err(std::io::Error::other(why))).await;
    }
}
