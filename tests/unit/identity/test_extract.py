from __future__ import annotations

from typing import Any

import pytest

from cdp.identity import Identifier, IdentityRules, extract_identifiers
from cdp.identity.extract import lookup_path
from tests.unit.identity.memory_graph import ids

RULES = IdentityRules(custom_paths={"device_id": "context.device.id", "crm_id": "traits.crm_id"})


def event(**fields: Any) -> dict[str, Any]:
    """An event as the processor hands it over: JSON parts parsed, absent ones empty."""
    base: dict[str, Any] = {
        "type": "track",
        "user_id": None,
        "anonymous_id": None,
        "previous_id": None,
        "traits": {},
        "context": {},
        "properties": {},
    }
    return base | fields


def texts(found: list[Identifier]) -> list[str]:
    return [str(i) for i in found]


def test_user_and_anonymous_ids_are_trimmed_and_keep_their_case() -> None:
    found = extract_identifiers(event(user_id=" User-42 ", anonymous_id="AbC"), IdentityRules())
    assert texts(found) == ["user_id:User-42", "anonymous_id:AbC"]


@pytest.mark.parametrize(
    "junk",
    ["null", "NULL", "undefined", "0", "000", "-1", "[object Object]", "", "  ", "anonymous"],
)
def test_junk_ids_are_not_identifiers(junk: str) -> None:
    found = extract_identifiers(
        event(user_id=junk, anonymous_id="a1", traits={"email": junk, "phone": junk}),
        IdentityRules(),
    )
    assert texts(found) == ["anonymous_id:a1"]


def test_an_event_of_junk_only_has_no_identifiers() -> None:
    assert extract_identifiers(event(user_id="null", anonymous_id="undefined"), RULES) == []


def test_alias_previous_id_is_read_as_an_anonymous_id() -> None:
    found = extract_identifiers(
        event(type="alias", user_id="u1", previous_id="anon-7", anonymous_id="anon-8"), RULES
    )
    assert texts(found) == ["user_id:u1", "anonymous_id:anon-7", "anonymous_id:anon-8"]


def test_previous_id_outside_alias_is_ignored() -> None:
    found = extract_identifiers(event(type="identify", user_id="u1", previous_id="anon-7"), RULES)
    assert texts(found) == ["user_id:u1"]


def test_alias_with_the_same_previous_and_anonymous_id_yields_it_once() -> None:
    found = extract_identifiers(
        event(type="alias", user_id="u1", previous_id=" a1", anonymous_id="a1 "), RULES
    )
    assert texts(found) == ["user_id:u1", "anonymous_id:a1"]


def test_email_and_phone_come_from_traits_normalised() -> None:
    found = extract_identifiers(
        event(
            type="identify",
            user_id="u1",
            traits={"email": " Jane@Example.COM", "phone": "415.555.2671"},
        ),
        IdentityRules(),
    )
    assert texts(found) == ["user_id:u1", "email:jane@example.com", "phone:+14155552671"]


def test_email_and_phone_fall_back_to_context_traits() -> None:
    found = extract_identifiers(
        event(
            anonymous_id="a1",
            context={"traits": {"email": "jane@example.com", "phone": "+44 20 7946 0958"}},
        ),
        IdentityRules(),
    )
    assert texts(found) == ["email:jane@example.com", "phone:+442079460958", "anonymous_id:a1"]


def test_traits_win_over_context_traits() -> None:
    found = extract_identifiers(
        event(
            type="identify",
            user_id="u1",
            traits={"email": "new@example.com"},
            context={"traits": {"email": "old@example.com"}},
        ),
        IdentityRules(),
    )
    assert texts(found) == ["user_id:u1", "email:new@example.com"]


def test_an_invalid_trait_falls_back_to_a_valid_context_trait() -> None:
    found = extract_identifiers(
        event(
            type="identify",
            user_id="u1",
            traits={"email": "not-an-email", "phone": "12"},
            context={"traits": {"email": "jane@example.com", "phone": "4155552671"}},
        ),
        IdentityRules(),
    )
    assert texts(found) == ["user_id:u1", "email:jane@example.com", "phone:+14155552671"]


def test_properties_are_never_read_for_email_or_phone() -> None:
    found = extract_identifiers(
        event(user_id="u1", properties={"email": "jane@example.com", "phone": "4155552671"}),
        IdentityRules(),
    )
    assert texts(found) == ["user_id:u1"]


def test_a_group_calls_own_traits_belong_to_the_group() -> None:
    found = extract_identifiers(
        event(
            type="group",
            user_id="u1",
            traits={"email": "billing@acme.com", "crm_id": "acct-1"},
            context={"traits": {"email": "jane@acme.com"}},
        ),
        RULES,
    )
    assert texts(found) == ["user_id:u1", "email:jane@acme.com"]


def test_phone_is_read_in_the_configured_region() -> None:
    found = extract_identifiers(
        event(user_id="u1", context={"traits": {"phone": "020 7946 0958"}}),
        IdentityRules(phone_region="GB"),
    )
    assert texts(found) == ["user_id:u1", "phone:+442079460958"]


def test_custom_identifiers_come_from_their_paths() -> None:
    found = extract_identifiers(
        event(
            anonymous_id="a1",
            context={"device": {"id": " Dev-1 "}, "traits": {"crm_id": 8812}},
        ),
        RULES,
    )
    assert texts(found) == ["anonymous_id:a1", "crm_id:8812", "device_id:Dev-1"]


def test_custom_paths_into_traits_prefer_the_events_own_traits() -> None:
    found = extract_identifiers(
        event(type="identify", traits={"crm_id": "c-own"}, context={"traits": {"crm_id": "c-ctx"}}),
        RULES,
    )
    assert texts(found) == ["crm_id:c-own"]


def test_custom_paths_reach_properties_and_top_level_fields() -> None:
    rules = IdentityRules(
        custom_paths={"order_ref": "properties.order.ref", "group_ref": "group_id"}
    )
    found = extract_identifiers(
        event(group_id="g-1", properties={"order": {"ref": 77}}, user_id="u1"), rules
    )
    assert texts(found) == ["user_id:u1", "group_ref:g-1", "order_ref:77"]


@pytest.mark.parametrize("value", [{"id": "x"}, ["d1"], True, None, "null", "0"])
def test_custom_values_that_are_not_scalar_ids_are_ignored(value: object) -> None:
    found = extract_identifiers(event(anonymous_id="a1", context={"device": {"id": value}}), RULES)
    assert texts(found) == ["anonymous_id:a1"]


def test_missing_or_malformed_parts_are_tolerated() -> None:
    weird = {"type": "track", "user_id": "u1", "context": {"device": "phone", "traits": "x"}}
    assert texts(extract_identifiers(weird, RULES)) == ["user_id:u1"]


def test_numeric_ids_become_text() -> None:
    found = extract_identifiers(event(user_id=12345, anonymous_id=7.5), IdentityRules())
    assert texts(found) == ["user_id:12345", "anonymous_id:7.5"]


def test_identifiers_are_sorted_by_priority_then_type_then_value() -> None:
    rules = IdentityRules(
        custom_paths={"b_id": "context.b", "a_id": "context.a", "top_id": "context.top"},
        priorities={"top_id": 0},
    )
    found = extract_identifiers(
        event(
            type="alias",
            user_id="u",
            anonymous_id="z",
            previous_id="y",
            context={
                "a": "1",
                "b": "2",
                "top": "3",
                "traits": {"email": "e@x.io", "phone": "4155552671"},
            },
        ),
        rules,
    )
    assert found == ids(
        "top_id:3",
        "user_id:u",
        "email:e@x.io",
        "phone:+14155552671",
        "anonymous_id:y",
        "anonymous_id:z",
        "a_id:1",
        "b_id:2",
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("context.device.id", "d1"),
        ("context.device", {"id": "d1"}),
        ("context.device.id.more", None),
        ("context.nothing.here", None),
        ("user_id", "u1"),
        ("traits.plan", "pro"),
        ("traits.nothing", None),
    ],
)
def test_lookup_path(path: str, expected: object) -> None:
    found = event(user_id="u1", context={"device": {"id": "d1"}, "traits": {"plan": "pro"}})
    assert lookup_path(found, path) == expected
