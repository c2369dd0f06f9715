"""`evaluate_segments` over many segments at once: the same memberships, checks and outbox
records as evaluating them one by one, in a number of statements that does not grow with them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import psycopg
import pytest

from cdp.activation.catalog import ActiveSegment
from cdp.activation.membership import evaluate_segments
from cdp.activation.segments import parse_segment
from cdp.schemas import codec_for
from cdp.settings import Settings
from tests.integration.activation.conftest import segments_engine  # noqa: F401 - fixture
from tests.integration.activation.test_backfill import MEMBERSHIP, NOW, conn, drain_outbox, profile

__all__ = ["conn"]

pytestmark = pytest.mark.integration

CONDITIONS: list[dict[str, Any]] = [
    {"trait": {"name": "plan", "op": "eq", "value": "gold"}},
    {"trait": {"name": "renewed", "op": "gte", "value": {"days_ago": 30}}},
    {"not": {"trait": {"name": "plan", "op": "exists"}}},
]


class Counting:
    """A psycopg connection that counts the statements run through `execute`."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return self.conn.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def segments(copies: int) -> list[ActiveSegment]:
    return [
        ActiveSegment(
            f"s{i}-{j}",
            1 + i,
            parse_segment({"slug": f"s{i}-{j}", "name": "S", "condition": condition}),
        )
        for j in range(copies)
        for i, condition in enumerate(CONDITIONS)
    ]


def state(conn: psycopg.Connection[Any]) -> tuple[set[Any], set[Any]]:
    members = set(conn.execute("SELECT slug, profile_id, version FROM segment_memberships"))
    checks = set(conn.execute("SELECT slug, profile_id, check_at FROM segment_checks"))
    return members, checks


def run(
    conn: psycopg.Connection[Any], chosen: list[ActiveSegment], ids: list[int], together: bool
) -> tuple[list[tuple[str, int, str]], int]:
    counting = Counting(conn)
    codec = codec_for(Settings())
    batches = [chosen] if together else [[s] for s in chosen]
    found = []
    for batch in batches:
        changes = evaluate_segments(
            cast(psycopg.Connection[Any], counting),
            batch,
            ids,
            codec,
            MEMBERSHIP,
            "evaluation",
            NOW,
        )
        found += [(c.segment.slug, c.profile_id, c.change) for c in changes]
    return found, counting.statements


@pytest.mark.parametrize("together", [True, False])
def test_many_segments_at_once_equal_one_by_one(
    conn: psycopg.Connection[Any], together: bool
) -> None:
    gold = profile(conn, {"plan": "gold", "renewed": (NOW - timedelta(days=10)).isoformat()})
    silver = profile(conn, {"plan": "silver", "renewed": (NOW - timedelta(days=40)).isoformat()})
    bare = profile(conn, {})
    merged = profile(conn, {"plan": "gold"}, merged_into=gold)
    chosen = segments(2)
    conn.execute(
        "INSERT INTO segment_memberships (slug, profile_id, version) VALUES "
        "('s0-0', %s, 1), ('s0-1', %s, 1), ('s2-0', %s, 3), ('s0-0', %s, 1)",
        (silver, merged, gold, gold),
    )
    conn.execute(
        "INSERT INTO segment_checks VALUES ('s1-0', %s, %s), ('s1-1', %s, %s)",
        (bare, NOW, gold, NOW),
    )
    ids = [gold, silver, bare, merged]

    changes, _ = run(conn, chosen, ids, together)

    assert changes == [
        ("s0-0", silver, "exited"),
        ("s1-0", gold, "entered"),
        ("s2-0", bare, "entered"),
        ("s2-0", gold, "exited"),
        ("s0-1", gold, "entered"),
        ("s0-1", merged, "exited"),
        ("s1-1", gold, "entered"),
        ("s2-1", bare, "entered"),
    ], "segment by segment; entries, then exits; a merged-away profile exits"
    members, checks = state(conn)
    assert members == {
        ("s0-0", gold, 1),
        ("s0-1", gold, 1),
        ("s1-0", gold, 2),
        ("s1-1", gold, 2),
        ("s2-0", bare, 3),
        ("s2-1", bare, 3),
    }
    assert {(s, p) for s, p, _ in checks} == {("s1-0", gold), ("s1-1", gold)}, (
        "a check where a boundary exists (gold leaves in 20 days, a moved one updated), the stale one removed"
    )
    for _, _, at in checks:
        assert NOW + timedelta(days=20) <= at <= NOW + timedelta(days=20, milliseconds=1)
    outbox = drain_outbox(conn, codec_for(Settings()))
    assert [(t, p) for t, p, _ in outbox][:2] == [
        (MEMBERSHIP, silver),
        ("cdp.segment.s0-0", silver),
    ]
    assert len(outbox) == 2 * len(changes)


def test_the_statements_do_not_grow_with_the_segments(conn: psycopg.Connection[Any]) -> None:
    ids = [
        profile(conn, {"plan": "gold", "renewed": (NOW - timedelta(days=10)).isoformat()}),
        profile(conn, {}),
    ]
    few = run(conn, segments(1), ids, together=True)
    conn.execute("DELETE FROM segment_memberships")
    many = run(conn, segments(20), ids, together=True)
    assert len(many[0]) == 20 * len(few[0]) > 0
    assert many[1] == few[1] <= 10


def test_pairs_left_out_of_the_subsets_keep_their_membership_and_check(
    conn: psycopg.Connection[Any],
) -> None:
    """`subsets`: a (segment, profile) pair not chosen is not evaluated, so its stale membership
    and window check stay as they are, while the chosen pairs of the same profile move."""
    renewed = (NOW - timedelta(days=10)).isoformat()
    gold = profile(conn, {"plan": "gold", "renewed": renewed})
    silver = profile(conn, {"plan": "silver", "renewed": renewed})
    chosen = segments(1)
    conn.execute(
        "INSERT INTO segment_memberships (slug, profile_id, version) VALUES ('s0-0', %s, 1)",
        (silver,),
    )
    conn.execute("INSERT INTO segment_checks VALUES ('s1-0', %s, %s)", (silver, NOW))
    subsets = [[gold], [gold], [gold, silver]]

    changes = evaluate_segments(
        conn, chosen, [gold, silver], codec_for(Settings()), MEMBERSHIP, "evaluation", NOW, subsets
    )

    assert [(c.segment.slug, c.profile_id, c.change) for c in changes] == [
        ("s0-0", gold, "entered"),
        ("s1-0", gold, "entered"),
    ]
    members, checks = state(conn)
    assert {(s, p) for s, p, _ in members} == {("s0-0", gold), ("s0-0", silver), ("s1-0", gold)}
    assert {(s, p, at) for s, p, at in checks if p == silver} == {("s1-0", silver, NOW)}
    assert {(s, p) for s, p, _ in checks} == {("s1-0", gold), ("s1-0", silver)}
