"""The reference evaluator, operator by operator, and the meaning of its boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.activation.segments import (
    EventFact,
    ProfileFacts,
    SegmentDefinition,
    matches,
    next_change,
    parse_segment,
)
from cdp.activation.segments.model import All, AnyOf, Condition, Not
from cdp.activation.segments.values import iso_us, ms_us

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MS = 1000


def defn(condition: dict[str, Any]) -> SegmentDefinition:
    return parse_segment({"slug": "s", "name": "S", "condition": condition})


def trait(op: str, value: Any = None, name: str = "t") -> SegmentDefinition:
    body: dict[str, Any] = {"name": name, "op": op}
    if value is not None:
        body["value"] = value
    return defn({"trait": body})


def holds(definition: SegmentDefinition, facts: ProfileFacts, now: datetime = NOW) -> bool:
    return matches(definition, facts, now)


def with_trait(value: Any) -> ProfileFacts:
    return ProfileFacts(traits={"t": value})


NOTHING = ProfileFacts()


@pytest.mark.parametrize(
    ("op", "value", "yes", "no"),
    [
        ("eq", "gold", ["gold"], ["Gold", "gold ", None, ["gold"], {"gold": 1}]),
        ("eq", 5, [5, 5.0], ["5", True, 5.000001]),
        ("eq", 0.1, [0.1], [0.10000000000000002]),
        ("eq", True, [True], [1, "true", False]),
        ("eq", 1, [1], [True]),
        ("neq", "gold", ["silver", 1, None, ["gold"]], ["gold"]),
        ("in", ["gold", 2], ["gold", 2, 2.0], ["silver", 3, "2", None]),
        ("contains", "run", ["running shoes", "run", ["run"]], ["Run", ["running"], None, 3]),
        ("contains", 2, [[1, 2.0], [2]], [[[2]], "2", 2, ["2"]]),
        ("contains", False, [[False]], [[0], "False"]),
        ("contains", "", ["", "x", [""]], [[], None]),
        ("starts_with", "ab", ["abc", "ab"], ["xab", "Ab", ["abc"], None]),
        ("gt", 5, [6, 5.5, 1e300], [5, 4, "6", True, None]),
        ("gte", 5, [5, 5.0, 6], [4.999]),
        ("lt", -1.5, [-2, -1.6], [-1.5, 0]),
        ("lte", 0, [0, -0.0, -1], [0.001]),
        ("between", [1, 3], [1, 2, 3, 2.5], [0.99, 3.01, "2", None]),
        ("gt", "2026-01-01", ["2026-01-01T00:00:00.000001Z", "2026-01-02", "2026-01-01T01:00+00:30"],
         ["2026-01-01", "2026-01-01T00:00Z", "2026-01-01T05:00+05:00", "2026-02-30", "later", 5]),
        ("lte", "2026-01-01T10:00+02:00", ["2026-01-01T08:00Z", "2026-01-01 08:00", "2025-12-31"],
         ["2026-01-01T08:00:00.000001Z"]),
        ("between", ["2026-01-01", "2026-01-31T23:59:59.999999Z"], ["2026-01-01", "2026-01-31T23:59:59.999999"],
         ["2025-12-31T23:59:59.999999", "2026-02-01", "2026-01-15T25:00"]),
        ("gte", {"days_ago": 7}, ["2026-11-16T12:00Z", "2026-11-30"], ["2026-11-16T11:59:59.999999Z", 5]),
        ("lt", {"days_ago": 0}, ["2026-11-23T11:59:59Z"], ["2026-11-23T12:00Z", "2027-01-01"]),
        ("between", [{"days_ago": 30}, "2026-11-20"], ["2026-10-24T12:00Z", "2026-11-20"],
         ["2026-10-24T11:59:59Z", "2026-11-20T00:00:00.000001Z"]),
        ("exists", None, ["", 0, False, [], {}], [None]),
        ("exists", False, [None], ["", 0]),
    ],
)  # fmt: skip
def test_trait_operators(op: str, value: Any, yes: list[Any], no: list[Any]) -> None:
    condition = trait(op, value)
    for fact in yes:
        assert holds(condition, with_trait(fact)), (op, value, fact)
    for fact in no:
        assert not holds(condition, with_trait(fact)), (op, value, fact)


@pytest.mark.parametrize(
    ("op", "value", "missing"),
    [
        ("eq", 1, False),
        ("neq", 1, True),
        ("in", [1], False),
        ("contains", "a", False),
        ("starts_with", "a", False),
        ("gt", 0, False),
        ("between", [0, 1], False),
        ("exists", None, False),
        ("exists", False, True),
    ],
)
def test_a_missing_trait(op: str, value: Any, missing: bool) -> None:
    assert holds(trait(op, value), NOTHING) is missing


def test_not_all_any() -> None:
    gold = {"trait": {"name": "plan", "op": "eq", "value": "gold"}}
    adult = {"trait": {"name": "age", "op": "gte", "value": 18}}
    facts = ProfileFacts(traits={"plan": "gold", "age": 17})
    assert not holds(defn({"all": [gold, adult]}), facts)
    assert holds(defn({"any": [gold, adult]}), facts)
    assert holds(defn({"not": adult}), facts)
    assert not holds(defn({"not": {"any": [gold, adult]}}), facts)
    assert holds(defn({"all": [{"not": {"not": gold}}, {"any": [{"not": adult}]}]}), facts)


@pytest.mark.parametrize(
    ("condition", "computed", "expected"),
    [
        ({"name": "total_revenue", "op": "gte", "value": 500}, {"total_revenue": 500.0}, True),
        ({"name": "total_revenue", "op": "gte", "value": 500}, {"total_revenue": 499.99}, False),
        ({"name": "order_count", "op": "eq", "value": 0}, {}, True),
        ({"name": "order_count", "op": "neq", "value": 0}, {"order_count": None}, True),
        ({"name": "page_views", "op": "in", "value": [1, 2]}, {"page_views": 2}, True),
        ({"name": "screen_views", "op": "lt", "value": 1}, {}, True),
        ({"name": "event_count", "op": "between", "value": [2, 4]}, {"event_count": 5}, False),
        ({"name": "events.Order Completed", "op": "gte", "value": 2}, {"events": {"Order Completed": 2}}, True),
        ({"name": "events.Order Completed", "op": "eq", "value": 0}, {"events": {"Other": 2}}, True),
        ({"name": "events.Order Completed", "op": "eq", "value": 0}, {"events": ["Order Completed"]}, True),
        ({"name": "first_seen", "op": "exists"}, {}, False),
        ({"name": "first_seen", "op": "exists"}, {"first_seen": 1}, True),
        ({"name": "first_seen", "op": "lt", "value": "2026-01-01"}, {"first_seen": 1767225599999}, True),
        ({"name": "first_seen", "op": "lt", "value": "2026-01-01"}, {"first_seen": 1767225600000}, False),
        ({"name": "first_seen", "op": "lt", "value": "2026-01-01"}, {"first_seen": 1.5}, False),
        ({"name": "first_seen", "op": "lt", "value": "2026-01-01"}, {"first_seen": "2025-01-01"}, False),
        ({"name": "last_seen", "op": "gte", "value": {"days_ago": 1}}, {"last_seen": 1795348800000}, True),
        ({"name": "last_seen", "op": "gte", "value": {"days_ago": 1}}, {"last_seen": 1795348799999}, False),
        ({"name": "last_seen", "op": "between", "value": [{"days_ago": 2}, {"days_ago": 1}]},
         {"last_seen": 1795262400000}, True),
    ],
)  # fmt: skip
def test_computed(condition: dict[str, Any], computed: dict[str, Any], expected: bool) -> None:
    assert holds(defn({"computed": condition}), ProfileFacts(computed=computed)) is expected


def test_epoch_milliseconds_of_first_and_last_seen() -> None:
    assert ms_us(1767225600000) == iso_us("2026-01-01") == 1767225600000 * MS
    assert ms_us(1767225600000.0) == 1767225600000 * MS
    assert ms_us(True) is None
    assert ms_us(10**20) is None


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({"consent": {"marketing": {"granted": True}}}, True),
        ({"consent": {"marketing": {"granted": "true"}}}, True),
        ({"consent": {"marketing": {"granted": False}}}, False),
        ({"consent": {"marketing": {"granted": 1}}}, False),
        ({"consent": {"analytics": {"granted": True}}}, False),
        ({"consent": {"marketing": True}}, False),
        ({"consent": ["marketing"]}, False),
        ({}, False),
    ],
)
def test_consent(consent: dict[str, Any], expected: bool) -> None:
    condition = defn({"consent": {"purpose": "marketing"}})
    assert holds(condition, ProfileFacts(computed=consent)) is expected


def test_group_is_any_group_of_the_profile() -> None:
    enterprise = defn({"group": {"name": "plan", "op": "eq", "value": "enterprise"}})
    not_enterprise = defn({"group": {"name": "plan", "op": "neq", "value": "enterprise"}})
    both = ProfileFacts(groups=[{"plan": "free"}, {"plan": "enterprise"}])
    assert holds(enterprise, both)
    assert holds(not_enterprise, both)
    assert not holds(enterprise, ProfileFacts(groups=[{"plan": "free"}, {}]))
    assert not holds(enterprise, NOTHING)
    assert not holds(not_enterprise, NOTHING)
    undescribed = defn({"group": {"name": "plan", "op": "exists", "value": False}})
    assert holds(undescribed, ProfileFacts(groups=[{}]))


def ev(name: str | None, ago: timedelta, kind: str = "track", **properties: Any) -> EventFact:
    return EventFact(kind, name, NOW - ago, properties)


DAY = timedelta(days=1)


def test_event_counts_and_windows() -> None:
    viewed = [
        ev("Viewed", timedelta(hours=1), category="shoes"),
        ev("Viewed", 3 * DAY, category="shoes"),
        ev("Viewed", 8 * DAY, category="shoes"),
        ev("Viewed", 2 * DAY, category="hats"),
        ev("Viewed", DAY, "page"),
        ev("Bought", DAY),
    ]
    facts = ProfileFacts(events=viewed)
    shoes = {"name": "Viewed", "where": [{"property": "category", "op": "eq", "value": "shoes"}]}
    assert holds(defn({"event": {**shoes, "exactly": 3}}), facts)
    assert holds(defn({"event": {**shoes, "within": {"days": 7}, "exactly": 2}}), facts)
    assert holds(defn({"event": {**shoes, "within": {"hours": 2}, "at_most": 1}}), facts)
    assert not holds(defn({"event": {**shoes, "within": {"minutes": 30}}}), facts)
    assert holds(defn({"event": {**shoes, "within": {"minutes": 30}, "exactly": 0}}), facts)
    assert holds(defn({"event": {"name": "Viewed", "within": {"days": 7}, "at_least": 3}}), facts)
    assert not holds(
        defn({"event": {"name": "Viewed", "within": {"days": 7}, "at_least": 4}}), facts
    )
    assert holds(defn({"event": {"type": "page", "exactly": 1}}), facts)
    assert holds(defn({"event": {"exactly": 6}}), facts)
    assert holds(defn({"event": {"name": "Viewed", "type": "page"}}), facts)
    window = {"from": "2026-11-15T12:00:00Z", "to": "2026-11-20T12:00:00Z"}
    assert holds(defn({"event": {**shoes, "between": window, "exactly": 1}}), facts)
    starts_at_an_event = {"from": "2026-11-20T12:00:00Z", "to": "2026-11-22T12:00:00Z"}
    assert holds(
        defn({"event": {"name": "Viewed", "between": starts_at_an_event, "exactly": 2}}), facts
    )
    ends_at_an_event = {"from": "2026-11-19T12:00:00Z", "to": "2026-11-20T12:00:00Z"}
    assert holds(
        defn({"event": {"name": "Viewed", "between": ends_at_an_event, "exactly": 0}}), facts
    )


def test_within_keeps_events_after_now_minus_the_window() -> None:
    facts = ProfileFacts(events=[ev("A", 7 * DAY), ev("B", -DAY)])
    assert not holds(defn({"event": {"name": "A", "within": {"days": 7}}}), facts)
    assert holds(
        defn({"event": {"name": "A", "within": {"days": 7}}}),
        facts,
        NOW - timedelta(microseconds=1),
    )
    assert holds(defn({"event": {"name": "B", "within": {"minutes": 1}}}), facts)


def test_next_change_of_windows() -> None:
    facts = ProfileFacts(events=[ev("A", DAY), ev("A", 2 * DAY), ev("A", 3 * DAY)])
    week = {"name": "A", "within": {"days": 7}}
    assert next_change(defn({"event": week}), facts, NOW) == NOW + 6 * DAY
    assert next_change(defn({"event": {**week, "at_least": 2}}), facts, NOW) == NOW + 5 * DAY
    assert next_change(defn({"event": {**week, "at_least": 4}}), facts, NOW) is None
    assert next_change(defn({"event": {**week, "at_most": 1}}), facts, NOW) == NOW + 5 * DAY
    assert next_change(defn({"event": {**week, "at_most": 3}}), facts, NOW) is None
    assert next_change(defn({"event": {**week, "exactly": 3}}), facts, NOW) == NOW + 4 * DAY
    assert next_change(defn({"event": {**week, "exactly": 1}}), facts, NOW) == NOW + 5 * DAY
    assert next_change(defn({"event": {**week, "exactly": 0}}), facts, NOW) == NOW + 6 * DAY
    assert next_change(defn({"event": {"name": "A"}}), facts, NOW) is None


def test_exactly_skips_a_count_it_cannot_reach() -> None:
    facts = ProfileFacts(events=[ev("A", DAY), ev("A", 2 * DAY), ev("A", 2 * DAY)])
    once = {"name": "A", "within": {"days": 7}, "exactly": 1}
    assert next_change(defn({"event": once}), facts, NOW) == NOW + 5 * DAY
    assert next_change(defn({"event": once}), facts, NOW + 5 * DAY) == NOW + 6 * DAY
    twice = {"name": "A", "within": {"days": 7}, "exactly": 2}
    assert next_change(defn({"event": twice}), facts, NOW) is None


def test_next_change_of_days_ago() -> None:
    signup = ProfileFacts(traits={"t": "2026-11-20T12:00:00Z"})
    for op, expected in [("gt", 7 * DAY), ("lte", 7 * DAY), ("gte", 7 * DAY), ("lt", 7 * DAY)]:
        extra = timedelta(microseconds=1) if op in ("gte", "lt") else timedelta(0)
        found = next_change(trait(op, {"days_ago": 10}), signup, NOW)
        assert found == NOW + expected + extra, op
    assert next_change(trait("gt", {"days_ago": 1}), signup, NOW) is None
    assert next_change(trait("gt", "2026-01-01"), signup, NOW) is None
    span = trait("between", [{"days_ago": 10}, {"days_ago": 5}])
    assert next_change(span, signup, NOW) == NOW + 2 * DAY
    assert next_change(span, signup, NOW + 2 * DAY) == NOW + 7 * DAY + timedelta(microseconds=1)
    last_seen = ProfileFacts(computed={"last_seen": 1795348800000})
    recent = defn({"computed": {"name": "last_seen", "op": "gte", "value": {"days_ago": 1}}})
    assert next_change(recent, last_seen, NOW) == NOW + timedelta(microseconds=1)
    assert next_change(recent, ProfileFacts(computed={"last_seen": "x"}), NOW) is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        matches(trait("exists"), NOTHING, NOW.replace(tzinfo=None))


# Random definitions and facts: membership is constant until the boundary, and at the boundary
# some leaf has changed.

OFFSETS = st.integers(-3 * 86_400, 40 * 86_400).map(lambda s: timedelta(seconds=s))
TIME_TEXT = OFFSETS.map(lambda d: (NOW - d).isoformat())
RELATIVE = st.integers(0, 30).map(lambda n: {"days_ago": n})


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["event", "trait", "computed"]))
    if kind == "trait":
        op = draw(st.sampled_from(["gt", "gte", "lt", "lte", "between"]))
        if op == "between":
            a, b = sorted(draw(st.lists(st.integers(0, 30), min_size=2, max_size=2)), reverse=True)
            value: Any = [{"days_ago": a}, {"days_ago": b}]
        else:
            value = draw(st.one_of(RELATIVE, TIME_TEXT))
        return {"trait": {"name": draw(st.sampled_from(["a", "b"])), "op": op, "value": value}}
    if kind == "computed":
        op = draw(st.sampled_from(["gt", "gte", "lt", "lte"]))
        name = draw(st.sampled_from(["first_seen", "last_seen"]))
        return {"computed": {"name": name, "op": op, "value": draw(RELATIVE)}}
    count = draw(st.sampled_from(["at_least", "at_most", "exactly"]))
    return {
        "event": {
            "name": draw(st.sampled_from(["A", "B"])),
            "within": {draw(st.sampled_from(["days", "hours"])): draw(st.integers(1, 30))},
            count: draw(st.integers(1 if count == "at_least" else 0, 3)),
        }
    }


CONDITIONS = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"any": c}),
        inner.map(lambda c: {"not": c}),
    ),
    max_leaves=5,
)

FACTS = st.builds(
    ProfileFacts,
    traits=st.fixed_dictionaries({}, optional={"a": TIME_TEXT, "b": TIME_TEXT}),
    computed=st.fixed_dictionaries(
        {},
        optional={
            "first_seen": OFFSETS.map(lambda d: int((NOW - d).timestamp() * 1000)),
            "last_seen": OFFSETS.map(lambda d: int((NOW - d).timestamp() * 1000)),
        },
    ),
    events=st.lists(
        st.builds(
            EventFact,
            type=st.just("track"),
            name=st.sampled_from(["A", "B"]),
            time=OFFSETS.map(lambda d: NOW - d),
            properties=st.just({}),
        ),
        max_size=6,
    ),
)


def leaf_values(node: Condition, facts: ProfileFacts, now: datetime) -> list[bool]:
    if isinstance(node, All | AnyOf):
        return [v for c in node.conditions for v in leaf_values(c, facts, now)]
    if isinstance(node, Not):
        return leaf_values(node.condition, facts, now)
    single = SegmentDefinition.model_construct(slug="x", name="x", condition=node)
    return [matches(single, facts, now)]


@settings(max_examples=300, deadline=None)
@given(CONDITIONS, FACTS, st.floats(0, 1))
def test_membership_is_constant_until_the_next_change(
    condition: dict[str, Any], facts: ProfileFacts, where: float
) -> None:
    definition = defn(condition)
    boundary = next_change(definition, facts, NOW)
    before = leaf_values(definition.condition, facts, NOW)
    horizon = boundary or NOW + timedelta(days=80)
    last = horizon - timedelta(microseconds=1)
    probe = NOW + (last - NOW) * where
    for moment in (probe, last):
        assert leaf_values(definition.condition, facts, moment) == before
    if boundary is not None:
        assert leaf_values(definition.condition, facts, boundary) != before
