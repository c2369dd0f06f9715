"""Timeline texts sealed from their text alone (the sealing process's side) open to what the
processor's in-process sealing of the parsed event opens to."""

from __future__ import annotations

import os
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cdp.privacy.atrest import PiiCodec
from cdp.privacy.crypto import KeyRing
from cdp.privacy.timeline import TimelineSealer, seal_items

PII = ["email", "phone", "name", "address"]

keys = st.sampled_from(["name", "email", "Phone", "version", "ip", "plan", "products"])
values = st.recursive(
    st.none() | st.integers(0, 9) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
documents = st.dictionaries(keys, values, max_size=4)
kinds = st.sampled_from(["identify", "group", "track", "page", "screen", "alias"])
events = st.tuples(kinds, documents, documents)


def codec(encrypt: bool = True) -> PiiCodec:
    ring = KeyRing({"k1": os.urandom(32)}, "k1") if encrypt else None
    return PiiCodec(ring, b"hash-key", PII, ["email", "phone"])


def sealer(encrypt: bool = True) -> TimelineSealer:
    return TimelineSealer(codec(encrypt))


def opened(s: TimelineSealer, text: str) -> Any:
    return s.codec.open_document(orjson.loads(text)) if s.enabled else orjson.loads(text)


@given(st.lists(events, max_size=6), st.booleans())
def test_sealed_from_the_texts_opens_to_the_in_process_sealing_of_the_parsed_event(
    batch: list[tuple[str, dict[str, Any], dict[str, Any]]], encrypt: bool
) -> None:
    shared = codec(encrypt)
    child, here = TimelineSealer(shared), TimelineSealer(shared)
    items = [(k, orjson.dumps(p).decode(), orjson.dumps(c).decode()) for k, p, c in batch]
    replies = seal_items(child, items)
    assert len(replies) == len(items)
    for (kind, payload, context), (_, text_p, text_c), reply in zip(
        batch, items, replies, strict=True
    ):
        want_p, want_c = here.seal_timeline(kind, text_p, text_c, payload, context)
        got_p = reply[0] if reply[0] is not None else text_p
        got_c = reply[1] if reply[1] is not None else text_c
        assert opened(child, got_p) == opened(here, want_p) == payload
        assert opened(child, got_c) == opened(here, want_c) == context
        assert (reply[1] is None) == (want_c == text_c)


def test_only_texts_that_change_come_back() -> None:
    s = sealer()
    items = [
        ("track", '{"sku":"a1","price":3}', '{"library":{"name":"analytics.js"}}'),
        ("track", '{"email":"jane@example.com"}', '{"traits":{"email":"jane@example.com"}}'),
        ("identify", '{"plan":"pro"}', "{}"),
    ]
    (p1, c1), (p2, c2), (p3, c3) = seal_items(s, items)
    assert p1 is None
    assert c1 is None
    assert p2 is not None
    assert "jane@" not in p2
    assert c2 is not None
    assert "jane@" not in c2
    assert p3 == '{"plan":"pro"}'
    assert c3 is None


def test_a_product_name_stays_clear_in_properties_but_a_person_name_is_sealed_in_traits() -> None:
    s = sealer()
    [(props, _), (traits, _)] = seal_items(
        s,
        [
            ("track", '{"name":"Blue Mug"}', "{}"),
            ("identify", '{"name":"Jane Doe"}', "{}"),
        ],
    )
    assert props is None
    assert traits is not None
    assert "Jane" not in traits
    assert opened(s, traits) == {"name": "Jane Doe"}
