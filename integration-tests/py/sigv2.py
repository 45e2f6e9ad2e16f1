"""Signature Version 2 through boto3's own v2 signer (signature_version="s3"), header-signed and
presigned. TV_SIGV2=off: every v2 request is refused (403 AccessDenied, "disabled"). TV_SIGV2=on:
v2 works, and a request dated more than 15 minutes off (a replay) is refused. The signing clock
is moved by replacing botocore's, never by waiting.

Environment: TV_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, TV_BUCKET, TV_SIGV2.
Exits non-zero with a message on the first failed expectation.
"""
import email.utils
import os
import time

import boto3
import botocore
import botocore.auth
from botocore.config import Config
from raw_http import fetch

endpoint = os.environ["TV_S3_ENDPOINT"]
bucket = os.environ["TV_BUCKET"]
mode = os.environ["TV_SIGV2"]


def client(signature_version):
    config = Config(s3={"addressing_style": "path"}, signature_version=signature_version,
                    retries={"max_attempts": 1})
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config)


v4 = client("s3v4")
v2 = client("s3")


def signing_clock(offset_secs):
    """botocore's v2 signers date requests `offset_secs` away from the real clock."""
    botocore.auth.HmacV1Auth._get_date = lambda self: email.utils.formatdate(time.time() + offset_secs, usegmt=True)
    botocore.auth.HmacV1QueryAuth._get_date = lambda self: str(int(time.time() + offset_secs + int(self._expires)))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(status, code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])
        check(got == (status, code), f"expected {status} {code}, got {got}: {e}")
        return e.response["Error"].get("Message", "")
    raise AssertionError(f"expected {status} {code}, call succeeded")


def presign_v2(key, expires=300):
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    check("AWSAccessKeyId=" in url and "X-Amz-Signature" not in url, f"not a v2 URL: {url}")
    return url


if mode == "off":
    v4.create_bucket(Bucket=bucket)
    v4.put_object(Bucket=bucket, Key="k", Body=b"v2 body")
    for call in [lambda: v2.list_buckets(), lambda: v2.get_object(Bucket=bucket, Key="k"),
                 lambda: v2.put_object(Bucket=bucket, Key="v2", Body=b"x")]:
        message = expect_error(403, "AccessDenied", call)
        check("Signature Version 2 is disabled" in message, f"message: {message!r}")
    status, code, body = fetch(presign_v2("k"))
    check((status, code) == (403, "AccessDenied"), f"v2 presigned GET: {status} {code}")
    check(b"Signature Version 2 is disabled" in body, f"v2 presigned body: {body[:300]!r}")
    check([o["Key"] for o in v4.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"], "a refused v2 PUT wrote")
elif mode == "on":
    # Header-signed v2: every kind of call boto3 makes, including subresources (?uploads, ?uploadId).
    check(bucket in [b["Name"] for b in v2.list_buckets()["Buckets"]], "v2 ListBuckets")
    v2.put_object(Bucket=bucket, Key="v2 key+plus", Body=b"signed with v2", ContentType="text/plain",
                  Metadata={"who": "v2"})
    got = v2.get_object(Bucket=bucket, Key="v2 key+plus")
    check(got["Body"].read() == b"signed with v2" and got["Metadata"] == {"who": "v2"}, "v2 GET")
    upload = v2.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = v2.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
    v2.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    check(v2.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"part", "v2 multipart")
    check(fetch(presign_v2("k"))[2] == b"v2 body", "v2 presigned GET")
    # Replays: dated 20 minutes ago or ahead; a presigned URL expiring beyond a week.
    for offset in [-1200, 1200]:
        signing_clock(offset)
        expect_error(403, "RequestTimeTooSkewed", v2.get_object, Bucket=bucket, Key="k")
    signing_clock(-600)
    check(v2.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2 body", "10 minutes behind: within the skew")
    signing_clock(-1200)
    status, code, body = fetch(presign_v2("k", 60))
    check((status, code) == (403, "AccessDenied") and b"Request has expired" in body, f"expired v2 URL: {status} {code}")
    signing_clock(0)
    status, code, _ = fetch(presign_v2("k", 604800 + 60))
    check((status, code) == (400, "AuthorizationQueryParametersError"), f"v2 URL beyond a week: {status} {code}")
    wrong = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_secret_access_key="wrong",
                         aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                         config=Config(s3={"addressing_style": "path"}, signature_version="s3",
                                       retries={"max_attempts": 1}))
    expect_error(403, "SignatureDoesNotMatch", wrong.get_object, Bucket=bucket, Key="k")
else:
    raise AssertionError(f"TV_SIGV2={mode!r}")
print(f"sigv2.py ({mode}): all checks passed")
