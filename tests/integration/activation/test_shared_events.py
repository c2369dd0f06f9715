"""Event leaves shared by several segments of one evaluation (same events, other counts) are read
from the timeline once (`_SharedEvents`); memberships, window checks and changes stay exactly
those of evaluating each segment on its own, which reads the timeline per leaf."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from cdp.activation.catalog import ActiveSegment
from cdp.activation.membership import _Evaluation, evaluate_segments
from cdp.activation.segments import parse_segment
from cdp.schemas import codec_for
from cdp.settings import Settings
from tests.integration.activation.conftest import segments_engine  # noqa: F401 - fixture
from tests.integration.activation.test_backfill import MEMBERSHIP, NOW, conn, profile

__all__ = ["conn"]

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
WEEK: dict[str, Any] = {"name": "Viewed", "within": {"days": 7}}
CHEAP: dict[str, Any] = {
    "name": "Viewed",
    "where": [{"property": "price", "op": "lt", "value": 50}],
    "within": {"hours": 100},
}
EVER: dict[str, Any] = {"name": "Bought"}
COUNTS: list[dict[str, int]] = [
    *({"at_least": k} for k in (1, 2, 3, 5)),
    *({"at_most": k} for k in (0, 1, 3)),
    *({"exactly": k} for k in (0, 1, 2, 4)),
]


def conditions() -> list[dict[str, Any]]:
    """Every count over each shared key, and mixes: two shared keys in one segment, a `not`,
    an `any` with a trait, and a key of one segment alone (not shared)."""
    found: list[dict[str, Any]] = [
        {"event": {**spec, **count}} for spec in (WEEK, CHEAP, EVER) for count in COUNTS
    ]
    found += [
        {"all": [{"event": {**WEEK, "at_least": 2}}, {"event": {**EVER, "at_most": 1}}]},
        {"not": {"event": {**CHEAP, "exactly": 1}}},
        {"any": [{"trait": {"name": "plan", "op": "eq", "value": "gold"}}, {"event": WEEK}]},
        {"event": {"name": "Viewed", "within": {"days": 3}, "at_least": 2}},
    ]
    return found


def segments() -> list[ActiveSegment]:
    return [
        ActiveSegment(f"e{i}", 1, parse_segment({"slug": f"e{i}", "name": "E", "condition": c}))
        for i, c in enumerate(conditions())
    ]


def timeline(conn: psycopg.Connection[Any], seed: int) -> list[int]:
    """Profiles with 0 to 6 events each of two names, inside and outside the windows, some at
    the same instant, cheap and dear; one merged away."""
    rng = random.Random(seed)
    ids = []
    for n in range(12):
        pid = profile(conn, {"plan": "gold"} if n % 5 == 0 else {})
        ids.append(pid)
        for _ in range(rng.randint(0, 6)):
            at = NOW - timedelta(hours=rng.choice([1, 5, 30, 30, 90, 120, 160, 200, 400]))
            conn.execute(
                "INSERT INTO events (profile_id, message_id, type, name, event_time, received_at, "
                "source_id, properties, context) VALUES (%s, %s, 'track', %s, %s, %s, 's', "
                "%s::jsonb, '{}')",
                (
                    pid,
                    uuid.uuid4().hex,
                    rng.choice(["Viewed", "Viewed", "Bought"]),
                    at,
                    at,
                    f'{{"price": {rng.choice([10, 49, 50, 90])}}}',
                ),
            )
    ids.append(profile(conn, {"plan": "gold"}, merged_into=ids[0]))
    return ids


def evaluate(
    conn: psycopg.Connection[Any],
    chosen: list[ActiveSegment],
    ids: list[int],
    subsets: list[list[int]],
    together: bool,
) -> tuple[set[Any], set[Any], set[Any]]:
    """Changes, memberships and checks after evaluating `chosen` at once or one by one, from
    no memberships and no checks."""
    conn.execute("DELETE FROM segment_memberships")
    conn.execute("DELETE FROM segment_checks")
    codec = codec_for(Settings())
    groups = [list(range(len(chosen)))] if together else [[i] for i in range(len(chosen))]
    changes = set()
    for group in groups:
        found = evaluate_segments(
            conn,
            [chosen[i] for i in group],
            ids,
            codec,
            MEMBERSHIP,
            "evaluation",
            NOW,
            subsets=[subsets[i] for i in group],
        )
        changes |= {(c.segment.slug, c.profile_id, c.change) for c in found}
    members = set(conn.execute("SELECT slug, profile_id, version FROM segment_memberships"))
    checks = set(conn.execute("SELECT slug, profile_id, check_at FROM segment_checks"))
    return changes, members, checks


@pytest.mark.parametrize("seed", range(1, 7))
def test_shared_event_reads_give_the_memberships_of_separate_ones(
    conn: psycopg.Connection[Any], seed: int
) -> None:
    ids = timeline(conn, seed)
    chosen = segments()
    rng = random.Random(seed)
    subsets = [sorted(rng.sample(ids, rng.randint(len(ids) // 2, len(ids)))) for _ in chosen]
    subsets[0] = list(ids)

    together = evaluate(conn, chosen, ids, subsets, together=True)
    apart = evaluate(conn, chosen, ids, subsets, together=False)

    assert together == apart
    changes, members, checks = together
    assert members, "the table exercises entries"
    assert checks, "and window checks"
    assert changes
    assert len({slug for slug, _, _ in members}) > len(chosen) // 2


def test_only_keys_of_several_segments_are_shared() -> None:
    statement = _Evaluation(segments())
    assert len(statement.sharing) == 3, "WEEK, CHEAP and EVER; the 3-day window is alone"
    assert "events_2" in statement.text
    assert "events_3" not in statement.text
    alone = _Evaluation(segments()[:1])
    assert alone.sharing == []
    assert "events_0" not in alone.text
