//! Bucket ownership with two users and an admin: every operation on the other user's bucket is
//! refused (boto3 and aws-cli), ListBuckets shows one's own, the owner survives a gateway
//! restart and a region that lost its record gets it back from `twinvault repair`;
//! `twinvault assign-owner` hands over a bucket from before ownership; the audit log has one
//! line per request.

use std::collections::HashMap;

use integration_tests::{Cli, S3Target, aws, boto3, unique_bucket, workspace_root};

use crate::cluster::Cluster;
use crate::repair::{run_repair, run_subcommand};

const ALICE: (&str, &str) = ("TVALICE", "alice-secret-0123456789");
const BOB: (&str, &str) = ("TVBOB", "bob-secret-0123456789");
const ADMIN: (&str, &str) = ("TVADMIN", "admin-secret-0123456789");

fn as_user(cluster: &Cluster, (key, secret): (&str, &str)) -> S3Target {
    S3Target::new(cluster.target().endpoint.clone(), key, secret)
}

#[test]
fn users_own_their_buckets_across_restarts_and_repair() {
    let mut cluster = Cluster::start(|c| {
        c.add_user(ALICE.0, ALICE.1)
            .add_user(BOB.0, BOB.1)
            .add_admin_user(ADMIN.0, ADMIN.1)
            .set("access.unowned_buckets", ADMIN.0)
    });
    let audit_path = cluster.path("audit.log");
    let config = std::fs::read_to_string(cluster.gw.config_path()).expect("config");
    let with_audit = format!(
        "{config}\n[audit]\nenabled = true\npath = {:?}\n",
        audit_path.display().to_string()
    );
    cluster
        .gw
        .restart_with(&with_audit)
        .expect("restart with the audit log on");
    let (mine, bobs, legacy) = (unique_bucket("alice"), unique_bucket("bob"), unique_bucket("legacy"));
    // A bucket from before ownership: made in both regions behind the gateway's back.
    aws(&cluster.a.target(), ["s3api", "create-bucket", "--bucket", &legacy]).expect_success();
    let legacy_b = Cluster::upstream_bucket("b", &legacy);
    aws(&cluster.b.target(), ["s3api", "create-bucket", "--bucket", &legacy_b]).expect_success();

    // boto3: every refusal, listings, BucketAlreadyExists, the admin, the unowned bucket.
    let script = workspace_root().join("integration-tests/py/ownership.py");
    let mut cli = Cli::python(Some(&cluster.target()))
        .arg(&script)
        .env("TV_BUCKET", &mine)
        .env("TV_BOB_BUCKET", &bobs)
        .env("TV_LEGACY_BUCKET", &legacy);
    for (user, (key, secret)) in [("ALICE", ALICE), ("BOB", BOB), ("ADMIN", ADMIN)] {
        cli = cli
            .env(&format!("TV_{user}_KEY"), key)
            .env(&format!("TV_{user}_SECRET"), secret);
    }
    let out = cli.run().expect_success();
    let stdout = out.stdout_str();
    assert!(stdout.contains("all checks passed"), "{}", out.combined());
    let request_ids: Vec<String> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("REQUEST_IDS "))
        .and_then(|j| serde_json::from_str(j).ok())
        .expect("request ids");

    // aws-cli as bob.
    let bob = as_user(&cluster, BOB);
    let listed = aws(&bob, ["s3", "ls", &format!("s3://{mine}")]).expect_failure();
    assert!(listed.combined().contains("AccessDenied"), "{}", listed.combined());
    let download = cluster.path("stolen").display().to_string();
    let got = aws(
        &bob,
        ["s3api", "get-object", "--bucket", &mine, "--key", "k", &download],
    )
    .expect_failure();
    assert!(got.combined().contains("AccessDenied"), "{}", got.combined());

    // The audit log, complete once the gateway stopped: one line per request.
    cluster.gw.terminate();
    let audit = std::fs::read_to_string(&audit_path).expect("audit log");
    check_audit(&audit, &request_ids);

    // After a restart the owners are the same.
    cluster.gw.restart().expect("restart");
    let alice = as_user(&cluster, ALICE);
    let check_owners = format!(
        r#"
        try:
            s3.get_object(Bucket={mine:?}, Key="k")
            raise SystemExit("bob reads alice's object after a restart")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [{bobs:?}]
        print("owners kept")
        "#
    );
    boto3(&bob, &check_owners).expect_success();
    boto3(
        &alice,
        &format!(r#"assert s3.get_object(Bucket={mine:?}, Key="k")["Body"].read() == b"alice data""#),
    )
    .expect_success();

    // Region b loses alice's record; alice still owns the bucket (region a has it), and
    // `twinvault repair` writes it back.
    let journal_b = Cluster::upstream_bucket("b", "twinvault-journal");
    let prefix = format!("s3://{journal_b}/owners/{mine}/");
    aws(&cluster.b.target(), ["s3", "rm", "--recursive", &prefix]).expect_success();
    let listed = aws(&cluster.b.target(), ["s3", "ls", "--recursive", &prefix]);
    assert!(
        listed.stdout_str().trim().is_empty(),
        "record still in b: {}",
        listed.stdout_str()
    );
    boto3(&bob, &check_owners).expect_success();
    let repaired = run_repair(&cluster.gw.config_path(), &[]);
    assert!(repaired.contains("bucket owners: 1 records copied"), "{repaired}");
    let listed = aws(&cluster.b.target(), ["s3", "ls", "--recursive", &prefix]).expect_success();
    assert_eq!(listed.stdout_str().lines().count(), 1, "{}", listed.stdout_str());

    // assign-owner hands the unowned bucket to alice: bob and alice swap places on it.
    let assigned = run_subcommand(
        "assign-owner",
        &cluster.gw.config_path(),
        &["--bucket", &legacy, "--user", ALICE.0],
    );
    assert!(assigned.contains("was not recorded"), "{assigned}");
    cluster.gw.restart().expect("restart");
    boto3(&alice, &format!("s3.list_objects_v2(Bucket={legacy:?})")).expect_success();
    let denied = aws(&bob, ["s3api", "list-objects-v2", "--bucket", &legacy]).expect_failure();
    assert!(denied.combined().contains("AccessDenied"), "{}", denied.combined());
}

/// Every request id the script saw has exactly one line, with every field; no id has two.
fn check_audit(audit: &str, request_ids: &[String]) {
    let mut lines: HashMap<String, serde_json::Value> = HashMap::new();
    for line in audit.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let id = value["request_id"].as_str().expect("request_id").to_owned();
        assert!(lines.insert(id, value).is_none(), "two lines for one request: {line}");
    }
    assert!(request_ids.len() > 40, "{} requests", request_ids.len());
    let mut denied = 0;
    for id in request_ids {
        let line = lines
            .get(id)
            .unwrap_or_else(|| panic!("no audit line for request {id}"));
        for field in [
            "time",
            "access_key_id",
            "operation",
            "bucket",
            "key",
            "status",
            "bytes_in",
            "bytes_out",
            "sse_c",
        ] {
            assert!(line.get(field).is_some(), "{field} missing: {line}");
        }
        assert!(line["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{line}");
        if line["status"] == 403 {
            denied += 1;
            // Bob on alice's bucket, or alice on the unowned bucket.
            let who = &line["access_key_id"];
            assert!(*who == BOB.0 || *who == ALICE.0, "{line}");
        }
        if line["operation"] == "PutObject" && line["status"] == 200 {
            assert!(line["bytes_in"].as_u64().is_some_and(|n| n > 0), "{line}");
        }
        if line["operation"] == "GetObject" && line["status"] == 200 {
            assert!(line["bytes_out"].as_u64().is_some_and(|n| n >= 10), "{line}");
        }
    }
    assert!(denied >= 25, "{denied} denied requests in the audit log");
}
