"""The scheduler's set-based backfill over profiles written straight into the tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from sqlalchemy.engine import Engine

from cdp.activation import scheduler as scheduler_module
from cdp.activation.catalog import apply_segments
from cdp.activation.relay import publications
from cdp.activation.scheduler import Scheduler
from cdp.activation.segments import parse_segment
from cdp.schemas import MEMBERSHIP_CHANGE, Codec, codec_for
from cdp.settings import Settings
from tests.integration.activation.conftest import segments_engine  # noqa: F401 - fixture
from tests.integration.pii import identifier_row, match

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MEMBERSHIP = "test.backfill.membership"


@pytest.fixture
def conn(segments_engine: Engine) -> Iterator[psycopg.Connection[Any]]:  # noqa: F811
    url = segments_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def profile(
    conn: psycopg.Connection[Any], traits: dict[str, Any], merged_into: int | None = None
) -> int:
    row = conn.execute(
        "INSERT INTO profiles (traits, trait_times, computed, merged_into, merge_count) "
        "VALUES (%s::jsonb, '{}', '{}', %s, 0) RETURNING id",
        (orjson.dumps(traits).decode(), merged_into),
    ).fetchone()
    assert row is not None
    pid = int(row[0])
    conn.execute(
        "INSERT INTO identifiers (id_type, id_value, value_enc, key_id, profile_id, first_seen, "
        "last_seen) VALUES (%(id_type)s, %(id_value)s, %(value_enc)s, %(key_id)s, "
        "%(profile_id)s, %(first_seen)s, %(last_seen)s)",
        identifier_row(Settings(), "user_id", f"u{pid}", pid, NOW),
    )
    return pid


def apply(segments_engine: Engine, condition: dict[str, Any]) -> None:  # noqa: F811
    definition = parse_segment(
        {
            "slug": "plan",
            "name": "Plan",
            "condition": condition,
            "emit": {"traits": ["plan"], "identifiers": ["user_id"]},
        }
    )
    with segments_engine.begin() as c:
        apply_segments(c, [definition])


def drain_outbox(conn: psycopg.Connection[Any], codec: Codec) -> list[tuple[str, int, Any]]:
    """(topic, profile id, decoded value or None) of every record the outbox rows stand for (a
    row with a fanout topic is two, see `publications`), in the relay's order; then empty."""
    rows = conn.execute(
        "SELECT id, topic, key, value, fanout_topic, fanout_tombstone FROM outbox ORDER BY id"
    ).fetchall()
    conn.execute("DELETE FROM outbox")
    return [
        (topic, int(key or b""), None if value is None else codec.decode(MEMBERSHIP_CHANGE, value))
        for topic, key, value in publications(rows)
    ]


def test_backfill_enters_and_exits_across_chunks(
    conn: psycopg.Connection[Any],
    segments_engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduler_module, "BACKFILL_CHUNK", 2)
    codec = codec_for(Settings())
    gold = profile(conn, {"plan": "gold", "name": "G"})
    silver = profile(conn, {"plan": "silver"})
    merged = profile(conn, {"plan": "gold"}, merged_into=gold)
    gold2 = profile(conn, {"plan": "gold"})
    plain = profile(conn, {})
    scheduler = Scheduler(codec, MEMBERSHIP)

    apply(segments_engine, {"trait": {"name": "plan", "op": "eq", "value": "gold"}})
    assert scheduler.run_pass(conn, NOW).backfilled == 5
    first = drain_outbox(conn, codec)
    assert [(t, p) for t, p, _ in first] == [
        (MEMBERSHIP, gold),
        ("cdp.segment.plan", gold),
        (MEMBERSHIP, gold2),
        ("cdp.segment.plan", gold2),
    ], "in profile order, each change to both topics"
    record = first[0][2]
    assert record["change"] == "entered"
    assert record["reason"] == "backfill"
    assert record["traits"] == '{"plan":"gold"}', "only emitted traits"
    assert record["identifiers"] == [f"user_id:{match(Settings(), 'user_id', f'u{gold}')}"], (
        "the outbox names identifiers as stored (the relay opens them)"
    )
    assert record["segment_version"] == 1
    assert first[1][2] == record, "the segment topic carries the same change"

    conn.execute('UPDATE profiles SET traits = \'{"plan": "silver"}\' WHERE id = %s', (gold2,))
    apply(segments_engine, {"trait": {"name": "plan", "op": "eq", "value": "silver"}})
    assert scheduler.run_pass(conn, NOW).backfilled == 5
    second = drain_outbox(conn, codec)
    changes = [(t, p, None if v is None else v["change"]) for t, p, v in second]
    assert changes == [
        (MEMBERSHIP, silver, "entered"),
        ("cdp.segment.plan", silver, "entered"),
        (MEMBERSHIP, gold, "exited"),
        ("cdp.segment.plan", gold, None),
    ], "per chunk entries, then exits (a tombstone on the segment topic); gold2 stays a member"
    members = {
        r[0]: r[1]
        for r in conn.execute("SELECT profile_id, version FROM segment_memberships").fetchall()
    }
    assert members == {silver: 2, gold2: 1}, "a member that stays keeps its row"
    assert merged not in members
    assert plain not in members
    assert scheduler.run_pass(conn, NOW).backfilled == 0


def test_backfill_writes_the_window_checks(
    conn: psycopg.Connection[Any],
    segments_engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduler_module, "BACKFILL_CHUNK", 2)
    codec = codec_for(Settings())
    recent = profile(conn, {"renewed": (NOW - timedelta(days=10)).isoformat()})
    old = profile(conn, {"renewed": (NOW - timedelta(days=40)).isoformat()})
    never = profile(conn, {})
    conn.execute("INSERT INTO segment_checks VALUES ('plan', %s, %s)", (never, NOW))

    apply(segments_engine, {"trait": {"name": "renewed", "op": "gte", "value": {"days_ago": 30}}})
    Scheduler(codec, MEMBERSHIP).run_pass(conn, NOW)

    checks = dict(conn.execute("SELECT profile_id, check_at FROM segment_checks").fetchall())
    assert checks == {recent: NOW + timedelta(days=20, microseconds=1)}, (
        "the member leaves when its renewal is 30 days old; the others never change by time alone"
    )
    members = {r[0] for r in conn.execute("SELECT profile_id FROM segment_memberships")}
    assert members == {recent}
    assert old not in members
