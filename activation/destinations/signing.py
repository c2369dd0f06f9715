"""Webhook signatures, in the manner of Stripe's and Segment's.

Every request carries two headers:

- ``X-Cdp-Timestamp``: Unix time in seconds when the request was signed.
- ``X-Cdp-Signature``: ``v1=<hex>``, the HMAC-SHA256 under the destination's secret of the bytes
  ``<timestamp>.<raw body>``.

A receiver recomputes the HMAC over the timestamp header, a dot and the raw body, compares it in
constant time, and rejects timestamps older than its tolerance (5 minutes is usual) to stop replays.
A retry is signed afresh with a new timestamp; the body (and its `change_id`) stays the same.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "signature_headers", "verify"]

SIGNATURE_HEADER = "X-Cdp-Signature"
TIMESTAMP_HEADER = "X-Cdp-Timestamp"
VERSION = "v1"
#: Receivers should refuse older signatures; 5 minutes as Stripe's libraries default to.
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` signed at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def signature_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Both headers for a request carrying `body`."""
    timestamp = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True if `signature` is ours for `body` at `timestamp` and the timestamp is fresh enough."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    current = now if now is not None else time.time()
    if abs(current - stamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)
