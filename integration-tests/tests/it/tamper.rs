//! Tampering with region a's stored copies, straight on its SeaweedFS: a bit flipped in the
//! header or in a segment, a truncated or extended body, two objects' bodies swapped, an object
//! copied to another key, an older version replayed. Every GET either gets the good copy from
//! region b (header damage fails over; a damaged segment continues from b mid-body), or fails loudly (an S3 error, or a body that
//! aborts mid-stream: never a clean 200 with wrong bytes); the integrity metric counts it; and
//! `twinvault repair` undoes a replayed older version.

use integration_tests::{boto3, unique_bucket};

use crate::cluster::Cluster;
use crate::repair::run_repair;

/// Python run against region a directly: `tamper(key, fn(body, meta) -> (body, meta))`.
const TAMPER_PRELUDE: &str = r#"
def tamper(key, change):
    got = s3.get_object(Bucket=BUCKET, Key=key)
    body, meta = change(got["Body"].read(), dict(got["Metadata"]))
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=meta)
def flip(data, at):
    data = bytearray(data)
    data[at] ^= 0x01
    return bytes(data)
"#;

fn integrity_failures(cluster: &Cluster) -> f64 {
    let (_, metrics) = cluster.gw.admin_get("/metrics").expect("metrics");
    metrics
        .lines()
        .filter(|l| l.starts_with("twinvault_envelope_integrity_failures_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn tampered_copies_fail_over_or_fail_loudly_and_never_return_wrong_bytes() {
    // Plain HTTP with SSE-C (one object below), as behind a TLS-terminating sidecar.
    let cluster = Cluster::start(|c| {
        c.read_mode("primary")
            .preferred_region("a")
            .set("server.allow_sse_c_over_http", true)
    });
    let gw = cluster.target();
    let bucket = unique_bucket("tamper");
    let keys = [
        "header",
        "segment",
        "truncated",
        "extended",
        "swap-a",
        "swap-b",
        "moved-src",
        "replayed",
    ];
    let setup = format!(
        r#"
        bucket = {bucket:?}
        s3.create_bucket(Bucket=bucket)
        for key in {keys:?}:
            s3.put_object(Bucket=bucket, Key=key, Body=(key.encode() * 40000)[:300000])
        s3.put_object(Bucket=bucket, Key="ssec-segment", Body=(b"ssec-segment" * 40000)[:300000],
                      SSECustomerAlgorithm="AES256", SSECustomerKey=bytes(range(32)))
        print("stored")
        "#
    );
    boto3(&gw, &setup).expect_success();
    // The version that will be replayed, kept from region a before the object is overwritten.
    let keep_old = format!(
        r#"
        BUCKET = {bucket:?}
        got = s3.get_object(Bucket=BUCKET, Key="replayed")
        json.dump({{"body": got["Body"].read().hex(), "meta": got["Metadata"]}}, open({old:?}, "w"))
        "#,
        old = cluster.path("old.json").display().to_string()
    );
    boto3(&cluster.a.target(), &keep_old).expect_success();
    boto3(
        &gw,
        &format!("s3.put_object(Bucket={bucket:?}, Key='replayed', Body=b'new version' * 1000)"),
    )
    .expect_success();

    let before = integrity_failures(&cluster);
    let attack = format!(
        r#"
        def header(body, meta):
            h = meta["tv-header"]
            meta["tv-header"] = h[:20] + ("A" if h[20] != "A" else "B") + h[21:]
            return body, meta
        tamper("header", header)
        tamper("segment", lambda b, m: (flip(b, 100000), m))
        tamper("ssec-segment", lambda b, m: (flip(b, 100000), m))
        tamper("truncated", lambda b, m: (b[:-1000], m))
        tamper("extended", lambda b, m: (b + b"\0" * 64, m))
        a = s3.get_object(Bucket=BUCKET, Key="swap-a")
        b = s3.get_object(Bucket=BUCKET, Key="swap-b")
        s3.put_object(Bucket=BUCKET, Key="swap-a", Body=b["Body"].read(), Metadata=a["Metadata"])
        src = s3.get_object(Bucket=BUCKET, Key="moved-src")
        s3.put_object(Bucket=BUCKET, Key="moved-dst", Body=src["Body"].read(), Metadata=src["Metadata"])
        old = json.load(open({old:?}))
        s3.put_object(Bucket=BUCKET, Key="replayed", Body=bytes.fromhex(old["body"]), Metadata=old["meta"])
        print("tampered")
        "#,
        old = cluster.path("old.json").display().to_string()
    );
    let attack = format!(
        "BUCKET = {bucket:?}\n{TAMPER_PRELUDE}\n{}",
        integration_tests::clients::dedent(&attack)
    );
    boto3(&cluster.a.target(), &attack).expect_success();

    let check = format!(
        r#"
        bucket = {bucket:?}
        def original(key):
            return (key.encode() * 40000)[:300000]
        def outcome(key):
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as e:
                return "error " + type(e).__name__
            return "good" if body == original(key) else "WRONG BYTES"
        results = {{k: outcome(k) for k in ["header", "segment", "truncated", "extended", "swap-a", "moved-dst"]}}
        # An SSE-C object continues from b too, opened there with the request's key.
        ssec = s3.get_object(Bucket=bucket, Key="ssec-segment", SSECustomerAlgorithm="AES256",
                             SSECustomerKey=bytes(range(32)))["Body"].read()
        results["ssec-segment"] = "good" if ssec == original("ssec-segment") else "WRONG BYTES"
        print("RESULTS " + json.dumps(results))
        # Header damage is caught before any byte: the good copy in b is served. A damaged
        # segment, or another object's body under this header, is found mid-body: the rest
        # comes from b's identical copy, so the client still gets the right bytes.
        assert results["header"] == "good", results
        assert results["segment"] == "good", results
        assert results["swap-a"] == "good", results
        assert results["ssec-segment"] == "good", results
        # Body damage: never a clean answer with wrong bytes.
        for key, result in results.items():
            assert result != "WRONG BYTES", (key, results)
        for key in ["segment", "truncated", "extended", "swap-a"]:
            assert results[key] in ("good", ) or results[key].startswith("error"), (key, results)
        # A copy moved to another key does not open there (bound to its name), and b has none.
        assert results["moved-dst"].startswith("error"), results
        # The replayed older version is a valid envelope: it is what a serves until repair.
        print("checked")
        "#
    );
    let out = boto3(&gw, &check).expect_success();
    assert!(out.stdout_str().contains("checked"), "{}", out.combined());
    println!("{}", out.stdout_str().trim());
    let counted = integrity_failures(&cluster) - before;
    assert!(counted >= 4.0, "only {counted} integrity failures counted");

    // Repair (the journal records the damaged reads queued, then the full pass) replaces every
    // damaged copy in a with b's intact one, verified through the envelope: a tampered copy
    // never wins, although it carries the same stamp. The copy moved to another key has no
    // intact counterpart anywhere: it is reported, and not spread to b.
    let summary = run_repair(&cluster.gw.config_path(), &["--bucket", &bucket]);
    println!("{summary}");
    for key in ["header", "segment", "truncated", "extended", "swap-a"] {
        let (a, _) = cluster.stored("a", &bucket, key);
        let (b, _) = cluster.stored("b", &bucket, key);
        assert!(a == b, "{key}: region a still holds the damaged copy after repair");
    }
    assert!(
        !summary.contains("unrepairable 0"),
        "the moved copy was not reported: {summary}"
    );
    let spread = boto3(
        &cluster.b.target(),
        &format!(
            "import botocore\ntry:\n    s3.head_object(Bucket={b:?}, Key='moved-dst')\n    print('SPREAD')\nexcept botocore.exceptions.ClientError:\n    print('ABSENT')",
            b = Cluster::upstream_bucket("b", &bucket)
        ),
    )
    .expect_success();
    assert!(
        spread.stdout_str().contains("ABSENT"),
        "the damaged copy was copied to b"
    );
    let healed = boto3(
        &gw,
        &format!(
            "for k in ['header', 'segment', 'truncated', 'extended']:\n    assert s3.get_object(Bucket={bucket:?}, Key=k)['Body'].read() == (k.encode() * 40000)[:300000], k\nprint('HEALED')"
        ),
    )
    .expect_success();
    assert!(healed.stdout_str().contains("HEALED"), "{}", healed.combined());

    // Anti-entropy undoes the replay: b's newer version (by stamp) wins in a.
    let replayed = boto3(
        &cluster.a.target(),
        &format!("print('REPLAYED', s3.get_object(Bucket={bucket:?}, Key='replayed')['Metadata'].get('tv-stamp'))"),
    )
    .expect_success()
    .stdout_str()
    .to_owned();
    let newest = boto3(
        &cluster.b.target(),
        &format!(
            "print('REPLAYED', s3.get_object(Bucket={bucket:?}, Key='replayed')['Metadata'].get('tv-stamp'))",
            bucket = Cluster::upstream_bucket("b", &bucket)
        ),
    )
    .expect_success()
    .stdout_str()
    .to_owned();
    assert_eq!(replayed, newest, "repair did not restore the newest version in a");
}
