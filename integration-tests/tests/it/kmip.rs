//! Keys in a KMIP key manager (`[keyring] provider = "kmip"`), against a real `pykmip-server`
//! with its own test CA: refused starts (key manager down, certificates wrong, key missing),
//! boto3 round trips (plain and SSE-C), offline decrypt with the key manager and with an
//! exported key, rotation to a new key in the key manager, the key manager down while serving
//! (cached keys, then 503 and /readyz not ready) and back, and no key bytes anywhere.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use integration_tests::{Gateway, GatewayConfig, KmipServer, assert_eventually, boto3, unique_bucket};

use crate::cluster::Cluster;
use crate::metrics::sample;
use crate::repair::run_subcommand;

/// Fetched keys stay usable this long without the key manager; the refresh runs every second.
const CACHE_TTL_SECS: i64 = 8;

/// `config` with its keyring in `server`, `current` the key for new writes and `older` still
/// unwrapping.
fn kmip_keyring(config: GatewayConfig, server: &KmipServer, current: &str, older: &[&str]) -> GatewayConfig {
    let certs = server.certs();
    let path = |p: &Path| p.display().to_string();
    config
        .remove("keyring.keys")
        .set("keyring.provider", "kmip")
        .set("keyring.current", current)
        .set("keyring.kmip.endpoint", server.addr().to_string())
        .set("keyring.kmip.ca_file", path(&certs.ca))
        .set("keyring.kmip.client_cert_file", path(&certs.client_cert))
        .set("keyring.kmip.client_key_file", path(&certs.client_key))
        .set(
            "keyring.kmip.keys",
            toml::Value::Array(older.iter().map(|k| toml::Value::from(*k)).collect()),
        )
        .set("keyring.kmip.create_missing", true)
        .set("keyring.kmip.refresh_interval_secs", 1)
        .set("keyring.kmip.cache_ttl_secs", CACHE_TTL_SECS)
        .set("keyring.kmip.timeout_ms", 2000)
}

/// The gateway's current config file with `edit` applied to it as a table.
fn edited(config: &Path, edit: impl FnOnce(&mut toml::Table)) -> String {
    let mut table: toml::Table = std::fs::read_to_string(config)
        .expect("read config")
        .parse()
        .expect("config toml");
    edit(&mut table);
    toml::to_string(&table).expect("render config")
}

fn set_in(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let leaf = parts.pop().expect("path");
    let mut t = table;
    for part in parts {
        t = t
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("table");
    }
    t.insert(leaf.to_owned(), value);
}

/// Starts a gateway with `config_toml` and expects it to exit non-zero with `expected` in its
/// output; returns that output.
fn refused_start(config_toml: &str, expected: &[&str]) -> String {
    let mut gw = Gateway::spawn(config_toml).expect("spawn gateway");
    let status = gw.wait_exit(Duration::from_secs(30)).expect("gateway exits");
    let log = gw.log_contents();
    assert!(!status.success(), "gateway started without its keys:\n{log}");
    for part in expected {
        assert!(log.contains(part), "expected {part:?} in the refusal:\n{log}");
    }
    eprintln!(
        "refused: {}",
        log.lines().rfind(|l| l.starts_with("twinvault:")).unwrap_or_default()
    );
    log
}

/// `twinvault decrypt` of region a's copy of `key` with the config at `config`.
fn decrypt_with(cluster: &Cluster, config: &Path, bucket: &str, key: &str) -> Vec<u8> {
    let (_, meta) = cluster.stored("a", bucket, key);
    let stored = cluster.path(&format!("a-{key}.stored"));
    cluster.decrypt_offline_with(config, bucket, key, &meta, &stored)
}

fn readyz(cluster: &Cluster) -> (u16, String) {
    cluster.gw.admin_get("/readyz").expect("readyz")
}

fn scraped(cluster: &Cluster, series: &str) -> f64 {
    let (_, text) = cluster.gw.admin_get("/metrics").expect("metrics");
    sample(&text, series).unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
}

#[test]
fn keys_in_a_kmip_key_manager() {
    let started = std::time::Instant::now();
    let stage = |what: &str| eprintln!("kmip test: {what} at {:.1}s", started.elapsed().as_secs_f64());
    let mut km = KmipServer::start().expect("start pykmip-server");
    stage("key manager up");
    let mut cluster =
        Cluster::start(|c| kmip_keyring(c, &km, "tv-kek-1", &[]).set("server.allow_sse_c_over_http", true));
    cluster.gw.set_env("RUST_LOG", "debug");
    cluster.gw.restart().expect("restart at debug level");
    let config_path = cluster.gw.config_path();
    let gw = cluster.target();
    let bucket = unique_bucket("kmip");
    let mut outputs = String::new();

    stage("cluster up");
    // Refused starts, each with a clear reason (the running gateway is not touched).
    let base = std::fs::read_to_string(&config_path).expect("config");
    let with = |path: &str, value: toml::Value| {
        let mut table: toml::Table = base.parse().expect("toml");
        set_in(&mut table, path, value);
        for port in ["s3_listen", "admin_listen"] {
            let free = integration_tests::ports::allocate_one().expect("port");
            set_in(
                &mut table,
                &format!("server.{port}"),
                format!("127.0.0.1:{free}").into(),
            );
        }
        toml::to_string(&table).expect("render")
    };
    let closed = integration_tests::ports::allocate_one().expect("port");
    outputs += &refused_start(
        &with("keyring.kmip.endpoint", format!("127.0.0.1:{closed}").into()),
        &["cannot start without the keys", "key manager: connect to 127.0.0.1:"],
    );
    let certs = km.certs().clone();
    outputs += &refused_start(
        &with("keyring.kmip.ca_file", certs.rogue_ca.display().to_string().into()),
        &["TLS handshake", "invalid peer certificate"],
    );
    let rogue_client = {
        let mut table: toml::Table = with(
            "keyring.kmip.client_cert_file",
            certs.rogue_client_cert.display().to_string().into(),
        )
        .parse()
        .expect("toml");
        set_in(
            &mut table,
            "keyring.kmip.client_key_file",
            certs.rogue_client_key.display().to_string().into(),
        );
        toml::to_string(&table).expect("render")
    };
    // The server refuses the handshake (or drops the connection at once): no keys either way.
    outputs += &refused_start(&rogue_client, &["cannot start without the keys", "key manager:"]);
    let missing = {
        let mut table: toml::Table = with("keyring.current", "tv-no-such-key".into()).parse().expect("toml");
        set_in(&mut table, "keyring.kmip.create_missing", false.into());
        toml::to_string(&table).expect("render")
    };
    outputs += &refused_start(&missing, &["no key named \"tv-no-such-key\""]);

    stage("refused starts done");
    // Round trips through boto3: plain objects, a multipart one, an SSE-C one.
    let write = format!(
        r#"
        import io
        from boto3.s3.transfer import TransferConfig
        bucket = {bucket:?}
        s3.create_bucket(Bucket=bucket)
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"k{{i}}", Body=f"kmip object {{i}}".encode() * 100)
        cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
        big = bytes(range(256)) * (24 * 1024)
        s3.upload_fileobj(io.BytesIO(big), bucket, "big", Config=cfg)
        sse = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=bytes(range(32)))
        s3.put_object(Bucket=bucket, Key="c", Body=b"customer keyed", **sse)
        for i in range(3):
            assert s3.get_object(Bucket=bucket, Key=f"k{{i}}")["Body"].read() == f"kmip object {{i}}".encode() * 100
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
        assert s3.get_object(Bucket=bucket, Key="c", **sse)["Body"].read() == b"customer keyed"
        print("round trips ok")
        "#
    );
    let out = boto3(&gw, &write).expect_success();
    assert!(out.stdout_str().contains("round trips ok"), "{}", out.combined());
    let (status, body) = readyz(&cluster);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""reachable":true"#), "{body}");
    assert_eq!(scraped(&cluster, "twinvault_key_manager_up"), 1.0);
    // The fetch at start, then the refresh loop's (every second): at least two Gets, however
    // fast the round trips above were.
    integration_tests::eventually(Duration::from_secs(20), || {
        let gets = scraped(
            &cluster,
            r#"twinvault_key_manager_request_duration_seconds_count{operation="get"}"#,
        );
        anyhow::ensure!(gets >= 2.0, "{gets} KMIP Gets counted");
        Ok(())
    })
    .expect("the refresh loop's Gets are counted");

    stage("round trips done");
    // Offline: `decrypt` with the same config fetches the key; so does a file keyring holding
    // the key exported from the key manager under the same id.
    let plain = b"kmip object 0".repeat(100);
    cluster.assert_protected_at_rest(&bucket, "k0", &plain);
    let kek1 = km.export_key("tv-kek-1").expect("export tv-kek-1");
    let b64 = |k: &[u8]| base64::engine::general_purpose::STANDARD.encode(k);
    let file_keyring = |id: &str, key: &[u8]| {
        edited(&config_path, |t| {
            let mut entry = toml::Table::new();
            entry.insert("id".into(), id.into());
            entry.insert("key".into(), b64(key).into());
            let mut keyring = toml::Table::new();
            keyring.insert("current".into(), id.into());
            keyring.insert("keys".into(), toml::Value::Array(vec![toml::Value::Table(entry)]));
            t.insert("keyring".into(), toml::Value::Table(keyring));
        })
    };
    let exported1 = cluster.path("exported-kek-1.toml");
    std::fs::write(&exported1, file_keyring("tv-kek-1", &kek1)).expect("write");
    assert_eq!(decrypt_with(&cluster, &exported1, &bucket, "k0"), plain);

    stage("offline decrypt done");
    // Rotation: tv-kek-2 is created in the key manager and becomes current; `rotate` rewraps
    // the four objects without SSE-C in both regions, the client the SSE-C one; then the
    // gateway runs without tv-kek-1.
    let rotated = cluster.path("rotated.toml");
    std::fs::write(
        &rotated,
        edited(&config_path, |t| {
            set_in(t, "keyring.current", "tv-kek-2".into());
            set_in(t, "keyring.kmip.keys", toml::Value::Array(vec!["tv-kek-1".into()]));
        }),
    )
    .expect("write rotated config");
    let done = run_subcommand("rotate", &rotated, &[]);
    outputs += &done;
    assert!(
        done.contains("to key tv-kek-2")
            && done.contains("rewrapped 8 ")
            && done.contains("sse_c_skipped 2")
            && done.contains("failed 0"),
        "{done}"
    );
    // The SSE-C object needs its customer key to be rewrapped: the client copies it onto
    // itself through a gateway whose current key is tv-kek-2.
    let rotated_toml = std::fs::read_to_string(&rotated).expect("rotated config");
    cluster
        .gw
        .restart_with(&rotated_toml)
        .expect("restart with tv-kek-2 current");
    let recopy = format!(
        r#"
        sse = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=bytes(range(32)))
        src = dict(CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=bytes(range(32)))
        s3.copy_object(Bucket={bucket:?}, Key="c", CopySource={{"Bucket": {bucket:?}, "Key": "c"}},
                       MetadataDirective="REPLACE", **sse, **src)
        print("recopied")
        "#
    );
    let out = boto3(&cluster.target(), &recopy).expect_success();
    assert!(out.stdout_str().contains("recopied"), "{}", out.combined());
    let only_kek2 = edited(&rotated, |t| {
        set_in(t, "keyring.kmip.keys", toml::Value::Array(vec![]));
        set_in(t, "keyring.kmip.create_missing", false.into());
    });
    cluster.gw.restart_with(&only_kek2).expect("restart with tv-kek-2 only");
    let read_all = format!(
        r#"
        bucket = {bucket:?}
        for i in range(3):
            assert s3.get_object(Bucket=bucket, Key=f"k{{i}}")["Body"].read() == f"kmip object {{i}}".encode() * 100
        sse = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=bytes(range(32)))
        assert s3.get_object(Bucket=bucket, Key="c", **sse)["Body"].read() == b"customer keyed"
        assert len(s3.get_object(Bucket=bucket, Key="big")["Body"].read()) == 256 * 24 * 1024
        print("all read")
        "#
    );
    let out = boto3(&cluster.target(), &read_all).expect_success();
    assert!(out.stdout_str().contains("all read"), "{}", out.combined());
    let kek2 = km.export_key("tv-kek-2").expect("export tv-kek-2");
    assert_ne!(kek1, kek2);
    let exported2 = cluster.path("exported-kek-2.toml");
    std::fs::write(&exported2, file_keyring("tv-kek-2", &kek2)).expect("write");
    assert_eq!(
        decrypt_with(&cluster, &exported2, &bucket, "k0"),
        plain,
        "rewrapped under tv-kek-2"
    );

    stage("rotation done");
    // The key manager goes down: the last fetch fails, /readyz says so and stays ready while
    // the keys in memory are valid; reads are served from them.
    km.kill();
    let down = assert_eventually!({
        let (status, body) = readyz(&cluster);
        anyhow::ensure!(body.contains(r#""reachable":false"#), "{status} {body}");
        Ok((status, body))
    });
    let read_one = format!("print(s3.get_object(Bucket={bucket:?}, Key='k1')['Body'].read()[:11])");
    if !down.1.contains(r#""keys_valid_seconds":0"#) {
        assert_eq!(down.0, 200, "ready while cached keys are valid: {}", down.1);
        let out = boto3(&cluster.target(), &read_one).expect_success();
        assert!(out.stdout_str().contains("kmip object"), "{}", out.combined());
    }
    assert_eq!(scraped(&cluster, "twinvault_key_manager_up"), 0.0);
    assert!(
        scraped(
            &cluster,
            r#"twinvault_key_manager_errors_total{kind="connect",operation="connect"}"#
        ) >= 1.0
    );
    stage("outage seen");
    // Once they expire: not ready, and requests needing a key answer 503 naming the cause.
    let expired = assert_eventually!(
        {
            let (status, body) = readyz(&cluster);
            anyhow::ensure!(status == 503, "{status} {body}");
            Ok(body)
        },
        Duration::from_secs(CACHE_TTL_SECS as u64 + 10)
    );
    assert!(expired.contains(r#""keys_valid_seconds":0"#), "{expired}");
    let refused = format!(
        r#"
        for call, kw in [(s3.get_object, dict(Key="k1")), (s3.put_object, dict(Key="new", Body=b"x"))]:
            try:
                call(Bucket={bucket:?}, **kw)
                raise SystemExit(f"{{call.__name__}} succeeded without keys")
            except botocore.exceptions.ClientError as e:
                err = e.response["Error"]
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.response
                assert err["Code"] == "ServiceUnavailable", err
                assert "key manager" in err["Message"], err
                print("REFUSED " + json.dumps(e.response, default=str))
        "#
    );
    let out = boto3(&cluster.target(), &refused).expect_success();
    outputs += &out.stdout_str();
    assert_eq!(out.stdout_str().matches("REFUSED").count(), 2, "{}", out.combined());

    stage("expiry seen");
    // Back: the next refresh fetches the keys, and everything serves again.
    km.restart().expect("restart pykmip-server");
    assert_eventually!({
        let (status, body) = readyz(&cluster);
        anyhow::ensure!(status == 200 && body.contains(r#""reachable":true"#), "{status} {body}");
        Ok(())
    });
    let out = boto3(&cluster.target(), &read_all).expect_success();
    assert!(out.stdout_str().contains("all read"), "{}", out.combined());

    stage("back");
    // No key bytes anywhere: the debug log, /metrics, /readyz, error bodies, command output.
    let (_, metrics) = cluster.gw.admin_get("/metrics").expect("metrics");
    let log = cluster.gw.log_contents();
    assert!(log.contains("DEBUG"), "the log is not at debug level");
    let secrets = [
        ("tv-kek-1 (base64)", b64(&kek1)),
        ("tv-kek-1 (hex)", hex::encode(&kek1)),
        ("tv-kek-2 (base64)", b64(&kek2)),
        ("tv-kek-2 (hex)", hex::encode(&kek2)),
    ];
    crate::secrets::assert_absent(
        &secrets,
        &[
            ("log", &log),
            ("/metrics", &metrics),
            ("/readyz", &readyz(&cluster).1),
            ("errors and command output", &outputs),
        ],
    );
}
