//! Checking a stored copy through the envelope, for the one case where repair must look inside:
//! two copies that should be the same but differ, or a copy a reader found damaged. Repair
//! otherwise never decrypts; here it authenticates every segment (nothing is kept), so a
//! tampered copy can never win and be copied over the good one.

use futures::StreamExt;

use crate::envelope::StreamLayout;
use crate::error::ApiError;
use crate::keyring::Keyring;
use crate::store::object::META_SSE_C;
use crate::store::object::ObjectView;
use crate::upstream::{StoredObject, Upstream, UpstreamError};

/// The opened header, `Ok(None)` for a copy that cannot be judged (an SSE-C object without its
/// customer's key, a key the keyring no longer holds), `Err(())` for a damaged one.
fn open_header(keyring: &Keyring, bucket: &str, key: &str, object: &StoredObject) -> Result<Option<ObjectView>, ()> {
    if object.metadata.contains_key(META_SSE_C) {
        return Ok(None);
    }
    match ObjectView::open(keyring, bucket, key, object, None) {
        Ok(view) => Ok(Some(view)),
        Err(ApiError::Envelope(e)) if e.is_integrity_failure() => Err(()),
        Err(ApiError::NotAnEnvelope) => Err(()),
        Err(_) => Ok(None),
    }
}

/// Whether the copy's header (from its HEAD alone, no body read) fails authentication: a
/// modified header, or an object copied to another name upstream. Cheap enough for every copy
/// repair is about to spread.
pub fn header_damaged(keyring: &Keyring, bucket: &str, key: &str, object: &StoredObject) -> bool {
    open_header(keyring, bucket, key, object).is_err()
}

/// Whether `region`'s copy of `bucket`/`key` (`object`, from its HEAD) fails authentication,
/// header or any segment; `None` for a copy that cannot be judged (an SSE-C object, whose
/// customer key repair never has; a key the keyring no longer holds).
pub async fn is_damaged(
    keyring: &Keyring,
    region: &Upstream,
    bucket: &str,
    key: &str,
    object: &StoredObject,
) -> Result<Option<bool>, UpstreamError> {
    let view = match open_header(keyring, bucket, key, object) {
        Ok(Some(view)) => view,
        Ok(None) => return Ok(None),
        Err(()) => return Ok(Some(true)),
    };
    let got = region.get_object(bucket, key, None, Some(&object.etag)).await?;
    let layout = StreamLayout::whole(0, view.plaintext_len);
    let mut opened = view.open_stream(crate::store::object::chunks(got.body), layout);
    while let Some(item) = opened.next().await {
        match item {
            Ok(_) => {}
            Err(e) if e.is_integrity_failure() => return Ok(Some(true)),
            Err(e) => {
                return Err(UpstreamError::new(
                    region.name(),
                    "Repair",
                    crate::upstream::UpstreamErrorKind::Unavailable,
                    format!("reading {bucket}/{key} to verify it failed: {e}"),
                ));
            }
        }
    }
    Ok(Some(false))
}
