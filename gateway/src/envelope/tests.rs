//! Round-trip, tamper and property tests of the envelope.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use proptest::prelude::*;

use super::format::*;
use super::*;
use crate::keyring::{Kek, Keyring};

const ID: ObjectIdentity<'static> = ObjectIdentity {
    bucket: "photos",
    key: "2024/cat.jpg",
};

fn keyring() -> Keyring {
    let k1 = Kek::new("k1", [1u8; 32]).expect("valid id");
    let k2 = Kek::new("k2", [2u8; 32]).expect("valid id");
    Keyring::new("k2", vec![k1, k2]).expect("valid keyring")
}

fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Splits `data` into chunks of pseudo-random sizes derived from `seed`.
fn chunked(data: &[u8], seed: u64) -> Vec<Result<Bytes, std::io::Error>> {
    let mut out = Vec::new();
    let mut state = seed | 1;
    let mut at = 0;
    while at < data.len() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let size = (state % 150_000) as usize + 1;
        let end = (at + size).min(data.len());
        out.push(Ok(Bytes::copy_from_slice(&data[at..end])));
        at = end;
    }
    out
}

async fn seal_all(dek: &DataKey, part: u32, data: &[u8], seed: u64) -> Vec<u8> {
    let input = stream::iter(chunked(data, seed));
    let sealed = SealStream::new(input, SegmentSealer::new(dek, part), Some(data.len() as u64));
    let parts: Vec<Bytes> = sealed.try_collect().await.expect("seal succeeds");
    parts.concat()
}

async fn open_all(dek: &DataKey, layout: StreamLayout, stored: &[u8], seed: u64) -> Result<Vec<u8>, EnvelopeError> {
    let input = stream::iter(chunked(stored, seed));
    let parts: Vec<Bytes> = OpenStream::new(input, dek, layout).try_collect().await?;
    Ok(parts.concat())
}

async fn open_stored(dek: &DataKey, stored: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let layout = StreamLayout::from_stored_len(0, stored.len() as u64)?;
    open_all(dek, layout, stored, 7).await
}

const SEG: usize = SEGMENT_PLAINTEXT_LEN as usize;
const SIZES: &[usize] = &[0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 5 * SEG + 17];

#[tokio::test]
async fn round_trips_every_boundary_size_with_random_chunking() {
    let dek = DataKey::generate();
    for &size in SIZES {
        let data = patterned(size);
        for seed in [1u64, 99, 12345] {
            let stored = seal_all(&dek, 0, &data, seed).await;
            assert_eq!(stored.len() as u64, ciphertext_len(size as u64), "size {size}");
            assert_eq!(plaintext_len(stored.len() as u64), Some(size as u64));
            let opened = open_stored(&dek, &stored).await.expect("opens");
            assert_eq!(opened, data, "size {size} seed {seed}");
        }
    }
}

#[tokio::test]
async fn ranges_open_only_the_covering_segments() {
    let dek = DataKey::generate();
    let size = 4 * SEG + 100;
    let data = patterned(size);
    let stored = seal_all(&dek, 0, &data, 3).await;
    let cases = [
        (0, 0),
        (0, size - 1),
        (SEG - 1, SEG),
        (SEG, 2 * SEG - 1),
        (3 * SEG + 5, size + 50),
        (size - 1, size - 1),
    ];
    for (start, end) in cases {
        let (layout, span) = StreamLayout::for_range(0, size as u64, start as u64, end as u64).expect("satisfiable");
        let slice = &stored[span.stored_start as usize..=span.stored_end as usize];
        let opened = open_all(&dek, layout, slice, 5).await.expect("range opens");
        let end = end.min(size - 1);
        assert_eq!(opened, data[start..=end], "range {start}-{end}");
    }
    assert!(StreamLayout::for_range(0, size as u64, size as u64, size as u64 + 1).is_none());
}

#[tokio::test]
async fn every_tamper_is_detected() {
    let dek = DataKey::generate();
    let data = patterned(3 * SEG + 10);
    let stored = seal_all(&dek, 0, &data, 11).await;
    let seg = SEGMENT_STORED_LEN as usize;

    for position in [0, 5, NONCE_LEN + 3, seg - 1, seg + 100, stored.len() - 1] {
        let mut flipped = stored.clone();
        flipped[position] ^= 0x01;
        assert!(open_stored(&dek, &flipped).await.is_err(), "bit flip at {position}");
    }
    // Truncation at a segment boundary: the last remaining segment was not sealed as final.
    let cut = &stored[..2 * seg];
    assert!(matches!(
        open_stored(&dek, cut).await,
        Err(EnvelopeError::Truncated { segment: 2 })
    ));
    // Truncation inside a segment.
    assert!(open_stored(&dek, &stored[..stored.len() - 3]).await.is_err());
    // Extension: a stray byte or a whole extra segment.
    let mut extended = stored.clone();
    extended.push(0);
    assert!(open_stored(&dek, &extended).await.is_err());
    let layout = StreamLayout::whole(0, data.len() as u64);
    let mut doubled = stored.clone();
    doubled.extend_from_slice(&stored[..seg]);
    assert!(matches!(
        open_all(&dek, layout, &doubled, 1).await,
        Err(EnvelopeError::TrailingData)
    ));
    // Reordering two segments.
    let mut swapped = stored.clone();
    swapped[..seg].copy_from_slice(&stored[seg..2 * seg]);
    swapped[seg..2 * seg].copy_from_slice(&stored[..seg]);
    assert!(matches!(
        open_stored(&dek, &swapped).await,
        Err(EnvelopeError::SegmentAuth { segment: 0 })
    ));
}

#[tokio::test]
async fn segments_do_not_move_between_objects_parts_or_uploads() {
    let dek = DataKey::generate();
    let data = patterned(2 * SEG);
    let a = seal_all(&dek, 1, &data, 1).await;
    let b = seal_all(&dek, 1, &data, 2).await; // a re-upload of the same part: new stream id
    let c = seal_all(&dek, 2, &data, 3).await;
    let layout = StreamLayout::whole(1, data.len() as u64);
    let seg = SEGMENT_STORED_LEN as usize;
    let mut spliced = a.clone();
    spliced[seg..].copy_from_slice(&b[seg..]);
    assert!(
        open_all(&dek, layout, &spliced, 1).await.is_err(),
        "segments from two uploads of one part"
    );
    assert!(
        open_all(&dek, layout, &c, 1).await.is_err(),
        "part 2 presented as part 1"
    );
    let other = DataKey::generate();
    assert!(open_all(&other, layout, &a, 1).await.is_err(), "another object's key");
    assert_eq!(open_all(&dek, layout, &a, 1).await.expect("genuine opens"), data);
}

#[tokio::test]
async fn seal_refuses_a_body_of_the_wrong_length() {
    let dek = DataKey::generate();
    for (declared, actual) in [(10u64, 9usize), (10, 11), (0, 1)] {
        let input = stream::iter(chunked(&patterned(actual), 1));
        let result: Result<Vec<Bytes>, _> = SealStream::new(input, SegmentSealer::new(&dek, 0), Some(declared))
            .try_collect()
            .await;
        assert!(
            matches!(result, Err(EnvelopeError::LengthMismatch { .. })),
            "{declared} vs {actual}"
        );
    }
}

#[tokio::test]
async fn input_errors_end_the_stream_with_an_error() {
    let dek = DataKey::generate();
    let input = stream::iter(vec![
        Ok(Bytes::from_static(b"abc")),
        Err(std::io::Error::other("client went away")),
    ]);
    let mut sealed = SealStream::new(input, SegmentSealer::new(&dek, 0), None);
    assert!(matches!(sealed.next().await, Some(Err(EnvelopeError::Input(_)))));
    assert!(sealed.next().await.is_none());
}

#[test]
fn header_binds_the_object_and_the_key() {
    let ring = keyring();
    let (header, dek) = ObjectHeader::create(&ring, ID, None).expect("create");
    assert_eq!(header.key_id(), "k2");
    let parsed = ObjectHeader::from_metadata_value(&header.to_metadata_value()).expect("parses");
    assert_eq!(parsed, header);
    assert_eq!(parsed.unwrap(&ring, ID, None).expect("unwraps").0, dek.0);

    let moved = ObjectIdentity {
        bucket: "photos",
        key: "2024/dog.jpg",
    };
    assert!(matches!(
        header.unwrap(&ring, moved, None),
        Err(EnvelopeError::KeyUnwrapFailed)
    ));
    let other_bucket = ObjectIdentity {
        bucket: "photos2",
        key: ID.key,
    };
    assert!(matches!(
        header.unwrap(&ring, other_bucket, None),
        Err(EnvelopeError::KeyUnwrapFailed)
    ));

    let wrong = Keyring::new("k2", vec![Kek::new("k2", [9u8; 32]).expect("id")]).expect("ring");
    assert!(matches!(
        header.unwrap(&wrong, ID, None),
        Err(EnvelopeError::KeyUnwrapFailed)
    ));
    let only_k1 = Keyring::new("k1", vec![Kek::new("k1", [1u8; 32]).expect("id")]).expect("ring");
    assert!(matches!(
        header.unwrap(&only_k1, ID, None),
        Err(EnvelopeError::UnknownKeyId(_))
    ));

    let mut bytes = header.to_bytes();
    for i in 0..bytes.len() {
        bytes[i] ^= 0x80;
        assert!(
            ObjectHeader::from_bytes(&bytes)
                .and_then(|h| h.unwrap(&ring, ID, None))
                .is_err(),
            "byte {i}"
        );
        bytes[i] ^= 0x80;
    }
}

#[test]
fn rotation_rewraps_under_the_current_key_and_old_keys_still_open() {
    let k1 = Kek::new("k1", [1u8; 32]).expect("id");
    let old_ring = Keyring::new("k1", vec![k1.clone()]).expect("ring");
    let (header, dek) = ObjectHeader::create(&old_ring, ID, None).expect("create");
    let ring = keyring();
    assert_eq!(header.unwrap(&ring, ID, None).expect("old key still opens").0, dek.0);
    let rotated = header.rewrap(&ring, ID, ID, None, None).expect("rewrap");
    assert_eq!(rotated.key_id(), "k2");
    assert_eq!(rotated.unwrap(&ring, ID, None).expect("opens").0, dek.0);
}

#[test]
fn customer_keys_are_required_and_checked() {
    let ring = keyring();
    let ck = CustomerKey([7u8; 32]);
    let (header, dek) = ObjectHeader::create(&ring, ID, Some(&ck)).expect("create");
    assert!(header.requires_customer_key());
    assert_eq!(header.unwrap(&ring, ID, Some(&ck)).expect("opens").0, dek.0);
    assert!(matches!(
        header.unwrap(&ring, ID, None),
        Err(EnvelopeError::CustomerKeyRequired)
    ));
    let wrong = CustomerKey([8u8; 32]);
    assert!(matches!(
        header.unwrap(&ring, ID, Some(&wrong)),
        Err(EnvelopeError::KeyUnwrapFailed)
    ));
    let (plain, _) = ObjectHeader::create(&ring, ID, None).expect("create");
    assert!(matches!(
        plain.unwrap(&ring, ID, Some(&ck)),
        Err(EnvelopeError::CustomerKeyNotExpected)
    ));
}

#[test]
fn attributes_round_trip_and_detect_tampering() {
    let dek = DataKey::generate();
    let mut attrs = ObjectAttributes {
        content_type: Some("image/jpeg".into()),
        ..Default::default()
    };
    attrs.user_metadata.insert("author".into(), "Ada".into());
    let sealed = attrs.seal(&dek).expect("seal");
    assert!(!sealed.contains("Ada") && !sealed.contains("jpeg"));
    assert_eq!(ObjectAttributes::open(&dek, &sealed).expect("open"), attrs);
    assert!(ObjectAttributes::open(&DataKey::generate(), &sealed).is_err());
    let mut chars: Vec<char> = sealed.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert!(ObjectAttributes::open(&dek, &tampered).is_err());
}

#[test]
fn attributes_written_before_and_after_checksums_and_tags_read_both_ways() {
    // Written before `ck` and `tg` existed: no checksum, no tags.
    let old: ObjectAttributes = serde_json::from_str(r#"{"ct":"text/plain","m":{"a":"1"}}"#).expect("old json");
    assert_eq!((old.checksum, old.tags.len()), (None, 0));
    let new = ObjectAttributes {
        checksum: Some(crate::envelope::ObjectChecksum {
            algorithm: "CRC32".into(),
            kind: "FULL_OBJECT".into(),
            value: "VpnA+A==".into(),
            ..Default::default()
        }),
        tags: vec![("project".into(), "blue".into())],
        ..Default::default()
    };
    let json = serde_json::to_string(&new).expect("json");
    assert_eq!(
        json,
        r#"{"ck":{"a":"CRC32","t":"FULL_OBJECT","v":"VpnA+A=="},"tg":[["project","blue"]]}"#
    );
    // A reader from before them sees the fields it knows (serde ignores the others, FORMAT.md §10).
    #[derive(serde::Deserialize)]
    struct BeforeChecksums {
        #[serde(rename = "ct")]
        _content_type: Option<String>,
    }
    assert!(serde_json::from_str::<BeforeChecksums>(&json).is_ok());
    // An algorithm a later gateway adds still opens.
    let later: ObjectAttributes =
        serde_json::from_str(r#"{"ck":{"a":"XXH3","t":"FULL_OBJECT","v":"AA=="},"zz":1}"#).expect("later json");
    assert_eq!(later.checksum.map(|c| c.algorithm), Some("XXH3".to_owned()));
    let dek = DataKey::generate();
    assert_eq!(
        ObjectAttributes::open(&dek, &new.seal(&dek).expect("seal")).expect("open"),
        new
    );
}

proptest! {
    #[test]
    fn stored_length_round_trips(plain in 0u64..(1 << 40)) {
        prop_assert_eq!(plaintext_len(ciphertext_len(plain)), Some(plain));
    }

    #[test]
    fn stored_length_inverse_is_exact(stored in 0u64..(1 << 24)) {
        if let Some(plain) = plaintext_len(stored) {
            prop_assert_eq!(ciphertext_len(plain), stored);
        }
    }

    #[test]
    fn spans_cover_exactly_the_range(len in 1u64..(1 << 30), a in 0u64..(1 << 30), b in 0u64..(1 << 30)) {
        let (start, end) = (a.min(b) % len, a.max(b));
        let span = span_for_range(len, start, end).expect("start < len");
        let end = end.min(len - 1);
        prop_assert_eq!(span.first_segment * SEGMENT_PLAINTEXT_LEN + span.skip, start);
        prop_assert_eq!(span.len, end - start + 1);
        prop_assert!(span.skip + span.len <= (span.last_segment - span.first_segment + 1) * SEGMENT_PLAINTEXT_LEN);
        prop_assert!(span.stored_end < ciphertext_len(len));
        prop_assert_eq!(span.stored_start % SEGMENT_STORED_LEN, 0);
    }
}

// === the gateway against the reference implementation ===

/// Seals `data` as part `part` with a chosen stream id, in chunks drawn from `seed`.
fn seal_with_id(dek: &DataKey, part: u32, stream_id: [u8; 8], data: &[u8], seed: u64) -> Vec<u8> {
    let input = stream::iter(chunked(data, seed));
    let sealer = SegmentSealer::with_stream_id(dek, part, stream_id);
    let sealed = SealStream::new(input, sealer, Some(data.len() as u64));
    let segments: Vec<Bytes> = futures::executor::block_on(sealed.try_collect()).expect("seal succeeds");
    segments.concat()
}

fn stream_id(part: u32, tail: [u8; 6]) -> [u8; 8] {
    let mut id = [0u8; 8];
    id[..2].copy_from_slice(&u16::try_from(part).expect("part fits u16").to_be_bytes());
    id[2..].copy_from_slice(&tail);
    id
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Both implementations seal the same bytes at any size and chunking, each opens the
    /// other's, and both reject the same corrupted stream.
    #[test]
    fn gateway_and_reference_agree_on_single_streams(
        len in 0usize..(3 * SEG + 2),
        part in 0u32..3,
        tail in any::<[u8; 6]>(),
        seed in any::<u64>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let dek = DataKey::generate();
        let id = stream_id(part, tail);
        let data = patterned(len);
        let ours = seal_with_id(&dek, part, id, &data, seed);
        let theirs = reference::seal_stream(&dek.0, part, id, &data);
        prop_assert!(ours == theirs, "sealed bytes differ");
        prop_assert_eq!(reference::open_stream(&dek.0, part, &ours), Some(data.clone()));
        let layout = StreamLayout::from_stored_len(part, theirs.len() as u64).expect("valid length");
        let opened = futures::executor::block_on(open_all(&dek, layout, &theirs, seed ^ 1));
        prop_assert_eq!(opened.ok(), Some(data));

        let mut corrupted = theirs;
        corrupted[flip.index(ours.len())] ^= 0x01;
        prop_assert_eq!(reference::open_stream(&dek.0, part, &corrupted), None);
        prop_assert!(futures::executor::block_on(open_all(&dek, layout, &corrupted, seed)).is_err());
    }

    /// Multipart objects: parts of whole segments, then a short last part.
    #[test]
    fn gateway_and_reference_agree_on_multipart_objects(
        full_parts in proptest::collection::vec(1usize..3, 0..3),
        last_len in 1usize..(SEG + 100),
        tail in any::<[u8; 6]>(),
        seed in any::<u64>(),
    ) {
        let dek = DataKey::generate();
        let lens: Vec<usize> = full_parts.iter().map(|n| n * SEG).chain([last_len]).collect();
        let data = patterned(lens.iter().sum());
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut at = 0;
        for (number, len) in (1u32..).zip(&lens) {
            let piece = &data[at..at + len];
            ours.extend_from_slice(&seal_with_id(&dek, number, stream_id(number, tail), piece, seed));
            theirs.extend_from_slice(&reference::seal_stream(&dek.0, number, stream_id(number, tail), piece));
            at += len;
        }
        prop_assert!(ours == theirs, "sealed bytes differ");
        prop_assert_eq!(reference::open_parts(&dek.0, &ours), Some(data.clone()));
        let layout = StreamLayout::from_stored_len(0, theirs.len() as u64).expect("valid length");
        let input = stream::iter(chunked(&theirs, seed));
        let opened: Result<Vec<Bytes>, _> =
            futures::executor::block_on(OpenStream::with_opener(input, PartsOpener::new(&dek, layout), layout).try_collect());
        prop_assert_eq!(opened.ok().map(|parts| parts.concat()), Some(data));
    }
}

#[test]
fn gateway_and_reference_open_each_others_headers_and_attributes() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let ring = keyring();
    let ck = CustomerKey([7u8; 32]);
    for customer_key in [None, Some(&ck)] {
        let wrap = reference::Wrap {
            kek_id: "k2",
            kek: &[2u8; 32],
            customer_key: customer_key.map(|ck| &ck.0),
            bucket: ID.bucket,
            key: ID.key,
        };
        let (header, dek) = ObjectHeader::create(&ring, ID, customer_key).expect("create");
        assert_eq!(wrap.unwrap(&header.to_bytes()), Some(dek.0), "reference unwraps ours");
        let theirs = ObjectHeader::from_bytes(&wrap.header(&dek.0, [5u8; 12])).expect("parses");
        assert_eq!(
            theirs.unwrap(&ring, ID, customer_key).expect("we unwrap theirs").0,
            dek.0
        );
    }

    let dek = DataKey::generate();
    let mut attrs = ObjectAttributes {
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    attrs.user_metadata.insert("author".into(), "Ada".into());
    let ours = URL_SAFE_NO_PAD.decode(attrs.seal(&dek).expect("seal")).expect("base64");
    let json = reference::open_attrs(&dek.0, &ours).expect("reference opens ours");
    assert_eq!(serde_json::from_slice::<ObjectAttributes>(&json).expect("json"), attrs);
    let theirs = URL_SAFE_NO_PAD.encode(reference::seal_attrs(&dek.0, [9u8; 12], &json));
    assert_eq!(ObjectAttributes::open(&dek, &theirs).expect("we open theirs"), attrs);
}
