"""How long to wait before the next attempt: exponential backoff with full jitter, or `Retry-After`.

Full jitter (a uniform draw in [0, cap]) spreads the retries of many changes that failed at once,
as AWS's "Exponential Backoff And Jitter" measured; a receiver's `Retry-After` wins over it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["backoff_delay", "parse_retry_after"]


def backoff_delay(
    attempt: int,
    base_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    With `retry_after_s` (the receiver's wish) the wait is that, capped at `max_s`; otherwise a
    uniform draw in [0, min(max_s, base_s * 2**(attempt-1))].
    """
    if retry_after_s is not None:
        return max(0.0, min(max_s, retry_after_s))
    cap = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(0.0, cap)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date; None if absent/invalid.

    A date in the past means "now" (0 s).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
