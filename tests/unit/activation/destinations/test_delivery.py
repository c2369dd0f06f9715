"""The delivery engine with fake channel and connection: order per profile, segments, aborts."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from cdp.activation.destinations import parse_destinations
from cdp.activation.destinations.delivery import Deliverer
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.payload import Change


class FakeConnection:
    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    async def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append((sql, params))


def make(i: int, profile: int, segment: str = "vip") -> Change:
    return Change(f"c{i}", segment, 1, profile, "entered", datetime.now(UTC), {}, [])


def deliverer(send: Any, dead: list[str], **overrides: Any) -> tuple[Deliverer, FakeConnection]:
    (destination,) = parse_destinations(
        {
            "name": "d",
            "segments": ["vip"],
            "rate_limit": 100_000,
            "retry": {"max_attempts": 3, "base_backoff_s": 0.001, "max_backoff_s": 0.002},
            "channel": {"type": "kafka", "topic": "t"},
            **overrides,
        }
    )

    async def dead_letter(change: Change, _body: bytes, failure: DeliveryFailed) -> None:
        dead.append(f"{change.change_id}:{failure.reason}")

    conn = FakeConnection()
    return Deliverer(destination, send, dead_letter, conn, concurrency=8), conn  # type: ignore[arg-type]


def test_changes_of_one_profile_arrive_in_order_while_profiles_interleave() -> None:
    rng = random.Random(3)
    arrived: list[Change] = []

    async def send(change: Change, _body: bytes) -> None:
        await asyncio.sleep(rng.random() / 1000)
        if rng.random() < 0.2:
            raise DeliveryRetryable("http_500", "flaky")
        arrived.append(change)

    changes = [make(i, i % 5) for i in range(200)] + [make(999, 1, "other")]
    subject, conn = deliverer(send, [], retry={"max_attempts": 50, "base_backoff_s": 0.001})
    asyncio.run(subject.deliver(changes))
    assert sorted(c.change_id for c in arrived) == sorted(f"c{i}" for i in range(200))
    for profile in range(5):
        mine = [c.change_id for c in arrived if c.profile_id == profile]
        assert mine == [
            c.change_id for c in changes if c.profile_id == profile and c.segment == "vip"
        ]
    assert [c.profile_id for c in arrived[:5]] != [0] * 5, "profiles went concurrently"
    flushed = conn.statements[-1][1]
    assert flushed[1:4] == (200, 0, 0), "delivered, aborted, suppressed"


def test_aborted_changes_are_dead_lettered_and_later_ones_still_go() -> None:
    arrived: list[str] = []

    async def send(change: Change, _body: bytes) -> None:
        if change.change_id == "c0":
            raise DeliveryRetryable("timeout", "slow")
        if change.change_id == "c1":
            raise DeliveryFailed("http_404", "gone")
        arrived.append(change.change_id)

    dead: list[str] = []
    subject, _ = deliverer(send, dead)
    asyncio.run(subject.deliver([make(0, 7), make(1, 7), make(2, 7)]))
    assert dead == ["c0:max_attempts", "c1:http_404"]
    assert arrived == ["c2"]
    assert subject.status.retrying == 0
