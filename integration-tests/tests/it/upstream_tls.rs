//! https upstreams (issue #10): region b sits behind a TLS proxy whose certificate is signed by a
//! CA made here. With `ca_bundle_file` the gateway writes and reads through it; without, it
//! refuses the certificate (so certificates are verified), unless the system store holds the
//! CA (`SSL_CERT_FILE`, which the system roots honour).

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{Gateway, GatewayConfig, aws, boto3, random_bytes, unique_bucket};

use crate::cluster::{Cluster, REGION_B_TEMPLATE};

/// A test CA and a server certificate it signed for 127.0.0.1 and localhost (PEM files).
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Runs openssl with `args` in `dir` and checks it succeeded (as tls.rs makes its certificate).
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_certs(dir: &Path) -> Certs {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca_args = [
        "-subj",
        "/CN=twinvault test upstream CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ];
    let ca_files = ["-days", "1", "-keyout", "ca.key", "-out", "ca.pem"];
    openssl(dir, &[&["req", "-x509"][..], &ec, &ca_args, &ca_files].concat());
    let csr = ["-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"];
    openssl(dir, &[&["req"][..], &ec, &csr].concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// Under write policy "all", a PUT through `gateway` answers `expected` (200 or 503).
fn put_answers(gateway: &Gateway, bucket: &str, key: &str, expected: u16) {
    let code = format!(
        r#"
        try:
            r = s3.put_object(Bucket={bucket:?}, Key={key:?}, Body=b"y" * 5000)
            status = r["ResponseMetadata"]["HTTPStatusCode"]
        except botocore.exceptions.ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            print("error:", e.response["Error"])
        assert status == {expected}, status
        print("put answered", status)
        "#
    );
    let out = boto3(&gateway.target(), &code).expect_success();
    assert!(out.stdout_str().contains("put answered"), "{}", out.combined());
}

/// `/readyz` of `gateway` reports region b reachable or not (region a always reachable).
fn assert_region_b_reachable(gateway: &Gateway, reachable: bool) {
    let (status, body) = gateway.admin_get("/readyz").expect("readyz");
    assert_eq!(status, 200, "{body}");
    let b = format!(r#"{{"name":"b","reachable":{reachable}"#);
    assert!(
        body.contains(&b) && body.contains(r#"{"name":"a","reachable":true"#),
        "{body}"
    );
}

#[test]
fn a_region_behind_tls_is_used_with_its_ca_bundle_and_refused_without_it() {
    let dir = tempfile::tempdir().expect("cert dir");
    let certs = make_certs(dir.path());
    let ca = certs.ca.display().to_string();
    let (cluster, proxy) = Cluster::start_with_tls_b(&certs.cert, &certs.key, |c| {
        c.set("regions.b.ca_bundle_file", ca.clone())
    });
    let gw = cluster.target();
    let bucket = unique_bucket("utls");

    // With the bundle: PUT and GET through the gateway, and both regions hold the object.
    aws(&gw, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let data = random_bytes(200_000);
    let file = cluster.path("data.bin");
    std::fs::write(&file, &data).expect("write");
    let url = format!("s3://{bucket}/data.bin");
    aws(&gw, ["s3", "cp", file.to_str().expect("utf8"), &url]).expect_success();
    let back = cluster.path("back.bin");
    aws(&gw, ["s3", "cp", &url, back.to_str().expect("utf8")]).expect_success();
    assert!(std::fs::read(&back).expect("read") == data, "GET returned other bytes");
    cluster.assert_protected_at_rest(&bucket, "data.bin", &data);
    assert!(proxy.handshakes_completed() > 0, "region b was not reached over TLS");
    assert_region_b_reachable(&cluster.gw, true);
    put_answers(&cluster.gw, &bucket, "with-bundle.bin", 200);

    // Same https endpoint without the bundle: the system roots do not know the test CA, so
    // the handshake is refused and writes needing region b fail.
    let (ta, tb) = (cluster.a.target(), proxy.target(&cluster.b.target()));
    // The same user as the first gateway's: it owns the bucket (any other user gets 403).
    let mut owner = toml::Table::new();
    owner.insert("access_key_id".into(), gw.access_key.clone().into());
    owner.insert("secret_access_key".into(), gw.secret_key.clone().into());
    let without = GatewayConfig::new(&ta, &tb)
        .set("regions.b.bucket_template", REGION_B_TEMPLATE)
        .set("users", toml::Value::Array(vec![toml::Value::Table(owner)]));
    let mut gateway = without.start().expect("start gateway without the bundle");
    let failed_before = proxy.handshakes_failed();
    put_answers(&gateway, &bucket, "without-bundle.bin", 503);
    assert_region_b_reachable(&gateway, false);
    assert!(proxy.handshakes_failed() > failed_before, "no refused handshake");
    let failure = proxy.last_failure().unwrap_or_default();
    assert!(failure.contains("UnknownCA"), "handshake failed otherwise: {failure}");

    // The system store is where an unset bundle looks: pointing it (SSL_CERT_FILE) at the
    // test CA makes the same gateway reach region b.
    gateway.set_env("SSL_CERT_FILE", &ca);
    gateway.restart().expect("restart with SSL_CERT_FILE");
    assert_region_b_reachable(&gateway, true);
    put_answers(&gateway, &bucket, "system-store.bin", 200);
}
