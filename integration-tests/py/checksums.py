"""Checksums and tags end to end, as boto3 uses them by default (issue #18): checksums sent in
headers and in aws-chunked trailers are kept sealed and answered with checksum mode; multipart
uploads with COMPOSITE and FULL_OBJECT checksums; GetObjectAttributes' Checksum and ObjectParts
paging; object tagging and its limits; a URI that cannot be parsed.

Environment: TV_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, TV_BUCKET.
Exits non-zero with a message on the first failed expectation.
"""
import base64
import hashlib
import http.client
import urllib.parse
import zlib
from xml.etree import ElementTree

import botocore.httpchecksum

from tvclient import bucket, check, endpoint, expect_error, s3


def b64(data):
    return base64.b64encode(data).decode()


def crc32(data):
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def _crc_table(poly):
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_NVME = _crc_table(0x9A6C9329AC4BC9B5)


def crc64nvme(data):
    """CRC-64/NVME (boto3 needs awscrt for it, which the test venv does not carry)."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = _NVME[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return b64((crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big"))


def sha256(data):
    return b64(hashlib.sha256(data).digest())


def composite(parts, algorithm=hashlib.sha256):
    return b64(algorithm(b"".join(base64.b64decode(p) for p in parts)).digest()) + f"-{len(parts)}"


def head_checksums(key, **kwargs):
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED", **kwargs)
    return {k: v for k, v in head.items() if k.startswith("Checksum")}


s3.create_bucket(Bucket=bucket)
assert crc64nvme(b"123456789") == b64(bytes.fromhex("ae8b14860a799888")), "CRC-64/NVME check value"
body = bytes(range(256)) * 400

# --- boto3's default: a CRC32 it computes (a header over HTTP), kept and answered ---
put = s3.put_object(Bucket=bucket, Key="default", Body=body)
check(put.get("ChecksumCRC32") == crc32(body), f"PutObject echoes the CRC32: {put}")
got = head_checksums("default")
check(got == {"ChecksumCRC32": crc32(body), "ChecksumType": "FULL_OBJECT"}, f"HEAD with checksum mode: {got}")
get = s3.get_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
check(get["ChecksumCRC32"] == crc32(body), "GET with checksum mode")
check(get["Body"].read() == body, "GET body (boto3 validated its CRC32)")
plain = s3.head_object(Bucket=bucket, Key="default")
check("ChecksumCRC32" not in plain, "a checksum without checksum mode")
ranged = s3.get_object(Bucket=bucket, Key="default", Range="bytes=0-9", ChecksumMode="ENABLED")
check("ChecksumCRC32" not in ranged and ranged["Body"].read() == body[:10], "a ranged GET answers no checksum")

# --- a CRC32 in an aws-chunked trailer, as boto3 sends it over TLS (its scheme check patched) ---
https_urlparse = botocore.httpchecksum.urlparse
botocore.httpchecksum.urlparse = lambda url: https_urlparse(url.replace("http://", "https://", 1))
try:
    put = s3.put_object(Bucket=bucket, Key="trailer", Body=body, ContentEncoding="gzip")
finally:
    botocore.httpchecksum.urlparse = https_urlparse
check(put.get("ChecksumCRC32") == crc32(body), f"PutObject echoes the trailer's CRC32: {put}")
check(head_checksums("trailer").get("ChecksumCRC32") == crc32(body), "the trailer's CRC32 is kept")
check(s3.get_object(Bucket=bucket, Key="trailer")["Body"].read() == body, "trailer body")

# --- CRC64NVME given by the client; a wrong one is BadDigest and stores nothing ---
s3.put_object(Bucket=bucket, Key="nvme", Body=body, ChecksumCRC64NVME=crc64nvme(body))
check(head_checksums("nvme").get("ChecksumCRC64NVME") == crc64nvme(body), "CRC64NVME kept")
expect_error("BadDigest", s3.put_object, Bucket=bucket, Key="bad", Body=body, ChecksumCRC64NVME=crc64nvme(b"x"))
expect_error("404", s3.head_object, Bucket=bucket, Key="bad")
# A copy has the same bytes, so the same checksum, whatever the metadata directive.
s3.copy_object(Bucket=bucket, Key="nvme-copy", CopySource={"Bucket": bucket, "Key": "nvme"},
               MetadataDirective="REPLACE", Metadata={"new": "1"})
check(head_checksums("nvme-copy").get("ChecksumCRC64NVME") == crc64nvme(body), "a copy keeps the checksum")

# --- multipart, COMPOSITE (SHA256): parts echo and list their checksums, a wrong one fails Complete ---
p1, p2 = bytes([1]) * (5 * 1024 * 1024), b"second part"
mp = s3.create_multipart_upload(Bucket=bucket, Key="composite", ChecksumAlgorithm="SHA256")
check(mp.get("ChecksumAlgorithm") == "SHA256" and mp.get("ChecksumType") == "COMPOSITE", f"create: {mp}")
upload = mp["UploadId"]


def part(number, data, **kwargs):
    return s3.upload_part(Bucket=bucket, Key="composite", UploadId=upload, PartNumber=number, Body=data,
                          ChecksumAlgorithm="SHA256", **kwargs)


r1 = part(1, p1)
check(r1.get("ChecksumSHA256") == sha256(p1), f"UploadPart echoes the part's SHA256: {r1}")
first = b"a first upload of part 2"
part(2, first)
listed = s3.list_parts(Bucket=bucket, Key="composite", UploadId=upload)
check(listed.get("ChecksumAlgorithm") == "SHA256", f"ListParts names the algorithm: {listed}")
check([p.get("ChecksumSHA256") for p in listed["Parts"]] == [sha256(p1), sha256(first)], f"ListParts: {listed['Parts']}")
# Uploaded again with other bytes: the upload the client completes with is the part. (Not
# listed again: SeaweedFS lists both uploads, timed to the second, so ListParts may show either.)
r2 = part(2, p2)
good = [{"PartNumber": 1, "ETag": r1["ETag"], "ChecksumSHA256": sha256(p1)},
        {"PartNumber": 2, "ETag": r2["ETag"], "ChecksumSHA256": sha256(p2)}]
wrong = [good[0], dict(good[1], ChecksumSHA256=sha256(first))]
expect_error("InvalidPart", s3.complete_multipart_upload, Bucket=bucket, Key="composite", UploadId=upload,
             MultipartUpload={"Parts": wrong})
done = s3.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=upload, MultipartUpload={"Parts": good})
expected = composite([sha256(p1), sha256(p2)])
check(done.get("ChecksumSHA256") == expected and done.get("ChecksumType") == "COMPOSITE", f"complete: {done}")
check(head_checksums("composite") == {"ChecksumSHA256": expected, "ChecksumType": "COMPOSITE"}, "HEAD composite")
get = s3.get_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
check(get.get("ChecksumSHA256") == expected and get["Body"].read() == p1 + p2, "GET composite")

# --- GetObjectAttributes: Checksum, and ObjectParts a page at a time ---
attrs = s3.get_object_attributes(Bucket=bucket, Key="composite", ObjectAttributes=["Checksum", "ObjectParts"],
                                 MaxParts=1)
check(attrs["Checksum"] == {"ChecksumSHA256": expected, "ChecksumType": "COMPOSITE"}, f"attributes: {attrs}")
page = attrs["ObjectParts"]
check(page["TotalPartsCount"] == 2 and page["IsTruncated"] and page["NextPartNumberMarker"] == 1, f"page 1: {page}")
check([(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in page["Parts"]] == [(1, len(p1), sha256(p1))],
      f"page 1 parts: {page['Parts']}")
page = s3.get_object_attributes(Bucket=bucket, Key="composite", ObjectAttributes=["ObjectParts"], MaxParts=1,
                                PartNumberMarker=1)["ObjectParts"]
check(not page["IsTruncated"] and [(p["PartNumber"], p["ChecksumSHA256"]) for p in page["Parts"]] == [(2, sha256(p2))],
      f"page 2: {page}")
single = s3.get_object_attributes(Bucket=bucket, Key="nvme", ObjectAttributes=["Checksum"])
check(single["Checksum"] == {"ChecksumCRC64NVME": crc64nvme(body), "ChecksumType": "FULL_OBJECT"}, f"{single}")

# --- multipart, FULL_OBJECT (CRC64NVME): the parts' CRCs combined into the whole object's ---
mp = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT")
upload = mp["UploadId"]
parts = []
for number, data in [(1, p1), (2, p2)]:
    r = s3.upload_part(Bucket=bucket, Key="full", UploadId=upload, PartNumber=number, Body=data,
                       ChecksumCRC64NVME=crc64nvme(data))
    parts.append({"PartNumber": number, "ETag": r["ETag"], "ChecksumCRC64NVME": crc64nvme(data)})
expect_error("BadDigest", s3.complete_multipart_upload, Bucket=bucket, Key="full", UploadId=upload,
             MultipartUpload={"Parts": parts}, ChecksumCRC64NVME=crc64nvme(b"not the object"), ChecksumType="FULL_OBJECT")
whole = crc64nvme(p1 + p2)
done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload, MultipartUpload={"Parts": parts},
                                    ChecksumCRC64NVME=whole, ChecksumType="FULL_OBJECT")
check(done.get("ChecksumCRC64NVME") == whole and done.get("ChecksumType") == "FULL_OBJECT", f"complete: {done}")
check(head_checksums("full") == {"ChecksumCRC64NVME": whole, "ChecksumType": "FULL_OBJECT"}, "HEAD full object")
expect_error("InvalidRequest", s3.create_multipart_upload, Bucket=bucket, Key="x", ChecksumAlgorithm="SHA256",
             ChecksumType="FULL_OBJECT")

# --- object tags: sealed like metadata, on PUT, copies, uploads, and their own calls ---
def tags(key):
    return [(t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]]


s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Metadata={"m": "1"}, Tagging="project=blue&team=a%20b")
check(tags("tagged") == [("project", "blue"), ("team", "a b")], f"tags from PutObject: {tags('tagged')}")
s3.put_object_tagging(Bucket=bucket, Key="tagged", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
check(tags("tagged") == [("k", "v")], "PutObjectTagging replaces the tags")
head = s3.head_object(Bucket=bucket, Key="tagged")
check(head["Metadata"] == {"m": "1"} and s3.get_object(Bucket=bucket, Key="tagged")["Body"].read() == b"t",
      "a tag change keeps the object and its metadata")
s3.copy_object(Bucket=bucket, Key="tag-copy", CopySource={"Bucket": bucket, "Key": "tagged"})
check(tags("tag-copy") == [("k", "v")], "CopyObject copies the tags")
s3.copy_object(Bucket=bucket, Key="tag-copy", CopySource={"Bucket": bucket, "Key": "tagged"},
               TaggingDirective="REPLACE", Tagging="other=1")
check(tags("tag-copy") == [("other", "1")], "TaggingDirective REPLACE")
s3.delete_object_tagging(Bucket=bucket, Key="tagged")
check(tags("tagged") == [], "DeleteObjectTagging")
mp = s3.create_multipart_upload(Bucket=bucket, Key="tagged-upload", Tagging="from=upload")
r = s3.upload_part(Bucket=bucket, Key="tagged-upload", UploadId=mp["UploadId"], PartNumber=1, Body=b"x")
s3.complete_multipart_upload(Bucket=bucket, Key="tagged-upload", UploadId=mp["UploadId"],
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
check(tags("tagged-upload") == [("from", "upload")], "tags from CreateMultipartUpload")
for key in ["tagged-upload", "trailer"]:
    before = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "later", "Value": "1"}]})
    after = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    check(before == after, f"{key}: a tag change changed the ETag {before} -> {after}")
eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
for tag_set in [eleven, [{"Key": "k" * 129, "Value": "v"}], [{"Key": "k", "Value": "v" * 257}],
                [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]]:
    expect_error("InvalidTag", s3.put_object_tagging, Bucket=bucket, Key="tagged", Tagging={"TagSet": tag_set})
s3.put_object_tagging(Bucket=bucket, Key="tagged",
                      Tagging={"TagSet": [{"Key": "k" * 128, "Value": "v" * 256}] + eleven[:9]})
check(len(tags("tagged")) == 10, "ten tags at the limits")
expect_error("InvalidTag", s3.put_object, Bucket=bucket, Key="t2", Body=b"", Tagging="&".join(f"k{i}=v" for i in range(11)))
expect_error("NoSuchKey", s3.get_object_tagging, Bucket=bucket, Key="never-written")

# --- a path that is not UTF-8 once decoded: 400 InvalidURI with S3's message ---
parts = urllib.parse.urlsplit(endpoint)
conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
conn.request("GET", f"/{bucket}/%FF%FE")
resp = conn.getresponse()
text = resp.read()
conn.close()
error = ElementTree.fromstring(text)
check(resp.status == 400 and error.findtext("Code") == "InvalidURI"
      and error.findtext("Message") == "Couldn't parse the specified URI.", f"unparsable URI: {resp.status} {text!r}")

print("checksums.py: all checks passed")
