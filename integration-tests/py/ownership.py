"""Bucket ownership between two users and an admin, through boto3: every operation of one user
on the other's bucket is refused with 403 AccessDenied (a bodiless HEAD: status 403), S3's own
answers elsewhere (BucketAlreadyExists, NoSuchBucket), ListBuckets shows one's own buckets,
page by page (MaxBuckets, ContinuationToken, Prefix), and an admin's shows everyone's.

Environment: TV_S3_ENDPOINT, TV_BUCKET (alice's, created here), TV_BOB_BUCKET (bob's, created
here), TV_LEGACY_BUCKET (created upstream, no owner; `access.unowned_buckets` is the admin),
TV_{ALICE,BOB,ADMIN}_{KEY,SECRET}. Prints every request id it got (REQUEST_IDS <json>), then
"all checks passed".
"""
import json
import os

import boto3
from tvclient import bucket, check, endpoint, expect_error, path_style

bob_bucket = os.environ["TV_BOB_BUCKET"]
legacy = os.environ["TV_LEGACY_BUCKET"]
request_ids = []


def client(user):
    c = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=path_style,
                     aws_access_key_id=os.environ[f"TV_{user}_KEY"],
                     aws_secret_access_key=os.environ[f"TV_{user}_SECRET"])

    def note(http_response, parsed, **kwargs):
        request_ids.append(http_response.headers.get("x-amz-request-id"))
    c.meta.events.register("after-call", note)
    return c


alice, bob, admin = client("ALICE"), client("BOB"), client("ADMIN")


def names(c):
    return sorted(b["Name"] for b in c.list_buckets()["Buckets"])


# Setup: each user creates a bucket and an object; alice starts a multipart upload.
alice.create_bucket(Bucket=bucket)
bob.create_bucket(Bucket=bob_bucket)
alice.put_object(Bucket=bucket, Key="k", Body=b"alice data")
bob.put_object(Bucket=bob_bucket, Key="b", Body=b"bob data")
upload = alice.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
alice.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 10)
bob_upload = bob.create_multipart_upload(Bucket=bob_bucket, Key="mp")["UploadId"]

# Every operation of bob on alice's bucket, its objects and its upload.
src_alice = {"Bucket": bucket, "Key": "k"}
src_bob = {"Bucket": bob_bucket, "Key": "b"}
refused = [
    ("HeadBucket", bob.head_bucket, dict(Bucket=bucket)),
    ("GetBucketLocation", bob.get_bucket_location, dict(Bucket=bucket)),
    ("ListObjects", bob.list_objects, dict(Bucket=bucket)),
    ("ListObjectsV2", bob.list_objects_v2, dict(Bucket=bucket)),
    ("PutObject", bob.put_object, dict(Bucket=bucket, Key="x", Body=b"x")),
    ("PutObject over an existing key", bob.put_object, dict(Bucket=bucket, Key="k", Body=b"x")),
    ("GetObject", bob.get_object, dict(Bucket=bucket, Key="k")),
    ("GetObject of a missing key", bob.get_object, dict(Bucket=bucket, Key="missing")),
    ("HeadObject", bob.head_object, dict(Bucket=bucket, Key="k")),
    ("HeadObject of a missing key", bob.head_object, dict(Bucket=bucket, Key="missing")),
    ("GetObjectAttributes", bob.get_object_attributes, dict(Bucket=bucket, Key="k", ObjectAttributes=["ETag"])),
    ("DeleteObject", bob.delete_object, dict(Bucket=bucket, Key="k")),
    ("DeleteObjects", bob.delete_objects, dict(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]})),
    ("CopyObject into alice's bucket", bob.copy_object, dict(Bucket=bucket, Key="c", CopySource=src_bob)),
    ("CopyObject out of alice's bucket", bob.copy_object, dict(Bucket=bob_bucket, Key="c", CopySource=src_alice)),
    ("CreateMultipartUpload", bob.create_multipart_upload, dict(Bucket=bucket, Key="m2")),
    ("UploadPart", bob.upload_part, dict(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=b"x")),
    ("UploadPartCopy into alice's upload", bob.upload_part_copy,
     dict(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, CopySource=src_bob)),
    ("UploadPartCopy out of alice's bucket", bob.upload_part_copy,
     dict(Bucket=bob_bucket, Key="mp", UploadId=bob_upload, PartNumber=1, CopySource=src_alice)),
    ("ListParts", bob.list_parts, dict(Bucket=bucket, Key="mp", UploadId=upload)),
    ("ListMultipartUploads", bob.list_multipart_uploads, dict(Bucket=bucket)),
    ("CompleteMultipartUpload", bob.complete_multipart_upload,
     dict(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": "x"}]})),
    ("AbortMultipartUpload", bob.abort_multipart_upload, dict(Bucket=bucket, Key="mp", UploadId=upload)),
    ("GetBucketAcl", bob.get_bucket_acl, dict(Bucket=bucket)),
    ("GetObjectAcl", bob.get_object_acl, dict(Bucket=bucket, Key="k")),
    ("GetBucketVersioning", bob.get_bucket_versioning, dict(Bucket=bucket)),
    ("GetBucketEncryption", bob.get_bucket_encryption, dict(Bucket=bucket)),
    ("GetObjectTagging", bob.get_object_tagging, dict(Bucket=bucket, Key="k")),
    ("PutObjectTagging", bob.put_object_tagging,
     dict(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "owner", "Value": "bob"}]})),
    ("DeleteObjectTagging", bob.delete_object_tagging, dict(Bucket=bucket, Key="k")),
    ("GetBucketPolicy", bob.get_bucket_policy, dict(Bucket=bucket)),
    ("DeleteBucket", bob.delete_bucket, dict(Bucket=bucket)),
    ("presigned GetObject", None, dict(Bucket=bucket, Key="k")),
]
for name, call, kwargs in refused:
    if call is None:
        import urllib.error
        import urllib.request
        url = bob.generate_presigned_url("get_object", Params=kwargs, ExpiresIn=60)
        try:
            urllib.request.urlopen(url)
            raise AssertionError(f"{name}: allowed")
        except urllib.error.HTTPError as e:
            body = e.read().decode()
            check(e.code == 403 and "<Code>AccessDenied</Code>" in body, f"{name}: {e.code} {body[:200]}")
        continue
    head = name.startswith("Head")
    e = expect_error("403" if head else "AccessDenied", call, **kwargs)
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, f"{name}: {e.response}")
    print(f"refused {name}: 403 {e.response['Error']['Code']}")

# S3's answers where ownership does not apply.
e = expect_error("BucketAlreadyExists", bob.create_bucket, Bucket=bucket)
check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 409, str(e.response))
print("refused CreateBucket on alice's name: 409 BucketAlreadyExists")
alice.create_bucket(Bucket=bucket)  # one's own again: 200, as S3 in us-east-1
expect_error("404", bob.head_bucket, Bucket="no-such-bucket-" + bob_bucket)

# Nothing of alice's changed; each sees only their own bucket; the admin sees all.
check(alice.get_object(Bucket=bucket, Key="k")["Body"].read() == b"alice data", "alice's object changed")
check([o["Key"] for o in alice.list_objects_v2(Bucket=bucket).get("Contents", [])] == ["k"], "alice's keys changed")
check([u["UploadId"] for u in alice.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [upload],
      "alice's upload changed")
check(names(alice) == [bucket], f"alice lists {names(alice)}")
check(names(bob) == [bob_bucket], f"bob lists {names(bob)}")
check({bucket, bob_bucket, legacy} <= set(names(admin)), f"admin lists {names(admin)}")
check(admin.get_object(Bucket=bucket, Key="k")["Body"].read() == b"alice data", "admin cannot read")
check(alice.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [], "bob tagged alice's object")
admin.head_bucket(Bucket=bob_bucket)


def pages(c, size, prefix=None):
    """Every page of ListBuckets by `size` (and `prefix`): the names, page by page."""
    got, token = [], None
    while True:
        kwargs = {"MaxBuckets": size}
        if prefix:
            kwargs["Prefix"] = prefix
        if token:
            kwargs["ContinuationToken"] = token
        page = c.list_buckets(**kwargs)
        names_here = [b["Name"] for b in page.get("Buckets", [])]
        check(len(names_here) <= size, f"page of {size} holds {names_here}")
        check(prefix is None or page.get("Prefix") == prefix, f"Prefix {page.get('Prefix')!r}, asked {prefix!r}")
        got.append(names_here)
        token = page.get("ContinuationToken")
        if not token:
            return got


# ListBuckets pages: a family of buckets under one prefix, three alice's and two bob's; each
# pages through their own only, the admin through all of them.
family = f"{bucket}-p"
alices, bobs = [f"{family}{i}" for i in (1, 3, 5)], [f"{family}{i}" for i in (2, 4)]
for name in alices:
    alice.create_bucket(Bucket=name)
for name in bobs:
    bob.create_bucket(Bucket=name)
check(pages(alice, 2, family) == [alices[:2], alices[2:]], f"alice's pages {pages(alice, 2, family)}")
check(pages(bob, 1, family) == [bobs[:1], bobs[1:]], f"bob's pages {pages(bob, 1, family)}")
check(sum(pages(bob, 1), []) == sorted([bob_bucket] + bobs), f"bob's unfiltered pages {pages(bob, 1)}")
admin_pages = pages(admin, 2, family)
check(admin_pages == [sorted(alices + bobs)[i:i + 2] for i in (0, 2, 4)], f"admin's pages {admin_pages}")
check(pages(alice, 10, family + "9") == [[]], "a prefix nobody's bucket has")
for name in alices:
    alice.delete_bucket(Bucket=name)
for name in bobs:
    bob.delete_bucket(Bucket=name)
print("ListBuckets pages: each user's own, the admin's all")

# A bucket from before ownership: `unowned_buckets` names the admin.
expect_error("AccessDenied", alice.list_objects_v2, Bucket=legacy)
check(legacy not in names(alice), "alice lists the unowned bucket")
expect_error("BucketAlreadyExists", bob.create_bucket, Bucket=legacy)
admin.list_objects_v2(Bucket=legacy)
admin.create_bucket(Bucket=legacy)  # the admin may use it: answered as a re-creation, not claimed

alice.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)
bob.abort_multipart_upload(Bucket=bob_bucket, Key="mp", UploadId=bob_upload)
check(None not in request_ids, "a response without a request id")
print("REQUEST_IDS " + json.dumps(request_ids))
print("all checks passed")
