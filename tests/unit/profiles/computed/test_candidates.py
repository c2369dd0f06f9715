"""The computed traits' batch rows are the same whether the prepare thread worked them out or
the batch did, and a preparation made with other definitions is never used."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import Connection

from cdp.bench.definitions import TRAIT_SHAPES
from cdp.profiles.computed import ComputedTraits
from cdp.profiles.events import InEvent

NAMES = ("Order Completed", "Product Viewed", "Product Added", "Products Searched", "Home")
VALUES = st.one_of(st.none(), st.integers(-5, 500), st.text(max_size=3), st.booleans())
PROPERTIES = st.dictionaries(
    st.sampled_from(("revenue", "price", "product_id", "category", "query", "path")), VALUES
)


class _Rows:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class FakeConnection:
    """Answers the two catalog reads of `ComputedTraits.current` with `definitions` at
    `version`, and records the `batch` parameter of every other statement."""

    def __init__(self, definitions: list[dict[str, Any]], version: int) -> None:
        self.definitions = definitions
        self.version = version
        self.batches: list[str] = []

    def execute(self, query: str, params: Any = None) -> _Rows:
        if query.startswith("WITH l AS"):
            return _Rows([(d["name"], self.version) for d in self.definitions])
        if query.startswith("SELECT definition"):
            return _Rows([(d,) for d in self.definitions])
        if isinstance(params, dict) and "batch" in params:
            self.batches.append(params["batch"])
        return _Rows([])


def definitions(count: int) -> list[dict[str, Any]]:
    shapes = [{"name": f"trait_{i}", **TRAIT_SHAPES[i % len(TRAIT_SHAPES)]} for i in range(count)]
    return sorted(shapes, key=lambda d: d["name"])


def event(
    n: int, kind: str, name: str, properties: dict[str, Any], traits: dict[str, Any]
) -> InEvent:
    at = 1_714_521_600_000 + n * 1000
    return InEvent(
        0, n, f"m{n}", kind, "src", None, f"a{n}", name if kind == "track" else None,
        name if kind != "track" else None, None, None, at, at, properties, traits, {},
        orjson.dumps(properties).decode(), "{}",
    )  # fmt: skip


@st.composite
def events(draw: st.DrawFn) -> list[InEvent]:
    out = []
    for n in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(("track", "page", "identify", "screen")))
        name = draw(st.sampled_from(NAMES))
        properties = draw(PROPERTIES)
        traits = draw(PROPERTIES) if kind == "identify" else {}
        out.append(event(n, kind, name, properties, traits))
    return out


def fold(traits: ComputedTraits, conn: FakeConnection, batch: list[InEvent]) -> Any:
    owners = [100 + e.offset % 4 for e in batch]
    changed = traits.after_batch(cast("Connection[Any]", conn), batch, owners, [])
    return conn.batches, changed


@settings(max_examples=60, deadline=None)
@given(events())
def test_prepared_rows_are_the_rows_the_batch_works_out(batch: list[InEvent]) -> None:
    defs = definitions(20)
    plain = fold(ComputedTraits(), FakeConnection(defs, 1), batch)
    prepared = ComputedTraits()
    fold(prepared, FakeConnection(defs, 1), [])  # reads the definitions, as a batch does
    names = [f.name for f in dataclasses.fields(InEvent)]
    again = [InEvent(**{f: getattr(e, f) for f in names}) for e in batch]
    prepared.prepare(again)
    assert any(e.trait_candidate is not None for e in again)
    assert fold(prepared, FakeConnection(defs, 1), again) == plain


@settings(max_examples=60, deadline=None)
@given(events())
def test_a_preparation_with_other_definitions_is_not_used(batch: list[InEvent]) -> None:
    before, after = definitions(20), definitions(7)
    expected = fold(ComputedTraits(), FakeConnection(after, 2), batch)
    traits = ComputedTraits()
    fold(traits, FakeConnection(before, 1), [])
    traits.prepare(batch)
    assert fold(traits, FakeConnection(after, 2), batch) == expected


def test_nothing_is_prepared_before_the_definitions_were_read() -> None:
    batch = [event(0, "track", "Order Completed", {"revenue": 5}, {})]
    ComputedTraits().prepare(batch)
    assert batch[0].trait_candidate is None
