//! `Upstream` over the memory backend: the S3 behaviour the gateway relies on (a conformance
//! suite that takes any `Upstream`, so a real store can run it too), and the breaker and
//! timeout wrapped around every call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use md5::{Digest, Md5};

use super::{
    BREAKER_OPEN, Backend, Health, ListRequest, MemoryBackend, PutCondition, StoredObject, Upstream, UpstreamError,
    UpstreamErrorKind as Kind,
};
use crate::metrics::Metrics;

const TIMEOUT: Duration = Duration::from_secs(2);

fn region(backend: &Arc<MemoryBackend>, breaker_failures: u32) -> (Upstream, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new().unwrap_or_else(|e| panic!("{e}")));
    let health = Health::new(breaker_failures, Duration::from_secs(60));
    let backend: Arc<dyn Backend> = Arc::clone(backend) as Arc<dyn Backend>;
    let up = Upstream::with_backend("a", "{bucket}-a", TIMEOUT, health, Arc::clone(&metrics), backend);
    (up, metrics)
}

fn memory_region() -> Upstream {
    region(&Arc::new(MemoryBackend::new()), 5).0
}

type Frames = Vec<Result<http_body::Frame<Bytes>, std::io::Error>>;

/// `bytes` as a request body of a few frames.
fn body(bytes: &[u8]) -> impl Stream<Item = Result<http_body::Frame<Bytes>, std::io::Error>> + Send + Sync + 'static {
    let frames: Frames = bytes
        .chunks(3)
        .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    futures::stream::iter(frames)
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn kind<T>(result: Result<T, UpstreamError>) -> Option<Kind> {
    result.err().map(|e| e.kind)
}

async fn put(up: &Upstream, bucket: &str, key: &str, bytes: &[u8]) -> StoredObject {
    let metadata = HashMap::from([("tv-header".to_owned(), format!("header of {key}"))]);
    up.put_object(
        bucket,
        key,
        bytes.len() as u64,
        &metadata,
        PutCondition::Always,
        body(bytes),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn read(up: &Upstream, bucket: &str, key: &str, range: Option<(u64, u64)>) -> Vec<u8> {
    let got = up
        .get_object(bucket, key, range, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = got.body.collect().await.unwrap_or_else(|e| panic!("{e}"));
    bytes.into_bytes().to_vec()
}

async fn bucket(up: &Upstream, name: &str) {
    up.create_bucket(name).await.unwrap_or_else(|e| panic!("{e}"));
}

// === conformance: what the gateway relies on from any S3 store ===

/// Buckets, PUT, GET, HEAD, conditional PUT, and the errors of missing things.
pub async fn objects_round_trip(up: &Upstream) {
    bucket(up, "photos").await;
    assert_eq!(
        kind(up.create_bucket("photos").await),
        Some(Kind::BucketAlreadyOwnedByYou)
    );
    assert!(up.head_bucket("photos").await.is_ok());
    assert_eq!(kind(up.head_bucket("nothing").await), Some(Kind::NoSuchBucket));
    let names = up.list_buckets().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(names.iter().any(|(name, _)| name == "photos"), "{names:?}");

    let stored = put(up, "photos", "cat.jpg", b"ciphertext of a cat").await;
    assert_eq!(stored.etag, md5_hex(b"ciphertext of a cat"));
    let metadata = HashMap::new();
    let again = up
        .put_object("photos", "cat.jpg", 3, &metadata, PutCondition::IfAbsent, body(b"new"))
        .await;
    assert_eq!(kind(again), Some(Kind::PreconditionFailed));
    let stale = up
        .put_object(
            "photos",
            "cat.jpg",
            3,
            &metadata,
            PutCondition::IfMatch(&md5_hex(b"other")),
            body(b"new"),
        )
        .await;
    assert_eq!(
        kind(stale),
        Some(Kind::PreconditionFailed),
        "If-Match with another ETag"
    );
    let absent = up
        .put_object(
            "photos",
            "no-cat",
            3,
            &metadata,
            PutCondition::IfMatch(&stored.etag),
            body(b"new"),
        )
        .await;
    assert_eq!(kind(absent), Some(Kind::NoSuchKey), "If-Match on a missing key");
    let fresh = up
        .put_object("photos", "new-cat", 3, &metadata, PutCondition::IfAbsent, body(b"new"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let swapped = up
        .put_object(
            "photos",
            "new-cat",
            5,
            &metadata,
            PutCondition::IfMatch(&fresh.etag),
            body(b"newer"),
        )
        .await
        .unwrap_or_else(|e| panic!("If-Match with the current ETag: {e}"));
    assert_eq!(swapped.etag, md5_hex(b"newer"));
    up.delete_object("photos", "new-cat")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let head = up
        .head_object("photos", "cat.jpg")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((head.etag.as_str(), head.stored_len), (stored.etag.as_str(), 19));
    assert_eq!(
        head.metadata.get("tv-header").map(String::as_str),
        Some("header of cat.jpg")
    );
    assert!(head.last_modified.is_some());
    assert_eq!(read(up, "photos", "cat.jpg", None).await, b"ciphertext of a cat");
    let small = up
        .get_small("photos", "cat.jpg", 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(small.as_ref(), b"ciphertext of a cat");
    assert_eq!(kind(up.get_small("photos", "cat.jpg", 10).await), Some(Kind::Other));

    assert_eq!(kind(up.head_object("photos", "dog.jpg").await), Some(Kind::NotFound));
    assert_eq!(
        kind(up.get_object("photos", "dog.jpg", None, None).await),
        Some(Kind::NoSuchKey)
    );
    let lost = up
        .put_object("nothing", "k", 1, &metadata, PutCondition::Always, body(b"x"))
        .await;
    assert_eq!(kind(lost), Some(Kind::NoSuchBucket));
    let short = up
        .put_object("photos", "k", 5, &metadata, PutCondition::Always, body(b"x"))
        .await;
    assert!(short.is_err(), "a body shorter than its length must not be stored");
}

/// Inclusive stored ranges, their clipping and limits, If-Match, and bodies as streams.
pub async fn ranges_and_if_match(up: &Upstream) {
    bucket(up, "ranges").await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let len = bytes.len() as u64;
    let stored = put(up, "ranges", "big", &bytes).await;

    assert_eq!(read(up, "ranges", "big", Some((10, 99))).await, &bytes[10..100]);
    assert_eq!(
        read(up, "ranges", "big", Some((len - 5, len + 100))).await,
        &bytes[bytes.len() - 5..]
    );
    let ranged = up
        .get_object("ranges", "big", Some((10, 19)), Some(&stored.etag))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ranged.object.stored_len, len,
        "a range still reports the whole stored length"
    );
    let past_end = up.get_object("ranges", "big", Some((len, len + 1)), None).await;
    assert_eq!(kind(past_end), Some(Kind::InvalidRange));
    let stale = up.get_object("ranges", "big", None, Some("0123")).await;
    assert_eq!(kind(stale), Some(Kind::PreconditionFailed));

    let mut whole = up
        .get_object("ranges", "big", None, Some(&stored.etag))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .body;
    let (mut chunks, mut total) = (0, 0);
    while let Some(chunk) = whole.next().await {
        chunks += 1;
        total += chunk.unwrap_or_else(|e| panic!("{e}")).len();
    }
    assert_eq!(total, bytes.len());
    assert!(chunks > 1, "a large body arrives as a stream of chunks");
}

fn keys_of(page: &super::ListPage) -> Vec<String> {
    let keys = page.contents().iter().filter_map(|o| o.key().map(str::to_owned));
    let prefixes = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix().map(str::to_owned));
    keys.chain(prefixes).collect()
}

/// v2 and v1 listings: key order, prefix, delimiter, page size and every way of resuming.
pub async fn listings(up: &Upstream) {
    bucket(up, "lists").await;
    for key in ["d", "a/2", "c/x/1", "b", "a/1", "c/y"] {
        put(up, "lists", key, key.as_bytes()).await;
    }
    let mut request = ListRequest {
        max_keys: Some(2),
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = up
            .list_objects_v2("lists", &request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(page.key_count().unwrap_or(0) <= 2);
        seen.extend(keys_of(&page));
        match page.next_continuation_token() {
            Some(token) if page.is_truncated() == Some(true) => request.continuation_token = Some(token.to_owned()),
            _ => break,
        }
    }
    assert_eq!(seen, ["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);

    let first = up
        .list_objects_v2("lists", &ListRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = &first.contents()[0];
    assert_eq!(super::unquote(listed.e_tag()), md5_hex(b"a/1"));
    assert_eq!(listed.size(), Some(3));
    assert!(listed.last_modified().is_some());
    assert_eq!(first.is_truncated(), Some(false));

    // One item a page, a common prefix counting as one: a/, b, c/, d.
    let mut request = ListRequest {
        delimiter: Some("/".to_owned()),
        max_keys: Some(1),
        ..Default::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = up
            .list_objects_v2("lists", &request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        pages.push(keys_of(&page));
        match page.next_continuation_token() {
            Some(token) if page.is_truncated() == Some(true) => request.continuation_token = Some(token.to_owned()),
            _ => break,
        }
    }
    assert_eq!(pages, [["a/"], ["b"], ["c/"], ["d"]]);

    let after_b = ListRequest {
        delimiter: Some("/".to_owned()),
        start_after: Some("b".to_owned()),
        ..Default::default()
    };
    let page = up
        .list_objects_v2("lists", &after_b)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(keys_of(&page), ["d", "c/"]);
    let under_c = ListRequest {
        prefix: Some("c/".to_owned()),
        delimiter: Some("/".to_owned()),
        ..Default::default()
    };
    let page = up
        .list_objects_v2("lists", &under_c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(keys_of(&page), ["c/y", "c/x/"]);
    assert_eq!(page.prefix(), Some("c/"));

    // v1: NextMarker comes with a delimiter; without one the last key is the marker.
    let mut request = ListRequest {
        delimiter: Some("/".to_owned()),
        max_keys: Some(3),
        ..Default::default()
    };
    let page = up
        .list_objects_v1("lists", &request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (keys_of(&page), page.next_marker()),
        (vec!["b".into(), "a/".into(), "c/".into()], Some("c/"))
    );
    request.marker = page.next_marker().map(str::to_owned);
    let page = up
        .list_objects_v1("lists", &request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (keys_of(&page), page.is_truncated()),
        (vec!["d".to_owned()], Some(false))
    );
    let plain = ListRequest {
        max_keys: Some(4),
        ..Default::default()
    };
    let page = up
        .list_objects_v1("lists", &plain)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((page.is_truncated(), page.next_marker()), (Some(true), None));
    let rest = ListRequest {
        marker: page.contents().last().and_then(|o| o.key()).map(str::to_owned),
        ..plain
    };
    let page = up
        .list_objects_v1("lists", &rest)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(keys_of(&page), ["c/y", "d"]);

    let missing = up.list_objects_v2("nothing", &ListRequest::default()).await;
    assert_eq!(kind(missing), Some(Kind::NoSuchBucket));
}

/// Parts (a re-upload replaces a part), ListParts, completion, the multipart ETag, part HEADs.
pub async fn multipart(up: &Upstream) {
    bucket(up, "parts").await;
    let metadata = HashMap::from([("tv-layout".to_owned(), "parts".to_owned())]);
    let id = up
        .create_multipart_upload("parts", "video", &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let target = ("parts", "video", id.as_str());
    let upload = |number: i32, bytes: &'static [u8]| async move {
        up.upload_part(target, number, bytes.len() as u64, body(bytes))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    upload(1, b"first").await;
    let two = upload(2, b"second part").await;
    let one = upload(1, b"1st!").await;
    assert_eq!(one.etag, md5_hex(b"1st!"));
    let listed = up
        .list_parts("parts", "video", &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let numbers: Vec<(i32, &str, u64)> = listed
        .iter()
        .map(|p| (p.number, p.etag.as_str(), p.stored_len))
        .collect();
    assert_eq!(numbers, [(1, one.etag.as_str(), 4), (2, two.etag.as_str(), 11)]);
    assert_eq!(up.upload_exists("parts", "video", &id).await.ok(), Some(true));

    let wrong = [(1, two.etag.clone()), (2, two.etag.clone())];
    let refused = up
        .complete_multipart_upload(("parts", "video", &id), &wrong, PutCondition::Always)
        .await;
    assert!(refused.is_err(), "completion with a part's wrong ETag must fail");
    let parts = [(1, one.etag.clone()), (2, two.etag.clone())];
    let done = up
        .complete_multipart_upload(("parts", "video", &id), &parts, PutCondition::Always)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut digests = Md5::digest(b"1st!").to_vec();
    digests.extend_from_slice(&Md5::digest(b"second part"));
    assert_eq!(done.etag, format!("{}-2", md5_hex(&digests)));
    assert_eq!(read(up, "parts", "video", None).await, b"1st!second part");
    let head = up.head_object("parts", "video").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (head.etag.as_str(), head.metadata.get("tv-layout").map(String::as_str)),
        (done.etag.as_str(), Some("parts"))
    );
    let part = up
        .head_object_part("parts", "video", 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((part.range, part.parts_count), ((4, 14), Some(2)));
    assert_eq!(
        kind(up.head_object_part("parts", "video", 3).await),
        Some(Kind::InvalidRange)
    );
    assert_eq!(up.upload_exists("parts", "video", &id).await.ok(), Some(false));
    assert!(
        up.abort_multipart_upload("parts", "video", &id).await.is_ok(),
        "abort of a gone upload is Ok"
    );

    let other = up
        .create_multipart_upload("parts", "other", &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(up.abort_multipart_upload("parts", "other", &other).await.is_ok());
    assert_eq!(up.upload_exists("parts", "other", &other).await.ok(), Some(false));
    let late = up.upload_part(("parts", "other", &other), 1, 1, body(b"x")).await;
    assert_eq!(kind(late), Some(Kind::NoSuchUpload));
}

/// CopyObject: only from the named source version, with the metadata replaced.
pub async fn copies(up: &Upstream) {
    bucket(up, "copies").await;
    let source = put(up, "copies", "from", b"the bytes").await;
    let metadata = HashMap::from([("tv-header".to_owned(), "rewritten".to_owned())]);
    let copied = up
        .copy_object(("copies", "from"), ("copies", "to"), &metadata, &source.etag)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(copied.etag, source.etag);
    let head = up.head_object("copies", "to").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(head.metadata, metadata);
    assert_eq!(read(up, "copies", "to", None).await, b"the bytes");
    let stale = up
        .copy_object(("copies", "from"), ("copies", "to"), &metadata, "0123")
        .await;
    assert_eq!(kind(stale), Some(Kind::PreconditionFailed));
    let missing = up
        .copy_object(("copies", "nope"), ("copies", "to"), &metadata, "0123")
        .await;
    assert_eq!(kind(missing), Some(Kind::NoSuchKey));
}

/// DeleteObject (Ok when absent), DeleteObjects, DeleteBucket only when empty.
pub async fn deletes(up: &Upstream) {
    bucket(up, "deletes").await;
    for key in ["a", "b", "c"] {
        put(up, "deletes", key, b"x").await;
    }
    assert!(up.delete_object("deletes", "a").await.is_ok());
    assert!(
        up.delete_object("deletes", "a").await.is_ok(),
        "deleting an absent key is Ok"
    );
    assert_eq!(kind(up.head_object("deletes", "a").await), Some(Kind::NotFound));
    assert_eq!(kind(up.delete_bucket("deletes").await), Some(Kind::BucketNotEmpty));
    let failures = up
        .delete_objects("deletes", &["b".to_owned(), "c".to_owned(), "never".to_owned()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(failures.is_empty(), "{failures:?}");
    assert!(up.delete_bucket("deletes").await.is_ok());
    assert_eq!(kind(up.delete_bucket("deletes").await), Some(Kind::NoSuchBucket));
}

#[tokio::test]
async fn memory_backend_passes_the_conformance_suite() {
    let up = memory_region();
    objects_round_trip(&up).await;
    ranges_and_if_match(&up).await;
    listings(&up).await;
    multipart(&up).await;
    copies(&up).await;
    deletes(&up).await;
}

#[tokio::test]
async fn a_store_that_lists_no_etags_still_lists_them_through_upstream() {
    let backend = Arc::new(MemoryBackend::new());
    let (up, _) = region(&backend, 5);
    bucket(&up, "photos").await;
    let stored = put(&up, "photos", "cat.jpg", b"ciphertext of a cat").await;
    put(&up, "photos", "dog.jpg", b"ciphertext of a dog").await;
    backend.set_listings_without_etags(true);
    let heads_before = backend.calls("HeadObject");
    let v2 = up
        .list_objects_v2("photos", &ListRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let v1 = up
        .list_objects_v1("photos", &ListRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for page in [&v2, &v1] {
        assert_eq!(page.contents().len(), 2);
        assert_eq!(
            page.contents()[0].e_tag(),
            Some(stored.etag.as_str()),
            "looked up by HEAD"
        );
        assert!(page.contents().iter().all(|o| o.e_tag().is_some_and(|e| !e.is_empty())));
    }
    assert_eq!(
        backend.calls("HeadObject"),
        heads_before + 4,
        "one HEAD per object and listing"
    );
    backend.set_listings_without_etags(false);
    up.list_objects_v2("photos", &ListRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        backend.calls("HeadObject"),
        heads_before + 4,
        "no HEAD when the store lists ETags"
    );
}

// === the wrapping around every backend call ===

#[tokio::test]
async fn client_buckets_are_mapped_through_the_template() {
    let backend = Arc::new(MemoryBackend::new());
    let (up, _) = region(&backend, 5);
    bucket(&up, "photos").await;
    backend
        .create_bucket("not-ours")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = up
        .list_buckets()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["photos"], "only buckets following the template are listed");
    assert!(backend.head_bucket("photos-a").await.is_ok());
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_unavailable_answers() {
    let backend = Arc::new(MemoryBackend::new());
    let (up, metrics) = region(&backend, 3);
    bucket(&up, "b").await;
    for _ in 0..5 {
        assert_eq!(kind(up.head_object("b", "missing").await), Some(Kind::NotFound));
    }
    assert!(!up.health().is_open(), "a not-found says the region is up");

    backend.set_down(true);
    for _ in 0..3 {
        let e = up.head_object("b", "k").await.err();
        assert!(
            e.as_ref()
                .is_some_and(|e| e.kind == Kind::Unavailable && !e.refused_by_breaker()),
            "{e:?}"
        );
        assert_eq!(e.map(|e| e.region), Some("a".to_owned()), "errors name the region");
    }
    assert!(up.health().is_open());
    let refused = up.get_object("b", "k", None, None).await.err();
    assert_eq!(refused.as_ref().map(|e| e.message.as_str()), Some(BREAKER_OPEN));
    assert!(refused.is_some_and(|e| e.refused_by_breaker()));
    assert_eq!(backend.calls("HeadObject"), 8);
    assert_eq!(backend.calls("GetObject"), 0, "a refused call never reaches the region");
    let errors = metrics
        .upstream_requests
        .with_label_values(&["a", "HeadObject", "error"]);
    assert_eq!(errors.get(), 8);
}

#[tokio::test]
async fn injected_failures_last_for_their_count() {
    let backend = Arc::new(MemoryBackend::new());
    let (up, _) = region(&backend, 5);
    bucket(&up, "b").await;
    put(&up, "b", "k", b"v").await;
    backend.fail_next("GetObject", Kind::Unavailable, 2);
    assert_eq!(kind(up.get_small("b", "k", 10).await), Some(Kind::Unavailable));
    assert_eq!(kind(up.get_small("b", "k", 10).await), Some(Kind::Unavailable));
    assert_eq!(up.get_small("b", "k", 10).await.ok().as_deref(), Some(&b"v"[..]));
    assert_eq!(backend.calls("GetObject"), 3);
    assert!(!up.health().is_open(), "the success reset the count");
}

#[tokio::test(start_paused = true)]
async fn calls_time_out_but_streamed_bodies_do_not() {
    let backend = Arc::new(MemoryBackend::new());
    let (up, _) = region(&backend, 5);
    bucket(&up, "b").await;
    backend.set_delay(Duration::from_secs(5));

    let started = tokio::time::Instant::now();
    let e = up.head_object("b", "k").await.err();
    assert_eq!(started.elapsed(), TIMEOUT);
    assert_eq!(
        e.map(|e| (e.kind, e.message)),
        Some((Kind::Unavailable, "timed out".to_owned()))
    );

    let started = tokio::time::Instant::now();
    put(&up, "b", "k", b"slow but whole").await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(5),
        "a streamed body is not cut by the call timeout"
    );
}
