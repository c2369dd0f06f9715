"""Event time as Segment computes it: the client's clock skew removed.

When the client sent `sentAt`, the event time is ``receivedAt - (sentAt - originalTimestamp)``,
where the client-side `timestamp` stands for `originalTimestamp` if that is absent. Without
`sentAt` (a historical import) an explicit timestamp is kept as is; with neither, the event time
is `receivedAt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["EventTimes", "InvalidTimestamp", "event_times", "parse_timestamp", "to_millis"]


class InvalidTimestamp(ValueError):
    """A timestamp field is neither an ISO 8601 string nor epoch milliseconds."""


@dataclass(frozen=True, slots=True)
class EventTimes:
    """All times of one event, in epoch milliseconds."""

    timestamp: int
    received_at: int
    sent_at: int | None
    original_timestamp: int | None


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def parse_timestamp(value: object, field: str) -> int | None:
    """Epoch milliseconds of an ISO 8601 string (naive means UTC) or of a number of ms."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidTimestamp(f"{field} is a boolean")
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str):
        raise InvalidTimestamp(f"{field} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidTimestamp(f"{field} {value[:40]!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return to_millis(parsed)


def event_times(
    item: dict[str, object], received_at: int, batch_sent_at: object = None
) -> EventTimes:
    """The corrected event time and the raw times of `item`, received at `received_at` ms."""
    sent_at = parse_timestamp(item.get("sentAt", batch_sent_at), "sentAt")
    original = parse_timestamp(item.get("originalTimestamp"), "originalTimestamp")
    if original is None:
        original = parse_timestamp(item.get("timestamp"), "timestamp")
    if original is None:
        timestamp = received_at
    elif sent_at is None:
        timestamp = original
    else:
        timestamp = received_at - (sent_at - original)
    return EventTimes(timestamp, received_at, sent_at, original)
