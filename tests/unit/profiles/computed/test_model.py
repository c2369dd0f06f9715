"""Computed-trait definitions: what is accepted, and errors that point at the bad part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdp.profiles.computed import TraitDefinitionError, load_traits, parse_trait, parse_traits
from cdp.profiles.computed.model import KINDS


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "counter"])
def test_every_kind_of_a_property_parses(kind: str) -> None:
    defn = parse_trait({"name": "x", "kind": kind, "property": "item.price"})
    assert defn.kind == kind
    assert defn.path == ["item", "price"]
    assert parse_trait(defn.canonical()) == defn


def test_defaults_and_fingerprint() -> None:
    short = parse_trait({"name": "orders", "kind": "counter", "event": {"name": "Order Completed"}})
    long = parse_trait(
        {
            "name": "orders",
            "kind": "counter",
            "event": {"name": "Order Completed", "type": "track", "where": []},
        }
    )
    assert short.event.type == "track"
    assert short.fingerprint() == long.fingerprint()
    windowed = parse_trait({**short.canonical(), "window": {"days": 30}})
    assert windowed.fingerprint() != short.fingerprint()
    assert windowed.window is not None
    assert windowed.window.delta.days == 30


def bad(data: Any) -> str:
    with pytest.raises(TraitDefinitionError) as caught:
        parse_traits(data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "kind": "sum"}, "sum needs a property"),
        (
            {"name": "x", "kind": "counter", "property": "p"},
            "a counter counts events and takes no property",
        ),
        (
            {"name": "x", "kind": "median", "property": "p"},
            "kind: 'median' is not one of counter, sum",
        ),
        (
            {"name": "Lifetime Value", "kind": "counter"},
            "name: 'Lifetime Value' must be 1-63 lowercase",
        ),
        (
            {"name": "event_count", "kind": "counter"},
            "name: 'event_count' is a built-in computed trait",
        ),
        (
            {"name": "x", "kind": "sum", "property": "a..b"},
            "property: 'a..b' is not a property path",
        ),
        (
            {"name": "x", "kind": "counter", "window": {"days": 0}},
            "window.days: Input should be greater",
        ),
        (
            {"name": "x", "kind": "counter", "window": {"days": 1, "hours": 2}},
            "window: give exactly one of days, hours, minutes",
        ),
        (
            {"name": "x", "kind": "counter", "event": {"type": "click"}},
            "event.type: 'click' is not one of track",
        ),
        (
            {"name": "x", "kind": "counter", "event": {"type": "identify", "name": "n"}},
            "identify events have no name",
        ),
        ({"name": "x", "kind": "counter", "colour": "red"}, "colour: unknown key"),
        (
            {
                "name": "x",
                "kind": "counter",
                "event": {"where": [{"property": "p", "op": "gt", "value": "soon"}]},
            },
            "event.where[0].value: 'soon' is not an ISO-8601 date",
        ),
        (
            {"name": "x", "kind": "counter", "event": {"where": [{"property": "p", "op": "near"}]}},
            "event.where[0].op: 'near' is not one of eq",
        ),
    ],
)
def test_errors_point_at_the_bad_part(data: dict[str, Any], message: str) -> None:
    assert message in bad(data)


def test_collections_number_their_items_and_refuse_duplicates() -> None:
    text = bad({"traits": [{"name": "a", "kind": "counter"}, {"name": "a", "kind": "sum"}]})
    assert "traits[1]: sum needs a property" in text
    text = bad([{"name": "a", "kind": "counter"}, {"name": "a", "kind": "counter"}])
    assert "[1].name: duplicate name 'a' (first at [0])" in text
    assert "traits: expected a list" in bad({"traits": {"name": "a"}})
    assert "other: unknown key" in bad({"traits": [], "other": 1})
    assert parse_traits(None) == []


def test_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "traits.yaml"
    yaml_file.write_text(
        "traits:\n  - name: ltv\n    kind: sum\n    property: revenue\n"
        "    event: {name: Order Completed}\n    window: {days: 365}\n"
    )
    [ltv] = load_traits(yaml_file)
    assert (ltv.name, ltv.kind, ltv.prop) == ("ltv", "sum", "revenue")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x", "kind": "avg"}')
    with pytest.raises(TraitDefinitionError, match=r"broken\.json: avg needs a property"):
        load_traits(broken)
    broken.write_text("{")
    with pytest.raises(TraitDefinitionError, match="not valid JSON"):
        load_traits(broken)
