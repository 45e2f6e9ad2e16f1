"""What every boto3 test script shares: the client for the gateway under test and the checks.

Env: TV_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, TV_BUCKET. Scripts run as
`python integration-tests/py/<script>.py`, so this module is on their import path.
"""
import os

import boto3
import botocore
from botocore.config import Config

endpoint = os.environ["TV_S3_ENDPOINT"]
bucket = os.environ["TV_BUCKET"]
# One attempt: a retry would hide the answer under test.
path_style = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=path_style)


def expect_error(code, fn, *args, **kwargs):
    """Calls fn, which must fail with the S3 error `code` (or, for bodiless answers such as
    HEAD's, the HTTP status `code`); returns the ClientError."""
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if got != code and str(status) != code:
            raise AssertionError(f"{fn.__name__}: expected {code}, got {got} ({status}): {e}")
        return e
    raise AssertionError(f"{fn.__name__}: expected {code}, call succeeded")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
