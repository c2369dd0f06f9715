"""`live_members_query` on a real Postgres: every operator, every window kind, every leaf."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cdp.activation.segments import SegmentDefinition, live_members_query, matches, parse_segment
from tests.integration.activation.conftest import Store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def defn(condition: dict[str, Any]) -> SegmentDefinition:
    return parse_segment({"slug": "s", "name": "S", "condition": condition})


def trait(op: str, value: Any = None, name: str = "t") -> SegmentDefinition:
    body: dict[str, Any] = {"name": name, "op": op}
    if value is not None:
        body["value"] = value
    return defn({"trait": body})


def agree(store: Store, definition: SegmentDefinition, now: datetime = NOW) -> set[int]:
    """The members by SQL, checked against the Python evaluator on the same rows."""
    found = store.members(definition, now)
    expected = {pid for pid, facts in store.facts.items() if matches(definition, facts, now)}
    assert found == expected
    return found


MISSING = object()

TRAIT_CASES: list[tuple[str, Any, list[Any], list[Any]]] = [
    ("eq", "gold", ["gold"], ["Gold", None, MISSING, ["gold"], {"gold": 1}]),
    ("eq", 5, [5, 5.0], ["5", True]),
    ("eq", True, [True], [1, "true"]),
    ("neq", "gold", ["silver", None, MISSING, ["gold"]], ["gold"]),
    ("in", ["gold", 2], ["gold", 2.0], ["silver", "2", MISSING]),
    ("contains", "run", ["running shoes", ["run"]], ["Run", ["running"], 3, MISSING]),
    ("contains", 2, [[1, 2.0]], [[[2]], "2", 2]),
    ("starts_with", "ab", ["abc"], ["xab", ["abc"], MISSING]),
    ("gt", 5, [6, 1e300], [5, "6", True, MISSING, "2026-01-01"]),
    ("gte", 5, [5, 6.5], [4.999]),
    ("lt", -1.5, [-2], [-1.5, "x"]),
    ("lte", 0, [0, -0.0], [0.001]),
    ("between", [1, 3], [1, 2.5, 3], [0.99, 3.01, "2"]),
    ("gt", "2026-01-01", ["2026-01-01T00:00:00.000001Z", "2026-01-01T01:00+00:30", "2026-01-02"],
     ["2026-01-01", "2026-01-01T05:00+05:00", "2026-02-30", "2026-13-01", "later", 5]),
    ("lte", "2026-01-01T10:00+02:00", ["2026-01-01T08:00Z", "2026-01-01 08:00", "2025-12-31"],
     ["2026-01-01T08:00:00.000001Z", "0000-01-01"]),
    ("between", ["2026-01-01", "2026-01-31T23:59:59.999999Z"], ["2026-01-01", "2026-01-31T23:59:59.999999"],
     ["2025-12-31T23:59:59.999999", "2026-02-01", "2026-01-15T25:00", "2026-01-15T10:00:60"]),
    ("gte", {"days_ago": 7}, ["2026-11-16T12:00Z", "2026-11-30"], ["2026-11-16T11:59:59.999999Z"]),
    ("lt", {"days_ago": 0}, ["2026-11-23T11:59:59Z", "0001-01-01T00:00+14:00"], ["2026-11-23T12:00Z"]),
    ("between", [{"days_ago": 30}, "2026-11-20"], ["2026-10-24T12:00Z", "2026-11-20"],
     ["2026-10-24T11:59:59Z", "2026-11-20T00:00:00.000001Z"]),
    ("exists", None, ["", 0, False, [], {}], [None, MISSING]),
    ("exists", False, [None, MISSING], ["", 0]),
]  # fmt: skip


@pytest.mark.parametrize(("op", "value", "yes", "no"), TRAIT_CASES)
def test_trait_operators(store: Store, op: str, value: Any, yes: list[Any], no: list[Any]) -> None:
    def profile(fact: Any) -> int:
        return store.profile({} if fact is MISSING else {"t": fact, "other": "gold"})

    members = [profile(f) for f in yes]
    others = [profile(f) for f in no]
    found = agree(store, trait(op, value))
    assert found == set(members), (set(members) - found, found & set(others))


def test_numbers_beyond_float_and_odd_json_do_not_break_queries(store: Store) -> None:
    huge = store.raw_profile('{"t": 1e400}', '{"first_seen": 1e400, "total_revenue": 1e400}')
    late = store.raw_profile(
        '{"t": "9999-12-31T23:59:59-14:00"}', '{"first_seen": 1.5, "events": [1]}'
    )
    early = store.raw_profile(
        '{"t": "0001-01-01T00:00+14:00"}', '{"consent": [true], "first_seen": "x"}'
    )
    null = store.raw_profile('{"t": null}', '{"consent": {"marketing": "yes"}, "order_count": "3"}')
    everyone = [huge, late, early, null]
    queries = [
        (trait("gt", 5), {huge}),
        (trait("eq", 5), set()),
        (trait("gt", "2026-01-01"), {late}),
        (trait("lt", "2026-01-01"), {early}),
        (trait("contains", "x"), set()),
        (trait("starts_with", "9"), {late}),
        (defn({"computed": {"name": "total_revenue", "op": "gte", "value": 500}}), {huge}),
        (defn({"computed": {"name": "first_seen", "op": "exists"}}), {huge, late, early}),
        (defn({"computed": {"name": "first_seen", "op": "gt", "value": "1970-01-01"}}), set()),
        (defn({"computed": {"name": "events.A", "op": "eq", "value": 0}}), set(everyone)),
        (defn({"computed": {"name": "order_count", "op": "gt", "value": 0}}), set()),
        (defn({"consent": {"purpose": "marketing"}}), set()),
    ]
    for definition, expected in queries:
        assert store.members(definition, NOW, everyone) == expected, definition.condition
    first_seen = defn({"computed": {"name": "first_seen", "op": "gt", "value": {"days_ago": 1}}})
    signed_up = trait("gt", {"days_ago": 1})
    for definition in (first_seen, signed_up):
        assert store.boundaries(definition, NOW, everyone) == dict.fromkeys(everyone)


def test_only_live_profiles_are_members(store: Store) -> None:
    survivor = store.profile({"plan": "gold"})
    store.profile({"plan": "gold"}, merged_into=survivor)
    other = store.profile({"plan": "gold"})
    gold = trait("eq", "gold", name="plan")
    assert store.members(gold, NOW) == {survivor, other}
    assert store.members(gold, NOW, [other]) == {other}
    assert store.members(gold, NOW, []) == set()


def test_computed_traits(store: Store) -> None:
    big = store.profile(
        computed={"total_revenue": 750.5, "order_count": 2, "events": {"Order Completed": 2}}
    )
    small = store.profile(
        computed={"total_revenue": 20, "order_count": 1, "events": {"Order Completed": 1}}
    )
    never = store.profile(computed={"first_seen": 1795348800000, "last_seen": 1795348800000})
    old = store.profile(
        computed={"first_seen": 1767225600000, "last_seen": 1790000000000, "page_views": 3}
    )
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"name": "total_revenue", "op": "gte", "value": 500}, {big}),
        ({"name": "order_count", "op": "eq", "value": 0}, {never, old}),
        ({"name": "order_count", "op": "neq", "value": 0}, {big, small}),
        ({"name": "order_count", "op": "in", "value": [1, 2]}, {big, small}),
        ({"name": "events.Order Completed", "op": "between", "value": [2, 5]}, {big}),
        ({"name": "events.Order Completed", "op": "lt", "value": 1}, {never, old}),
        ({"name": "page_views", "op": "gt", "value": 2}, {old}),
        ({"name": "screen_views", "op": "lte", "value": 0}, {big, small, never, old}),
        ({"name": "event_count", "op": "gt", "value": 0}, set()),
        ({"name": "first_seen", "op": "exists"}, {never, old}),
        ({"name": "first_seen", "op": "lt", "value": "2026-01-01T00:00:00.001Z"}, {old}),
        ({"name": "first_seen", "op": "gte", "value": "2026-01-01"}, {never, old}),
        ({"name": "last_seen", "op": "gte", "value": {"days_ago": 1}}, {never}),
        ({"name": "last_seen", "op": "lt", "value": {"days_ago": 30}}, {old}),
        ({"name": "last_seen", "op": "between", "value": [{"days_ago": 2}, {"days_ago": 1}]}, {never}),
    ]  # fmt: skip
    for condition, expected in cases:
        assert agree(store, defn({"computed": condition})) == expected, condition


def test_groups_any_group_the_profile_belongs_to(store: Store) -> None:
    enterprise = store.profile()
    store.group(enterprise, {"plan": "free"})
    store.group(enterprise, {"plan": "enterprise", "seats": 50})
    free = store.profile()
    store.group(free, {"plan": "free", "seats": 3})
    undescribed = store.profile()
    store.group(undescribed, None)
    alone = store.profile()
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"name": "plan", "op": "eq", "value": "enterprise"}, {enterprise}),
        ({"name": "plan", "op": "neq", "value": "enterprise"}, {enterprise, free, undescribed}),
        ({"name": "seats", "op": "gte", "value": 10}, {enterprise}),
        ({"name": "plan", "op": "exists", "value": False}, {undescribed}),
        ({"name": "plan", "op": "starts_with", "value": "fr"}, {enterprise, free}),
    ]
    for condition, expected in cases:
        assert agree(store, defn({"group": condition})) == expected, condition
    without_plan = defn({"not": {"group": {"name": "plan", "op": "exists"}}})
    assert agree(store, without_plan) == {undescribed, alone}


def test_consent(store: Store) -> None:
    granted = store.profile(computed={"consent": {"marketing": {"granted": True}}})
    as_text = store.profile(computed={"consent": {"marketing": {"granted": "true"}}})
    store.profile(computed={"consent": {"marketing": {"granted": False}, "ads": {"granted": True}}})
    store.profile(computed={"consent": {"marketing": True}})
    store.profile()
    assert agree(store, defn({"consent": {"purpose": "marketing"}})) == {granted, as_text}
    assert len(agree(store, defn({"not": {"consent": {"purpose": "marketing"}}}))) == 3


def test_event_counts_and_windows(store: Store) -> None:
    busy = store.profile()
    for ago in (HOUR / 2, 3 * DAY, 8 * DAY):
        store.event(busy, "Product Viewed", NOW - ago, category="running shoes", price=120)
    store.event(busy, "Product Viewed", NOW - 2 * DAY, category="hats", price=20)
    store.event(busy, "Pricing", NOW - DAY, "page")
    store.event(busy, None, NOW - DAY, "identify")
    buyer = store.profile()
    store.event(buyer, "Product Viewed", NOW - DAY, category="running shoes", price="120")
    store.event(buyer, "Order Completed", NOW - 2 * DAY, revenue=99.5)
    future = store.profile()
    store.event(future, "Product Viewed", NOW + DAY, category="running shoes")
    idle = store.profile()
    shoes = {
        "name": "Product Viewed",
        "where": [{"property": "category", "op": "eq", "value": "running shoes"}],
    }
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"event": shoes}, {busy, buyer, future}),
        ({"event": {**shoes, "within": {"days": 7}, "exactly": 2}}, {busy}),
        ({"event": {**shoes, "within": {"days": 7}, "at_least": 2}}, {busy}),
        ({"event": {**shoes, "within": {"hours": 1}}}, {busy, future}),
        ({"event": {**shoes, "within": {"minutes": 20}, "at_most": 0}}, {busy, buyer, idle}),
        ({"event": {**shoes, "within": {"days": 2}, "at_most": 1}}, {busy, buyer, future, idle}),
        ({"event": {**shoes, "exactly": 0}}, {idle}),
        ({"event": {"name": "Product Viewed", "where": [{"property": "price", "op": "gt", "value": 100}]}}, {busy}),
        ({"event": {"name": "Product Viewed", "where": [{"property": "price", "op": "exists", "value": False}]}}, {future}),
        ({"event": {"name": "Pricing", "type": "page"}}, {busy}),
        ({"event": {"name": "Pricing"}}, set()),
        ({"event": {"type": "identify"}}, {busy}),
        ({"event": {"within": {"days": 1}, "at_least": 1}}, {busy, future}),
        ({"event": {"name": "Order Completed", "where": [{"property": "revenue", "op": "between", "value": [50, 100]}]}}, {buyer}),
        ({"event": {**shoes, "between": {"from": "2026-11-20T12:00:00Z", "to": "2026-11-22T12:00:00Z"}}}, {busy}),
        ({"event": {**shoes, "between": {"from": "2026-11-21T12:00:00Z", "to": "2026-11-22T12:00:00Z"}}}, set()),
        ({"event": {**shoes, "between": {"from": "2026-11-22T12:00:00Z", "to": "2026-11-23"}}}, {buyer}),
        ({"all": [{"event": {**shoes, "within": {"days": 7}}},
                  {"not": {"event": {"name": "Order Completed", "within": {"days": 7}}}}]}, {busy, future}),
        ({"any": [{"event": {"name": "Order Completed"}}, {"event": {"type": "page"}}]}, {busy, buyer}),
    ]  # fmt: skip
    for condition, expected in cases:
        assert agree(store, defn(condition)) == expected, condition


def test_windows_at_their_edges(store: Store) -> None:
    edge = store.profile()
    store.event(edge, "A", NOW - 7 * DAY)
    week = defn({"event": {"name": "A", "within": {"days": 7}}})
    assert agree(store, week) == set()
    assert agree(store, week, NOW - timedelta(microseconds=1)) == {edge}
    exact = defn(
        {
            "event": {
                "name": "A",
                "between": {"from": "2026-11-16T12:00:00Z", "to": "2026-11-16T12:00:00.000001Z"},
            }
        }
    )
    assert agree(store, exact) == {edge}


HOSTILE = "x'); DROP TABLE profiles; --"


def test_names_and_values_are_bound_never_spliced(store: Store) -> None:
    target = store.profile({HOSTILE: HOSTILE}, {"consent": {HOSTILE: {"granted": True}}})
    store.event(target, HOSTILE, NOW - DAY, **{HOSTILE: HOSTILE})
    store.group(target, {HOSTILE: HOSTILE})
    store.profile({"t": "safe"})
    condition = {
        "all": [
            {"trait": {"name": HOSTILE, "op": "eq", "value": HOSTILE}},
            {"trait": {"name": HOSTILE, "op": "in", "value": [HOSTILE, "x"]}},
            {"trait": {"name": HOSTILE, "op": "contains", "value": "DROP"}},
            {"trait": {"name": HOSTILE, "op": "starts_with", "value": "x');"}},
            {"event": {"name": HOSTILE, "where": [{"property": HOSTILE, "op": "eq", "value": HOSTILE}], "within": {"days": 2}}},
            {"group": {"name": HOSTILE, "op": "eq", "value": HOSTILE}},
            {"consent": {"purpose": HOSTILE}},
            {"computed": {"name": f"events.{HOSTILE}", "op": "eq", "value": 0}},
        ]
    }  # fmt: skip
    assert agree(store, defn(condition)) == {target}
    assert "DROP" not in str(live_members_query(defn(condition), NOW, [target]))
    assert store.conn.execute(sa.text("SELECT count(*) FROM profiles")).scalar_one() == 2
