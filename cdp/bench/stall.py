"""Noticing that a benchmark's progress count has stopped moving."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["StallWatch"]


class StallWatch:
    """Remembers when a count last changed; `stalled` says whether that was over `limit_s` ago."""

    def __init__(self, limit_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = limit_s
        self._now = now
        self._changed_at = now()
        self._last: int | None = None

    def stalled(self, count: int) -> bool:
        """Record `count`; true if it has not changed for more than `limit_s`."""
        now = self._now()
        if count != self._last:
            self._changed_at, self._last = now, count
            return False
        return now - self._changed_at > self.limit_s
