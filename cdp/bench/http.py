"""The little of HTTP/1.1 the load generator needs: read one keep-alive response off a stream.

Only `Content-Length` framing is understood; the collector frames every answer that way, and a
chunked or unframed answer is reported as a `ProtocolError` rather than guessed at.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["ProtocolError", "ResponseHead", "parse_response_head", "read_response"]

HEAD_END = b"\r\n\r\n"


class ProtocolError(Exception):
    """The server's answer is not an HTTP/1.x response framed by Content-Length."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    content_length: int
    keep_alive: bool


def parse_response_head(head: bytes) -> ResponseHead:
    """Status, body length and whether the connection stays open, from the bytes up to CRLFCRLF."""
    status_line, *lines = head.rstrip(b"\r\n").split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    status = rest[:3]
    if not version.startswith(b"HTTP/1.") or not status.isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    length: int | None = None
    keep_alive = version == b"HTTP/1.1"
    for line in lines:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length" and value.strip().isdigit():
            length = int(value)
        elif name == b"connection":
            keep_alive = value.strip().lower() == b"keep-alive"
        elif name == b"transfer-encoding":
            raise ProtocolError("chunked responses are not supported")
    if length is None:
        raise ProtocolError("the response has no Content-Length")
    return ResponseHead(int(status), length, keep_alive)


async def read_response(reader: asyncio.StreamReader) -> tuple[ResponseHead, bytes]:
    """The next response on `reader`: its head and exactly its body, nothing of the next one."""
    head = parse_response_head(await reader.readuntil(HEAD_END))
    body = await reader.readexactly(head.content_length) if head.content_length else b""
    return head, body
