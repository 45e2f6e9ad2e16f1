"""Plain HTTP requests to the gateway (presigned URLs), answers read as S3 would report them."""
import re
import urllib.error
import urllib.request


def fetch(url, method="GET", data=None, headers=None):
    """(status, S3 error code or None, body) of one plain HTTP request."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, None, resp.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        code = re.search(rb"<Code>([^<]*)</Code>", body)
        return e.code, code.group(1).decode() if code else None, body
