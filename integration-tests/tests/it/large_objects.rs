//! Large objects stream through the gateway with bounded memory: 8 concurrent PUTs, then 8
//! concurrent GETs, generated on the fly (never on disk), while the gateway's peak RSS stays
//! under 256 MiB. Memory is a property we can assert; speed is left to the benchmarks.
//!
//! Objects are `TWINVAULT_LARGE_OBJECT_MIB` MiB each (default 256, so the suite stays within
//! its CI time on 2 cores; 8 x 256 MiB is already 8x the RSS limit, so any whole-object
//! buffering fails it). `TWINVAULT_LARGE_OBJECT_MIB=1024` runs the full 8 x 1 GiB case.

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use integration_tests::{aws, sdk_client, unique_bucket};
use md5::{Digest, Md5};

use crate::cluster::Cluster;

fn object_bytes() -> u64 {
    let mib: u64 = std::env::var("TWINVAULT_LARGE_OBJECT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    mib << 20
}
const CHUNK: usize = 1 << 20;
const STREAMS: u64 = 8;
const RSS_LIMIT_KIB: u64 = 256 * 1024;

/// `len` pseudo-random bytes from `seed`, as 1 MiB chunks, produced while they are sent.
fn generated(
    seed: u64,
    len: u64,
) -> impl futures::Stream<Item = Result<http_body::Frame<Bytes>, std::io::Error>> + Send + Sync {
    futures::stream::unfold((seed | 1, 0u64), move |(mut state, sent)| async move {
        if sent >= len {
            return None;
        }
        let n = (len - sent).min(CHUNK as u64) as usize;
        let mut chunk = vec![0u8; n];
        for word in chunk.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        Some((Ok(http_body::Frame::data(Bytes::from(chunk))), (state, sent + n as u64)))
    })
}

fn digest_of(seed: u64, len: u64) -> Vec<u8> {
    let mut md5 = Md5::new();
    let mut stream = Box::pin(generated(seed, len));
    futures::executor::block_on(async {
        while let Some(Ok(frame)) = stream.next().await {
            if let Ok(data) = frame.into_data() {
                md5.update(&data);
            }
        }
    });
    md5.finalize().to_vec()
}

#[test]
fn eight_concurrent_large_puts_and_gets_stay_under_256_mib() {
    let size = object_bytes();
    let cluster = Cluster::start(|c| c);
    let bucket = unique_bucket("big");
    aws(&cluster.target(), ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let s3 = sdk_client(&cluster.target());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let puts = (0..STREAMS).map(|i| {
            let (s3, bucket) = (s3.clone(), bucket.clone());
            async move {
                let body = ByteStream::from_body_1_x(http_body_util::StreamBody::new(generated(i, size)));
                s3.put_object()
                    .bucket(&bucket)
                    .key(format!("big-{i}"))
                    .content_length(size as i64)
                    .body(body)
                    .send()
                    .await
            }
        });
        for result in futures::future::join_all(puts).await {
            if let Err(e) = result {
                panic!(
                    "large PUT through the gateway failed: {e:?}\n--- gateway log ---\n{}\n--- region a log ---\n{}\n--- region b log ---\n{}",
                    integration_tests::process::log_tail(&cluster.gw.log_path(), 40),
                    cluster.a.log_tail(40),
                    cluster.b.log_tail(40),
                );
            }
        }
        let gets = (0..STREAMS).map(|i| {
            let (s3, bucket) = (s3.clone(), bucket.clone());
            async move {
                let out = s3
                    .get_object()
                    .bucket(&bucket)
                    .key(format!("big-{i}"))
                    .send()
                    .await
                    .expect("GET");
                let mut body = out.body;
                let (mut md5, mut len) = (Md5::new(), 0u64);
                while let Some(chunk) = body.try_next().await.expect("body chunk") {
                    len += chunk.len() as u64;
                    md5.update(&chunk);
                }
                (i, len, md5.finalize().to_vec())
            }
        });
        for (i, len, digest) in futures::future::join_all(gets).await {
            assert_eq!(len, size, "object {i} length");
            assert!(digest == digest_of(i, size), "object {i} came back different");
        }
    });
    let peak = integration_tests::process::peak_rss_kib(cluster.gw.pid().expect("gateway pid"));
    eprintln!(
        "gateway peak RSS: {} MiB ({STREAMS} x {} MiB up and down)",
        peak / 1024,
        size >> 20
    );
    assert!(peak < RSS_LIMIT_KIB, "gateway peak RSS {} MiB >= 256 MiB", peak / 1024);
}
