"""The relay publishes each membership row twice: to the membership topic and, fanned out, to
the segment's compacted topic (a tombstone on exit); the row goes only once both are delivered."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from cdp.activation import OutboxRelay
from cdp.activation.catalog import ActiveSegment
from cdp.activation.membership import MembershipChange, write_outbox
from cdp.activation.segments import parse_segment
from cdp.schemas import codec_for
from cdp.settings import Settings
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    pipeline_settings,
    template_database,
)
from tests.kafka_helpers import Consumed, read_all

pytestmark = pytest.mark.integration


@pytest.fixture
def relay_settings(pipeline_settings: Settings, topic_factory: Callable[..., str]) -> Settings:  # noqa: F811
    topics = pipeline_settings.topics.model_copy(
        update={"membership": topic_factory("membership", 3)}
    )
    return pipeline_settings.model_copy(update={"topics": topics})


def segment() -> ActiveSegment:
    slug = f"fanout-{uuid.uuid4().hex[:8]}"
    definition = {
        "slug": slug,
        "name": "Fan-out",
        "condition": {"trait": {"name": "plan", "op": "exists"}},
    }
    return ActiveSegment(slug, 3, parse_segment(definition))


def queue(settings: Settings, changes: list[MembershipChange]) -> None:
    with psycopg.connect(settings.database_dsn()) as conn, conn.transaction():
        write_outbox(conn, changes, codec_for(settings), settings.topics.membership, "test")


def outbox_rows(settings: Settings) -> int:
    with psycopg.connect(settings.database_dsn()) as conn:
        row = conn.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0]) if row else 0


def by_key(records: list[Consumed]) -> dict[int, list[Consumed]]:
    found: dict[int, list[Consumed]] = {}
    for record in records:
        found.setdefault(int(record.key or b"0"), []).append(record)
    return found


def test_one_row_per_change_reaches_both_topics_in_order(relay_settings: Settings) -> None:
    seg = segment()
    queue(
        relay_settings,
        [
            MembershipChange(seg, 11, "entered"),
            MembershipChange(seg, 12, "entered"),
            MembershipChange(seg, 11, "exited"),
            MembershipChange(seg, 11, "entered"),
        ],
    )
    assert outbox_rows(relay_settings) == 4, "one row per change"

    assert OutboxRelay(relay_settings).relay_once() == 4
    assert outbox_rows(relay_settings) == 0

    changes = by_key(read_all(relay_settings, relay_settings.topics.membership))
    current = by_key(read_all(relay_settings, seg.definition.topic))
    assert [r.value["change"] for r in changes[11]] == ["entered", "exited", "entered"]
    assert [r.value["change"] for r in changes[12]] == ["entered"]
    assert [r.tombstone for r in current[11]] == [False, True, False], "an exit is a tombstone"
    assert [r.tombstone for r in current[12]] == [False]
    assert [r.value for r in current[11] if not r.tombstone] == [
        changes[11][0].value,
        changes[11][2].value,
    ], "the segment topic gets the membership record itself, change id and all"
    assert current[12][0].value == changes[12][0].value
    assert current[11][0].value["segment"] == seg.slug


class CrashingProducer:
    """Hands the first `records` records to the real producer and delivers them, then fails as
    a process killed at that point would: nothing after it is produced, nothing is committed."""

    def __init__(self, real: Producer, records: int) -> None:
        self._real = real
        self._left = records

    def produce(self, topic: str, value: Any, key: Any, on_delivery: Any) -> None:
        if self._left == 0:
            self._real.flush(30)
            raise KeyboardInterrupt("killed between the two produces")
        self._left -= 1
        self._real.produce(topic, value, key, on_delivery=on_delivery)

    def flush(self, timeout: float) -> int:
        return self._real.flush(timeout)


def test_a_crash_between_the_two_produces_keeps_the_row_and_publishes_both_again(
    relay_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seg = segment()
    queue(relay_settings, [MembershipChange(seg, 21, "entered")])
    crashing = OutboxRelay(relay_settings)
    sender = crashing._sender
    monkeypatch.setattr(sender, "_producer", CrashingProducer(sender._producer, 1))

    with pytest.raises(KeyboardInterrupt):
        crashing.relay_once()

    assert outbox_rows(relay_settings) == 1, "not marked sent: the second produce never happened"
    first = read_all(relay_settings, relay_settings.topics.membership)
    assert [r.value["change"] for r in first] == ["entered"]
    assert read_all(relay_settings, seg.definition.topic) == []

    assert OutboxRelay(relay_settings).relay_once() == 1
    assert outbox_rows(relay_settings) == 0
    again = read_all(relay_settings, relay_settings.topics.membership)
    current = read_all(relay_settings, seg.definition.topic)
    assert len(again) == 2
    assert again[0].value == again[1].value, "the same change id, for subscribers to dedupe"
    assert [r.value for r in current] == [again[0].value]
