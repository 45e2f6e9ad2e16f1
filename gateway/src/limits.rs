//! The S3 listener's request limits that act per request: concurrent requests, request body
//! idle time, and the S3 error answers they produce. The per-connection limits (head size and
//! read time, open connections) are set on hyper and the accept loop in [`crate::server`].
//!
//! See: issue #10 "Limits and slow clients".

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Which limit refused or cut off a client: the `limit` label of
/// `twinvault_limit_rejections_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `max_concurrent_requests` was reached: answered 503 SlowDown.
    ConcurrentRequests,
    /// A request body sent nothing for `body_idle_timeout_ms`: answered 400 RequestTimeout.
    BodyIdle,
    /// A new connection sent no complete request head within `header_read_timeout_ms`: closed.
    HeaderTimeout,
    /// A response the client accepted no bytes of for `send_stall_timeout_ms`: connection closed.
    SendStall,
    /// A request head above `max_header_bytes`: answered 400 RequestHeaderSectionTooLarge (or
    /// hyper's 431 and a close, beyond its buffer).
    HeaderSize,
}

impl Limit {
    /// Every value, to pre-create the series at zero.
    pub const ALL: [Self; 5] = [
        Self::ConcurrentRequests,
        Self::BodyIdle,
        Self::HeaderTimeout,
        Self::SendStall,
        Self::HeaderSize,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConcurrentRequests => "concurrent_requests",
            Self::BodyIdle => "body_idle",
            Self::HeaderTimeout => "header_timeout",
            Self::SendStall => "send_stall",
            Self::HeaderSize => "header_size",
        }
    }

    /// Counts one rejection.
    pub fn record(self, metrics: &Metrics) {
        metrics.limit_rejections.with_label_values(&[self.as_str()]).inc();
    }

    /// Creates every series at zero, so that a rate is 0 rather than absent.
    pub fn prime(metrics: &Metrics) {
        for limit in Self::ALL {
            metrics.limit_rejections.with_label_values(&[limit.as_str()]).inc_by(0);
        }
    }
}

/// The per-request limits, shared by every connection of the S3 listener.
#[derive(Clone, Debug)]
pub struct RequestLimits {
    slots: Arc<Semaphore>,
    body_idle_timeout: Duration,
    max_header_bytes: usize,
    metrics: Arc<Metrics>,
}

impl RequestLimits {
    /// The limits of `config`, counting rejections into `metrics`.
    pub fn new(config: &ServerConfig, metrics: Arc<Metrics>) -> Self {
        let mut limits = Self::with(config.max_concurrent_requests, config.body_idle_timeout, metrics);
        limits.max_header_bytes = config.max_header_bytes;
        limits
    }

    fn with(max_concurrent_requests: usize, body_idle_timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent_requests)),
            body_idle_timeout,
            max_header_bytes: usize::MAX,
            metrics,
        }
    }

    /// The answer for a request whose head (target and header fields) is larger than
    /// `max_header_bytes`, counted; `None` for any other. hyper bounds what it buffers while
    /// reading a head; this is the configured, usually smaller, limit.
    pub fn refuse_large_head<B>(
        &self,
        request: &http::Request<B>,
        request_id: &str,
    ) -> Option<http::Response<HeldBody>> {
        let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
        let fields: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if target + fields <= self.max_header_bytes {
            return None;
        }
        Limit::HeaderSize.record(&self.metrics);
        Some(error_response(&ApiError::RequestHeaderSectionTooLarge, request_id))
    }

    /// A slot for one request, held until its response body is dropped; `None` when every slot
    /// is taken (the caller answers [`slow_down`]; waiting would queue without bound).
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        let slot = Arc::clone(&self.slots).try_acquire_owned().ok();
        if slot.is_none() {
            Limit::ConcurrentRequests.record(&self.metrics);
        }
        slot
    }

    /// `body` failing once it delivers nothing for the idle timeout, and the flag that tells
    /// whether it did.
    pub fn watch_body<B>(&self, body: B) -> (IdleTimeout<B>, IdleFlag) {
        let flag = IdleFlag::default();
        let body = IdleTimeout {
            inner: body,
            timeout: self.body_idle_timeout,
            timer: None,
            waiting: false,
            flag: flag.clone(),
        };
        (body, flag)
    }

    /// The answer for a request whose body went idle, counted.
    pub fn body_idle_response(&self, request_id: &str) -> http::Response<HeldBody> {
        Limit::BodyIdle.record(&self.metrics);
        error_response(&ApiError::RequestTimeout, request_id)
    }
}

/// Set when an [`IdleTimeout`] body gave up on its client.
#[derive(Clone, Debug, Default)]
pub struct IdleFlag(Arc<AtomicBool>);

impl IdleFlag {
    /// Whether the body timed out.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Why a watched request body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client sent nothing for this long while the gateway was waiting for bytes.
    #[error("request body sent nothing for {0:?}")]
    Idle(Duration),
    /// The body failed on its own (connection reset, malformed chunk).
    #[error(transparent)]
    Read(Box<dyn std::error::Error + Send + Sync>),
}

/// A request body that fails with [`BodyError::Idle`] when the gateway has been waiting for
/// its next bytes for the whole timeout. Only waiting counts: while the gateway does not poll
/// (a slow region applying back pressure) the client is not at fault, and the clock restarts at
/// the next poll that finds nothing.
#[derive(Debug)]
pub struct IdleTimeout<B> {
    inner: B,
    timeout: Duration,
    /// Allocated at the first wait, then reset, never reallocated.
    timer: Option<Pin<Box<Sleep>>>,
    /// A poll found nothing and no frame came since: the timer is running.
    waiting: bool,
    flag: IdleFlag,
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.flag.is_set() {
            return Poll::Ready(Some(Err(BodyError::Idle(this.timeout))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame.map(|r| r.map_err(|e| BodyError::Read(e.into()))));
        }
        let deadline = Instant::now() + this.timeout;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !this.waiting {
            timer.as_mut().reset(deadline);
            this.waiting = true;
        }
        if timer.as_mut().poll(cx).is_ready() {
            this.flag.set();
            return Poll::Ready(Some(Err(BodyError::Idle(this.timeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds its request's slot until hyper has sent it (or dropped it).
#[derive(Debug)]
pub struct HeldBody {
    inner: s3s::Body,
    _slot: Option<OwnedSemaphorePermit>,
}

impl HeldBody {
    /// `inner`, holding `slot` until dropped.
    pub fn new(inner: s3s::Body, slot: Option<OwnedSemaphorePermit>) -> Self {
        Self { inner, _slot: slot }
    }
}

impl Body for HeldBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// 503 SlowDown, as S3 answers when a client should back off and retry.
pub fn slow_down(request_id: &str) -> http::Response<HeldBody> {
    error_response(&ApiError::SlowDown, request_id)
}

/// The S3 XML error answer for `error` (its code and body from the error table).
pub fn error_response(error: &ApiError, request_id: &str) -> http::Response<HeldBody> {
    let xml = error.to_xml(request_id);
    let mut response = http::Response::new(HeldBody::new(s3s::Body::from(xml), None));
    *response.status_mut() = error.status();
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// A client connection whose writes fail once the peer has accepted nothing for `timeout`: a
/// client that stops reading a response gives up its connection and request slot instead of
/// holding them for as long as TCP keeps the socket open. Reads are untouched (request bodies
/// have their own idle timeout).
pub struct WriteStall<I> {
    inner: I,
    timeout: Duration,
    /// One timer for the connection, re-armed when a write starts waiting (a fresh timer per
    /// wait would cost an allocation every time the socket buffer fills on a fast download).
    timer: Pin<Box<Sleep>>,
    waiting: bool,
    metrics: Arc<Metrics>,
}

impl<I> WriteStall<I> {
    /// `inner`, whose writes may wait at most `timeout` for the peer.
    pub fn new(inner: I, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
            waiting: false,
            metrics,
        }
    }

    /// Maps a write's poll: progress disarms the timer; waiting arms it, and fails the write
    /// once it has run out.
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.waiting = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    let deadline = Instant::now() + self.timeout;
                    self.timer.as_mut().reset(deadline);
                }
                if self.timer.as_mut().poll(cx).is_ready() {
                    Limit::SendStall.record(&self.metrics);
                    tracing::debug!("client accepted nothing for send_stall_timeout, closing");
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client accepted no response bytes within send_stall_timeout_ms",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<I: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteStall<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteStall<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use http_body_util::StreamBody;

    use super::*;

    type TestFrame = Result<Frame<Bytes>, std::io::Error>;

    fn limits(timeout: Duration, slots: usize) -> RequestLimits {
        RequestLimits::with(slots, timeout, Arc::new(Metrics::new().expect("metrics")))
    }

    fn rejections(limits: &RequestLimits, limit: Limit) -> u64 {
        limits
            .metrics
            .limit_rejections
            .with_label_values(&[limit.as_str()])
            .get()
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_fails_the_write_after_the_stall_timeout() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let (near, mut far) = tokio::io::duplex(1024);
        let mut guarded = WriteStall::new(near, Duration::from_secs(60), Arc::clone(&metrics));
        // A reader that keeps taking bytes, however slowly, never trips it.
        let drain = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_secs(50)).await;
                let _ = far.read(&mut buf).await;
            }
            far
        });
        guarded.write_all(&[7u8; 4096]).await.expect("a slow reader is served");
        let _far = drain.await.expect("drain");
        // Nobody reads any more: the buffer fills and the write fails once 60 s pass.
        let started = Instant::now();
        let stalled = guarded.write_all(&[7u8; 4096]).await;
        assert!(stalled.is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut));
        assert!(started.elapsed() >= Duration::from_secs(60));
        let counted = metrics
            .limit_rejections
            .with_label_values(&[Limit::SendStall.as_str()])
            .get();
        assert_eq!(counted, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_goes_quiet_fails_after_the_idle_timeout() {
        let limits = limits(Duration::from_secs(30), 1);
        let (tx, rx) = tokio::sync::mpsc::channel::<TestFrame>(1);
        let stream = tokio_stream_from(rx);
        let (body, flag) = limits.watch_body(StreamBody::new(stream));
        let mut body = std::pin::pin!(body);
        tx.send(Ok(Frame::data(Bytes::from_static(b"a")))).await.expect("send");
        let first = body.frame().await.expect("a frame").expect("data");
        assert_eq!(first.into_data().expect("data"), Bytes::from_static(b"a"));
        // Trickling within the timeout keeps the body alive however long it lasts in total.
        for _ in 0..5 {
            let sender = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let _ = sender.send(Ok(Frame::data(Bytes::from_static(b"b")))).await;
            });
            assert!(body.frame().await.expect("a frame").is_ok());
        }
        assert!(!flag.is_set());
        let started = Instant::now();
        let err = body.frame().await.expect("an error").expect_err("idle");
        assert!(matches!(err, BodyError::Idle(_)), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        assert!(flag.is_set());
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_gateway_does_not_poll_is_not_idle_time() {
        let limits = limits(Duration::from_secs(30), 1);
        let (tx, rx) = tokio::sync::mpsc::channel::<TestFrame>(2);
        let (body, flag) = limits.watch_body(StreamBody::new(tokio_stream_from(rx)));
        let mut body = std::pin::pin!(body);
        tx.send(Ok(Frame::data(Bytes::from_static(b"a")))).await.expect("send");
        assert!(body.frame().await.expect("a frame").is_ok());
        // Back pressure: the gateway stops reading for longer than the timeout.
        tokio::time::sleep(Duration::from_secs(90)).await;
        tx.send(Ok(Frame::data(Bytes::from_static(b"b")))).await.expect("send");
        assert!(body.frame().await.expect("a frame").is_ok());
        drop(tx);
        assert!(body.frame().await.is_none(), "a clean end");
        assert!(!flag.is_set());
    }

    #[test]
    fn requests_beyond_the_limit_are_refused_until_a_slot_frees() {
        let limits = limits(Duration::from_secs(30), 2);
        let first = limits.try_admit().expect("slot 1");
        let _second = limits.try_admit().expect("slot 2");
        assert!(limits.try_admit().is_none());
        assert_eq!(rejections(&limits, Limit::ConcurrentRequests), 1);
        // The slot lives as long as the response body.
        let body = HeldBody::new(s3s::Body::empty(), Some(first));
        assert!(limits.try_admit().is_none());
        drop(body);
        assert!(limits.try_admit().is_some());
    }

    #[tokio::test]
    async fn slow_down_is_an_s3_xml_error() {
        let response = slow_down("0123abcd");
        assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("<Code>SlowDown</Code>"), "{text}");
        assert!(text.contains("<RequestId>0123abcd</RequestId>"), "{text}");
    }

    /// A stream over an mpsc receiver (tokio-stream is not a dependency).
    fn tokio_stream_from(rx: tokio::sync::mpsc::Receiver<TestFrame>) -> impl futures::Stream<Item = TestFrame> + Unpin {
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| (frame, rx))
        }))
    }
}
