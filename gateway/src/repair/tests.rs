//! Repair decisions over two in-memory regions: what a journal replay and a full pass copy,
//! delete or leave alone. Paused tokio time throughout.

use std::sync::atomic::Ordering;

use crate::envelope::ObjectAttributes;
use crate::envelope::format::SEGMENT_STORED_LEN;
use crate::reserved::ChangeKind;
use crate::stamp::{META_STAMP, VersionStamp};
use crate::store::object::META_HEADER;
use crate::testing::{BUCKET, Twin, eventually, plaintext};
use crate::upstream::RawObject;

const STORED_SEG: usize = SEGMENT_STORED_LEN as usize;
const MIB: usize = 1024 * 1024;

fn count(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Whether both regions hold the same copy of `key` (bytes, ETag, metadata, part layout).
fn same_copy(twin: &Twin, key: &str) -> Option<RawObject> {
    let a = twin.a().raw(BUCKET, key)?;
    let b = twin.b().raw(BUCKET, key)?;
    let same = a.bytes == b.bytes && a.etag == b.etag && a.metadata == b.metadata && a.part_lens == b.part_lens;
    same.then_some(a)
}

/// A write that lands late in region `region`: `copy` stored under `key` as it is.
async fn land_late(twin: &Twin, region: usize, key: &str, copy: &RawObject) {
    twin.regions.all()[region]
        .put_object(
            BUCKET,
            key,
            copy.bytes.len() as u64,
            &copy.metadata,
            crate::upstream::PutCondition::Always,
            crate::testing::frames(&copy.bytes),
        )
        .await
        .expect("a late write lands");
}

fn stamp_of(raw: &RawObject) -> VersionStamp {
    raw.metadata
        .get(META_STAMP)
        .and_then(|s| s.parse().ok())
        .expect("a stamped copy")
}

#[tokio::test(start_paused = true)]
async fn replay_copies_a_put_b_missed_and_clears_the_record() {
    let twin = Twin::with_bucket("one").await;
    twin.b().set_down(true);
    let plain = plaintext(3 * 65536 + 17, 1);
    twin.put("cat.jpg", &plain).await.expect("put");
    twin.b().set_down(false);
    assert!(twin.b().raw(BUCKET, "cat.jpg").is_none());
    assert_eq!(twin.pending(0).await.len(), 1);

    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    assert!(same_copy(&twin, "cat.jpg").is_some(), "b now holds a's exact copy");
    assert!(twin.pending(0).await.is_empty(), "the record is cleared");
    assert!(twin.reserved_keys(0, "missed/").is_empty());
    let s = &repairer.summary;
    assert_eq!(
        (count(&s.copied), count(&s.records_cleared), count(&s.failed)),
        (1, 1, 0)
    );

    twin.a().set_down(true);
    assert!(twin.get("cat.jpg").await.expect("b serves it") == plain);
}

#[tokio::test(start_paused = true)]
async fn replay_copies_a_multipart_object_with_its_part_layout() {
    let twin = Twin::with_bucket("one").await;
    twin.b().set_down(true);
    let id = twin
        .store
        .create_upload((BUCKET, "big"), ObjectAttributes::default(), None)
        .await
        .expect("create upload");
    // Re-sealed at completion into three stored parts: 5 MiB, 5 MiB + 64 KiB, the rest.
    let p1 = plaintext(5 * MIB, 2);
    let p2 = plaintext(5 * MIB + 1, 3);
    let p3 = plaintext(5 * MIB + 1, 4);
    let p4 = plaintext(1000, 5);
    let mut parts = Vec::new();
    for (number, part) in (1..).zip([&p1, &p2, &p3, &p4]) {
        let verdict = crate::store::BodyVerdict::default();
        let stored = twin
            .store
            .upload_part(
                (BUCKET, "big"),
                &id,
                number,
                part.len() as u64,
                (None, None),
                crate::testing::body(part),
                &verdict,
            )
            .await
            .expect("part");
        parts.push((number, crate::store::client_etag(&stored.etag)));
    }
    twin.store
        .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&parts), None, None)
        .await
        .expect("complete");
    twin.b().set_down(false);
    let a = twin.a().raw(BUCKET, "big").expect("a");
    assert_eq!(a.part_lens.len(), 3, "{:?}", a.part_lens);

    twin.repairer().replay_journal().await.expect("replay");
    let copy = same_copy(&twin, "big").expect("b holds a's exact copy, part for part");
    assert_eq!(copy.part_lens, a.part_lens);
    twin.a().set_down(true);
    let whole = [p1.as_slice(), &p2, &p3, &p4].concat();
    assert!(twin.get("big").await.expect("b serves it") == whole);
}

/// Writes `key` twice: first with `first_down` down, then with the other region down, so each
/// region holds another version; returns (older, newer) plaintexts.
async fn diverge(twin: &Twin, key: &str, first_down: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let (older, newer) = (plaintext(1000, seed), plaintext(2000, seed + 1));
    twin.backends[first_down].set_down(true);
    twin.put(key, &older).await.expect("first write");
    twin.backends[first_down].set_down(false);
    twin.backends[1 - first_down].set_down(true);
    twin.put(key, &newer).await.expect("second write");
    twin.backends[1 - first_down].set_down(false);
    (older, newer)
}

#[tokio::test(start_paused = true)]
async fn the_newer_version_wins_whichever_region_holds_it() {
    let twin = Twin::with_bucket("one").await;
    // cat: a holds the older version, b the newer; dog: the other way round.
    let (_, cat) = diverge(&twin, "cat.jpg", 1, 10).await;
    let (_, dog) = diverge(&twin, "dog.jpg", 0, 20).await;
    for key in ["cat.jpg", "dog.jpg"] {
        let (a, b) = (twin.a().raw(BUCKET, key), twin.b().raw(BUCKET, key));
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_ne!(stamp_of(&a), stamp_of(&b), "{key}: two versions");
    }

    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    let cat_copy = same_copy(&twin, "cat.jpg").expect("cat agreed");
    let dog_copy = same_copy(&twin, "dog.jpg").expect("dog agreed");
    assert_eq!(count(&repairer.summary.copied), 2, "one copy per key");
    assert!(twin.pending(0).await.is_empty() && twin.pending(1).await.is_empty());
    assert!(twin.get("cat.jpg").await.expect("cat") == cat, "cat: the newer version");
    assert!(twin.get("dog.jpg").await.expect("dog") == dog, "dog: the newer version");
    assert_eq!(cat_copy.bytes.len(), dog_copy.bytes.len());
}

#[tokio::test(start_paused = true)]
async fn a_full_pass_spreads_the_newer_version_without_a_journal() {
    let twin = Twin::with_bucket("one").await;
    let (_, newer) = diverge(&twin, "cat.jpg", 1, 30).await;
    for holder in 0..2 {
        let ids: Vec<String> = twin.pending(holder).await.into_iter().map(|p| p.id).collect();
        twin.regions
            .journal()
            .clear_all(&twin.regions.all()[holder], &ids)
            .await
            .expect("clear");
    }
    let repairer = twin.repairer();
    repairer.full_pass(Some(BUCKET), &|_| {}).await.expect("full pass");
    assert!(same_copy(&twin, "cat.jpg").is_some());
    assert!(twin.get("cat.jpg").await.expect("get") == newer);
    assert_eq!(count(&repairer.summary.copied), 1);
}

#[tokio::test(start_paused = true)]
async fn a_delete_b_missed_removes_its_copy_on_replay() {
    let twin = Twin::with_bucket("one").await;
    twin.put("cat.jpg", &plaintext(100, 40)).await.expect("put");
    twin.b().set_down(true);
    twin.store.delete_object(BUCKET, "cat.jpg").await.expect("delete");
    twin.b().set_down(false);
    let pending = twin.pending(0).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].record.op, ChangeKind::Delete, "a tombstone");
    assert!(twin.a().raw(BUCKET, "cat.jpg").is_none());
    assert!(twin.b().raw(BUCKET, "cat.jpg").is_some(), "b missed the delete");

    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    assert!(twin.b().raw(BUCKET, "cat.jpg").is_none(), "b's copy is deleted");
    assert_eq!(count(&repairer.summary.deleted), 1);
    assert!(twin.pending(0).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_tombstone_older_than_a_newer_version_deletes_nothing() {
    let twin = Twin::with_bucket("one").await;
    twin.put("cat.jpg", &plaintext(100, 50)).await.expect("put");
    twin.b().set_down(true);
    twin.store.delete_object(BUCKET, "cat.jpg").await.expect("delete");
    let newer = plaintext(300, 51);
    twin.put("cat.jpg", &newer).await.expect("put again");
    twin.b().set_down(false);
    let kinds: Vec<ChangeKind> = twin.pending(0).await.iter().map(|p| p.record.op).collect();
    assert_eq!(kinds, [ChangeKind::Delete, ChangeKind::Put]);

    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    assert!(same_copy(&twin, "cat.jpg").is_some(), "the newer version reaches b");
    assert_eq!(count(&repairer.summary.deleted), 0);
    twin.a().set_down(true);
    assert!(twin.get("cat.jpg").await.expect("b") == newer);
}

#[tokio::test(start_paused = true)]
async fn a_copy_a_reader_found_damaged_is_replaced_by_the_intact_one() {
    let twin = Twin::with_bucket("all").await;
    let plain = plaintext(3 * 65536, 60);
    twin.put("cat.jpg", &plain).await.expect("put");
    let intact = twin.b().raw(BUCKET, "cat.jpg").expect("b");
    // Bit rot in a: same ETag and stamp as b's copy, so only verification tells them apart.
    twin.a().flip_byte(BUCKET, "cat.jpg", STORED_SEG + 9, false);
    assert!(twin.get("cat.jpg").await.expect("healed read") == plain);
    assert!(
        eventually(|| !twin.reserved_keys(1, "missed/a/").is_empty()).await,
        "the reader reported a's copy"
    );

    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    let copy = same_copy(&twin, "cat.jpg").expect("both agree");
    assert!(
        copy.bytes == intact.bytes,
        "b's intact copy replaced a's, not the other way round"
    );
    assert_eq!(count(&repairer.summary.copied), 1);
    assert!(twin.pending(1).await.is_empty());
    twin.b().set_down(true);
    assert!(twin.get("cat.jpg").await.expect("a's repaired copy") == plain);
}

/// Damages `region`'s copy of `key` with a rewrite (new ETag, same stamp) whose ETag sorts
/// after the other copy's, so that without verification it would win the tie.
fn rewrite_to_win_the_tie(twin: &Twin, region: usize, key: &str) {
    let backend = &twin.backends[region];
    let other = twin.backends[1 - region].raw(BUCKET, key).expect("other copy").etag;
    for offset in 0.. {
        backend.flip_byte(BUCKET, key, 100 + offset, true);
        if backend.raw(BUCKET, key).expect("copy").etag > other {
            return;
        }
        backend.flip_byte(BUCKET, key, 100 + offset, true); // undo, try the next byte
    }
}

#[tokio::test(start_paused = true)]
async fn a_damaged_copy_that_would_win_the_tie_is_never_spread() {
    for damaged in 0..2 {
        let twin = Twin::with_bucket("all").await;
        let plain = plaintext(2 * 65536 + 1, 70);
        twin.put("cat.jpg", &plain).await.expect("put");
        let intact = twin.backends[1 - damaged].raw(BUCKET, "cat.jpg").expect("intact");
        rewrite_to_win_the_tie(&twin, damaged, "cat.jpg");

        let repairer = twin.repairer();
        repairer.full_pass(Some(BUCKET), &|_| {}).await.expect("full pass");
        let copy = same_copy(&twin, "cat.jpg").expect("both agree");
        assert!(
            copy.bytes == intact.bytes,
            "region {damaged}: the damaged copy was spread"
        );
        assert_eq!(copy.etag, intact.etag);
        let s = &repairer.summary;
        assert_eq!((count(&s.conflicts), count(&s.copied)), (1, 1), "region {damaged}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_copy_with_a_forged_newer_stamp_and_a_bad_header_never_wins() {
    // Both ways round: repair walks the regions in order, so a damaged copy in either one
    // must neither win nor be copied over the other.
    for damaged in 0..2 {
        let twin = Twin::with_bucket("all").await;
        let plain = plaintext(1000, 80);
        twin.put("cat.jpg", &plain).await.expect("put");
        twin.put("dog.jpg", &plaintext(10, 81)).await.expect("put");
        let backend = &twin.backends[damaged];
        let intact = twin.backends[1 - damaged].raw(BUCKET, "cat.jpg").expect("intact");
        let dog_header = backend.raw(BUCKET, "dog.jpg").expect("dog").metadata[META_HEADER].clone();
        let forged = VersionStamp {
            clock: u64::MAX >> 1,
            writer: 0,
        };
        backend.set_metadata(BUCKET, "cat.jpg", META_STAMP, Some(&forged.to_string()));
        backend.set_metadata(BUCKET, "cat.jpg", META_HEADER, Some(&dog_header));

        // As a replayed Put record reconciles the key: no body verification, only the headers.
        // (A full pass would not look: the two copies list with the same ETag and size.)
        let repairer = twin.repairer();
        repairer
            .reconcile((BUCKET, "cat.jpg"), None, false, super::Known::Everything)
            .await
            .expect("reconcile");
        let copy = same_copy(&twin, "cat.jpg").expect("both agree");
        assert_eq!(copy.metadata, intact.metadata, "region {damaged}: the damaged copy won");
        twin.backends[1 - damaged].set_down(true);
        assert!(twin.get("cat.jpg").await.expect("the repaired copy") == plain);
    }
}

#[tokio::test(start_paused = true)]
async fn copies_that_both_fail_verification_are_left_as_they_are() {
    let twin = Twin::with_bucket("all").await;
    twin.put("cat.jpg", &plaintext(2 * 65536, 90)).await.expect("put");
    twin.a().flip_byte(BUCKET, "cat.jpg", 10, true);
    twin.b().flip_byte(BUCKET, "cat.jpg", STORED_SEG + 10, true);
    let (a, b) = (twin.a().raw(BUCKET, "cat.jpg"), twin.b().raw(BUCKET, "cat.jpg"));
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_ne!(a.etag, b.etag);

    let repairer = twin.repairer();
    repairer.full_pass(Some(BUCKET), &|_| {}).await.expect("full pass");
    let s = &repairer.summary;
    assert_eq!((count(&s.copied), count(&s.deleted), count(&s.unrepairable)), (0, 0, 1));
    assert!(
        twin.a().raw(BUCKET, "cat.jpg").expect("a").bytes == a.bytes,
        "a untouched"
    );
    assert!(
        twin.b().raw(BUCKET, "cat.jpg").expect("b").bytes == b.bytes,
        "b untouched"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_changes_nothing_and_keeps_the_journal() {
    let twin = Twin::with_bucket("one").await;
    twin.b().set_down(true);
    twin.put("cat.jpg", &plaintext(100, 95)).await.expect("put");
    twin.b().set_down(false);
    let repairer = crate::repair::Repairer::new(&twin.regions, crate::testing::keyring(&twin.config), true);
    repairer.replay_journal().await.expect("dry replay");
    assert_eq!(count(&repairer.summary.copied), 1, "counted");
    assert!(twin.b().raw(BUCKET, "cat.jpg").is_none(), "not copied");
    assert_eq!(twin.pending(0).await.len(), 1, "not cleared");
}

#[tokio::test(start_paused = true)]
async fn a_record_of_a_request_the_region_never_got_is_cleared_at_once() {
    let twin = Twin::with_bucket("one").await;
    twin.put("index", b"v1").await.expect("put");
    let [a, b] = twin.regions.all();
    let stamp = twin.regions.stamp();
    let keys = ["index".to_owned()];
    let record = crate::reserved::MissRecord::new(b.name(), ChangeKind::Put, BUCKET, &keys, stamp);
    assert!(!record.in_flight);
    twin.regions.journal().append(a, &record).await.expect("append");
    let repairer = twin.repairer().settling(std::time::Duration::from_secs(3600));
    repairer.replay_journal().await.expect("replay");
    assert!(
        twin.pending(0).await.is_empty(),
        "refused, not in flight: nothing to wait for"
    );
}

#[tokio::test(start_paused = true)]
async fn a_record_is_kept_until_settled_so_a_late_write_is_repaired_too() {
    let twin = Twin::with_bucket("one").await;
    let old = plaintext(1000, 70);
    let new = plaintext(1000, 71);
    twin.put("index", &old).await.expect("put old");
    let old_copy = twin.b().raw(BUCKET, "index").expect("b holds the old copy");
    twin.b().set_down(true);
    twin.put("index", &new).await.expect("put new to a alone");
    twin.b().set_down(false);

    let settle = std::time::Duration::from_millis(50);
    let repairer = twin.repairer().settling(settle);
    repairer.replay_journal().await.expect("replay");
    assert!(same_copy(&twin, "index").is_some(), "replayed at once");
    assert_eq!(twin.pending(0).await.len(), 1, "but not cleared: too young");
    std::thread::sleep(settle * 2); // record age: the wall clock
    repairer.replay_journal().await.expect("replay");
    assert_eq!(twin.pending(0).await.len(), 1, "nor once old: b was down just now");

    // The write b missed lands late after all (b was restarting when it was sent): b holds
    // the old version again. Reads still avoid b for the key, and the next round repairs it.
    land_late(&twin, 1, "index", &old_copy).await;
    assert!(
        twin.get("index").await.expect("get") == new,
        "read the late write from b"
    );

    tokio::time::sleep(settle * 2).await; // b answering without failing: tokio's clock
    let repairer = twin.repairer().settling(settle);
    repairer.replay_journal().await.expect("replay");
    assert!(same_copy(&twin, "index").is_some(), "the late write was repaired");
    assert_eq!(
        stamp_of(&twin.b().raw(BUCKET, "index").expect("b")),
        stamp_of(&twin.a().raw(BUCKET, "index").expect("a"))
    );
    assert!(twin.pending(0).await.is_empty(), "settled: cleared");
}

/// The checker's resurrected delete (session 9, seed 21): region a was restarting; a PUT's
/// leg to a timed out but landed late, so a holds that version and b's journal says a missed
/// it. A DELETE then reached b alone, and its record (a missed the delete) was not yet listed
/// when repair looked: b holds nothing, a holds the version. Repair must not take b's empty
/// key for a miss and copy a's older version into b, the region current for the key.
#[tokio::test(start_paused = true)]
async fn a_delete_whose_record_is_not_listed_yet_is_never_undone_by_copying_into_its_region() {
    let twin = Twin::with_bucket("one").await;
    twin.a().set_down(true);
    twin.put("k3", &plaintext(100, 80)).await.expect("put to b alone");
    twin.a().set_down(false);
    let landed = twin.b().raw(BUCKET, "k3").expect("b holds it");
    land_late(&twin, 0, "k3", &landed).await;
    // The delete reaches b; its record is written only later.
    twin.regions.all()[1]
        .delete_object(BUCKET, "k3")
        .await
        .expect("delete in b");

    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    assert!(twin.b().raw(BUCKET, "k3").is_none(), "the delete in b was undone");
    assert_eq!(count(&repairer.summary.deferred), 1);
    assert_eq!(twin.pending(1).await.len(), 1, "a's record is kept for the next round");
    let read = crate::testing::failure(twin.get("k3").await);
    assert_eq!(
        read.code(),
        s3s::S3ErrorCode::NoSuchKey,
        "b, current for the key, answers: {read:?}"
    );

    // The delete's record arrives (the gateway journals a's miss): the next round deletes
    // a's copy and clears both records.
    twin.store
        .delete_object(BUCKET, "k3")
        .await
        .expect("delete while a is down");
    twin.a().set_down(false);
    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    assert!(twin.a().raw(BUCKET, "k3").is_none() && twin.b().raw(BUCKET, "k3").is_none());
    assert_eq!(count(&repairer.summary.deferred), 0);
    assert!(twin.pending(1).await.is_empty(), "both records cleared");
}

/// A region that is behind on a key too (the other region's journal names it) still gets
/// the newer copy from the region it was replaying records for.
#[tokio::test(start_paused = true)]
async fn a_key_both_regions_missed_writes_of_is_copied_both_ways() {
    let twin = Twin::with_bucket("one").await;
    twin.put("doc", &plaintext(100, 90)).await.expect("put");
    twin.b().set_down(true);
    twin.store.delete_object(BUCKET, "doc").await.expect("delete b misses");
    twin.b().set_down(false);
    twin.a().set_down(true);
    let newest = plaintext(200, 91);
    twin.put("doc", &newest).await.expect("put a misses");
    twin.a().set_down(false);
    assert_eq!((twin.pending(0).await.len(), twin.pending(1).await.len()), (1, 1));

    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    assert!(same_copy(&twin, "doc").is_some(), "the newest version in both");
    assert!(twin.get("doc").await.expect("get") == newest);
    assert!(twin.pending(0).await.is_empty() && twin.pending(1).await.is_empty());
}

/// The checker's resurrected delete (session 9, seed 7): a PUT and a DELETE of one key raced,
/// and the regions applied them in opposite orders, so a held nothing and b the PUT's version,
/// with no record (neither region missed either request). a was behind on the key for an
/// older change. Repair must not take a's empty key for that miss and copy b's version in: a
/// second DELETE landing meanwhile would be undone.
#[tokio::test(start_paused = true)]
async fn an_empty_region_gets_only_a_version_it_is_known_to_have_missed() {
    let twin = Twin::with_bucket("one").await;
    twin.a().set_down(true);
    twin.put("k3", &plaintext(100, 95))
        .await
        .expect("an older put a misses");
    twin.a().set_down(false);
    twin.put("k3", &plaintext(100, 96))
        .await
        .expect("the racing put, in both");
    twin.regions.all()[0]
        .delete_object(BUCKET, "k3")
        .await
        .expect("the racing delete, applied after the put in a only");

    let repairer = twin.repairer();
    repairer.replay_journal().await.expect("replay");
    assert!(twin.a().raw(BUCKET, "k3").is_none(), "b's version was copied into a");
    assert_eq!(count(&repairer.summary.deferred), 1);
    assert_eq!(twin.pending(1).await.len(), 1, "a's record is kept");

    // `twinvault repair`'s full pass decides by the stamps alone.
    let repairer = twin.repairer();
    repairer.full_pass(None, &|_| {}).await.expect("full pass");
    assert!(same_copy(&twin, "k3").is_some(), "the full pass makes them agree");
}
