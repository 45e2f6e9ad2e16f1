"""Where clients can tell S3 from the store behind it: the answers S3 gives, driven by boto3
and raw HTTP against the real gateway (issue #18's codes, details and probes).

Environment: TV_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, TV_BUCKET.
Exits non-zero with a message on the first failed expectation.
"""
import base64
import hashlib
import http.client
import os
import urllib.parse

import boto3
from botocore.config import Config

from tvclient import bucket, check, endpoint, expect_error, s3


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

# --- ListBuckets pages by max-buckets and continuation token, filtered by prefix ---
family = [f"page{suffix}-{i}" for i in range(5)]
for name in family:
    s3.create_bucket(Bucket=name)
seen, token = [], None
while True:
    kwargs = {"MaxBuckets": 2, "Prefix": f"page{suffix}-"}
    if token:
        kwargs["ContinuationToken"] = token
    page = s3.list_buckets(**kwargs)
    check(len(page["Buckets"]) <= 2 and page.get("Prefix") == f"page{suffix}-", f"ListBuckets page {page}")
    seen += [b["Name"] for b in page["Buckets"]]
    token = page.get("ContinuationToken")
    if not token:
        break
check(seen == family, f"ListBuckets pages gave {seen}")
expect_error("InvalidArgument", s3.list_buckets, ContinuationToken="not a token!")
for name in family:
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
v4 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
presigned_put = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "md5"})
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
for extra in [{"ACL": "public-read"}, {"ServerSideEncryption": "aws:kms"},
              {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": "2030-01-01T00:00:00Z"},
              {"ObjectLockLegalHoldStatus": "ON"}, {"GrantRead": 'id="someone"'}]:
    expect_error("NotImplemented", s3.put_object, Bucket=bucket, Key="refused", Body=b"x", **extra)
    expect_error("404", s3.head_object, Bucket=bucket, Key="refused")
expect_error("NotImplemented", s3.create_multipart_upload, Bucket=bucket, Key="refused", ACL="public-read")
expect_error("NotImplemented", s3.copy_object, Bucket=bucket, Key="refused",
             CopySource={"Bucket": bucket, "Key": "source"}, ACL="public-read")
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

# --- GetObjectAttributes ---
attrs = s3.get_object_attributes(Bucket=bucket, Key="cond", ObjectAttributes=["ETag", "ObjectSize", "StorageClass",
                                                                             "ObjectParts", "Checksum"])
check(attrs["ETag"].strip('"') == put["ETag"].strip('"'), f"attributes ETag {attrs}")
check(attrs["ObjectSize"] == len(b"conditional") and attrs["StorageClass"] == "STANDARD", f"attributes {attrs}")
check("ObjectParts" not in attrs, f"a single PUT has no parts: {attrs}")
only_size = s3.get_object_attributes(Bucket=bucket, Key="cond", ObjectAttributes=["ObjectSize"])
check("ETag" not in only_size and only_size["ObjectSize"] == len(b"conditional"), f"unasked attributes: {only_size}")
upload = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
etags = [s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=n, Body=os.urandom(size))["ETag"]
         for n, size in [(1, 5 * 1024 * 1024), (2, 1000)]]
s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload, MultipartUpload={
    "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]})
attrs = s3.get_object_attributes(Bucket=bucket, Key="parts", ObjectAttributes=["ObjectParts", "ObjectSize"])
check(attrs["ObjectParts"]["TotalPartsCount"] == 2, f"multipart attributes {attrs}")
check(attrs["ObjectSize"] == 5 * 1024 * 1024 + 1000, f"multipart size {attrs}")
expect_error("NoSuchKey", s3.get_object_attributes, Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])

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

# --- keys: any UTF-8 S3 takes round-trips through every operation that names one ---
import random
rng = random.Random(18)
alphabet = list("abcXYZ019 +%?#&=;:@$,!*'()~-_.") + ["é", "日本", "😀", "/", "//"]
run = "keys/"
keys = set()
while len(keys) < 40:
    key = run + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
    # Refused, whatever the store (tested below): SeaweedFS refuses "./" segments, keeps a key
    # ending in "/" as a directory without its body, and folds "//" into "/".
    if "./" in key or key.endswith("/.") or key.endswith("/") or "//" in key:
        continue
    keys.add(key)
def round_trip(key):
    body = key.encode() * 3
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    check(s3.head_object(Bucket=bucket, Key=key)["ETag"] == etag, f"HEAD {key!r}")
    check(s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, f"GET {key!r}")
    s3.copy_object(Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket, "Key": key})


for key in sorted(keys):
    try:
        round_trip(key)
    except Exception as e:
        raise AssertionError(f"key {key!r}: {e}") from e
listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=run)["Contents"]}
check(listed == keys | {k + ".copy" for k in keys}, f"listing differs: {sorted(listed ^ keys)[:5]}")
encoded = s3.list_objects_v2(Bucket=bucket, Prefix=run, EncodingType="url")["Contents"]
check({urllib.parse.unquote_plus(o["Key"]) for o in encoded} == listed, "url-encoded listing differs")
upload = s3.create_multipart_upload(Bucket=bucket, Key=run + "from parts")["UploadId"]
source = sorted(keys)[0]
part = s3.upload_part_copy(Bucket=bucket, Key=run + "from parts", UploadId=upload, PartNumber=1,
                           CopySource={"Bucket": bucket, "Key": source})["CopyPartResult"]["ETag"]
s3.complete_multipart_upload(Bucket=bucket, Key=run + "from parts", UploadId=upload,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
check(s3.get_object(Bucket=bucket, Key=run + "from parts")["Body"].read() == source.encode() * 3,
      f"UploadPartCopy from {source!r}")
gone = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in listed | {run + "from parts"}]})
check(not gone.get("Errors") and len(gone["Deleted"]) == len(listed) + 1, f"DeleteObjects {gone.get('Errors')}")
check("Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=run), "keys left after DeleteObjects")

for key in ["folder/", "a//b", "trailing//"]:
    e = expect_error("InvalidRequest", s3.put_object, Bucket=bucket, Key=key, Body=b"x")
    check("cannot be stored" in e.response["Error"]["Message"], f"refusal of {key!r}: {e}")
    expect_error("InvalidRequest", s3.create_multipart_upload, Bucket=bucket, Key=key)
    expect_error("InvalidRequest", s3.copy_object, Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": "source"})
    expect_error("404", s3.head_object, Bucket=bucket, Key=key)

# --- tidy up ---
for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
    s3.delete_object(Bucket=bucket, Key=o["Key"])
s3.delete_bucket(Bucket=bucket)
print("conformance.py: all checks passed")
