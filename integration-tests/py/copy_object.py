"""CopyObject through twinvault with boto3. Env: TV_S3_ENDPOINT, AWS_*, TV_BUCKET."""
import os

from tvclient import bucket, expect_error, s3

other = bucket + "-dst"


s3.create_bucket(Bucket=bucket)
s3.create_bucket(Bucket=other)
body = os.urandom(300_000)
src = s3.put_object(Bucket=bucket, Key="src.bin", Body=body, ContentType="text/csv", Metadata={"a": "1"})

# COPY directive (default): same bytes, same metadata, a new name; within and across buckets.
r = s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "src.bin"})
assert r["CopyObjectResult"]["ETag"], r
for b, k in [(bucket, "copy.bin")]:
    got = s3.get_object(Bucket=b, Key=k)
    assert got["Body"].read() == body and got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/csv"
    assert got["ETag"] == r["CopyObjectResult"]["ETag"], (got["ETag"], r)
s3.copy_object(Bucket=other, Key="dir/x y.bin", CopySource={"Bucket": bucket, "Key": "src.bin"})
assert s3.get_object(Bucket=other, Key="dir/x y.bin")["Body"].read() == body

# REPLACE onto itself changes metadata, keeps the bytes.
s3.copy_object(Bucket=bucket, Key="src.bin", CopySource={"Bucket": bucket, "Key": "src.bin"},
               MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="application/json")
head = s3.head_object(Bucket=bucket, Key="src.bin")
assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "application/json", head
assert s3.get_object(Bucket=bucket, Key="src.bin")["Body"].read() == body
expect_error("InvalidRequest", s3.copy_object, Bucket=bucket, Key="src.bin",
             CopySource={"Bucket": bucket, "Key": "src.bin"})

# Source conditions.
etag = s3.head_object(Bucket=bucket, Key="src.bin")["ETag"]
s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "src.bin"}, CopySourceIfMatch=etag)
expect_error("PreconditionFailed", s3.copy_object, Bucket=bucket, Key="c3",
             CopySource={"Bucket": bucket, "Key": "src.bin"}, CopySourceIfMatch='"nope-1"')
expect_error("PreconditionFailed", s3.copy_object, Bucket=bucket, Key="c3",
             CopySource={"Bucket": bucket, "Key": "src.bin"}, CopySourceIfNoneMatch=etag)
expect_error("NoSuchKey", s3.copy_object, Bucket=bucket, Key="c4", CopySource={"Bucket": bucket, "Key": "missing"})

# A multipart source.
MIB = 1024 * 1024
parts = [os.urandom(5 * MIB), os.urandom(1 * MIB)]
uid = s3.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
tags = [s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=i + 1, Body=p)["ETag"]
        for i, p in enumerate(parts)]
s3.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=uid,
                             MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": t} for i, t in enumerate(tags)]})
s3.copy_object(Bucket=other, Key="mp-copy.bin", CopySource={"Bucket": bucket, "Key": "mp.bin"})
assert s3.get_object(Bucket=other, Key="mp-copy.bin")["Body"].read() == b"".join(parts)
got = s3.get_object(Bucket=other, Key="mp-copy.bin", Range=f"bytes={5 * MIB - 2}-{5 * MIB + 2}")["Body"].read()
assert got == b"".join(parts)[5 * MIB - 2:5 * MIB + 3]
print("copy_object.py: all checks passed")
