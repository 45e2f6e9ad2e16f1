//! The object layer over two in-memory regions: write policies, failover and healing, ranges
//! and parts, multipart completion (with re-sealing), and conditional reads. Paused tokio time
//! throughout: nothing waits on the real clock.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::object::{META_ATTRS, META_HEADER, META_LAYOUT};
use super::{ByteRange, Conditions, EtagCondition, ReadRequest, WriteCondition, client_etag};
use crate::envelope::ObjectAttributes;
use crate::envelope::format::{SEGMENT_PLAINTEXT_LEN, SEGMENT_STORED_LEN, ciphertext_len};
use crate::error::ApiError;
use crate::reserved::ChangeKind;
use crate::stamp::META_STAMP;
use crate::testing::{BUCKET, Twin, eventually, failure, plaintext, read_request};
use crate::upstream::UpstreamErrorKind;

const SEG: usize = SEGMENT_PLAINTEXT_LEN as usize;
const STORED_SEG: usize = SEGMENT_STORED_LEN as usize;
const MIB: usize = 1024 * 1024;

/// Windows of `plain` that must never appear upstream.
fn windows(plain: &[u8]) -> Vec<&[u8]> {
    let n = plain.len();
    vec![&plain[..32], &plain[n / 2..n / 2 + 32], &plain[n - 32..]]
}

// === write policies ===

#[tokio::test(start_paused = true)]
async fn a_put_stores_identical_ciphertext_in_both_regions_and_reads_back_as_plaintext() {
    let twin = Twin::with_bucket("all").await;
    let plain = plaintext(3 * SEG + 1000, 1);
    let attrs = ObjectAttributes {
        content_type: Some("image/x-secret-type".into()),
        user_metadata: BTreeMap::from([("author".to_owned(), "alice-the-secret-author".to_owned())]),
        ..Default::default()
    };
    let stored = twin.put_with("cat.jpg", &plain, attrs).await.expect("put");

    let a = twin.a().raw(BUCKET, "cat.jpg").expect("a holds it");
    let b = twin.b().raw(BUCKET, "cat.jpg").expect("b holds it");
    assert_eq!(a.bytes, b.bytes, "the same ciphertext in both regions");
    assert_eq!(a.metadata, b.metadata, "the same header, attributes and stamp");
    assert_eq!(a.etag, b.etag);
    assert_eq!(stored.etag, a.etag, "the client hears the stored version's ETag");
    assert_eq!(a.bytes.len() as u64, ciphertext_len(plain.len() as u64));
    for name in [META_HEADER, META_ATTRS, META_STAMP] {
        assert!(a.metadata.contains_key(name), "{name} missing");
    }
    assert!(
        !a.metadata.contains_key(META_LAYOUT),
        "a single PUT has no parts layout"
    );

    for backend in &twin.backends {
        for window in windows(&plain) {
            assert!(!backend.contains(window), "plaintext stored upstream");
        }
        assert!(
            !backend.contains(b"alice-the-secret-author"),
            "user metadata stored in clear"
        );
        assert!(
            !backend.contains(b"image/x-secret-type"),
            "content type stored in clear"
        );
    }

    let (read, got) = twin.read(read_request("cat.jpg")).await.expect("get");
    assert!(got == plain, "GET returned other bytes");
    assert_eq!(read.content_length, plain.len() as u64);
    assert_eq!(read.view.etag, client_etag(&a.etag));
    assert_eq!(read.view.attrs.content_type.as_deref(), Some("image/x-secret-type"));
    assert_eq!(
        read.view
            .user_metadata()
            .and_then(|m| m.get("author").cloned())
            .as_deref(),
        Some("alice-the-secret-author")
    );
}

#[tokio::test(start_paused = true)]
async fn policy_all_fails_a_put_that_region_b_misses_and_acknowledges_nothing() {
    let twin = Twin::with_bucket("all").await;
    twin.b().set_down(true);
    let e = failure(twin.put("cat.jpg", &plaintext(1000, 2)).await);
    match &e {
        ApiError::Upstream(u) => assert_eq!((u.kind, u.region.as_str()), (UpstreamErrorKind::Unavailable, "b")),
        other => panic!("expected an upstream failure, got {other:?}"),
    }
    assert_eq!(e.code(), s3s::S3ErrorCode::ServiceUnavailable, "a 503");
    assert!(twin.reserved_keys(1, "missed/").is_empty());
}

/// A body that fits in the fan-out's buffers is handed to region a in full before region b's
/// failure is seen, so under "all" a may store a version the client was told failed (a 503,
/// which S3 clients treat as "may have happened"). It is journaled for b all the same, so reads
/// avoid b for it and repair converges both regions on it, instead of leaving them apart.
#[tokio::test(start_paused = true)]
async fn policy_all_journals_a_failed_put_that_one_region_stored() {
    let twin = Twin::with_bucket("all").await;
    twin.b().set_down(true);
    assert!(twin.put("cat.jpg", &plaintext(1000, 2)).await.is_err());
    assert!(
        twin.a().raw(BUCKET, "cat.jpg").is_some(),
        "a small body reaches a first"
    );
    let ids = twin.reserved_keys(0, "missed/b/");
    assert_eq!(ids.len(), 1, "the copy a holds is journaled for b: {ids:?}");
}

#[tokio::test(start_paused = true)]
async fn policy_one_acknowledges_a_put_b_misses_journals_it_in_a_and_a_serves_it() {
    let twin = Twin::with_bucket("one").await;
    twin.b().set_down(true);
    let plain = plaintext(2 * SEG + 5, 3);
    twin.put("cat.jpg", &plain).await.expect("acknowledged under \"one\"");

    assert!(twin.b().raw(BUCKET, "cat.jpg").is_none());
    let a = twin.a().raw(BUCKET, "cat.jpg").expect("a holds it");
    let ids = twin.reserved_keys(0, "missed/b/");
    assert_eq!(ids.len(), 1, "one journal record in a's reserved bucket: {ids:?}");
    let pending = twin.pending(0).await;
    assert_eq!(pending.len(), 1);
    let record = &pending[0].record;
    assert_eq!(
        (
            record.op,
            record.missed.as_str(),
            record.bucket.as_str(),
            record.keys.as_slice()
        ),
        (ChangeKind::Put, "b", BUCKET, &["cat.jpg".to_owned()][..])
    );
    assert_eq!(
        Some(&record.stamp),
        a.metadata.get(META_STAMP),
        "the record carries the version's stamp"
    );
    assert!(twin.reserved_keys(1, "missed/").is_empty());

    assert!(twin.get("cat.jpg").await.expect("a serves it") == plain);
}

#[tokio::test(start_paused = true)]
async fn policy_one_fails_a_put_when_the_journal_cannot_record_the_miss() {
    let twin = Twin::new("one");
    twin.store.create_bucket(BUCKET).await.expect("create bucket");
    // No reserved bucket yet, and a cannot create it: the miss cannot be recorded.
    twin.a().fail_next("CreateBucket", UpstreamErrorKind::Unavailable, 1);
    twin.b().set_down(true);
    let e = failure(twin.put("cat.jpg", &plaintext(10, 4)).await);
    assert!(
        matches!(&e, ApiError::Upstream(u) if u.kind == UpstreamErrorKind::Unavailable),
        "{e:?}"
    );
    assert_eq!(
        twin.a().calls("CreateBucket"),
        2,
        "the journal tried to create its bucket"
    );
    assert!(twin.reserved_keys(0, "missed/").is_empty());
}

// === failover and healing ===

#[tokio::test(start_paused = true)]
async fn reads_fail_over_to_b_when_a_is_down_or_lacks_the_key() {
    let twin = Twin::with_bucket("all").await;
    let plain = plaintext(SEG + 7, 5);
    twin.put("cat.jpg", &plain).await.expect("put");

    twin.a().set_down(true);
    assert!(twin.get("cat.jpg").await.expect("get from b") == plain);
    let head = twin
        .store
        .head_object(&read_request("cat.jpg"))
        .await
        .expect("head from b");
    assert_eq!(head.content_length, plain.len() as u64);
    twin.a().set_down(false);

    twin.regions.all()[0]
        .delete_object(BUCKET, "cat.jpg")
        .await
        .expect("delete a's copy");
    assert!(twin.get("cat.jpg").await.expect("get from b") == plain);
    let head = twin
        .store
        .head_object(&read_request("cat.jpg"))
        .await
        .expect("head from b");
    assert_eq!(head.view.plaintext_len, plain.len() as u64);

    let failovers = twin
        .regions
        .metrics()
        .reads_served
        .with_label_values(&["b", "failover"]);
    assert_eq!(failovers.get(), 4, "two GETs and two HEADs served by b");
    assert_eq!(twin.b().calls("GetObject"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_tampered_segment_in_a_heals_from_b_and_queues_a_repair() {
    let twin = Twin::with_bucket("all").await;
    let plain = plaintext(4 * SEG + 123, 6);
    twin.put("cat.jpg", &plain).await.expect("put");
    // Bit rot in a's third segment: the upstream ETag stays, the GCM tag no longer matches.
    twin.a().flip_byte(BUCKET, "cat.jpg", 2 * STORED_SEG + 100, false);

    let got = twin.get("cat.jpg").await.expect("healed GET");
    assert!(got == plain, "the healed body differs");
    let resumed = twin.regions.metrics().reads_served.with_label_values(&["b", "resume"]);
    assert_eq!(resumed.get(), 1, "the body continued from b");

    // The damage report is written in the background, into the intact region's journal.
    assert!(
        eventually(|| !twin.reserved_keys(1, "missed/a/").is_empty()).await,
        "no damage report"
    );
    let pending = twin.pending(1).await;
    assert_eq!(pending.len(), 1);
    let record = &pending[0].record;
    assert_eq!(
        (record.op, record.missed.as_str(), record.keys.as_slice()),
        (ChangeKind::Damaged, "a", &["cat.jpg".to_owned()][..])
    );
}

#[tokio::test(start_paused = true)]
async fn a_tampered_range_heals_from_b() {
    let twin = Twin::with_bucket("all").await;
    let plain = plaintext(4 * SEG, 7);
    twin.put("cat.jpg", &plain).await.expect("put");
    twin.a().flip_byte(BUCKET, "cat.jpg", STORED_SEG + 5000, false);
    let range = ByteRange::From {
        first: 1000,
        last: Some(3 * SEGMENT_PLAINTEXT_LEN + 10),
    };
    let (_, got) = twin.get_range("cat.jpg", range).await.expect("healed range");
    assert!(got == plain[1000..=3 * SEG + 10], "the healed range differs");
}

#[tokio::test(start_paused = true)]
async fn a_copy_whose_header_fails_authentication_is_skipped_for_b_and_reported() {
    let twin = Twin::with_bucket("all").await;
    let plain = plaintext(1000, 8);
    twin.put("cat.jpg", &plain).await.expect("put");
    twin.put("dog.jpg", &plaintext(10, 9)).await.expect("put");
    // a's copy now carries another object's header (an object copied to another name upstream).
    let other = twin.a().raw(BUCKET, "dog.jpg").expect("dog");
    twin.a().set_metadata(
        BUCKET,
        "cat.jpg",
        META_HEADER,
        other.metadata.get(META_HEADER).map(String::as_str),
    );

    assert!(twin.get("cat.jpg").await.expect("get from b") == plain);
    let head = twin
        .store
        .head_object(&read_request("cat.jpg"))
        .await
        .expect("head from b");
    assert_eq!(head.content_length, 1000);
    assert!(
        eventually(|| !twin.reserved_keys(1, "missed/a/").is_empty()).await,
        "no damage report"
    );
}

#[tokio::test(start_paused = true)]
async fn a_copy_damaged_in_both_regions_fails_the_read() {
    let twin = Twin::with_bucket("all").await;
    twin.put("cat.jpg", &plaintext(2 * SEG, 10)).await.expect("put");
    twin.a().flip_byte(BUCKET, "cat.jpg", 10, false);
    twin.b().flip_byte(BUCKET, "cat.jpg", 10, false);
    let e = failure(twin.get("cat.jpg").await);
    assert!(matches!(&e, ApiError::Envelope(e) if e.is_integrity_failure()), "{e:?}");
}

// === ranges and partNumber ===

#[tokio::test(start_paused = true)]
async fn ranges_across_segment_boundaries_return_exactly_their_bytes() {
    let twin = Twin::with_bucket("all").await;
    let len = 3 * SEG + 1000;
    let plain = plaintext(len, 11);
    twin.put("cat.jpg", &plain).await.expect("put");
    let n = len as u64;
    let seg = SEGMENT_PLAINTEXT_LEN;
    let cases = [
        // (range, expected inclusive first..=last)
        (
            ByteRange::From {
                first: 0,
                last: Some(0),
            },
            (0, 0),
        ),
        (
            ByteRange::From {
                first: seg - 1,
                last: Some(seg),
            },
            (seg - 1, seg),
        ),
        (
            ByteRange::From {
                first: seg,
                last: Some(2 * seg - 1),
            },
            (seg, 2 * seg - 1),
        ),
        (
            ByteRange::From {
                first: seg - 10,
                last: Some(2 * seg + 10),
            },
            (seg - 10, 2 * seg + 10),
        ),
        (ByteRange::From { first: 100, last: None }, (100, n - 1)),
        (
            ByteRange::From {
                first: 3 * seg,
                last: Some(10 * n),
            },
            (3 * seg, n - 1),
        ),
        (
            ByteRange::From {
                first: n - 1,
                last: None,
            },
            (n - 1, n - 1),
        ),
        (ByteRange::Suffix { length: 1001 }, (n - 1001, n - 1)),
        (ByteRange::Suffix { length: seg + 1 }, (n - seg - 1, n - 1)),
        (ByteRange::Suffix { length: 10 * n }, (0, n - 1)),
    ];
    for (range, (first, last)) in cases {
        let (read, got) = twin.get_range("cat.jpg", range).await.expect("ranged get");
        let expected = &plain[first as usize..=last as usize];
        assert!(got == expected, "{range:?}: wrong bytes");
        assert_eq!(read.content_length, last - first + 1, "{range:?}");
        assert_eq!(read.content_range, Some((first, last, n)), "{range:?}");
        let head = twin
            .store
            .head_object(&ReadRequest {
                range: Some(range),
                ..read_request("cat.jpg")
            })
            .await
            .expect("ranged head");
        assert_eq!(head.content_range, Some((first, last, n)), "HEAD {range:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_range_only_reads_the_segments_that_cover_it() {
    let twin = Twin::with_bucket("all").await;
    let plain = plaintext(8 * SEG, 12);
    twin.put("cat.jpg", &plain).await.expect("put");
    // Damage every segment but the 6th (index 5): a range inside it never sees the damage.
    for segment in [0, 1, 2, 3, 4, 6, 7] {
        twin.a().flip_byte(BUCKET, "cat.jpg", segment * STORED_SEG + 50, false);
    }
    let range = ByteRange::From {
        first: 5 * SEGMENT_PLAINTEXT_LEN + 3,
        last: Some(6 * SEGMENT_PLAINTEXT_LEN - 1),
    };
    let (_, got) = twin.get_range("cat.jpg", range).await.expect("ranged get");
    assert!(got == plain[5 * SEG + 3..6 * SEG]);
    let resumed = twin.regions.metrics().reads_served.with_label_values(&["b", "resume"]);
    assert_eq!(resumed.get(), 0, "the damaged segments were never read");
}

#[tokio::test(start_paused = true)]
async fn unsatisfiable_ranges_and_any_range_of_an_empty_object_are_invalid_range() {
    let twin = Twin::with_bucket("all").await;
    let len = (SEG + 10) as u64;
    twin.put("cat.jpg", &plaintext(len as usize, 13)).await.expect("put");
    twin.put("empty", b"").await.expect("put empty");

    for range in [
        ByteRange::From { first: len, last: None },
        ByteRange::From {
            first: len + 5,
            last: Some(len + 10),
        },
        ByteRange::Suffix { length: 0 },
    ] {
        let e = failure(twin.get_range("cat.jpg", range).await);
        assert!(matches!(e, ApiError::InvalidRange), "{range:?}: {e:?}");
        let head = ReadRequest {
            range: Some(range),
            ..read_request("cat.jpg")
        };
        let e = failure(twin.store.head_object(&head).await);
        assert!(matches!(e, ApiError::InvalidRange), "HEAD {range:?}: {e:?}");
    }
    for range in [
        ByteRange::From {
            first: 0,
            last: Some(0),
        },
        ByteRange::From { first: 0, last: None },
        ByteRange::Suffix { length: 10 },
    ] {
        let e = failure(twin.get_range("empty", range).await);
        assert!(matches!(e, ApiError::InvalidRange), "empty {range:?}: {e:?}");
    }
    let (read, got) = twin.read(read_request("empty")).await.expect("whole empty object");
    assert!(got.is_empty());
    assert_eq!((read.content_length, read.content_range), (0, None));
}

#[tokio::test(start_paused = true)]
async fn part_one_of_a_single_put_is_the_whole_object_and_part_two_is_invalid_part_number() {
    let twin = Twin::with_bucket("all").await;
    let plain = plaintext(SEG + 1, 14);
    twin.put("cat.jpg", &plain).await.expect("put");
    let part = |n| ReadRequest {
        part_number: Some(n),
        ..read_request("cat.jpg")
    };
    let (read, got) = twin.read(part(1)).await.expect("part 1");
    assert!(got == plain);
    assert_eq!((read.content_range, read.parts_count), (None, None));
    assert!(matches!(
        failure(twin.read(part(2)).await),
        ApiError::InvalidPartNumber(2)
    ));
    let both = ReadRequest {
        range: Some(ByteRange::Suffix { length: 1 }),
        ..part(1)
    };
    assert!(matches!(failure(twin.read(both).await), ApiError::InvalidRequest(_)));
}

// === multipart ===

/// Uploads `parts` (numbered from 1) to a new upload of `key`; the upload id and the part list
/// a client would complete with.
async fn upload(twin: &Twin, key: &str, parts: &[&[u8]]) -> (String, Vec<(i32, String)>) {
    let id = twin
        .store
        .create_upload((BUCKET, key), ObjectAttributes::default(), None)
        .await
        .expect("create upload");
    let mut listed = Vec::new();
    for (number, part) in (1..).zip(parts) {
        listed.push((number, upload_part(twin, key, &id, number, part).await));
    }
    (id, listed)
}

/// Uploads one part; the ETag the client gets back.
async fn upload_part(twin: &Twin, key: &str, id: &str, number: i32, part: &[u8]) -> String {
    let verdict = super::BodyVerdict::default();
    let stored = twin
        .store
        .upload_part(
            (BUCKET, key),
            id,
            number,
            part.len() as u64,
            (None, None),
            crate::testing::body(part),
            &verdict,
        )
        .await
        .expect("upload part");
    client_etag(&stored.etag)
}

/// Whether the reserved bucket of both regions holds nothing under `prefix`.
fn reserved_empty(twin: &Twin, prefix: &str) -> bool {
    twin.reserved_keys(0, prefix).is_empty() && twin.reserved_keys(1, prefix).is_empty()
}

#[tokio::test(start_paused = true)]
async fn aligned_parts_complete_as_they_are_and_read_back() {
    let twin = Twin::with_bucket("all").await;
    let p1 = plaintext(5 * MIB, 20);
    let p2 = plaintext(5 * MIB, 21);
    let p3 = plaintext(1000, 22);
    let (id, parts) = upload(&twin, "big", &[&p1, &p2, &p3]).await;
    assert!(!reserved_empty(&twin, "uploads/"), "an upload record while in progress");
    let listed = twin
        .store
        .list_parts((BUCKET, "big"), &id, None)
        .await
        .expect("list parts");
    assert_eq!(listed.parts.len(), 3);

    twin.store
        .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&parts), None, None)
        .await
        .expect("complete");
    let whole: Vec<u8> = [p1.as_slice(), &p2, &p3].concat();
    assert!(twin.get("big").await.expect("get") == whole);

    let a = twin.a().raw(BUCKET, "big").expect("a");
    let b = twin.b().raw(BUCKET, "big").expect("b");
    assert_eq!((&a.bytes, &a.etag, &a.metadata), (&b.bytes, &b.etag, &b.metadata));
    let stored_part = |plain: u64| ciphertext_len(plain);
    assert_eq!(
        a.part_lens,
        vec![
            stored_part(5 * MIB as u64),
            stored_part(5 * MIB as u64),
            stored_part(1000)
        ],
        "completed with the parts as uploaded"
    );
    for window in windows(&whole) {
        assert!(!twin.a().contains(window) && !twin.b().contains(window));
    }

    // partNumber addresses the stored parts.
    let (read, got) = twin
        .read(ReadRequest {
            part_number: Some(2),
            ..read_request("big")
        })
        .await
        .expect("part 2");
    assert!(got == p2);
    assert_eq!(read.parts_count, Some(3));
    let first = 5 * MIB as u64;
    assert_eq!(read.content_range, Some((first, 2 * first - 1, whole.len() as u64)));

    assert!(reserved_empty(&twin, "uploads/"), "the upload record is removed");
    assert!(
        eventually(|| reserved_empty(&twin, "staging/")).await,
        "the staged last part is removed"
    );
}

#[tokio::test(start_paused = true)]
async fn unaligned_parts_are_resealed_at_completion_and_read_back_byte_exact() {
    let twin = Twin::with_bucket("all").await;
    let p1 = plaintext(5 * MIB + 1, 30);
    let p2 = plaintext(5 * MIB + 1, 31);
    let p3 = plaintext(1234, 32);
    let (id, parts) = upload(&twin, "big", &[&p1, &p2, &p3]).await;
    assert_eq!(
        twin.reserved_keys(0, "staging/").len(),
        3,
        "every part that may move is staged"
    );

    twin.store
        .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&parts), None, None)
        .await
        .expect("complete");
    let whole: Vec<u8> = [p1.as_slice(), &p2, &p3].concat();
    assert!(twin.get("big").await.expect("get") == whole, "realigned object differs");

    let a = twin.a().raw(BUCKET, "big").expect("a");
    let b = twin.b().raw(BUCKET, "big").expect("b");
    assert_eq!((&a.bytes, &a.etag, &a.metadata), (&b.bytes, &b.etag, &b.metadata));
    let (last, non_final) = a.part_lens.split_last().expect("parts");
    assert!(
        non_final.iter().all(|l| l % SEGMENT_STORED_LEN == 0),
        "non-final parts are whole segments: {:?}",
        a.part_lens
    );
    assert_eq!(
        non_final.iter().sum::<u64>() + last,
        ciphertext_len(whole.len() as u64),
        "one uniform run of segments"
    );

    // Across the client's old part boundaries (now inside re-sealed parts).
    let boundary = (5 * MIB + 1) as u64;
    for (first, last) in [
        (boundary - 3, boundary + 3),
        (2 * boundary - 70_000, 2 * boundary + 500),
    ] {
        let range = ByteRange::From {
            first,
            last: Some(last),
        };
        let (_, got) = twin.get_range("big", range).await.expect("range");
        assert!(got == whole[first as usize..=last as usize], "{range:?}");
    }
    let parts_count = twin
        .read(ReadRequest {
            part_number: Some(1),
            ..read_request("big")
        })
        .await
        .expect("part 1")
        .0
        .parts_count;
    assert_eq!(parts_count, Some(a.part_lens.len() as i32));

    assert!(reserved_empty(&twin, "uploads/"), "the upload record is removed");
    assert!(
        eventually(|| reserved_empty(&twin, "staging/")).await,
        "staged parts are removed after completion"
    );
    assert_eq!((twin.a().open_uploads(), twin.b().open_uploads()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_reuploaded_part_is_taken_by_the_etag_the_client_sends() {
    let twin = Twin::with_bucket("all").await;
    let old = plaintext(5 * MIB + 1, 40);
    let new = plaintext(5 * MIB + 1, 41);
    let tail = plaintext(99, 42);
    let (id, mut parts) = upload(&twin, "big", &[&old, &tail]).await;
    let stale = parts[0].1.clone();
    let fresh = upload_part(&twin, "big", &id, 1, &new).await;
    assert_ne!(stale, fresh, "every upload of a part is sealed afresh");

    // The upstream keeps the newest upload only: the old ETag names nothing now.
    let e = failure(
        twin.store
            .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&parts), None, None)
            .await,
    );
    assert!(matches!(e, ApiError::InvalidPart(_)), "{e:?}");

    parts[0].1 = fresh;
    twin.store
        .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&parts), None, None)
        .await
        .expect("complete");
    let got = twin.get("big").await.expect("get");
    assert!(
        got == [new.as_slice(), &tail].concat(),
        "the re-uploaded part is the one used"
    );
}

#[tokio::test(start_paused = true)]
async fn a_part_list_with_a_gap_or_out_of_order_is_refused() {
    let twin = Twin::with_bucket("all").await;
    let part = plaintext(5 * MIB, 50);
    let (id, parts) = upload(&twin, "big", &[&part, &part, &part]).await;
    let gap = vec![parts[0].clone(), parts[2].clone()];
    let e = failure(
        twin.store
            .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&gap), None, None)
            .await,
    );
    assert!(matches!(e, ApiError::InvalidPart(_)), "{e:?}");
    let swapped = vec![parts[1].clone(), parts[0].clone()];
    let e = failure(
        twin.store
            .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&swapped), None, None)
            .await,
    );
    assert!(matches!(e, ApiError::InvalidPartOrder), "{e:?}");
    let small = plaintext(100, 51);
    let id2 = twin
        .store
        .create_upload((BUCKET, "small"), ObjectAttributes::default(), None)
        .await
        .expect("create");
    let e1 = upload_part(&twin, "small", &id2, 1, &small).await;
    let e2 = upload_part(&twin, "small", &id2, 2, &small).await;
    let e = failure(
        twin.store
            .complete_upload(
                (BUCKET, "small"),
                &id2,
                &crate::testing::requested(&[(1, e1), (2, e2)]),
                None,
                None,
            )
            .await,
    );
    assert!(matches!(e, ApiError::EntityTooSmall(1)), "{e:?}");
    assert!(twin.a().raw(BUCKET, "big").is_none() && twin.a().raw(BUCKET, "small").is_none());
    // Nothing was consumed: the right list still completes.
    twin.store
        .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&parts), None, None)
        .await
        .expect("complete");
}

#[tokio::test(start_paused = true)]
async fn a_part_sent_again_completes_with_the_last_entry_listed_for_it() {
    // s3-tests' "resend first finishes last": part 1 uploaded twice, the client lists both
    // uploads under part 1, the newest last; S3 completes with that one.
    let twin = Twin::with_bucket("all").await;
    let first = plaintext(100, 52);
    let newest = plaintext(100, 53);
    let id = twin
        .store
        .create_upload((BUCKET, "resent"), ObjectAttributes::default(), None)
        .await
        .expect("create");
    let e_first = upload_part(&twin, "resent", &id, 1, &first).await;
    let e_newest = upload_part(&twin, "resent", &id, 1, &newest).await;
    twin.store
        .complete_upload(
            (BUCKET, "resent"),
            &id,
            &crate::testing::requested(&[(1, e_first), (1, e_newest)]),
            None,
            None,
        )
        .await
        .expect("complete with part 1 listed twice");
    assert!(twin.get("resent").await.expect("get") == newest);
}

#[tokio::test(start_paused = true)]
async fn abort_removes_the_upload_its_record_and_its_staged_parts() {
    let twin = Twin::with_bucket("all").await;
    let (id, parts) = upload(&twin, "big", &[&plaintext(5 * MIB + 1, 60)]).await;
    assert_eq!(twin.reserved_keys(0, "uploads/").len(), 1);
    assert_eq!(twin.reserved_keys(1, "uploads/").len(), 1);
    assert_eq!((twin.a().open_uploads(), twin.b().open_uploads()), (1, 1));

    twin.store.abort_upload((BUCKET, "big"), &id).await.expect("abort");
    assert!(reserved_empty(&twin, "uploads/"), "the upload record is removed");
    assert_eq!((twin.a().open_uploads(), twin.b().open_uploads()), (0, 0));
    assert!(
        eventually(|| reserved_empty(&twin, "staging/")).await,
        "staged parts removed"
    );
    assert!(
        twin.store
            .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&parts), None, None)
            .await
            .is_err()
    );
    assert!(twin.a().raw(BUCKET, "big").is_none());
}

/// The same upload re-sealed as if CreateMultipartUpload had run `age` ago (the id is sealed
/// under the gateway's keyring, so only the gateway can date it; here the test plays it).
fn aged_upload_id(twin: &Twin, key: &str, id: &str, age: Duration) -> String {
    let mut state =
        super::upload_id::UploadState::open(crate::testing::keyring(&twin.config), BUCKET, key, id).expect("open");
    let now = super::upload_id::unix_secs(SystemTime::now());
    state.created_unix_secs = Some(now - age.as_secs());
    state
        .seal(crate::testing::keyring(&twin.config), BUCKET, key)
        .expect("seal")
}

#[tokio::test(start_paused = true)]
async fn an_upload_id_older_than_the_ttl_is_no_such_upload_for_every_call() {
    let twin = Twin::with_bucket("all").await;
    let ttl = twin.config.multipart.upload_ttl;
    assert_eq!(ttl, Duration::from_secs(7 * 24 * 3600), "the default TTL is 7 days");
    let (id, parts) = upload(&twin, "old", &[&plaintext(SEG, 61)]).await;
    let within = aged_upload_id(&twin, "old", &id, ttl - Duration::from_secs(60));
    assert_eq!(
        twin.store
            .list_parts((BUCKET, "old"), &within, None)
            .await
            .expect("within the TTL")
            .parts
            .len(),
        1
    );

    let expired = aged_upload_id(&twin, "old", &id, ttl + Duration::from_secs(60));
    let verdict = super::BodyVerdict::default();
    let part = twin
        .store
        .upload_part(
            (BUCKET, "old"),
            &expired,
            2,
            3,
            (None, None),
            crate::testing::body(b"abc"),
            &verdict,
        )
        .await;
    assert!(matches!(part, Err(ApiError::NoSuchUpload)), "UploadPart");
    let listed = twin.store.list_parts((BUCKET, "old"), &expired, None).await;
    assert!(matches!(listed, Err(ApiError::NoSuchUpload)), "ListParts");
    let completed = twin
        .store
        .complete_upload(
            (BUCKET, "old"),
            &expired,
            &crate::testing::requested(&parts),
            None,
            None,
        )
        .await;
    assert!(
        matches!(completed, Err(ApiError::NoSuchUpload)),
        "CompleteMultipartUpload"
    );
    let aborted = twin.store.abort_upload((BUCKET, "old"), &expired).await;
    assert!(matches!(aborted, Err(ApiError::NoSuchUpload)), "AbortMultipartUpload");
    assert!(twin.a().raw(BUCKET, "old").is_none(), "nothing was completed");
}

#[tokio::test(start_paused = true)]
async fn policy_one_completes_an_upload_b_missed_and_journals_it() {
    let twin = Twin::with_bucket("one").await;
    twin.b().set_down(true);
    let p1 = plaintext(5 * MIB + 1, 70);
    let p2 = plaintext(10, 71);
    let (id, parts) = upload(&twin, "big", &[&p1, &p2]).await;
    twin.b().set_down(false);
    twin.store
        .complete_upload((BUCKET, "big"), &id, &crate::testing::requested(&parts), None, None)
        .await
        .expect("complete in a");
    assert!(twin.b().raw(BUCKET, "big").is_none());
    let pending = twin.pending(0).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].record.op, ChangeKind::Put);
    assert!(twin.get("big").await.expect("get") == [p1.as_slice(), &p2].concat());
}

// === conditional reads ===

#[tokio::test(start_paused = true)]
async fn conditional_reads_evaluate_against_the_client_etag() {
    let twin = Twin::with_bucket("all").await;
    twin.put("cat.jpg", &plaintext(SEG + 1, 80)).await.expect("put");
    let upstream = twin.a().raw(BUCKET, "cat.jpg").expect("a").etag;
    let etag = client_etag(&upstream);
    assert_ne!(etag, upstream);

    let with = |conditions: Conditions| ReadRequest {
        conditions,
        ..read_request("cat.jpg")
    };
    let if_match = |tag: &str| Conditions {
        if_match: Some(EtagCondition::Tag(tag.to_owned())),
        ..Default::default()
    };
    let if_none_match = |tag: &str| Conditions {
        if_none_match: Some(EtagCondition::Tag(tag.to_owned())),
        ..Default::default()
    };
    let since = |time: SystemTime| Conditions {
        if_modified_since: Some(time),
        ..Default::default()
    };
    let future = SystemTime::now() + Duration::from_secs(3600);

    let ok = [
        if_match(&etag),
        if_match(&format!("\"{etag}\"")),
        Conditions {
            if_match: Some(EtagCondition::Any),
            ..Default::default()
        },
        if_none_match(&upstream),
        if_none_match("0123-1"),
        since(SystemTime::UNIX_EPOCH),
    ];
    for conditions in ok {
        let shown = format!("{conditions:?}");
        assert!(twin.read(with(conditions.clone())).await.is_ok(), "GET {shown}");
        assert!(twin.store.head_object(&with(conditions)).await.is_ok(), "HEAD {shown}");
    }
    let precondition_failed = [if_match(&upstream), if_match("0123-1")];
    for conditions in precondition_failed {
        let shown = format!("{conditions:?}");
        let e = failure(twin.read(with(conditions.clone())).await);
        assert!(matches!(e, ApiError::PreconditionFailed), "GET {shown}: {e:?}");
        let e = failure(twin.store.head_object(&with(conditions)).await);
        assert!(matches!(e, ApiError::PreconditionFailed), "HEAD {shown}: {e:?}");
    }
    let not_modified = [
        if_none_match(&etag),
        Conditions {
            if_none_match: Some(EtagCondition::Any),
            ..Default::default()
        },
        since(future),
    ];
    for conditions in not_modified {
        let shown = format!("{conditions:?}");
        let e = failure(twin.read(with(conditions.clone())).await);
        assert!(matches!(e, ApiError::NotModified { .. }), "GET {shown}: {e:?}");
        let ranged = ReadRequest {
            range: Some(ByteRange::Suffix { length: 5 }),
            ..with(conditions)
        };
        let e = failure(twin.read(ranged).await);
        assert!(matches!(e, ApiError::NotModified { .. }), "ranged GET {shown}: {e:?}");
    }
    // If-None-Match wins over If-Modified-Since (RFC 9110).
    let both = Conditions {
        if_none_match: Some(EtagCondition::Tag("0123-1".into())),
        if_modified_since: Some(future),
        ..Default::default()
    };
    assert!(twin.read(with(both)).await.is_ok());
}

// === conditional writes: one region decides for both ===

fn if_match(etag: &str) -> WriteCondition {
    WriteCondition::IfMatch(Some(etag.to_owned()))
}

/// Both regions hold the same copy of `key` (bytes, metadata, ETag) and no staged body is left.
fn assert_replicated(twin: &Twin, key: &str) {
    let a = twin.a().raw(BUCKET, key).expect("a holds it");
    let b = twin.b().raw(BUCKET, key).expect("b holds it");
    assert_eq!(a.bytes, b.bytes, "the same ciphertext in both regions");
    assert_eq!((&a.metadata, &a.etag), (&b.metadata, &b.etag));
    for region in 0..2 {
        assert_eq!(
            twin.reserved_keys(region, "staging/put/"),
            Vec::<String>::new(),
            "staged body left"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn conditional_creates_and_swaps_are_decided_once_for_both_regions() {
    // No reserved bucket yet (nothing was ever journaled): the first staging creates it.
    let twin = Twin::new("all");
    twin.store.create_bucket(BUCKET).await.expect("create bucket");
    let first = twin
        .put_if("lock", b"owner 1", WriteCondition::IfAbsent)
        .await
        .expect("create");
    assert_replicated(&twin, "lock");
    let e = failure(twin.put_if("lock", b"owner 2", WriteCondition::IfAbsent).await);
    assert!(matches!(e, ApiError::PreconditionFailed), "{e:?}");
    assert!(twin.get("lock").await.expect("get") == b"owner 1");

    let e = failure(twin.put_if("lock", b"owner 2", if_match("0123-1")).await);
    assert!(matches!(e, ApiError::PreconditionFailed), "{e:?}");
    let swapped = twin
        .put_if("lock", b"owner 2", if_match(&client_etag(&first.etag)))
        .await
        .expect("swap");
    assert_ne!(swapped.etag, first.etag);
    assert_replicated(&twin, "lock");
    assert!(twin.get("lock").await.expect("get") == b"owner 2");
    let e = failure(
        twin.put_if("lock", b"owner 3", if_match(&client_etag(&first.etag)))
            .await,
    );
    assert!(
        matches!(e, ApiError::PreconditionFailed),
        "a second swap from the same ETag: {e:?}"
    );
    twin.put_if("lock", b"owner 3", WriteCondition::IfMatch(None))
        .await
        .expect("If-Match: * on an existing key");

    let e = failure(twin.put_if("nothing", b"x", if_match(&client_etag(&first.etag))).await);
    assert!(matches!(e, ApiError::NoSuchKey), "If-Match on a missing key: {e:?}");
    assert!(twin.b().raw(BUCKET, "nothing").is_none());
    assert_replicated(&twin, "lock");
}

#[tokio::test(start_paused = true)]
async fn the_deciding_region_wins_where_the_regions_disagree() {
    let twin = Twin::with_bucket("all").await;
    // b holds a copy a does not (a writer racing through another gateway, say): b alone would
    // refuse the create; a decides, and b ends up with a's answer.
    let stray = &twin.regions.all()[1];
    let metadata = std::collections::HashMap::new();
    stray
        .put_object(
            BUCKET,
            "k",
            3,
            &metadata,
            crate::upstream::PutCondition::Always,
            crate::testing::frames(b"odd"),
        )
        .await
        .expect("stray copy in b");
    twin.put_if("k", b"created", WriteCondition::IfAbsent)
        .await
        .expect("a has no such key, so the create holds");
    assert_replicated(&twin, "k");
    assert!(twin.get("k").await.expect("get") == b"created");

    // The other way round: a holds the key, b does not. Refused, and b is left as it was.
    twin.regions.all()[1]
        .delete_object(BUCKET, "k")
        .await
        .expect("delete b's copy");
    let e = failure(twin.put_if("k", b"again", WriteCondition::IfAbsent).await);
    assert!(matches!(e, ApiError::PreconditionFailed), "{e:?}");
    assert!(twin.b().raw(BUCKET, "k").is_none(), "a refused write touched b");
    assert_eq!(
        twin.reserved_keys(1, "staging/put/"),
        Vec::<String>::new(),
        "staged body left"
    );
}

#[tokio::test(start_paused = true)]
async fn a_conditional_write_waits_for_the_deciding_region_to_be_up_and_current() {
    let twin = Twin::with_bucket("one").await;
    twin.a().set_down(true);
    let e = failure(twin.put_if("k", b"v1", WriteCondition::IfAbsent).await);
    assert_eq!(e.code(), s3s::S3ErrorCode::ServiceUnavailable, "a is down: {e:?}");
    assert!(twin.b().raw(BUCKET, "k").is_none(), "written to b without a's decision");
    // An unconditional write goes to b alone (policy one); a is then behind for the key.
    twin.put("k", b"v1").await.expect("put to b alone");
    twin.a().set_down(false);
    let e = failure(twin.put_if("k", b"v2", WriteCondition::IfAbsent).await);
    assert_eq!(
        e.code(),
        s3s::S3ErrorCode::ServiceUnavailable,
        "a is behind for k: {e:?}"
    );
    let refused = twin
        .regions
        .metrics()
        .conditional_writes_refused
        .with_label_values(&["a"]);
    assert_eq!(
        refused.get(),
        1,
        "the refusal for lag is counted (the one for a down is not)"
    );

    twin.repairer().replay_journal().await.expect("repair");
    let e = failure(twin.put_if("k", b"v2", WriteCondition::IfAbsent).await);
    assert!(
        matches!(e, ApiError::PreconditionFailed),
        "decided once a is current: {e:?}"
    );
    twin.put_if("other", b"v", WriteCondition::IfAbsent)
        .await
        .expect("another key was never behind");

    // b down under policy one: decided by a, journaled for b, read back from a.
    twin.b().set_down(true);
    twin.put_if("new", b"made while b was down", WriteCondition::IfAbsent)
        .await
        .expect("a decides; b's miss is journaled");
    twin.b().set_down(false);
    assert!(twin.get("new").await.expect("get") == b"made while b was down");
    let pending = twin.pending(0).await;
    assert!(
        pending.iter().any(|p| p.record.keys == ["new".to_owned()]),
        "b's miss is not journaled: {pending:?}"
    );
    twin.repairer().replay_journal().await.expect("repair");
    assert_replicated(&twin, "new");
}

/// Completes upload `id` of `key` with `parts` under `condition`.
async fn complete_if(
    twin: &Twin,
    key: &str,
    id: &str,
    parts: &[(i32, String)],
    condition: WriteCondition,
) -> crate::error::ApiResult<crate::upstream::StoredObject> {
    let requested = crate::testing::requested(parts);
    let completed = twin
        .store
        .complete_upload_if((BUCKET, key), id, (&requested, None), &condition, None)
        .await;
    completed.map(|(stored, _)| stored)
}

#[tokio::test(start_paused = true)]
async fn conditional_completes_are_decided_by_one_region_and_leave_a_refused_upload_open() {
    let twin = Twin::with_bucket("all").await;
    // b alone holds a stray copy: a decides, so the create holds and b ends with a's answer.
    twin.regions.all()[1]
        .put_small(BUCKET, "doc", bytes::Bytes::from_static(b"odd"))
        .await
        .expect("stray copy in b");
    let (id, parts) = upload(&twin, "doc", &[b"first version"]).await;
    let first = complete_if(&twin, "doc", &id, &parts, WriteCondition::IfAbsent)
        .await
        .expect("create");
    assert_replicated(&twin, "doc");

    let (id, parts) = upload(&twin, "doc", &[b"second version"]).await;
    let e = failure(complete_if(&twin, "doc", &id, &parts, WriteCondition::IfAbsent).await);
    assert!(matches!(e, ApiError::PreconditionFailed), "{e:?}");
    let e = failure(complete_if(&twin, "doc", &id, &parts, if_match("0123-1")).await);
    assert!(matches!(e, ApiError::PreconditionFailed), "{e:?}");
    assert!(twin.get("doc").await.expect("get") == b"first version");
    assert_replicated(&twin, "doc");
    // The refused upload is still open: a swap from the current ETag completes it.
    complete_if(&twin, "doc", &id, &parts, if_match(&client_etag(&first.etag)))
        .await
        .expect("swap");
    assert!(twin.get("doc").await.expect("get") == b"second version");
    assert_replicated(&twin, "doc");

    let (id, parts) = upload(&twin, "missing", &[b"x"]).await;
    let e = failure(complete_if(&twin, "missing", &id, &parts, WriteCondition::IfMatch(None)).await);
    assert!(matches!(e, ApiError::NoSuchKey), "If-Match on a missing key: {e:?}");
    assert!(twin.b().raw(BUCKET, "missing").is_none());
}

#[tokio::test(start_paused = true)]
async fn conditional_copies_are_decided_by_one_region() {
    let twin = Twin::with_bucket("all").await;
    twin.put("src", b"source bytes").await.expect("put source");
    let copy = |condition| super::CopyRequest {
        source: (BUCKET, "src"),
        target: (BUCKET, "dst"),
        source_sse_c: None,
        target_sse_c: None,
        conditions: Conditions::default(),
        replace: None,
        tags: None,
        condition,
    };
    let e = failure(twin.store.copy_object(copy(if_match("0123-1"))).await);
    assert!(matches!(e, ApiError::NoSuchKey), "If-Match on a missing target: {e:?}");
    let made = twin
        .store
        .copy_object(copy(WriteCondition::IfAbsent))
        .await
        .expect("copy to a new key");
    assert_replicated(&twin, "dst");
    let e = failure(twin.store.copy_object(copy(WriteCondition::IfAbsent)).await);
    assert!(matches!(e, ApiError::PreconditionFailed), "{e:?}");
    let e = failure(twin.store.copy_object(copy(if_match("0123-1"))).await);
    assert!(matches!(e, ApiError::PreconditionFailed), "{e:?}");

    twin.put("src", b"newer source").await.expect("overwrite source");
    twin.store
        .copy_object(copy(if_match(&client_etag(&made.etag))))
        .await
        .expect("swap");
    assert!(twin.get("dst").await.expect("get") == b"newer source");
    assert_replicated(&twin, "dst");
}

/// The keys a v2 listing of [`BUCKET`] shows, every page followed (pages of `max_keys`).
async fn listed_keys(twin: &Twin, max_keys: i32) -> Vec<String> {
    let mut keys = Vec::new();
    let mut request = super::ListRequest {
        max_keys: Some(max_keys),
        ..Default::default()
    };
    loop {
        let page = twin.store.list_objects_v2(BUCKET, &request).await.expect("list");
        keys.extend(page.objects.iter().filter_map(|o| o.key.clone()));
        match page.next_continuation_token {
            Some(token) if page.is_truncated == Some(true) => request.continuation_token = Some(token),
            _ => return keys,
        }
    }
}

// See: issue #17 (listings while both regions are behind on one bucket).
#[tokio::test]
async fn a_listing_both_regions_are_behind_on_takes_each_key_from_the_region_current_for_it() {
    let twin = Twin::with_bucket("one").await;
    for key in ["a-kept", "b-deleted-while-a-down", "c-deleted-while-b-down", "d-kept"] {
        twin.put(key, b"v1").await.expect("put");
    }
    // Region a misses a delete and a new key; then region b misses another delete and a new key.
    twin.a().set_down(true);
    twin.store
        .delete_object(BUCKET, "b-deleted-while-a-down")
        .await
        .expect("delete");
    twin.put("e-new-while-a-down", b"v1").await.expect("put");
    twin.a().set_down(false);
    twin.b().set_down(true);
    twin.store
        .delete_object(BUCKET, "c-deleted-while-b-down")
        .await
        .expect("delete");
    twin.put("f-new-while-b-down", b"v1").await.expect("put");
    twin.b().set_down(false);
    let lag = twin.regions.lag();
    let scope = crate::replication::ReadScope::Bucket(BUCKET);
    assert!(
        lag.is_behind_for(0, scope) && lag.is_behind_for(1, scope),
        "both behind"
    );

    let expected = ["a-kept", "d-kept", "e-new-while-a-down", "f-new-while-b-down"];
    for page_size in [1000, 2, 1] {
        assert_eq!(listed_keys(&twin, page_size).await, expected, "pages of {page_size}");
    }
    let merged = twin.regions.metrics().reads_both_behind.with_label_values(&["merged"]);
    assert!(merged.get() >= 3, "merged: {}", merged.get());

    // One region down while both are behind: neither can answer alone.
    twin.b().set_down(true);
    let e = failure(twin.store.list_objects_v2(BUCKET, &Default::default()).await);
    assert!(
        matches!(e, ApiError::Upstream(ref u) if u.kind == UpstreamErrorKind::Unavailable),
        "{e:?}"
    );
    twin.b().set_down(false);

    twin.repairer().replay_journal().await.expect("repair");
    assert_eq!(listed_keys(&twin, 2).await, expected, "after repair, from one region");
}

// See: issue #17 (a key both regions may be behind on, with records not known yet).
#[tokio::test]
async fn a_key_neither_region_is_known_current_for_is_refused_not_guessed() {
    let twin = Twin::with_bucket("one").await;
    twin.put("index", b"v1").await.expect("put");
    twin.b().set_down(true);
    twin.put("index", b"v2").await.expect("put to a alone");
    twin.b().set_down(false);
    // Region a's journal of b's misses is unread here after a poll that could not read the
    // records: what b missed is unknown, and a itself is marked behind for the key by a record
    // in b's journal that this gateway has not read either.
    twin.regions.lag().apply_poll(
        0,
        twin.regions.lag().generation(),
        crate::replication::Polled {
            names: vec!["missed/a/unread".to_owned()],
            ..Default::default()
        },
    );
    let e = failure(twin.get("index").await);
    assert!(
        matches!(e, ApiError::Upstream(ref u) if u.kind == UpstreamErrorKind::Unavailable),
        "{e:?}"
    );
    let refused = twin.regions.metrics().reads_both_behind.with_label_values(&["refused"]);
    assert_eq!(refused.get(), 1);
}

#[tokio::test]
async fn expired_uploads_are_aborted_upstream_and_their_records_removed() {
    let twin = Twin::with_bucket("all").await;
    let (id, _) = upload(&twin, "old", &[b"part one"]).await;
    assert_eq!(
        twin.store.reap_expired_uploads().await.ok(),
        Some(0),
        "nothing expired yet"
    );
    assert!(!reserved_empty(&twin, "uploads/"));
    let mut config = twin.config.clone();
    config.multipart.upload_ttl = Duration::ZERO;
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new().expect("metrics"));
    let keyring = crate::keyring::LiveKeyring::fixed(crate::testing::keyring(&config).clone());
    let reaper = super::Store::new(&config, keyring, std::sync::Arc::clone(&twin.regions), metrics);
    // The record is older than the TTL at once, the id (dated in whole seconds) only once
    // the next second began: until then the id is live, and its upload is left alone.
    let created = super::upload_id::UploadState::open(crate::testing::keyring(&config), BUCKET, "old", &id)
        .expect("open")
        .created_unix_secs
        .expect("a dated id");
    let same_second = SystemTime::UNIX_EPOCH + Duration::from_millis(created * 1000 + 999);
    assert_eq!(
        reaper.reap_expired_uploads_at(same_second).await.ok(),
        Some(0),
        "reaped while its id is still live"
    );
    assert!(!reserved_empty(&twin, "uploads/"));
    let later = SystemTime::now() + Duration::from_secs(2);
    assert_eq!(reaper.reap_expired_uploads_at(later).await.ok(), Some(1));
    assert!(reserved_empty(&twin, "uploads/"), "upload records left");
    let parts = twin.store.list_parts((BUCKET, "old"), &id, None).await;
    assert!(
        matches!(&parts, Err(ApiError::Upstream(e)) if e.kind == UpstreamErrorKind::NoSuchUpload),
        "the upstream upload is still there: {parts:?}"
    );
    assert_eq!(
        reaper.reap_expired_uploads_at(later).await.ok(),
        Some(0),
        "a second round finds nothing"
    );
}
