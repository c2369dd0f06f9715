"""Segments over PII traits: only `exists` is allowed, the rest is refused with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from cdp.activation.segments import (
    SegmentDefinition,
    SegmentDefinitionError,
    check_pii_conditions,
    parse_segment,
)
from cdp.activation.segments.pii import pii_problems
from cdp.privacy.names import PiiNames
from cdp.settings import Settings

is_pii = PiiNames.of(("email", "phone", "first_name"), ("email", "phone", "first_name"))
#: The default names: a product's ``name`` is not a PII event property.
DEFAULTS = Settings().pii_names()


def segment(condition: dict[str, Any]) -> SegmentDefinition:
    return parse_segment({"slug": "s", "name": "S", "condition": condition})


def viewed(where: dict[str, Any], **event: Any) -> dict[str, Any]:
    return {"event": {"name": "Product Viewed", **event, "where": [where]}}


def test_email_exists_is_allowed() -> None:
    defn = parse_segment(
        {"slug": "s", "name": "S", "condition": {"trait": {"name": "email", "op": "exists"}}}
    )
    assert pii_problems(defn, is_pii) == []
    check_pii_conditions([defn], is_pii)


def test_email_contains_is_refused_naming_the_trait() -> None:
    defn = parse_segment(
        {
            "slug": "gmail",
            "name": "G",
            "condition": {"trait": {"name": "email", "op": "contains", "value": "@gmail"}},
        }
    )
    with pytest.raises(SegmentDefinitionError) as caught:
        check_pii_conditions([defn], is_pii)
    assert caught.value.problems == [
        (
            "gmail.condition.trait.op",
            "trait 'email' is PII (CDP_PII_TRAITS) and encrypted at rest: it can only be "
            "tested with exists, not contains",
        )
    ]


def test_nested_group_and_event_property_conditions_and_other_spellings() -> None:
    defn = parse_segment(
        {
            "slug": "s",
            "name": "S",
            "condition": {
                "all": [
                    {"trait": {"name": "plan", "op": "eq", "value": "pro"}},
                    {"not": {"trait": {"name": "firstName", "op": "eq", "value": "Jo"}}},
                    {"any": [{"group": {"name": "Phone", "op": "exists"}}]},
                    {
                        "event": {
                            "name": "Signed Up",
                            "where": [{"property": "e-mail", "op": "eq", "value": "x"}],
                        }
                    },
                    {"group": {"name": "email", "op": "starts_with", "value": "a"}},
                ]
            },
        }
    )
    paths = [path for path, _ in pii_problems(defn, is_pii)]
    assert paths == [
        "condition.all[1].not.trait.op",
        "condition.all[3].event.where[0].op",
        "condition.all[4].group.op",
    ]


def test_a_product_name_property_can_be_compared() -> None:
    defn = segment(viewed({"property": "name", "op": "eq", "value": "Blue Mug"}))
    assert pii_problems(defn, DEFAULTS) == []
    check_pii_conditions([defn], DEFAULTS)
    page = segment(viewed({"property": "Name", "op": "contains", "value": "Mug"}, type="page"))
    assert pii_problems(page, DEFAULTS) == []


def test_an_email_property_is_still_refused_naming_it_and_its_setting() -> None:
    defn = segment(viewed({"property": "email", "op": "eq", "value": "a@b.c"}))
    with pytest.raises(SegmentDefinitionError) as caught:
        check_pii_conditions([defn], DEFAULTS)
    assert caught.value.problems == [
        (
            "s.condition.event.where[0].op",
            "property 'email' is PII (CDP_PRIVACY__PII_PROPERTIES) and encrypted at rest: it "
            "can only be tested with exists, not eq",
        )
    ]


@pytest.mark.parametrize(
    "condition",
    [
        {"trait": {"name": "name", "op": "eq", "value": "Jane"}},
        {"group": {"name": "name", "op": "eq", "value": "Acme"}},
        {"event": {"type": "identify", "where": [{"property": "name", "op": "eq", "value": "J"}]}},
        {"event": {"type": "group", "where": [{"property": "name", "op": "eq", "value": "A"}]}},
    ],
)
def test_a_name_trait_is_still_refused(condition: dict[str, Any]) -> None:
    [(_, message)] = pii_problems(segment(condition), DEFAULTS)
    assert "'name' is PII (CDP_PII_TRAITS)" in message


def test_an_event_condition_of_any_type_treats_name_as_a_trait() -> None:
    """Without a type the condition reads identify events too, whose ``name`` is sealed."""
    defn = segment({"event": {"where": [{"property": "name", "op": "eq", "value": "x"}]}})
    [(path, message)] = pii_problems(defn, DEFAULTS)
    assert path == "condition.event.where[0].op"
    assert "CDP_PII_TRAITS" in message
