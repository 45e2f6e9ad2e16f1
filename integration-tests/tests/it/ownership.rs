//! Bucket ownership with two users and an admin: every operation on the other user's bucket is
//! refused (boto3 and aws-cli), ListBuckets shows one's own (page by page), the owner survives
//! a gateway restart and a region that lost its record gets it back from `twinvault repair`
//! and from the background repair loop; `twinvault assign-owner` hands over a bucket from
//! before ownership; the audit log has one line per request, naming the regions it used; an
//! expired upload id is refused and the loop removes what the upload left.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use integration_tests::{Cli, S3Target, assert_eventually, aws, boto3, sdk_client, unique_bucket, workspace_root};

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

    // aws-cli: every command of bob on alice's bucket.
    let script = workspace_root().join("integration-tests/py/ownership_awscli.py");
    let mut cli = Cli::python(Some(&cluster.target()))
        .arg(&script)
        .env("TV_BUCKET", &mine)
        .env("TV_BOB_BUCKET", &bobs);
    for (user, (key, secret)) in [("ALICE", ALICE), ("BOB", BOB)] {
        cli = cli
            .env(&format!("TV_{user}_KEY"), key)
            .env(&format!("TV_{user}_SECRET"), secret);
    }
    let out = cli.run().expect_success();
    assert!(out.stdout_str().contains("all checks passed"), "{}", out.combined());
    let bob = as_user(&cluster, BOB);

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

    the_background_loop_restores_records_and_removes_expired_uploads(&mut cluster, &mine);
}

/// With a fast repair loop and a 1 s upload lifetime: an owner record region b lost comes back
/// without `twinvault repair`, and an upload alice started before is refused (NoSuchUpload)
/// and gone upstream, its staged part and upload records removed from both regions.
fn the_background_loop_restores_records_and_removes_expired_uploads(cluster: &mut Cluster, mine: &str) {
    let alice = as_user(cluster, ALICE);
    let journal = Journals::of(cluster);
    let staged_before = journal.keys("staging/");
    let started = boto3(
        &alice,
        &format!(
            r#"
            up = s3.create_multipart_upload(Bucket={mine:?}, Key="expiring")["UploadId"]
            s3.upload_part(Bucket={mine:?}, Key="expiring", UploadId=up, PartNumber=1, Body=b"x" * 10)
            print("UPLOAD " + up)
            "#
        ),
    )
    .expect_success();
    let upload = started
        .stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("UPLOAD "))
        .expect("upload id")
        .to_owned();
    let records = format!("uploads/{mine}/");
    let held = journal.keys(&records);
    assert!(
        held.iter().any(|(r, _)| *r == "a") && held.iter().any(|(r, _)| *r == "b"),
        "upload records: {held:?}"
    );
    let staged: BTreeSet<_> = journal.keys("staging/").difference(&staged_before).cloned().collect();
    assert!(
        staged.iter().any(|(r, _)| *r == "a") && staged.iter().any(|(r, _)| *r == "b"),
        "the 10-byte part is staged in both regions: {staged:?}"
    );
    let owner_records = format!("owners/{mine}/");
    journal.remove("b", &journal.keys(&owner_records));
    assert!(
        journal.keys(&owner_records).iter().all(|(r, _)| *r == "a"),
        "b's record not removed"
    );

    cluster.gw.set_env("TWINVAULT_MULTIPART__UPLOAD_TTL_SECS", "1");
    cluster.gw.set_env("TWINVAULT_REPLICATION__REPAIR_INTERVAL_MS", "200");
    cluster.gw.restart().expect("restart with a fast repair loop");
    let patience = Duration::from_secs(30);
    assert_eventually!(
        {
            let held = journal.keys(&owner_records);
            anyhow::ensure!(held.iter().any(|(r, _)| *r == "b"), "b lacks the record: {held:?}");
            Ok(())
        },
        patience
    );
    assert_eventually!(
        {
            let left: Vec<_> = journal
                .keys(&records)
                .into_iter()
                .chain(journal.keys("staging/").intersection(&staged).cloned())
                .collect();
            anyhow::ensure!(left.is_empty(), "left behind: {left:?}");
            Ok(())
        },
        patience
    );
    assert!(
        journal.upstream_uploads(mine).is_empty(),
        "upstream uploads not aborted"
    );
    let refused = boto3(
        &alice,
        &format!(
            r#"
            up, b, k = {upload:?}, {mine:?}, "expiring"
            parts = {{"Parts": [{{"PartNumber": 1, "ETag": "x"}}]}}
            for name, call, kw in [
                ("UploadPart", s3.upload_part, dict(PartNumber=2, Body=b"y")),
                ("ListParts", s3.list_parts, {{}}),
                ("CompleteMultipartUpload", s3.complete_multipart_upload, dict(MultipartUpload=parts)),
                ("AbortMultipartUpload", s3.abort_multipart_upload, {{}}),
            ]:
                try:
                    call(Bucket=b, Key=k, UploadId=up, **kw)
                    raise SystemExit(f"{{name}} of an expired upload was allowed")
                except botocore.exceptions.ClientError as e:
                    assert e.response["Error"]["Code"] == "NoSuchUpload", (name, e.response)
                    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, (name, e.response)
            listed = s3.list_multipart_uploads(Bucket=b).get("Uploads", [])
            assert up not in [u["UploadId"] for u in listed], listed
            print("expired upload refused")
            "#
        ),
    )
    .expect_success();
    assert!(
        refused.stdout_str().contains("expired upload refused"),
        "{}",
        refused.combined()
    );
}

/// Both regions' reserved buckets, read and changed directly (behind the gateway).
struct Journals {
    regions: [(&'static str, aws_sdk_s3::Client, String); 2],
    runtime: tokio::runtime::Runtime,
}

impl Journals {
    fn of(cluster: &Cluster) -> Self {
        let bucket = |region| Cluster::upstream_bucket(region, "twinvault-journal");
        Self {
            regions: [
                ("a", sdk_client(&cluster.a.target()), bucket("a")),
                ("b", sdk_client(&cluster.b.target()), bucket("b")),
            ],
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    /// Every (region, key) under `prefix`.
    fn keys(&self, prefix: &str) -> BTreeSet<(&'static str, String)> {
        let mut keys = BTreeSet::new();
        for (region, client, bucket) in &self.regions {
            let pages = self.runtime.block_on(
                client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .into_paginator()
                    .send()
                    .collect::<Vec<_>>(),
            );
            for page in pages {
                let page = page.unwrap_or_else(|e| panic!("list {region} {prefix}: {e:?}"));
                for object in page.contents() {
                    keys.insert((*region, object.key().unwrap_or_default().to_owned()));
                }
            }
        }
        keys
    }

    /// Deletes `keys` that are in `region`.
    fn remove(&self, region: &str, keys: &BTreeSet<(&'static str, String)>) {
        for (client_region, client, bucket) in &self.regions {
            for (_, key) in keys.iter().filter(|(r, _)| r == client_region && *r == region) {
                self.runtime
                    .block_on(client.delete_object().bucket(bucket).key(key).send())
                    .unwrap_or_else(|e| panic!("delete {region} {key}: {e:?}"));
            }
        }
    }

    /// The multipart uploads the regions hold for the client bucket `bucket`.
    fn upstream_uploads(&self, bucket: &str) -> Vec<String> {
        let mut uploads = Vec::new();
        for (region, client, _) in &self.regions {
            let listed = self
                .runtime
                .block_on(
                    client
                        .list_multipart_uploads()
                        .bucket(Cluster::upstream_bucket(region, bucket))
                        .send(),
                )
                .unwrap_or_else(|e| panic!("list uploads in {region}: {e:?}"));
            uploads.extend(listed.uploads().iter().filter_map(|u| u.upload_id().map(str::to_owned)));
        }
        uploads
    }
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
    let (mut puts, mut gets) = (0, 0);
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
            "regions",
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
        // Write policy "all": a PUT went to both regions; primary reads: a GET was answered by
        // the preferred region alone; a refusal never reached a region.
        let regions = &line["regions"];
        if line["operation"] == "PutObject" && line["status"] == 200 {
            assert!(line["bytes_in"].as_u64().is_some_and(|n| n > 0), "{line}");
            assert_eq!(*regions, serde_json::json!(["a", "b"]), "{line}");
            puts += 1;
        }
        if line["operation"] == "GetObject" && line["status"] == 200 {
            assert!(line["bytes_out"].as_u64().is_some_and(|n| n >= 10), "{line}");
            assert_eq!(*regions, serde_json::json!(["a"]), "{line}");
            gets += 1;
        }
        if line["status"] == 403 {
            assert_eq!(*regions, serde_json::json!([]), "{line}");
        }
    }
    assert!(denied >= 25, "{denied} denied requests in the audit log");
    assert!(puts >= 2 && gets >= 2, "{puts} PUTs and {gets} GETs answered 200");
}
