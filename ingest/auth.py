"""Where a Segment-style client puts its write key: HTTP Basic user name, or `writeKey` in the body."""

from __future__ import annotations

import base64
import binascii
from typing import Any

__all__ = ["write_key_from"]


def write_key_from(authorization: str | None, body: dict[str, Any]) -> str | None:
    """The write key of a request: Basic auth first (password ignored), then the body."""
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "basic" and credentials:
            try:
                decoded = base64.b64decode(credentials.strip(), validate=False).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            user = decoded.partition(":")[0]
            if user:
                return user
    key = body.get("writeKey")
    return key if isinstance(key, str) and key else None
