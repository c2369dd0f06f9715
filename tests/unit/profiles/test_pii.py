"""The processor's PII writer: what the timeline stores of an event's context and properties,
and which profile traits are sealed again."""

from __future__ import annotations

import os
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cdp.privacy.atrest import PiiCodec, is_sealed
from cdp.privacy.crypto import KeyRing
from cdp.profiles.pii import PiiWriter

PII = ["email", "phone", "name", "first_name", "last_name", "address"]


def writer() -> PiiWriter:
    return PiiWriter(PiiCodec(KeyRing({"a": os.urandom(32)}, "a"), b"hash-key", PII))


def clear_pii(value: Any, codec: PiiCodec, software: bool = False) -> list[str]:
    """Paths of PII-named keys holding a value in clear (a software object's `name`, whatever
    it holds, excepted)."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if software and k == "name":
                continue
            if codec.is_pii_name(k):
                if v is not None and not is_sealed(v):
                    found.append(k)
            else:
                found += [f"{k}.{p}" for p in clear_pii(v, codec)]
    elif isinstance(value, list):
        for v in value:
            found += clear_pii(v, codec)
    return found


keys = st.sampled_from(["name", "email", "Phone", "first-name", "version", "ip", "x", "emails"])
values = st.recursive(
    st.none() | st.integers(0, 9) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
contexts = st.dictionaries(
    st.sampled_from(["library", "os", "app", "campaign", "device", "traits", "ip", "email"]),
    values,
    max_size=5,
)


@given(contexts, st.booleans())
def test_a_context_keeps_software_names_and_seals_every_other_pii_value(
    context: dict[str, Any], parsed: bool
) -> None:
    w = writer()
    text = orjson.dumps(context).decode()
    stored = w.seal_context(text, context if parsed else None)
    back = orjson.loads(stored)
    assert w.codec.open_document(back) == context
    for key, value in back.items():
        software = key in ("app", "campaign", "library", "os") and isinstance(value, dict)
        assert not clear_pii(value if software else {key: value}, w.codec, software)
    if stored == text:
        assert w.seal_context(text, context) is text  # remembered as holding nothing to seal


def test_a_typical_sdk_context_is_stored_as_it_came() -> None:
    w = writer()
    context = {
        "library": {"name": "analytics.js", "version": "next-1.64.0"},
        "os": {"name": "iOS", "version": "17.4.1"},
        "userAgent": "Mozilla/5.0",
        "ip": "10.0.0.1",
    }
    text = orjson.dumps(context).decode()
    assert w.seal_context(text, context) is text
    with_traits = {**context, "traits": {"email": "jane@example.com", "plan": "pro"}}
    sealed = orjson.loads(w.seal_context(orjson.dumps(with_traits).decode(), with_traits))
    assert is_sealed(sealed["traits"]["email"])
    assert sealed["traits"]["plan"] == "pro"
    assert sealed["library"] == context["library"]


@given(st.dictionaries(keys, values, max_size=4))
def test_properties_are_sealed_from_the_parsed_document(properties: dict[str, Any]) -> None:
    w = writer()
    text = orjson.dumps(properties).decode()
    stored = w.seal_properties(text, properties)
    assert w.codec.open_document(orjson.loads(stored)) == properties
    assert not clear_pii(orjson.loads(stored), w.codec)
    if not w.codec.holds_pii(properties):
        assert stored is text


def test_a_writer_in_clear_mode_stores_everything_as_it_came() -> None:
    w = PiiWriter(PiiCodec(None, b"hash-key", PII))
    text = '{"email":"jane@example.com"}'
    assert w.seal_properties(text, {"email": "jane@example.com"}) is text
    assert w.seal_context(text, {"email": "jane@example.com"}) is text
