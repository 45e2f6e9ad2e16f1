//! SSE-C: boto3 (every read and copy case) and aws-cli `--sse-c`, ciphertext at rest identical
//! in both regions with no plaintext, and the customer key never in the gateway's log; refused
//! over plain HTTP unless `server.allow_sse_c_over_http`, served over https.

use base64::Engine;
use integration_tests::clients::BOTO3_PRELUDE;
use integration_tests::{Cli, S3Target, aws, random_bytes, unique_bucket};

use crate::cluster::{Cluster, assert_no_plaintext};

#[test]
fn sse_c_objects_need_their_key_and_the_key_is_never_stored_or_logged() {
    // Plain HTTP to the gateway, as a TLS-terminating sidecar in front of it would speak.
    let cluster = Cluster::start(|c| c.set("server.allow_sse_c_over_http", true));
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

/// Every SSE-C request boto3 can make, each expected to fail with (status, code); prints "REFUSED".
const SSE_C_OVER_HTTP_REFUSED: &str = r#"
bucket = os.environ["TV_BUCKET"]
s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket=bucket, Key="plain", Body=b"no key")
sse = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=bytes(range(32)))
copy_sse = dict(CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=bytes(range(32)))
calls = {
    "PutObject": lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", **sse),
    "GetObject": lambda: s3.get_object(Bucket=bucket, Key="plain", **sse),
    "HeadObject": lambda: s3.head_object(Bucket=bucket, Key="plain", **sse),
    "CopyObject (source key)": lambda: s3.copy_object(
        Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "plain"}, **copy_sse),
    "CreateMultipartUpload": lambda: s3.create_multipart_upload(Bucket=bucket, Key="m", **sse),
}
message = ("Requests specifying Server Side Encryption with Customer provided keys must be made "
           "over a secure connection.")
for name, call in calls.items():
    try:
        call()
        raise SystemExit(f"{name} with SSE-C over plain HTTP succeeded")
    except botocore.exceptions.ClientError as e:
        status, error = e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]
        assert status == 400, (name, status, error)
        if name != "HeadObject":  # a HEAD answer has no body to carry the code
            assert error["Code"] == "InvalidRequest" and error["Message"] == message, (name, error)
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
assert keys == ["plain"], keys
assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), "an upload was started"
print("REFUSED")
"#;

/// S3 refuses SSE-C over plain HTTP (the key has crossed the network in the clear); so does the
/// gateway by default, and serves the same requests over https.
#[test]
fn sse_c_is_refused_over_plain_http_by_default_and_served_over_https() {
    let tls_dir = tempfile::tempdir().expect("tls dir");
    let (cert, key) = (tls_dir.path().join("tls.crt"), tls_dir.path().join("tls.key"));
    crate::tls::self_signed(tls_dir.path(), &cert, &key);
    let mut cluster = Cluster::start(|c| c);
    let bucket = unique_bucket("ssectls");
    let refused = Cli::python(Some(&cluster.target()))
        .arg("-c")
        .arg(format!("{BOTO3_PRELUDE}{SSE_C_OVER_HTTP_REFUSED}"))
        .env("TV_BUCKET", &bucket)
        .run()
        .expect_success();
    assert!(refused.stdout_str().contains("REFUSED"), "{}", refused.combined());

    // The same gateway with TLS on its S3 listener: SSE-C is served.
    cluster
        .gw
        .set_env("TWINVAULT_SERVER__TLS_CERT_FILE", cert.to_str().expect("utf8"));
    cluster
        .gw
        .set_env("TWINVAULT_SERVER__TLS_KEY_FILE", key.to_str().expect("utf8"));
    cluster.gw.restart().expect("restart with TLS");
    let plain = cluster.target();
    let https = S3Target::new(
        format!("https://{}", cluster.gw.s3_addr()),
        &plain.access_key,
        &plain.secret_key,
    );
    let served = Cli::python(Some(&https))
        .arg("-c")
        .arg(format!(
            "{BOTO3_PRELUDE}bucket = {bucket:?}\n\
             sse = dict(SSECustomerAlgorithm='AES256', SSECustomerKey=bytes(range(32)))\n\
             s3.put_object(Bucket=bucket, Key='k', Body=b'over tls', **sse)\n\
             assert s3.get_object(Bucket=bucket, Key='k', **sse)['Body'].read() == b'over tls'\n\
             s3.copy_object(Bucket=bucket, Key='k2', CopySource={{'Bucket': bucket, 'Key': 'k'}}, **sse,\n\
             CopySourceSSECustomerAlgorithm='AES256', CopySourceSSECustomerKey=bytes(range(32)))\n\
             assert s3.get_object(Bucket=bucket, Key='k2', **sse)['Body'].read() == b'over tls'\n\
             print('SERVED')\n"
        ))
        .env("AWS_CA_BUNDLE", &cert)
        .run()
        .expect_success();
    assert!(served.stdout_str().contains("SERVED"), "{}", served.combined());
}
