"""Computed traits over PII properties are refused: their values are sealed in the timeline."""

from __future__ import annotations

import pytest

from cdp.profiles.computed import TraitDefinitionError, parse_trait
from cdp.profiles.computed.pii import check_pii_traits, pii_problems

PII = ["email", "phone", "first_name", "address"]


def test_a_trait_over_an_ordinary_property_is_allowed() -> None:
    trait = parse_trait(
        {
            "name": "revenue",
            "kind": "sum",
            "property": "order.revenue",
            "event": {"name": "Order Completed", "where": [{"property": "email", "op": "exists"}]},
        }
    )
    assert pii_problems(trait, PII) == []
    check_pii_traits([trait], PII)


@pytest.mark.parametrize("path", ["email", "billing.Email", "address.city", "contact.firstName"])
def test_a_trait_aggregating_a_pii_property_is_refused(path: str) -> None:
    trait = parse_trait({"name": "emails", "kind": "unique_count", "property": path})
    with pytest.raises(TraitDefinitionError) as caught:
        check_pii_traits([trait], PII)
    [(where, message)] = caught.value.problems
    assert where == "emails.property"
    assert "encrypted at rest" in message
    assert repr(path) in message


def test_a_filter_comparing_a_pii_property_is_refused() -> None:
    trait = parse_trait(
        {
            "name": "gmail_orders",
            "kind": "counter",
            "event": {
                "name": "Order Completed",
                "where": [{"property": "e-mail", "op": "contains", "value": "@gmail"}],
            },
        }
    )
    assert [p for p, _ in pii_problems(trait, PII)] == ["gmail_orders.event.where[0].op"]
