"""Presigned URL lifetimes and clock skew as S3 enforces them, driven by boto3 against the real
gateway. The signing clock is moved by replacing botocore's clock, never by waiting.

Environment: TV_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, TV_BUCKET.
Exits non-zero with a message on the first failed expectation.
"""
import datetime
import os

import boto3
import botocore
import botocore.auth
from botocore.config import Config
from raw_http import fetch

endpoint = os.environ["TV_S3_ENDPOINT"]
bucket = os.environ["TV_BUCKET"]
config = Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1})
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config)
real_clock = botocore.auth.get_current_datetime


def signing_clock(offset):
    """botocore signs as if its clock were `offset` ahead of the real one."""
    botocore.auth.get_current_datetime = lambda remove_tzinfo=True: real_clock(remove_tzinfo) + offset


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def presign(method, key, expires):
    op = {"GET": "get_object", "PUT": "put_object"}[method]
    return s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)


def expect_refused(url, method, status, code, message=None):
    got = fetch(url, method, b"x" if method == "PUT" else None)
    check(got[:2] == (status, code), f"{method} expected {status} {code}, got {got[0]} {got[1]}: {got[2][:300]!r}")
    if message is not None:
        check(message.encode() in got[2], f"{method} {code}: message lacks {message!r}: {got[2][:300]!r}")


s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket=bucket, Key="k", Body=b"presigned body")

# --- X-Amz-Expires: 1..604800 seconds ---
check(fetch(presign("GET", "k", 604800))[2] == b"presigned body", "GET with X-Amz-Expires=604800")
status = fetch(presign("PUT", "week", 604800), "PUT", b"a week")[0]
check(status == 200, f"PUT with X-Amz-Expires=604800: {status}")
check(s3.get_object(Bucket=bucket, Key="week")["Body"].read() == b"a week", "presigned PUT body")
for expires in [604801, 0]:
    for method in ["GET", "PUT"]:
        expect_refused(presign(method, "k", expires), method, 400, "AuthorizationQueryParametersError", "X-Amz-Expires")
check([o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k", "week"], "a refused PUT wrote")

# --- expired, and signed in the future ---
signing_clock(datetime.timedelta(hours=-2))
for method in ["GET", "PUT"]:
    expect_refused(presign(method, "k", 3600), method, 403, "AccessDenied", "Request has expired")
signing_clock(datetime.timedelta(minutes=20))
for method in ["GET", "PUT"]:
    expect_refused(presign(method, "k", 3600), method, 403, "RequestTimeTooSkewed")
signing_clock(datetime.timedelta(minutes=5))
check(fetch(presign("GET", "k", 60))[2] == b"presigned body", "signed 5 minutes ahead: within the skew")

# --- header-signed SigV4: x-amz-date more than 15 minutes off ---
for offset in [datetime.timedelta(minutes=20), datetime.timedelta(minutes=-20)]:
    signing_clock(offset)
    try:
        s3.get_object(Bucket=bucket, Key="k")
        raise AssertionError(f"GET signed {offset} off succeeded")
    except botocore.exceptions.ClientError as e:
        got = (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])
        check(got == (403, "RequestTimeTooSkewed"), f"signed {offset} off: {got}")
signing_clock(datetime.timedelta(minutes=-10))
check(s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"presigned body", "10 minutes behind: within the skew")
signing_clock(datetime.timedelta(0))

# --- POST Object (browser form, signature in the form): not implemented, refused before s3s ---
form = b'--x\r\nContent-Disposition: form-data; name="key"\r\n\r\nform\r\n--x--\r\n'
status, code, _ = fetch(f"{endpoint}/{bucket}", "POST", form, {"Content-Type": "multipart/form-data; boundary=x"})
check((status, code) == (501, "NotImplemented"), f"POST Object: {status} {code}")
print("presign_limits.py: all checks passed")
