"""Bucket ownership through aws-cli: every command of bob on alice's bucket, its objects and
its multipart upload is refused (AccessDenied, or 403 for HEAD-based commands), and alice's
data is unchanged afterwards.

aws-cli runs in this process through its own driver (`awscli.clidriver`, as aws-cli's
functional tests run it): the same argument parsing, commands and botocore calls as the `aws`
program, without a process start per command (about 40 of them).

Environment: TV_S3_ENDPOINT, TV_BUCKET (alice's, holding "k" = b"alice data"), TV_BOB_BUCKET
(bob's, holding "b"), TV_{ALICE,BOB}_{KEY,SECRET}. Prints "refused <command>" per command,
then "all checks passed".
"""
import contextlib
import io
import json
import os
import tempfile
import urllib.error
import urllib.request

from awscli.clidriver import create_clidriver

endpoint = os.environ["TV_S3_ENDPOINT"]
mine = os.environ["TV_BUCKET"]
bobs = os.environ["TV_BOB_BUCKET"]
work = tempfile.mkdtemp()
payload = os.path.join(work, "payload")
with open(payload, "wb") as f:
    f.write(b"bob's bytes")


drivers = {}


def aws(user, *args):
    """Runs `aws --endpoint-url ENDPOINT ARGS` as `user`: (exit code, stdout, stderr). One
    driver per user: its session keeps the user's credentials (read from the environment at
    its first command) and the loaded service model."""
    if user not in drivers:
        os.environ["AWS_ACCESS_KEY_ID"] = os.environ[f"TV_{user}_KEY"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = os.environ[f"TV_{user}_SECRET"]
        drivers[user] = create_clidriver()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = drivers[user].main(["--endpoint-url", endpoint, *args])
    return rc, out.getvalue(), err.getvalue()


def ok(user, *args):
    rc, out, err = aws(user, *args)
    assert rc == 0, f"{user} {args}: {rc} {err}"
    return out


# Alice's upload with one part, for the multipart commands.
upload = json.loads(ok("ALICE", "s3api", "create-multipart-upload", "--bucket", mine, "--key", "mp"))["UploadId"]
ok("ALICE", "s3api", "upload-part", "--bucket", mine, "--key", "mp", "--upload-id", upload,
   "--part-number", "1", "--body", payload)
bob_upload = json.loads(ok("BOB", "s3api", "create-multipart-upload", "--bucket", bobs, "--key", "mp"))["UploadId"]

out_file = os.path.join(work, "stolen")
tags = json.dumps({"TagSet": [{"Key": "owner", "Value": "bob"}]})
parts = json.dumps({"Parts": [{"PartNumber": 1, "ETag": "x"}]})
commands = [
    ["s3api", "head-bucket", "--bucket", mine],
    ["s3api", "get-bucket-location", "--bucket", mine],
    ["s3api", "list-objects", "--bucket", mine],
    ["s3api", "list-objects-v2", "--bucket", mine],
    ["s3", "ls", f"s3://{mine}"],
    ["s3api", "put-object", "--bucket", mine, "--key", "x", "--body", payload],
    ["s3", "cp", payload, f"s3://{mine}/x"],
    ["s3api", "get-object", "--bucket", mine, "--key", "k", out_file],
    ["s3", "cp", f"s3://{mine}/k", out_file],
    ["s3api", "head-object", "--bucket", mine, "--key", "k"],
    ["s3api", "get-object-attributes", "--bucket", mine, "--key", "k", "--object-attributes", "ETag"],
    ["s3api", "delete-object", "--bucket", mine, "--key", "k"],
    ["s3", "rm", f"s3://{mine}/k"],
    ["s3api", "delete-objects", "--bucket", mine, "--delete", '{"Objects":[{"Key":"k"}]}'],
    ["s3api", "copy-object", "--bucket", mine, "--key", "c", "--copy-source", f"{bobs}/b"],
    ["s3api", "copy-object", "--bucket", bobs, "--key", "c", "--copy-source", f"{mine}/k"],
    ["s3", "cp", f"s3://{mine}/k", f"s3://{bobs}/c"],
    ["s3", "sync", f"s3://{mine}", os.path.join(work, "sync")],
    ["s3api", "create-multipart-upload", "--bucket", mine, "--key", "m2"],
    ["s3api", "upload-part", "--bucket", mine, "--key", "mp", "--upload-id", upload, "--part-number", "2",
     "--body", payload],
    ["s3api", "upload-part-copy", "--bucket", mine, "--key", "mp", "--upload-id", upload, "--part-number", "2",
     "--copy-source", f"{bobs}/b"],
    ["s3api", "upload-part-copy", "--bucket", bobs, "--key", "mp", "--upload-id", bob_upload,
     "--part-number", "1", "--copy-source", f"{mine}/k"],
    ["s3api", "list-parts", "--bucket", mine, "--key", "mp", "--upload-id", upload],
    ["s3api", "list-multipart-uploads", "--bucket", mine],
    ["s3api", "complete-multipart-upload", "--bucket", mine, "--key", "mp", "--upload-id", upload,
     "--multipart-upload", parts],
    ["s3api", "abort-multipart-upload", "--bucket", mine, "--key", "mp", "--upload-id", upload],
    ["s3api", "get-object-tagging", "--bucket", mine, "--key", "k"],
    ["s3api", "put-object-tagging", "--bucket", mine, "--key", "k", "--tagging", tags],
    ["s3api", "delete-object-tagging", "--bucket", mine, "--key", "k"],
    ["s3api", "get-bucket-acl", "--bucket", mine],
    ["s3api", "get-object-acl", "--bucket", mine, "--key", "k"],
    ["s3api", "get-bucket-versioning", "--bucket", mine],
    ["s3api", "delete-bucket", "--bucket", mine],
    ["s3", "rb", f"s3://{mine}"],
]
for args in commands:
    rc, out, err = aws("BOB", *args)
    # A HEAD answer has no body: aws-cli names the status (403) instead of the code.
    refused = "AccessDenied" in err or "(403)" in err
    assert rc != 0 and refused, f"bob's {' '.join(args[:2])} on alice's bucket: rc {rc}\n{out}\n{err}"
    print(f"refused aws {' '.join(args[:2])}: {err.strip().splitlines()[-1][:120]}")

# A URL bob presigns with aws-cli for alice's object is refused too.
url = ok("BOB", "s3", "presign", f"s3://{mine}/k", "--expires-in", "60").strip()
try:
    urllib.request.urlopen(url)
    raise AssertionError("bob's presigned URL for alice's object was allowed")
except urllib.error.HTTPError as e:
    body = e.read().decode()
    assert e.code == 403 and "<Code>AccessDenied</Code>" in body, f"{e.code} {body[:200]}"
print("refused aws s3 presign: 403 AccessDenied")

# Nothing of alice's changed.
ok("ALICE", "s3api", "get-object", "--bucket", mine, "--key", "k", out_file)
with open(out_file, "rb") as f:
    assert f.read() == b"alice data", "alice's object changed"
listed = json.loads(ok("ALICE", "s3api", "list-objects-v2", "--bucket", mine))
assert [o["Key"] for o in listed.get("Contents", [])] == ["k"], listed
listed_parts = json.loads(ok("ALICE", "s3api", "list-parts", "--bucket", mine, "--key", "mp", "--upload-id", upload))
assert [p["PartNumber"] for p in listed_parts.get("Parts", [])] == [1], listed_parts
assert json.loads(ok("ALICE", "s3api", "get-object-tagging", "--bucket", mine, "--key", "k"))["TagSet"] == []
ok("ALICE", "s3api", "abort-multipart-upload", "--bucket", mine, "--key", "mp", "--upload-id", upload)
ok("BOB", "s3api", "abort-multipart-upload", "--bucket", bobs, "--key", "mp", "--upload-id", bob_upload)
print("all checks passed")
