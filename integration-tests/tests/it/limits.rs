//! Limits and slow clients: slowloris heads and bodies are cut off while normal clients keep
//! being served and the gateway's memory stays bounded; an over-size head is refused; requests
//! beyond `max_concurrent_requests` get 503 SlowDown; connections beyond `max_connections` wait
//! until one closes; a client that stops reading a response loses its connection and slot. Only outcomes are asserted, never speed: every wait is generous.
//!
//! See: issue #10 "Limits and slow clients"

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use integration_tests::{assert_eventually, aws, random_bytes, sdk_client, unique_bucket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::Cluster;

/// The longest wait for anything the gateway should do by itself (cut a client off, answer).
const PATIENCE: Duration = Duration::from_secs(60);
const HEADER_READ_TIMEOUT_MS: i64 = 2_000;
const BODY_IDLE_TIMEOUT_MS: i64 = 2_000;
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Connections that trickle a request head, one byte every 200 ms, forever.
const HEAD_TRICKLERS: usize = 200;
/// Connections that send nothing at all.
const SILENT: usize = 20;
/// Signed PUTs that trickle a few body bytes, then go quiet.
const BODY_TRICKLERS: usize = 40;
/// Normal clients, each doing this many PUT + GET rounds while the slow ones are connected.
const NORMAL_CLIENTS: usize = 4;
const ROUNDS: usize = 10;
const RSS_LIMIT_KIB: u64 = 128 * 1024;

#[test]
fn slowloris_heads_and_bodies_are_cut_off_while_others_are_served() {
    let cluster = Cluster::start(|c| {
        c.set("server.header_read_timeout_ms", HEADER_READ_TIMEOUT_MS)
            .set("server.body_idle_timeout_ms", BODY_IDLE_TIMEOUT_MS)
            .set("server.max_header_bytes", MAX_HEADER_BYTES as i64)
    });
    let bucket = unique_bucket("loris");
    aws(&cluster.target(), ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let addr = cluster.gw.s3_addr();
    let s3 = sdk_client(&cluster.target());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let heads: Vec<_> = (0..HEAD_TRICKLERS).map(|_| tokio::spawn(trickle_head(addr))).collect();
        let silent: Vec<_> = (0..SILENT).map(|_| tokio::spawn(stay_silent(addr))).collect();
        let mut bodies = Vec::new();
        for i in 0..BODY_TRICKLERS {
            let path = presigned_put_path(&s3, addr, &bucket, &format!("slow-body-{i}")).await;
            bodies.push(tokio::spawn(trickle_body(addr, path)));
        }
        let normal: Vec<_> = (0..NORMAL_CLIENTS)
            .map(|c| tokio::spawn(put_and_get(s3.clone(), bucket.clone(), c)))
            .collect();

        for (i, normal) in normal.into_iter().enumerate() {
            let outcome = normal.await.expect("normal client task");
            assert!(outcome.is_ok(), "normal client {i}: {outcome:?}");
        }
        for (i, head) in heads.into_iter().enumerate() {
            let outcome = head.await.expect("trickler task");
            assert!(outcome.is_ok(), "head trickler {i}: {outcome:?}");
        }
        for (i, quiet) in silent.into_iter().enumerate() {
            let outcome = quiet.await.expect("silent task");
            assert!(outcome.is_ok(), "silent connection {i}: {outcome:?}");
        }
        for (i, body) in bodies.into_iter().enumerate() {
            let response = body.await.expect("trickler task").expect("body trickler answered");
            assert!(
                response.starts_with("HTTP/1.1 400") && response.contains("<Code>RequestTimeout</Code>"),
                "body trickler {i} got: {response:?}"
            );
        }
        for i in 0..BODY_TRICKLERS {
            let head = s3
                .head_object()
                .bucket(&bucket)
                .key(format!("slow-body-{i}"))
                .send()
                .await;
            let not_found = head.map_err(aws_sdk_s3::error::SdkError::into_service_error);
            assert!(
                matches!(&not_found, Err(e) if e.is_not_found()),
                "an idle-failed upload left something behind: slow-body-{i}: {not_found:?}"
            );
        }
    });

    assert_head_size_limit(addr);
    let (_, metrics) = cluster.gw.admin_get("/metrics").expect("GET /metrics");
    for (limit, at_least) in [
        ("header_timeout", HEAD_TRICKLERS + SILENT),
        ("body_idle", BODY_TRICKLERS),
        ("header_size", 1),
    ] {
        let count = rejections(&metrics, limit);
        assert!(
            count >= at_least as f64,
            "{limit}: {count} rejections, expected >= {at_least}"
        );
    }
    let peak = integration_tests::process::peak_rss_kib(cluster.gw.pid().expect("gateway pid"));
    eprintln!("gateway peak RSS: {} MiB", peak / 1024);
    assert!(peak < RSS_LIMIT_KIB, "gateway peak RSS {} MiB >= 128 MiB", peak / 1024);
}

#[test]
fn requests_beyond_max_concurrent_requests_get_slow_down() {
    let cluster = Cluster::start(|c| {
        c.set("server.max_concurrent_requests", 2)
            .set("server.body_idle_timeout_ms", 600_000)
    });
    let bucket = unique_bucket("slowdown");
    aws(&cluster.target(), ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let addr = cluster.gw.s3_addr();
    let s3 = sdk_client(&cluster.target());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let held = runtime.block_on(async {
        let mut held = Vec::new();
        for i in 0..2 {
            let path = presigned_put_path(&s3, addr, &bucket, &format!("held-{i}")).await;
            held.push(hold_put(addr, &path).await);
        }
        held
    });
    // Both slots are taken once the gateway has read both heads.
    let body = assert_eventually!(
        match integration_tests::http::get(addr, "/", Duration::from_secs(10))? {
            (503, body) => Ok(body),
            (status, _) => anyhow::bail!("status {status}"),
        },
        PATIENCE
    );
    assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
    assert!(body.contains("<RequestId>"), "{body}");
    runtime.block_on(async {
        let refused = s3.list_objects_v2().bucket(&bucket).send().await;
        let err = refused.expect_err("no slot for an SDK request either");
        assert_eq!(err.code(), Some("SlowDown"), "{err:?}");
    });

    drop(held);
    assert_eventually!(
        match integration_tests::http::get(addr, "/", Duration::from_secs(10))? {
            (503, _) => anyhow::bail!("still 503"),
            (status, _) => Ok(status),
        },
        PATIENCE
    );
    runtime.block_on(async {
        put_and_get(s3.clone(), bucket.clone(), 0)
            .await
            .expect("served again once the held requests are gone");
    });
    let (_, metrics) = cluster.gw.admin_get("/metrics").expect("GET /metrics");
    assert!(rejections(&metrics, "concurrent_requests") >= 2.0, "{metrics}");
}

#[test]
fn connections_beyond_max_connections_wait_for_a_free_slot() {
    let cluster = Cluster::start(|c| {
        c.set("server.max_connections", 3)
            .set("server.header_read_timeout_ms", 600_000)
    });
    let addr = cluster.gw.s3_addr();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut idle = Vec::new();
        for _ in 0..3 {
            idle.push(TcpStream::connect(addr).await.expect("connect"));
        }
        // The kernel completes the handshake, but the gateway does not accept it yet.
        let mut waiting = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        waiting.write_all(request.as_bytes()).await.expect("send request");
        let mut response = Vec::new();
        let early = tokio::time::timeout(Duration::from_secs(2), waiting.read_to_end(&mut response)).await;
        assert!(
            early.is_err() && response.is_empty(),
            "a connection beyond max_connections was served: {:?}",
            String::from_utf8_lossy(&response)
        );
        drop(idle.pop());
        let answered = tokio::time::timeout(PATIENCE, waiting.read_to_end(&mut response)).await;
        assert!(answered.is_ok(), "not served after a slot freed");
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.starts_with("HTTP/1.") && text.contains("<Code>AccessDenied</Code>"),
            "anonymous request: {text:?}"
        );
    });
}

/// Sends a request head one byte every 200 ms, forever. `Ok` once the gateway closes the
/// connection; an error if it is still open after [`PATIENCE`].
async fn trickle_head(addr: SocketAddr) -> Result<(), String> {
    let mut socket = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let head = format!("GET /slow/loris HTTP/1.1\r\nHost: {addr}\r\nX-Pad: ");
    let mut bytes = head.into_bytes().into_iter().chain(std::iter::repeat(b'a'));
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let deadline = tokio::time::sleep(PATIENCE);
    let mut deadline = std::pin::pin!(deadline);
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let byte = bytes.next().unwrap_or(b'a');
                if socket.write_all(&[byte]).await.is_err() {
                    return Ok(());
                }
            }
            read = socket.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => return Err(format!("answered a head that never ended: {:?}", String::from_utf8_lossy(&buf[..n]))),
            },
            () = &mut deadline => return Err("still open".to_owned()),
        }
    }
}

/// Connects and sends nothing. `Ok` once the gateway closes the connection.
async fn stay_silent(addr: SocketAddr) -> Result<(), String> {
    let mut socket = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(PATIENCE, socket.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => Ok(()),
        Ok(Ok(n)) => Err(format!("answered nothing: {:?}", String::from_utf8_lossy(&buf[..n]))),
        Err(_) => Err("still open".to_owned()),
    }
}

/// A correctly signed PUT of 1 MiB whose body trickles 6 bytes 500 ms apart (alive for longer
/// than the idle timeout in all), then goes quiet. Returns the gateway's answer.
async fn trickle_body(addr: SocketAddr, path: String) -> Result<String, String> {
    let mut socket = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let head = format!("PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1048576\r\n\r\n");
    socket
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("send head: {e}"))?;
    for _ in 0..6 {
        socket
            .write_all(b"x")
            .await
            .map_err(|e| format!("send body byte: {e}"))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut response = Vec::new();
    // A reset after the answer still leaves the answer in `response`.
    let read = tokio::time::timeout(PATIENCE, socket.read_to_end(&mut response)).await;
    if read.is_err() {
        return Err("no answer and still open".to_owned());
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// A signed PUT of 1 MiB that sends one body byte and holds its request open until dropped.
async fn hold_put(addr: SocketAddr, path: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    let head = format!("PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1048576\r\n\r\nx");
    socket.write_all(head.as_bytes()).await.expect("send head");
    socket
}

#[test]
fn clients_that_stop_reading_a_response_are_cut_off_and_free_their_slots() {
    const STALL_MS: i64 = 2_000;
    const SIZE: usize = 48 * 1024 * 1024;
    let cluster = Cluster::start(|c| {
        c.set("server.send_stall_timeout_ms", STALL_MS)
            .set("server.max_concurrent_requests", 2_i64)
    });
    let bucket = unique_bucket("stall");
    aws(&cluster.target(), ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let addr = cluster.gw.s3_addr();
    let s3 = sdk_client(&cluster.target());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let body = random_bytes(SIZE);
        s3.put_object()
            .bucket(&bucket)
            .key("big")
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("PUT big");
        let presigned = s3
            .get_object()
            .bucket(&bucket)
            .key("big")
            .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).expect("presigning config"))
            .await
            .expect("presign");
        let path = presigned
            .uri()
            .strip_prefix(&format!("http://{addr}"))
            .expect("presigned on the gateway")
            .to_owned();
        // Two GETs of 48 MiB whose clients read nothing: the kernel buffers fill, the gateway's
        // writes wait, and both request slots are taken.
        let mut stalled = Vec::new();
        for _ in 0..2 {
            let mut socket = TcpStream::connect(addr).await.expect("connect");
            let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            socket.write_all(head.as_bytes()).await.expect("send head");
            stalled.push(socket);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, _) = integration_tests::http::get(addr, "/", Duration::from_secs(10)).expect("GET /");
        assert_eq!(
            status, 503,
            "a third request was served while stalled readers held both slots"
        );
        // Cut off after send_stall_timeout: each socket ends (EOF or reset) well short of the
        // object, and requests are served again.
        for mut socket in stalled {
            tokio::time::sleep(Duration::from_millis(STALL_MS as u64 + 1_000)).await;
            let mut received = 0usize;
            let mut buf = vec![0u8; 1 << 20];
            let ended = tokio::time::timeout(PATIENCE, async {
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => received += n,
                    }
                }
            })
            .await;
            assert!(ended.is_ok(), "a stalled reader's connection stayed open");
            assert!(
                received < SIZE,
                "a stalled reader got the whole object ({received} bytes)"
            );
        }
        let head = s3.head_object().bucket(&bucket).key("big").send().await;
        assert!(
            head.is_ok(),
            "not served after the stalled readers were cut off: {head:?}"
        );
    });
    let (_, metrics) = cluster.gw.admin_get("/metrics").expect("metrics");
    assert!(rejections(&metrics, "send_stall") >= 2.0, "stalls not counted");
}

/// The path and query of a presigned PUT of `key` (SigV4 in the query, unsigned payload).
async fn presigned_put_path(s3: &Client, addr: SocketAddr, bucket: &str, key: &str) -> String {
    let presigned = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).expect("presigning config"))
        .await
        .expect("presign");
    assert_eq!(presigned.headers().count(), 0, "a presigned PUT needs no extra headers");
    let uri = presigned.uri();
    uri.strip_prefix(&format!("http://{addr}"))
        .unwrap_or_else(|| panic!("presigned URI {uri} is not on {addr}"))
        .to_owned()
}

/// `ROUNDS` PUTs of 64 KiB and GETs that must return the same bytes.
async fn put_and_get(s3: Client, bucket: String, client: usize) -> Result<(), String> {
    for round in 0..ROUNDS {
        let key = format!("normal-{client}-{round}");
        let body = random_bytes(64 * 1024);
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .map_err(|e| format!("PUT {key}: {e:?}"))?;
        let got = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| format!("GET {key}: {e:?}"))?;
        let bytes = got.body.collect().await.map_err(|e| format!("GET {key} body: {e}"))?;
        if bytes.into_bytes() != body {
            return Err(format!("GET {key}: different bytes"));
        }
    }
    Ok(())
}

/// A head over `max_header_bytes` is refused (400 RequestHeaderSectionTooLarge, as S3 says);
/// one under it is answered; one beyond hyper's buffer gets hyper's 431 or a close.
fn assert_head_size_limit(addr: SocketAddr) {
    let under = exchange(addr, MAX_HEADER_BYTES - 4 * 1024);
    assert!(under.starts_with("HTTP/1.1 403"), "a head under the limit: {under:?}");
    let over = exchange(addr, MAX_HEADER_BYTES + 4 * 1024);
    assert!(
        over.starts_with("HTTP/1.1 400") && over.contains("<Code>RequestHeaderSectionTooLarge</Code>"),
        "a head over the limit: {over:?}"
    );
    let huge = exchange(addr, 1024 * 1024);
    assert!(
        huge.is_empty() || huge.starts_with("HTTP/1.1 431"),
        "a head beyond hyper's buffer: {huge:?}"
    );
}

/// Sends an anonymous GET whose head is about `head_bytes` long; returns what came back before
/// the gateway closed the connection (empty if it reset it first).
fn exchange(addr: SocketAddr, head_bytes: usize) -> String {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr).expect("connect");
    socket.set_read_timeout(Some(PATIENCE)).expect("read timeout");
    let pad = "a".repeat(head_bytes);
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Pad: {pad}\r\n\r\n");
    let _ = socket.write_all(request.as_bytes());
    let mut response = Vec::new();
    if let Err(e) = socket.read_to_end(&mut response) {
        assert!(
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
            "no answer within {PATIENCE:?}"
        );
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// `twinvault_limit_rejections_total{limit="<limit>"}`.
fn rejections(metrics: &str, limit: &str) -> f64 {
    let series = format!("twinvault_limit_rejections_total{{limit=\"{limit}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}
