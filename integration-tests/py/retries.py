"""Retried requests answer as S3 does (issue #17): a client that lost the answer retries.

CompleteMultipartUpload retried after it succeeded answers 200 with the same ETag (aws-cli
and the SDKs retry it on a lost connection); a retried DELETE is 204; a retried PUT stores the
same body again. A Complete of an upload whose object was overwritten since stays
NoSuchUpload.
"""
import os

import boto3
import botocore
import botocore.exceptions
from botocore.config import Config

s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["TV_S3_ENDPOINT"],
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
bucket = os.environ["TV_BUCKET"]
s3.create_bucket(Bucket=bucket)

MIB = 1024 * 1024
upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu.bin")["UploadId"]
parts = []
for n, body in enumerate([b"a" * (5 * MIB), b"tail"], start=1):
    etag = s3.upload_part(Bucket=bucket, Key="mpu.bin", UploadId=upload, PartNumber=n, Body=body)["ETag"]
    parts.append({"PartNumber": n, "ETag": etag})
first = s3.complete_multipart_upload(Bucket=bucket, Key="mpu.bin", UploadId=upload, MultipartUpload={"Parts": parts})
again = s3.complete_multipart_upload(Bucket=bucket, Key="mpu.bin", UploadId=upload, MultipartUpload={"Parts": parts})
assert again["ETag"] == first["ETag"], (first["ETag"], again["ETag"])
assert s3.head_object(Bucket=bucket, Key="mpu.bin")["ETag"] == first["ETag"]
body = s3.get_object(Bucket=bucket, Key="mpu.bin")["Body"].read()
assert body == b"a" * (5 * MIB) + b"tail", len(body)

# Overwritten since: the upload is gone for good.
s3.put_object(Bucket=bucket, Key="mpu.bin", Body=b"replaced")
try:
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu.bin", UploadId=upload, MultipartUpload={"Parts": parts})
    raise SystemExit("a Complete of an overwritten upload succeeded")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchUpload", e.response

# DELETE twice: 204 both times; PUT twice: the same object.
for _ in range(2):
    r = s3.delete_object(Bucket=bucket, Key="mpu.bin")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204, r
for _ in range(2):
    s3.put_object(Bucket=bucket, Key="p", Body=b"same")
assert s3.get_object(Bucket=bucket, Key="p")["Body"].read() == b"same"
print("all checks passed")
