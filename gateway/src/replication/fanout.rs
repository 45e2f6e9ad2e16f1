//! Streams one sealed body to both regions at once, the same bytes to each, with bounded buffers.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::envelope::EnvelopeError;
use crate::upstream::{PutCondition, StoredObject, Upstream, UpstreamError, UpstreamErrorKind};

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
    /// The store-level precondition (the same in both regions).
    pub condition: PutCondition<'a>,
    /// How a failing or slow region affects the other.
    pub policy: FanoutPolicy,
}

/// How one region's trouble affects the other region's write.
#[derive(Clone, Copy, Debug)]
pub struct FanoutPolicy {
    /// Fail the other region's body when one region fails (policy "all": the write will be
    /// reported failed, so it must not be stored on one side).
    pub abort_on_region_failure: bool,
    /// Policy "one": a region that takes no bytes for this long, or that has not answered this
    /// long after the other region stored the object, is given up on (and recorded as missed).
    pub write_timeout: Option<Duration>,
}

/// PUTs `sealed` (exactly `put.stored_len` bytes) to both `regions` concurrently.
pub async fn fan_out_put<S>(regions: &[Upstream; 2], put: &ReplicatedPut<'_>, sealed: S) -> FanoutOutcome
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    fan_out(regions, sealed, put.policy, |_, region, body| {
        region.put_object(put.bucket, put.key, put.stored_len, put.metadata, put.condition, body)
    })
    .await
}

/// Streams `sealed` into `store` for both regions concurrently (region index, region, body).
///
/// If the input fails, both upstream bodies fail too, so neither region stores a partial
/// object. If one region fails while `policy.abort_on_region_failure` is set, the other region's
/// body is failed as well, so a write that will be reported as failed is not stored on one side.
/// Region failures not caused by the gateway itself feed the region's circuit breaker.
pub async fn fan_out<'a, S, F, Fut>(
    regions: &'a [Upstream; 2],
    sealed: S,
    policy: FanoutPolicy,
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
    let pump = pump(sealed, [tx_a, tx_b], policy);
    let ((input_error, cut), results) =
        tokio::join!(pump, both_with_grace(put_a, put_b, policy.write_timeout, regions));
    if input_error.is_none() {
        for (i, result) in results.iter().enumerate() {
            if let Err(e) = result
                && e.kind == UpstreamErrorKind::Unavailable
                && !e.refused_by_breaker()
                && !cut[i]
            {
                regions[i].health().failure();
            }
        }
    }
    FanoutOutcome { input_error, results }
}

/// Both regions' results; with a grace period, the slower region gets at most that long after
/// the faster one stored the object.
async fn both_with_grace<A, B>(
    a: A,
    b: B,
    grace: Option<Duration>,
    regions: &[Upstream; 2],
) -> [Result<StoredObject, UpstreamError>; 2]
where
    A: Future<Output = Result<StoredObject, UpstreamError>>,
    B: Future<Output = Result<StoredObject, UpstreamError>>,
{
    let Some(grace) = grace else {
        let (a, b) = tokio::join!(a, b);
        return [a, b];
    };
    let late = |i: usize| {
        UpstreamError::new(
            regions[i].name(),
            "PutObject",
            UpstreamErrorKind::Unavailable,
            format!(
                "no answer within write_timeout ({} ms) after the other region stored the object",
                grace.as_millis()
            ),
        )
    };
    tokio::pin!(a, b);
    tokio::select! {
        ra = &mut a => {
            let rb = if ra.is_ok() {
                tokio::time::timeout(grace, b).await.unwrap_or_else(|_| Err(late(1)))
            } else {
                b.await
            };
            [ra, rb]
        }
        rb = &mut b => {
            let ra = if rb.is_ok() {
                tokio::time::timeout(grace, a).await.unwrap_or_else(|_| Err(late(0)))
            } else {
                a.await
            };
            [ra, rb]
        }
    }
}

/// Copies sealed chunks into both channels. Returns the input's error, if any, and which
/// regions' bodies the pump cut on purpose (so their failure is not held against them).
async fn pump<S>(
    mut sealed: S,
    senders: [mpsc::Sender<Frame>; 2],
    policy: FanoutPolicy,
) -> (Option<EnvelopeError>, [bool; 2])
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    let mut cut = [false; 2];
    let mut open: Vec<(usize, mpsc::Sender<Frame>)> = senders.into_iter().enumerate().collect();
    while let Some(item) = sealed.next().await {
        match item {
            Ok(chunk) => {
                let before = open.len();
                let mut still_open = Vec::with_capacity(open.len());
                for (i, tx) in open {
                    let frame = Ok(http_body::Frame::data(chunk.clone()));
                    let sent = match policy.write_timeout {
                        // A region that stops taking bytes must not stall the other one.
                        Some(limit) => matches!(tokio::time::timeout(limit, tx.send(frame)).await, Ok(Ok(()))),
                        None => tx.send(frame).await.is_ok(),
                    };
                    if sent {
                        still_open.push((i, tx));
                    } else if !tx.is_closed() {
                        tracing::warn!(region = i, "region took no bytes within write_timeout; giving up on it");
                    }
                }
                open = still_open;
                if open.is_empty() {
                    return (None, cut);
                }
                if policy.abort_on_region_failure && open.len() < before {
                    for (i, _) in &open {
                        cut[*i] = true;
                    }
                    fail_all(&open, "the other region failed").await;
                    return (None, cut);
                }
            }
            Err(e) => {
                for (i, _) in &open {
                    cut[*i] = true;
                }
                fail_all(&open, "request body failed").await;
                return (Some(e), cut);
            }
        }
    }
    (None, cut)
}

async fn fail_all(open: &[(usize, mpsc::Sender<Frame>)], why: &'static str) {
    for (_, tx) in open {
        let _ = tx.send(Err(std::io::Error::other(why))).await;
    }
}

/// Splits one region's body into two carrying the same bytes (a multipart part and its staged
/// copy). When either consumer goes away, the other's body fails, so the region reports the
/// write failed rather than holding one copy without the other.
pub fn tee(mut body: RegionBody) -> (RegionBody, RegionBody) {
    let (tx_a, rx_a) = mpsc::channel::<Frame>(CHANNEL_SEGMENTS);
    let (tx_b, rx_b) = mpsc::channel::<Frame>(CHANNEL_SEGMENTS);
    tokio::spawn(async move {
        while let Some(frame) = body.next().await {
            let (a, b) = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => (
                        Ok(http_body::Frame::data(data.clone())),
                        Ok(http_body::Frame::data(data)),
                    ),
                    Err(_) => continue,
                },
                Err(e) => {
                    let why = e.to_string();
                    (Err(std::io::Error::other(why.clone())), Err(std::io::Error::other(why)))
                }
            };
            let failed = a.is_err();
            let (sent_a, sent_b) = tokio::join!(tx_a.send(a), tx_b.send(b));
            if sent_a.is_err() || sent_b.is_err() {
                let gone = || Err(std::io::Error::other("the other copy of this body failed"));
                let _ = tokio::join!(tx_a.send(gone()), tx_b.send(gone()));
                return;
            }
            if failed {
                return;
            }
        }
    });
    (RegionBody(rx_a), RegionBody(rx_b))
}

/// Relays an upstream GET body into an upstream PUT body (repair copies ciphertext this way),
/// with the same bounded buffering as a fan-out.
pub fn relay(mut body: crate::upstream::StoredStream) -> RegionBody {
    let (tx, rx) = mpsc::channel::<Frame>(CHANNEL_SEGMENTS);
    tokio::spawn(async move {
        loop {
            let frame = match body.next().await {
                None => return,
                Some(Ok(bytes)) => Ok(http_body::Frame::data(bytes)),
                Some(Err(e)) => Err(std::io::Error::other(e)),
            };
            let failed = frame.is_err();
            if tx.send(frame).await.is_err() || failed {
                return;
            }
        }
    });
    RegionBody(rx)
}
