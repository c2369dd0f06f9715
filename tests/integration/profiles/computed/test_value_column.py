"""The generated `computed_trait_values.value` (migration 0010: plain SQL for most kinds) gives
exactly what `cdp_trait_value` gives for the same state, text for text."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb
from sqlalchemy.engine import Engine

from tests.integration.profiles.computed.conftest import segments_engine  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

KINDS = (
    "counter", "sum", "avg", "min", "max", "first", "last",
    "most_frequent", "unique_list", "unique_count", "unknown",
)  # fmt: skip
_ids = itertools.count(1)


@pytest.fixture
def conn(segments_engine: Engine) -> Iterator[psycopg.Connection[Any]]:  # noqa: F811
    url = segments_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def values(conn: psycopg.Connection[Any], state: dict[str, Any]) -> tuple[Any, Any]:
    """(stored value, `cdp_trait_value` of the stored state), both as jsonb text."""
    pid = next(_ids)
    counts = state.get("counts")
    row = conn.execute(
        "INSERT INTO computed_trait_values (profile_id, name, kind, n, total, low, high, "
        "first_value, last_value, counts) VALUES (%s, 't', %s, %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING value::text, cdp_trait_value(kind, n, total, low, high, first_value, "
        "last_value, counts)::text",
        (
            pid,
            state["kind"],
            state.get("n", 0),
            state.get("total"),
            state.get("low"),
            state.get("high"),
            None if state.get("first") is None else Jsonb(state["first"]),
            None if state.get("last") is None else Jsonb(state["last"]),
            None if counts is None else Jsonb(counts),
        ),
    ).fetchone()
    assert row is not None
    return row[0], row[1]


EDGES: list[dict[str, Any]] = [
    {"kind": "counter", "n": 0},
    {"kind": "counter", "n": 9_000_000_000_000},
    {"kind": "sum", "n": 2, "total": Decimal("1.50")},
    {"kind": "sum", "n": 1, "total": Decimal("-0.000000000000000000001")},
    {"kind": "sum", "n": 1, "total": Decimal("1e30")},
    {"kind": "sum", "n": 0, "total": None},
    {"kind": "sum", "n": 1, "total": Decimal("NaN")},
    {"kind": "sum", "n": 1, "total": Decimal("Infinity")},
    {"kind": "avg", "n": 3, "total": Decimal("10")},
    {"kind": "avg", "n": 0, "total": Decimal("10")},
    {"kind": "avg", "n": 7, "total": Decimal("-22.000")},
    {"kind": "avg", "n": 1, "total": Decimal("-Infinity")},
    {"kind": "min", "n": 1, "low": Decimal("0.10")},
    {"kind": "max", "n": 1, "high": Decimal("-5")},
    {"kind": "max", "n": 0, "high": None},
    {"kind": "first", "n": 1, "first": {"a": [1, "x"]}},
    {"kind": "last", "n": 1, "last": "s"},
    {"kind": "last", "n": 0},
    {"kind": "most_frequent", "n": 0, "counts": None},
    {"kind": "most_frequent", "n": 0, "counts": {}},
    {"kind": "most_frequent", "n": 4, "counts": {'"b"': 2, '"a"': 2, "1": 1}},
    {"kind": "most_frequent", "n": 4, "counts": {'"é"': 2, '"z"': 2, '"Z"': 2}},
    {"kind": "most_frequent", "n": 3, "counts": {"true": 1, "false": 1, "10": 1, "9": 1}},
    {"kind": "unique_count", "n": 0, "counts": None},
    {"kind": "unique_count", "n": 0, "counts": {}},
    {"kind": "unique_count", "n": 5, "counts": {'"a"': 3, "2": 2}},
    {"kind": "unique_list", "n": 5, "counts": {'"b"': 3, '"a"': 2, "false": 1}},
    {"kind": "unknown", "n": 1},
]


@pytest.mark.parametrize("state", EDGES)
def test_plain_value_equals_the_function(
    conn: psycopg.Connection[Any], state: dict[str, Any]
) -> None:
    stored, expected = values(conn, state)
    assert stored == expected


#: JSON text as Postgres takes it: no NUL character.
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4)
SCALARS = st.one_of(
    TEXT,
    st.integers(-3, 12),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
NUMBERS = st.one_of(
    st.none(),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9
    ),
    st.integers(-(10**20), 10**20).map(Decimal),
)


@st.composite
def states(draw: st.DrawFn) -> dict[str, Any]:
    tally = draw(
        st.dictionaries(SCALARS.map(lambda v: orjson.dumps(v).decode()), st.integers(1, 3))
    )
    return {
        "kind": draw(st.sampled_from(KINDS)),
        "n": draw(st.integers(0, 50)),
        "total": draw(NUMBERS),
        "low": draw(NUMBERS),
        "high": draw(NUMBERS),
        "first": draw(st.one_of(st.none(), SCALARS)),
        "last": draw(st.one_of(st.none(), SCALARS)),
        "counts": draw(st.one_of(st.none(), st.just(tally))),
    }


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(state=states())
def test_plain_value_equals_the_function_for_any_state(
    conn: psycopg.Connection[Any], state: dict[str, Any]
) -> None:
    stored, expected = values(conn, state)
    assert stored == expected
