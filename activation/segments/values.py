"""How segment conditions read JSON values: numbers, ISO-8601 times, epoch milliseconds.

These rules are shared by the SQL compiler and the Python evaluator, so both give the same answer:

- A number is a JSON number (never a boolean, never a numeric string), compared exactly as a decimal.
- A time is a JSON string in the ISO-8601 form `YYYY-MM-DD[(T| )HH:MM[:SS[.ffffff]]][Z|±HH[[:]MM]]`
  naming a real calendar instant (years 0001-9999, offsets up to ±14:59); without an offset it is UTC.
  Anything else is not a time, and a time comparison on it is false.
- `first_seen` / `last_seen` hold whole epoch milliseconds; other numbers there are not times.

Instants are handled as whole microseconds since the Unix epoch (Postgres' own resolution).
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = [
    "BOUNDARY_LIMIT",
    "ISO_SQL_REGEX",
    "MAX_MS",
    "MIN_MS",
    "as_datetime",
    "epoch_us",
    "is_scalar",
    "iso_us",
    "iso_us_valid",
    "json_equal",
    "ms_us",
    "number",
]

#: The ISO-8601 forms a time may take; month, day, hour, minute, second and offset are range-checked
#: here, the day of the month against the calendar separately. Written for both Python and Postgres.
ISO_PATTERN = (
    r"((?!0000)[0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{1,6}))?)?"
    r"(Z|([+-])(0[0-9]|1[0-4])(?::?([0-5][0-9]))?)?)?"
)
ISO_SQL_REGEX = "^" + ISO_PATTERN + "$"
_ISO = re.compile(ISO_PATTERN)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
#: Epoch milliseconds of 0001-01-01T00:00Z and 9999-12-31T23:59:59.999Z.
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999
#: Boundaries at or after this instant are not reported (they would not fit a Python datetime).
BOUNDARY_LIMIT = datetime(9999, 1, 1, tzinfo=UTC)


def is_scalar(value: Any) -> bool:
    """Whether `value` is a JSON string, boolean or finite number."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | bool | int)


def number(value: Any) -> Decimal | None:
    """The exact decimal of a JSON number (as Postgres' jsonb holds it); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    return None


def json_equal(fact: Any, value: Any) -> bool:
    """jsonb equality of a stored value with a scalar: same JSON type, numbers equal as decimals."""
    if isinstance(value, bool) or isinstance(fact, bool):
        return isinstance(value, bool) and isinstance(fact, bool) and fact is value
    if isinstance(value, str) or isinstance(fact, str):
        return isinstance(value, str) and isinstance(fact, str) and fact == value
    left, right = number(fact), number(value)
    return left is not None and right is not None and left == right


def iso_us(value: Any) -> int | None:
    """Epoch microseconds of an ISO-8601 time string (see the module rules); None if it is not one."""
    if not isinstance(value, str):
        return None
    m = _ISO.fullmatch(value)
    if m is None:
        return None
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if day > calendar.monthrange(year, month)[1]:
        return None
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    seconds = int(m[4] or 0) * 3600 + int(m[5] or 0) * 60 + int(m[6] or 0)
    fraction = int((m[7] or "").ljust(6, "0"))
    if m[9]:
        offset = int(m[10]) * 3600 + int(m[11] or 0) * 60
        seconds -= offset if m[9] == "+" else -offset
    return (days * 86_400 + seconds) * US_PER_SECOND + fraction


def iso_us_valid(value: str) -> int:
    """Epoch microseconds of a time string already validated as ISO-8601."""
    us = iso_us(value)
    if us is None:
        raise ValueError(f"{value!r} is not an ISO-8601 time")
    return us


def ms_us(value: Any) -> int | None:
    """Epoch microseconds of whole epoch milliseconds within years 0001-9999; None otherwise."""
    ms = number(value)
    if ms is None or ms != ms.to_integral_value() or not MIN_MS <= ms <= MAX_MS:
        return None
    return int(ms) * 1000


def epoch_us(moment: datetime) -> int:
    """Epoch microseconds of a timezone-aware datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("expected a timezone-aware datetime")
    return (moment - EPOCH) // timedelta(microseconds=1)


def as_datetime(us: int) -> datetime:
    """The UTC datetime of epoch microseconds."""
    return EPOCH + timedelta(microseconds=us)
