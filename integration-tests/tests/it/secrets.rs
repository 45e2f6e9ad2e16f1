//! Secrets never leak: after a run that used every secret (the user's, both regions', the
//! keyring key, an SSE-C key, presigned URLs) and hit the failure paths (bad signatures,
//! unknown keys, wrong SSE-C key, a region down), none of them appears in the debug-level
//! log, /metrics, any error body the clients saw, `check-config` output, or the audit log
//! (with hashed key names, whose hash secret must not appear either).

use base64::Engine;
use integration_tests::{Gateway, S3Target, boto3, unique_bucket};

use crate::cluster::Cluster;

#[test]
fn no_secret_appears_in_logs_metrics_errors_or_check_config() {
    // Plain HTTP with an SSE-C key, as behind a TLS-terminating sidecar.
    let audit_dir = tempfile::tempdir().expect("audit dir");
    let audit_path = audit_dir.path().join("audit.log");
    let hash_secret = "audit-hash-secret-5f1e0c7a";
    let mut cluster = Cluster::start(|c| {
        c.set("server.allow_sse_c_over_http", true)
            .set("audit.enabled", true)
            .set("audit.path", audit_path.display().to_string())
            .set("audit.key_names", "hashed")
            .set("audit.key_hash_secret", hash_secret)
    });
    cluster.gw.set_env("RUST_LOG", "debug");
    cluster.gw.restart().expect("restart at debug level");
    let gw = cluster.target();
    let bucket = unique_bucket("secrets");
    let config_text = std::fs::read_to_string(cluster.gw.config_path()).expect("config");
    let keyring_key = config_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("key = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("keyring key in config");
    let sse_key: Vec<u8> = (7..39).collect();
    let sse_b64 = base64::engine::general_purpose::STANDARD.encode(&sse_key);

    let code = format!(
        r#"
        import urllib.request
        bucket = {bucket:?}
        out = []
        def expect_error(call, **kw):
            try:
                call(**kw)
            except botocore.exceptions.ClientError as e:
                out.append(json.dumps(e.response, default=str))
                return
            raise SystemExit(f"{{call.__name__}} succeeded")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"data")
        sse = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=bytes(range(7, 39)))
        s3.put_object(Bucket=bucket, Key="c", Body=b"secret data", **sse)
        s3.get_object(Bucket=bucket, Key="c", **sse)["Body"].read()
        expect_error(s3.get_object, Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=bytes(32))
        v4 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={{"addressing_style": "path"}}))
        url = v4.generate_presigned_url("get_object", Params={{"Bucket": bucket, "Key": "k"}}, ExpiresIn=60)
        out.append("presigned " + url.split("X-Amz-Signature=")[1])
        assert urllib.request.urlopen(url).read() == b"data"
        bad = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong-secret",
                           config=Config(s3={{"addressing_style": "path"}}))
        expect_error(bad.get_object, Bucket=bucket, Key="k")
        unknown = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="TVUNKNOWNKEY", aws_secret_access_key="whatever",
                               config=Config(s3={{"addressing_style": "path"}}))
        expect_error(unknown.list_buckets)
        print("ERRORS " + json.dumps(out))
        "#
    );
    let out = boto3(&gw, &code).expect_success();
    let client_side = out.stdout_str();
    let signature = client_side
        .split("presigned ")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned();
    assert!(signature.len() >= 64, "no presigned signature captured:\n{client_side}");

    // A region down: the 503 path.
    cluster.b.kill();
    let down = boto3(
        &gw,
        &format!(
            r#"
            try:
                s3.put_object(Bucket={bucket:?}, Key="k2", Body=b"x")
            except botocore.exceptions.ClientError as e:
                print("DOWN " + json.dumps(e.response, default=str))
            "#
        ),
    )
    .expect_success()
    .stdout_str()
    .to_owned();
    assert!(down.contains("DOWN"), "{down}");

    let (_, metrics) = cluster.gw.admin_get("/metrics").expect("metrics");
    let checked = std::process::Command::new(Gateway::binary())
        .args(["check-config", "--config"])
        .arg(cluster.gw.config_path())
        .output()
        .expect("check-config");
    let check_config = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let log = cluster.gw.log_contents();
    assert!(log.contains("DEBUG"), "the log is not at debug level");
    cluster.gw.terminate();
    let audit = std::fs::read_to_string(&audit_path).expect("audit log");
    assert!(audit.lines().count() >= 8, "audit log:\n{audit}");
    assert!(audit.contains(r#""sse_c":true"#), "no SSE-C request audited:\n{audit}");
    assert!(
        audit.contains(r#""key":"hmac-sha256:"#) && !audit.contains(r#""key":"k""#),
        "keys not hashed:\n{audit}"
    );

    let a: S3Target = cluster.a.target();
    let secrets = [
        ("user secret", gw.secret_key.clone()),
        ("region a secret", a.secret_key.clone()),
        ("region b secret", cluster.b.target().secret_key),
        ("keyring key", keyring_key),
        ("SSE-C key", sse_b64),
        ("presigned signature", signature),
        ("audit hash secret", hash_secret.to_owned()),
    ];
    let errors = client_side.split("presigned ").next().unwrap_or_default().to_owned() + &down;
    assert_absent(
        &secrets,
        &[
            ("log", &log),
            ("/metrics", &metrics),
            ("error bodies", &errors),
            ("check-config", &check_config),
            ("audit log", &audit),
        ],
    );
}

/// Fails if any of `secrets` (what, value) appears in any of `places` (where, text). Also used
/// by the KMIP test for the keys fetched from the key manager.
pub(crate) fn assert_absent(secrets: &[(&str, String)], places: &[(&str, &String)]) {
    for (what, secret) in secrets {
        assert!(!secret.is_empty(), "{what} is empty");
        for (place, text) in places {
            assert!(!text.contains(secret.as_str()), "{what} appears in {place}");
        }
    }
}
