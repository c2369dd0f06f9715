"""Configured computed traits maintained by the real processor (real Kafka and Postgres): every
kind, out-of-order batches, a merge, a backfill, a window expiring, and segments reading them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from cdp.activation import OutboxRelay
from cdp.activation.operations import apply_definitions
from cdp.activation.scheduler import Scheduler
from cdp.activation.segments import parse_segment
from cdp.db import create_engine
from cdp.profiles.computed import apply_traits, parse_traits
from cdp.schemas import codec_for
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.profiles.conftest import (
    EventSender,
    RunningProcessor,
    consumed_up_to,
    query,
)
from tests.integration.profiles.test_identity_scenarios import profile_of
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def define(settings: Settings, *definitions: dict[str, Any]) -> list[Any]:
    engine = create_engine(settings, pool_size=1)
    try:
        with engine.begin() as conn:
            return apply_traits(conn, parse_traits(list(definitions)))
    finally:
        engine.dispose()


def values(settings: Settings, user: str) -> dict[str, Any]:
    pid = profile_of(settings, "user_id", user)
    rows = query(
        settings, "SELECT name, value FROM computed_trait_values WHERE profile_id = %s", pid
    )
    return dict(rows)


def order(user: str, minutes: int, revenue: Any, sku: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "timestamp": at(minutes),
        "properties": {"revenue": revenue, "sku": sku, **extra},
    }


EVERY_KIND: list[dict[str, Any]] = [
    {"name": "orders", "kind": "counter", "event": {"name": "Order Completed"}},
    {"name": "pages", "kind": "counter", "event": {"type": "page"}},
    {"name": "ltv", "kind": "sum", "property": "revenue"},
    {"name": "aov", "kind": "avg", "property": "revenue", "event": {"name": "Order Completed"}},
    {"name": "smallest", "kind": "min", "property": "revenue"},
    {"name": "biggest", "kind": "max", "property": "revenue"},
    {"name": "first_sku", "kind": "first", "property": "sku"},
    {"name": "last_sku", "kind": "last", "property": "sku"},
    {"name": "top_sku", "kind": "most_frequent", "property": "sku"},
    {"name": "skus", "kind": "unique_list", "property": "sku"},
    {"name": "sku_count", "kind": "unique_count", "property": "sku"},
    {
        "name": "big_orders",
        "kind": "counter",
        "event": {
            "name": "Order Completed",
            "where": [{"property": "revenue", "op": "gt", "value": 20}],
        },
    },
    {"name": "city", "kind": "last", "property": "address.city", "event": {"type": "identify"}},
]


def test_every_kind_over_batches_in_any_order(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    define(pipeline_settings, *EVERY_KIND)
    sender.send(
        order("u1", 30, 4, "a"),
        {"type": "page", "userId": "u1", "name": "Home", "timestamp": at(50)},
    )
    processed()
    sender.send(
        order("u1", 10, 10, "a"),
        {
            "type": "track",
            "userId": "u1",
            "event": "Viewed",
            "timestamp": at(40),
            "properties": {"sku": "c"},
        },
        {
            "type": "identify",
            "userId": "u1",
            "timestamp": at(5),
            "traits": {"address": {"city": "Paris"}},
        },
    )
    processed()
    sender.send(
        order("u1", 20, 25.5, "b"),
        order("u1", 35, "12", "a"),
        {
            "type": "identify",
            "userId": "u1",
            "timestamp": at(1),
            "traits": {"address": {"city": "Lyon"}},
        },
    )
    processed()
    assert values(pipeline_settings, "u1") == {
        "orders": 4,
        "pages": 1,
        "ltv": 39.5,
        "aov": 13.1666666667,
        "smallest": 4,
        "biggest": 25.5,
        "first_sku": "a",
        "last_sku": "c",
        "top_sku": "a",
        "skus": ["a", "b", "c"],
        "sku_count": 3,
        "big_orders": 1,
        "city": "Paris",
    }


def test_a_merge_combines_both_profiles_states(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    define(pipeline_settings, *EVERY_KIND[2:11])
    anonymous = {"anonymousId": "anon-1"}
    sender.send(
        {**order("", 10, 5, "x"), **anonymous, "userId": None},
        {**order("", 30, 1, "x"), **anonymous, "userId": None},
        order("m1", 0, 7, "y"),
        order("m1", 20, 100, "z"),
    )
    processed()
    sender.send({"type": "identify", "userId": "m1", "anonymousId": "anon-1", "timestamp": at(60)})
    processed()
    survivor = profile_of(pipeline_settings, "user_id", "m1")
    assert profile_of(pipeline_settings, "anonymous_id", "anon-1") == survivor
    assert values(pipeline_settings, "m1") == {
        "ltv": 113,
        "aov": 28.25,
        "smallest": 1,
        "biggest": 100,
        "first_sku": "y",
        "last_sku": "x",
        "top_sku": "x",
        "skus": ["x", "y", "z"],
        "sku_count": 3,
    }
    [(rows,)] = query(
        pipeline_settings,
        "SELECT count(*) FROM computed_trait_values v JOIN profiles p ON p.id = v.profile_id "
        "WHERE p.merged_into IS NOT NULL",
    )
    assert rows == 0, "the merged-away profile keeps no state"


def test_a_new_definition_is_backfilled_then_kept_up(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(order("b1", 0, 3, "a"), order("b1", 5, 4, "b"), order("b2", 0, 9, "a"))
    processed()
    [applied] = define(pipeline_settings, {"name": "ltv", "kind": "sum", "property": "revenue"})
    assert (applied.action, applied.version, applied.profiles) == ("created", 1, 2)
    assert values(pipeline_settings, "b1") == {"ltv": 7}
    assert values(pipeline_settings, "b2") == {"ltv": 9}
    sender.send(order("b1", 10, 1, "c"))
    processed()
    assert values(pipeline_settings, "b1") == {"ltv": 8}
    [again] = define(pipeline_settings, {"name": "ltv", "kind": "sum", "property": "revenue"})
    assert again.action == "unchanged"
    [changed] = define(
        pipeline_settings,
        {
            "name": "ltv",
            "kind": "sum",
            "property": "revenue",
            "event": {"where": [{"property": "sku", "op": "neq", "value": "a"}]},
        },
    )
    assert (changed.action, changed.version) == ("updated", 2)
    assert values(pipeline_settings, "b1") == {"ltv": 5}
    assert values(pipeline_settings, "b2") == {}


@pytest.fixture
def membership_settings(pipeline_settings: Settings, topic_factory: Callable[..., str]) -> Settings:
    topics = pipeline_settings.topics.model_copy(
        update={"membership": topic_factory("membership", 3)}
    )
    return pipeline_settings.model_copy(update={"topics": topics})


def segment(settings: Settings, slug: str, condition: dict[str, Any]) -> None:
    engine = create_engine(settings, pool_size=1)
    try:
        apply_definitions(
            settings, engine, [parse_segment({"slug": slug, "name": slug, "condition": condition})]
        )
    finally:
        engine.dispose()


def members(settings: Settings, slug: str) -> set[int]:
    rows = query(settings, "SELECT profile_id FROM segment_memberships WHERE slug = %s", slug)
    return {r[0] for r in rows}


def test_a_segment_on_a_computed_trait_enters_and_exits(membership_settings: Settings) -> None:
    settings = membership_settings
    sender = EventSender(settings, Producer(settings.kafka_config()))
    define(
        settings,
        {"name": "plan", "kind": "last", "property": "plan", "event": {"name": "Plan Changed"}},
    )
    slug = f"gold-{settings.processor_group}"
    segment(settings, slug, {"computed": {"name": "plan", "op": "eq", "value": "gold"}})

    def plan(value: str, minutes: int) -> dict[str, Any]:
        return {
            "type": "track",
            "userId": "p1",
            "event": "Plan Changed",
            "timestamp": at(minutes),
            "properties": {"plan": value},
        }

    with RunningProcessor(settings):
        sender.send(plan("gold", 10))
        wait_consumed(settings, sender)
        pid = profile_of(settings, "user_id", "p1")
        assert members(settings, slug) == {pid}
        sender.send(plan("silver", 5))
        wait_consumed(settings, sender)
        assert members(settings, slug) == {pid}, "an older event does not change the last value"
        sender.send(plan("silver", 20))
        wait_consumed(settings, sender)
        assert members(settings, slug) == set()
    OutboxRelay(settings).relay_once()
    changes = [r.value["change"] for r in read_all(settings, settings.topics.membership)]
    assert changes == ["entered", "exited"]


def wait_consumed(settings: Settings, sender: EventSender) -> None:
    wait_for(lambda: consumed_up_to(settings) >= sender.sent, timeout=60, what="the processor")


def test_a_window_expires_exactly_and_its_segment_exits(membership_settings: Settings) -> None:
    settings = membership_settings
    sender = EventSender(settings, Producer(settings.kafka_config()))
    define(
        settings,
        {"name": "week_spend", "kind": "sum", "property": "revenue", "window": {"days": 7}},
    )
    slug = f"spender-{settings.processor_group}"
    segment(settings, slug, {"computed": {"name": "week_spend", "op": "gte", "value": 10}})
    now = datetime.now(UTC).replace(microsecond=0)
    recent, older, old = now - timedelta(days=2), now - timedelta(days=3), now - timedelta(days=10)

    def spend(when: datetime, revenue: int) -> dict[str, Any]:
        return {
            "type": "track",
            "userId": "w1",
            "event": "Order Completed",
            "timestamp": when.isoformat(),
            "properties": {"revenue": revenue},
        }

    now_ms = int(now.timestamp() * 1000)
    with RunningProcessor(settings):
        sender.send(spend(old, 50), spend(older, 6), spend(recent, 5), received_at=now_ms)
        wait_consumed(settings, sender)
    pid = profile_of(settings, "user_id", "w1")
    [(value, expires)] = query(
        settings, "SELECT value, expires_at FROM computed_trait_values WHERE profile_id = %s", pid
    )
    assert (value, expires) == (11, older + timedelta(days=7))
    assert members(settings, slug) == {pid}

    def scheduler_pass(moment: datetime) -> Any:
        with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
            return Scheduler(codec_for(settings), settings.topics.membership).run_pass(conn, moment)

    assert scheduler_pass(older + timedelta(days=7, microseconds=-1)).trait_expiries == 0
    assert members(settings, slug) == {pid}
    assert scheduler_pass(older + timedelta(days=7)).trait_expiries == 1
    [(value, expires)] = query(
        settings, "SELECT value, expires_at FROM computed_trait_values WHERE profile_id = %s", pid
    )
    assert (value, expires) == (5, recent + timedelta(days=7))
    assert members(settings, slug) == set()
    scheduler_pass(recent + timedelta(days=7))
    assert (
        query(settings, "SELECT value FROM computed_trait_values WHERE profile_id = %s", pid) == []
    )
