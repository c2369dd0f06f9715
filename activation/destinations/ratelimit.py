"""A token bucket per destination, for asyncio code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]

#: Float slack when counting tokens, and the shortest wait: refills computed as (1 - tokens) / rate
#: can leave 0.9999999 tokens, and a wait too small to move a float clock would never end.
EPSILON = 1e-9
MIN_WAIT_S = 0.001


class TokenBucket:
    """`rate` tokens per second, holding at most `burst` (default: one second's worth, at least 1).

    `acquire` waits until a token is there; callers are served in the order they asked.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def try_acquire(self) -> bool:
        """Take a token if one is there now."""
        self._refill()
        if self._tokens >= 1 - EPSILON:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a token and take it."""
        async with self._lock:
            while not self.try_acquire():
                await self._sleep(max(MIN_WAIT_S, (1 - self._tokens) / self.rate))
