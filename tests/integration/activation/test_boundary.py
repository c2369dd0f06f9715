"""`next_boundary` on a real Postgres: when time alone will next change a leaf of a segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cdp.activation.segments import SegmentDefinition, next_boundary, next_change, parse_segment
from tests.integration.activation.conftest import Store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MICRO = timedelta(microseconds=1)


def defn(condition: dict[str, Any]) -> SegmentDefinition:
    return parse_segment({"slug": "s", "name": "S", "condition": condition})


def agree(store: Store, definition: SegmentDefinition, now: datetime = NOW) -> dict[int, Any]:
    """The boundaries by SQL, checked against the Python evaluator on the same rows."""
    found = store.boundaries(definition, now)
    expected = {pid: next_change(definition, facts, now) for pid, facts in store.facts.items()}
    assert found == expected
    return found


def test_no_time_dependent_leaf_means_no_boundary() -> None:
    fixed = defn(
        {
            "all": [
                {"event": {"name": "A", "between": {"from": "2026-01-01", "to": "2026-02-01"}}},
                {"trait": {"name": "signup", "op": "gt", "value": "2026-01-01"}},
                {"computed": {"name": "first_seen", "op": "lt", "value": "2026-01-01"}},
                {"event": {"name": "B", "at_least": 2}},
            ]
        }
    )
    assert next_boundary(fixed, NOW) is None


def test_within_counts(store: Store) -> None:
    three = store.profile()
    for ago in (DAY, 2 * DAY, 3 * DAY):
        store.event(three, "A", NOW - ago)
    store.event(three, "A", NOW - 9 * DAY)
    store.event(three, "B", NOW - HOUR)
    tied = store.profile()
    for ago in (DAY, 2 * DAY, 2 * DAY):
        store.event(tied, "A", NOW - ago)
    none = store.profile()
    week = {"name": "A", "within": {"days": 7}}
    cases: list[tuple[dict[str, Any], Any]] = [
        ({**week, "at_least": 1}, {three: NOW + 6 * DAY, tied: NOW + 6 * DAY, none: None}),
        ({**week, "at_least": 2}, {three: NOW + 5 * DAY, tied: NOW + 5 * DAY, none: None}),
        ({**week, "at_least": 4}, {three: None, tied: None, none: None}),
        ({**week, "at_most": 1}, {three: NOW + 5 * DAY, tied: NOW + 5 * DAY, none: None}),
        ({**week, "at_most": 3}, {three: None, tied: None, none: None}),
        ({**week, "exactly": 3}, {three: NOW + 4 * DAY, tied: NOW + 5 * DAY, none: None}),
        ({**week, "exactly": 2}, {three: NOW + 4 * DAY, tied: None, none: None}),
        ({**week, "exactly": 1}, {three: NOW + 5 * DAY, tied: NOW + 5 * DAY, none: None}),
        ({**week, "exactly": 0}, {three: NOW + 6 * DAY, tied: NOW + 6 * DAY, none: None}),
        ({"name": "B", "within": {"hours": 2}}, {three: NOW + HOUR, tied: None, none: None}),
        ({"within": {"minutes": 90}}, {three: NOW + HOUR / 2, tied: None, none: None}),
    ]
    for condition, expected in cases:
        assert agree(store, defn({"event": condition})) == expected, condition


def test_the_boundary_is_where_membership_changes(store: Store) -> None:
    pid = store.profile()
    store.event(pid, "A", NOW - 2 * DAY)
    store.event(pid, "A", NOW - 5 * DAY)
    twice = defn({"event": {"name": "A", "within": {"days": 7}, "at_least": 2}})
    [boundary] = agree(store, twice).values()
    assert boundary == NOW + 2 * DAY
    assert store.members(twice, boundary - MICRO) == {pid}
    assert store.members(twice, boundary) == set()
    assert agree(store, twice, boundary) == {pid: None}


def test_days_ago_on_traits_and_first_last_seen(store: Store) -> None:
    signed = store.profile(
        {"signup": "2026-11-20T12:00:00Z"},
        {"first_seen": 1795176000000, "last_seen": 1795348800000},
    )
    undated = store.profile({"signup": "soon"}, {"first_seen": "x"})
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"trait": {"name": "signup", "op": "gt", "value": {"days_ago": 10}}}, NOW + 7 * DAY),
        ({"trait": {"name": "signup", "op": "lte", "value": {"days_ago": 10}}}, NOW + 7 * DAY),
        ({"trait": {"name": "signup", "op": "gte", "value": {"days_ago": 10}}}, NOW + 7 * DAY + MICRO),
        ({"trait": {"name": "signup", "op": "lt", "value": {"days_ago": 10}}}, NOW + 7 * DAY + MICRO),
        ({"trait": {"name": "signup", "op": "gt", "value": {"days_ago": 1}}}, None),
        ({"trait": {"name": "signup", "op": "between", "value": [{"days_ago": 10}, {"days_ago": 5}]}}, NOW + 2 * DAY),
        ({"computed": {"name": "last_seen", "op": "gte", "value": {"days_ago": 1}}}, NOW + MICRO),
        ({"computed": {"name": "first_seen", "op": "lt", "value": {"days_ago": 30}}}, NOW + 27 * DAY + MICRO),
    ]  # fmt: skip
    for condition, expected in cases:
        assert agree(store, defn(condition)) == {signed: expected, undated: None}, condition


def test_the_earliest_leaf_wins_through_not_any_all(store: Store) -> None:
    pid = store.profile({"signup": "2026-11-20T12:00:00Z"})
    store.event(pid, "A", NOW - 6 * DAY)
    store.event(pid, "B", NOW - HOUR)
    condition = {
        "any": [
            {"not": {"event": {"name": "A", "within": {"days": 7}}}},
            {
                "all": [
                    {"trait": {"name": "signup", "op": "gt", "value": {"days_ago": 4}}},
                    {"event": {"name": "B", "within": {"days": 3}}},
                ]
            },
        ]
    }
    assert agree(store, defn(condition)) == {pid: NOW + DAY}
