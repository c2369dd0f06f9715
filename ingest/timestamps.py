"""Event time as Segment computes it: the client's clock skew removed.

When the client sent `sentAt`, the event time is ``receivedAt - (sentAt - originalTimestamp)``,
where the client-side `timestamp` stands for `originalTimestamp` if that is absent. Without
`sentAt` (a historical import) an explicit timestamp is kept as is; with neither, the event time
is `receivedAt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "EventTimes",
    "InvalidTimestamp",
    "SentAt",
    "corrected_times",
    "event_times",
    "parse_timestamp",
    "to_millis",
]


class InvalidTimestamp(ValueError):
    """A timestamp field is neither an ISO 8601 string nor epoch milliseconds, or lies outside
    the years 1 to 9999."""


#: The years 1 to 9999 in epoch milliseconds: what ISO 8601 strings can say, and well inside
#: the 64-bit `timestamp-millis` the Avro schemas carry (a number beyond it was a 500 once).
MIN_MILLIS = -62_135_596_800_000
MAX_MILLIS = 253_402_300_799_999


def _in_range(millis: int, field: str) -> int:
    if not MIN_MILLIS <= millis <= MAX_MILLIS:
        raise InvalidTimestamp(f"{field} is outside the years 1 to 9999")
    return millis


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
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidTimestamp(f"{field} {value[:40]!r} is not an ISO 8601 timestamp") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return to_millis(parsed)
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidTimestamp(f"{field} is a boolean")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidTimestamp(f"{field} is not a finite number")
        return _in_range(int(value), field)
    raise InvalidTimestamp(f"{field} must be an ISO 8601 string")


@dataclass(frozen=True, slots=True)
class SentAt:
    """A batch-level `sentAt`, parsed once for all the items of a request.

    An invalid one is kept as its error message: it fails only the items that rely on it,
    exactly as if each had carried it.
    """

    millis: int | None
    error: str | None = None

    @classmethod
    def parse(cls, value: object) -> SentAt:
        """`value` (the batch's `sentAt`, None when absent) parsed, or why it is invalid."""
        try:
            return cls(parse_timestamp(value, "sentAt"))
        except InvalidTimestamp as exc:
            return cls(None, str(exc))


NO_SENT_AT = SentAt(None)


def corrected_times(
    item: dict[str, object], received_at: int, batch_sent_at: SentAt = NO_SENT_AT
) -> tuple[int, int | None, int | None]:
    """The corrected event time, `sentAt` and `originalTimestamp` of `item`, in epoch ms.

    An item's own `sentAt` (even null) wins over the batch's.
    """
    if "sentAt" in item:
        sent_at = parse_timestamp(item["sentAt"], "sentAt")
    elif batch_sent_at.error is not None:
        raise InvalidTimestamp(batch_sent_at.error)
    else:
        sent_at = batch_sent_at.millis
    original = parse_timestamp(item.get("originalTimestamp"), "originalTimestamp")
    if original is None:
        original = parse_timestamp(item.get("timestamp"), "timestamp")
    if original is None:
        return received_at, sent_at, original
    if sent_at is None:
        return original, sent_at, original
    corrected = _in_range(received_at - (sent_at - original), "the skew-corrected timestamp")
    return corrected, sent_at, original


def event_times(
    item: dict[str, object], received_at: int, batch_sent_at: object = None
) -> EventTimes:
    """The corrected event time and the raw times of `item`, received at `received_at` ms."""
    timestamp, sent_at, original = corrected_times(item, received_at, SentAt.parse(batch_sent_at))
    return EventTimes(timestamp, received_at, sent_at, original)
