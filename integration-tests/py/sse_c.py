"""SSE-C through twinvault with boto3: the customer's key encrypts, is required to read, a wrong
key is refused, and the algorithm and key MD5 are echoed as S3 does. Over plain HTTP this needs
the gateway's `server.allow_sse_c_over_http = true` (sse_c.rs sets it)."""
import base64, hashlib, os, sys

import boto3, botocore
from botocore.config import Config

s3 = boto3.client("s3", endpoint_url=os.environ["TV_S3_ENDPOINT"], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
bucket = os.environ["TV_BUCKET"]
key = bytes(range(32))
other = bytes(range(1, 33))
md5 = base64.b64encode(hashlib.md5(key).digest()).decode()
sse = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=key)
wrong = dict(SSECustomerAlgorithm="AES256", SSECustomerKey=other)
body = os.urandom(300_000)


def error_of(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    raise SystemExit(f"{call.__name__} {kw.get('Key')} succeeded but should fail")


r = s3.put_object(Bucket=bucket, Key="secret.bin", Body=body, **sse)
assert r["SSECustomerAlgorithm"] == "AES256" and r["SSECustomerKeyMD5"] == md5, r

g = s3.get_object(Bucket=bucket, Key="secret.bin", **sse)
assert g["Body"].read() == body
assert g["SSECustomerAlgorithm"] == "AES256" and g["SSECustomerKeyMD5"] == md5, g
h = s3.head_object(Bucket=bucket, Key="secret.bin", **sse)
assert h["ContentLength"] == len(body) and h["SSECustomerKeyMD5"] == md5, h
part = s3.get_object(Bucket=bucket, Key="secret.bin", Range="bytes=65530-131080", **sse)["Body"].read()
assert part == body[65530:131081]

# Without the key: 400; with the wrong key: 403; never the bytes.
assert error_of(s3.get_object, Bucket=bucket, Key="secret.bin")[0] == 400
assert error_of(s3.head_object, Bucket=bucket, Key="secret.bin")[0] == 400
assert error_of(s3.get_object, Bucket=bucket, Key="secret.bin", **wrong) == (403, "AccessDenied")
assert error_of(s3.head_object, Bucket=bucket, Key="secret.bin", **wrong)[0] == 403
# A key sent for an object stored without one: 400.
s3.put_object(Bucket=bucket, Key="plain.bin", Body=b"plain")
assert error_of(s3.get_object, Bucket=bucket, Key="plain.bin", **sse)[0] == 400
# A key of the wrong length (a mismatching key MD5 is covered by the unit tests: boto3 always
# computes the MD5 itself).
assert error_of(s3.put_object, Bucket=bucket, Key="bad.bin", Body=b"x",
                SSECustomerAlgorithm="AES256", SSECustomerKey=b"short")[0] == 400

# Copies: SSE-C to another SSE-C key, and to no key; the source key is needed.
c = s3.copy_object(Bucket=bucket, Key="copy-other.bin", CopySource={"Bucket": bucket, "Key": "secret.bin"},
                   CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key, **wrong)
assert c["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(other).digest()).decode(), c
assert s3.get_object(Bucket=bucket, Key="copy-other.bin", **wrong)["Body"].read() == body
assert error_of(s3.get_object, Bucket=bucket, Key="copy-other.bin", **sse)[0] == 403
s3.copy_object(Bucket=bucket, Key="copy-plain.bin", CopySource={"Bucket": bucket, "Key": "secret.bin"},
               CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key)
assert s3.get_object(Bucket=bucket, Key="copy-plain.bin")["Body"].read() == body
assert error_of(s3.copy_object, Bucket=bucket, Key="nokey.bin",
                CopySource={"Bucket": bucket, "Key": "secret.bin"})[0] == 400

# Multipart under SSE-C: the key on Create and on every part (and, optionally, Complete).
MIB = 1024 * 1024
big = os.urandom(5 * MIB) + os.urandom(3 * MIB + 5)
up = s3.create_multipart_upload(Bucket=bucket, Key="mp.bin", **sse)
assert up["SSECustomerAlgorithm"] == "AES256" and up["SSECustomerKeyMD5"] == md5, up
uid = up["UploadId"]
p1 = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=1, Body=big[:5 * MIB], **sse)
assert p1["SSECustomerKeyMD5"] == md5, p1
# A part without the key, or with another key, is refused and stores nothing.
assert error_of(s3.upload_part, Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=2, Body=b"x")[0] == 400
assert error_of(s3.upload_part, Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=2, Body=b"x",
                **wrong) == (403, "AccessDenied")
# Part 2 copied from the SSE-C object above (its key as the copy source key).
p2 = s3.upload_part_copy(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=2,
                         CopySource={"Bucket": bucket, "Key": "secret.bin"}, CopySourceRange="bytes=0-99",
                         CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key, **sse)
assert p2["SSECustomerKeyMD5"] == md5, p2
# Without the source's key the copy is refused.
assert error_of(s3.upload_part_copy, Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=2,
                CopySource={"Bucket": bucket, "Key": "secret.bin"}, **sse)[0] == 400
assert error_of(s3.complete_multipart_upload, Bucket=bucket, Key="mp.bin", UploadId=uid,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]},
                                           {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]},
                **wrong)[0] == 403
s3.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=uid, MultipartUpload={"Parts": [
    {"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]}, **sse)
expected = big[:5 * MIB] + body[:100]
assert s3.get_object(Bucket=bucket, Key="mp.bin", **sse)["Body"].read() == expected
assert s3.get_object(Bucket=bucket, Key="mp.bin", Range="bytes=%d-%d" % (5 * MIB - 10, 5 * MIB + 9),
                     **sse)["Body"].read() == expected[5 * MIB - 10:5 * MIB + 10]
assert error_of(s3.get_object, Bucket=bucket, Key="mp.bin")[0] == 400
assert error_of(s3.get_object, Bucket=bucket, Key="mp.bin", **wrong)[0] == 403
# A plain upload's parts refuse a key.
plain_up = s3.create_multipart_upload(Bucket=bucket, Key="mp-plain.bin")["UploadId"]
assert error_of(s3.upload_part, Bucket=bucket, Key="mp-plain.bin", UploadId=plain_up, PartNumber=1,
                Body=b"x", **sse)[0] == 400
s3.abort_multipart_upload(Bucket=bucket, Key="mp-plain.bin", UploadId=plain_up)

# Parts that are not multiples of 64 KiB are sealed again at completion, which needs the key.
odd = [os.urandom(5 * MIB + 1), os.urandom(77)]
uid = s3.create_multipart_upload(Bucket=bucket, Key="mp-odd.bin", **sse)["UploadId"]
odd_parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp-odd.bin", UploadId=uid, PartNumber=n,
                                                      Body=data, **sse)["ETag"]}
             for n, data in enumerate(odd, start=1)]
assert error_of(s3.complete_multipart_upload, Bucket=bucket, Key="mp-odd.bin", UploadId=uid,
                MultipartUpload={"Parts": odd_parts}) == (400, "InvalidRequest")
s3.complete_multipart_upload(Bucket=bucket, Key="mp-odd.bin", UploadId=uid, MultipartUpload={"Parts": odd_parts},
                             **sse)
assert s3.get_object(Bucket=bucket, Key="mp-odd.bin", **sse)["Body"].read() == b"".join(odd)
assert error_of(s3.get_object, Bucket=bucket, Key="mp-odd.bin", **wrong)[0] == 403

# Listings show the plaintext size without any key.
sizes = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
assert sizes["secret.bin"] == len(body), sizes
assert sizes["mp.bin"] == len(expected), sizes
assert sizes["mp-odd.bin"] == 5 * MIB + 78, sizes
print("all checks passed")
