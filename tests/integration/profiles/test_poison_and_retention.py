"""An event Postgres refuses is isolated and dead-lettered; retention drops old months."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from cdp.profiles import housekeeping
from cdp.settings import Settings
from tests.integration.profiles.conftest import EventSender, RunningProcessor, query
from tests.integration.profiles.test_identity_scenarios import profile_of
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration


def test_an_event_postgres_refuses_is_dead_lettered_and_its_batch_neighbours_applied(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    good = [
        {"type": "track", "userId": f"n{i}", "event": "Fine", "messageId": f"good-{i}"}
        for i in range(6)
    ]
    poison = {
        "type": "track",
        "userId": "n-poison",
        "event": "Bad",
        "properties": {"nul": "a\u0000b"},
        "messageId": "poison",
    }
    sender.send(*good[:3], poison, *good[3:])
    processed()

    assert all(profile_of(pipeline_settings, "user_id", f"n{i}") is not None for i in range(6))
    assert profile_of(pipeline_settings, "user_id", "n-poison") is None
    [letter] = read_all(pipeline_settings, pipeline_settings.topics.dlq)
    assert letter.value["stage"] == "processor"
    assert letter.value["reason"] == "processing_failed"
    assert letter.value["message_id"] == "poison"
    assert "Unicode" in letter.value["message"] or "\\u0000" in letter.value["message"]
    assert letter.value["payload"], "the original record travels with the dead letter"
    assert query(
        pipeline_settings, "SELECT count(*) FROM processed_messages WHERE message_id = 'poison'"
    ) == [(0,)]


def test_housekeeping_drops_months_past_retention_and_forgets_old_message_ids(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "track",
            "userId": "old",
            "event": "Then",
            "messageId": "r-old",
            "timestamp": "2024-01-15T00:00:00Z",
        },
        {
            "type": "track",
            "userId": "new",
            "event": "Now",
            "messageId": "r-new",
            "timestamp": "2026-11-15T00:00:00Z",
        },
    )
    processed()
    with psycopg.connect(pipeline_settings.database_dsn(), autocommit=True) as conn:
        conn.execute(
            "UPDATE processed_messages SET processed_at = now() - interval '40 days' WHERE message_id = 'r-old'"
        )

    now_ms = 1_795_000_000_000
    housekeeping(
        pipeline_settings.model_copy(update={"timeline_retention_days": 365}), now_ms=now_ms
    )

    assert [
        r[0] for r in query(pipeline_settings, "SELECT message_id FROM events ORDER BY message_id")
    ] == ["r-new"]
    partitions = {
        r[0]
        for r in query(
            pipeline_settings,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid",
        )
    }
    assert "events_2024_01" not in partitions
    assert "events_2026_11" in partitions
    assert [
        r[0] for r in query(pipeline_settings, "SELECT message_id FROM processed_messages")
    ] == ["r-new"]
