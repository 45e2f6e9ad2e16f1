//! Envelope throughput on one core: sealing and opening one stream of 4 KiB, 64 KiB and 16 MiB,
//! and the per-request key work (wrapping or unwrapping the data key, sealing or opening the
//! attributes).
//!
//! Both directions go through the streaming types the gateway uses ([`SealStream`],
//! [`OpenStream`]), so the figures include buffering and copies as well as AES-GCM.
//! `scripts/bench-envelope.sh` sets the 64 KiB figures against `openssl speed` on this machine.

use std::future::ready;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::executor::block_on;
use futures::{Stream, TryStreamExt, stream};
use twinvault::envelope::format::ciphertext_len;
use twinvault::envelope::{
    DataKey, ObjectAttributes, ObjectHeader, ObjectIdentity, OpenStream, SealStream, SegmentSealer, StreamLayout,
};
use twinvault::keyring::{Kek, Keyring};

/// Stream sizes: a small object (per-request costs show), one whole segment, and many (a large
/// object in flight).
const SIZES: [(&str, usize); 3] = [("4KiB", 4 * 1024), ("64KiB", 64 * 1024), ("16MiB", 16 * 1024 * 1024)];

/// Input chunk size. Request bodies arrive in chunks like this, so the input costs nothing to
/// produce: each chunk is a zero-copy slice of one buffer.
const CHUNK: usize = 64 * 1024;

fn chunks(data: &Bytes) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + use<> {
    let slices: Vec<_> = (0..data.len())
        .step_by(CHUNK)
        .map(|at| Ok(data.slice(at..(at + CHUNK).min(data.len()))))
        .collect();
    stream::iter(slices)
}

/// Drives `output` to the end, dropping each item as a client write would.
fn drain(output: impl Stream<Item = Result<Bytes, twinvault::envelope::EnvelopeError>> + Unpin) {
    block_on(output.try_for_each(|item| {
        black_box(item);
        ready(Ok(()))
    }))
    .expect("stream completes");
}

fn seal(dek: &DataKey, plain: &Bytes) {
    let sealed = SealStream::new(chunks(plain), SegmentSealer::new(dek, 0), Some(plain.len() as u64));
    drain(sealed);
}

fn open(dek: &DataKey, stored: &Bytes, plain_len: u64) {
    drain(OpenStream::new(chunks(stored), dek, StreamLayout::whole(0, plain_len)));
}

fn sealed_bytes(dek: &DataKey, plain: &Bytes) -> Bytes {
    let sealed = SealStream::new(chunks(plain), SegmentSealer::new(dek, 0), Some(plain.len() as u64));
    let segments: Vec<Bytes> = block_on(sealed.try_collect()).expect("seal succeeds");
    let stored = Bytes::from(segments.concat());
    assert_eq!(stored.len() as u64, ciphertext_len(plain.len() as u64));
    stored
}

fn envelope(c: &mut Criterion) {
    let dek = DataKey::generate();
    let mut group = c.benchmark_group("envelope");
    for (label, len) in SIZES {
        let plain = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let stored = sealed_bytes(&dek, &plain);
        // A 16 MiB iteration takes milliseconds: fewer samples keep the run within its time budget.
        group.sample_size(if len > CHUNK { 20 } else { 100 });
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("seal", label), &plain, |b, plain| {
            b.iter(|| seal(&dek, plain))
        });
        group.bench_with_input(BenchmarkId::new("open", label), &stored, |b, stored| {
            b.iter(|| open(&dek, stored, len as u64))
        });
    }
    group.finish();
}

/// What every PUT does before its body (a new data key, wrapped; the attributes sealed) and
/// every GET (the data key unwrapped, the attributes opened).
fn request_keys(c: &mut Criterion) {
    let kek = Kek::new("bench", [7u8; 32]).expect("valid key id");
    let keyring = Keyring::new("bench", vec![kek]).expect("valid keyring");
    let identity = ObjectIdentity {
        bucket: "bench",
        key: "some/object.bin",
    };
    let mut attrs = ObjectAttributes {
        content_type: Some("application/octet-stream".into()),
        ..Default::default()
    };
    attrs.user_metadata.insert("author".into(), "bench".into());
    let (header, dek) = ObjectHeader::create(&keyring, identity, None).expect("header");
    let header_value = header.to_metadata_value();
    let attrs_value = attrs.seal(&dek).expect("attributes seal");

    let mut group = c.benchmark_group("envelope/keys");
    group.bench_function("put", |b| {
        b.iter(|| {
            let (header, dek) = ObjectHeader::create(&keyring, identity, None).expect("header");
            black_box((header.to_metadata_value(), attrs.seal(&dek).expect("attributes seal")))
        })
    });
    group.bench_function("get", |b| {
        b.iter(|| {
            let header = ObjectHeader::from_metadata_value(&header_value).expect("header parses");
            let dek = header.unwrap(&keyring, identity, None).expect("header unwraps");
            black_box(ObjectAttributes::open(&dek, &attrs_value).expect("attributes open"))
        })
    });
    group.finish();
}

criterion_group!(benches, envelope, request_keys);
criterion_main!(benches);
