"""Segments over profiles the real processor built: backfill, windows, deletion, both topics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest

from cdp.activation import OutboxRelay
from cdp.activation.operations import apply_definitions, remove_segment
from cdp.activation.scheduler import Scheduler
from cdp.activation.segments import SegmentDefinitionError, parse_segment
from cdp.db import create_engine
from cdp.schemas import codec_for
from cdp.settings import Settings
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    EventSender,
    RunningProcessor,
    pipeline_settings,
    processed,
    processor,
    query,
    sender,
    template_database,
)
from tests.integration.profiles.test_identity_scenarios import profile_of
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

VIEWED_AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def apply(settings: Settings, definition: dict[str, Any]) -> None:
    engine = create_engine(settings, pool_size=1)
    try:
        apply_definitions(settings, engine, [parse_segment(definition)])
    finally:
        engine.dispose()


def scheduler_pass(settings: Settings, now: datetime) -> Any:
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        return Scheduler(codec_for(settings), settings.topics.membership).run_pass(conn, now)


def members(settings: Settings, slug: str) -> set[int]:
    return {
        r[0]
        for r in query(settings, "SELECT profile_id FROM segment_memberships WHERE slug = %s", slug)
    }


@pytest.fixture
def membership_settings(pipeline_settings: Settings, topic_factory: Callable[..., str]) -> Settings:  # noqa: F811
    topics = pipeline_settings.topics.model_copy(
        update={"membership": topic_factory("membership", 3)}
    )
    return pipeline_settings.model_copy(update={"topics": topics})


def test_a_new_segment_is_backfilled_and_published_to_both_topics(
    membership_settings: Settings,
    sender: EventSender,  # noqa: F811
    processor: RunningProcessor,  # noqa: F811
    processed: Callable[[], None],  # noqa: F811
) -> None:
    sender.send(
        {"type": "identify", "userId": "g1", "traits": {"plan": "gold", "email": "g1@example.com"}},
        {"type": "identify", "userId": "g2", "traits": {"plan": "gold"}},
        {"type": "identify", "userId": "s1", "traits": {"plan": "silver"}},
    )
    processed()
    slug = f"gold-{membership_settings.processor_group}"
    apply(
        membership_settings,
        {
            "slug": slug,
            "name": "Gold",
            "condition": {"trait": {"name": "plan", "op": "eq", "value": "gold"}},
            "emit": {"traits": ["plan"], "identifiers": ["email"]},
        },
    )

    done = scheduler_pass(membership_settings, datetime.now(UTC))
    OutboxRelay(membership_settings).relay_once()

    gold = {
        profile_of(membership_settings, "user_id", "g1"),
        profile_of(membership_settings, "user_id", "g2"),
    }
    assert done.backfilled >= 3
    assert members(membership_settings, slug) == gold
    changes = [
        r.value for r in read_all(membership_settings, membership_settings.topics.membership)
    ]
    assert {(c["profile_id"], c["change"], c["segment"]) for c in changes} == {
        (p, "entered", slug) for p in gold
    }
    g1 = next(
        c for c in changes if c["profile_id"] == profile_of(membership_settings, "user_id", "g1")
    )
    assert g1["identifiers"] == ["email:g1@example.com"]
    assert g1["traits"] == '{"plan":"gold"}'
    current = read_all(membership_settings, f"cdp.segment.{slug}")
    assert {int(r.key or b"0") for r in current} == gold
    assert scheduler_pass(membership_settings, datetime.now(UTC)).backfilled == 0, (
        "a version is backfilled once"
    )


def test_a_time_window_exit_happens_when_the_window_passes_not_later(
    membership_settings: Settings,
    sender: EventSender,  # noqa: F811
    processor: RunningProcessor,  # noqa: F811
    processed: Callable[[], None],  # noqa: F811
) -> None:
    sender.send(
        {
            "type": "track",
            "userId": "runner",
            "event": "Product Viewed",
            "timestamp": VIEWED_AT.isoformat(),
        }
    )
    processed()
    slug = f"viewed-{membership_settings.processor_group}"
    apply(
        membership_settings,
        {
            "slug": slug,
            "name": "Viewed in 7 days",
            "condition": {"event": {"name": "Product Viewed", "within": {"days": 7}}},
        },
    )
    runner = profile_of(membership_settings, "user_id", "runner")

    scheduler_pass(membership_settings, VIEWED_AT + timedelta(days=1))
    assert members(membership_settings, slug) == {runner}
    [(check_at,)] = query(
        membership_settings, "SELECT check_at FROM segment_checks WHERE slug = %s", slug
    )
    assert check_at == VIEWED_AT + timedelta(days=7)

    scheduler_pass(membership_settings, VIEWED_AT + timedelta(days=7) - timedelta(seconds=1))
    assert members(membership_settings, slug) == {runner}, "not before the boundary"
    scheduler_pass(membership_settings, VIEWED_AT + timedelta(days=7, seconds=1))
    assert members(membership_settings, slug) == set()

    OutboxRelay(membership_settings).relay_once()
    compacted = read_all(membership_settings, f"cdp.segment.{slug}")
    assert [r.tombstone for r in compacted] == [False, True], (
        "the exit is a tombstone on the segment topic"
    )
    changes = [
        r.value["change"]
        for r in read_all(membership_settings, membership_settings.topics.membership)
    ]
    assert changes == ["entered", "exited"]


def test_deleting_a_segment_exits_its_members(
    membership_settings: Settings,
    sender: EventSender,  # noqa: F811
    processor: RunningProcessor,  # noqa: F811
    processed: Callable[[], None],  # noqa: F811
) -> None:
    sender.send({"type": "identify", "userId": "d1", "traits": {"vip": True}})
    processed()
    slug = f"vip-{membership_settings.processor_group}"
    apply(
        membership_settings,
        {"slug": slug, "name": "VIP", "condition": {"trait": {"name": "vip", "op": "exists"}}},
    )
    scheduler_pass(membership_settings, datetime.now(UTC))
    assert len(members(membership_settings, slug)) == 1

    engine = create_engine(membership_settings, pool_size=1)
    try:
        assert remove_segment(engine, slug)
    finally:
        engine.dispose()
    done = scheduler_pass(membership_settings, datetime.now(UTC))

    assert done.deleted_exits == 1
    assert members(membership_settings, slug) == set()


def test_the_processor_keeps_memberships_current_as_events_arrive(
    membership_settings: Settings,
    sender: EventSender,  # noqa: F811
    processed: Callable[[], None],  # noqa: F811
) -> None:
    slug = f"buyers-{membership_settings.processor_group}"
    apply(
        membership_settings,
        {
            "slug": slug,
            "name": "Buyers",
            "condition": {"computed": {"name": "order_count", "op": "gte", "value": 1}},
        },
    )
    with RunningProcessor(membership_settings):
        sender.send({"type": "identify", "userId": "buyer-1", "messageId": "login-1"})
        processed()
        sender.send(
            {
                "type": "track",
                "anonymousId": "anon-b",
                "event": "Order Completed",
                "properties": {"revenue": 10},
            }
        )
        processed()
        anon = profile_of(membership_settings, "anonymous_id", "anon-b")
        user = profile_of(membership_settings, "user_id", "buyer-1")
        assert members(membership_settings, slug) == {anon}, "entered as the event was folded"

        sender.send(
            {
                "type": "identify",
                "userId": "buyer-1",
                "anonymousId": "anon-b",
                "messageId": "link-1",
            }
        )
        processed()
    assert profile_of(membership_settings, "anonymous_id", "anon-b") == user, (
        "the older profile survives"
    )
    assert members(membership_settings, slug) == {user}, (
        "the merged-away profile exited, the survivor entered"
    )

    OutboxRelay(membership_settings).relay_once()
    changes = [
        (c.value["profile_id"], c.value["change"])
        for c in read_all(membership_settings, membership_settings.topics.membership)
    ]
    assert sorted(changes) == sorted([(anon, "entered"), (user, "entered"), (anon, "exited")])
    assert {
        c.value["reason"]
        for c in read_all(membership_settings, membership_settings.topics.membership)
    } == {"evaluation"}


def consent_context(granted: bool) -> dict[str, Any]:
    return {"consent": {"categoryPreferences": {"marketing": granted}}}


def test_a_consent_only_segment_follows_consent_carried_by_events(
    membership_settings: Settings,
    sender: EventSender,  # noqa: F811
    processed: Callable[[], None],  # noqa: F811
) -> None:
    """A batch whose only change to the profile is its consent re-evaluates the segments that
    read consent, as a decision through the consent API does."""
    slug = f"marketable-{membership_settings.processor_group}"
    apply(
        membership_settings,
        {
            "slug": slug,
            "name": "Marketable",
            "condition": {"consent": {"purpose": "marketing"}},
        },
    )
    with RunningProcessor(membership_settings):
        sender.send({"type": "identify", "userId": "cora", "traits": {"plan": "gold"}})
        processed()
        cora = profile_of(membership_settings, "user_id", "cora")
        assert members(membership_settings, slug) == set()

        sender.send(
            {"type": "page", "userId": "cora", "name": "Home", "context": consent_context(True)}
        )
        processed()
        assert members(membership_settings, slug) == {cora}, "granted: entered"

        sender.send(
            {"type": "page", "userId": "cora", "name": "Home", "context": consent_context(False)}
        )
        processed()
        assert members(membership_settings, slug) == set(), "revoked: exited"


def test_a_segment_on_a_pii_trait_works_with_exists_and_publishes_clear_values(
    membership_settings: Settings,
    sender: EventSender,  # noqa: F811
    processor: RunningProcessor,  # noqa: F811
    processed: Callable[[], None],  # noqa: F811
) -> None:
    slug = f"reachable-{membership_settings.processor_group}"
    with pytest.raises(SegmentDefinitionError, match=r"'email' is PII .* encrypted at rest"):
        apply(
            membership_settings,
            {
                "slug": slug,
                "name": "Gmail",
                "condition": {"trait": {"name": "email", "op": "contains", "value": "@gmail"}},
            },
        )
    apply(
        membership_settings,
        {
            "slug": slug,
            "name": "Reachable",
            "condition": {"trait": {"name": "email", "op": "exists"}},
            "emit": {"traits": ["email", "plan"], "identifiers": ["email", "user_id"]},
        },
    )
    sender.send(
        {"type": "identify", "userId": "m1", "traits": {"email": "M1@Example.com", "plan": "x"}},
        {"type": "identify", "userId": "m2", "traits": {"plan": "y"}},
    )
    processed()
    OutboxRelay(membership_settings).relay_once()

    m1 = profile_of(membership_settings, "user_id", "m1")
    assert members(membership_settings, slug) == {m1}
    [entered] = [r.value for r in read_all(membership_settings, f"cdp.segment.{slug}")]
    assert entered["change"] == "entered"
    assert orjson.loads(entered["traits"]) == {"email": "M1@Example.com", "plan": "x"}
    assert entered["identifiers"] == ["email:m1@example.com", "user_id:m1"]


def test_a_segment_is_re_evaluated_only_when_something_it_reads_changes(
    membership_settings: Settings,
    sender: EventSender,  # noqa: F811
    processed: Callable[[], None],  # noqa: F811
) -> None:
    """A segment reading only the trait `plan` is not evaluated for a profile of which a batch
    changed another trait (while it changed `plan` of another profile), and is once its `plan`
    changes. The stored `plan` is changed behind
    the processor's back, so an evaluation would show (the profile would exit)."""
    group = membership_settings.processor_group
    gold, planless = f"gold-{group}", f"planless-{group}"
    apply(
        membership_settings,
        {
            "slug": gold,
            "name": "Gold",
            "condition": {"trait": {"name": "plan", "op": "eq", "value": "gold"}},
        },
    )
    apply(
        membership_settings,
        {
            "slug": planless,
            "name": "No plan",
            "condition": {"not": {"trait": {"name": "plan", "op": "exists"}}},
        },
    )
    with RunningProcessor(membership_settings):
        sender.send(
            {
                "type": "identify",
                "userId": "u1",
                "traits": {"plan": "gold"},
                "timestamp": "2026-11-01T00:00:00Z",
            }
        )
        sender.send({"type": "track", "userId": "u2", "event": "Viewed"})
        processed()
        user = profile_of(membership_settings, "user_id", "u1")
        other = profile_of(membership_settings, "user_id", "u2")
        assert members(membership_settings, gold) == {user}
        assert members(membership_settings, planless) == {other}, (
            "a new profile is evaluated against a segment an empty profile is a member of"
        )
        with psycopg.connect(membership_settings.database_dsn(), autocommit=True) as conn:
            conn.execute(
                'UPDATE profiles SET traits = traits || \'{"plan": "silver"}\' WHERE id = %s',
                (user,),
            )

        sender.send(
            {
                "type": "identify",
                "userId": "u1",
                "traits": {"color": "red"},
                "timestamp": "2026-11-02T00:00:00Z",
            },
            {"type": "identify", "userId": "u3", "traits": {"plan": "gold"}},
        )
        processed()
        third = profile_of(membership_settings, "user_id", "u3")
        assert members(membership_settings, gold) == {user, third}, (
            "not evaluated for u1, whose plan did not change (u3's did, in the same batch)"
        )

        sender.send(
            {
                "type": "identify",
                "userId": "u1",
                "traits": {"plan": "bronze"},
                "timestamp": "2026-11-03T00:00:00Z",
            }
        )
        processed()
        assert members(membership_settings, gold) == {third}, "evaluated again: plan changed"
