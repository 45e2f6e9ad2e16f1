"""Where clients can tell S3 from the store behind it: the answers S3 gives, driven by boto3
and raw HTTP against the real gateway (issue #18's codes, details and probes).

Environment: TV_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, TV_BUCKET.
Exits non-zero with a message on the first failed expectation.
"""
import base64
import hashlib
import http.client
import urllib.parse

from tvclient import bucket, check, expect_error, s3


def raw(method, url, headers=None, body=b""):
    """Sends one request as given (no SDK rewriting); returns (status, headers, body)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    out = resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    conn.close()
    return out


s3.create_bucket(Bucket=bucket)
missing = bucket + "-never-created"

# --- writes to a bucket that does not exist: 404 NoSuchBucket, whatever the store behind does ---
expect_error("NoSuchBucket", s3.put_object, Bucket=missing, Key="k", Body=b"x")
expect_error("NoSuchBucket", s3.create_multipart_upload, Bucket=missing, Key="k")
s3.put_object(Bucket=bucket, Key="source", Body=b"source body")
expect_error("NoSuchBucket", s3.copy_object, Bucket=missing, Key="k", CopySource={"Bucket": bucket, "Key": "source"})
expect_error("404", s3.head_bucket, Bucket=missing)
check(missing not in [b["Name"] for b in s3.list_buckets()["Buckets"]], "a refused write created the bucket")

# --- bucket names follow S3's rules, whatever the store accepts ---
for name in ["ab", "a" * 64, "Upper-case", "under_score", "a..b", "a.-b", "a-.b", "-leading", "trailing-",
             ".dot", "192.168.5.4", "xn--punycode", "name-s3alias", "name--ol-s3", "sthree-name"]:
    expect_error("InvalidBucketName", s3.create_bucket, Bucket=name)
suffix = bucket[-6:]
# 61 characters: region b's bucket template ("{bucket}-b") adds two.
for name in [f"abc{suffix}", "a" * 55 + suffix, f"with.dots-and-1{suffix}"]:
    s3.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)

# --- 304 carries the validators S3 sends ---
put = s3.put_object(Bucket=bucket, Key="cond", Body=b"conditional")
for fn in (s3.get_object, s3.head_object):
    e = expect_error("304", fn, Bucket=bucket, Key="cond", IfNoneMatch=put["ETag"])
    headers = e.response["ResponseMetadata"]["HTTPHeaders"]
    check(headers.get("etag") == put["ETag"], f"{fn.__name__} 304 without the ETag: {headers}")
    check("last-modified" in headers, f"{fn.__name__} 304 without Last-Modified: {headers}")

# --- partNumber beyond the object's parts ---
expect_error("InvalidPartNumber", s3.get_object, Bucket=bucket, Key="cond", PartNumber=2)
expect_error("400", s3.head_object, Bucket=bucket, Key="cond", PartNumber=2)
check(s3.get_object(Bucket=bucket, Key="cond", PartNumber=1)["Body"].read() == b"conditional", "partNumber=1")

# --- Content-MD5: empty is InvalidDigest, wrong is BadDigest (raw HTTP: SDKs never send an empty one) ---
presigned_put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "md5"})
status, _, body = raw("PUT", presigned_put, {"Content-MD5": ""}, b"payload")
check(status == 400 and b"InvalidDigest" in body, f"empty Content-MD5: {status} {body[:200]}")
wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
expect_error("BadDigest", s3.put_object, Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=wrong)
expect_error("404", s3.head_object, Bucket=bucket, Key="md5")

# --- aws-chunked is a transfer detail: never stored as the object's Content-Encoding ---
s3.put_object(Bucket=bucket, Key="gz", Body=b"zz", ContentEncoding="gzip, aws-chunked")
check(s3.head_object(Bucket=bucket, Key="gz").get("ContentEncoding") == "gzip", "aws-chunked stored")
s3.put_object(Bucket=bucket, Key="chunked-only", Body=b"zz", ContentEncoding="aws-chunked")
check("ContentEncoding" not in s3.head_object(Bucket=bucket, Key="chunked-only"), "aws-chunked stored alone")

# --- what the gateway does not implement is refused, never stored silently without it ---
for extra in [{"Tagging": "team=blue"}, {"ACL": "public-read"}, {"ServerSideEncryption": "aws:kms"},
              {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": "2030-01-01T00:00:00Z"},
              {"ObjectLockLegalHoldStatus": "ON"}, {"GrantRead": 'id="someone"'}]:
    expect_error("NotImplemented", s3.put_object, Bucket=bucket, Key="refused", Body=b"x", **extra)
    expect_error("404", s3.head_object, Bucket=bucket, Key="refused")
expect_error("NotImplemented", s3.create_multipart_upload, Bucket=bucket, Key="refused", Tagging="a=b")
expect_error("NotImplemented", s3.copy_object, Bucket=bucket, Key="refused",
             CopySource={"Bucket": bucket, "Key": "source"}, TaggingDirective="REPLACE", Tagging="a=b")
for acl in ("private", "bucket-owner-full-control"):
    s3.put_object(Bucket=bucket, Key=f"acl-{acl}", Body=b"x", ACL=acl)
s3.put_object(Bucket=bucket, Key="sse-s3", Body=b"x", ServerSideEncryption="AES256")

# --- the read-only probes tools send before they work ---
versioning = s3.get_bucket_versioning(Bucket=bucket)
check("Status" not in versioning and "MFADelete" not in versioning, f"versioning {versioning}")
acl = s3.get_bucket_acl(Bucket=bucket)
check(acl["Owner"].get("ID") and [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"], f"bucket acl {acl}")
acl = s3.get_object_acl(Bucket=bucket, Key="source")
check([g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"], f"object acl {acl}")
expect_error("NoSuchKey", s3.get_object_acl, Bucket=bucket, Key="missing")
enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
check(enc[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", f"encoding {enc}")
check(s3.get_object_tagging(Bucket=bucket, Key="source")["TagSet"] == [], "object tags")
expect_error("NoSuchKey", s3.get_object_tagging, Bucket=bucket, Key="missing")
expect_error("NoSuchTagSet", s3.get_bucket_tagging, Bucket=bucket)
expect_error("NoSuchBucketPolicy", s3.get_bucket_policy, Bucket=bucket)
expect_error("NoSuchCORSConfiguration", s3.get_bucket_cors, Bucket=bucket)
expect_error("NoSuchLifecycleConfiguration", s3.get_bucket_lifecycle_configuration, Bucket=bucket)
expect_error("ObjectLockConfigurationNotFoundError", s3.get_object_lock_configuration, Bucket=bucket)
expect_error("NoSuchPublicAccessBlockConfiguration", s3.get_public_access_block, Bucket=bucket)
check("LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket), "bucket logging")
for probe in (s3.get_bucket_versioning, s3.get_bucket_acl, s3.get_bucket_encryption, s3.get_bucket_policy):
    expect_error("NoSuchBucket", probe, Bucket=missing)

# --- listings: url encoding covers every field; FetchOwner gives owners ---
for k in ["enc dir/a+b", "enc dir/c&d/e", "enc dir/f"]:
    s3.put_object(Bucket=bucket, Key=k, Body=b"e")
page = s3.list_objects_v2(Bucket=bucket, Prefix="enc dir/", Delimiter="/", EncodingType="url",
                          StartAfter="enc dir/a", MaxKeys=1)
# S3 leaves "/" as it is in url-encoded answers.
check(page["Prefix"] in ("enc+dir/", "enc%20dir/"), f"prefix not encoded: {page['Prefix']}")
check(page.get("StartAfter") in ("enc+dir/a", "enc%20dir/a"), f"start-after not encoded: {page.get('StartAfter')}")
check(page["Delimiter"] == "/", f"delimiter: {page['Delimiter']}")
page = s3.list_objects_v2(Bucket=bucket, Prefix="enc dir/", Delimiter="/", EncodingType="url")
prefixes = [urllib.parse.unquote_plus(p["Prefix"]) for p in page.get("CommonPrefixes", [])]
check(prefixes == ["enc dir/c&d/"], f"common prefixes {page.get('CommonPrefixes')}")
check(all(" " not in p["Prefix"] and "&" not in p["Prefix"] for p in page["CommonPrefixes"]),
      f"common prefixes not encoded: {page['CommonPrefixes']}")
v1 = s3.list_objects(Bucket=bucket, Prefix="enc dir/", EncodingType="url", MaxKeys=1, Marker="enc dir/a")
check(" " not in v1.get("Marker", "") and " " not in v1.get("NextMarker", "x"), f"v1 markers not encoded: {v1}")
owners = s3.list_objects_v2(Bucket=bucket, Prefix="enc dir/", FetchOwner=True)["Contents"]
check(all(o.get("Owner", {}).get("ID") for o in owners), f"FetchOwner gave no owners: {owners}")
plain = s3.list_objects_v2(Bucket=bucket, Prefix="enc dir/")["Contents"]
check(all("Owner" not in o for o in plain), "owners without FetchOwner")

# --- tidy up ---
for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
    s3.delete_object(Bucket=bucket, Key=o["Key"])
s3.delete_bucket(Bucket=bucket)
print("conformance.py: all checks passed")
