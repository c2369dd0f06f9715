"""Trying one change until it is delivered or its retry policy gives up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from cdp.activation.destinations.backoff import backoff_delay
from cdp.activation.destinations.config import RetryPolicy
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable

__all__ = ["deliver_with_retries"]


async def deliver_with_retries(
    attempt: Callable[[], Awaitable[None]],
    policy: RetryPolicy,
    on_retry: Callable[[int, DeliveryRetryable, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Call `attempt` until it returns; the number of attempts it took.

    A `DeliveryRetryable` waits (backoff with full jitter, or the receiver's `Retry-After`) and tries
    again; `DeliveryFailed` propagates at once. Retries stop with `DeliveryFailed` (reason
    `max_attempts` or `max_age`) when the attempts are used up or the next try would start after
    `max_age_s` from the first one.
    """
    started = clock()
    number = 0
    while True:
        number += 1
        try:
            await attempt()
            return number
        except DeliveryRetryable as exc:
            if number >= policy.max_attempts:
                raise DeliveryFailed("max_attempts", f"{number} attempts, last: {exc}") from exc
            wait = backoff_delay(
                number, policy.base_backoff_s, policy.max_backoff_s, exc.retry_after_s
            )
            if clock() + wait - started > policy.max_age_s:
                raise DeliveryFailed(
                    "max_age",
                    f"older than {policy.max_age_s}s after {number} attempts, last: {exc}",
                ) from exc
            if on_retry is not None:
                on_retry(number, exc, wait)
            await sleep(wait)
