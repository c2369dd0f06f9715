"""Computed traits over PII properties are refused: their values are sealed in the timeline."""

from __future__ import annotations

import pytest

from cdp.privacy.names import PiiNames
from cdp.profiles.computed import TraitDefinitionError, parse_trait
from cdp.profiles.computed.pii import check_pii_traits, pii_problems
from cdp.settings import Settings

PII = PiiNames.of(*[["email", "phone", "first_name", "address"]] * 2)
DEFAULTS = Settings().pii_names()


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


@pytest.mark.parametrize("event", [{"name": "Product Viewed"}, {"type": "page"}])
def test_a_trait_over_a_product_name_is_allowed(event: dict[str, str]) -> None:
    trait = parse_trait(
        {
            "name": "top_product",
            "kind": "most_frequent",
            "property": "name",
            "event": {**event, "where": [{"property": "Name", "op": "starts_with", "value": "B"}]},
        }
    )
    assert pii_problems(trait, DEFAULTS) == []
    check_pii_traits([trait], DEFAULTS)


@pytest.mark.parametrize("event", [{}, {"type": "identify"}, {"type": "group"}])
def test_a_trait_over_name_from_traits_is_refused(event: dict[str, str]) -> None:
    """Identify and group events store traits, whose ``name`` is a person's or a company's;
    a trait without an event type reads them too."""
    trait = parse_trait(
        {"name": "names", "kind": "unique_list", "property": "name", "event": event}
    )
    [(where, message)] = pii_problems(trait, DEFAULTS)
    assert where == "names.property"
    assert "'name' is PII (CDP_PII_TRAITS)" in message


def test_an_email_property_of_a_track_event_names_the_property_setting() -> None:
    trait = parse_trait(
        {"name": "emails", "kind": "unique_count", "property": "email", "event": {"name": "X"}}
    )
    [(_, message)] = pii_problems(trait, DEFAULTS)
    assert "'email' is PII (CDP_PRIVACY__PII_PROPERTIES)" in message
