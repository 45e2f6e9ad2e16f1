//! The test vectors and frozen constants published in `docs/FORMAT.md`, re-computed and opened.
//!
//! The doc is the source of the expected bytes, so the spec and the code cannot drift apart:
//! changing the format without updating the doc (or the doc without the code) fails here.
//! `integration-tests/py/format_vectors.py` checks the same vectors with an implementation
//! written from the doc alone, and so does [`super::reference`] here, on the `aes-gcm` crate:
//! each implementation opens what the other sealed.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::{TryStreamExt, stream};
use sha2::{Digest, Sha256};

use super::format::*;
use super::reference::{self, Wrap};
use super::*;
use crate::keyring::{Kek, Keyring};

const FORMAT_MD: &str = include_str!("../../../docs/FORMAT.md");

/// Every field a vector block may carry; anything else is a typo and fails the test.
const VECTOR_FIELDS: &[&str] = &[
    "vector",
    "kek_id",
    "kek",
    "customer_key",
    "dek",
    "wrap_nonce",
    "stream_id",
    "part",
    "layout",
    "part_lens",
    "stream_ids",
    "bucket",
    "key",
    "plaintext_len",
    "plaintext_hex",
    "plaintext_pattern",
    "plaintext_sha256",
    "header_hex",
    "header_metadata",
    "stored_len",
    "stored_hex",
    "stored_sha256",
    "final_segment_hex",
];

/// One ```` ```text ```` block of `name: value` lines.
struct Block(BTreeMap<String, String>);

impl Block {
    fn text(&self, name: &str) -> &str {
        let vector = self.0.get("vector").map_or("?", String::as_str);
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("vector {vector}: missing field {name}"))
    }

    fn hex(&self, name: &str) -> Vec<u8> {
        hex::decode(self.text(name)).unwrap_or_else(|e| panic!("field {name}: bad hex ({e})"))
    }

    fn array<const N: usize>(&self, name: &str) -> [u8; N] {
        let bytes = self.hex(name);
        bytes
            .try_into()
            .unwrap_or_else(|b: Vec<u8>| panic!("field {name}: {} bytes, expected {N}", b.len()))
    }

    fn number(&self, name: &str) -> u64 {
        let text = self.text(name);
        text.parse()
            .unwrap_or_else(|_| panic!("field {name}: {text:?} is not a number"))
    }
}

/// The fenced ```` ```text ```` blocks of the doc whose first line starts with `first_field:`.
fn blocks(first_field: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in FORMAT_MD.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```text") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                let is_wanted = lines.first().is_some_and(|l| l.starts_with(&format!("{first_field}:")));
                if is_wanted {
                    out.push(parse_block(lines));
                }
                current = None;
            }
            (Some(lines), l) => lines.push(l),
            (None, _) => {}
        }
    }
    out
}

fn parse_block(lines: &[&str]) -> Block {
    let mut fields = BTreeMap::new();
    for line in lines {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("line {line:?} is not `name: value`"));
        let previous = fields.insert(name.trim().to_owned(), value.trim().to_owned());
        assert!(previous.is_none(), "field {name} given twice");
    }
    Block(fields)
}

fn vectors() -> Vec<Block> {
    let vectors = blocks("vector");
    for vector in &vectors {
        for name in vector.0.keys() {
            assert!(VECTOR_FIELDS.contains(&name.as_str()), "unknown vector field {name}");
        }
    }
    vectors
}

/// The vector's plaintext: literal hex, or the generated pattern `byte[i] = i mod 251`.
fn plaintext(vector: &Block) -> Vec<u8> {
    let len = vector.number("plaintext_len") as usize;
    let data = match vector.0.get("plaintext_pattern").map(String::as_str) {
        Some("i mod 251") => (0..len).map(|i| (i % 251) as u8).collect(),
        Some(other) => panic!("unknown plaintext_pattern {other:?}"),
        None => vector.hex("plaintext_hex"),
    };
    assert_eq!(data.len(), len, "plaintext_len");
    if vector.0.contains_key("plaintext_sha256") {
        assert_eq!(
            hex::encode(Sha256::digest(&data)),
            vector.text("plaintext_sha256"),
            "plaintext_sha256"
        );
    }
    data
}

/// One sealed stream of a vector's body: a single PUT, or one part of a multipart object.
struct StreamSpec {
    part: u32,
    stream_id: [u8; 8],
    len: usize,
}

/// The streams of the vector's body, in stored order.
fn streams(vector: &Block) -> Vec<StreamSpec> {
    let specs = if vector.0.get("layout").map(String::as_str) == Some("parts") {
        let lens = vector.text("part_lens").split(',');
        let ids = vector.text("stream_ids").split(',');
        let mut specs = Vec::new();
        for (number, (len, id)) in (1u32..).zip(lens.zip(ids)) {
            let stream_id = hex::decode(id.trim()).expect("hex stream id");
            specs.push(StreamSpec {
                part: number,
                stream_id: stream_id.try_into().expect("8-byte stream id"),
                len: len.trim().parse().expect("part length"),
            });
        }
        specs
    } else {
        vec![StreamSpec {
            part: u32::try_from(vector.number("part")).expect("part fits u32"),
            stream_id: vector.array("stream_id"),
            len: vector.number("plaintext_len") as usize,
        }]
    };
    for spec in &specs {
        // The writer's convention (`stream_id_for`): the part number leads the stream id.
        let prefix = u16::try_from(spec.part).expect("part fits u16").to_be_bytes();
        assert_eq!(spec.stream_id[..2], prefix, "stream id of part {}", spec.part);
    }
    specs
}

async fn seal(dek: &DataKey, part: u32, stream_id: [u8; 8], data: &[u8]) -> Vec<u8> {
    // Uneven input chunks, so the vectors also pin down that chunking does not change the bytes.
    let chunks: Vec<Result<Bytes, std::io::Error>> = data.chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let sealer = SegmentSealer::with_stream_id(dek, part, stream_id);
    let sealed = SealStream::new(stream::iter(chunks), sealer, Some(data.len() as u64));
    let segments: Vec<Bytes> = sealed.try_collect().await.expect("vector seals");
    segments.concat()
}

async fn open(dek: &DataKey, streams: &[StreamSpec], stored: &[u8]) -> Vec<u8> {
    let input = stream::iter(vec![Ok::<_, std::io::Error>(Bytes::copy_from_slice(stored))]);
    let opened: Result<Vec<Bytes>, _> = match streams {
        [single] => {
            let layout = StreamLayout::from_stored_len(single.part, stored.len() as u64).expect("valid stored length");
            OpenStream::new(input, dek, layout).try_collect().await
        }
        _ => {
            let layout = StreamLayout::from_stored_len(0, stored.len() as u64).expect("valid stored length");
            let opener = PartsOpener::new(dek, layout);
            OpenStream::with_opener(input, opener, layout).try_collect().await
        }
    };
    opened.expect("vector opens").concat()
}

fn check_header(vector: &Block, kek: &Kek, dek: &DataKey, identity: ObjectIdentity<'_>, ck: Option<&CustomerKey>) {
    let name = vector.text("vector");
    let header = ObjectHeader::wrap(kek, dek, identity, ck, vector.array("wrap_nonce")).expect("wraps");
    assert_eq!(
        hex::encode(header.to_bytes()),
        vector.text("header_hex"),
        "{name}: header_hex"
    );
    assert_eq!(
        header.to_metadata_value(),
        vector.text("header_metadata"),
        "{name}: header_metadata"
    );

    let parsed = ObjectHeader::from_metadata_value(vector.text("header_metadata")).expect("header parses");
    let keyring = Keyring::new(kek.id(), vec![kek.clone()]).expect("keyring");
    let unwrapped = parsed.unwrap(&keyring, identity, ck).expect("header unwraps");
    assert_eq!(unwrapped.0, dek.0, "{name}: unwrapped data key");

    let wrap = Wrap {
        kek_id: kek.id(),
        kek: kek.key_bytes(),
        customer_key: ck.map(|ck| &ck.0),
        bucket: identity.bucket,
        key: identity.key,
    };
    assert_eq!(
        hex::encode(wrap.header(&dek.0, vector.array("wrap_nonce"))),
        vector.text("header_hex"),
        "{name}: reference header_hex"
    );
    assert_eq!(
        wrap.unwrap(&header.to_bytes()),
        Some(dek.0),
        "{name}: reference unwraps the gateway's header"
    );
}

async fn check_body(vector: &Block, dek: &DataKey) {
    let name = vector.text("vector");
    let data = plaintext(vector);
    let streams = streams(vector);
    let mut stored = Vec::new();
    let mut at = 0;
    for spec in &streams {
        let part_data = &data[at..at + spec.len];
        stored.extend_from_slice(&seal(dek, spec.part, spec.stream_id, part_data).await);
        at += spec.len;
    }
    assert_eq!(at, data.len(), "{name}: stream lengths add up to plaintext_len");

    assert_eq!(stored.len() as u64, vector.number("stored_len"), "{name}: stored_len");
    assert_eq!(
        ciphertext_len(data.len() as u64),
        stored.len() as u64,
        "{name}: ciphertext_len"
    );
    assert_eq!(
        plaintext_len(stored.len() as u64),
        Some(data.len() as u64),
        "{name}: plaintext_len"
    );
    if vector.0.contains_key("stored_hex") {
        assert_eq!(hex::encode(&stored), vector.text("stored_hex"), "{name}: stored_hex");
    } else {
        assert_eq!(
            hex::encode(Sha256::digest(&stored)),
            vector.text("stored_sha256"),
            "{name}: stored_sha256"
        );
    }
    if vector.0.contains_key("final_segment_hex") {
        let last = (segment_count(data.len() as u64) - 1) * SEGMENT_STORED_LEN;
        assert_eq!(
            hex::encode(&stored[last as usize..]),
            vector.text("final_segment_hex"),
            "{name}: final segment"
        );
    }
    assert_eq!(
        open(dek, &streams, &stored).await,
        data,
        "{name}: opens back to its plaintext"
    );
    check_body_against_reference(name, dek, &streams, &data, &stored);
}

/// The reference implementation seals the same bytes, and opens the gateway's.
fn check_body_against_reference(name: &str, dek: &DataKey, streams: &[StreamSpec], data: &[u8], stored: &[u8]) {
    let mut sealed = Vec::new();
    let mut at = 0;
    for spec in streams {
        sealed.extend_from_slice(&reference::seal_stream(
            &dek.0,
            spec.part,
            spec.stream_id,
            &data[at..at + spec.len],
        ));
        at += spec.len;
    }
    assert!(sealed == stored, "{name}: reference seals the same bytes");
    let opened = match streams {
        [single] => reference::open_stream(&dek.0, single.part, stored),
        _ => reference::open_parts(&dek.0, stored),
    };
    assert!(
        opened.as_deref() == Some(data),
        "{name}: reference opens the gateway's bytes"
    );
}

#[tokio::test]
async fn every_published_vector_reproduces_and_opens() {
    let vectors = vectors();
    for required in ["empty", "hello", "pattern-65537", "multipart-2-parts"] {
        assert!(
            vectors.iter().any(|v| v.text("vector") == required),
            "FORMAT.md lacks vector {required}"
        );
    }
    for vector in &vectors {
        let kek = Kek::new(vector.text("kek_id"), vector.array("kek")).expect("valid kek id");
        let dek = DataKey(vector.array("dek"));
        let ck = vector
            .0
            .contains_key("customer_key")
            .then(|| CustomerKey(vector.array("customer_key")));
        let identity = ObjectIdentity {
            bucket: vector.text("bucket"),
            key: vector.text("key"),
        };
        check_header(vector, &kek, &dek, identity, ck.as_ref());
        check_body(vector, &dek).await;
    }
}

#[test]
fn published_constants_match_the_code() {
    let [constants] = <[Block; 1]>::try_from(blocks("constants")).unwrap_or_else(|_| panic!("one constants block"));
    let expected: [(&str, String); 14] = [
        ("format_version", FORMAT_VERSION.to_string()),
        ("header_magic", String::from_utf8_lossy(HEADER_MAGIC).into_owned()),
        ("flag_sse_c", format!("0x{FLAG_SSE_C:02x}")),
        ("segment_plaintext_len", SEGMENT_PLAINTEXT_LEN.to_string()),
        ("segment_stored_len", SEGMENT_STORED_LEN.to_string()),
        ("segment_overhead", SEGMENT_OVERHEAD.to_string()),
        ("nonce_len", NONCE_LEN.to_string()),
        ("tag_len", TAG_LEN.to_string()),
        ("key_len", KEY_LEN.to_string()),
        ("max_key_id_len", MAX_KEY_ID_LEN.to_string()),
        (
            "segment_aad_prefix",
            String::from_utf8_lossy(SEGMENT_AAD_PREFIX).into_owned(),
        ),
        ("dek_aad_prefix", String::from_utf8_lossy(DEK_AAD_PREFIX).into_owned()),
        ("attrs_key_info", String::from_utf8_lossy(ATTRS_KEY_INFO).into_owned()),
        // A literal in `header.rs` rather than a `format` constant; the sse-c vector pins it too.
        ("sse_c_key_info", "twinvault/sse-c/v1".to_owned()),
    ];
    for (name, value) in &expected {
        assert_eq!(constants.text(name), value, "FORMAT.md constant {name}");
    }
    for name in constants.0.keys().filter(|n| *n != "constants") {
        assert!(
            expected.iter().any(|(n, _)| n == name),
            "FORMAT.md constant {name} is not checked"
        );
    }
}
