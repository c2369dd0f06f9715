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
from cdp.profiles.apply import _timeline_rest
from cdp.profiles.events import InEvent
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


# the timeline row: properties by the property names, traits and context by the trait names

PROPERTY_PII = ["email", "phone", "first_name", "last_name", "address"]


def property_writer() -> PiiWriter:
    ring = KeyRing({"a": os.urandom(32)}, "a")
    return PiiWriter(PiiCodec(ring, b"hash-key", PII, PROPERTY_PII))


def in_event(kind: str, **parts: Any) -> InEvent:
    properties = parts.pop("properties", {})
    context = parts.pop("context", {})
    return InEvent(
        partition=0,
        offset=0,
        message_id="m1",
        type=kind,
        source_id="src",
        user_id="u1",
        anonymous_id=None,
        event=parts.pop("event", None),
        name=parts.pop("name", None),
        group_id=parts.pop("group_id", None),
        previous_id=None,
        at=1_800_000_000_000,
        received_at=1_800_000_000_000,
        properties=properties,
        traits=parts.pop("traits", {}),
        context=context,
        properties_json=orjson.dumps(properties).decode(),
        context_json=orjson.dumps(context).decode(),
    )


def stored(event: InEvent, w: PiiWriter) -> tuple[dict[str, Any], dict[str, Any]]:
    """The properties and context of the event's timeline row."""
    fields = _timeline_rest(event, w).split("\t")
    return orjson.loads(fields[6]), orjson.loads(fields[7])


def test_a_product_name_property_stays_clear_and_an_email_property_is_sealed() -> None:
    w = property_writer()
    product = {"product_id": "p1", "name": "Blue Mug", "price": 12}
    viewed = in_event("track", event="Product Viewed", properties=product)
    assert stored(viewed, w)[0] == product
    assert _timeline_rest(viewed, w).split("\t")[6] == viewed.properties_json
    order = {"products": [{"name": "Blue Mug"}], "email": "jane@example.com"}
    props, _ = stored(in_event("track", event="Order Completed", properties=order), w)
    assert props["products"] == [{"name": "Blue Mug"}]
    assert is_sealed(props["email"])
    assert w.codec.open_document(props) == order
    page, _ = stored(in_event("page", name="Mug", properties={"name": "Mug", "phone": "1"}), w)
    assert page["name"] == "Mug"
    assert is_sealed(page["phone"])


def test_identify_and_group_traits_and_context_traits_keep_name_sealed() -> None:
    w = property_writer()
    context = {"traits": {"name": "Jane Doe"}, "library": {"name": "analytics.js"}}
    identify = in_event("identify", traits={"name": "Jane Doe", "plan": "pro"}, context=context)
    traits, ctx = stored(identify, w)
    assert is_sealed(traits["name"])
    assert traits["plan"] == "pro"
    assert is_sealed(ctx["traits"]["name"])
    assert ctx["library"] == {"name": "analytics.js"}
    group, _ = stored(in_event("group", group_id="acme", traits={"name": "Acme"}), w)
    assert is_sealed(group["name"])
    _, track_ctx = stored(in_event("track", event="X", context=context), w)
    assert is_sealed(track_ctx["traits"]["name"])
