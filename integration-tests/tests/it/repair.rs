//! Replication that survives a region: policy "one" acknowledges writes while region b is
//! down, the journal records what b missed, and both the background loop and `twinvault repair`
//! bring b back to exactly a's state (compared straight on the two SeaweedFS servers).

use std::time::{Duration, Instant};

use integration_tests::{Fault, Gateway, GatewayConfig, S3Target, SeaweedRegion, boto3, unique_bucket};

use crate::cluster::{Cluster, REGION_B_TEMPLATE};

/// Every object of `bucket` as `region` stores it: key → [md5 of stored bytes, stamp, ETag],
/// as sorted JSON. Safe to poll while a repair runs.
pub fn region_state(region: &S3Target, upstream_bucket: &str) -> String {
    let code = format!(
        r#"
        bucket = {upstream_bucket:?}
        out = {{}}
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for o in page.get("Contents", []):
                    try:
                        r = s3.get_object(Bucket=bucket, Key=o["Key"])
                    except botocore.exceptions.ClientError as e:
                        # Deleted between the listing and the GET (a repair replaying a delete
                        # while a caller polls): recorded as such, so the states still differ.
                        if e.response["Error"]["Code"] != "NoSuchKey":
                            raise
                        out[o["Key"]] = ["deleted while read"]
                        continue
                    out[o["Key"]] = [hashlib.md5(r["Body"].read()).hexdigest(), r["Metadata"].get("tv-stamp", ""), o["ETag"]]
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchBucket":
                raise
        print("STATE " + json.dumps(out, sort_keys=True))
        "#
    );
    let out = boto3(region, &code).expect_success();
    out.stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("STATE "))
        .unwrap_or_else(|| panic!("no state printed:\n{}", out.combined()))
        .to_owned()
}

pub fn states(cluster: &Cluster, bucket: &str) -> (String, String) {
    (
        region_state(&cluster.a.target(), &Cluster::upstream_bucket("a", bucket)),
        region_state(&cluster.b.target(), &Cluster::upstream_bucket("b", bucket)),
    )
}

/// Keys of pending journal records region `holder` keeps (about the other region). Only a
/// journal bucket not created yet counts as none: any other error fails the test, so an
/// unreadable journal never passes for an empty one.
pub fn journal_records(holder: &SeaweedRegion, upstream_journal: &str) -> usize {
    let code = format!(
        r#"
        try:
            r = s3.list_objects_v2(Bucket={upstream_journal:?}, Prefix="missed/")
            print("RECORDS", r.get("KeyCount", 0))
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchBucket":
                raise
            print("RECORDS 0")
        "#
    );
    let out = boto3(&holder.target(), &code).expect_success();
    out.stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("RECORDS "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", out.combined()))
}

/// 200 PUTs (two of them 3-part multipart uploads, one with parts that are not whole
/// segments) and 50 DELETEs through the gateway; every one must be acknowledged.
const WRITES_WHILE_DOWN: &str = r#"
import random
from boto3.s3.transfer import TransferConfig
bucket = os.environ["TV_BUCKET"]
rnd = random.Random(7)
expected = {}
for i in range(200):
    body = rnd.randbytes(rnd.choice([0, 1, 5000, 70000, 200000]))
    s3.put_object(Bucket=bucket, Key=f"obj/{i:03}", Body=body)
    expected[f"obj/{i:03}"] = body
for i in range(0, 100, 2):
    s3.delete_object(Bucket=bucket, Key=f"obj/{i:03}")
    del expected[f"obj/{i:03}"]
big = rnd.randbytes(12 * 1024 * 1024)
cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
import io
s3.upload_fileobj(io.BytesIO(big), bucket, "big/multipart.bin", Config=cfg)
expected["big/multipart.bin"] = big
# Parts of 5 MiB + 1 B: staged and sealed again at completion, in region a alone.
odd = rnd.randbytes(11 * 1024 * 1024 + 3)
cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024 + 1)
s3.upload_fileobj(io.BytesIO(odd), bucket, "big/unaligned.bin", Config=cfg)
expected["big/unaligned.bin"] = odd
json.dump({k: hashlib.md5(v).hexdigest() for k, v in expected.items()}, open(os.environ["TV_EXPECTED"], "w"))
print("all checks passed")
"#;

/// Reads every expected object back through the gateway and compares its MD5.
const READ_BACK: &str = r#"
bucket = os.environ["TV_BUCKET"]
expected = json.load(open(os.environ["TV_EXPECTED"]))
listed = set()
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    listed.update(o["Key"] for o in page.get("Contents", []))
assert set(expected) <= listed, sorted(set(expected) - listed)[:10]
assert not listed & {f"obj/{i:03}" for i in range(0, 100, 2)}, "a deleted object is back"
for key, md5 in expected.items():
    assert hashlib.md5(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest() == md5, key
print("all checks passed")
"#;

fn run_script(target: &S3Target, script: &str, bucket: &str, expected: &std::path::Path) {
    let out = integration_tests::Cli::python(Some(target))
        .arg("-c")
        .arg(format!("{}{script}", integration_tests::clients::BOTO3_PRELUDE))
        .env("TV_BUCKET", bucket)
        .env("TV_EXPECTED", expected)
        .run()
        .expect_success();
    assert!(out.stdout_str().contains("all checks passed"), "{}", out.combined());
}

pub fn policy_one(config: GatewayConfig, repair_interval_ms: i64) -> GatewayConfig {
    config
        .write_policy("one")
        .set("replication.write_timeout_ms", 2000_i64)
        .set("replication.repair_interval_ms", repair_interval_ms)
        .set("replication.breaker_failures", 3_i64)
        .set("replication.breaker_cooldown_ms", 500_i64)
        .set("replication.upstream_timeout_ms", 5000_i64)
}

#[test]
fn a_region_down_during_writes_is_repaired_by_the_background_loop() {
    let mut cluster = Cluster::start(|c| policy_one(c, 1000));
    let gw = cluster.target();
    let bucket = unique_bucket("repairloop");
    boto3(&gw, &format!("s3.create_bucket(Bucket={bucket:?})")).expect_success();
    boto3(
        &gw,
        &format!("s3.put_object(Bucket={bucket:?}, Key='before', Body=b'x' * 1000)"),
    )
    .expect_success();

    cluster.b.kill();
    let expected = cluster.path("expected.json");
    run_script(&gw, WRITES_WHILE_DOWN, &bucket, &expected);
    assert!(
        journal_records(&cluster.a, "twinvault-journal") > 0,
        "no journal records in region a"
    );
    // The journal bucket is the gateway's own: hidden from listings, refused to clients.
    let hidden = boto3(
        &gw,
        r#"
        assert "twinvault-journal" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        try:
            s3.list_objects_v2(Bucket="twinvault-journal")
            raise SystemExit("journal bucket readable by a client")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
        print("hidden")
        "#,
    );
    assert!(hidden.expect_success().stdout_str().contains("hidden"));

    cluster.b.restart().expect("restart region b");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (a, b) = states(&cluster, &bucket);
        if a == b && journal_records(&cluster.a, "twinvault-journal") == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "region b not repaired within 90 s\na: {a}\nb: {b}\n{}",
            cluster.gw.log_contents()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    // Region b alone now serves every acknowledged write, byte for byte.
    cluster.a.kill();
    run_script(&gw, READ_BACK, &bucket, &expected);
}

#[test]
fn twinvault_repair_reconciles_what_the_journal_and_a_crash_left() {
    let mut cluster = Cluster::start(|c| policy_one(c, 0));
    let gw = cluster.target();
    let bucket = unique_bucket("repaircli");
    boto3(&gw, &format!("s3.create_bucket(Bucket={bucket:?})")).expect_success();
    cluster.b.kill();
    let expected = cluster.path("expected.json");
    run_script(&gw, WRITES_WHILE_DOWN, &bucket, &expected);
    cluster.b.restart().expect("restart region b");

    // A copy lost in region b without any journal record (as after a gateway killed between
    // its two upstream writes, or a region losing data): only the full pass can find it.
    boto3(
        &cluster.b.target(),
        &format!(
            "s3.delete_object(Bucket={:?}, Key='obj/199')",
            Cluster::upstream_bucket("b", &bucket)
        ),
    )
    .expect_success();

    let repair = |extra: &[&str]| run_repair(&cluster.gw.config_path(), extra);
    let dry = repair(&["--dry-run", "--bucket", &bucket]);
    assert!(dry.contains("dry run") && !dry.contains("copied 0 "), "{dry}");
    let (a, b) = states(&cluster, &bucket);
    assert_ne!(a, b, "a dry run changed region b");

    let done = repair(&[]);
    assert!(done.contains("repair done") && !done.contains("copied 0 "), "{done}");
    let (a, b) = states(&cluster, &bucket);
    assert_eq!(a, b, "regions differ after twinvault repair:\n{done}");
    assert_eq!(journal_records(&cluster.a, "twinvault-journal"), 0);

    // A second run finds nothing to do.
    let again = repair(&["--bucket", &bucket]);
    assert!(again.contains("copied 0 deleted 0"), "{again}");

    cluster.a.kill();
    run_script(&gw, READ_BACK, &bucket, &expected);
}

#[test]
fn two_gateways_writing_the_same_keys_converge_on_the_newest_stamp() {
    let (a, b) = crate::cluster::start_regions();
    let config = GatewayConfig::new(&a.target(), &b.target())
        .set("regions.b.bucket_template", REGION_B_TEMPLATE)
        .set("replication.repair_interval_ms", 0_i64);
    let gw1 = config.start().expect("gateway 1");
    let gw2 = config.start().expect("gateway 2");
    let bucket = unique_bucket("lww");
    let bucket_b = format!("{bucket}-b");
    boto3(&gw1.target(), &format!("s3.create_bucket(Bucket={bucket:?})")).expect_success();
    let writer = |tag: &'static str| {
        format!(
            r#"
            import threading
            bucket = {bucket:?}
            def work(t):
                for round in range(5):
                    for k in range(10):
                        s3.put_object(Bucket=bucket, Key=f"k{{k}}", Body=f"{tag}-{{t}}-{{round}}".encode() * 1000)
            threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            print("done")
            "#
        )
    };
    let (w1, w2) = (writer("one"), writer("two"));
    std::thread::scope(|scope| {
        let t1 = scope.spawn(|| boto3(&gw1.target(), &w1).expect_success());
        let t2 = scope.spawn(|| boto3(&gw2.target(), &w2).expect_success());
        t1.join().expect("writer 1");
        t2.join().expect("writer 2");
    });

    // Concurrent writers may or may not leave the regions disagreeing, so a disagreement either
    // way is made for sure: each region's copies are kept, each gateway overwrites half of the
    // keys once more, and then the kept older copy goes back into one region (b for k0..k4, a
    // for k5..k9), as if that region had received the two gateways' last writes in the other
    // order. Repair must then copy a to b for some keys and b to a for others.
    let work = tempfile::tempdir().expect("work dir");
    let kept = |region: &str| work.path().join(format!("kept-{region}.json")).display().to_string();
    for (target, upstream, region) in [(a.target(), &bucket, "a"), (b.target(), &bucket_b, "b")] {
        let keep = format!(
            r#"
            kept = {{}}
            for k in range(10):
                got = s3.get_object(Bucket={upstream:?}, Key=f"k{{k}}")
                kept[f"k{{k}}"] = {{"body": got["Body"].read().hex(), "meta": got["Metadata"]}}
            json.dump(kept, open({path:?}, "w"))
            "#,
            path = kept(region)
        );
        boto3(&target, &keep).expect_success();
    }
    for (gw, first) in [(&gw1, 0), (&gw2, 1)] {
        let last_write = format!(
            r#"
            for k in range({first}, 10, 2):
                s3.put_object(Bucket={bucket:?}, Key=f"k{{k}}", Body=f"last-{first}-{{k}}".encode() * 1000)
            "#
        );
        boto3(&gw.target(), &last_write).expect_success();
    }
    for (target, upstream, region, keys) in [
        (b.target(), &bucket_b, "b", "range(0, 5)"),
        (a.target(), &bucket, "a", "range(5, 10)"),
    ] {
        let replay = format!(
            r#"
            kept = json.load(open({path:?}))
            for k in {keys}:
                old = kept[f"k{{k}}"]
                s3.put_object(Bucket={upstream:?}, Key=f"k{{k}}", Body=bytes.fromhex(old["body"]), Metadata=old["meta"])
            "#,
            path = kept(region)
        );
        boto3(&target, &replay).expect_success();
    }

    let parse = |s: &str| -> serde_json::Value { serde_json::from_str(s).expect("state json") };
    let before_a = parse(&region_state(&a.target(), &bucket));
    let before_b = parse(&region_state(&b.target(), &bucket_b));
    let field =
        |state: &serde_json::Value, key: &str, at: usize| state[key][at].as_str().unwrap_or_default().to_owned();
    for k in 0..10 {
        let key = format!("k{k}");
        let (stamp_a, stamp_b) = (field(&before_a, &key, 1), field(&before_b, &key, 1));
        assert!(!stamp_a.is_empty() && !stamp_b.is_empty(), "{key} has no stamp");
        let newer_in_a = k < 5;
        assert_eq!(
            stamp_a > stamp_b,
            newer_in_a,
            "{key}: the regions do not disagree as set up before repair\na: {before_a}\nb: {before_b}"
        );
    }

    run_repair(&gw1.config_path(), &[]);

    let after_a = parse(&region_state(&a.target(), &bucket));
    let after_b = parse(&region_state(&b.target(), &bucket_b));
    assert_eq!(after_a, after_b, "regions disagree after repair");
    for k in 0..10 {
        let key = format!("k{k}");
        let newest = if k < 5 { &before_a } else { &before_b };
        assert_eq!(
            (field(&after_a, &key, 0), field(&after_a, &key, 1)),
            (field(newest, &key, 0), field(newest, &key, 1)),
            "{key}: the winner is not the copy with the newest stamp"
        );
    }
}

/// Runs `twinvault repair` with `config` and returns its stdout; fails the test if it fails.
pub fn run_repair(config: &std::path::Path, extra: &[&str]) -> String {
    run_subcommand("repair", config, extra)
}

/// Runs `twinvault SUBCOMMAND --config CONFIG EXTRA...`; returns stdout, fails the test on failure.
pub fn run_subcommand(subcommand: &str, config: &std::path::Path, extra: &[&str]) -> String {
    let out = std::process::Command::new(Gateway::binary())
        .args([subcommand, "--config"])
        .arg(config)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("run twinvault {subcommand}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{subcommand} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_gateway_killed_mid_fan_out_leaves_nothing_twinvault_repair_cannot_reconcile() {
    // Policy "all", region b silent: every upload is stored in a while b swallows its copy,
    // and no journal records anything. Then the gateway dies with SIGKILL.
    let (mut cluster, proxy) = Cluster::start_with_faulty_b(|c| c.set("replication.repair_interval_ms", 0_i64));
    let gw = cluster.target();
    let bucket = unique_bucket("sigkill");
    boto3(&gw, &format!("s3.create_bucket(Bucket={bucket:?})")).expect_success();
    proxy.set_fault(Fault::Blackhole);
    let writer = format!(
        r#"
        import threading
        def put(i):
            try:
                s3.put_object(Bucket={bucket:?}, Key=f"inflight/{{i}}", Body=os.urandom(1024 * 1024))
            except Exception as e:
                pass
        threads = [threading.Thread(target=put, args=(i,)) for i in range(12)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        "#
    );
    std::thread::scope(|scope| {
        let running = scope.spawn(|| boto3(&gw, &writer));
        // Wait until region a holds some of the uploads, then kill the gateway mid fan-out.
        let deadline = Instant::now() + Duration::from_secs(60);
        while region_state(&cluster.a.target(), &bucket) == "{}" {
            assert!(Instant::now() < deadline, "no upload reached region a");
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster.gw.kill();
        let _ = running.join();
    });
    proxy.set_fault(Fault::None);
    // Uploads whose bodies reached region a before the kill may still be committing there (on
    // a loaded machine, seconds later): repair runs once region a has stopped changing, as an
    // operator's repair after a crash would.
    let settle_deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = region_state(&cluster.a.target(), &bucket);
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let now = region_state(&cluster.a.target(), &bucket);
        if now == seen {
            break;
        }
        assert!(
            Instant::now() < settle_deadline,
            "region a kept changing for a minute after the kill"
        );
        seen = now;
    }
    let (a, b) = states(&cluster, &bucket);
    assert_ne!(a, b, "the crash left no divergence to repair");
    let done = run_repair(&cluster.gw.config_path(), &[]);
    let (a, b) = states(&cluster, &bucket);
    assert_eq!(a, b, "divergence left after twinvault repair:\n{done}");
}
