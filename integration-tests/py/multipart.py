"""Multipart uploads through twinvault with boto3: explicit parts, concurrency, re-uploads
within the same second, ListParts paging, Abort, every bad-input error, UploadPartCopy and
ListMultipartUploads. Env: TV_S3_ENDPOINT, AWS_*, TV_BUCKET."""
import concurrent.futures
import os

import botocore

from tvclient import bucket, expect_error, s3

MIB = 1024 * 1024


s3.create_bucket(Bucket=bucket)

# Concurrent, out-of-order parts; then one re-uploaded twice at once (the one completed wins).
parts_data = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(3 * MIB + 12345)]
up = s3.create_multipart_upload(Bucket=bucket, Key="big.bin", ContentType="video/mp4", Metadata={"k": "v"})
uid = up["UploadId"]
assert uid.startswith("tv1."), uid


def put_part(n, data):
    return n, s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=uid, PartNumber=n, Body=data)["ETag"]


with concurrent.futures.ThreadPoolExecutor(4) as pool:
    etags = dict(pool.map(lambda a: put_part(*a), reversed(list(enumerate(parts_data, start=1)))))
listed = s3.list_parts(Bucket=bucket, Key="big.bin", UploadId=uid, MaxParts=3)
assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3] and listed["IsTruncated"], listed
rest = s3.list_parts(Bucket=bucket, Key="big.bin", UploadId=uid, PartNumberMarker=listed["NextPartNumberMarker"])
assert [p["PartNumber"] for p in rest["Parts"]] == [4], rest
assert [p["Size"] for p in listed["Parts"] + rest["Parts"]] == [len(d) for d in parts_data]
assert all(p["ETag"] == etags[p["PartNumber"]] for p in listed["Parts"] + rest["Parts"])
# Part 2 again, twice, right away (a retrying client): SeaweedFS lists all three uploads of
# part 2, with timestamps in whole seconds, so completion must go by the ETag sent.
# See: issue #5 (a part re-uploaded within the same second).
_, retried = put_part(2, os.urandom(5 * MIB))
parts_data[1] = os.urandom(5 * MIB)
_, etags[2] = put_part(2, parts_data[1])
assert len({retried, etags[2]}) == 2, (retried, etags[2])

# Bad completions: each is refused and the upload stays usable.
parts = [{"PartNumber": n, "ETag": etags[n]} for n in range(1, 5)]
expect_error("InvalidPartOrder", s3.complete_multipart_upload, Bucket=bucket, Key="big.bin", UploadId=uid,
             MultipartUpload={"Parts": [parts[1], parts[0]] + parts[2:]})
expect_error("InvalidPart", s3.complete_multipart_upload, Bucket=bucket, Key="big.bin", UploadId=uid,
             MultipartUpload={"Parts": parts[:2] + [{"PartNumber": 3, "ETag": '"0123456789abcdef0123456789abcdef-1"'}] + parts[3:]})
expect_error("InvalidPart", s3.complete_multipart_upload, Bucket=bucket, Key="big.bin", UploadId=uid,
             MultipartUpload={"Parts": parts + [{"PartNumber": 5, "ETag": etags[1]}]})
expect_error("NoSuchUpload", s3.complete_multipart_upload, Bucket=bucket, Key="big.bin", UploadId="tv1.forged",
             MultipartUpload={"Parts": parts})
expect_error("NoSuchUpload", s3.upload_part, Bucket=bucket, Key="other.bin", UploadId=uid, PartNumber=1, Body=b"x")
expect_error("InvalidArgument", s3.upload_part, Bucket=bucket, Key="big.bin", UploadId=uid, PartNumber=10001, Body=b"x")

done = s3.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=uid, MultipartUpload={"Parts": parts})
whole = b"".join(parts_data)
head = s3.head_object(Bucket=bucket, Key="big.bin")
assert head["ContentLength"] == len(whole), head["ContentLength"]
assert head["ETag"] == done["ETag"] and done["ETag"].endswith('-4"'), (head["ETag"], done["ETag"])
assert head["ContentType"] == "video/mp4" and head["Metadata"] == {"k": "v"}
assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == whole
listing = s3.list_objects_v2(Bucket=bucket, Prefix="big.bin")["Contents"][0]
assert listing["Size"] == len(whole) and listing["ETag"] == done["ETag"], listing
for start, end in [(0, 10), (5 * MIB - 5, 5 * MIB + 5), (5 * MIB - 1, 15 * MIB), (15 * MIB - 3, len(whole) - 1),
                   (len(whole) - 1, len(whole) - 1), (65536 * 80 - 1, 65536 * 80)]:
    got = s3.get_object(Bucket=bucket, Key="big.bin", Range=f"bytes={start}-{end}")["Body"].read()
    assert got == whole[start:end + 1], (start, end, len(got))
# A retried Complete (the client lost the answer) answers as S3 does: 200, the same ETag.
again = s3.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=uid, MultipartUpload={"Parts": parts})
assert again["ETag"] == done["ETag"], (again["ETag"], done["ETag"])
# partNumber reads: each part's bytes, as a 206 with the part count, on GET and HEAD.
offset = 0
for n, data in enumerate(parts_data, start=1):
    got = s3.get_object(Bucket=bucket, Key="big.bin", PartNumber=n)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206 and got["PartsCount"] == 4, (n, got["ResponseMetadata"])
    assert got["ContentRange"] == f"bytes {offset}-{offset + len(data) - 1}/{len(whole)}", (n, got["ContentRange"])
    assert got["Body"].read() == data, n
    head = s3.head_object(Bucket=bucket, Key="big.bin", PartNumber=n)
    assert head["ContentLength"] == len(data) and head["PartsCount"] == 4, (n, head)
    offset += len(data)
expect_error("InvalidPartNumber", s3.get_object, Bucket=bucket, Key="big.bin", PartNumber=5)
expect_error("InvalidArgument", s3.get_object, Bucket=bucket, Key="big.bin", PartNumber=0)

# A too-small non-final part.
u = s3.create_multipart_upload(Bucket=bucket, Key="small.bin")["UploadId"]
e1 = s3.upload_part(Bucket=bucket, Key="small.bin", UploadId=u, PartNumber=1, Body=os.urandom(1 * MIB))["ETag"]
e2 = s3.upload_part(Bucket=bucket, Key="small.bin", UploadId=u, PartNumber=2, Body=b"tail")["ETag"]
expect_error("EntityTooSmall", s3.complete_multipart_upload, Bucket=bucket, Key="small.bin", UploadId=u,
             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
s3.abort_multipart_upload(Bucket=bucket, Key="small.bin", UploadId=u)
expect_error("NoSuchUpload", s3.list_parts, Bucket=bucket, Key="small.bin", UploadId=u)
expect_error("NoSuchKey", s3.get_object, Bucket=bucket, Key="small.bin")

# Parts that are not multiples of the 64 KiB segment (5 MiB + 1, as issue #5 asks), sent
# concurrently and out of order, one re-uploaded: completion cuts them again, and the object
# reads back, in full, by ranges across the client's part boundaries and in listings.
unaligned = [os.urandom(5 * MIB + 1), os.urandom(5 * MIB + 1), os.urandom(5 * MIB + 1), os.urandom(12345)]
u = s3.create_multipart_upload(Bucket=bucket, Key="unaligned.bin", ContentType="text/x-unaligned")["UploadId"]


def put_unaligned(n, data):
    return n, s3.upload_part(Bucket=bucket, Key="unaligned.bin", UploadId=u, PartNumber=n, Body=data)["ETag"]


with concurrent.futures.ThreadPoolExecutor(4) as pool:
    uetags = dict(pool.map(lambda a: put_unaligned(*a), reversed(list(enumerate(unaligned, start=1)))))
unaligned[2] = os.urandom(5 * MIB + 1)
_, uetags[3] = put_unaligned(3, unaligned[2])
sizes = [p["Size"] for p in s3.list_parts(Bucket=bucket, Key="unaligned.bin", UploadId=u)["Parts"]]
assert sizes == [len(d) for d in unaligned], sizes
done = s3.complete_multipart_upload(Bucket=bucket, Key="unaligned.bin", UploadId=u, MultipartUpload={
    "Parts": [{"PartNumber": n, "ETag": uetags[n]} for n in range(1, 5)]})
expected = b"".join(unaligned)
head = s3.head_object(Bucket=bucket, Key="unaligned.bin")
assert head["ContentLength"] == len(expected) and head["ETag"] == done["ETag"], (head, done["ETag"])
assert head["ContentType"] == "text/x-unaligned", head
assert s3.get_object(Bucket=bucket, Key="unaligned.bin")["Body"].read() == expected
listing = s3.list_objects_v2(Bucket=bucket, Prefix="unaligned.bin")["Contents"][0]
assert listing["Size"] == len(expected) and listing["ETag"] == done["ETag"], listing
for start, end in [(5 * MIB - 2, 5 * MIB + 2), (10 * MIB + 1, 10 * MIB + 2), (0, 15 * MIB + 2),
                   (15 * MIB + 3, len(expected) - 1), (len(expected) - 10, len(expected) + 99)]:
    got = s3.get_object(Bucket=bucket, Key="unaligned.bin", Range=f"bytes={start}-{end}")["Body"].read()
    assert got == expected[start:end + 1], (start, end, len(got))
# Retried after it succeeded (and after the re-cut): 200 and the same ETag, as S3 answers.
again = s3.complete_multipart_upload(Bucket=bucket, Key="unaligned.bin", UploadId=u, MultipartUpload={
    "Parts": [{"PartNumber": n, "ETag": uetags[n]} for n in range(1, 5)]})
assert again["ETag"] == done["ETag"], (again["ETag"], done["ETag"])
# partNumber addresses the stored (re-cut) parts; together they are the object.
count = s3.head_object(Bucket=bucket, Key="unaligned.bin", PartNumber=1)["PartsCount"]
assert done["ETag"].endswith(f'-{count}"'), (count, done["ETag"])
joined = b"".join(s3.get_object(Bucket=bucket, Key="unaligned.bin", PartNumber=n)["Body"].read()
                  for n in range(1, count + 1))
assert joined == expected, "the stored parts of unaligned.bin do not make up the object"

# An aligned first part, then unaligned ones, one of them made by UploadPartCopy: only the
# parts from the first unaligned one on move.
u = s3.create_multipart_upload(Bucket=bucket, Key="realigned-tail.bin")["UploadId"]
head_part, middle, tail = os.urandom(8 * MIB), os.urandom(5 * MIB + 777), os.urandom(3 * MIB + 5)
p1 = s3.upload_part(Bucket=bucket, Key="realigned-tail.bin", UploadId=u, PartNumber=1, Body=head_part)["ETag"]
p2 = s3.upload_part(Bucket=bucket, Key="realigned-tail.bin", UploadId=u, PartNumber=2, Body=middle)["ETag"]
p3 = s3.upload_part_copy(Bucket=bucket, Key="realigned-tail.bin", UploadId=u, PartNumber=3,
                         CopySource={"Bucket": bucket, "Key": "unaligned.bin"},
                         CopySourceRange=f"bytes=7-{7 + 5 * MIB + 2}")["CopyPartResult"]["ETag"]
p4 = s3.upload_part(Bucket=bucket, Key="realigned-tail.bin", UploadId=u, PartNumber=4, Body=tail)["ETag"]
s3.complete_multipart_upload(Bucket=bucket, Key="realigned-tail.bin", UploadId=u, MultipartUpload={"Parts": [
    {"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}, {"PartNumber": 3, "ETag": p3},
    {"PartNumber": 4, "ETag": p4}]})
expected = head_part + middle + expected[7:7 + 5 * MIB + 3] + tail
got = s3.get_object(Bucket=bucket, Key="realigned-tail.bin")
assert got["ContentLength"] == len(expected) and got["Body"].read() == expected, "realigned-tail.bin differs"

# An aligned part of 5 MiB or more after an unaligned one was never staged: refused, clearly.
u = s3.create_multipart_upload(Bucket=bucket, Key="mixed-sizes.bin")["UploadId"]
m1 = s3.upload_part(Bucket=bucket, Key="mixed-sizes.bin", UploadId=u, PartNumber=1, Body=os.urandom(5 * MIB + 1))["ETag"]
m2 = s3.upload_part(Bucket=bucket, Key="mixed-sizes.bin", UploadId=u, PartNumber=2, Body=os.urandom(6 * MIB))["ETag"]
try:
    s3.complete_multipart_upload(Bucket=bucket, Key="mixed-sizes.bin", UploadId=u, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": m1}, {"PartNumber": 2, "ETag": m2}]})
    raise AssertionError("mixed part sizes completed")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidPart", e.response["Error"]
    assert "part 2" in e.response["Error"]["Message"], e.response["Error"]
s3.abort_multipart_upload(Bucket=bucket, Key="mixed-sizes.bin", UploadId=u)
expect_error("NoSuchKey", s3.get_object, Bucket=bucket, Key="mixed-sizes.bin")

# A single-part multipart upload (smaller than 5 MiB is fine for the only part).
u = s3.create_multipart_upload(Bucket=bucket, Key="one-part.bin")["UploadId"]
e = s3.upload_part(Bucket=bucket, Key="one-part.bin", UploadId=u, PartNumber=1, Body=b"only part")["ETag"]
s3.complete_multipart_upload(Bucket=bucket, Key="one-part.bin", UploadId=u,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
assert s3.get_object(Bucket=bucket, Key="one-part.bin")["Body"].read() == b"only part"

# --- a part sent again, both uploads listed (s3-tests "resend first finishes last") ---
resend = s3.create_multipart_upload(Bucket=bucket, Key="resent.bin")["UploadId"]
older = s3.upload_part(Bucket=bucket, Key="resent.bin", UploadId=resend, PartNumber=1, Body=b"A" * 8)["ETag"]
newer = s3.upload_part(Bucket=bucket, Key="resent.bin", UploadId=resend, PartNumber=1, Body=b"B" * 8)["ETag"]
s3.complete_multipart_upload(Bucket=bucket, Key="resent.bin", UploadId=resend, MultipartUpload={"Parts": [
    {"PartNumber": 1, "ETag": older}, {"PartNumber": 1, "ETag": newer}]})
got = s3.get_object(Bucket=bucket, Key="resent.bin")["Body"].read()
assert got == b"B" * 8, f"completed with {got!r}"

# --- UploadPartCopy: parts cut from a single-PUT and from a multipart source ---
single = os.urandom(6 * MIB + 4321)
s3.put_object(Bucket=bucket, Key="single.bin", Body=single)
# Part 1 of a single PUT is the whole object; there is no part 2.
got = s3.get_object(Bucket=bucket, Key="single.bin", PartNumber=1)
assert got["ResponseMetadata"]["HTTPStatusCode"] == 200 and got["Body"].read() == single
expect_error("InvalidPartNumber", s3.get_object, Bucket=bucket, Key="single.bin", PartNumber=2)
expect_error("400", s3.head_object, Bucket=bucket, Key="single.bin", PartNumber=2)  # HEAD: no error body
SEG = 65536


def copy_part(key, upload, n, source, first=None, last=None, **extra):
    if first is not None:
        extra["CopySourceRange"] = f"bytes={first}-{last}"
    r = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n,
                            CopySource={"Bucket": bucket, "Key": source}, **extra)
    return {"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"]}


# Ranges start and end inside segments; the second crosses big.bin's part 1/2 boundary.
ranges = [("single.bin", single, 100_000, 100_000 + 5 * MIB - 1),
          ("big.bin", whole, 5 * MIB - 70_000, 5 * MIB - 70_000 + 5 * MIB + 2 * SEG - 1)]
u = s3.create_multipart_upload(Bucket=bucket, Key="assembled.bin", ContentType="text/x-test")["UploadId"]
done_parts = [copy_part("assembled.bin", u, n, src, first, last)
              for n, (src, _, first, last) in enumerate(ranges, start=1)]
done_parts.append(copy_part("assembled.bin", u, 3, "single.bin"))  # whole single-PUT source
expected = b"".join(data[first:last + 1] for _, data, first, last in ranges) + single
s3.complete_multipart_upload(Bucket=bucket, Key="assembled.bin", UploadId=u,
                             MultipartUpload={"Parts": done_parts})
got = s3.get_object(Bucket=bucket, Key="assembled.bin")
assert got["ContentType"] == "text/x-test" and got["ContentLength"] == len(expected), got["ContentLength"]
assert got["Body"].read() == expected, "assembled.bin differs"
for start, end in [(5 * MIB - 3, 5 * MIB + 3), (10 * MIB + 2 * SEG - 10, len(expected) - 1)]:
    got = s3.get_object(Bucket=bucket, Key="assembled.bin", Range=f"bytes={start}-{end}")["Body"].read()
    assert got == expected[start:end + 1], (start, end)

# A whole multipart source after an ordinary part; the copy honours the source conditions.
u = s3.create_multipart_upload(Bucket=bucket, Key="mixed.bin")["UploadId"]
head_part = os.urandom(5 * MIB)
e1 = s3.upload_part(Bucket=bucket, Key="mixed.bin", UploadId=u, PartNumber=1, Body=head_part)["ETag"]
big_etag = s3.head_object(Bucket=bucket, Key="big.bin")["ETag"]
p2 = copy_part("mixed.bin", u, 2, "big.bin", CopySourceIfMatch=big_etag)
expect_error("PreconditionFailed", copy_part, "mixed.bin", u, 3, "big.bin", CopySourceIfMatch='"nope-1"')
expect_error("PreconditionFailed", copy_part, "mixed.bin", u, 3, "big.bin", CopySourceIfNoneMatch=big_etag)
expect_error("InvalidArgument", copy_part, "mixed.bin", u, 3, "big.bin", 0, len(whole))
expect_error("InvalidArgument", copy_part, "mixed.bin", u, 3, "big.bin", 10, 5)
expect_error("NoSuchKey", copy_part, "mixed.bin", u, 3, "missing.bin")
expect_error("NoSuchUpload", copy_part, "other.bin", u, 3, "big.bin")
expect_error("AccessDenied", s3.upload_part_copy, Bucket=bucket, Key="mixed.bin", UploadId=u, PartNumber=3,
             CopySource={"Bucket": "twinvault-journal", "Key": "anything"})
s3.complete_multipart_upload(Bucket=bucket, Key="mixed.bin", UploadId=u,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, p2]})
assert s3.get_object(Bucket=bucket, Key="mixed.bin")["Body"].read() == head_part + whole

# --- ListMultipartUploads: in key order, paged by key and upload id, with a delimiter ---
def uploads(**kwargs):
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="mpu/", **kwargs)
    return r, [(x["Key"], x["UploadId"]) for x in r.get("Uploads", [])]


created = []
for key in ["mpu/b.bin", "mpu/a.bin", "mpu/dir/c.bin", "mpu/b.bin"]:
    created.append((key, s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]))
everything = [created[1], created[0], created[3], created[2]]  # by key, then by creation
r, listed = uploads()
assert listed == everything and not r["IsTruncated"], listed
assert all(x["Initiated"] for x in r["Uploads"]), r["Uploads"]
r, first = uploads(MaxUploads=2)
assert first == everything[:2] and r["IsTruncated"], (first, r)
assert (r["NextKeyMarker"], r["NextUploadIdMarker"]) == everything[1], r
r, second = uploads(MaxUploads=2, KeyMarker=r["NextKeyMarker"], UploadIdMarker=r["NextUploadIdMarker"])
assert second == everything[2:] and not r["IsTruncated"], (second, r)
r, after_b = uploads(KeyMarker="mpu/b.bin")
assert after_b == everything[3:], after_b
paged = [(x["Key"], x["UploadId"]) for page in s3.get_paginator("list_multipart_uploads").paginate(
    Bucket=bucket, Prefix="mpu/", PaginationConfig={"PageSize": 1}) for x in page.get("Uploads", [])]
assert paged == everything, paged
r, top = uploads(Delimiter="/")
assert top == everything[:3] and [p["Prefix"] for p in r["CommonPrefixes"]] == ["mpu/dir/"], r

# Complete one and abort another: both leave the listing; the rest stay usable.
a_key, a_id = created[1]
e = s3.upload_part(Bucket=bucket, Key=a_key, UploadId=a_id, PartNumber=1, Body=b"a")["ETag"]
s3.complete_multipart_upload(Bucket=bucket, Key=a_key, UploadId=a_id,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
s3.abort_multipart_upload(Bucket=bucket, Key=created[0][0], UploadId=created[0][1])
r, left = uploads()
assert left == [created[3], created[2]], left
s3.abort_multipart_upload(Bucket=bucket, Key=created[3][0], UploadId=created[3][1])
print("multipart.py: all checks passed")
