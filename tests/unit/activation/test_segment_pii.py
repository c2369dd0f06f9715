"""Segments over PII traits: only `exists` is allowed, the rest is refused with a clear message."""

from __future__ import annotations

import pytest

from cdp.activation.segments import SegmentDefinitionError, check_pii_conditions, parse_segment
from cdp.activation.segments.pii import pii_problems
from cdp.privacy.names import normal_name

PII = frozenset(normal_name(n) for n in ("email", "phone", "first_name"))


def is_pii(name: str) -> bool:
    return normal_name(name) in PII


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
