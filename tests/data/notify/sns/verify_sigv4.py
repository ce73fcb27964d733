"""Recomputes the AWS SigV4 signature of recorded requests with botocore, an implementation
independent of the one that signed them (tests/it/receivers_r3.rs).

stdin: a JSON list of {"method", "url", "headers": {name: value}, "body" (latin-1 text of the
bytes), "secret_key", "session_token"}. For each request, the headers named in the
Authorization header's SignedHeaders are given to botocore with the recorded X-Amz-Date as the
signing time; stdout: a JSON list of {"ok", "expected", "got", "canonical_request"}.
"""
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def verify(r):
    auth = r["headers"]["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 "), auth
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    access_key, date, region, service, terminator = parts["Credential"].split("/")
    assert terminator == "aws4_request", auth
    signed = parts["SignedHeaders"].split(";")
    headers = {h: r["headers"][h] for h in signed}
    req = AWSRequest(method=r["method"], url=r["url"], data=r["body"].encode("latin-1"), headers=headers)
    req.context["timestamp"] = r["headers"]["x-amz-date"]
    assert r["headers"]["x-amz-date"].startswith(date), (date, r["headers"]["x-amz-date"])
    creds = Credentials(access_key, r["secret_key"], r.get("session_token"))
    signer = SigV4Auth(creds, service, region)
    canonical = signer.canonical_request(req)
    string_to_sign = signer.string_to_sign(req, canonical)
    expected = signer.signature(string_to_sign, req)
    return {
        "ok": expected == parts["Signature"],
        "expected": expected,
        "got": parts["Signature"],
        "signed_headers": signer.signed_headers(signer.headers_to_sign(req)),
        "canonical_request": canonical,
    }


print(json.dumps([verify(r) for r in json.load(sys.stdin)]))
