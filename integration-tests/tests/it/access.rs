//! Multi-user isolation: a user limited to some buckets (`[[users]] buckets = [...]`) sees and
//! uses only those; other buckets, and the gateway's own journal bucket, answer AccessDenied.

use integration_tests::{S3Target, boto3, unique_bucket};

use crate::cluster::Cluster;

#[test]
fn a_user_limited_to_some_buckets_gets_access_denied_elsewhere() {
    let cluster = Cluster::start(|c| c.add_restricted_user("TVLIMITEDUSER", "limited-secret-0123456789", &["team-*"]));
    let admin = cluster.target();
    let limited = S3Target::new(admin.endpoint.clone(), "TVLIMITEDUSER", "limited-secret-0123456789");
    let mine = format!("team-{}", unique_bucket("x"));
    let other = unique_bucket("other");
    boto3(
        &admin,
        &format!("s3.create_bucket(Bucket={other:?}); s3.put_object(Bucket={other:?}, Key='k', Body=b'admin data')"),
    )
    .expect_success();
    let code = format!(
        r#"
        def denied(call, **kw):
            try:
                call(**kw)
            except botocore.exceptions.ClientError as e:
                assert e.response["Error"]["Code"] == "AccessDenied", e.response
                return
            raise SystemExit(f"{{call.__name__}} {{kw}} was allowed")
        s3.create_bucket(Bucket={mine:?})
        s3.put_object(Bucket={mine:?}, Key="k", Body=b"mine")
        assert s3.get_object(Bucket={mine:?}, Key="k")["Body"].read() == b"mine"
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert names == [{mine:?}], names
        denied(s3.get_object, Bucket={other:?}, Key="k")
        denied(s3.put_object, Bucket={other:?}, Key="k2", Body=b"x")
        denied(s3.list_objects_v2, Bucket={other:?})
        denied(s3.delete_object, Bucket={other:?}, Key="k")
        denied(s3.copy_object, Bucket={mine:?}, Key="stolen", CopySource={{"Bucket": {other:?}, "Key": "k"}})
        upload = s3.create_multipart_upload(Bucket={mine:?}, Key="mp")["UploadId"]
        denied(s3.upload_part_copy, Bucket={mine:?}, Key="mp", UploadId=upload, PartNumber=1,
               CopySource={{"Bucket": {other:?}, "Key": "k"}})
        s3.abort_multipart_upload(Bucket={mine:?}, Key="mp", UploadId=upload)
        denied(s3.create_bucket, Bucket="elsewhere-bucket")
        denied(s3.list_objects_v2, Bucket="twinvault-journal")
        print("isolated")
        "#
    );
    let out = boto3(&limited, &code).expect_success();
    assert!(out.stdout_str().contains("isolated"), "{}", out.combined());
    // The unrestricted user sees its own bucket, not the limited user's (each owns what it
    // created), and its bucket is untouched.
    let out = boto3(
        &admin,
        &format!(
            r#"
            names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
            assert {other:?} in names and {mine:?} not in names, names
            assert s3.get_object(Bucket={other:?}, Key="k")["Body"].read() == b"admin data"
            print("admin ok")
            "#
        ),
    )
    .expect_success();
    assert!(out.stdout_str().contains("admin ok"));
}
