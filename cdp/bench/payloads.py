"""Segment-style `/v1/batch` requests for the load generator, built before the clock starts.

A request is kept as a template split where its sequence number goes: rendering one costs a single
`bytes.join`, yet every event of a run carries its own messageId, as SDK traffic does.
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "SEQ_WIDTH",
    "RequestTemplate",
    "build_event",
    "build_templates",
    "mean_event_bytes",
    "request_head",
]

#: Ten digits hold any sequence number one connection reaches in a run (well under 10**10).
SEQ_WIDTH = 10
SEQ_MARK = b"#" * SEQ_WIDTH
BATCH_PATH = "/v1/batch"
SENT_AT = "2024-05-01T12:00:01.000Z"
TIMESTAMP = "2024-05-01T12:00:00.250Z"

#: Distinct user ids the events spread over; enough that batches do not share one key.
USERS = 100_000
EVENT_NAMES = (
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Signed Up",
)
PAGES = ("/", "/pricing", "/docs", "/blog/launch", "/checkout")
KINDS = ("track", "track", "track", "page", "identify")
CONTEXT: dict[str, Any] = {
    "library": {"name": "analytics.js", "version": "5.2.0"},
    "locale": "en-US",
}
PAD_FIELD_BYTES = len(b',"note":""')


@dataclass(frozen=True, slots=True)
class RequestTemplate:
    """One whole HTTP request (head and body) with a gap before each messageId's sequence part."""

    parts: tuple[bytes, ...]
    body_bytes: int

    def render(self, seq: int) -> bytes:
        """The request bytes with `seq` in every messageId; same length for every `seq`."""
        return f"{seq:0{SEQ_WIDTH}d}".encode().join(self.parts)


def request_head(host: str, write_key: str, content_length: int, path: str = BATCH_PATH) -> bytes:
    """An HTTP/1.1 keep-alive POST head with the write key as the Basic auth user name."""
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    ).encode()


def build_event(rng: random.Random, kind: str, message_id: str, event_bytes: int) -> dict[str, Any]:
    """A valid Segment message of `kind`, padded to about `event_bytes` of JSON.

    An event already larger than `event_bytes` is left as it is: the target is a floor, not a cap.
    """
    user = rng.randrange(USERS)
    event: dict[str, Any] = {
        "type": kind,
        "messageId": message_id,
        "userId": f"user-{user}",
        "anonymousId": f"{rng.getrandbits(64):016x}",
        "timestamp": TIMESTAMP,
        "context": CONTEXT,
    }
    event.update(_kind_fields(rng, kind, user))
    pad = event_bytes - len(orjson.dumps(event)) - PAD_FIELD_BYTES
    if pad > 0:
        event["properties" if kind != "identify" else "traits"]["note"] = _letters(rng, pad)
    return event


def _kind_fields(rng: random.Random, kind: str, user: int) -> dict[str, Any]:
    if kind == "identify":
        return {
            "traits": {"email": f"user-{user}@example.com", "plan": rng.choice(("free", "pro"))}
        }
    if kind == "page":
        path = rng.choice(PAGES)
        return {"name": path, "properties": {"path": path, "title": "Example"}}
    return {
        "event": rng.choice(EVENT_NAMES),
        "properties": {"sku": f"p-{rng.randrange(1000)}", "price": 19.99},
    }


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=n))


def build_templates(
    *,
    run_id: str,
    connection: int,
    count: int,
    batch_size: int,
    event_bytes: int,
    host: str,
    write_key: str,
    seed: int = 0,
) -> list[RequestTemplate]:
    """`count` batch requests for `connection`; a messageId is run, connection, item and sequence.

    A connection renders template ``seq % count`` with its own request counter `seq`, so no two
    events of a run share a messageId.
    """
    rng = random.Random(f"{seed}-{connection}")
    templates = []
    for _ in range(count):
        events = [
            build_event(rng, KINDS[i % len(KINDS)], _message_id(run_id, connection, i), event_bytes)
            for i in range(batch_size)
        ]
        body = orjson.dumps({"batch": events, "sentAt": SENT_AT})
        parts = body.split(SEQ_MARK)
        if len(parts) != batch_size + 1:
            raise ValueError("the sequence mark appears outside the messageIds")
        head = request_head(host, write_key, len(body))
        templates.append(RequestTemplate((head + parts[0], *parts[1:]), len(body)))
    return templates


def _message_id(run_id: str, connection: int, item: int) -> str:
    return f"{run_id}-{connection:03d}-{item:04d}-{SEQ_MARK.decode()}"


def mean_event_bytes(template: RequestTemplate) -> float:
    """The mean JSON size of the template's events as the collector sees each one."""
    body = template.render(0).partition(b"\r\n\r\n")[2]
    events = orjson.loads(body)["batch"]
    return sum(len(orjson.dumps(event)) for event in events) / len(events)
