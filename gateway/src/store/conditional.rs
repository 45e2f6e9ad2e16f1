//! Conditional writes (`If-None-Match: *`, `If-Match`) decided by one region for both: two
//! regions judging a condition each on its own could disagree (one behind, or two writers
//! racing through different gateways) and store a value in one that the other refused.
//! PutObject streams its body to both at once (see `write.rs`); CompleteMultipartUpload and
//! CopyObject carry no body, so the deciding region goes first and the other follows only
//! once it stored.

use super::Store;
use super::etag::client_etag;
use super::write::WriteCondition;
use crate::error::{ApiError, ApiResult};
use crate::upstream::{PutCondition, StoredObject, Upstream, UpstreamError, UpstreamErrorKind};

/// The region that decides a conditional write and what its store is to check.
pub(super) struct Decision {
    /// Index of the deciding region.
    pub decider: usize,
    /// `If-None-Match: *`, else `If-Match` on this upstream ETag (read from the decider).
    expected: Option<String>,
}

impl Decision {
    /// The condition the deciding region's store checks as it stores.
    pub fn upstream(&self) -> PutCondition<'_> {
        match &self.expected {
            None => PutCondition::IfAbsent,
            Some(etag) => PutCondition::IfMatch(etag),
        }
    }

    /// The client's answer for the decider's refusal: 412, or 404 for `If-Match` on a key
    /// that is gone; anything else as the region said.
    pub fn refusal(&self, e: UpstreamError) -> ApiError {
        match e.kind {
            UpstreamErrorKind::PreconditionFailed => ApiError::PreconditionFailed,
            UpstreamErrorKind::NoSuchKey | UpstreamErrorKind::NotFound if self.expected.is_some() => {
                ApiError::NoSuchKey
            }
            _ => e.into(),
        }
    }
}

impl Store {
    /// The deciding region of a write to `bucket`/`key` under `condition` (`None` when it is
    /// unconditional). It must be reachable and current for the key, else 503. For `If-Match`
    /// its copy is read: a missing key is 404 NoSuchKey, another ETag 412; its store checks
    /// the ETag again as it stores, so a write in between fails the condition.
    pub(super) async fn decide(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> ApiResult<Option<Decision>> {
        let expected = match condition {
            WriteCondition::Always => return Ok(None),
            WriteCondition::IfAbsent => None,
            WriteCondition::IfMatch(tag) => Some(tag),
        };
        let decider = self.regions.conditions_region(bucket, key)?;
        let Some(tag) = expected else {
            return Ok(Some(Decision {
                decider,
                expected: None,
            }));
        };
        let existing = match self.regions.all()[decider].head_object(bucket, key).await {
            Ok(existing) => existing,
            Err(e) if e.kind.is_not_found() => return Err(ApiError::NoSuchKey),
            Err(e) => return Err(e.into()),
        };
        if tag.as_deref().is_some_and(|tag| tag != client_etag(&existing.etag)) {
            return Err(ApiError::PreconditionFailed);
        }
        Ok(Some(Decision {
            decider,
            expected: Some(existing.etag),
        }))
    }

    /// Runs a bodiless write on the deciding region under the condition, then, once it
    /// stored, on the other region unconditionally. Returns both results in region order,
    /// to be settled by the write policy like any write (under "one" a region that missed it
    /// is journaled); a refusal by the decider is the client's answer and nothing is written.
    pub(super) async fn write_decided<'s, 'd, F, Fut>(
        &'s self,
        decision: &'d Decision,
        write: F,
    ) -> ApiResult<[Result<StoredObject, UpstreamError>; 2]>
    where
        F: Fn(usize, &'s Upstream, PutCondition<'d>) -> Fut,
        Fut: Future<Output = Result<StoredObject, UpstreamError>>,
    {
        let regions = self.regions.all();
        let decider = decision.decider;
        let decided = write(decider, &regions[decider], decision.upstream())
            .await
            .map_err(|e| decision.refusal(e))?;
        let other = 1 - decider;
        let followed = write(other, &regions[other], PutCondition::Always).await;
        Ok(if decider == 0 {
            [Ok(decided), followed]
        } else {
            [followed, Ok(decided)]
        })
    }
}
