//! TLS on the S3 listener: aws-cli and boto3 over https with the gateway's certificate as their
//! CA bundle, plain HTTP refused, and a renewed certificate served without a restart.

use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::{Cli, S3Target, aws, unique_bucket};

use crate::cluster::Cluster;

/// A fresh self-signed certificate for 127.0.0.1 into `cert`/`key` (written via a temp file and
/// a rename, as a renewal tool does).
pub(crate) fn self_signed(dir: &Path, cert: &Path, key: &Path) {
    let (tmp_cert, tmp_key) = (dir.join("new.crt"), dir.join("new.key"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&tmp_key)
        .arg("-out")
        .arg(&tmp_cert)
        .output()
        .expect("run openssl");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    std::fs::rename(&tmp_key, key).expect("install key");
    std::fs::rename(&tmp_cert, cert).expect("install cert");
}

/// The certificate the listener presents, as PEM (via Python's ssl module, no verification).
fn served_cert(port: u16) -> String {
    let out = Cli::python(None)
        .arg("-c")
        .arg(format!(
            "import ssl; print(ssl.get_server_certificate(('127.0.0.1', {port})))"
        ))
        .run()
        .expect_success();
    out.stdout_str().trim().to_owned()
}

fn normalized(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn the_s3_listener_speaks_tls_and_reloads_a_renewed_certificate() {
    let tls_dir = tempfile::tempdir().expect("tls dir");
    let (cert, key) = (tls_dir.path().join("tls.crt"), tls_dir.path().join("tls.key"));
    self_signed(tls_dir.path(), &cert, &key);
    let cluster = Cluster::start(|c| {
        c.set("server.tls_cert_file", cert.display().to_string())
            .set("server.tls_key_file", key.display().to_string())
    });
    let plain = cluster.target();
    let https = S3Target::new(
        format!("https://{}", cluster.gw.s3_addr()),
        &plain.access_key,
        &plain.secret_key,
    );
    let bucket = unique_bucket("tls");
    let ca = cert.display().to_string();

    // aws-cli over https, trusting the gateway's certificate.
    let file = cluster.path("hello.txt");
    std::fs::write(&file, b"over tls").expect("write");
    aws(&https, ["--ca-bundle", &ca, "s3", "mb", &format!("s3://{bucket}")]).expect_success();
    aws(
        &https,
        [
            "--ca-bundle",
            &ca,
            "s3",
            "cp",
            file.to_str().expect("utf8"),
            &format!("s3://{bucket}/hello.txt"),
        ],
    )
    .expect_success();
    let listed = aws(&https, ["--ca-bundle", &ca, "s3", "ls", &format!("s3://{bucket}/")]).expect_success();
    assert!(listed.stdout_str().contains("hello.txt"), "{}", listed.stdout_str());

    // boto3 too; and plain HTTP to the TLS port gets no S3 answer.
    let out = Cli::python(Some(&https))
        .arg("-c")
        .arg(format!(
            "{}assert s3.get_object(Bucket={bucket:?}, Key='hello.txt')['Body'].read() == b'over tls'\nprint('ok')",
            integration_tests::clients::BOTO3_PRELUDE
        ))
        .env("AWS_CA_BUNDLE", &ca)
        .run()
        .expect_success();
    assert!(out.stdout_str().contains("ok"));
    let refused = aws(&plain, ["s3", "ls"]);
    assert!(!refused.success(), "plain HTTP was served on the TLS listener");

    // Renewal: new files in place; new connections get the new certificate, no restart.
    let port = cluster.gw.s3_addr().port();
    let before = normalized(&served_cert(port));
    assert_eq!(before, normalized(&std::fs::read_to_string(&cert).expect("cert")));
    let first_key = normalized(&std::fs::read_to_string(&key).expect("key"));
    self_signed(tls_dir.path(), &cert, &key);
    let renewed = normalized(&std::fs::read_to_string(&cert).expect("cert"));
    assert_ne!(before, renewed);
    let deadline = Instant::now() + Duration::from_secs(20);
    while normalized(&served_cert(port)) != renewed {
        assert!(Instant::now() < deadline, "the renewed certificate was not picked up");
        std::thread::sleep(Duration::from_millis(500));
    }
    aws(&https, ["--ca-bundle", &ca, "s3", "ls", &format!("s3://{bucket}/")]).expect_success();

    // The private keys (the first and the renewed one) appear nowhere the gateway writes.
    let second_key = normalized(&std::fs::read_to_string(&key).expect("key"));
    let (_, metrics) = cluster.gw.admin_get("/metrics").expect("metrics");
    let log = cluster.gw.log_contents();
    for private in [&first_key, &second_key] {
        // Any 24-character piece of the base64 body would do; check each one of them.
        for piece in private.as_bytes().chunks(24).filter(|c| c.len() == 24) {
            let piece = std::str::from_utf8(piece).expect("base64");
            assert!(!log.contains(piece), "a private key piece is in the gateway log");
            assert!(!metrics.contains(piece), "a private key piece is in /metrics");
        }
    }
}
