"""Trying one change until it is delivered or its retry policy gives up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from cdp.activation.destinations.backoff import backoff_delay
from cdp.activation.destinations.config import RetryPolicy
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable

__all__ = ["History", "deliver_with_retries"]

History = Callable[[float, int], Awaitable[tuple[float, int]]]
"""Record a failed attempt, given this run's (first attempt time, attempts); returns the change's
(first attempt time, attempts) over every run of the worker, as far as it is known."""


async def deliver_with_retries(
    attempt: Callable[[], Awaitable[None]],
    policy: RetryPolicy,
    on_retry: Callable[[int, DeliveryRetryable, float], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    history: History | None = None,
) -> int:
    """Call `attempt` until it returns; the number of attempts it took (in this run).

    A `DeliveryRetryable` waits (backoff with full jitter, or the receiver's `Retry-After`) and tries
    again; `DeliveryFailed` propagates at once. Retries stop with `DeliveryFailed` (reason
    `max_attempts` or `max_age`) when the attempts are used up or the next try would start after
    `max_age_s` from the first one. With `history`, the first attempt and the count are those of
    the change across worker restarts (so a restart does not give a failing change a new
    lifetime); `clock` is then wall-clock time, as the history outlives the process.
    """
    started = clock()
    number = 0
    total = 0
    while True:
        number += 1
        total += 1
        try:
            await attempt()
            return number
        except DeliveryRetryable as exc:
            if history is not None:
                started, total = await history(started, total)
            if total >= policy.max_attempts:
                raise DeliveryFailed("max_attempts", f"{total} attempts, last: {exc}") from exc
            wait = backoff_delay(
                total, policy.base_backoff_s, policy.max_backoff_s, exc.retry_after_s
            )
            if clock() + wait - started > policy.max_age_s:
                raise DeliveryFailed(
                    "max_age",
                    f"older than {policy.max_age_s}s after {total} attempts, last: {exc}",
                ) from exc
            if on_retry is not None:
                on_retry(total, exc, wait)
            await sleep(wait)
