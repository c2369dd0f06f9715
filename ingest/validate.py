"""Checks each message against the Segment spec and shapes the accepted ones into envelopes.

`validate_batch` returns what succeeded and what failed as two lists, so dead-lettering is a
visible step of the flow: one bad item never costs the others their place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from cdp.ingest.timestamps import InvalidTimestamp, SentAt, corrected_times
from cdp.settings import Limits

__all__ = ["MESSAGE_TYPES", "Accepted", "BatchContext", "Rejected", "validate_batch"]

MESSAGE_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})

#: Top-level fields the envelope has a place for; any other top-level field travels in `extra`.
KNOWN_FIELDS = frozenset(
    {
        "type", "messageId", "userId", "anonymousId", "event", "name", "groupId", "previousId",
        "timestamp", "originalTimestamp", "sentAt", "receivedAt", "properties", "traits",
        "context", "integrations", "writeKey",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid message as an envelope record, with its partition key."""

    key: bytes | None
    envelope: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that broke the spec: the reason code, a sentence, and the original item."""

    reason: str
    message: str
    payload: bytes
    message_id: str | None


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What every message of one request shares."""

    source_id: str
    received_at: int
    limits: Limits
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sent_at: object = None
    ip: str | None = None


class _Invalid(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def validate_batch(
    items: list[Any], batch: BatchContext, forced_type: str | None = None
) -> tuple[list[Accepted], list[Rejected]]:
    """Split `items` into accepted envelopes and rejections; `forced_type` comes from the URL path."""
    oks: list[Accepted] = []
    errs: list[Rejected] = []
    sent_at = SentAt.parse(batch.sent_at)
    for item in items:
        try:
            oks.append(_accept(item, batch, forced_type, sent_at))
        except _Invalid as bad:
            errs.append(Rejected(bad.reason, bad.message, _dump(item), _message_id_of(item)))
    return oks, errs


def _accept(item: Any, batch: BatchContext, forced_type: str | None, sent_at: SentAt) -> Accepted:
    if not isinstance(item, dict):
        raise _Invalid("not_an_object", "a message must be a JSON object")
    size = len(orjson.dumps(item))
    if size > batch.limits.max_event_bytes:
        raise _Invalid(
            "event_too_large",
            f"the message is {size} bytes; the limit is {batch.limits.max_event_bytes}",
        )
    kind = forced_type or item.get("type")
    if kind not in MESSAGE_TYPES:
        reason = "missing_type" if kind is None else "unknown_type"
        raise _Invalid(
            reason, f"type must be one of {', '.join(sorted(MESSAGE_TYPES))}, got {kind!r}"
        )
    user_id = _identifier(item, "userId")
    anonymous_id = _identifier(item, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise _Invalid("missing_identity", "every message needs a userId or an anonymousId")
    event = _required_for(item, kind, "track", "event", "missing_event")
    previous_id = _required_for(item, kind, "alias", "previousId", "missing_previous_id")
    group_id = _required_for(item, kind, "group", "groupId", "missing_group_id")
    properties = _object(item, "properties")
    traits = _object(item, "traits")
    own_context = _object(item, "context")
    own_integrations = _object(item, "integrations")
    try:
        timestamp, sent, original = corrected_times(item, batch.received_at, sent_at)
    except InvalidTimestamp as exc:
        raise _Invalid("invalid_timestamp", str(exc)) from None
    message_id = _message_id_of(item) or str(uuid.uuid4())
    context = _merged(batch.context, own_context)
    if batch.ip and "ip" not in context:
        context["ip"] = batch.ip
    envelope = {
        "message_id": message_id,
        "type": kind,
        "source_id": batch.source_id,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "event": event,
        "name": _optional_text(item, "name"),
        "group_id": group_id,
        "previous_id": previous_id,
        "timestamp": timestamp,
        "received_at": batch.received_at,
        "sent_at": sent,
        "original_timestamp": original,
        "properties": _json(properties),
        "traits": _json(traits),
        "context": _json(context),
        "integrations": _json(_merged(batch.integrations, own_integrations)),
        "extra": _json(_extra(item)),
    }
    return Accepted(_partition_key(user_id, anonymous_id), envelope)


def _partition_key(user_id: str | None, anonymous_id: str | None) -> bytes:
    """The raw-topic key of a message: its anonymousId, else its userId.

    Kafka keeps order only within a partition, and identity resolution depends on the order of
    one device's events: its anonymous browsing, the login that claims it, and a second person's
    login on the same device (a handed-on phone keeps its anonymousId until the app calls
    `reset()`), which must find the device already claimed by the first. Keyed by anonymousId,
    that story stays on one partition in order whatever pace each partition is consumed at; keyed
    by userId first, the anonymous events and each login land on different partitions, and a
    processor catching up on a backlog can read the second person's login before the first's
    and hand them the first person's anonymous history (identity precision 0.996 in
    `cdp bench pipeline` keyed that way, 1.0 keyed this way). Server-side calls carry only a
    userId and stay together by it.
    """
    return (anonymous_id or user_id or "").encode()


def _extra(item: dict[str, Any]) -> dict[str, Any]:
    """The top-level fields the envelope has no place for."""
    if item.keys() <= KNOWN_FIELDS:
        return {}
    return {k: v for k, v in item.items() if k not in KNOWN_FIELDS}


def _identifier(item: dict[str, Any], field: str) -> str | None:
    """An id as text: numbers are accepted as SDKs send them, empty and null mean absent."""
    value = item.get(field)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Invalid("invalid_identity", f"{field} must be a string or a number")
    return value if value.strip() else None


def _required_for(
    item: dict[str, Any], kind: str, wanted: str, field: str, reason: str
) -> str | None:
    value = _optional_text(item, field) if field != "previousId" else _identifier(item, field)
    if kind == wanted and not value:
        raise _Invalid(reason, f"a {wanted} message needs {field}")
    return value


def _optional_text(item: dict[str, Any], field: str) -> str | None:
    value = item.get(field)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Invalid("invalid_field", f"{field} must be a string")
    return value


def _object(item: dict[str, Any], field: str) -> dict[str, Any]:
    value = item.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid("invalid_field", f"{field} must be a JSON object")
    return value


def _merged(batch_level: dict[str, Any] | None, own: dict[str, Any]) -> dict[str, Any]:
    """Batch-level keys as defaults under the message's own keys."""
    return {**batch_level, **own} if batch_level else dict(own)


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode() if value else "{}"


def _dump(item: Any) -> bytes:
    try:
        return orjson.dumps(item)
    except TypeError:
        return repr(item).encode()


def _message_id_of(item: Any) -> str | None:
    if isinstance(item, dict):
        value = item.get("messageId")
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None
