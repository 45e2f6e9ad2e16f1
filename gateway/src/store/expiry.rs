//! Expired multipart uploads (`multipart.upload_ttl_secs`): their ids are refused already
//! (NoSuchUpload); this removes what they left behind, for the background repair loop: the
//! upstream uploads (aborted), their staged parts and their upload records.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Store;
use super::upload_id::UploadState;
use crate::error::ApiResult;
use crate::reserved::layout;
use crate::stamp::VersionStamp;

impl Store {
    /// Removes every expired upload's leftovers in both regions; returns how many uploads.
    /// An upload that cannot be cleaned now (a region not answering) is tried again next time:
    /// its record stays until both its upstream uploads are gone.
    pub async fn reap_expired_uploads(&self) -> ApiResult<u64> {
        self.reap_expired_uploads_at(SystemTime::now()).await
    }

    /// [`Self::reap_expired_uploads`] as of `now` (tests move the clock).
    pub(super) async fn reap_expired_uploads_at(&self, now: SystemTime) -> ApiResult<u64> {
        let now_ms = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as u64;
        let ttl_ms = self.upload_ttl.as_millis() as u64;
        let journal = self.regions.journal();
        let mut expired = BTreeSet::new();
        for up in self.regions.all() {
            for name in journal.names_under(up, layout::UPLOADS).await? {
                let created = name.rsplit('/').next().and_then(|s| s.parse::<VersionStamp>().ok());
                if created.is_some_and(|stamp| stamp.millis().saturating_add(ttl_ms) < now_ms) {
                    expired.insert(name);
                }
            }
        }
        let mut reaped = 0;
        for name in expired {
            if self.reap(&name, now).await {
                reaped += 1;
            }
        }
        Ok(reaped)
    }

    /// Cleans up the upload whose record is `name`; whether it is gone.
    async fn reap(&self, name: &str, now: SystemTime) -> bool {
        let Some(bucket) = name
            .strip_prefix(layout::UPLOADS)
            .and_then(|rest| rest.split('/').next())
        else {
            return false;
        };
        let record = match super::uploads::read_record(self, name, [true, true]).await {
            Ok(Some(record)) => record,
            Ok(None) => return self.drop_record(name).await, // unreadable or gone: nothing to abort
            Err(e) => {
                tracing::debug!(record = name, error = %e, "expired upload record not read; next round");
                return false;
            }
        };
        // Keys from a key manager that expired: the upload id cannot be judged until it answers.
        let Ok(keyring) = self.keyring.get() else {
            return false;
        };
        let Ok(state) = UploadState::open(&keyring, bucket, &record.key, &record.id) else {
            return self.drop_record(name).await;
        };
        // The id is judged in whole seconds, the record by its millisecond stamp: wait until
        // the id itself is refused, so no one can still use (or abort) an upload removed here.
        if state.created_unix_secs.is_some() && !state.expired(self.upload_ttl, now) {
            return false;
        }
        let aborted = super::multipart::abort_upstream(self, bucket, &record.key, &state).await;
        for result in &aborted {
            if let Err(e) = result
                && !e.kind.is_not_found()
            {
                tracing::debug!(record = name, error = %e, "expired upload not aborted; next round");
                return false;
            }
        }
        super::realign::discard_staged(self, &state);
        let gone = self.drop_record(name).await;
        tracing::info!(bucket, "expired multipart upload removed");
        gone
    }

    /// Deletes the upload record `name` in both regions.
    async fn drop_record(&self, name: &str) -> bool {
        let journal = self.regions.journal().bucket();
        let results = self.regions.on_both(|up| up.delete_object(journal, name)).await;
        results.iter().all(|r| match r {
            Ok(()) => true,
            Err(e) => e.kind.is_not_found(),
        })
    }
}
