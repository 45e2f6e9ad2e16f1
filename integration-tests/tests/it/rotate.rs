//! Key rotation: `twinvault rotate` re-wraps every object (single and multipart) in both regions
//! under the new current key; afterwards the old key leaves the keyring and everything reads.

use integration_tests::gateway_config::random_key;
use integration_tests::{boto3, unique_bucket};

use crate::cluster::Cluster;
use crate::repair::{run_subcommand, states};

/// The gateway's config with `edit` applied to its `[keyring]` table.
fn with_keyring(config: &std::path::Path, edit: impl FnOnce(&mut toml::Table)) -> String {
    let text = std::fs::read_to_string(config).expect("read config");
    let mut table: toml::Table = text.parse().expect("config toml");
    let keyring = table
        .get_mut("keyring")
        .and_then(|k| k.as_table_mut())
        .expect("[keyring]");
    edit(keyring);
    toml::to_string(&table).expect("render config")
}

fn rotate(config: &std::path::Path, extra: &[&str]) -> String {
    run_subcommand("rotate", config, extra)
}

#[test]
fn rotate_rewraps_everything_so_the_old_key_can_go() {
    let mut cluster = Cluster::start(|c| c);
    let gw = cluster.target();
    let bucket = unique_bucket("rotate");
    let expected = cluster.path("expected.json");
    let write = format!(
        r#"
        import io
        from boto3.s3.transfer import TransferConfig
        bucket = {bucket:?}
        s3.create_bucket(Bucket=bucket)
        data = {{f"small/{{i}}": os.urandom(1000 * i) for i in range(20)}}
        for k, v in data.items():
            s3.put_object(Bucket=bucket, Key=k, Body=v, Metadata={{"owner": "me"}})
        big = os.urandom(11 * 1024 * 1024)
        cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
        s3.upload_fileobj(io.BytesIO(big), bucket, "big.bin", Config=cfg)
        data["big.bin"] = big
        json.dump({{k: hashlib.md5(v).hexdigest() for k, v in data.items()}}, open({expected:?}, "w"))
        print("written")
        "#,
        expected = expected.display().to_string()
    );
    boto3(&gw, &write).expect_success();
    let before = states(&cluster, &bucket);

    // k2 becomes current; rotate (dry first: it changes nothing).
    let new_key = random_key();
    let rotated_config = cluster.path("rotated.toml");
    let text = with_keyring(&cluster.gw.config_path(), |keyring| {
        let mut k2 = toml::Table::new();
        k2.insert("id".into(), "k2".into());
        k2.insert("key".into(), new_key.clone().into());
        if let Some(keys) = keyring.get_mut("keys").and_then(|k| k.as_array_mut()) {
            keys.push(toml::Value::Table(k2));
        }
        keyring.insert("current".into(), "k2".into());
    });
    std::fs::write(&rotated_config, &text).expect("write rotated config");
    let dry = rotate(&rotated_config, &["--dry-run"]);
    assert!(dry.contains("rewrapped 42 "), "21 objects in 2 regions: {dry}");
    assert_eq!(states(&cluster, &bucket), before, "a dry run changed something");
    let done = rotate(&rotated_config, &[]);
    assert!(done.contains("rewrapped 42 ") && done.contains("failed 0"), "{done}");
    let again = rotate(&rotated_config, &["--bucket", &bucket]);
    assert!(
        again.contains("rewrapped 0 already_current 42"),
        "not resumable/idempotent: {again}"
    );
    let (a, b) = states(&cluster, &bucket);
    assert_eq!(a, b, "regions differ after rotation");

    // k1 leaves the keyring: every object still reads, metadata intact.
    let only_k2 = with_keyring(&rotated_config, |keyring| {
        if let Some(keys) = keyring.get_mut("keys").and_then(|k| k.as_array_mut()) {
            keys.retain(|k| k.get("id").and_then(|v| v.as_str()) == Some("k2"));
        }
    });
    cluster.gw.restart_with(&only_k2).expect("restart with k2 only");
    let read = format!(
        r#"
        bucket = {bucket:?}
        for k, md5 in json.load(open({expected:?})).items():
            r = s3.get_object(Bucket=bucket, Key=k)
            assert hashlib.md5(r["Body"].read()).hexdigest() == md5, k
            if k.startswith("small/"):
                assert r["Metadata"] == {{"owner": "me"}}, r["Metadata"]
        print("all read")
        "#,
        expected = expected.display().to_string()
    );
    let out = boto3(&cluster.target(), &read).expect_success();
    assert!(out.stdout_str().contains("all read"), "{}", out.combined());
}
