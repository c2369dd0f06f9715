"""Property: folding events batch by batch (with a merge anywhere) gives every configured computed
trait the value a recomputation from the timeline gives, for any split into batches; and every
value a batch changed is among those it reports as possibly changed (segments reading the others
are not re-evaluated)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection, Engine

from cdp.db.tables import computed_trait_values, profiles
from cdp.profiles import copytext
from cdp.profiles.computed import ComputedTraits, apply_traits, parse_traits
from cdp.profiles.computed.catalog import backfill
from cdp.profiles.events import InEvent

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
DEFINITIONS = parse_traits(
    [
        {"name": "n_a", "kind": "counter", "event": {"name": "A"}},
        {"name": "n_any", "kind": "counter"},
        {"name": "total", "kind": "sum", "property": "p"},
        {"name": "mean", "kind": "avg", "property": "p", "event": {"type": "track"}},
        {"name": "low", "kind": "min", "property": "p"},
        {"name": "high", "kind": "max", "property": "p", "event": {"name": "B"}},
        {"name": "first_q", "kind": "first", "property": "q"},
        {"name": "last_q", "kind": "last", "property": "q"},
        {"name": "top_q", "kind": "most_frequent", "property": "q"},
        {"name": "qs", "kind": "unique_list", "property": "q"},
        {"name": "q_count", "kind": "unique_count", "property": "q"},
        {
            "name": "big_total",
            "kind": "sum",
            "property": "p",
            "event": {"where": [{"property": "p", "op": "gt", "value": 2}]},
        },
        {"name": "week_total", "kind": "sum", "property": "p", "window": {"days": 7}},
        {"name": "day_last", "kind": "last", "property": "q", "window": {"hours": 24}},
        {"name": "week_qs", "kind": "unique_count", "property": "q", "window": {"days": 7}},
    ]
)
VALUES = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([2.5, 0.1, -1.25, "x", "y", "zz", True, False, None, [1], {"a": 1}]),
)
EVENTS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from([("track", "A"), ("track", "B"), ("page", "Home")]),
        st.integers(-600, 14 * 1440).map(lambda minutes: NOW_MS - minutes * 60_000),
        st.dictionaries(st.sampled_from(["p", "q"]), VALUES, max_size=2),
    ),
    max_size=25,
)
_ids = itertools.count()


def in_event(kind: str, name: str, at: int, properties: dict[str, Any]) -> InEvent:
    text = orjson.dumps(properties).decode()
    return InEvent(
        partition=0,
        offset=0,
        message_id=f"m{next(_ids):06d}",
        type=kind,
        source_id="src",
        user_id=None,
        anonymous_id=None,
        event=name if kind == "track" else None,
        name=name if kind != "track" else None,
        group_id=None,
        previous_id=None,
        at=at,
        received_at=at,
        properties=properties,
        traits={},
        context={},
        properties_json=text,
        context_json="{}",
    )


def write_timeline(conn: Connection, events: list[tuple[int, InEvent]]) -> None:
    for pid, e in events:
        conn.execute(
            sa.text(
                "INSERT INTO events (profile_id, message_id, type, name, event_time, received_at, "
                "properties, context) VALUES (:p, :m, :t, :n, CAST(:at AS timestamptz), "
                "CAST(:at AS timestamptz), CAST(:props AS jsonb), '{}')"
            ),
            {
                "p": pid,
                "m": e.message_id,
                "t": e.type,
                "n": e.event or e.name,
                "at": copytext.timestamp(e.at),
                "props": e.properties_json,
            },
        )


def values(conn: Connection) -> dict[tuple[int, str], Any]:
    rows = conn.execute(
        sa.select(
            computed_trait_values.c.profile_id,
            computed_trait_values.c.name,
            computed_trait_values.c.value,
            computed_trait_values.c.expires_at,
        )
    ).all()
    return {(pid, name): (value, expires) for pid, name, value, expires in rows}


def assert_reported(
    before: dict[tuple[int, str], Any],
    after: dict[tuple[int, str], Any],
    reported: dict[str, set[int]],
    merged_away: int | None = None,
) -> None:
    """Every (profile, trait) whose value or expiry moved is reported, but the merged-away
    profile's (it exits every segment whatever it read)."""
    moved = {
        key
        for key in before.keys() | after.keys()
        if before.get(key) != after.get(key) and key[0] != merged_away
    }
    assert {(pid, name) for pid, name in moved if pid not in reported.get(name, set())} == set()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(EVENTS, st.lists(st.integers(1, 6), max_size=8), st.one_of(st.none(), st.integers(0, 8)))
def test_incremental_equals_recompute(
    segments_engine: Engine,
    events: list[tuple[int, tuple[str, str], int, dict[str, Any]]],
    sizes: list[int],
    merge_after: int | None,
) -> None:
    with segments_engine.connect() as conn, conn.begin() as tx:
        ids = [
            conn.execute(
                sa.insert(profiles)
                .values(traits={}, trait_times={}, computed={}, merge_count=0)
                .returning(profiles.c.id)
            ).scalar_one()
            for _ in range(3)
        ]
        apply_traits(conn, DEFINITIONS, NOW)
        raw = conn.connection.driver_connection
        assert raw is not None
        traits = ComputedTraits()
        owner = dict(enumerate(ids))
        pending = [(who, in_event(k, n, at, props)) for who, (k, n), at, props in events]
        for number, size in enumerate([*sizes, len(pending)]):
            if merge_after == number:
                conn.execute(
                    sa.text("UPDATE events SET profile_id = :a WHERE profile_id = :b"),
                    {"a": ids[0], "b": ids[1]},
                )
                owner[1] = ids[0]
                before = values(conn)
                reported = traits.after_batch(raw, [], [], [(ids[1], ids[0])], NOW)
                assert_reported(before, values(conn), reported, merged_away=ids[1])
            batch, pending = pending[:size], pending[size:]
            placed = [(owner[who], e) for who, e in batch]
            write_timeline(conn, placed)
            before = values(conn)
            reported = traits.after_batch(
                raw, [e for _, e in placed], [p for p, _ in placed], [], NOW
            )
            assert_reported(before, values(conn), reported)
        incremental = values(conn)
        for definition in DEFINITIONS:
            backfill(conn, definition, NOW)
        assert incremental == values(conn)
        tx.rollback()
