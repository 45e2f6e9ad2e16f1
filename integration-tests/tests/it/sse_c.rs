//! SSE-C: boto3 (every read and copy case) and aws-cli `--sse-c`, ciphertext at rest identical
//! in both regions with no plaintext, and the customer key never in the gateway's log.

use base64::Engine;
use integration_tests::{aws, random_bytes, unique_bucket};

use crate::cluster::{Cluster, assert_no_plaintext};

#[test]
fn sse_c_objects_need_their_key_and_the_key_is_never_stored_or_logged() {
    let cluster = Cluster::start(|c| c);
    let gw = cluster.target();
    let bucket = unique_bucket("ssec");
    aws(&gw, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    cluster.run_boto3_script("sse_c.py", &bucket);

    // aws-cli with a key file: upload (multipart: above its 8 MiB threshold), download (ranged
    // GETs), and a download without the key fails.
    let key: Vec<u8> = (100..132).collect();
    let key_file = cluster.path("ssec.key");
    std::fs::write(&key_file, &key).expect("write key");
    let data = random_bytes(9 * 1024 * 1024 + 17);
    let file = cluster.path("data.bin");
    std::fs::write(&file, &data).expect("write data");
    let key_arg = format!("fileb://{}", key_file.display());
    let url = format!("s3://{bucket}/cli.bin");
    aws(
        &gw,
        [
            "s3",
            "cp",
            file.to_str().expect("utf8"),
            &url,
            "--sse-c",
            "AES256",
            "--sse-c-key",
            &key_arg,
        ],
    )
    .expect_success();
    let back = cluster.path("back.bin");
    aws(
        &gw,
        [
            "s3",
            "cp",
            &url,
            back.to_str().expect("utf8"),
            "--sse-c",
            "AES256",
            "--sse-c-key",
            &key_arg,
        ],
    )
    .expect_success();
    assert!(
        std::fs::read(&back).expect("read back") == data,
        "SSE-C round trip differs"
    );
    let denied = aws(
        &gw,
        ["s3", "cp", &url, cluster.path("denied.bin").to_str().expect("utf8")],
    );
    assert!(!denied.success(), "download without the key succeeded");

    // At rest: identical ciphertext in both regions, no plaintext, and nothing that is the key.
    let (a, _) = cluster.stored("a", &bucket, "cli.bin");
    let (b, meta) = cluster.stored("b", &bucket, "cli.bin");
    assert!(a == b, "regions hold different bytes");
    assert_no_plaintext(&a, &data, "cli.bin");
    assert_no_plaintext(&a, &key, "cli.bin (the customer key)");
    let head = std::fs::read_to_string(meta).expect("head json");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    assert!(!head.contains(&b64), "the customer key is in the stored metadata");

    // The key never reaches the log, even at debug level.
    let log = cluster.gw.log_contents();
    assert!(!log.contains(&b64), "the customer key appears in the gateway log");
    let boto_key = base64::engine::general_purpose::STANDARD.encode((0u8..32).collect::<Vec<u8>>());
    assert!(
        !log.contains(&boto_key),
        "the boto3 customer key appears in the gateway log"
    );
}
