//! Graceful shutdown: SIGTERM during an upload lets it finish (and stores it in both regions),
//! turns /readyz not-ready at once, and refuses new connections rather than half-serving them.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use integration_tests::{aws, sdk_client, unique_bucket};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cluster::Cluster;

const CHUNKS: usize = 16;
const CHUNK: usize = 256 * 1024;

#[test]
fn sigterm_drains_an_upload_in_flight_and_refuses_new_work() {
    let mut cluster = Cluster::start(|c| c);
    let target = cluster.target();
    let bucket = unique_bucket("drain");
    aws(&target, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let s3 = sdk_client(&target);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let pid = Pid::from_raw(cluster.gw.pid().expect("pid") as i32);

    // A slow upload: 4 MiB trickled over ~3 s.
    let slow_body = futures::stream::unfold(0usize, |i| async move {
        if i == CHUNKS {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((
            Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(vec![i as u8; CHUNK]))),
            i + 1,
        ))
    });
    let upload = runtime.spawn({
        let (s3, bucket) = (s3.clone(), bucket.clone());
        async move {
            let body = ByteStream::from_body_1_x(http_body_util::StreamBody::new(slow_body));
            s3.put_object()
                .bucket(bucket)
                .key("slow.bin")
                .content_length((CHUNKS * CHUNK) as i64)
                .body(body)
                .send()
                .await
        }
    });
    std::thread::sleep(Duration::from_millis(800));
    kill(pid, Signal::SIGTERM).expect("send SIGTERM");
    std::thread::sleep(Duration::from_millis(200));

    let (status, body) = cluster.gw.admin_get("/readyz").expect("readyz during drain");
    assert_eq!(status, 503, "still ready while draining: {body}");
    let late = runtime.block_on(s3.head_bucket().bucket(&bucket).send());
    assert!(
        late.is_err(),
        "a request after SIGTERM was accepted on a closed listener"
    );

    let uploaded = runtime.block_on(upload).expect("join");
    assert!(uploaded.is_ok(), "the upload in flight did not finish: {uploaded:?}");
    let exit = cluster.gw.wait_exit(Duration::from_secs(30)).expect("gateway exits");
    assert!(exit.success(), "gateway exit status {exit:?}");

    // Nothing lost: both regions hold the object, and it opens.
    let expected: Vec<u8> = (0..CHUNKS).flat_map(|i| vec![i as u8; CHUNK]).collect();
    cluster.gw.restart().expect("restart gateway");
    cluster.assert_protected_at_rest(&bucket, "slow.bin", &expected);
}
