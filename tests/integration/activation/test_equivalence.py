"""Property: the SQL compilation and the Python evaluator agree on random profiles and definitions,
both on membership and on the next boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from cdp.activation.segments import matches, next_change, parse_segment
from tests.integration.activation.conftest import Store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

AGO = st.one_of(
    st.integers(-2, 40).map(lambda d: timedelta(days=d)),
    st.integers(-48, 72).map(lambda h: timedelta(hours=h)),
    st.integers(-86_400, 40 * 86_400).map(lambda s: timedelta(seconds=s)),
)
TIMES = AGO.map(lambda d: NOW - d)
ISO = st.one_of(
    TIMES.map(lambda t: t.isoformat()),
    TIMES.map(lambda t: t.strftime("%Y-%m-%d")),
    TIMES.map(lambda t: t.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")),
    TIMES.map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S")),
    TIMES.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+05:30"),
)
STRINGS = st.sampled_from(["gold", "Gold", "go", "", "platinum", "run", "running shoes", "é"])
NUMBERS = st.one_of(st.sampled_from([0, 1, 2, 5, -3, 2.5, 0.1, 1e20, -0.0]), st.integers(-10, 10))
SCALARS = st.one_of(STRINGS, NUMBERS, st.booleans(), ISO)
JUNK_TIMES = st.sampled_from(["2026-02-30", "2026-13-01", "2026-11-20T24:00", "soon", "0000-01-01"])
FACT_VALUES = st.one_of(
    SCALARS,
    st.none(),
    JUNK_TIMES,
    st.lists(st.one_of(STRINGS, NUMBERS, st.booleans()), max_size=3),
    st.just({"a": 1}),
)
RELATIVE = st.integers(0, 30).map(lambda n: {"days_ago": n})
TRAIT_NAMES = st.sampled_from(["plan", "score", "signup"])
#: Names of configured computed traits (values stored in `computed_trait_values`).
CONFIGURED = ("ltv", "fav")


@st.composite
def comparisons(draw: st.DrawFn, relative: bool) -> dict[str, Any]:
    op = draw(
        st.sampled_from(
            [
                "eq",
                "neq",
                "in",
                "contains",
                "starts_with",
                "gt",
                "gte",
                "lt",
                "lte",
                "exists",
                "between",
            ]
        )
    )
    times = st.one_of(ISO, RELATIVE) if relative else ISO
    if op in ("eq", "neq", "contains"):
        value: Any = draw(SCALARS)
    elif op == "in":
        value = draw(st.lists(SCALARS, min_size=1, max_size=3))
    elif op == "starts_with":
        value = draw(STRINGS)
    elif op in ("gt", "gte", "lt", "lte"):
        value = draw(st.one_of(NUMBERS, times))
    elif op == "between":
        if draw(st.booleans()):
            value = sorted(draw(st.lists(NUMBERS, min_size=2, max_size=2)))
        elif relative and draw(st.booleans()):
            value = [
                {"days_ago": n}
                for n in sorted(
                    draw(st.lists(st.integers(0, 30), min_size=2, max_size=2)), reverse=True
                )
            ]
        else:
            value = sorted(draw(st.lists(TIMES, min_size=2, max_size=2)))
            value = [t.isoformat() for t in value]
    else:
        value = draw(st.sampled_from([None, True, False]))
    return {"op": op, "value": value} if value is not None else {"op": op}


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["trait", "trait", "computed", "group", "consent", "event", "event"])
    )
    if kind == "trait":
        return {"trait": {"name": draw(TRAIT_NAMES), **draw(comparisons(relative=True))}}
    if kind == "group":
        return {"group": {"name": "plan", **draw(comparisons(relative=False))}}
    if kind == "consent":
        return {"consent": {"purpose": draw(st.sampled_from(["marketing", "ads"]))}}
    if kind == "computed":
        name = draw(
            st.sampled_from(
                [
                    "total_revenue",
                    "order_count",
                    "events.A",
                    "first_seen",
                    "last_seen",
                    "ltv",
                    "fav",
                ]
            )
        )
        if name in CONFIGURED:
            return {"computed": {"name": name, **draw(comparisons(relative=False))}}
        if name in ("first_seen", "last_seen"):
            op = draw(st.sampled_from(["gt", "gte", "lt", "lte", "between", "exists"]))
            if op == "exists":
                return {"computed": {"name": name, "op": op}}
            if op == "between":
                a, b = sorted(
                    draw(st.lists(st.integers(0, 30), min_size=2, max_size=2)), reverse=True
                )
                return {
                    "computed": {
                        "name": name,
                        "op": op,
                        "value": [{"days_ago": a}, {"days_ago": b}],
                    }
                }
            return {"computed": {"name": name, "op": op, "value": draw(st.one_of(RELATIVE, ISO))}}
        op = draw(st.sampled_from(["eq", "neq", "in", "gt", "gte", "lt", "lte", "between"]))
        if op == "in":
            value: Any = draw(st.lists(NUMBERS, min_size=1, max_size=3))
        elif op == "between":
            value = sorted(draw(st.lists(NUMBERS, min_size=2, max_size=2)))
        else:
            value = draw(NUMBERS)
        return {"computed": {"name": name, "op": op, "value": value}}
    spec: dict[str, Any] = {}
    event_name = draw(st.sampled_from(["A", "B", None]))
    if event_name is not None:
        spec["name"] = event_name
    kind_of_event = draw(st.sampled_from([None, "track", "page"]))
    if kind_of_event is not None:
        spec["type"] = kind_of_event
    where = draw(st.lists(comparisons(relative=False), max_size=2))
    if where:
        spec["where"] = [{"property": draw(st.sampled_from(["p", "q"])), **w} for w in where]
    window = draw(st.sampled_from(["none", "days", "hours", "minutes", "between"]))
    if window == "between":
        start, end = sorted(draw(st.lists(TIMES, min_size=2, max_size=2, unique=True)))
        spec["between"] = {"from": start.isoformat(), "to": end.isoformat()}
    elif window != "none":
        spec["within"] = {window: draw(st.integers(1, 30 if window != "minutes" else 600))}
    count = draw(st.sampled_from(["at_least", "at_most", "exactly"]))
    spec[count] = draw(st.integers(1 if count == "at_least" else 0, 3))
    return {"event": spec}


CONDITIONS = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"any": c}),
        inner.map(lambda c: {"not": c}),
    ),
    max_leaves=6,
)

MS = TIMES.map(lambda t: int(t.timestamp() * 1000))
PROFILES = st.fixed_dictionaries(
    {
        "traits": st.dictionaries(TRAIT_NAMES, FACT_VALUES, max_size=3),
        "computed": st.fixed_dictionaries(
            {},
            optional={
                "total_revenue": NUMBERS,
                "order_count": st.one_of(NUMBERS, st.just("3")),
                "events": st.dictionaries(st.sampled_from(["A", "B"]), st.integers(0, 4)),
                "first_seen": st.one_of(MS, st.just(1.5)),
                "last_seen": MS,
                "consent": st.dictionaries(
                    st.sampled_from(["marketing", "ads"]),
                    st.fixed_dictionaries({"granted": st.sampled_from([True, False, "true", 1])}),
                ),
            },
        ),
        "events": st.lists(
            st.tuples(
                st.sampled_from(["track", "page"]),
                st.sampled_from(["A", "B", None]),
                TIMES,
                st.dictionaries(st.sampled_from(["p", "q"]), FACT_VALUES, max_size=2),
            ),
            max_size=6,
        ),
        "groups": st.lists(
            st.one_of(st.none(), st.dictionaries(st.just("plan"), FACT_VALUES, max_size=1)),
            max_size=2,
        ),
        "configured": st.dictionaries(
            st.sampled_from(CONFIGURED), FACT_VALUES.filter(lambda v: v is not None), max_size=2
        ),
    }
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(CONDITIONS, st.lists(PROFILES, min_size=1, max_size=5))
def test_sql_and_python_agree(
    segments_engine: Engine, condition: dict[str, Any], people: list[dict[str, Any]]
) -> None:
    check_agreement(segments_engine, condition, people)


def check_agreement(
    engine: Engine, condition: dict[str, Any], people: list[dict[str, Any]]
) -> None:
    """Write `people` in a transaction (rolled back), then compare SQL with Python for `condition`."""
    definition = parse_segment({"slug": "s", "name": "S", "condition": condition})
    with engine.connect() as conn, conn.begin() as tx:
        store = Store(conn)
        for person in people:
            pid = store.profile(
                person["traits"], person["computed"], configured=person.get("configured")
            )
            for kind, name, at, properties in person["events"]:
                store.event(pid, name, at, kind, **properties)
            for traits in person["groups"]:
                store.group(pid, traits)
        expected = {pid for pid, facts in store.facts.items() if matches(definition, facts, NOW)}
        assert store.members(definition, NOW) == expected
        assert store.members(definition, NOW, parametric=True) == expected
        boundaries = {
            pid: next_change(definition, facts, NOW) for pid, facts in store.facts.items()
        }
        assert store.boundaries(definition, NOW) == boundaries
        assert store.boundaries(definition, NOW, parametric=True) == boundaries
        tx.rollback()


@st.composite
def timed_leaves(draw: st.DrawFn) -> dict[str, Any]:
    """Leaves whose value changes with time alone: `within` windows and `days_ago` thresholds."""
    kind = draw(st.sampled_from(["event", "event", "trait", "computed"]))
    if kind == "event":
        count = draw(st.sampled_from(["at_least", "at_most", "exactly"]))
        unit = draw(st.sampled_from(["days", "hours"]))
        return {
            "event": {
                "name": draw(st.sampled_from(["A", "B"])),
                "within": {unit: draw(st.integers(1, 30 if unit == "days" else 72))},
                count: draw(st.integers(1 if count == "at_least" else 0, 3)),
            }
        }
    op = draw(st.sampled_from(["gt", "gte", "lt", "lte", "between"]))
    if op == "between":
        a, b = sorted(draw(st.lists(st.integers(0, 30), min_size=2, max_size=2)), reverse=True)
        value: Any = [{"days_ago": a}, {"days_ago": b}]
    else:
        value = draw(RELATIVE)
    if kind == "trait":
        return {"trait": {"name": "signup", "op": op, "value": value}}
    name = draw(st.sampled_from(["first_seen", "last_seen"]))
    return {"computed": {"name": name, "op": op, "value": value}}


TIMED = st.recursive(
    timed_leaves(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"any": c}),
        inner.map(lambda c: {"not": c}),
    ),
    max_leaves=4,
)
TIMED_PROFILES = st.fixed_dictionaries(
    {
        "traits": st.fixed_dictionaries({}, optional={"signup": st.one_of(ISO, JUNK_TIMES)}),
        "computed": st.fixed_dictionaries({}, optional={"first_seen": MS, "last_seen": MS}),
        "events": st.lists(
            st.tuples(st.just("track"), st.sampled_from(["A", "B"]), TIMES, st.just({})),
            max_size=6,
        ),
        "groups": st.just([]),
    }
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(TIMED, st.lists(TIMED_PROFILES, min_size=1, max_size=5))
def test_sql_and_python_agree_on_time_windows(
    segments_engine: Engine, condition: dict[str, Any], people: list[dict[str, Any]]
) -> None:
    check_agreement(segments_engine, condition, people)
