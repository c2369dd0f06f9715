"""The delivery engine with fake channel and connection: order per profile, segments, aborts."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from cdp.activation.destinations import attempts, grants, parse_destinations
from cdp.activation.destinations.delivery import GONE, HELD, PENDING, Deliverer, member_states
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.payload import Change


class FakeCursor:
    def __init__(self, row: tuple[Any, ...] | None, rows: list[tuple[Any, ...]] | None = None):
        self.row = row
        self.rows = rows or []

    async def fetchone(self) -> tuple[Any, ...] | None:
        return self.row

    async def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class FakeConnection:
    """Records statements; keeps the retry history (`attempts.RECORD`) in a dict."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.history: dict[str, tuple[float, int]] = {}
        self.answers: dict[str, list[tuple[Any, ...]]] = {}
        """Rows of a SELECT, by the statement's start."""

    async def execute(self, sql: str, params: Any = None) -> FakeCursor:
        self.statements.append((sql, params))
        if sql == attempts.RECORD:
            _, change_id, _, started, count = params
            first, before = self.history.get(change_id, (started, count - 1))
            self.history[change_id] = (first, before + 1)
            return FakeCursor(self.history[change_id])
        rows = next((r for start, r in self.answers.items() if sql.startswith(start)), [])
        return FakeCursor(None, rows)


def make(i: int, profile: int, segment: str = "vip") -> Change:
    return Change(f"c{i}", segment, 1, profile, "entered", datetime.now(UTC), {}, [])


def deliverer(
    send: Any, dead: list[str], clock: Any = None, **overrides: Any
) -> tuple[Deliverer, FakeConnection]:
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
    extra = {"clock": clock} if clock is not None else {}
    subject = Deliverer(destination, send, dead_letter, conn, concurrency=8, **extra)  # type: ignore[arg-type]
    return subject, conn


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


def test_a_restarted_worker_keeps_the_first_attempt_and_the_count_of_a_failing_change() -> None:
    class Stopped(Exception):
        """The worker stopping in the middle of the retries (faust cancels the agent)."""

    now = [1000.0]
    stop_after = [3]

    async def send(change: Change, _body: bytes) -> None:
        if stop_after[0] == 0:
            raise Stopped
        stop_after[0] -= 1
        raise DeliveryRetryable("http_500", "down")

    dead: list[str] = []
    retry = {"max_attempts": 50, "max_age_s": 60, "base_backoff_s": 0.001, "max_backoff_s": 0.002}
    first, conn = deliverer(send, dead, clock=lambda: now[0], retry=retry)
    with pytest.raises(Stopped):
        asyncio.run(first.deliver([make(0, 7)]))
    assert conn.history["c0"] == (1000.0, 3), "kept: the change did not end"
    now[0] = 1061.0
    stop_after[0] = -1
    second, _ = deliverer(send, dead, clock=lambda: now[0], retry=retry)
    second.use_connection(conn)  # type: ignore[arg-type]
    asyncio.run(second.deliver([make(0, 7)]))
    assert dead == ["c0:max_age"]
    assert conn.history["c0"] == (1000.0, 4), "one attempt after the restart, then aborted"
    assert conn.statements[-2][0].startswith("DELETE FROM destination_retries")


def test_member_states_follow_the_last_change_of_each_pair() -> None:
    entered = make(0, 1)
    exited = Change("x1", "vip", 1, 1, "exited", datetime.now(UTC), {}, [])
    held_back = make(2, 2)
    aborted = make(3, 3)
    delivered = make(4, 4)
    states = member_states(
        [entered, exited, held_back, aborted, delivered],
        {"c0": True, "x1": True, "c3": False, "c4": True},
    )
    assert states == {
        ("vip", 1): (GONE, "x1"),
        ("vip", 2): (PENDING, "c2"),
        ("vip", 4): (HELD, "c4"),
    }


SEGMENT = {"slug": "vip", "name": "VIP", "condition": {"trait": {"name": "vip", "op": "exists"}}}


def test_a_grant_entry_is_sent_with_a_stable_id_and_an_aborted_one_stops_waiting() -> None:
    refused = {7}

    async def send(change: Change, _body: bytes) -> None:
        if change.profile_id in refused:
            raise DeliveryFailed("http_410", "gone")
        sent.append(change)

    sent: list[Change] = []
    dead: list[str] = []
    subject, conn = deliverer(send, dead, consent=["marketing"])
    conn.answers[grants.PENDING_GRANTED] = [
        ("vip", 2, 7, "c-old-7", SEGMENT),
        ("vip", 2, 8, "c-old-8", SEGMENT),
    ]
    assert asyncio.run(subject.sweep_consent()) == 2
    granted = grants.grant_change_id("d", "vip", 8, "c-old-8")
    assert [(c.change_id, c.change, c.reason, c.segment_version) for c in sent] == [
        (granted, "entered", grants.GRANT_REASON, 2)
    ]
    assert dead == [f"{grants.grant_change_id('d', 'vip', 7, 'c-old-7')}:http_410"]
    statements = [
        (sql.split(" (")[0].split(" WHERE")[0], params) for sql, params in conn.statements
    ]
    assert ("INSERT INTO destination_members", ("d", ["vip"], [8])) in statements
    assert ("DELETE FROM destination_pending", ("d", ["vip"], [8])) in statements
    assert ("DELETE FROM destination_pending", ("d", ["vip"], [7])) in statements
