//! The audit log (`[audit]`, off by default): one JSON line per S3 request, whatever its
//! outcome (also those refused before any operation ran), written when its answer has been
//! sent (or abandoned). Lines go through a bounded channel to one writer task, so a slow disk
//! never holds up a request: when the channel is full the line is dropped and counted
//! (`twinvault_audit_lines_total{outcome="dropped"}`).
//!
//! The front door (`server.rs`) opens an [`AuditRecord`] per request and counts the body bytes
//! both ways; the access check (`auth.rs`) notes who signed it, the operation, bucket and key
//! in the record's [`AuditSlot`], carried in the request's extensions, and the upstream layer
//! notes which regions answered in the record's [`RegionsUsed`] (also in the extensions: the
//! front door runs the handler inside it). What a line holds is [`line`].

pub mod line;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use prometheus::IntCounterVec;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub use line::{Facts, KeyWriter};

use crate::config::AuditConfig;
use crate::limits::HeldBody;
use crate::telemetry::RequestId;
use crate::upstream::RegionsUsed;

/// Lines waiting for the writer; beyond this they are dropped.
const QUEUE_LINES: usize = 8192;
/// Lines the writer gathers into one write.
const BATCH_BYTES: usize = 64 * 1024;
/// How long shutdown waits for queued lines to be written.
const FLUSH_AT_SHUTDOWN: Duration = Duration::from_secs(5);

/// Why the audit log could not start.
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    path: String,
    source: std::io::Error,
}

/// The audit log's sending side (cheap to clone; `None` inside when disabled).
#[derive(Clone, Debug, Default)]
pub struct AuditLog(Option<Arc<Sink>>);

#[derive(Debug)]
struct Sink {
    lines: mpsc::Sender<String>,
    keys: Option<KeyWriter>,
    counted: IntCounterVec,
    /// The regions' names in configuration order.
    region_names: [String; 2],
}

/// The writer task, to be drained at shutdown.
pub struct AuditWriter(Option<tokio::task::JoinHandle<()>>);

impl AuditLog {
    /// Opens the log of `config` (a file is created with mode 0600 and appended to) and starts
    /// its writer; a disabled log writes nothing. `region_names` are the regions in
    /// configuration order; `counted` is the lines counter (by outcome).
    pub fn start(
        config: &AuditConfig,
        region_names: [&str; 2],
        counted: IntCounterVec,
    ) -> Result<(Self, AuditWriter), AuditError> {
        if !config.enabled {
            return Ok((Self(None), AuditWriter(None)));
        }
        let out: Box<dyn AsyncWrite + Send + Unpin> = match &config.path {
            Some(path) => Box::new(tokio::fs::File::from_std(open_private(path).map_err(|source| {
                AuditError {
                    path: path.display().to_string(),
                    source,
                }
            })?)),
            None => Box::new(tokio::io::stderr()),
        };
        let (sender, receiver) = mpsc::channel(QUEUE_LINES);
        let keys = KeyWriter::new(config.key_names, config.key_hash_secret.as_ref());
        let task = tokio::spawn(write_lines(receiver, out, counted.clone()));
        let sink = Sink {
            lines: sender,
            keys,
            counted,
            region_names: region_names.map(str::to_owned),
        };
        Ok((Self(Some(Arc::new(sink))), AuditWriter(Some(task))))
    }

    /// A record for one request (`None` when the log is off).
    pub fn begin(&self, headers: &http::HeaderMap, id: &RequestId) -> Option<AuditRecord> {
        let sink = Arc::clone(self.0.as_ref()?);
        let facts = Facts {
            request_id: id.as_str().to_owned(),
            sse_c: crate::preflight::carries_sse_c(headers),
            ..Facts::default()
        };
        Some(AuditRecord {
            sink,
            slot: AuditSlot(Arc::new(Mutex::new(facts))),
            regions: RegionsUsed::default(),
            bytes_in: Arc::default(),
        })
    }
}

impl AuditWriter {
    /// Waits (bounded) until the writer wrote every queued line: call once every sender is gone.
    pub async fn finish(self) {
        if let Some(task) = self.0
            && tokio::time::timeout(FLUSH_AT_SHUTDOWN, task).await.is_err()
        {
            tracing::warn!("audit log: lines still queued at shutdown were not written");
        }
    }
}

/// Where the access check notes what it learned of a request (in the request's extensions).
#[derive(Clone, Debug)]
pub struct AuditSlot(Arc<Mutex<Facts>>);

impl AuditSlot {
    /// The signer, operation, bucket and key of the request.
    pub fn note(&self, access_key_id: &str, operation: &str, bucket: Option<&str>, key: Option<&str>) {
        let mut facts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        facts.access_key_id = Some(access_key_id.to_owned());
        facts.operation = Some(operation.to_owned());
        facts.bucket = bucket.map(str::to_owned);
        facts.key = key.map(str::to_owned);
    }
}

/// One request's line in the making.
pub struct AuditRecord {
    sink: Arc<Sink>,
    slot: AuditSlot,
    regions: RegionsUsed,
    bytes_in: Arc<AtomicU64>,
}

impl AuditRecord {
    /// The slot to put in the request's extensions.
    pub fn slot(&self) -> AuditSlot {
        self.slot.clone()
    }

    /// Where the upstream layer notes the regions that answered (for the request's extensions).
    pub fn regions(&self) -> RegionsUsed {
        self.regions.clone()
    }

    /// `body`, counting the bytes the client sends.
    pub fn count_in<B>(&self, body: B) -> Counted<B> {
        Counted {
            inner: body,
            count: Arc::clone(&self.bytes_in),
            done: None,
        }
    }

    /// `response`, counting the bytes it sends; the line is written when its body ends or is
    /// dropped.
    pub fn finish(self, response: http::Response<HeldBody>) -> http::Response<HeldBody> {
        let status = response.status().as_u16();
        response.map(|body| {
            let counted = Counted {
                inner: body,
                count: Arc::default(),
                done: Some((self, status)),
            };
            HeldBody::new(s3s::Body::http_body(counted), None)
        })
    }

    fn write(&self, status: u16, bytes_out: u64) {
        let facts = self.slot.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let bytes = (self.bytes_in.load(Ordering::Relaxed), bytes_out);
        let names = &self.sink.region_names;
        let regions: Vec<&str> = (0..2)
            .filter(|&i| self.regions.contains(i))
            .map(|i| names[i].as_str())
            .collect();
        let text = line::format(&facts, self.sink.keys.as_ref(), status, (bytes, &regions), now_ms);
        if self.sink.lines.try_send(text).is_err() {
            self.sink.counted.with_label_values(&["dropped"]).inc();
        }
    }
}

/// A body that counts its data bytes (and, for a response, writes the audit line once done).
pub struct Counted<B> {
    inner: B,
    count: Arc<AtomicU64>,
    done: Option<(AuditRecord, u16)>,
}

impl<B> Drop for Counted<B> {
    fn drop(&mut self) {
        if let Some((record, status)) = self.done.take() {
            record.write(status, self.count.load(Ordering::Relaxed));
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Counted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.count.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Opens `path` for appending, created with mode 0600 (it names who did what).
fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The writer task: takes lines as they come, writes what is queued in one go, flushes.
async fn write_lines(
    mut lines: mpsc::Receiver<String>,
    mut out: Box<dyn AsyncWrite + Send + Unpin>,
    counted: IntCounterVec,
) {
    while let Some(first) = lines.recv().await {
        let mut batch = first.into_bytes();
        let mut count = 1;
        while batch.len() < BATCH_BYTES
            && let Ok(more) = lines.try_recv()
        {
            batch.extend_from_slice(more.as_bytes());
            count += 1;
        }
        let written = async {
            out.write_all(&batch).await?;
            out.flush().await
        }
        .await;
        let outcome = match written {
            Ok(()) => "written",
            Err(e) => {
                tracing::warn!(error = %e, lines = count, "audit log: write failed");
                "failed"
            }
        };
        counted.with_label_values(&[outcome]).inc_by(count);
    }
}
