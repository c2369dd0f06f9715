"""The token bucket: bursts up to its capacity, then the configured rate."""

from __future__ import annotations

import asyncio

import pytest

from cdp.activation.destinations.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_burst_then_steady_rate() -> None:
    fake = FakeTime()
    bucket = TokenBucket(10, clock=fake.clock, sleep=fake.sleep)

    async def take(n: int) -> None:
        for _ in range(n):
            await bucket.acquire()

    asyncio.run(take(10))
    assert fake.now == pytest.approx(100.0)
    asyncio.run(take(50))
    assert fake.now == pytest.approx(105.0, abs=0.01)


def test_try_acquire_refills_with_time() -> None:
    fake = FakeTime()
    bucket = TokenBucket(2, burst=1, clock=fake.clock, sleep=fake.sleep)
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    fake.now += 0.5
    assert bucket.try_acquire()


def test_a_slow_rate_still_holds_one_token() -> None:
    bucket = TokenBucket(0.1)
    assert bucket.capacity == 1
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
