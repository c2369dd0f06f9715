"""Events whose identity locks another transaction holds are deferred, not waited for: the
rest of their batch is applied, their partition's stored offset stays at the first of them,
they are applied once the locks are free (waited for after `MAX_DEFERRALS` batches), and a
crash while they wait loses and doubles nothing."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from cdp.identity import Identifier
from cdp.privacy.keystate import pii_codec
from cdp.profiles.pii import PiiWriter
from cdp.profiles.store import lock_key
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.profiles.conftest import EventSender, RunningProcessor, consumed_up_to
from tests.integration.profiles.test_crash import start

pytestmark = pytest.mark.integration


def matched(settings: Settings, kind: str, value: str) -> Identifier:
    """The identifier as the processor stores and locks it (hashed when PII is encrypted)."""
    return PiiWriter(pii_codec(settings)).match([Identifier(kind, value)])[0]


@contextmanager
def holding(settings: Settings, sql: str, *params: Any) -> Iterator[None]:
    """Another transaction holding what `sql` locks until the block ends."""
    with psycopg.connect(settings.database_dsn()) as conn:
        conn.execute(sql, params)
        yield
        conn.rollback()


def hold_identifier(settings: Settings, kind: str, value: str) -> Any:
    key = lock_key(matched(settings, kind, value))
    return holding(settings, "SELECT pg_advisory_xact_lock(%s)", key)


def tracks(device: str, count: int) -> list[dict[str, Any]]:
    return [
        {"type": "track", "anonymousId": device, "event": "Viewed", "messageId": f"{device}-{k}"}
        for k in range(count)
    ]


def others(count: int) -> list[dict[str, Any]]:
    """One event of each of `count` other people, sent after the held ones."""
    return [e for n in range(count) for e in tracks(f"free-{n}", 1)]


def timeline_ids(settings: Settings) -> list[str]:
    with psycopg.connect(settings.database_dsn()) as conn:
        return [r[0] for r in conn.execute("SELECT message_id FROM events").fetchall()]


def stored_offsets(settings: Settings) -> dict[int, int]:
    with psycopg.connect(settings.database_dsn()) as conn:
        rows = conn.execute(
            "SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = %s",
            (settings.processor_group,),
        ).fetchall()
    return {p: o for p, o in rows}


def waiting_locks(settings: Settings, kind: str) -> int:
    """Locks of `kind` some session of the database waits for (not granted)."""
    with psycopg.connect(settings.database_dsn()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "OR l.database IS NULL WHERE d.datname = current_database() "
            "AND l.locktype = %s AND NOT l.granted",
            (kind,),
        ).fetchone()
    return int(row[0]) if row else 0


def event_count(settings: Settings, device: str) -> int:
    with psycopg.connect(settings.database_dsn()) as conn:
        row = conn.execute(
            "SELECT (p.computed->>'event_count')::int FROM profiles p JOIN identifiers i "
            "ON i.profile_id = p.id WHERE i.id_type = 'anonymous_id' AND i.id_value = %s",
            (matched(settings, "anonymous_id", device).value,),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def deferred_total() -> float:
    return REGISTRY.get_sample_value("cdp_processor_deferred_events_total") or 0.0


def applied_around_held(
    settings: Settings, sender: EventSender, held: list[str], free: list[str]
) -> None:
    """Wait until every free event is applied and the held partition's stored offset is at its
    first held event, though later events of that partition are applied."""
    partition, first = min(sender.positions[m] for m in held)
    later = [m for m in free if sender.positions[m][0] == partition]
    assert later, "no free event shares the held partition (keys hash to fixed partitions)"
    wait_for(lambda: set(free) <= set(timeline_ids(settings)), timeout=60, what="the free events")
    assert stored_offsets(settings)[partition] == first
    assert not set(held) & set(timeline_ids(settings))


def deferred_then_waited(
    settings: Settings,
    sender: EventSender,
    held: list[dict[str, Any]],
    free: list[dict[str, Any]],
    lock: str,
) -> None:
    """Send `held` then `free` while their lock is held: the free events are applied around the
    deferred ones, and after `MAX_DEFERRALS` batches the processor waits for a `lock` lock."""
    sender.send(*held, *free)
    applied_around_held(settings, sender, ids(held), ids(free))
    wait_for(
        lambda: waiting_locks(settings, lock),
        timeout=30,
        what=f"the processor to wait for the {lock} lock after deferring",
    )


def all_applied(settings: Settings, sender: EventSender) -> None:
    wait_for(lambda: consumed_up_to(settings) >= sender.sent, timeout=60, what="all applied")


def test_a_busy_identifier_defers_its_events_and_the_rest_is_applied(
    pipeline_settings: Settings, sender: EventSender
) -> None:
    settings = pipeline_settings
    held, free = tracks("held-device", 3), others(30)
    before = deferred_total()
    with RunningProcessor(settings):
        with hold_identifier(settings, "anonymous_id", "held-device"):
            deferred_then_waited(settings, sender, held, free, "advisory")
            assert deferred_total() - before >= len(held)
            assert consumed_up_to(settings) < sender.sent
        all_applied(settings, sender)
    assert sorted(timeline_ids(settings)) == sorted(ids(held) + ids(free))
    assert event_count(settings, "held-device") == 3


def test_a_busy_profile_row_defers_the_events_of_its_profile(
    pipeline_settings: Settings, sender: EventSender
) -> None:
    """Its identifiers are free, but another transaction has locked the profile they lead to
    (as a processor folding the same person's other device would)."""
    settings = pipeline_settings
    first, held, free = tracks("row-device", 1), tracks("row-device", 4)[1:], others(30)
    device = matched(settings, "anonymous_id", "row-device").value
    with RunningProcessor(settings):
        sender.send(*first)
        all_applied(settings, sender)
        with holding(
            settings,
            "SELECT p.id FROM profiles p JOIN identifiers i ON i.profile_id = p.id "
            "WHERE i.id_type = 'anonymous_id' AND i.id_value = %s FOR UPDATE OF p",
            device,
        ):
            deferred_then_waited(settings, sender, held, free, "transactionid")
        all_applied(settings, sender)
    assert sorted(timeline_ids(settings)) == sorted(ids(first) + ids(held) + ids(free))
    assert event_count(settings, "row-device") == 4


def test_a_crash_while_events_are_deferred_loses_and_doubles_nothing(
    pipeline_settings: Settings, sender: EventSender
) -> None:
    """Killed with events deferred: the partition is read again from the first of them, and
    the events after it that were applied are dropped as duplicates."""
    settings = pipeline_settings
    held, free = tracks("held-device", 3), others(30)
    with hold_identifier(settings, "anonymous_id", "held-device"):
        sender.send(*held, *free)
        victim = start(settings)
        try:
            applied_around_held(settings, sender, ids(held), ids(free))
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
        finally:
            victim.kill()
    with RunningProcessor(settings):
        all_applied(settings, sender)
    assert sorted(timeline_ids(settings)) == sorted(ids(held) + ids(free))
    assert event_count(settings, "held-device") == 3
    assert all(event_count(settings, f"free-{n}") == 1 for n in range(30))


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["messageId"] for e in events]
