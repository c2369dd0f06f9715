"""Backoff with full jitter, Retry-After parsing, and the retry loop's stopping rules."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp.activation.destinations import RetryPolicy
from cdp.activation.destinations.backoff import backoff_delay, parse_retry_after
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.retry import deliver_with_retries

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@given(st.integers(1, 40), st.floats(0.01, 5), st.floats(0.1, 120), st.integers(0, 2**32))
def test_full_jitter_stays_within_the_exponential_cap(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = backoff_delay(attempt, base, cap, rng=random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2 ** (attempt - 1))


def test_full_jitter_spreads_over_the_whole_interval() -> None:
    rng = random.Random(7)
    draws = [backoff_delay(4, 1.0, 60.0, rng=rng) for _ in range(2000)]
    assert min(draws) < 0.5
    assert max(draws) > 7.5
    assert 3.5 < sum(draws) / len(draws) < 4.5


def test_retry_after_wins_over_jitter_and_is_capped() -> None:
    assert backoff_delay(1, 0.5, 60.0, retry_after_s=7) == 7
    assert backoff_delay(1, 0.5, 60.0, retry_after_s=3600) == 60


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Mon, 23 Nov 2026 12:00:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("-3", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str | None, expected: float | None
) -> None:
    assert parse_retry_after(header, now=NOW) == expected


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run_retries(outcomes: list[Exception | None], policy: RetryPolicy) -> tuple[int, FakeTime]:
    fake = FakeTime()
    pending = list(outcomes)

    async def attempt() -> None:
        outcome = pending.pop(0)
        if outcome is not None:
            raise outcome

    async def go() -> int:
        return await deliver_with_retries(attempt, policy, clock=fake.clock, sleep=fake.sleep)

    return asyncio.run(go()), fake


def test_retries_until_success_honouring_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, base_backoff_s=0.1, max_backoff_s=10)
    attempts, fake = run_retries(
        [DeliveryRetryable("http_500", ""), DeliveryRetryable("http_429", "", 2.0), None], policy
    )
    assert attempts == 3
    assert fake.slept[0] <= 0.1
    assert fake.slept[1] == 2.0


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, base_backoff_s=0.01)
    with pytest.raises(DeliveryFailed) as caught:
        run_retries([DeliveryRetryable("timeout", "")] * 3, policy)
    assert caught.value.reason == "max_attempts"
    assert caught.value.stage == "activation"


def test_gives_up_when_the_next_try_would_be_too_old() -> None:
    policy = RetryPolicy(max_attempts=50, max_age_s=10, base_backoff_s=1, max_backoff_s=60)
    with pytest.raises(DeliveryFailed) as caught:
        run_retries([DeliveryRetryable("http_503", "", 4.0)] * 50, policy)
    assert caught.value.reason == "max_age"


def test_terminal_failure_is_not_retried() -> None:
    policy = RetryPolicy(max_attempts=5)
    with pytest.raises(DeliveryFailed) as caught:
        run_retries([DeliveryFailed("http_400", "bad")], policy)
    assert caught.value.reason == "http_400"
