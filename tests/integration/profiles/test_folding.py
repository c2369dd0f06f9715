"""Traits, computed traits, dedupe, groups and dead letters through the real processor."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from cdp.profiles.store import dedupe
from cdp.settings import Settings
from tests.integration.profiles.conftest import EventSender, RunningProcessor, query
from tests.integration.profiles.test_identity_scenarios import at, profile_of, timeline, traits
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration


def test_a_late_event_never_overwrites_a_newer_trait(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"plan": "pro", "city": "Oslo"},
            "messageId": "t2",
            "timestamp": at(20),
        }
    )
    processed()
    sender.send(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"plan": "free", "age": 41},
            "messageId": "t1",
            "timestamp": at(10),
        }
    )
    processed()

    assert traits(pipeline_settings, profile_of(pipeline_settings, "user_id", "u1")) == {
        "plan": "pro",
        "city": "Oslo",
        "age": 41,
    }


def test_null_unsets_set_once_and_unset(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "identify",
            "userId": "u2",
            "traits": {"a": 1, "b": 2, "$set_once": {"signup": "2026-01"}},
            "messageId": "s1",
            "timestamp": at(1),
        },
        {
            "type": "identify",
            "userId": "u2",
            "traits": {"a": None, "$set_once": {"signup": "2026-05"}, "$unset": ["b"]},
            "messageId": "s2",
            "timestamp": at(2),
        },
        {
            "type": "identify",
            "userId": "u2",
            "traits": {"a": "stale"},
            "messageId": "s0",
            "timestamp": at(0),
        },
    )
    processed()

    assert traits(pipeline_settings, profile_of(pipeline_settings, "user_id", "u2")) == {
        "signup": "2026-01"
    }


def test_computed_traits(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "page",
            "userId": "buyer",
            "name": "Home",
            "messageId": "c1",
            "timestamp": at(1),
            "context": {"locale": "en-GB", "campaign": {"name": "spring"}},
        },
        {
            "type": "track",
            "userId": "buyer",
            "event": "Order Completed",
            "properties": {"revenue": 30.5},
            "messageId": "c2",
            "timestamp": at(2),
        },
        {
            "type": "track",
            "userId": "buyer",
            "event": "Order Completed",
            "properties": {"total": "19.5"},
            "messageId": "c3",
            "timestamp": at(3),
        },
        {
            "type": "screen",
            "userId": "buyer",
            "name": "Cart",
            "messageId": "c4",
            "timestamp": at(4),
            "context": {"device": {"type": "ios"}},
        },
    )
    processed()

    pid = profile_of(pipeline_settings, "user_id", "buyer")
    [(computed,)] = query(pipeline_settings, "SELECT computed FROM profiles WHERE id = %s", pid)
    assert computed["event_count"] == 4
    assert computed["events"] == {"Order Completed": 2}
    assert computed["page_views"] == 1
    assert computed["screen_views"] == 1
    assert computed["order_count"] == 2
    assert computed["total_revenue"] == 50.0
    assert computed["last_context"]["device"] == {"type": "ios"}
    assert computed["last_seen"] - computed["first_seen"] == 3 * 60_000


def test_a_retried_batch_changes_nothing(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    batch = [
        {"type": "track", "userId": "r1", "event": "Clicked", "messageId": f"dup-{i}"}
        for i in range(5)
    ]
    sender.send(*batch)
    processed()
    sender.send(*batch)
    sender.send(*batch)
    processed()

    pid = profile_of(pipeline_settings, "user_id", "r1")
    [(computed,)] = query(pipeline_settings, "SELECT computed FROM profiles WHERE id = %s", pid)
    assert computed["event_count"] == 5
    assert len(timeline(pipeline_settings, pid)) == 5


def test_group_calls_build_accounts_with_members(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "group",
            "userId": "g1",
            "groupId": "acme",
            "traits": {"plan": "enterprise"},
            "messageId": "g-1",
            "timestamp": at(1),
        },
        {
            "type": "group",
            "userId": "g2",
            "groupId": "acme",
            "traits": {"plan": "team"},
            "messageId": "g-2",
            "timestamp": at(0),
        },
    )
    processed()

    assert query(pipeline_settings, "SELECT traits FROM groups WHERE group_id = 'acme'") == [
        ({"plan": "enterprise"},)
    ]
    members = {
        r[0]
        for r in query(
            pipeline_settings, "SELECT profile_id FROM group_members WHERE group_id = 'acme'"
        )
    }
    assert members == {
        profile_of(pipeline_settings, "user_id", "g1"),
        profile_of(pipeline_settings, "user_id", "g2"),
    }
    assert traits(pipeline_settings, profile_of(pipeline_settings, "user_id", "g1")) == {}


def test_undecodable_record_is_dead_lettered_and_does_not_block_the_partition(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send_raw(b"not avro at all", key=b"k")
    sender.send(
        {"type": "track", "userId": "after-bad", "event": "Still Counted", "messageId": "ok-1"}
    )
    processed()

    assert profile_of(pipeline_settings, "user_id", "after-bad") is not None
    [letter] = read_all(pipeline_settings, pipeline_settings.topics.dlq)
    assert letter.value["stage"] == "processor"
    assert letter.value["reason"] == "undecodable"
    assert letter.value["payload"] == b"not avro at all"
    assert letter.value["origin"].startswith(pipeline_settings.topics.raw + "/")


def test_dedupe_records_an_id_given_twice_once_and_reports_only_unseen_ids(
    pipeline_settings: Settings,
) -> None:
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        assert dedupe(conn, ["d-1", "d-2", "d-1"]) == {"d-1", "d-2"}
        assert dedupe(conn, ["d-2", "d-3", "d-3"]) == {"d-3"}
    rows = query(pipeline_settings, "SELECT message_id FROM processed_messages ORDER BY 1")
    assert [r[0] for r in rows] == ["d-1", "d-2", "d-3"]
