"""PII masking: the shapes it leaves, and that nothing it masks survives in clear."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cdp.auth import PiiMask
from cdp.auth.pii import MASK, mask_email, mask_phone, mask_value
from cdp.auth.redact import redact

MASK_OF = PiiMask.of(
    ["email", "phone", "name", "first_name", "last_name", "address"], ["email", "phone"]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def test_email_keeps_its_first_letter_and_domain() -> None:
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_email("@example.com") == MASK


def test_phone_keeps_country_digits_and_last_two() -> None:
    assert mask_phone("+447700900189") == "+44********89"
    assert mask_phone("123") == MASK


def test_other_values_become_the_mask_and_null_stays() -> None:
    assert mask_value("Jane") == MASK
    assert mask_value(42) == MASK
    assert mask_value(True) == MASK
    assert mask_value(None) is None


def test_trait_names_match_in_any_spelling_and_depth() -> None:
    doc = {
        "firstName": "Jane",
        "Last-Name": "Doe",
        "plan": "gold",
        "profile": {"email": "jane@example.com", "score": 3},
        "address": {"street": "1 Main St", "city": "Leeds", "geo": {"lat": 53.8}},
    }
    masked = MASK_OF.document(doc)
    assert masked == {
        "firstName": MASK,
        "Last-Name": MASK,
        "plan": "gold",
        "profile": {"email": "j***@example.com", "score": 3},
        "address": {"street": MASK, "city": MASK, "geo": {"lat": MASK}},
    }


def test_identifiers_are_masked_by_type_only() -> None:
    assert MASK_OF.identifier("email", "jane@example.com") == "j***@example.com"
    assert MASK_OF.identifier("phone", "+447700900189") == "+44********89"
    assert MASK_OF.identifier("user_id", "u-42") == "u-42"


def test_redact_masks_every_part_but_leaves_event_names() -> None:
    body: dict[str, Any] = {
        "traits": {"email": "a@b.co"},
        "identifiers": [{"type": "email", "value": "a@b.co"}],
        "events": [
            {
                "name": "Signed Up",
                "properties": {"name": "Jo"},
                "context": {"traits": {"phone": "+15555550123"}},
            }
        ],
        "groups": [{"group_id": "g", "traits": {"name": "Acme"}}],
        "sample": [{"profile_id": "1", "traits": {"last_name": "Doe"}}],
    }
    out = redact(body, MASK_OF)
    assert out["traits"] == {"email": "a***@b.co"}
    assert out["identifiers"][0]["value"] == "a***@b.co"
    assert out["events"][0]["name"] == "Signed Up"
    assert out["events"][0]["properties"] == {"name": MASK}
    assert out["events"][0]["context"]["traits"]["phone"] == "+15*******23"
    assert out["groups"][0]["traits"] == {"name": MASK}
    assert out["sample"][0]["traits"] == {"last_name": MASK}


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


@given(doc=st.dictionaries(st.text(max_size=8), json_values, max_size=6), secret=json_values)
def test_a_pii_trait_never_survives_and_other_keys_are_untouched(
    doc: dict[str, Any], secret: Any
) -> None:
    masked = MASK_OF.document({**doc, "last_name": secret})
    for leaf in _leaves(masked["last_name"]):
        assert leaf is None or (isinstance(leaf, str) and ("*" in leaf))
    for key, value in doc.items():
        if key.lower().replace("_", "").replace("-", "").replace(" ", "") not in MASK_OF.names:
            assert masked[key] == MASK_OF.document(value)


def test_event_properties_are_masked_by_the_property_names() -> None:
    """A product's ``name`` is not PII in a track event's properties (it is stored in clear);
    an identify event's ``name`` trait, and a ``name`` in context traits, are."""
    mask = PiiMask.of(["email", "name"], ["email"], ["email"])
    body: dict[str, Any] = {
        "events": [
            {
                "type": "track",
                "properties": {"name": "Blue Mug", "email": "a@b.co"},
                "context": {"traits": {"name": "Jo"}},
            },
            {"type": "identify", "properties": {"name": "Jo"}, "context": {}},
            {"properties": {"name": "Jo"}, "context": {}},
        ],
    }
    track, identify, untyped = redact(body, mask)["events"]
    assert track["properties"] == {"name": "Blue Mug", "email": "a***@b.co"}
    assert track["context"] == {"traits": {"name": MASK}}
    assert identify["properties"] == {"name": MASK}
    assert untyped["properties"] == {"name": MASK}
