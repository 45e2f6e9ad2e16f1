//! Ownership records over two memory regions.

use std::sync::Arc;

use bytes::Bytes;

use super::{BucketOwner, Owners, SyncSummary};
use crate::reserved::layout;
use crate::testing::{BUCKET, Twin};

async fn fixture() -> (Twin, Owners) {
    let twin = Twin::with_bucket("all").await;
    let owners = Owners::new(Arc::clone(&twin.regions));
    (twin, owners)
}

#[tokio::test]
async fn an_owner_recorded_in_both_regions_is_found_and_removed_with_its_bucket() {
    let (twin, owners) = fixture().await;
    assert_eq!(owners.lookup(BUCKET).await.ok(), Some(BucketOwner::Unowned));
    assert_eq!(owners.lookup("nothing-here").await.ok(), Some(BucketOwner::Missing));
    owners.record(BUCKET, "alice").await.expect("record");
    assert_eq!(
        owners.lookup(BUCKET).await.ok(),
        Some(BucketOwner::Owner("alice".into()))
    );
    for up in twin.regions.all() {
        let names = twin
            .regions
            .journal()
            .names_under(up, layout::OWNERS)
            .await
            .expect("list");
        assert_eq!(names.len(), 1, "region {}: {names:?}", up.name());
    }
    owners.remove(BUCKET).await;
    assert_eq!(owners.lookup(BUCKET).await.ok(), Some(BucketOwner::Unowned));
}

#[tokio::test]
async fn a_record_one_region_missed_still_counts_and_sync_copies_it() {
    let (twin, owners) = fixture().await;
    let name = layout::owner_record(BUCKET, &twin.regions.stamp().to_string(), "alice");
    let journal = twin.regions.journal();
    journal
        .put(&twin.regions.all()[0], &name, Bytes::new())
        .await
        .expect("put");
    assert_eq!(
        owners.lookup(BUCKET).await.ok(),
        Some(BucketOwner::Owner("alice".into()))
    );
    assert_eq!(
        owners.sync(true).await.ok(),
        Some(SyncSummary { copied: 1, removed: 0 })
    );
    assert_eq!(
        owners.sync(false).await.ok(),
        Some(SyncSummary { copied: 1, removed: 0 })
    );
    let in_b = journal
        .names_under(&twin.regions.all()[1], layout::OWNERS)
        .await
        .expect("list");
    assert_eq!(in_b, vec![name]);
    assert_eq!(owners.sync(false).await.ok(), Some(SyncSummary::default()));
}

#[tokio::test]
async fn a_stale_record_of_a_bucket_gone_everywhere_is_removed_by_sync() {
    let (twin, owners) = fixture().await;
    // Written two hours ago (a stamp's clock is milliseconds << 16), for a bucket that is gone.
    let old = crate::stamp::VersionStamp {
        clock: (twin.regions.stamp().millis() - 7_200_000) << 16,
        writer: 1,
    };
    let name = layout::owner_record("gone-bucket", &old.to_string(), "alice");
    let journal = twin.regions.journal();
    journal
        .put(&twin.regions.all()[1], &name, Bytes::new())
        .await
        .expect("put");
    let young = layout::owner_record("young-bucket", &twin.regions.stamp().to_string(), "bob");
    journal
        .put(&twin.regions.all()[1], &young, Bytes::new())
        .await
        .expect("put");
    assert_eq!(
        owners.sync(false).await.ok(),
        Some(SyncSummary { copied: 0, removed: 1 })
    );
    let left = journal
        .names_under(&twin.regions.all()[1], layout::OWNERS)
        .await
        .expect("list");
    assert_eq!(left, vec![young], "a young record may be a create in flight: kept");
}

#[tokio::test]
async fn assigning_an_owner_replaces_the_previous_one() {
    let (twin, owners) = fixture().await;
    owners.record(BUCKET, "alice").await.expect("record");
    assert_eq!(owners.assign(BUCKET, "bob").await.ok(), Some(Some("alice".into())));
    assert_eq!(owners.lookup(BUCKET).await.ok(), Some(BucketOwner::Owner("bob".into())));
    assert_eq!(
        owners.all().await.ok().and_then(|m| m.get(BUCKET).cloned()),
        Some("bob".into())
    );
    for up in twin.regions.all() {
        let names = twin
            .regions
            .journal()
            .names_under(up, &layout::owners_prefix(BUCKET))
            .await
            .expect("list");
        assert_eq!(names.len(), 1, "older record left in {}: {names:?}", up.name());
    }
    assert!(owners.assign("no-such-bucket", "bob").await.is_err());
}
