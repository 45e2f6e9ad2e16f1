//! Stored bytes coming back from a region, whatever the backend: the crate's own stream type,
//! so no SDK type leaves `upstream/`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

/// A GET body: chunks of stored bytes, or the error that cut it (an I/O error, as the SDK's
/// stream errors are transport errors).
pub struct StoredStream(Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>);

impl std::fmt::Debug for StoredStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredStream")
    }
}

impl StoredStream {
    /// A body reading `stream`.
    pub fn new(stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static) -> Self {
        Self(Box::pin(stream))
    }

    /// A body of bytes already in memory.
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self::new(futures::stream::iter((!bytes.is_empty()).then_some(Ok(bytes))))
    }

    /// The next chunk; `None` at the end. Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        self.0.next().await
    }

    /// The whole rest of the body.
    pub async fn collect(mut self) -> Result<Collected, std::io::Error> {
        // A small body is usually one chunk: keep it without copying.
        let Some(first) = self.next().await.transpose()? else {
            return Ok(Collected::default());
        };
        let Some(second) = self.next().await.transpose()? else {
            return Ok(Collected(first));
        };
        let mut all = BytesMut::from(first);
        all.extend_from_slice(&second);
        while let Some(chunk) = self.next().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(Collected(all.freeze()))
    }
}

impl Stream for StoredStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// A body read whole.
#[derive(Clone, Debug, Default)]
pub struct Collected(Bytes);

impl Collected {
    /// The bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}
