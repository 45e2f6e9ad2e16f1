//! Fuzzing on stable Rust: property tests that feed arbitrary and mutated inputs to every parser
//! an attacker with upstream write access (or a client) can reach, a bounded number of cases per
//! run. Every input must be rejected with an error, never a panic, and a mutated ciphertext must
//! never open to plaintext. Failures found are kept below as regression cases.

use base64::Engine as _;
use bytes::Bytes;
use futures::{TryStreamExt, stream};
use proptest::prelude::*;

use super::format::*;
use super::*;
use crate::keyring::{Kek, Keyring};
use crate::stamp::VersionStamp;

const ID: ObjectIdentity<'static> = ObjectIdentity {
    bucket: "bucket",
    key: "key",
};

fn keyring() -> Keyring {
    let kek = Kek::new("k1", [9u8; 32]).expect("valid id");
    Keyring::new("k1", vec![kek]).expect("valid keyring")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn seal(dek: &DataKey, data: &[u8]) -> Vec<u8> {
    let input = stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(data))]);
    let sealed = SealStream::new(input, SegmentSealer::new(dek, 0), Some(data.len() as u64));
    let parts: Vec<Bytes> = block_on(sealed.try_collect()).expect("seal");
    parts.concat()
}

fn open(dek: &DataKey, stored: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let layout = StreamLayout::from_stored_len(0, stored.len() as u64)?;
    let input = stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(stored))]);
    let parts: Vec<Bytes> = block_on(OpenStream::new(input, dek, layout).try_collect())?;
    Ok(parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Random text is not base64url of a header; bytes after the magic that are shorter than
    /// the smallest header (1-byte key id) cannot be one, so they reach the later checks and
    /// must fail them too.
    #[test]
    fn header_parser_rejects_garbage(
        text in ".{0,400}",
        tail in proptest::collection::vec(any::<u8>(), 0..3 + 1 + NONCE_LEN + KEY_LEN + TAG_LEN),
    ) {
        prop_assert!(ObjectHeader::from_metadata_value(&text).is_err(), "garbage parsed: {text:?}");
        let short = [&HEADER_MAGIC[..], &tail].concat();
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&short);
        prop_assert!(
            matches!(ObjectHeader::from_metadata_value(&value), Err(EnvelopeError::HeaderCorrupt(_) | EnvelopeError::UnsupportedVersion(_))),
            "a short header parsed: {short:?}"
        );
    }

    #[test]
    fn header_parser_rejects_mutated_headers(flip in 0usize..2000, bit in 0u8..8) {
        let (header, _) = ObjectHeader::create(&keyring(), ID, None).expect("create");
        let mut value = header.to_metadata_value().into_bytes();
        let at = flip % value.len();
        value[at] ^= 1 << bit;
        if let Ok(text) = String::from_utf8(value)
            && let Ok(parsed) = ObjectHeader::from_metadata_value(&text)
            && parsed != header
        {
            // A header that still parses must not unwrap to a data key.
            prop_assert!(parsed.unwrap(&keyring(), ID, None).is_err());
        }
    }

    /// Nothing made without the data key authenticates under it: text that is not base64url,
    /// and base64url of random bytes (which reaches AES-GCM), both fail.
    #[test]
    fn attribute_opener_rejects_garbage(text in ".{0,600}", bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dek = DataKey::generate();
        prop_assert!(matches!(ObjectAttributes::open(&dek, &text), Err(EnvelopeError::AttributesCorrupt)));
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        prop_assert!(matches!(ObjectAttributes::open(&dek, &value), Err(EnvelopeError::AttributesCorrupt)));
    }

    #[test]
    fn body_opener_never_opens_garbage(stored in proptest::collection::vec(any::<u8>(), 0..200_000)) {
        prop_assert!(open(&DataKey::generate(), &stored).is_err());
    }

    #[test]
    fn body_opener_detects_every_mutation(
        len in 0usize..150_000,
        at in any::<usize>(),
        bit in 0u8..8,
        cut in any::<bool>(),
    ) {
        let dek = DataKey::generate();
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut stored = seal(&dek, &data);
        let at = at % stored.len();
        if cut {
            stored.truncate(at);
        } else {
            stored[at] ^= 1 << bit;
        }
        prop_assert!(open(&dek, &stored).is_err(), "a mutated body opened");
    }

    /// A stamp is exactly 16 hex digits, a dot and 16 more; a record is JSON with four required
    /// fields. Random text and bytes are neither (the odds of a chance hit are nil).
    #[test]
    fn stamp_and_journal_parsers_reject_garbage(text in ".{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(text.parse::<VersionStamp>().is_err(), "garbage stamp parsed: {text:?}");
        prop_assert!(serde_json::from_slice::<crate::reserved::MissRecord>(&bytes).is_err());
    }

    #[test]
    fn config_loader_rejects_garbage(text in "(\\[[a-z]{1,8}\\]\n)?([a-z_]{1,12} = (\"[^\"\n]{0,12}\"|[0-9]{1,6}|true)\n){0,8}") {
        use figment::Figment;
        use figment::providers::{Format, Toml};
        // The generator writes scalars only, so it can never give `[regions]` the two tables
        // every config needs: each text must be refused.
        prop_assert!(crate::config::Config::from_figment(Figment::from(Toml::string(&text))).is_err());
    }
}

#[test]
fn a_cut_at_every_segment_boundary_is_detected() {
    let dek = DataKey::generate();
    let data = vec![7u8; 3 * SEGMENT_PLAINTEXT_LEN as usize];
    let stored = seal(&dek, &data);
    for segments in 0..3u64 {
        let cut = (segments * SEGMENT_STORED_LEN) as usize;
        assert!(
            open(&dek, &stored[..cut]).is_err(),
            "cut after {segments} segments opened"
        );
    }
}
