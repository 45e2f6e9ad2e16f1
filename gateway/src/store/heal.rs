//! A GET whose serving copy turns out damaged mid-body continues from the other region's copy.
//!
//! Both regions hold identical ciphertext for one version (same header, same data key, same
//! nonces), so when a segment of the serving copy fails authentication after the response
//! started, the rest of the requested plaintext is read from the other region, at the exact
//! plaintext offset reached, pinned to its upstream ETag, and opened under the same envelope
//! checks. The client sees the right bytes, never the damaged ones. If the other copy is another
//! version, or fails too, the error stands and the client's connection is aborted.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::object::ObjectView;
use crate::envelope::{CustomerKey, EnvelopeError, StreamLayout};
use crate::keyring::Keyring;
use crate::metrics::Metrics;
use crate::replication::Regions;

/// Plaintext as the client receives it.
pub type HealingStream = Pin<Box<dyn Stream<Item = Result<Bytes, EnvelopeError>> + Send>>;

/// What continuing from the other region needs to know about the read in progress.
pub(super) struct Heal {
    pub keyring: Arc<Keyring>,
    pub regions: Arc<Regions>,
    pub metrics: Arc<Metrics>,
    pub bucket: String,
    pub key: String,
    /// The request's SSE-C key, if any: the other copy opens with it too. It lives no longer
    /// than the request, as it does on every other path.
    pub customer_key: Option<CustomerKey>,
    /// The served copy's header; the other copy must carry the same one.
    pub header: String,
    pub plaintext_len: u64,
    /// Inclusive plaintext range being served.
    pub window: (u64, u64),
    /// Index of the region serving the body.
    pub served_by: usize,
}

/// `first`, continued once from the other region if one of its segments fails authentication.
pub(super) fn healing<S>(first: S, heal: Heal) -> HealingStream
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Send + Unpin + 'static,
{
    let first: HealingStream = Box::pin(first);
    Box::pin(futures::stream::unfold(
        (first, 0u64, Some(heal)),
        |(mut stream, mut delivered, mut heal)| async move {
            loop {
                match stream.next().await {
                    Some(Ok(bytes)) => {
                        delivered += bytes.len() as u64;
                        return Some((Ok(bytes), (stream, delivered, heal)));
                    }
                    Some(Err(e)) if e.is_integrity_failure() => {
                        if let Some(h) = heal.take() {
                            match continue_from_other(&h, delivered).await {
                                Ok(next) => {
                                    stream = next;
                                    continue;
                                }
                                Err(why) => tracing::warn!(why, "damaged copy: the other region cannot continue"),
                            }
                        }
                        return Some((Err(e), (stream, delivered, None)));
                    }
                    other => return other.map(|item| (item, (stream, delivered, heal))),
                }
            }
        },
    ))
}

/// The rest of the window, from `delivered` plaintext bytes on, read from the other region.
async fn continue_from_other(heal: &Heal, delivered: u64) -> Result<HealingStream, String> {
    let other_index = 1 - heal.served_by;
    let other = &heal.regions.all()[other_index];
    let start = heal.window.0 + delivered;
    if start > heal.window.1 {
        return Err("every byte was delivered; the failure is in what follows".into());
    }
    let stored = other
        .head_object(&heal.bucket, &heal.key)
        .await
        .map_err(|e| e.to_string())?;
    if stored.metadata.get(super::object::META_HEADER) != Some(&heal.header) {
        return Err("the other region holds another version".into());
    }
    let view = ObjectView::open(
        &heal.keyring,
        &heal.bucket,
        &heal.key,
        &stored,
        heal.customer_key.as_ref(),
    )
    .map_err(|e| e.to_string())?;
    if view.plaintext_len != heal.plaintext_len {
        return Err("the other region's copy has another size".into());
    }
    let (layout, span) = StreamLayout::for_range(0, view.plaintext_len, start, heal.window.1)
        .ok_or_else(|| "range outside the object".to_owned())?;
    let body = other
        .get_object(
            &heal.bucket,
            &heal.key,
            Some((span.stored_start, span.stored_end)),
            Some(&view.upstream_etag),
        )
        .await
        .map_err(|e| e.to_string())?;
    heal.metrics
        .reads_served
        .with_label_values(&[other.name(), "resume"])
        .inc();
    tracing::warn!(
        region = other.name(),
        offset = start,
        "damaged copy: continuing the body from the other region"
    );
    Ok(Box::pin(view.open_stream(super::object::chunks(body.body), layout)))
}
