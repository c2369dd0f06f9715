"""Webhook signatures: HMAC-SHA256 over `timestamp.body`, checked in constant time with a tolerance."""

from __future__ import annotations

import hashlib
import hmac

from cdp.activation.destinations.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signature_headers,
    verify,
)

BODY = b'{"change_id":"c1","change":"entered"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1700000000, BODY) == f"v1={expected}"


def test_headers_verify_and_any_change_breaks_them() -> None:
    headers = signature_headers("s3cret", BODY, now=1700000000)
    stamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert verify("s3cret", BODY, stamp, signature, now=1700000001)
    assert not verify("other", BODY, stamp, signature, now=1700000001)
    assert not verify("s3cret", BODY + b" ", stamp, signature, now=1700000001)
    assert not verify("s3cret", BODY, "1700000001", signature, now=1700000001)
    assert not verify("s3cret", BODY, "not-a-number", signature, now=1700000001)


def test_stale_timestamps_are_refused() -> None:
    headers = signature_headers("s3cret", BODY, now=1700000000)
    stamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert not verify("s3cret", BODY, stamp, signature, now=1700000000 + 301)
